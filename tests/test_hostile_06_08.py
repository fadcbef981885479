"""Hostile submissions for 06_char_rnn, 07_time_series and 08_seq2seq: kit code and probes can't be turned into points.

Each notebook is a blank submission (every unit raises NotImplementedError) plus code
that (a) looks for the kit's own implementations in every kit module it can import
(the probes, the public library, the reference-only package) and uses whatever it
finds, (b) replaces probe functions, the child's probe lookup and Keras functions, at
cell level and from inside a unit, so that what the child hands back looks like a
correct answer, and (c) for 07 reads the answers out of the evaluation inputs it is
given (overlapping windows hold the next window's target). Each must score no more
than the blank notebook (0) on the units it attacks. Attacks on different units share
one notebook: a TensorFlow grading takes half a minute.
"""

import pytest

from conftest import by_unit, messages
from rnnkit_grader.runner import grade_notebook

# (a) every kit module the student's interpreter can import, searched for the kit's implementations
KIT_SCAN = '''
import importlib, pkgutil, sys

def _kit_modules():
    found = []
    for package in ("rnnkit_child.probes", "rnnkit", "rnnkit_grader.reference", "rnnkit_grader", "rnnkit_child"):
        try:
            pkg = importlib.import_module(package)
        except Exception:
            continue
        found.append(pkg)
        for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
            try:
                found.append(importlib.import_module(f"{package}.{info.name}"))
            except Exception:
                pass
    return found

def _kit_function(*names):
    for module in _kit_modules():
        for name in names:
            func = getattr(module, name, None)
            if callable(func):
                return func
    return None
'''


def blank(unit):
    return f"def {unit}(*args, **kwargs):\n    raise NotImplementedError()\n"


def grade(submission, assignment, replace):
    """Grade the reference notebook with these units replaced."""
    return grade_notebook(submission(assignment, replace=replace), assignment)


def assert_blank(result, units):
    scores = by_unit(result)
    for unit in units:
        assert scores[unit][0] == 0, f"{unit}: {scores[unit]}\n{messages(result, unit)}"


# ---- 07_time_series ----------------------------------------------------------------------

TS_BUILD = KIT_SCAN + '''
import numpy as np
import keras
import rnnkit_child.probes.timeseries as _probes

# (b) a probe that reports a correct model without building one (the shape and weight-count tests),
# and Keras made to agree
def _fake_built(namespace, units=10, num_layers=2, kind="rnn", windows=(20,), **kwargs):
    return {"type": "keras.src.models.functional.Functional", "is_model": True, "params": 341 if num_layers == 2 else 131,
            "layers": ["InputLayer", "SimpleRNN", "SimpleRNN", "Dense"], "outputs": {str(w): [3, 1] for w in windows},
            "json": "{}", "json_error": None, "weights": []}
_probes.built_model = _fake_built
keras.Model.count_params = lambda self: 341

def build_forecaster(units=10, num_layers=2, kind="rnn"):
    # (a) the kit's forecaster, wherever it is
    kit = _kit_function("kit_model", "_kit_model", "build_forecaster", "forecaster")
    if kit is not None:
        return kit(units, num_layers)
    raise NotImplementedError()
'''

TS_TRAIN = KIT_SCAN + '''
import numpy as np
import rnnkit_child.probes.timeseries as _probes

def _answers(x_eval):
    # (c) overlapping windows: window i + 1 ends with window i's target
    x_eval = np.asarray(x_eval, np.float32)
    return np.concatenate([x_eval[1:, -1], x_eval[-1:, -1]]).reshape(-1, 1)

def _fake_training(namespace, *args, **kwargs):
    epochs = kwargs.get("epochs", 10)
    start = kwargs.get("model", {}).get("weights") or kwargs.get("weights") or []
    lr = kwargs.get("learning_rate", 0.01)
    moved = [np.asarray(w, np.float32) + (0.0 if lr == 0 else 1e-3) for w in start]
    out = {"losses": np.linspace(0.5, 0.014, epochs), "weights": moved, "weight_change": 0.0 if lr == 0 else 1e-3, "copied_weights": True}
    if "x_eval" in kwargs:
        out["predictions"] = _answers(kwargs["x_eval"])
    return out

_probes.train_given_model = _probes.train_kit_model = _probes.train_built_model = _fake_training

def train_forecaster(model, x, y, epochs=20, learning_rate=0.01):
    # (b) from inside the unit: every later probe request gets the fake
    import rnnkit_child.serve as serve
    serve.find_probe = lambda name: _fake_training
    # (a) the kit's training, wherever it is
    kit = _kit_function("kit_train", "train_built", "train_built_model", "fit_forecaster")
    if kit is not None:
        return kit({"train_forecaster": None, "build_forecaster": lambda **k: model}, 10, 2, "rnn", model.get_weights(), x, y, x, epochs, learning_rate, 0)
    raise NotImplementedError()
'''

