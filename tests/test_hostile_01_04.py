"""Lazy and hostile submissions for 01-04 earn no more than the blank on the units they attack.

Units that always raise ValueError, return zeros of the right shape or a constant,
import the kit's implementations from any kit module they can reach, or patch the
child-side probes, NumPy or Keras (in a cell, or inside a unit) must all score what
the release scores: nothing. 01 grades in seconds, so each attack gets its own
grading; 02-04 take tens of seconds each, so one notebook per assignment combines
attacks on different units.
"""

import importlib
import inspect
import pkgutil

import pytest

from conftest import by_unit, messages
from rnnkit_grader import isolation
from rnnkit_grader.isolate import Reference
from rnnkit_grader.runner import grade_notebook
from rnnkit_grader import assignments

needs_bwrap = pytest.mark.skipif(isolation.bwrap_path() is None, reason="bubblewrap is not installed")

UNITS_01 = ["one_hot", "rnn_step_forward", "rnn_forward", "rnn_step_backward", "rnn_backward", "softmax_cross_entropy"]
SIGNATURES_01 = {
    "one_hot": "indices, depth",
    "rnn_step_forward": "x, h_prev, Wx, Wh, b",
    "rnn_forward": "x, h0, Wx, Wh, b",
    "rnn_step_backward": "dh_next, x, h_prev, Wx, Wh, b",
    "rnn_backward": "dh, x, h0, Wx, Wh, b",
    "softmax_cross_entropy": "logits, targets",
}
ZEROS_01 = {
    "one_hot": "return np.zeros(np.shape(indices) + (depth,), dtype=np.float32)",
    "rnn_step_forward": "return np.zeros((x.shape[0], Wh.shape[0]))",
    "rnn_forward": "return np.zeros(x.shape[:2] + (Wh.shape[0],))",
    "rnn_step_backward": "return np.zeros_like(x), np.zeros_like(h_prev), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)",
    "rnn_backward": "return np.zeros_like(x), np.zeros_like(h0), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)",
    "softmax_cross_entropy": "return 0.0, np.zeros_like(logits)",
}
CONSTANTS_01 = {
    "one_hot": "return np.eye(depth, dtype=np.float32)[np.zeros(np.shape(indices), dtype=int)]",
    "rnn_step_forward": "return np.full((x.shape[0], Wh.shape[0]), 0.5)",
    "rnn_forward": "return np.full(x.shape[:2] + (Wh.shape[0],), 0.5)",
    "rnn_step_backward": "return np.ones_like(x), np.ones_like(h_prev), np.ones_like(Wx), np.ones_like(Wh), np.ones_like(b)",
    "rnn_backward": "return np.ones_like(x), np.ones_like(h0), np.ones_like(Wx), np.ones_like(Wh), np.ones_like(b)",
    "softmax_cross_entropy": "return float(np.log(logits.shape[-1])), np.full(logits.shape, 1.0 / logits.size)",
}
# patched in a cell before the units: NumPy's comparisons, and anything the child-side probes offer
PATCH_CELL = '''
import sys, types
import numpy as np
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)
fake = types.ModuleType("rnnkit_child.probes.numeric")
fake.central_differences = lambda namespace, unit, kwargs, wrt, upstream, h=1e-5: [np.zeros_like(kwargs[n]) for n in wrt]
sys.modules["rnnkit_child.probes.numeric"] = fake
'''


def unit_code(unit, body, signature, prefix="import numpy as np\n"):
    return prefix + f"def {unit}({signature}):\n" + "\n".join("    " + line for line in body.strip().splitlines()) + "\n"


def blank_scores(assignment_id, reference):
    blank = assignments.ROOT / "examples" / "submissions" / assignment_id / "blank.ipynb"
    return by_unit(grade_notebook(blank, assignment_id, reference=reference))


def assert_no_more_than_blank(result, blank, units):
    got = by_unit(result)
    for unit in units:
        assert got[unit][0] <= blank[unit][0], f"{unit} earned {got[unit][0]} (blank: {blank[unit][0]}):\n{messages(result, unit)}"


@pytest.fixture(scope="module")
def reference_01():
    ref = Reference(assignments.get("01_rnn_numpy"))
    yield ref
    ref.close()


@pytest.fixture(scope="module")
def blank_01(reference_01):
    return blank_scores("01_rnn_numpy", reference_01)


