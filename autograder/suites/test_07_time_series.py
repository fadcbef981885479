"""Hidden suite for 07_time_series: forecasting a noisy sine with a small stacked RNN.

100 points, 25 per unit. make_windows is compared value by value with the definition
(x[i] = series[i : i + window], y[i] = series[i + window]), edge cases included.
build_forecaster is checked for output shapes and weight counts for each kind and
depth, for windows of any length, for computing the contract's function given the
reference's weights (which catches an activation on the Dense(1) output or a changed
recurrent activation, which training alone may forgive), for its defaults (build_forecaster()
with no argument has the weights of units=10, num_layers=2, kind='rnn'), and for learning
the task with the kit's training. train_forecaster's signature keeps the contract's
defaults epochs=20, learning_rate=0.01 (read in the student's child, judged here).
train_forecaster trains the kit's own forecaster (two SimpleRNN layers of 10 units,
started from the reference's initial weights) and the grader measures the test MSE
of the weights it returns. forecast runs on a model whose output is a known function
of its window, so the grader knows what feeding predictions back must give.
A ValueError for an unknown `kind` is taught in the notebook but not graded: the
curriculum does not ask for it.

Nothing that decides a grade is computed beside the student's code: the student's
child returns the built model as a Keras config and weights, the losses and the
trained weights; the reference child rebuilds those models, measures their shapes
and weight counts and makes their predictions on the evaluation windows (which never
enter the student's child), and the MSEs and comparisons are made here.
"""

import math

import numpy as np
import pytest

from rnnkit_grader import checks
from rnnkit_child.probes import timeseries as probes
from rnnkit_grader.reference import timeseries as kit_probes

# ---- the grading data and budget ---------------------------------------------------------
# A series like the notebook's (sin(0.1 t) + N(0, 0.1^2) noise) with its own seed. The first
# 500 points give 480 training windows of 20. The test windows come after them, WINDOW + 1
# apart, so no test target lies inside any window the models read (test or training): no
# evaluation input holds another one's answer.
WINDOW, SPLIT, N_TEST = 20, 500, 100
SERIES_LEN = SPLIT - WINDOW + N_TEST * (WINDOW + 1)
SERIES = np.sin(0.1 * np.arange(SERIES_LEN)) + 0.1 * np.random.default_rng(7).standard_normal(SERIES_LEN)
EPOCHS, LEARNING_RATE, SEED = 10, 0.01, 0
BATCH_CHECK_WINDOWS = (440, 450)  # ceil(n / 32) = 14, 15; batches of 31 give 15 for 440, of 33 give 14 for 450


def windows(series, window):
    starts = np.arange(len(series) - window)
    return series[starts[:, None] + np.arange(window)][..., None].astype(np.float32), series[window:, None].astype(np.float32)


def disjoint_windows(series, window, first, count):
    """`count` windows starting at `first`, window + 1 apart, and the value after each."""
    starts = first + (window + 1) * np.arange(count)
    return series[starts[:, None] + np.arange(window)][..., None].astype(np.float32), series[starts + window, None].astype(np.float32)


TEST_STARTS = SPLIT - WINDOW + (WINDOW + 1) * np.arange(N_TEST)
X_TRAIN, Y_TRAIN = windows(SERIES[:SPLIT], WINDOW)
X_TEST, Y_TEST = disjoint_windows(SERIES, WINDOW, SPLIT - WINDOW, N_TEST)
X_EVAL = np.concatenate([X_TRAIN, X_TEST])  # predictions are made (in the reference child) for both parts
NAIVE_MSE = float(np.mean((X_TEST[:, -1] - Y_TEST) ** 2))  # "next = current": 0.0341