TS_FORECAST = '''
import numpy as np
import rnnkit_child.probes.timeseries as _probes

# (b) a probe that returns an array of the right shape and dtype without forecasting
_probes.forecast_known = lambda namespace, history, horizon, coefficients: np.zeros(horizon)

def forecast(model, history, horizon):
    raise NotImplementedError()
'''


def test_07_kit_code_and_faked_probes_earn_nothing(submission):
    result = grade(submission, "07_time_series", {
        "make_windows": blank("make_windows"),
        "build_forecaster": TS_BUILD,
        "train_forecaster": TS_TRAIN,
        "forecast": TS_FORECAST,
    })
    assert_blank(result, ["build_forecaster", "train_forecaster", "forecast"])
    assert result.score == 0, [(t.name, t.score) for t in result.tests if t.score]


# ---- 08_seq2seq --------------------------------------------------------------------------

S2S_FAKES = KIT_SCAN + '''
import numpy as np
import rnnkit_child.probes.seq2seq as _probes

_FUNCTIONAL = "keras.src.models.functional.Functional"

def _fake_export(namespace, vocab_size=13, units=16, seed=0, **kwargs):
    return {"types": [_FUNCTIONAL] * 3, "json": ["{}"] * 3, "json_errors": [None] * 3,
            "weights": [[], [], []], "paths": [[], [], []], "shared": [[], []]}

def _fake_shift(namespace, targets, start_id):
    return {"result": np.asarray(targets), "after": np.asarray(targets)}

def _fake_rows(namespace, sources, max_len, split_state=False):
    return [np.full(min(max_len, int((np.asarray(row) != 0).sum()) + 1), 3, dtype=np.int64) for row in sources]

def _fake_outcome(namespace, sources, max_len, split_state=False):
    return {"value": _fake_rows(namespace, sources, max_len)}

def _fake_shapes(namespace, vocab_size=13, units=16, batch=3, source_len=6, target_lens=(7, 4), **kwargs):
    return {"train_is_model": True, "encoder_is_model": True, "decoder_is_model": True, "types": ["Functional"] * 3,
            "train": {str(t): [batch, t, vocab_size] for t in target_lens}, "train_probabilities": False,
            "state": [[batch, units]], "state_is_list": False, "decoder_logits": [batch, vocab_size], "decoder_state": [[batch, units]]}

def _fake_run(namespace, *args, **kwargs):
    # (c) teacher forcing: the decoder inputs are the targets shifted right, so they hold the answers
    dec = np.asarray(kwargs.get("eval_decoder_inputs", np.zeros((1, 2))))
    answers = np.concatenate([dec[:, 1:], np.full((len(dec), 1), 2)], axis=1)
    return {"teacher_forced": answers, "decoded": [row[: list(row).index(2)] if 2 in row else row for row in answers], "losses": [1.0, 0.1], "seconds": 1.0}

def _fake_sharing(namespace, *args, **kwargs):
    return {"encoder_own": [], "decoder_own": [], "train_unused": [], "counts": [5, 3, 4]}

def _fake_consistency(namespace, *args, **kwargs):
    return {"error": "faked"}

_FAKES = {"export": _fake_export, "shift_in_place": _fake_shift, "greedy_known": _fake_rows, "greedy_known_outcome": _fake_outcome,
          "shapes": _fake_shapes, "measure_shapes": _fake_shapes, "training_run": _fake_run, "weight_sharing": _fake_sharing,
          "consistency": _fake_consistency}

# (b) at cell level: the probes replaced
_probes.export = _fake_export
_probes.shift_in_place = _fake_shift
_probes.greedy_known = _fake_rows
_probes.greedy_known_outcome = _fake_outcome
_probes.shapes = _probes.measure_shapes = _fake_shapes
_probes.training_run = _fake_run
_probes.weight_sharing = _fake_sharing
'''

