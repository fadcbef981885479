"""Hidden suite for 03_hello_lm: teach an RNN to say "ihello".

100 points. Training and decoding units run on models the kit builds in the
reference child (rnnkit_grader.reference.hello) with weights drawn from fixed seeds;
they reach the student's child as data (a Keras config from model.to_json() and the
weights), so student and reference start identical and nothing the student's code can
import implements a graded unit. The student's child hands back only what the units
returned (losses, trained weights, texts, a built model's weights and outputs); the
figures that decide (losses compared, logits of trained weights, the argmax text, the
chi-square of sampled characters) are computed here or in the reference child.

Error paths and return types earn points only together with the unit's values, and
feedback says what is wrong and by how far, never the value a hidden input should give.
"""

import math

import numpy as np
import pytest

from rnnkit_grader import checks
from rnnkit_child.probes import hello as probes
from rnnkit_grader.reference import hello as kit_probes

VOCAB = ["h", "i", "e", "l", "o"]
X_IDS, Y_IDS = [0, 1, 0, 2, 3, 3], [1, 0, 2, 3, 3, 4]  # "hihell" -> "ihello"


def one_hot(ids):
    return np.eye(5, dtype=np.float32)[np.asarray(ids)][None]


X, Y = one_hot(X_IDS), np.array([Y_IDS], dtype=np.int32)


def text_of(logits):
    return "".join(VOCAB[i] for i in np.argmax(logits, axis=-1).reshape(-1))


@pytest.fixture(scope="module")
def spec(reference):
    """The kit's model for the training tests, as data: {"json", "weights"}."""
    return reference.probe(kit_probes.model_spec, seed=0)


number = checks.number  # a returned loss as a float, or None when it is not a single finite real number


def trained_weights(got, spec, unit):
    """The weights a unit left in the kit's model, checked before they go anywhere."""
    weights = got.get("weights") if isinstance(got, dict) else None
    want = [np.shape(w) for w in spec["weights"]]
    if not isinstance(weights, list) or len(weights) != len(want) or any(
        not isinstance(w, np.ndarray) or w.dtype.kind != "f" or w.shape != s or not np.all(np.isfinite(w)) for w, s in zip(weights, want)
    ):
        checks.fail(f"{unit}: after the call the model's weights are missing, reshaped or not finite; train the model you are given, in place.")
    return [w.astype(np.float32) for w in weights]


def mismatch(got, want):
    """Positions (0-based) where two strings differ, for feedback that names no expected text."""
    return [i for i in range(max(len(got), len(want))) if i >= len(got) or i >= len(want) or got[i] != want[i]]


# ---- encode, decode, make_hello_data (23 points) ---------------------------------------


@pytest.mark.unit("encode")
@pytest.mark.points(5)
def test_encode_values(student):
    """indices into VOCAB, as int32"""
    for text in ("hello", "".join(np.random.default_rng(3).choice(VOCAB, size=9))):  # two texts, so that no fixed answer passes
        got = checks.array(student.call("encode", text), "encode", f"encode({text!r})", shape=(len(text),))
        if got.dtype != np.int32:
            checks.fail(f"encode: the result has dtype {got.dtype}; the contract says int32 (np.array(ids, dtype=np.int32)).")
        wrong = [i for i, (g, c) in enumerate(zip(got.tolist(), text)) if g != VOCAB.index(c)]
        if wrong:
            checks.fail(f"encode({text!r}) gave {got.tolist()}: the ids at positions {wrong} are not the characters' positions in VOCAB = {VOCAB}.")


@pytest.mark.unit("encode")
@pytest.mark.points(3)
def test_encode_rejects_unknown_characters(student):
    """ValueError naming the first unknown character"""
    ids = student.outcome("encode", "olleh")
    if ids.error is not None or not isinstance(ids.value, np.ndarray) or ids.value.tolist() != [4, 3, 3, 2, 0]:
        checks.fail("encode: known characters do not give their ids yet (see the values test); the error path earns its points only with the values.")
    outcome = student.outcome("encode", "hexlz")
    if outcome.raised != "ValueError":
        checks.fail(f'encode("hexlz") should raise ValueError for the unknown "x", but it {"raised " + outcome.raised if outcome.raised else "returned"}.')
    if "x" not in outcome.error.get("message", "") or "z" in outcome.error.get("message", "").replace("hexlz", ""):
        checks.fail(f'encode: the ValueError should name the first unknown character "x"; its message was: {outcome.error.get("message")!r}')