# Test MSE allowed: at most MSE_FACTOR times the reference's under the same budget and start,
# and never more than the naive forecast. Calibrated on the reference with this budget
# (EPOCHS=10, LEARNING_RATE=0.01, the kit's 2 x 10 SimpleRNN from the weights of seed 0,
# SEED=0) on the 100 disjoint test windows: test MSE 0.01905, so the limit is 0.0257 (the rule
# is unchanged from the overlapping test windows of before, where the reference scored 0.01363).
# With the same start and other shuffle seeds (1-4) the reference scored 0.0183-0.0207; a
# tf.GradientTape loop with batches of 32 scored 0.0164-0.0239 over seeds 0-4, Keras's fit
# without shuffling 0.0177, batches of 64 0.0198. Mistakes: Adam at its default 0.001
# ('adam') 0.0214 (caught by the learning-rate test instead), one epoch 0.0299, full-batch
# steps 0.0597, RMSprop at 0.01 0.0324. (200 or 300 disjoint windows were tried too: the
# spread over seeds is the same, and 100 leave the widest margins on both sides.)
MSE_FACTOR = 1.35
CALIBRATED_MSE = 0.01905  # the reference under this budget (calibrate() re-measures it; tests/test_calibration.py)
# The last reported epoch loss must lie within this factor of the trained model's MSE on the
# training windows (reference: 0.0176 against 0.0141, ratio 1.25; over seeds 0.82-1.25;
# returning the RMSE or the MAE is 6-9 times off).
LOSS_RATIO = 2.0
# Training must have lowered the kit model's MSE on the training windows to at most this
# fraction of where it started (reference: 0.97 -> 0.014; one epoch: 0.032; Adam at 0.001: 0.019)
# before the cheaper train_forecaster checks (loss count, learning rate) earn points.
TRAINED_FRACTION = 0.5

KNOWN = (0.5, 0.3, 0.2, 1.0)  # the probe model predicts 0.5 w[-1] + 0.3 w[0] + 0.2 mean(w) + 1
KNOWN_TEXT = "0.5 * (newest value) + 0.3 * (oldest value) + 0.2 * (window mean) + 1"


# ---- make_windows (25 points) ------------------------------------------------------------

CASES = {
    "ramp, window 5": (np.arange(30, dtype=np.float64), 5),
    "noisy sine, window 20": (SERIES[:60], 20),
    "window 1": (np.arange(100, 112, dtype=np.float64) * 0.5, 1),
    "a single window": (np.arange(12, dtype=np.float64) ** 2, 11),
}


def window_slip(series, window, x, y):
    """Name the off-by-one that explains x and y, or ''."""
    n = len(series) - window
    starts = np.arange(n)
    if len(y) == n and np.allclose(y, series[starts + window - 1]):
        return " y[i] is the last value of window i; the target is the value after the window, series[i + window]."
    if len(y) == n - 1 and np.allclose(y, series[starts[:-1] + window + 1]):
        return " The targets skip a value: y[i] should be series[i + window], not series[i + window + 1]."
    if len(x) == n and n > 1 and np.allclose(x[:-1], series[starts[1:, None] + np.arange(window)]):
        return " The windows start one step late: x[i] should be series[i : i + window]."
    if len(x) == n - 1:
        return f" One window is missing: there are len(series) - window = {n} windows (the last one ends at series[-2])."
    if len(x) == n + 1:
        return " One window too many: the last window must leave one value after it for its target."
    return ""


@pytest.mark.unit("make_windows")
@pytest.mark.points(5)
@pytest.mark.parametrize("case", ["ramp, window 5", "noisy sine, window 20"])
def test_make_windows_values(student, case):
    """x[i] = series[i : i + window] and y[i] = series[i + window]"""
    check_windows(student, case)


@pytest.mark.unit("make_windows")
@pytest.mark.points(4)
@pytest.mark.parametrize("case", ["window 1", "a single window"])
def test_make_windows_edge_cases(student, case):
    """the smallest window, and a series that holds a single window"""
    check_windows(student, case)


def check_windows(student, case):
    series, window = CASES[case]
    x, y = checks.sequence(student.call("make_windows", series, window), "make_windows", ["x", "y"])
    x = checks.array(x, "make_windows", "x")
    y = checks.array(y, "make_windows", "y")
    n = len(series) - window
    if x.size % window != 0 or y.size != x.size // window:
        checks.fail(f"make_windows({case}): x has shape {x.shape} and y {y.shape}; expected (N, window, 1) = {(n, window, 1)} and (N, 1) = {(n, 1)}.")
    x, y = x.reshape(-1, window).astype(np.float64), y.reshape(-1).astype(np.float64)
    expected_x, expected_y = windows(series, window)
    if len(x) != n:
        checks.fail(f"make_windows({case}): {len(x)} windows for a series of {len(series)} values and window {window}; expected N = len(series) - window = {n}.{window_slip(series, window, x, y)}")
    x_ok = np.allclose(x, expected_x[..., 0], rtol=1e-6, atol=1e-6)
    y_ok = np.allclose(y, expected_y[:, 0], rtol=1e-6, atol=1e-6)
    if not (x_ok and y_ok):
        wrong = " and ".join(w for w, ok in [("x", x_ok), ("y", y_ok)] if not ok)
        checks.fail(f"make_windows({case}): {wrong} differ from x[i] = series[i : i + window], y[i] = series[i + window].{window_slip(series, window, x, y)}")


