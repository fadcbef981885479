"""Shortcuts around the exercise are refused (rnnkit_grader.shortcuts), each with the rule as its message.

01_rnn_numpy's child has no deep-learning framework in its view at all, and a notebook that
imports one scores no more than a blank one; 02_cells' cells caught on Keras's own recurrent
cells or layers (aliased, named by a string, subclassed, wrapped, held in an attribute, made in
call) score nothing, whether the grader's source check or the built cell's report catches them.
"""

import json
import sys

import pytest

from conftest import by_unit, messages
from rnnkit_grader import assignments, isolation, shortcuts
from rnnkit_grader.runner import grade_notebook
from rnnkit_grader.sandbox import SubmissionProcess

sys.path.insert(0, str(assignments.ROOT / "tools"))
from variants import v01_rnn_numpy, v02_cells  # noqa: E402

bwrap = pytest.mark.skipif(not isolation.strong_isolation(), reason="the child's view is bubblewrap's")
CELLS = ("RNNCell", "GRUCell", "LSTMCell")


def blank_scores(assignment_id):
    """{unit: score} of the blank example (the release as handed out)."""
    expected = json.loads((assignments.ROOT / "examples" / "submissions" / assignment_id / "expected.json").read_text())
    assert expected["blank.ipynb"]["score"] == 0  # every unit of a blank notebook scores 0 in 01 and 02
    return 0


# ---- 01: NumPy only ------------------------------------------------------------------------


@bwrap
def test_01_child_cannot_import_a_framework_even_without_the_guard():
    """The 01 child's view holds NumPy (and matplotlib's plotting stack) only: with the import guard
    removed and every folder of installed packages put on sys.path, no framework imports, and the
    template it was forked from never loaded TensorFlow."""
    probe = '''
import sys
def frameworks():
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_Blocked"]
    sys.path.extend(%r)
    found = {"preloaded": sorted(m for m in sys.modules if m.partition(".")[0] in ("tensorflow", "keras"))}
    for name in ("tensorflow", "keras", "torch", "jax", "autograd", "sympy", "scipy", "numpy"):
        try:
            __import__(name)
            found[name] = "imported"
        except ImportError as exc:
            found[name] = type(exc).__name__
    return found
''' % [str(p) for p in isolation.site_dirs()]
    process = SubmissionProcess([("probe", probe)], assignments.get("01_rnn_numpy").limits)
    try:
        found = process.call("frameworks")
    finally:
        process.close()
    assert found.pop("preloaded") == []
    assert found.pop("numpy") == "imported"
    assert all(v == "ModuleNotFoundError" for v in found.values()), found


NUMPY_CORRECT = v01_rnn_numpy.VARIANTS["correct"]


@pytest.mark.parametrize("route", ["import", "importlib", "dunder_import", "helper_cell"])
def test_01_notebook_importing_a_framework_scores_no_more_than_blank(submission, route):
    """A framework imported directly, through importlib or __import__ (names folded from pieces),
    or in a helper cell: the whole notebook scores 0 and every test says the rule."""
    backward = NUMPY_CORRECT["rnn_backward"]
    code = {
        "import": "import tensorflow as tf\n" + backward,
        "importlib": "import importlib\n_tf = importlib.import_module('tensor' + 'flow')\n" + backward,
        "dunder_import": backward.replace("def rnn_backward(", "autodiff = __import__(''.join(['au', 'tograd']))\n\ndef rnn_backward(", 1),
        "helper_cell": backward,
    }[route]
    replace = {**NUMPY_CORRECT, "rnn_backward": code}
    path = submission("01_rnn_numpy", replace=replace)
    if route == "helper_cell":
        import nbformat

        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("import torch\n"))
        nbformat.write(nb, path)
    result = grade_notebook(path, "01_rnn_numpy")
    assert result.score <= blank_scores("01_rnn_numpy"), [(t.name, t.score) for t in result.tests if t.score]
    assert all("NumPy only" in t.output for t in result.tests)