@pytest.mark.unit("decode")
@pytest.mark.points(5)
def test_decode(student):
    """the string for a sequence of ids (list or array)"""
    for ids in ([1, 0, 2, 3, 3, 4], np.array([4, 3, 0], dtype=np.int64)):
        got = student.call("decode", ids)
        want = "".join(VOCAB[i] for i in ids)
        if got != want:
            where = mismatch(got, want) if isinstance(got, str) else "all"
            checks.fail(f"decode({list(ids)}) gave {got!r}: wrong at positions {where}; character t is VOCAB[ids[t]].")


@pytest.mark.unit("make_hello_data")
@pytest.mark.points(6)
def test_make_hello_data_inputs(student):
    """x is the one-hot encoding of "hihell", float32 (1, 6, 5)"""
    got = checks.sequence(student.call("make_hello_data"), "make_hello_data", ("x", "y"))
    x = checks.array(got[0], "make_hello_data", "x", shape=(1, 6, 5))
    if x.dtype != np.float32:
        checks.fail(f"make_hello_data: x has dtype {x.dtype}, expected float32.")
    if not np.array_equal(x, X):
        shown = text_of(x) if np.allclose(x.sum(-1), 1) else "not one-hot"
        hint = ' Inputs and targets are swapped.' if shown == "ihello" else ""
        checks.fail(f'make_hello_data: x should be the one-hot encoding of "hihell"; it decodes to {shown!r}.{hint}')


@pytest.mark.unit("make_hello_data")
@pytest.mark.points(4)
def test_make_hello_data_targets(student):
    """y holds the ids of "ihello", int32 (1, 6): the input shifted by one"""
    got = checks.sequence(student.call("make_hello_data"), "make_hello_data", ("x", "y"))
    y = checks.array(got[1], "make_hello_data", "y", shape=(1, 6))
    if y.dtype.kind not in "iu":
        checks.fail(f"make_hello_data: y has dtype {y.dtype}; it holds integer class ids (int32).")
    if y.tolist() != [Y_IDS]:
        text = "".join(VOCAB[i] if 0 <= i < 5 else "?" for i in y.reshape(-1))
        hint = " The targets are not shifted: y[t] is the character after x[t]." if text == "hihell" else ""
        checks.fail(f'make_hello_data: y decodes to {text!r}, expected "ihello".{hint}')


# ---- build_hello_model (15 points) -----------------------------------------------------


def suite_weights(shapes):
    """Weights the suite chooses for a model of the kit's shapes (so outputs can't be matched without computing)."""
    rng = np.random.default_rng(99)
    return [(rng.standard_normal(s) * 0.5).astype(np.float32) for s in shapes]


def probe_inputs(batch, time, seed):
    return np.eye(5, dtype=np.float32)[np.random.default_rng(seed).integers(0, 5, size=(batch, time))]