@pytest.mark.unit("make_windows")
@pytest.mark.points(7)
def test_make_windows_shapes_and_dtype(student):
    """x is float32 (N, window, 1) and y float32 (N, 1), from a float64 series"""
    series, window = CASES["noisy sine, window 20"]
    x, y = checks.sequence(student.call("make_windows", series, window), "make_windows", ["x", "y"])
    n = len(series) - window
    x = checks.array(x, "make_windows", "x")
    y = checks.array(y, "make_windows", "y")
    if x.shape != (n, window, 1):
        hint = " Add the feature axis: x[..., np.newaxis]." if x.shape == (n, window) else ""
        checks.fail(f"make_windows: x has shape {x.shape}; expected (N, window, 1) = {(n, window, 1)}.{hint}")
    if y.shape != (n, 1):
        checks.fail(f"make_windows: y has shape {y.shape}; expected (N, 1) = {(n, 1)}.")
    if x.dtype != np.float32 or y.dtype != np.float32:
        checks.fail(f"make_windows: x and y are {x.dtype} and {y.dtype}; both should be float32 (convert with np.asarray(series, dtype=np.float32)).")


# ---- build_forecaster (25 points) --------------------------------------------------------

SHAPE_CASES = [("rnn", 2, 10), ("rnn", 1, 10), ("rnn", 3, 6), ("gru", 2, 10), ("lstm", 2, 10), ("gru", 1, 4), ("lstm", 3, 5)]


def built(owner, kind, num_layers, units):
    """What build_forecaster made, as data: {"type", "json", "json_error", "weights"}."""
    kwargs = dict(units=units, num_layers=num_layers, kind=kind)
    return owner.probe(probes.built_model, unit="build_forecaster", **kwargs)


def inspected(reference, got, call, windows_=(WINDOW,)):
    """The student's model rebuilt from its config in the reference child: weight count, layers, output shapes."""
    if not isinstance(got, dict) or not isinstance(got.get("json"), str):
        kind = got.get("type") if isinstance(got, dict) else checks.describe(got)
        why = got.get("json_error") if isinstance(got, dict) else None
        checks.fail(
            f"{call} returned a {kind} that Keras can't describe{f' ({why})' if why else ''}; "
            "it should return a keras.Model made of Keras's layers (keras.Sequential or the functional API)."
        )
    info = reference.probe(kit_probes.inspect_model, config=got["json"], windows=list(windows_))
    if "error" in info:
        checks.fail(f"{call}: the grader could not rebuild your model from its Keras config ({info['error']}); build it from Keras's own layers.")
    return info


@pytest.mark.unit("build_forecaster")
@pytest.mark.points(2)
@pytest.mark.parametrize("kind,num_layers,units", SHAPE_CASES, ids=[f"{k}-{n}x{u}" for k, n, u in SHAPE_CASES])
def test_build_forecaster_shapes(student, reference, kind, num_layers, units):
    """a keras.Model from (batch, window, 1) to (batch, 1) with the reference's number of weights"""
    call = f"build_forecaster(units={units}, num_layers={num_layers}, kind={kind!r})"
    got = inspected(reference, built(student, kind, num_layers, units), call)
    out = got["outputs"][str(WINDOW)]
    if isinstance(out, str):
        checks.fail(f"{call}: calling the model on windows of shape (3, {WINDOW}, 1) raised {out}")
    if tuple(out) != (3, 1):
        hint = " Only the last recurrent layer's last step should reach Dense(1): give it return_sequences=False." if len(out) == 3 else ""
        checks.fail(f"{call}: windows of shape (3, {WINDOW}, 1) give an output of shape {tuple(out)}; expected (3, 1).{hint}")
    want = inspected(reference, built(reference, kind, num_layers, units), "the reference")
    if got["params"] != want["params"]:
        checks.fail(
            f"{call} has {got['params']} weights (layers {', '.join(got['layers'])}); expected {want['params']}: "
            f"{num_layers} {kind} layer(s) of {units} units each ({', '.join(want['layers'][1:])}), then Dense(1)."
        )