def test_01_framework_reached_at_run_time_fails_with_the_rule(submission):
    """A name the source check can't read (built at run time): the import fails in the child, the
    unit scores nothing and its feedback says the assignment is NumPy only; the others keep theirs."""
    sneaky = NUMPY_CORRECT["softmax_cross_entropy"].replace(
        "def softmax_cross_entropy(", "def _framework():\n    import importlib\n    return importlib.import_module(''.join(chr(c) for c in (106, 97, 120)))\n\n\ndef softmax_cross_entropy(", 1
    ).replace("    N, T, V = logits.shape", "    _framework()\n    N, T, V = logits.shape", 1)
    path = submission("01_rnn_numpy", replace={**NUMPY_CORRECT, "softmax_cross_entropy": sneaky})
    result = grade_notebook(path, "01_rnn_numpy")
    units = by_unit(result)
    assert units["softmax_cross_entropy"][0] == 0
    assert "NumPy only" in messages(result, "softmax_cross_entropy")
    assert all(got == total for unit, (got, total) in units.items() if unit != "softmax_cross_entropy"), units


@pytest.mark.parametrize("source", [
    "import tensorflow as tf",
    "from torch import autograd",
    "import jax.numpy as jnp",
    "import importlib\nm = importlib.import_module('ten' + 'sorflow')",
    "m = __import__(f\"{'ker'}as\")",
    "import sys\nm = sys.modules['autograd']",
    "name = 'wolfrosnet'[::-1]",
])
def test_01_source_check_reads_obfuscated_imports(source):
    assert shortcuts.framework_imports(source)


def test_01_source_check_leaves_plain_numpy_alone():
    """The reference's units and every 01 variant, and docstrings that mention a framework, pass."""
    for units in v01_rnn_numpy.VARIANTS.values():
        for source in units.values():
            assert shortcuts.framework_imports(source) == []
    assert shortcuts.framework_imports('def f():\n    """Unlike TensorFlow, no autodiff here: tensorflow is not used."""\n    return 1\n') == []
    # a framework's name as a plain string is no import (the child has none to import anyway)
    assert shortcuts.framework_imports('NOT_USED = ("autograd", "jax", "keras")\nprint("no torch here:", "torch")\n') == []


# ---- 02: cells written from scratch ------------------------------------------------------------

# Each route by which a cell could be Keras's own; `{K}` is an expression for the Keras class.
ROUTES = {
    "subclassed": "class {unit}({K}):\n    pass\n",
    "wrapped": (
        "class {unit}(keras.layers.Layer):\n"
        "    def __init__(self, units, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.units = units\n"
        "        self.inner = {K}(units)\n"
        "        self.state_size = self.inner.state_size\n"
        "        self.output_size = units\n"
        "    def build(self, input_shape):\n"
        "        self.inner.build(input_shape)\n"
        "    def call(self, inputs, states):\n"
        "        return self.inner(inputs, states)\n"
    ),
    "held_in_a_dict": (
        "class {unit}(keras.layers.Layer):\n"
        "    def __init__(self, units, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.units = units\n"
        "        self._parts = {{'core': [{K}(units)]}}\n"
        "        self.state_size = self._parts['core'][0].state_size\n"
        "        self.output_size = units\n"
        "    def call(self, inputs, states):\n"
        "        return self._parts['core'][0](inputs, states)\n"
    ),
}
STATIC = {  # names the grader's source check reads
    "RNNCell": "getattr(keras.layers, 'Simple' + 'RNNCell')",
    "GRUCell": "L.GRUCell",  # L = keras.layers, an alias
    "LSTMCell": "_LSTM",  # from keras.layers import LSTMCell as _LSTM, in the unit's cell
}
DYNAMIC = {  # names only the built cell's report shows
    "RNNCell": "getattr(keras.layers, ''.join(reversed('lleCNNRelpmiS')))",
    "GRUCell": "getattr(keras.layers, ''.join(reversed('lleCURG')))",
    "LSTMCell": "getattr(keras.layers, ''.join(reversed('lleCMTSL')))",
}