S2S_SHIFT = S2S_FAKES + '''
def shift_right(targets, start_id):
    # (b) from inside a unit: every later probe request gets a fake
    import rnnkit_child.serve as serve
    serve.find_probe = lambda name: _FAKES.get(str(name).rpartition(".")[2])
    raise NotImplementedError()
'''

S2S_BUILD = KIT_SCAN + '''
def build_seq2seq(vocab_size, units=128):
    # (a) the kit's models, wherever they are
    kit = _kit_function("kit_model", "kit_seq2seq", "build_seq2seq")
    if kit is not None:
        return kit(vocab_size, units)
    known = _kit_function("known_models")
    if known is not None:
        encoder, decoder = known(vocab_size)
        return encoder, encoder, decoder
    raise NotImplementedError()
'''

S2S_GREEDY = KIT_SCAN + '''
def greedy_decode(encoder, decoder, source_ids, max_len):
    # (a) the kit's greedy loop, wherever it is
    kit = _kit_function("kit_greedy", "_kit_greedy", "greedy")
    if kit is not None:
        return kit(encoder, decoder, source_ids, max_len)
    raise NotImplementedError()
'''


def test_08_kit_code_and_faked_probes_earn_nothing(submission):
    result = grade(submission, "08_seq2seq", {"shift_right": S2S_SHIFT, "build_seq2seq": S2S_BUILD, "greedy_decode": S2S_GREEDY})
    assert_blank(result, ["shift_right", "build_seq2seq", "greedy_decode"])
    assert result.score == 0, [(t.name, t.score) for t in result.tests if t.score]


# ---- 06_char_rnn -------------------------------------------------------------------------

CHAR_FAKES = KIT_SCAN + '''
import numpy as np
import rnnkit_child.probes.charlm as _probes

def _fake_clip(namespace, grads, max_norm, graph=False, **kwargs):
    return {"clipped": [np.asarray(g, np.float64) for g in grads], "norm": 1.0}

def _fake_built(namespace, vocab_size=13, embed_dim=5, units=7, batch_size=None, stateful=False, **kwargs):
    return {"type": "keras.src.models.functional.Functional", "json": "{}", "json_error": None, "weights": []}

def _fake_describe(namespace, vocab_size=13, embed_dim=5, units=7, x=None, batch_size=None, stateful=False, **kwargs):
    out = np.zeros(np.shape(x) + (vocab_size,), np.float32) - 1.0
    return {"is_model": True, "first": out, "second": out + (1.0 if stateful else 0.0), "after_reset": out,
            "weight_shapes": [[vocab_size, embed_dim], [units, vocab_size]], "stateful_layers": int(stateful), "input_batch": batch_size}

def _fake_twins(namespace, *args, **kwargs):
    return {"stateful_shapes": [[1]], "stateless_shapes": [[1]], "stateful": np.zeros(3), "stateless": np.zeros(3)}

def _fake_train(namespace, model=None, batches=(), epochs=1, **kwargs):
    weights = (model or {}).get("weights") or kwargs.get("weights") or []
    return {"losses": [2.3] * (epochs * len(batches)), "weights": [np.asarray(w) for w in weights]}

def _fake_budget(namespace, *args, **kwargs):
    # (c) the old budget run handed over the validation windows: the next id is the answer
    val_x = kwargs.get("val_x")
    out = {"losses": [4.0, 2.0], "model": {"type": "Functional", "json": None, "json_error": "faked", "weights": None}}
    if val_x is not None:
        val_x = np.asarray(val_x)
        logits = np.zeros(val_x.shape + (int(kwargs.get("vocab_size", 94)),), np.float32)
        nxt = np.concatenate([val_x[:, 1:], val_x[:, -1:]], axis=1)
        np.put_along_axis(logits, nxt[..., None], 30.0, axis=-1)
        out["logits"] = logits
    return out

def _fake_texts(namespace, *args, length=25, seeds=(0,), **kwargs):
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789.,;:()[]"))
    return ["".join(np.random.default_rng(int(s)).choice(letters, size=length)) for s in seeds]

def _fake_perplexity(namespace, *args, **kwargs):
    return 9.0

_FAKES = {"clip": _fake_clip, "built_model": _fake_built, "describe_model": _fake_describe, "twins": _fake_twins,
          "train": _fake_train, "budget_run": _fake_budget, "sample_texts": _fake_texts, "student_perplexity": _fake_perplexity}

# (b) at cell level: the probes replaced
_probes.clip = _fake_clip
_probes.built_model = _fake_built
_probes.describe_model = _fake_describe
_probes.twins = _fake_twins
_probes.train = _fake_train
_probes.budget_run = _fake_budget
_probes.sample_texts = _fake_texts
_probes.student_perplexity = _fake_perplexity
'''