@pytest.mark.unit("build_forecaster")
@pytest.mark.points(3)
def test_build_forecaster_any_window(student, reference):
    """the same model reads windows of any length; build_forecaster() with no argument is the contract's default model"""
    got = inspected(reference, built(student, "rnn", 2, 10), "build_forecaster()", windows_=(5, 50))
    for length, out in got["outputs"].items():
        if isinstance(out, str) or tuple(out) != (3, 1):
            what = f"raised {out}" if isinstance(out, str) else f"gave shape {tuple(out)}"
            checks.fail(f"build_forecaster(): windows of shape (3, {length}, 1) {what}; expected (3, 1). Declare the input as keras.Input(shape=(None, 1)) so any window length works.")
    plain = student.probe(probes.built_model, unit="build_forecaster", units=None, num_layers=None, kind=None, defaults=True)
    default = inspected(reference, plain, "build_forecaster() with no argument")
    want = inspected(reference, built(reference, "rnn", 2, 10), "the reference")
    if default["params"] != want["params"]:  # the weight count only: keras.layers.RNN over a cell is as good as SimpleRNN
        checks.fail(
            f"build_forecaster() with no argument has {default['params']} weights (layers {', '.join(default['layers'])}); the contract's "
            "defaults are units=10, num_layers=2, kind='rnn' (two SimpleRNN layers of 10 units, then Dense(1)). Keep the signature "
            "build_forecaster(units=10, num_layers=2, kind=\"rnn\")."
        )


def mse(predictions, unit):
    """(test MSE, training MSE) of predictions for X_EVAL."""
    predictions = checks.array(predictions, unit, "the output of the trained model", shape=(len(X_EVAL), 1))
    return float(np.mean((predictions[len(X_TRAIN):] - Y_TEST) ** 2)), float(np.mean((predictions[: len(X_TRAIN)] - Y_TRAIN) ** 2))


def budget_text():
    return f"{EPOCHS} epochs, learning rate {LEARNING_RATE}, {len(X_TRAIN)} training windows of {WINDOW}"


def kit_trained_built(reference, got, start):
    """The kit's training of a built model (its config), in the reference child: its predictions for X_EVAL."""
    kwargs = dict(weights=start, x=X_TRAIN, y=Y_TRAIN, x_eval=X_EVAL, epochs=EPOCHS, learning_rate=LEARNING_RATE, seed=SEED)
    return reference.probe(kit_probes.train_built, config=got["json"], **kwargs)


FUNCTION_CASES = [("rnn", 2, 10), ("gru", 1, 4), ("lstm", 3, 5)]
FUNCTION_WINDOWS = np.random.default_rng(11).uniform(-1.5, 1.5, size=(6, 9, 1)).astype(np.float32)


def output_slip(got, want):
    """Name an activation that turns the contract's outputs into the student's, or ''."""
    for name, f in (("tanh", np.tanh), ("sigmoid", lambda v: 1 / (1 + np.exp(-v))), ("relu", lambda v: np.maximum(v, 0))):
        if np.allclose(got, f(want), rtol=1e-4, atol=1e-5):
            return f" Your outputs are {name} of the contract's: the last Dense(1) must be linear (no activation), a forecast can be any number."
    return (
        " Check the recurrent layers' activation (Keras's default: tanh for SimpleRNN), that Dense(1) has no activation, "
        "and that the layers come in the contract's order."
    )