def cell_source(unit, route, names):
    prefix = {"GRUCell": "L = keras.layers\n", "LSTMCell": "from keras.layers import LSTMCell as _LSTM\n"}.get(unit, "") if names is STATIC else ""
    return prefix + ROUTES[route].format(unit=unit, K=names[unit])


@pytest.mark.parametrize("unit", CELLS)
@pytest.mark.parametrize("route", ROUTES)
def test_02_source_check_reads_each_route(unit, route):
    from types import SimpleNamespace

    nb = SimpleNamespace(units={unit: cell_source(unit, route, STATIC)}, extra=[])
    message = shortcuts.from_scratch_violation(unit, nb)
    assert message and "from scratch" in message


def test_02_source_check_follows_helper_cells_and_leaves_correct_cells_alone():
    from types import SimpleNamespace

    helper = [("code cell 9", "from keras.layers import GRUCell as Base\n"), ("code cell 10", "def compare():\n    return keras.layers.GRUCell(4)\n")]
    nb = SimpleNamespace(units={"GRUCell": "class GRUCell(Base):\n    pass\n"}, extra=helper)
    assert shortcuts.from_scratch_violation("GRUCell", nb)
    for units in v02_cells.VARIANTS.values():
        nb = SimpleNamespace(units=dict(v02_cells.VARIANTS["correct"], **units), extra=helper[1:])
        for unit in CELLS:
            assert shortcuts.from_scratch_violation(unit, nb) is None, unit


@pytest.mark.parametrize("names", [STATIC, DYNAMIC], ids=["source_check", "built_cell"])
def test_02_cells_using_keras_cells_score_no_more_than_blank(submission, names):
    """Each cell takes a different route (subclassed, wrapped, held in a dict); through names the
    source check reads, and through names only the built cell's report shows. Every such cell
    scores 0, with the rule; stacked_rnn, written honestly, keeps its points."""
    routes = dict(zip(CELLS, ROUTES))
    replace = dict(v02_cells.VARIANTS["correct"])
    replace.update({unit: cell_source(unit, routes[unit], names) for unit in CELLS})
    result = grade_notebook(submission("02_cells", replace=replace), "02_cells")
    units = by_unit(result)
    for unit in CELLS:
        assert units[unit][0] <= blank_scores("02_cells"), (unit, units[unit])
        assert "must be written from scratch" in messages(result, unit)
        assert ("Found in its cell" if names is STATIC else "Found in the built cell") in messages(result, unit)
    assert units["stacked_rnn"][0] == units["stacked_rnn"][1]