def check_built(student, reference, memo, hidden, cell, batch, time, seed=0, defaults=False):
    """build_hello_model(hidden, cell) computes what one `cell` layer and Dense(5) compute, with weights the suite loads.
    With defaults, build_hello_model() must be the contract's build_hello_model(8, "rnn")."""
    key = ("build", hidden, cell, batch, time, defaults)
    if key not in memo:
        memo[key] = None
        x = probe_inputs(batch, time, seed)
        want = reference.probe(kit_probes.kit_shapes, cell=cell, hidden=hidden)
        weights = suite_weights(want)
        args = [] if defaults else [hidden, cell]
        got = student.probe(probes.build, unit="build_hello_model", builder="build_hello_model", args=args, x=x, weights=weights)
        call = "build_hello_model() (the contract's defaults: hidden_size=8, cell=\"rnn\")" if defaults else f"build_hello_model({hidden}, {cell!r})"
        out = got.get("outputs") if isinstance(got, dict) else None
        if not isinstance(out, np.ndarray) or out.shape != (batch, time, 5):
            shape = tuple(out.shape) if isinstance(out, np.ndarray) else checks.describe(out)
            hint = " Keep every time step: return_sequences=True." if isinstance(out, np.ndarray) and out.shape == (batch, 5) else ""
            checks.fail(f"{call} maps ({batch}, {time}, 5) inputs to {shape}, expected ({batch}, {time}, 5).{hint}")
        shapes = got.get("shapes")
        if shapes != want:
            how = checks.parameter_gap(shapes, want)
            checks.fail(f"{call} has {how} one {cell.upper()} layer of {hidden} units followed by Dense(5). Layers: {got.get('layers')}.")
        kit = reference.probe(kit_probes.kit_outputs, weights=weights, x=x, cell=cell, hidden=hidden)["outputs"]
        if not np.allclose(out, kit, rtol=1e-4, atol=1e-5):
            checks.fail(
                f"{call}: with weights of those shapes loaded, the model's outputs are not those of one {cell.upper()} layer (return_sequences=True) "
                "followed by Dense(5) on one-hot inputs; the model should return logits (no softmax, no extra layers)."
            )
        memo[key] = True
    if memo[key] is None:
        checks.fail(f"build_hello_model({'' if defaults else f'{hidden}, {cell!r}'}) does not build the model yet (see the build test above).")


@pytest.mark.unit("build_hello_model")
@pytest.mark.points(3)
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_build_hello_model(student, reference, memo, cell):
    """one recurrent layer with return_sequences, then Dense(5): logits (batch, time, 5); build_hello_model() is the rnn one of 8 units"""
    check_built(student, reference, memo, 8, cell, batch=3, time=6)
    if cell == "rnn":
        check_built(student, reference, memo, 8, cell, batch=3, time=6, defaults=True)


@pytest.mark.unit("build_hello_model")
@pytest.mark.points(3)
def test_build_hello_model_any_length(student, reference, memo):
    """works for any batch size and sequence length, with hidden_size respected"""
    check_built(student, reference, memo, 16, "rnn", batch=1, time=11, seed=1)


@pytest.mark.unit("build_hello_model")
@pytest.mark.points(3)
def test_build_hello_model_rejects_unknown_cell(student, reference, memo):
    """ValueError for a cell other than rnn, gru, lstm"""
    try:
        check_built(student, reference, memo, 8, "rnn", batch=3, time=6)
    except checks.GradingFailure:
        checks.fail("build_hello_model: the error path earns its points only once build_hello_model(8, 'rnn') builds the right model (see the build tests).")
    outcome = student.outcome("build_hello_model", 8, "transformer")
    if outcome.raised != "ValueError":
        checks.fail(f'build_hello_model(cell="transformer") should raise ValueError, but it {"raised " + outcome.raised if outcome.raised else "returned a model"}.')


# ---- train_step (20 points) -------------------------------------------------------------


def step_hint(got_loss, variants, moved):
    if not moved:
        return "The weights did not change: apply the gradients with optimizer.apply_gradients(zip(grads, model.trainable_variables))."
    if got_loss is None:
        return ""
    for key, note in (
        ("sum", "The loss is summed over positions; take the mean."),
        ("probs", "The loss treats the logits as probabilities: use from_logits=True."),
        ("after", "It returns the loss after the update; return the one computed before it."),
    ):
        if math.isclose(got_loss, variants[key], rel_tol=1e-4):
            return note
    return ""


def student_step(student, spec, memo):
    if "step" not in memo:
        memo["step"] = None
        got = student.probe(probes.train_step, unit="train_step", model=spec, x=X, y=Y)
        memo["step"] = {"loss": number(got.get("loss")), "loss_type": str(got.get("loss_type")), "weights": trained_weights(got, spec, "train_step")}
    if memo["step"] is None:
        checks.fail("train_step: the call failed (see the loss test).")
    return memo["step"]