@pytest.mark.unit("build_forecaster")
@pytest.mark.points(1)
@pytest.mark.parametrize("kind,num_layers,units", FUNCTION_CASES, ids=[f"{k}-{n}x{u}" for k, n, u in FUNCTION_CASES])
def test_build_forecaster_same_function(student, reference, kind, num_layers, units):
    """with the reference's weights, the same outputs as the contract's model (a linear Dense(1) on the last step)"""
    call = f"build_forecaster(units={units}, num_layers={num_layers}, kind={kind!r})"
    theirs = built(student, kind, num_layers, units)
    inspected(reference, theirs, call)  # a model Keras can describe and rebuild, or the failure that says why not
    mine = built(reference, kind, num_layers, units)
    weights = [np.asarray(w, dtype=np.float32) for w in mine["weights"]]
    weights[-2], weights[-1] = 6 * weights[-2], weights[-1] + 0.5  # a read-out whose outputs reach beyond (-1, 1)
    want = reference.probe(kit_probes.outputs_with, config=mine["json"], weights=weights, x=FUNCTION_WINDOWS)
    ran = reference.probe(kit_probes.outputs_with, config=theirs["json"], weights=weights, x=FUNCTION_WINDOWS)
    if "error" in ran:
        checks.fail(f"{call}: the grader could not run your model with the contract's weights: {ran['error']}")
    if "mismatch" in ran:
        checks.fail(
            f"{call}: your model's weights have shapes {ran['mismatch']}, the contract's model's other ones, so the two can't be "
            f"compared on the same weights: {num_layers} {kind} layer(s) of {units} units, then Dense(1), in that order."
        )
    outputs = checks.array(ran["outputs"], "build_forecaster", "the model's outputs", shape=(len(FUNCTION_WINDOWS), 1))
    expected = np.asarray(want["outputs"], dtype=np.float64)
    if not np.allclose(outputs, expected, rtol=1e-4, atol=1e-5):
        checks.fail(
            f"{call}: given the contract's model's weights, your model computes another function of the window (its outputs are "
            f"{checks.band(checks.rel_error(outputs, expected))}).{output_slip(outputs, expected)}"
        )


@pytest.mark.unit("build_forecaster")
@pytest.mark.points(5)
def test_build_forecaster_learns(student, reference):
    """trained by the kit (Adam, MSE, batches of 32), the default model reaches the reference's test MSE"""
    mine = built(reference, "rnn", 2, 10)
    got = built(student, "rnn", 2, 10)
    inspected(reference, got, "build_forecaster()")
    run = kit_trained_built(reference, got, mine["weights"])
    if "error" in run:
        checks.fail(f"build_forecaster: the kit's training of your default model failed: {run['error']}")
    got_mse, _ = mse(run["predictions"], "build_forecaster")
    want_mse, _ = mse(kit_trained_built(reference, mine, mine["weights"])["predictions"], "build_forecaster")
    limit = min(MSE_FACTOR * want_mse, NAIVE_MSE)
    if not got_mse <= limit:
        note = "" if run["copied_weights"] else " (Your model's weights don't have the reference's shapes, so it started from its own.)"
        checks.fail(
            f"build_forecaster: after the kit's training ({budget_text()}) your default model's test MSE is {got_mse:.4f}; "
            f"at most {limit:.4f} is accepted (the naive forecast 'next = current' scores {NAIVE_MSE:.4f}).{note}"
        )


# ---- train_forecaster (25 points) --------------------------------------------------------


@pytest.fixture(scope="module")
def kit_start(reference):
    """The kit's 2 x 10 SimpleRNN forecaster of seed SEED, as data ({"json", "weights"}), made in the reference child."""
    return reference.probe(kit_probes.kit_spec, units=10, num_layers=2, seed=SEED)


def kit_training(owner, start, **budget):
    """train_forecaster of `owner` on the kit's forecaster: {"losses", "weights"} as its child returned them."""
    kwargs = dict(model=start, x=X_TRAIN, y=Y_TRAIN, epochs=EPOCHS, learning_rate=LEARNING_RATE, seed=SEED)
    kwargs.update(budget)
    return owner.probe(probes.train_given_model, unit="train_forecaster", **kwargs)


def trained_weights(run, start):
    """The weights train_forecaster left the kit's model with, checked against the start's shapes."""
    weights = run.get("weights") if isinstance(run, dict) else None
    if not isinstance(weights, list) or len(weights) != len(start["weights"]):
        checks.fail("train_forecaster: the model it was given no longer has the kit forecaster's weights after training.")
    out = []
    for w, s in zip(weights, start["weights"]):
        w = checks.array(w, "train_forecaster", "a trained weight", shape=np.shape(s))
        out.append(w.astype(np.float32))
    return out


def weight_change(run, start):
    return float(max(np.max(np.abs(w - np.asarray(s, np.float32))) for w, s in zip(trained_weights(run, start), start["weights"])))