# Routes that name no built-in class in their source and hold none (found by a red team): each
# runs Keras's or TensorFlow's own recurrent code, or hands back a built-in, and so would score full
# marks on values alone. `hidden(...)` is a name the source check can't fold.
HIDDEN = "base64.b64decode({!r}).decode()"
_COMMON = (
    "    def __init__(self, units, **kwargs):\n"
    "        super().__init__(**kwargs)\n"
    "        self.units = units\n"
    "        self.state_size = {state}\n"
    "        self.output_size = units\n"
    "    def build(self, input_shape):\n"
    "        u = self.units\n"
    "        self.kernel = self.add_weight(shape=(input_shape[-1], {k} * u), name='kernel')\n"
    "        self.recurrent_kernel = self.add_weight(shape=(u, {k} * u), name='recurrent_kernel')\n"
    "        self.bias = self.add_weight(shape={bias}, initializer='zeros', name='bias')\n"
)
UNSEEN = {
    "unbound_call": (  # the built-in's call run on the student's own cell, its class found by a computed name
        "import base64\n"
        "class {unit}(keras.layers.Layer):\n" + _COMMON.format(state="units", k=1, bias="(u,)") +
        "        self.activation = keras.activations.tanh\n"
        "        self.use_bias = True\n"
        "    def get_dropout_mask(self, x):\n        return None\n"
        "    def get_recurrent_dropout_mask(self, x):\n        return None\n"
        "    def call(self, inputs, states, training=False):\n"
        "        return vars(keras.layers)[" + HIDDEN.format("U2ltcGxlUk5OQ2VsbA==") + "].call(self, inputs, states)\n"
    ),
    "instance_in_globals": (  # a built-in made at the cell's top level, reached through globals() at run time
        "import base64\n"
        "__proto__ = getattr(keras.layers, " + HIDDEN.format("R1JVQ2VsbA==") + ")(1)\n"
        "class {unit}(keras.layers.Layer):\n" + _COMMON.format(state="units", k=3, bias="(2, 3 * u)") +
        "    def call(self, inputs, states):\n"
        "        proto = globals()[bytes.fromhex('5f5f70726f746f5f5f').decode()]\n"
        "        for k in ('kernel', 'recurrent_kernel', 'bias', 'units'):\n"
        "            object.__setattr__(proto, k, getattr(self, k))\n"
        "        return proto.call(inputs, states)\n"
    ),
    "raw_op": (  # TensorFlow's fused LSTM op, found by scanning tf.raw_ops
        "class {unit}(keras.layers.Layer):\n" + _COMMON.format(state="[units, units]", k=4, bias="(4 * u,)") +
        "    def call(self, inputs, states):\n"
        "        h, c = states\n"
        "        op = [v for k, v in vars(tf.raw_ops).items() if k[:5] == 'Block' and len(k) == 9][0]\n"
        "        w = ops.concatenate([self.kernel, self.recurrent_kernel], axis=0)\n"
        "        zero = ops.zeros((self.units,))\n"
        "        out = op(seq_len_max=tf.constant(1, tf.int64), x=inputs[None], cs_prev=c, h_prev=h, w=w, wci=zero,\n"
        "                 wcf=zero, wco=zero, b=self.bias, forget_bias=0.0, cell_clip=-1.0, use_peephole=False)\n"
        "        return out[6][0], [out[6][0], out[1][0]]\n"
    ),
    "factory": (  # a function that hands back a built-in
        "import base64\n"
        "def {unit}(units, **kwargs):\n"
        "    return getattr(keras.layers, " + HIDDEN.format("{b64}") + ")(units, **kwargs)\n"
    ),
    "partial": "import base64, functools\n{unit} = functools.partial(getattr(keras.layers, " + HIDDEN.format("{b64}") + "))\n",
    "metaclass": (  # a class whose metaclass hands back a built-in when it is called
        "import base64\n"
        "class _Factory(type):\n"
        "    def __call__(cls, units, **kwargs):\n"
        "        return getattr(keras.layers, " + HIDDEN.format("{b64}") + ")(units, **kwargs)\n"
        "class {unit}(keras.layers.Layer, metaclass=_Factory):\n" + _COMMON.format(state="units", k=1, bias="(u,)") +
        "    def call(self, inputs, states):\n"
        "        h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel) + self.bias)\n"
        "        return h, [h]\n"
    ),
}
UNUSUAL = assignments.ROOT / "tests" / "data" / "cells_02_unusual"
BUILTIN_B64 = {"RNNCell": "U2ltcGxlUk5OQ2VsbA==", "GRUCell": "R1JVQ2VsbA==", "LSTMCell": "TFNUTUNlbGw="}


def unseen_source(route, unit):
    return UNSEEN[route].replace("{unit}", unit).replace("{b64}", BUILTIN_B64[unit])