def second_step(student, reference, memo):
    """train_step's loss on a second kit model (so that no fixed number passes the loss test): (got, want)."""
    if "step2" not in memo:
        memo["step2"] = None
        other = reference.probe(kit_probes.model_spec, seed=4)
        got = student.probe(probes.train_step, unit="train_step", model=other, x=X, y=Y)
        memo["step2"] = ({"loss": number(got.get("loss")), "weights": trained_weights(got, other, "train_step")}, reference.probe(probes.train_step, model=other, x=X, y=Y))
    if memo["step2"] is None:
        checks.fail("train_step: the call failed on a second model (see the loss test).")
    return memo["step2"]


def step_loss_ok(got, want):
    return got["loss"] is not None and math.isclose(got["loss"], number(want["loss"]), rel_tol=1e-5)


def step_update_ok(got, want):
    return all(np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(got["weights"], want["weights"]))


@pytest.mark.unit("train_step")
@pytest.mark.points(8)
def test_train_step_loss(student, reference, spec, memo):
    """returns the mean cross-entropy before the update"""
    got = student_step(student, spec, memo)
    want = reference.probe(probes.train_step, model=spec, x=X, y=Y)
    if got["loss"] is None:
        checks.fail(f"train_step should return the loss as a number, but it returned a {got['loss_type']}.")
    if not step_loss_ok(got, want):
        variants = reference.probe(kit_probes.loss_variants, model=spec, x=X, y=Y)
        moved = any(not np.allclose(a, b) for a, b in zip(got["weights"], spec["weights"]))
        off = checks.band(checks.relative(got["loss"], number(want["loss"])), 1e-5)
        checks.fail(f"train_step returned a loss {off} against the mean cross-entropy before the update. {step_hint(got['loss'], variants, moved)}")
    got2, want2 = second_step(student, reference, memo)
    if not step_loss_ok(got2, want2):
        checks.fail("train_step: the loss is right for one model but not for another; compute it from the model's logits for the batch you are given.")


@pytest.mark.unit("train_step")
@pytest.mark.points(8)
def test_train_step_update(student, reference, spec, memo):
    """one Adam update moves the weights as the reference's does"""
    got = student_step(student, spec, memo)
    want = reference.probe(probes.train_step, model=spec, x=X, y=Y)
    moved = any(not np.allclose(a, b) for a, b in zip(got["weights"], spec["weights"]))
    if not moved:
        checks.fail("train_step: the weights did not change. Compute the gradients with the tape and apply them with optimizer.apply_gradients.")
    if not step_update_ok(got, want):
        variants = reference.probe(kit_probes.loss_variants, model=spec, x=X, y=Y)
        hint = step_hint(got["loss"], variants, moved) or "Check that the gradient is of the mean loss over batch and time, taken inside the tape, for model.trainable_variables."
        checks.fail(f"train_step: the updated weights differ from one Adam step on the mean cross-entropy. {hint}")


@pytest.mark.unit("train_step")
@pytest.mark.points(4)
def test_train_step_returns_a_float(student, reference, spec, memo):
    """the loss comes back as a Python float"""
    got = student_step(student, spec, memo)
    if got["loss_type"] not in ("builtins.float", "numpy.float64"):
        checks.fail(f"train_step returns a {got['loss_type']}; return float(loss) so the list of losses holds plain numbers.")
    want = reference.probe(probes.train_step, model=spec, x=X, y=Y)
    if not (step_loss_ok(got, want) or step_update_ok(got, want)):
        checks.fail("train_step: the loss is a float, but neither the loss nor the update is right yet (see the tests above); the type earns its points only with a value.")


# ---- train (17 points) -----------------------------------------------------------------

CURVE_STEPS = 15
OTHER_RATE = 0.03  # a learning rate away from train's default (0.1)
# The step budget for learning "ihello": the reference predicts it after 2 to 5 Adam
# steps at lr 0.1 for seeds 0-4 (hidden size 8, SimpleRNN); 60 leaves a wide margin.
LEARN_STEPS = 60