def evaluation(reference, start, weights):
    """(test MSE, training MSE) of the kit's forecaster with these weights; predictions made in the reference child."""
    got = reference.probe(kit_probes.predict, model={"json": start["json"], "weights": weights}, x=X_EVAL)
    if "error" in got:
        checks.fail(f"train_forecaster: the trained weights could not be evaluated: {got['error']}")
    return mse(got["predictions"], "train_forecaster")


@pytest.fixture(scope="module")
def student_run(student, reference, kit_start):
    """The budgeted run: what came back, and its figures (computed here and in the reference child)."""
    run = kit_training(student, kit_start)
    weights = trained_weights(run, kit_start)
    test_mse, train_mse = evaluation(reference, kit_start, weights)
    _, start_mse = evaluation(reference, kit_start, kit_start["weights"])
    return dict(run, test_mse=test_mse, train_mse=train_mse, start_mse=start_mse, weight_change=weight_change(run, kit_start))


def require_training(run):
    """The run must have trained the model (moved the weights and lowered the training MSE)."""
    if run["weight_change"] == 0.0:
        checks.fail("train_forecaster did not change the model's weights: train the model it is given (compile and fit it, or apply gradients to its trainable_variables).")
    if not run["train_mse"] <= TRAINED_FRACTION * run["start_mse"]:
        checks.fail(
            f"train_forecaster: after {EPOCHS} epochs the model's MSE on the training windows is {run['train_mse']:.4f}, "
            f"against {run['start_mse']:.4f} before training: train the model it is given on x and y."
        )


def epoch_losses(run, epochs):
    losses = run["losses"]
    if isinstance(losses, dict) and "loss" in losses:
        checks.fail("train_forecaster returned history.history (a dict); return the list history.history['loss'].")
    if not isinstance(losses, np.ndarray) or losses.ndim != 1:
        checks.fail(f"train_forecaster should return a list of {epochs} per-epoch losses, but it returned {checks.describe(losses)}.")
    if len(losses) != epochs:
        hint = " Pass epochs on to fit (its default is 1)." if len(losses) == 1 else ""
        checks.fail(f"train_forecaster(..., epochs={epochs}) returned {len(losses)} losses; expected one per epoch.{hint}")
    if not np.all(np.isfinite(losses)):
        checks.fail(f"train_forecaster: the losses contain NaN or inf: {losses.tolist()}.")
    return losses


@pytest.mark.unit("train_forecaster")
@pytest.mark.points(4)
def test_train_forecaster_returns_epoch_losses(student, student_run):
    """returns one loss per epoch (of a run that trained the model); the contract's defaults epochs=20, learning_rate=0.01"""
    epoch_losses(student_run, EPOCHS)
    require_training(student_run)
    got = student.probe(probes.signature_defaults, unit="train_forecaster", unit_name="train_forecaster")
    defaults = got.get("defaults") if isinstance(got, dict) else None
    contract = {"epochs": 20, "learning_rate": 0.01}
    if not isinstance(defaults, dict) or any(defaults.get(k) != v for k, v in contract.items()):
        shown = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) if isinstance(defaults, dict) else checks.describe(got)
        checks.fail(
            f"train_forecaster's defaults are {shown}; the contract's signature is "
            "train_forecaster(model, x, y, epochs=20, learning_rate=0.01): a caller that leaves them out gets what the notebook promises."
        )


@pytest.mark.unit("train_forecaster")
@pytest.mark.points(5)
def test_train_forecaster_losses_are_mse(student_run):
    """the losses fall and are mean squared errors"""
    losses = epoch_losses(student_run, EPOCHS)
    require_training(student_run)
    train_mse = student_run["train_mse"]
    if not losses[-1] < losses[0]:
        checks.fail(f"train_forecaster: the losses do not go down over {EPOCHS} epochs: {np.round(losses, 4).tolist()}.")
    ratio = losses[-1] / train_mse if train_mse > 0 else np.inf
    if not 1 / LOSS_RATIO <= ratio <= LOSS_RATIO:
        checks.fail(
            f"train_forecaster: the last epoch's loss is {losses[-1]:.4f}, but the trained model's mean squared error on the "
            f"training windows is {train_mse:.4f}: return the per-epoch MSE (loss='mse'), not its square root, the mean absolute error or a sum."
        )