def test_02_unseen_routes_pass_the_source_check_but_not_the_built_cell():
    """The routes above name no built-in in their source (so only the built cell can catch them),
    and cells.anatomy's report, judged in the grader, catches every one; the reference's cells and
    every correct variant are reported clean."""
    from types import SimpleNamespace

    routes = [(route, unit) for route in UNSEEN for unit in (["GRUCell"] if route == "instance_in_globals" else
                                                             ["LSTMCell"] if route == "raw_op" else ["RNNCell"])]
    for route, unit in routes:
        nb = SimpleNamespace(units={unit: unseen_source(route, unit)}, extra=[])
        assert shortcuts.from_scratch_violation(unit, nb) is None, route  # nothing for the source check to see
    setup = "import numpy as np\nimport keras\nfrom keras import ops\nimport tensorflow as tf\n"
    cells = [("setup", setup)]
    names = {}
    for i, (route, unit) in enumerate(routes):
        name = f"Cell{i}"
        cells.append((name, unseen_source(route, unit).replace(unit, name)))
        names[name] = (route, unit)
    correct = v02_cells.VARIANTS["correct"]
    cells += [(unit, correct[unit]) for unit in CELLS]
    # honest cells in an unusual style: mixins, module-level helpers, functools.partial(self.add_weight),
    # keras.activations, docstrings and comments that name Keras's cells
    unusual = {unit: (UNUSUAL / f"{unit[:-4].lower()}.py").read_text() for unit in CELLS}
    cells += [(f"Unusual{unit}", source.replace(f"class {unit}(", f"class Unusual{unit}(")) for unit, source in unusual.items()]
    for unit in CELLS:
        assert shortcuts.from_scratch_violation(unit, SimpleNamespace(units={unit: unusual[unit]}, extra=[])) is None, unit
    process = SubmissionProcess(cells, assignments.get("02_cells").limits)
    try:
        for name, (route, unit) in names.items():
            report = process.probe("cells.anatomy", cell=name, units=3, input_dim=2)
            message = shortcuts.judge_anatomy(unit, report)
            assert message and "must be written from scratch" in message, (route, report)
        for unit in CELLS:
            for name in (unit, f"Unusual{unit}"):
                report = process.probe("cells.anatomy", cell=name, units=3, input_dim=2)
                assert shortcuts.judge_anatomy(unit, report) is None, (name, report)
    finally:
        process.close()


def test_02_unseen_routes_score_no_more_than_blank(submission):
    """One notebook whose three cells each take a route only the built cell shows (the built-in's
    call run unbound, a built-in instance reached through globals(), TensorFlow's fused LSTM op):
    each scores 0 with the rule, and stacked_rnn, written honestly, keeps its points."""
    replace = dict(v02_cells.VARIANTS["correct"])
    replace.update(RNNCell=unseen_source("unbound_call", "RNNCell"), GRUCell=unseen_source("instance_in_globals", "GRUCell"),
                   LSTMCell=unseen_source("raw_op", "LSTMCell"))
    result = grade_notebook(submission("02_cells", replace=replace), "02_cells")
    units = by_unit(result)
    for unit in CELLS:
        assert units[unit][0] <= blank_scores("02_cells"), (unit, units[unit])
        assert "Found in the built cell" in messages(result, unit), unit
    assert units["stacked_rnn"][0] == units["stacked_rnn"][1]


@pytest.mark.parametrize("source, named", [
    ("import sys\nclass C:\n    def call(self):\n        p = sys.getprofile(); sys.setprofile(None)\n", "line 4: getprofile"),
    ("import threading\nclass C:\n    def call(self):\n        getattr(threading, 'set' + 'profile')(None)\n", "line 4: setprofile"),
    ("import _thread\nclass C:\n    pass\n", "line 1: _thread"),
    ("import os\nclass C:\n    def call(self):\n        os.fork()\n", "line 4: fork"),
    ("from multiprocessing import Pool\nclass C:\n    pass\n", "line 1: multiprocessing"),
])
def test_02_source_check_refuses_what_would_get_around_the_built_cell_check(source, named):
    """Switching off the profile hook, or running code in a thread or process it doesn't follow, is refused
    from the source, and the message points at the line."""
    from types import SimpleNamespace

    message = shortcuts.from_scratch_violation("GRUCell", SimpleNamespace(units={"GRUCell": source}, extra=[]))
    assert message and named in message, message