@pytest.mark.unit("train")
@pytest.mark.points(7)
def test_train_loss_curve(student, reference, spec):
    """Adam at the given rate: the loss curve matches the reference's"""
    # two starts, so that no fixed curve passes: the first at the default rate (learning_rate not
    # passed), the second at another rate, so that a train that ignores learning_rate shows
    for model, rate in ((spec, None), (reference.probe(kit_probes.model_spec, seed=4), OTHER_RATE)):
        kw = dict(model=model, x=X, y=Y, steps=CURVE_STEPS, learning_rate=rate)
        got = student.probe(probes.train, unit="train", **kw)
        want = [number(v) for v in reference.probe(probes.train, **kw)["losses"]]
        losses = [number(v) for v in got.get("losses", [])]
        if len(losses) != CURVE_STEPS or any(v is None for v in losses):
            checks.fail(f"train(..., steps={CURVE_STEPS}) returned {len(losses)} losses; expected {CURVE_STEPS} numbers, one per step.")
        if not np.allclose(losses, want, rtol=1e-3, atol=1e-5):
            first = checks.first_departure(losses, want, rtol=1e-3, atol=1e-5, symmetric=True)
            error = 0.0 if first is None else checks.relative(losses[first], want[first])
            hint = ""
            at_default = None if rate is None else [number(v) for v in reference.probe(probes.train, **dict(kw, learning_rate=None))["losses"]]
            if np.allclose(losses, losses[0]):
                hint = " The loss never changes: are the updates applied?"
            elif at_default is not None and np.allclose(losses, at_default, rtol=1e-3, atol=1e-5):
                hint = f" Called with learning_rate={rate}, it trains at the default rate 0.1: give Adam the learning_rate argument."
            elif np.allclose(losses, reference.probe(kit_probes.train_fresh_optimizer_each_step, model=model, x=X, y=Y, steps=CURVE_STEPS, learning_rate=rate or 0.1), rtol=1e-3, atol=1e-5):
                hint = " A new Adam is made for every step, which resets its moment estimates: make one optimizer in train and reuse it."
            elif first is not None and first > 0:
                hint = " The first steps agree: check the learning rate and that one Adam optimizer is reused."
            called = "" if rate is None else f" with learning_rate={rate}"
            checks.fail(f"train{called}: the loss curve departs from the reference's at step {first} ({checks.band(error)}).{hint}")


@pytest.mark.unit("train")
@pytest.mark.points(5)
@pytest.mark.parametrize("seed", [1, 2])
def test_train_learns_ihello(student, reference, seed):
    """within the step budget from a seeded start, the model predicts "ihello" """
    start = reference.probe(kit_probes.model_spec, seed=seed)
    got = student.probe(probes.train, unit="train", model=start, x=X, y=Y, steps=LEARN_STEPS)
    text = text_of(reference.probe(kit_probes.logits, model=start, x=X, weights=trained_weights(got, start, "train")))
    if text != "ihello":
        last = number(got["losses"][-1]) if got.get("losses") else None
        checks.fail(f'train: after {LEARN_STEPS} steps (seed {seed}) the model predicts {text!r}, not "ihello"; last loss {last}.')


# ---- predict_text (10 points) ----------------------------------------------------------


@pytest.mark.unit("predict_text")
@pytest.mark.points(5)
def test_predict_text_single(student, reference):
    """greedy decode of every position: a string for a batch of one"""
    for seed in (5, 8):  # two models, so that no fixed text passes
        model = reference.probe(kit_probes.model_spec, seed=seed, logit_scale=4.0)
        want = text_of(reference.probe(kit_probes.logits, model=model, x=X))
        got = student.probe(probes.predict_text, unit="predict_text", model=model, x=X)
        if not isinstance(got, str):
            checks.fail(f"predict_text should return a string for a batch of one, got {checks.describe(got)}.")
        if got != want:
            checks.fail(f"predict_text gave {got!r}: positions {mismatch(got, want)} are not the argmax of the logits there.")