@pytest.mark.unit("train_forecaster")
@pytest.mark.points(5)
def test_train_forecaster_uses_learning_rate(student, student_run, kit_start):
    """learning_rate=0 leaves the weights where they were (while the budgeted run trains them); updates come in mini-batches of 32"""
    require_training(student_run)
    # one epoch at learning_rate=0 on each of BATCH_CHECK_WINDOWS windows: batches of 32 give 14 and 15 updates, of 31 or 33 not both
    for n in BATCH_CHECK_WINDOWS:
        still = kit_training(student, kit_start, epochs=1, learning_rate=0.0, x=X_TRAIN[:n], y=Y_TRAIN[:n])
        change = weight_change(still, kit_start)
        if change != 0.0:
            checks.fail(
                f"train_forecaster(..., learning_rate=0.0) still moved the weights (by up to {change:.2e}): "
                "give the optimiser the learning rate, keras.optimizers.Adam(learning_rate=learning_rate); the string 'adam' uses 0.001."
            )
        steps = [k for k in still.get("optimizer_steps") or [] if isinstance(k, int) and k > 0]
        if steps and math.ceil(n / 32) not in steps:  # an optimizer kept out of the probe's reach can't be counted
            checks.fail(
                f"train_forecaster(..., epochs=1) on {n} windows made {max(steps)} optimizer updates; mini-batches of 32 make "
                f"{math.ceil(n / 32)}: fit(..., batch_size=32), or 32 windows per step of your own loop."
            )


@pytest.mark.unit("train_forecaster")
@pytest.mark.points(11)
def test_train_forecaster_reaches_reference_mse(student_run, reference, kit_start):
    """after a fixed budget, the kit's forecaster reaches the reference's test MSE"""
    got_mse = student_run["test_mse"]
    want_mse = reference_mse(reference, kit_start)
    limit = min(MSE_FACTOR * want_mse, NAIVE_MSE)
    if not got_mse <= limit:
        hint = ""
        if student_run["weight_change"] == 0.0:
            hint = " The weights never changed: train the model you are given."
        checks.fail(
            f"train_forecaster: the kit's 2 x 10 SimpleRNN trained by your function ({budget_text()}) has a test MSE of {got_mse:.4f}; "
            f"at most {limit:.4f} is accepted from the same start (the naive forecast scores {NAIVE_MSE:.4f}). "
            f"Use Adam with the given learning rate, shuffled mini-batches of 32 and all {EPOCHS} epochs.{hint}"
        )


def reference_mse(reference, start):
    """The reference's test MSE under the budget (its train_forecaster in the reference child, measured there)."""
    run = kit_training(reference, start)
    return evaluation(reference, start, [np.asarray(w, np.float32) for w in run["weights"]])[0]



def calibrate(reference):
    """CALIBRATED_MSE and MSE_FACTOR re-checked on the reference: its train_forecaster on the kit's start of seed
    SEED, measured as the training test measures a student's (checks.Calibration; tests/test_calibration.py)."""
    mse = reference_mse(reference, reference.probe(kit_probes.kit_spec, units=10, num_layers=2, seed=SEED))
    return [checks.Calibration(
        ("CALIBRATED_MSE", "MSE_FACTOR"), "the reference's test MSE under the budget", mse, holds=MSE_FACTOR * mse < NAIVE_MSE,
        failure=f"MSE_FACTOR ({MSE_FACTOR}) times it must stay under the naive forecast 'next = current' ({NAIVE_MSE:.4f})",
        calibrated=CALIBRATED_MSE, drift=0.15 * CALIBRATED_MSE, recalibrate="update the figures next to MSE_FACTOR")]

# ---- forecast (25 points) ----------------------------------------------------------------


def known(window, coefficients=KNOWN):
    a, b, c, d = coefficients
    return a * window[-1] + b * window[0] + c * np.mean(window) + d


def simulate(history, horizon, mode, coefficients=KNOWN):
    """What forecast returns when written correctly ("slide") or with a known slip."""
    window = [float(v) for v in history]
    out = []
    for _ in range(horizon):
        value = known(np.array(window), coefficients)
        out.append(value)
        if mode == "slide":
            window = window[1:] + [value]
        elif mode == "grow":
            window = window + [value]
        elif mode == "front":
            window = [value] + window[:-1]
        elif mode == "constant":
            pass
    return np.array(out)


SLIPS = {
    "constant": "Every step predicts from the same observed window: append each prediction to the window (and drop its oldest value) before the next step.",
    "grow": "The window grows: when you append a prediction, drop the window's oldest value so it keeps len(history) values.",
    "front": "The prediction goes in at the front of the window: append it at the end (the newest position) and drop the oldest value.",
}