# Routes that hide what runs from a check by file name (a second red team): the built-in's code under
# another file name, its source compiled again, TensorFlow's fused op called below its Python wrappers.
# The source check refuses each by name (`__code__`, `compile`, `pywrap_tfe`); the built cell's
# report must catch them too, by bytecode and by op type.
_MASKS = (
    "        self.activation = keras.activations.tanh\n"
    "        self.use_bias = True\n"
    "    def get_dropout_mask(self, x):\n        return None\n"
    "    def get_recurrent_dropout_mask(self, x):\n        return None\n"
)
HIDDEN_RUNS = {
    "code_copy": (
        "import types, base64\n"
        "def _step(self, *a):\n"
        "    f = vars(getattr(keras.layers, " + HIDDEN.format("U2ltcGxlUk5OQ2VsbA==") + "))['call']\n"
        "    g = types.FunctionType(f.__code__.replace(co_filename='<x>'), f.__globals__, 'call', f.__defaults__)\n"
        "    return g(self, *a)\n"
        "class {unit}(keras.layers.Layer):\n" + _COMMON.format(state="units", k=1, bias="(u,)") + _MASKS +
        "    def call(self, inputs, states, training=False):\n"
        "        return _step(self, inputs, states)\n"
    ),
    "recompiled_source": (
        "import inspect, textwrap, base64\n"
        "def _step(self, *a):\n"
        "    L = getattr(keras.layers, " + HIDDEN.format("U2ltcGxlUk5OQ2VsbA==") + ")\n"
        "    found = {}\n"
        "    exec(compile(textwrap.dedent(inspect.getsource(vars(L)['call'])), '<y>', 'exec'), dict(vars(inspect.getmodule(L))), found)\n"
        "    return found['call'](self, *a)\n"
        "class {unit}(keras.layers.Layer):\n" + _COMMON.format(state="units", k=1, bias="(u,)") + _MASKS +
        "    def call(self, inputs, states, training=False):\n"
        "        return _step(self, inputs, states)\n"
    ),
    "c_level_op": (
        "from tensorflow.python import pywrap_tfe as _pt\n"
        "from tensorflow.python.eager import context as _cx\n"
        "class {unit}(keras.layers.Layer):\n" + _COMMON.format(state="[units, units]", k=4, bias="(4 * u,)") +
        "    def call(self, inputs, states):\n"
        "        h, c = states\n"
        "        w = tf.concat([tf.convert_to_tensor(self.kernel), tf.convert_to_tensor(self.recurrent_kernel)], axis=0)\n"
        "        z = tf.zeros((self.units,))\n"
        "        out = _pt.TFE_Py_FastPathExecute(_cx.context(), 'LSTM' + 'Block' + 'Cell', None, tf.convert_to_tensor(inputs), tf.convert_to_tensor(c),\n"
        "                                         tf.convert_to_tensor(h), w, z, z, z, tf.convert_to_tensor(self.bias), 'forget_bias', 0.0, 'cell_clip', -1.0, 'use_peephole', False)\n"
        "        return out[6], [out[6], out[1]]\n"
    ),
}


def test_02_hidden_runs_are_refused_by_the_source_and_by_the_built_cell():
    from types import SimpleNamespace

    routes = {"code_copy": "RNNCell", "recompiled_source": "RNNCell", "c_level_op": "LSTMCell"}
    for route, unit in routes.items():
        source = HIDDEN_RUNS[route].replace("{unit}", unit)
        assert shortcuts.from_scratch_violation(unit, SimpleNamespace(units={unit: source}, extra=[])), route
    setup = "import numpy as np\nimport keras\nfrom keras import ops\nimport tensorflow as tf\n"
    cells = [("setup", setup)] + [(f"Hidden{i}", HIDDEN_RUNS[route].replace("{unit}", f"Hidden{i}")) for i, route in enumerate(routes)]
    process = SubmissionProcess(cells, assignments.get("02_cells").limits)
    try:
        for i, (route, unit) in enumerate(routes.items()):
            report = process.probe("cells.anatomy", cell=f"Hidden{i}", units=3, input_dim=2)
            assert "error" not in report, (route, report.get("error"))  # it ran, so uncaught it would score
            message = shortcuts.judge_anatomy(unit, report)
            assert message and "recurrent code ran inside it" in message, (route, report)
    finally:
        process.close()