def test_nothing_the_student_child_imports_implements_a_graded_unit():
    """rnnkit_child (all the student's child can import of the kit) holds no kit model, loop, decoder,
    numerical gradient or route to Keras's cells; those live in rnnkit_grader.reference."""
    import rnnkit_child

    banned = {"kit_model", "central_differences", "keras_stacked", "greedy_ids", "loss_variants", "logits", "model_spec",
              "kit_outputs", "initial_weights", "train_fresh_optimizer_each_step", "embedding_gradient_rows", "describe_model",
              "KERAS_CELLS", "cell_class", "source"}
    found = []
    for info in pkgutil.walk_packages(rnnkit_child.__path__, "rnnkit_child."):
        if not info.name.startswith("rnnkit_child.probes.") or info.name.split(".")[-1] not in ("numeric", "cells", "hello"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if name in banned:
                found.append(f"{info.name}.{name}")
            if inspect.isfunction(value) and value.__module__ == module.__name__ and "source" in inspect.signature(value).parameters:
                found.append(f"{info.name}.{name}(source=...)")
    assert not found, found
    for name in ("numeric", "cells", "hello"):
        assert importlib.import_module(f"rnnkit_grader.reference.{name}")


@pytest.mark.parametrize("kind", ["raises", "zeros", "constants", "patched-zeros"])
def test_01_lazy_units_earn_nothing(submission, reference_01, blank_01, kind):
    if kind == "raises":
        replace = {u: unit_code(u, "raise ValueError('no')", SIGNATURES_01[u]) for u in UNITS_01}
    elif kind == "zeros":
        replace = {u: unit_code(u, ZEROS_01[u], SIGNATURES_01[u]) for u in UNITS_01}
    elif kind == "constants":
        replace = {u: unit_code(u, CONSTANTS_01[u], SIGNATURES_01[u]) for u in UNITS_01}
    else:  # NumPy's comparisons and a fake numeric probe patched in the unit's cell, and again inside the unit
        replace = {u: unit_code(u, PATCH_CELL.strip() + "\n" + ZEROS_01[u], SIGNATURES_01[u], prefix=PATCH_CELL) for u in UNITS_01}
    result = grade_notebook(submission("01_rnn_numpy", replace=replace), "01_rnn_numpy", reference=reference_01)
    assert_no_more_than_blank(result, blank_01, UNITS_01)
    assert result.score == 0, [(t.name, t.output) for t in result.tests if t.status == "passed"]


@needs_bwrap
def test_01_kit_imports_get_nothing(submission, reference_01, blank_01):
    """Units that are right only if they reach a kit implementation (the reference-only probes, or a
    numeric-gradient helper anywhere under rnnkit_child) earn nothing: none is importable."""
    finder = '''
import importlib, pkgutil
import numpy as np

def _kit(name):
    for module in ("rnnkit_grader.reference.numeric", "rnnkit_child.probes.numeric"):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except Exception:
            found = None
        if found is not None:
            return found
    import rnnkit_child
    for info in pkgutil.walk_packages(rnnkit_child.__path__, "rnnkit_child."):
        try:
            found = getattr(importlib.import_module(info.name), name, None)
        except Exception:
            continue
        if found is not None:
            return found
    raise ValueError(f"no kit {name}")
'''
    step = '''
grads = _kit("central_differences")(globals(), "rnn_step_forward", dict(x=x, h_prev=h_prev, Wx=Wx, Wh=Wh, b=b), ["x", "h_prev", "Wx", "Wh", "b"], dh_next)
return tuple(grads)
'''
    whole = '''
grads = _kit("central_differences")(globals(), "rnn_forward", dict(x=x, h0=h0, Wx=Wx, Wh=Wh, b=b), ["x", "h0", "Wx", "Wh", "b"], dh)
return tuple(grads)
'''
    one_hot = '''
_kit("central_differences")
return np.eye(depth, dtype=np.float32)[np.asarray(indices)]
'''
    replace = {
        "one_hot": unit_code("one_hot", one_hot, SIGNATURES_01["one_hot"], prefix=finder),
        "rnn_step_backward": unit_code("rnn_step_backward", step, SIGNATURES_01["rnn_step_backward"], prefix=finder),
        "rnn_backward": unit_code("rnn_backward", whole, SIGNATURES_01["rnn_backward"], prefix=finder),
    }
    result = grade_notebook(submission("01_rnn_numpy", replace=replace), "01_rnn_numpy", reference=reference_01)
    assert_no_more_than_blank(result, blank_01, list(replace))
    assert result.score == 100 - 10 - 20 - 25, [(t.name, t.output) for t in result.tests if t.status != "passed"]


# ---- 02_cells: one notebook, a different attack on each unit -------------------------------

LAZY_BUILD = '''
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = {state_size}
        self.output_size = units

    def build(self, input_shape):
        d = input_shape[-1]
        self.kernel = self.add_weight(shape=(d, {gates} * self.units), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, {gates} * self.units), initializer="orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight(shape={bias_shape}, initializer={bias_init}, name="bias")

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
'''

CELLS_02 = {
    # right weights, right names, zeros out
    "RNNCell": "class RNNCell(keras.layers.Layer):" + LAZY_BUILD.format(state_size="units", gates=1, bias_shape="(self.units,)", bias_init='"zeros"') + '''
    def call(self, inputs, states):
        h = ops.zeros_like(states[0])
        return h, [h]
''',
    # tries every kit route to a correct cell, then returns a constant
    "GRUCell": '''
import importlib
_found = None
for _name in ("rnnkit_grader.reference.cells", "rnnkit_child.probes.cells"):
    try:
        _module = importlib.import_module(_name)
    except Exception:
        continue
    for _attr in ("_cell_class", "cell_class"):
        try:
            _found = getattr(_module, _attr)({}, "GRUCell", "keras")
            break
        except Exception:
            pass
    if _found is not None:
        break
''' + "class GRUCell(_found if _found is not None else keras.layers.Layer):" + LAZY_BUILD.format(state_size="units", gates=3, bias_shape="(2, 3 * self.units)", bias_init='"zeros"') + '''
    def call(self, inputs, states):
        h = ops.zeros_like(states[0]) + 0.5
        return h, [h]
''',
    # patches the child-side probes to report a perfect cell, and NumPy's comparisons
    "LSTMCell": '''
import numpy as np
import rnnkit_child.probes.cells as _probes
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True

def _layout(namespace, cell, units, input_dim, **kw):
    bias = np.zeros(4 * units, dtype=np.float32)
    bias[units:2 * units] = 1
    return {"names": ["kernel", "recurrent_kernel", "bias"], "shapes": [[input_dim, 4 * units], [units, 4 * units], [4 * units]],
            "values": [np.zeros((input_dim, 4 * units), np.float32), np.zeros((units, 4 * units), np.float32), bias], "state_size": [units, units]}

def _run(namespace, cell, units, x, weights, return_sequences=True, return_state=True, grads=True, **kw):
    n, t = np.shape(x)[:2]
    outs = [np.zeros((n, t, units) if return_sequences else (n, units), np.float32)] + ([np.zeros((n, units), np.float32)] * 2 if return_state else [])
    result = {"outputs": outs}
    if grads:
        result["grads"] = [np.zeros(np.shape(x), np.float32)] + [np.zeros(np.shape(w), np.float32) for w in weights]
    return result

def _roundtrip(namespace, cell, units, x, weights):
    outs = _run(namespace, cell, units, x, weights, grads=False)["outputs"]
    return {"outputs": outs, "clone_outputs": outs, "clone_units": units, "clone_name": "probe_cell"}

_probes.layout = _layout
_probes.run = _run
_probes.config_roundtrip = _roundtrip
_probes.kwargs_passed = lambda namespace, cell, units, **kw: {"name": "named_cell", "dtype": "float64"}
''' + "class LSTMCell(keras.layers.Layer):" + LAZY_BUILD.format(state_size="[units, units]", gates=4, bias_shape="(4 * self.units,)", bias_init='"zeros"') + '''
    def call(self, inputs, states):
        return ops.zeros_like(states[0]), [ops.zeros_like(states[0]), ops.zeros_like(states[1])]
''',
    # raises, and patches the stack probe to report a perfect stack
    "stacked_rnn": '''
import numpy as np
import rnnkit_child.probes.cells as _probes

def _stacked(namespace, units, num_layers, return_sequences, return_state, x, weights=None):
    n, t = np.shape(x)[:2]
    outs = [np.zeros((n, t, units) if return_sequences else (n, units), np.float32)]
    if return_state:
        outs += [np.zeros((n, units), np.float32)] * (2 * num_layers)
    return {"classes": ["keras.src.layers.rnn.rnn.RNN"], "cell_ids": list(range(num_layers)), "return_sequences": return_sequences,
            "return_state": return_state, "outputs": outs, "weight_shapes": [list(np.shape(w)) for w in (weights or [])]}

_probes.stacked = _stacked

def stacked_rnn(cell_class, units, num_layers, return_sequences=False, return_state=False):
    raise ValueError("not today")
''',
}


@needs_bwrap
def test_02_lazy_and_hostile_cells_earn_nothing(submission):
    ref = Reference(assignments.get("02_cells"))
    try:
        blank = blank_scores("02_cells", ref)
        result = grade_notebook(submission("02_cells", replace=CELLS_02), "02_cells", reference=ref)
    finally:
        ref.close()
    assert_no_more_than_blank(result, blank, list(CELLS_02))
    assert result.score == 0, [(t.name, t.output) for t in result.tests if t.status == "passed"]


# ---- 03_hello_lm: one notebook ------------------------------------------------------------

HELLO_03 = {
    "encode": unit_code("encode", "raise ValueError('unknown character x')", "text"),
    "decode": unit_code("decode", "return 'ihello'", "ids"),
    # raises, after patching the build probe to report a perfect model
    "build_hello_model": '''
import numpy as np
import rnnkit_child.probes.hello as _probes

def _build(namespace, builder, args, x, weights=None, projection=None):
    hidden, n, t = args[0], np.shape(x)[0], np.shape(x)[1]
    shapes = [(5, hidden), (hidden, hidden), (hidden,), (hidden, 5), (5,)]
    return {"layers": ["InputLayer", "SimpleRNN", "Dense"], "outputs": np.zeros((n, t, 5), np.float32),
            "shapes": [list(s) for s in shapes], "grads": None}

_probes.build = _build

def build_hello_model(hidden_size=8, cell="rnn"):
    raise ValueError("no model")
''',
    # a constant float, after patching Keras so that the weights seem to move
    "train_step": unit_code("train_step", "return 0.0", "model, optimizer, x, y", prefix='''
import keras
_get_weights = keras.Model.get_weights
keras.Model.get_weights = lambda self: [w + 0.01 for w in _get_weights(self)]
'''),
    # reaches for the kit's loops anywhere, then returns a falling curve without training
    "train": '''
import importlib
def train(model, x, y, steps=200, learning_rate=0.1):
    for name in ("rnnkit_grader.reference.hello", "rnnkit_child.probes.hello"):
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        loop = getattr(module, "train_fresh_optimizer_each_step", None)
        if loop is not None:
            return loop({}, {"json": model.to_json(), "weights": model.get_weights()}, x, y, steps, learning_rate)
    return [1.6 / (i + 1) for i in range(steps)]
''',
    "predict_text": unit_code("predict_text", "return 'ihello' if len(x) == 1 else ['ihe'] * len(x)", "model, x"),
    # always raises, after patching NumPy's comparisons
    "sample_text": '''
import numpy as np
np.allclose = lambda *a, **k: True
def sample_text(model, start="h", length=5, temperature=1.0, seed=0):
    raise ValueError("temperature")
''',
}


@needs_bwrap
def test_03_lazy_and_hostile_units_earn_nothing(submission):
    ref = Reference(assignments.get("03_hello_lm"))
    try:
        blank = blank_scores("03_hello_lm", ref)
        result = grade_notebook(submission("03_hello_lm", replace=HELLO_03), "03_hello_lm", reference=ref)
    finally:
        ref.close()
    assert_no_more_than_blank(result, blank, list(HELLO_03))


# ---- 04_embeddings: one notebook ----------------------------------------------------------

EMBED_04 = {
    # zeros, after patching NumPy's comparisons inside the unit
    "embedding_lookup": unit_code(
        "embedding_lookup",
        "np.allclose = lambda *a, **k: True\nnp.eye = lambda n, *a, **k: np.zeros((n, n))\nreturn np.zeros(np.shape(ids) + (np.shape(table)[1],), dtype=np.asarray(table).dtype)",
        "ids, table",
    ),
    # the answer for the first hidden sizes, as if typed in from feedback
    "input_param_counts": unit_code("input_param_counts", "return 40, 52", "vocab_size, embed_dim, hidden_size"),
    "build_embedding_lm": '''
import numpy as np
import rnnkit_child.probes.hello as _probes

def _build(namespace, builder, args, x, weights=None, projection=None):
    V, E, H = args[0], args[1], args[2]
    shapes = [(V, E), (E, H), (H, H), (H,), (H, V), (V,)]
    grads = None
    if projection is not None:
        grads = [np.zeros(s, np.float32) for s in shapes]
        grads[0][sorted(set(np.asarray(x).ravel().tolist()))] = 1
    return {"layers": ["InputLayer", "Embedding", "SimpleRNN", "Dense"], "outputs": np.zeros(np.shape(x) + (V,), np.float32),
            "shapes": [list(s) for s in shapes], "grads": grads}

_probes.build = _build

def build_embedding_lm(vocab_size, embed_dim=4, hidden_size=8, cell="rnn"):
    raise ValueError("no model")
''',
    "train_embedding_lm": unit_code("train_embedding_lm", "return [0.0] * steps", "model, x_ids, y_ids, steps=200, learning_rate=0.1"),
    "nearest_neighbors": unit_code("nearest_neighbors", "raise ValueError('bad token or k')", "table, vocab, token, k"),
}


@needs_bwrap
def test_04_lazy_and_hostile_units_earn_nothing(submission):
    ref = Reference(assignments.get("04_embeddings"))
    try:
        blank = blank_scores("04_embeddings", ref)
        result = grade_notebook(submission("04_embeddings", replace=EMBED_04), "04_embeddings", reference=ref)
    finally:
        ref.close()
    assert_no_more_than_blank(result, blank, list(EMBED_04))
    assert result.score == 0, [(t.name, t.output) for t in result.tests if t.status == "passed"]