def forecast_values(student, history, horizon, coefficients=KNOWN):
    got = student.probe(probes.forecast_known, unit="forecast", history=history, horizon=horizon, coefficients=list(coefficients))
    return checks.array(got, "forecast", "the forecast")


def diagnose_forecast(history, horizon, got, coefficients=KNOWN):
    for mode, message in SLIPS.items():
        if got.shape == (horizon,) and np.allclose(got, simulate(history, horizon, mode, coefficients), atol=1e-4):
            return message
    right = simulate(history, horizon + 1, "slide", coefficients)
    if got.reshape(-1).shape == (horizon,):
        flat = got.reshape(-1)
        if np.allclose(flat[1:], right[: horizon - 1], atol=1e-4) and np.isclose(flat[0], history[-1]):
            return "The forecast starts with the last observed value: return only the predicted values."
    return "Predict from the last len(history) values, append the prediction, drop the oldest value, repeat."


HISTORY = np.array([0.3, -0.2, 0.5, 0.1, -0.4, 0.2, 0.6, -0.1])


@pytest.mark.unit("forecast")
@pytest.mark.points(5)
def test_forecast_returns_array(student):
    """returns a 1-D NumPy array of horizon values, the first the model's prediction for the history"""
    got = forecast_values(student, HISTORY, 7)
    if got.shape != (7,):
        hint = " Flatten it: the contract is a 1-D array of shape (horizon,)." if got.size == 7 else ""
        checks.fail(f"forecast(model, history, horizon=7) returned shape {got.shape}; expected (7,).{hint}")
    if got.dtype.kind != "f":
        checks.fail(f"forecast returned an array of dtype {got.dtype}; predictions are real numbers (float).")
    first = simulate(HISTORY, 1, "slide")[0]
    if not np.isclose(got.reshape(-1)[0], first, atol=1e-4):
        checks.fail(f"forecast: its first value, {got.reshape(-1)[0]:.4f}, should be the model's prediction for the history ({checks.band(checks.relative(got.reshape(-1)[0], first))}).")


@pytest.mark.unit("forecast")
@pytest.mark.points(15)
def test_forecast_feeds_predictions_back(student):
    """each prediction is appended to the window, the oldest value dropped, and the window fed back"""
    horizon = 12
    got = forecast_values(student, HISTORY, horizon)
    want = simulate(HISTORY, horizon, "slide")
    if got.reshape(-1).shape != (horizon,) or not np.allclose(got.reshape(-1), want, atol=1e-4):
        checks.fail(
            f"forecast: with a model that predicts {KNOWN_TEXT} and a history of {len(HISTORY)} values, the 12-step forecast "
            f"should be {np.round(want, 3).tolist()}, got {np.round(got.reshape(-1), 3).tolist()}. {diagnose_forecast(HISTORY, horizon, got)}"
        )


@pytest.mark.unit("forecast")
@pytest.mark.points(5)
def test_forecast_window_is_history_length(student):
    """the window the model reads is as long as the history (here 5), and horizon 1 is one prediction"""
    history = np.array([1.0, 0.5, -0.5, 2.0, 0.0])
    coefficients = (0.9, -0.4, 0.3, 0.1)
    got_one = forecast_values(student, history, 1, coefficients)
    want_one = simulate(history, 1, "slide", coefficients)
    if got_one.reshape(-1).shape != (1,) or not np.allclose(got_one.reshape(-1), want_one, atol=1e-4):
        checks.fail(f"forecast(model, history, horizon=1) should be the model's prediction for the history itself, {np.round(want_one, 4).tolist()}; got {np.round(got_one.reshape(-1), 4).tolist()}.")
    got = forecast_values(student, history, 6, coefficients)
    want = simulate(history, 6, "slide", coefficients)
    if got.reshape(-1).shape != (6,) or not np.allclose(got.reshape(-1), want, atol=1e-4):
        checks.fail(
            f"forecast with a history of 5 values: expected {np.round(want, 3).tolist()}, got {np.round(got.reshape(-1), 3).tolist()}. "
            f"The window is len(history) values long, whatever window the notebook used. {diagnose_forecast(history, 6, got, coefficients)}"
        )