@pytest.mark.unit("predict_text")
@pytest.mark.points(5)
def test_predict_text_batch(student, reference):
    """a list of strings for a batch of several"""
    x = np.concatenate([one_hot(ids) for ids in ([0, 1, 2], [3, 3, 4], [4, 2, 0])])
    for seed in (6, 9):  # two models, so that no fixed list passes
        model = reference.probe(kit_probes.model_spec, seed=seed, logit_scale=4.0)
        want = [text_of(row) for row in reference.probe(kit_probes.logits, model=model, x=x)]
        got = student.probe(probes.predict_text, unit="predict_text", model=model, x=x)
        if not isinstance(got, list) or len(got) != 3 or not all(isinstance(t, str) for t in got):
            checks.fail(f"predict_text on a batch of 3 should return a list of 3 strings (a list, as its docstring says), got {checks.describe(got)}.")
        if list(got) != want:
            rows = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
            checks.fail(f"predict_text on a batch of 3 gave {list(got)!r}: rows {rows} are not the argmax of their logits.")


# ---- sample_text (15 points) -----------------------------------------------------------

SAMPLES = 250
# Chi-square critical value for 4 degrees of freedom at a false-failure probability of
# 1e-6: exp(-x/2) * (1 + x/2) = 1e-6 at x = 33.38.
CHI2_CRITICAL = 33.38


@pytest.fixture(scope="module")
def sampling_model(reference):
    return reference.probe(kit_probes.model_spec, seed=7, logit_scale=3.0)


def greedy_problem(student, reference, sampling_model, memo):
    """'' when sampling at temperature 0.01 equals greedy generation, else what is wrong."""
    if "greedy" not in memo:
        memo["greedy"] = "sample_text failed at temperature 0.01 (see the greedy test)."
        problem = ""
        for start in ("h", "el"):
            want = "".join(VOCAB[i] for i in reference.probe(kit_probes.greedy_ids, model=sampling_model, start_ids=[VOCAB.index(c) for c in start], length=6))
            got = student.probe(probes.sample_texts, unit="sample_text", model=sampling_model, start=start, length=6, temperature=0.01, seeds=[0])[0]
            if got != want:
                where = mismatch(got, want) if isinstance(got, str) else "all"
                problem = (
                    f"sample_text(start={start!r}, length=6, temperature=0.01) gave {got!r}, which departs from greedy generation at positions {where}. "
                    "Feed each sampled character back and sample from softmax(logits / temperature) at the last position."
                )
                break
        memo["greedy"] = problem
    return memo["greedy"]


def distribution(student, reference, sampling_model, temperature, memo):
    """(chi-square of the first sampled character against softmax(logits / temperature), observed counts, logits)."""
    key = ("distribution", temperature)
    if key not in memo:
        memo[key] = None
        logits = reference.probe(kit_probes.logits, model=sampling_model, x=one_hot([0]))[0, -1].astype(np.float64)
        texts = student.probe(probes.sample_texts, unit="sample_text", model=sampling_model, start="h", length=1, temperature=temperature, seeds=list(range(SAMPLES)), timeout=120)
        if not isinstance(texts, list) or len(texts) != SAMPLES:
            checks.fail(f"sample_text: {SAMPLES} calls gave {checks.describe(texts)}.")
        counts = np.array([sum(t == c for t in texts) for c in VOCAB], dtype=np.float64)
        expected = checks.softmax(logits / temperature) * SAMPLES  # of all SAMPLES draws, also those that were no character of VOCAB
        memo[key] = (float(np.sum((counts - expected) ** 2 / expected)), counts, logits)
    if memo[key] is None:
        checks.fail(f"sample_text failed at temperature {temperature} (see the distribution test).")
    return memo[key]


def require_sampling_values(student, reference, sampling_model, memo, what):
    """Points for `what` come only with a value check of sample_text: greedy at 0.01, or the distribution at 1."""
    try:
        if not greedy_problem(student, reference, sampling_model, memo):
            return
    except checks.GradingFailure:
        pass
    try:
        if distribution(student, reference, sampling_model, 1.0, memo)[0] <= CHI2_CRITICAL:
            return
    except checks.GradingFailure:
        pass
    checks.fail(f"sample_text: {what} earn points only together with its values, and neither greedy generation at temperature 0.01 nor the distribution at temperature 1 is right yet (see those tests).")