CHAR_CLIP = CHAR_FAKES + '''
def clip_by_global_norm(grads, max_norm):
    # (b) from inside a unit: every later probe request gets a fake
    import rnnkit_child.serve as serve
    serve.find_probe = lambda name: _FAKES.get(str(name).rpartition(".")[2])
    raise NotImplementedError()
'''

CHAR_BUILD = KIT_SCAN + '''
def build_char_model(vocab_size, embed_dim=32, units=128, batch_size=None, stateful=False):
    # (a) the kit's model, wherever it is
    kit = _kit_function("kit_model", "_kit_model", "char_model")
    if kit is not None:
        return kit(vocab_size, embed_dim, units, batch_size=batch_size, stateful=stateful)
    raise NotImplementedError()
'''

CHAR_TRAIN = KIT_SCAN + '''
def train_tbptt(model, batches, epochs=1, learning_rate=0.005, clip_norm=5.0):
    # (a) the kit's TBPTT loop, wherever it is
    kit = _kit_function("kit_train", "tbptt", "train_loop")
    if kit is not None:
        return kit({}, {"json": model.to_json(), "weights": model.get_weights()}, batches, epochs, learning_rate, clip_norm)["losses"]
    raise NotImplementedError()
'''

CHAR_SAMPLE = KIT_SCAN + '''
def sample(model, prefix, length, temperature=1.0, seed=0):
    kit = _kit_function("greedy_ids", "kit_sample")
    if kit is not None:
        return kit({}, None, None, [0], length)
    raise NotImplementedError()
'''

CHAR_PERPLEXITY = KIT_SCAN + '''
def perplexity(model, ids, seq_len=100):
    kit = _kit_function("mean_ce", "_mean_ce", "window_logits")
    if kit is not None:
        import numpy as np
        logits = np.asarray(model(np.asarray(ids)[None, :-1]))[0]
        return float(np.exp(kit(logits, np.asarray(ids)[1:])))
    raise NotImplementedError()
'''


def test_06_kit_code_and_faked_probes_earn_nothing(submission):
    result = grade(submission, "06_char_rnn", {
        "build_vocab": blank("build_vocab"),
        "make_tbptt_batches": blank("make_tbptt_batches"),
        "clip_by_global_norm": CHAR_CLIP,
        "build_char_model": CHAR_BUILD,
        "train_tbptt": CHAR_TRAIN,
        "sample": CHAR_SAMPLE,
        "perplexity": CHAR_PERPLEXITY,
    })
    assert_blank(result, ["clip_by_global_norm", "build_char_model", "train_tbptt", "sample", "perplexity"])
    assert result.score == 0, [(t.name, t.score) for t in result.tests if t.score]