@pytest.mark.unit("sample_text")
@pytest.mark.points(3)
def test_sample_text_reproducible(student, reference, sampling_model, memo):
    """`length` characters; the same seed gives the same text; the contract's defaults"""
    texts = student.probe(probes.sample_texts, unit="sample_text", model=sampling_model, start="h", length=6, temperature=1.0, seeds=[3, 3, 4])
    if not isinstance(texts, list) or len(texts) != 3 or not all(isinstance(t, str) and len(t) == 6 and set(t) <= set(VOCAB) for t in texts):
        shown = texts[0] if isinstance(texts, list) and texts else texts
        checks.fail(f"sample_text(start='h', length=6) should return 6 characters of VOCAB, got {shown!r}.")
    if texts[0] != texts[1]:
        checks.fail(f"sample_text: the same seed gave {texts[0]!r} and then {texts[1]!r}; draw from np.random.default_rng(seed).")
    none = student.probe(probes.sample_texts, unit="sample_text", model=sampling_model, start="he", length=0, temperature=1.0, seeds=[0])
    if none != [""]:
        shown = none[0] if isinstance(none, list) and none else none
        checks.fail(f"sample_text(start='he', length=0) should return '' (the `length` generated characters, without `start`), got {shown!r}.")
    both = student.probe(probes.sample_defaults, unit="sample_text", model=sampling_model)
    plain, written = both if isinstance(both, list) and len(both) == 2 else (both, None)
    if plain != written:
        checks.fail(f"sample_text(model) gave {plain!r} but sample_text(model, start='h', length=5, temperature=1.0, seed=0) gave {written!r}: "
                    "the contract's signature is sample_text(model, start=\"h\", length=5, temperature=1.0, seed=0).")
    require_sampling_values(student, reference, sampling_model, memo, "the length and reproducibility")


@pytest.mark.unit("sample_text")
@pytest.mark.points(4)
def test_sample_text_low_temperature_is_greedy(student, reference, sampling_model, memo):
    """at temperature 0.01 sampling equals greedy generation, each character fed back"""
    problem = greedy_problem(student, reference, sampling_model, memo)
    if problem:
        checks.fail(problem)


@pytest.mark.unit("sample_text")
@pytest.mark.points(3)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sample_text_distribution(student, reference, sampling_model, memo, temperature):
    """the first sampled character follows softmax(logits / temperature) (chi-square, false failure below 1e-6)"""
    chi2, counts, logits = distribution(student, reference, sampling_model, temperature, memo)
    if chi2 > CHI2_CRITICAL:
        plain = checks.softmax(logits) * SAMPLES
        hint = ""
        if temperature != 1.0 and np.sum((counts - plain) ** 2 / plain) < CHI2_CRITICAL:
            hint = " The samples ignore the temperature: divide the logits by it before the softmax (dividing probabilities and renormalising changes nothing)."
        checks.fail(
            f"sample_text at temperature {temperature}: {SAMPLES} samples of the first character, distributed "
            f"{dict(zip(VOCAB, counts.astype(int).tolist()))}, do not follow softmax(logits / {temperature}) "
            f"(a chi-square test rejects them at false-failure probability 1e-6).{hint}"
        )


@pytest.mark.unit("sample_text")
@pytest.mark.points(1)
@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_sample_text_rejects_bad_temperature(student, reference, sampling_model, memo, temperature):
    """ValueError unless temperature > 0"""
    raised = student.probe(probes.sample_error, unit="sample_text", model=sampling_model, temperature=temperature)
    if raised != "ValueError":
        checks.fail(f"sample_text(temperature={temperature}) should raise ValueError, but it {'raised ' + str(raised) if raised else 'returned text'}.")
    require_sampling_values(student, reference, sampling_model, memo, "the error path")
