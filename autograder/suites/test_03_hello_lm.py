"""Hidden suite for 03_hello_lm: teach an RNN to say "ihello".

100 points. Training and decoding units run on models the kit builds with weights
drawn from fixed seeds, so student and reference start identical. Predictions are
decoded by the grader from returned logits; the sampler is checked against greedy
decoding at a low temperature and, statistically, against the model's softmax.
"""

import math

import numpy as np
import pytest

from rnnkit_grader import checks

VOCAB = ["h", "i", "e", "l", "o"]
X_IDS, Y_IDS = [0, 1, 0, 2, 3, 3], [1, 0, 2, 3, 3, 4]  # "hihell" -> "ihello"


def one_hot(ids):
    return np.eye(5, dtype=np.float32)[np.asarray(ids)][None]


X, Y = one_hot(X_IDS), np.array([Y_IDS], dtype=np.int32)


def text_of(logits):
    return "".join(VOCAB[i] for i in np.argmax(logits, axis=-1).reshape(-1))


@pytest.fixture(scope="module")
def weights(reference):
    return reference.probe("hello.initial_weights", seed=0)


# ---- encode, decode, make_hello_data (23 points) ---------------------------------------


@pytest.mark.unit("encode")
@pytest.mark.points(5)
def test_encode_values(student):
    """indices into VOCAB, as int32"""
    got = checks.array(student.call("encode", "hello"), "encode", 'encode("hello")', shape=(5,))
    if got.dtype != np.int32:
        checks.fail(f"encode: the result has dtype {got.dtype}; the contract says int32 (np.array(ids, dtype=np.int32)).")
    if got.tolist() != [0, 2, 3, 3, 4]:
        checks.fail(f'encode("hello") gave {got.tolist()}, expected [0, 2, 3, 3, 4] (positions in VOCAB = {VOCAB}).')


@pytest.mark.unit("encode")
@pytest.mark.points(3)
def test_encode_rejects_unknown_characters(student):
    """ValueError naming the first unknown character"""
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
            checks.fail(f"decode({list(ids)}) gave {got!r}, expected {want!r}.")


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

PARAMS = {"rnn": 5 * 8 + 8 * 8 + 8 + 45, "gru": 3 * (5 * 8 + 8 * 8 + 2 * 8) + 45, "lstm": 4 * (5 * 8 + 8 * 8 + 8) + 45}


@pytest.mark.unit("build_hello_model")
@pytest.mark.points(3)
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_build_hello_model(student, cell):
    """one recurrent layer with return_sequences, then Dense(5): logits (batch, time, 5)"""
    got = student.probe("hello.describe_model", "build_hello_model", builder="build_hello_model", args=[8, cell], batch=3, time=6)
    if got["shape"] != [3, 6, 5]:
        hint = " Keep every time step: return_sequences=True." if got["shape"] == [3, 5] else ""
        checks.fail(f"build_hello_model(8, {cell!r}) maps (3, 6, 5) inputs to shape {tuple(got['shape'])}, expected (3, 6, 5).{hint}")
    if got["params"] != PARAMS[cell]:
        checks.fail(f"build_hello_model(8, {cell!r}) has {got['params']} parameters; one {cell.upper()} layer of 8 units and Dense(5) have {PARAMS[cell]}. Layers: {got['layers']}.")


@pytest.mark.unit("build_hello_model")
@pytest.mark.points(3)
def test_build_hello_model_any_length(student):
    """works for any batch size and sequence length, with hidden_size respected"""
    got = student.probe("hello.describe_model", "build_hello_model", builder="build_hello_model", args=[16, "rnn"], batch=1, time=11)
    if got["shape"] != [1, 11, 5]:
        checks.fail(f"build_hello_model(16) maps (1, 11, 5) inputs to {tuple(got['shape'])}: use keras.Input(shape=(None, 5)) so any length works.")
    if got["params"] != 5 * 16 + 16 * 16 + 16 + 16 * 5 + 5:
        checks.fail(f"build_hello_model(hidden_size=16) has {got['params']} parameters: is hidden_size passed to the recurrent layer?")


@pytest.mark.unit("build_hello_model")
@pytest.mark.points(3)
def test_build_hello_model_rejects_unknown_cell(student):
    """ValueError for a cell other than rnn, gru, lstm"""
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


@pytest.mark.unit("train_step")
@pytest.mark.points(8)
def test_train_step_loss(student, reference, weights):
    """returns the mean cross-entropy before the update"""
    got = student.probe("hello.train_step", "train_step", weights=weights, x=X, y=Y)
    want = reference.probe("hello.train_step", weights=weights, x=X, y=Y)
    if got["loss"] is None:
        checks.fail(f"train_step should return the loss as a number, but it returned a {got['loss_type']}.")
    if not math.isclose(got["loss"], want["loss"], rel_tol=1e-5):
        variants = reference.probe("hello.loss_variants", weights=weights, x=X, y=Y)
        moved = any(not np.allclose(a, b) for a, b in zip(got["weights"], weights))
        checks.fail(f"train_step returned loss {got['loss']:.5f}, expected {want['loss']:.5f}. {step_hint(got['loss'], variants, moved)}")


@pytest.mark.unit("train_step")
@pytest.mark.points(8)
def test_train_step_update(student, reference, weights):
    """one Adam update moves the weights as the reference's does"""
    got = student.probe("hello.train_step", "train_step", weights=weights, x=X, y=Y)
    want = reference.probe("hello.train_step", weights=weights, x=X, y=Y)
    moved = any(not np.allclose(a, b) for a, b in zip(got["weights"], weights))
    if not moved:
        checks.fail("train_step: the weights did not change. Compute the gradients with the tape and apply them with optimizer.apply_gradients.")
    if not all(np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(got["weights"], want["weights"])):
        variants = reference.probe("hello.loss_variants", weights=weights, x=X, y=Y)
        hint = step_hint(got["loss"], variants, moved) or "Check that the gradient is of the mean loss over batch and time, taken inside the tape, for model.trainable_variables."
        checks.fail(f"train_step: the updated weights differ from one Adam step on the mean cross-entropy. {hint}")


@pytest.mark.unit("train_step")
@pytest.mark.points(4)
def test_train_step_returns_a_float(student, weights):
    """the loss comes back as a Python float"""
    got = student.probe("hello.train_step", "train_step", weights=weights, x=X, y=Y)
    if got["loss_type"] not in ("builtins.float", "numpy.float64"):
        checks.fail(f"train_step returns a {got['loss_type']}; return float(loss) so the list of losses holds plain numbers.")


# ---- train (17 points) -----------------------------------------------------------------

CURVE_STEPS = 15
# The step budget for learning "ihello": the reference predicts it after 2 to 5 Adam
# steps at lr 0.1 for seeds 0-4 (hidden size 8, SimpleRNN); 60 leaves a wide margin.
LEARN_STEPS = 60


@pytest.mark.unit("train")
@pytest.mark.points(7)
def test_train_loss_curve(student, reference, weights):
    """Adam at the given rate: the loss curve matches the reference's"""
    got = student.probe("hello.train", "train", weights=weights, x=X, y=Y, steps=CURVE_STEPS)
    want = reference.probe("hello.train", weights=weights, x=X, y=Y, steps=CURVE_STEPS)
    losses = got["losses"]
    if len(losses) != CURVE_STEPS or any(v is None for v in losses):
        checks.fail(f"train(..., steps={CURVE_STEPS}) returned {len(losses)} losses; expected {CURVE_STEPS} numbers, one per step.")
    if not np.allclose(losses, want["losses"], rtol=1e-3, atol=1e-5):
        first = next(i for i, (a, b) in enumerate(zip(losses, want["losses"])) if not math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-5))
        hint = ""
        if np.allclose(losses, losses[0]):
            hint = " The loss never changes: are the updates applied?"
        elif np.allclose(losses, reference.probe("hello.train_fresh_optimizer_each_step", weights=weights, x=X, y=Y, steps=CURVE_STEPS), rtol=1e-3, atol=1e-5):
            hint = " A new Adam is made for every step, which resets its moment estimates: make one optimizer in train and reuse it."
        elif first > 0:
            hint = " The first steps agree: check the learning rate and that one Adam optimizer is reused."
        checks.fail(f"train: the loss curve departs from the reference's at step {first} ({losses[first]:.4f} vs {want['losses'][first]:.4f}).{hint}")


@pytest.mark.unit("train")
@pytest.mark.points(5)
@pytest.mark.parametrize("seed", [1, 2])
def test_train_learns_ihello(student, reference, seed):
    """within the step budget from a seeded start, the model predicts "ihello" """
    start = reference.probe("hello.initial_weights", seed=seed)
    got = student.probe("hello.train", "train", weights=start, x=X, y=Y, steps=LEARN_STEPS)
    text = text_of(got["logits"])
    if text != "ihello":
        checks.fail(f'train: after {LEARN_STEPS} steps (seed {seed}) the model predicts {text!r}, not "ihello"; last loss {got["losses"][-1] if got["losses"] else None}.')


# ---- predict_text (10 points) ----------------------------------------------------------


@pytest.mark.unit("predict_text")
@pytest.mark.points(5)
def test_predict_text_single(student, reference):
    """greedy decode of every position: a string for a batch of one"""
    w = reference.probe("hello.initial_weights", seed=5, logit_scale=4.0)
    want = text_of(reference.probe("hello.logits", weights=w, x=X))
    got = student.probe("hello.predict_text", "predict_text", weights=w, x=X)
    if not isinstance(got, str):
        checks.fail(f"predict_text should return a string for a batch of one, got {checks.describe(got)}.")
    if got != want:
        checks.fail(f"predict_text gave {got!r}; the argmax of the logits at each position spells {want!r}.")


@pytest.mark.unit("predict_text")
@pytest.mark.points(5)
def test_predict_text_batch(student, reference):
    """a list of strings for a batch of several"""
    w = reference.probe("hello.initial_weights", seed=6, logit_scale=4.0)
    x = np.concatenate([one_hot(ids) for ids in ([0, 1, 2], [3, 3, 4], [4, 2, 0])])
    logits = reference.probe("hello.logits", weights=w, x=x)
    want = [text_of(row) for row in logits]
    got = student.probe("hello.predict_text", "predict_text", weights=w, x=x)
    if not isinstance(got, (list, tuple)) or list(got) != want:
        checks.fail(f"predict_text on a batch of 3 gave {got!r}; expected the list {want!r}.")


# ---- sample_text (15 points) -----------------------------------------------------------

SAMPLES = 250
# Chi-square critical value for 4 degrees of freedom at a false-failure probability of
# 1e-6: exp(-x/2) * (1 + x/2) = 1e-6 at x = 33.38.
CHI2_CRITICAL = 33.38


@pytest.fixture(scope="module")
def sampling_weights(reference):
    return reference.probe("hello.initial_weights", seed=7, logit_scale=3.0)


@pytest.mark.unit("sample_text")
@pytest.mark.points(3)
def test_sample_text_reproducible(student, sampling_weights):
    """`length` characters; the same seed gives the same text"""
    texts = student.probe("hello.sample_texts", "sample_text", weights=sampling_weights, start="h", length=6, temperature=1.0, seeds=[3, 3, 4])
    if not all(isinstance(t, str) and len(t) == 6 and set(t) <= set(VOCAB) for t in texts):
        checks.fail(f"sample_text(start='h', length=6) should return 6 characters of VOCAB, got {texts[0]!r}.")
    if texts[0] != texts[1]:
        checks.fail(f"sample_text: the same seed gave {texts[0]!r} and then {texts[1]!r}; draw from np.random.default_rng(seed).")


@pytest.mark.unit("sample_text")
@pytest.mark.points(4)
def test_sample_text_low_temperature_is_greedy(student, reference, sampling_weights):
    """at temperature 0.01 sampling equals greedy generation, each character fed back"""
    for start in ("h", "el"):
        want = reference.probe("hello.greedy_ids", weights=sampling_weights, start_ids=[VOCAB.index(c) for c in start], length=6)
        want = "".join(VOCAB[i] for i in want)
        got = student.probe("hello.sample_texts", "sample_text", weights=sampling_weights, start=start, length=6, temperature=0.01, seeds=[0])[0]
        if got != want:
            checks.fail(f"sample_text(start={start!r}, length=6, temperature=0.01) gave {got!r}; greedy generation gives {want!r}. Feed each sampled character back and sample from softmax(logits / temperature) at the last position.")


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.unit("sample_text")
@pytest.mark.points(3)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sample_text_distribution(student, reference, sampling_weights, temperature):
    """the first sampled character follows softmax(logits / temperature) (chi-square, false failure below 1e-6)"""
    logits = reference.probe("hello.logits", weights=sampling_weights, x=one_hot([0]))[0, -1].astype(np.float64)
    expected = softmax(logits / temperature) * SAMPLES
    texts = student.probe("hello.sample_texts", "sample_text", weights=sampling_weights, start="h", length=1, temperature=temperature, seeds=list(range(SAMPLES)), timeout=120)
    counts = np.array([sum(t == c for t in texts) for c in VOCAB], dtype=np.float64)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    if chi2 > CHI2_CRITICAL:
        plain = softmax(logits) * SAMPLES
        hint = ""
        if temperature != 1.0 and np.sum((counts - plain) ** 2 / plain) < CHI2_CRITICAL:
            hint = " The samples ignore the temperature: divide the logits by it before the softmax (dividing probabilities and renormalising changes nothing)."
        checks.fail(
            f"sample_text at temperature {temperature}: {SAMPLES} samples of the first character are distributed "
            f"{dict(zip(VOCAB, counts.astype(int).tolist()))}, but softmax(logits / {temperature}) expects "
            f"{dict(zip(VOCAB, np.round(expected).astype(int).tolist()))} (chi-square {chi2:.1f} > {CHI2_CRITICAL}).{hint}"
        )


@pytest.mark.unit("sample_text")
@pytest.mark.points(1)
@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_sample_text_rejects_bad_temperature(student, sampling_weights, temperature):
    """ValueError unless temperature > 0"""
    raised = student.probe("hello.sample_error", "sample_text", weights=sampling_weights, temperature=temperature)
    if raised != "ValueError":
        checks.fail(f"sample_text(temperature={temperature}) should raise ValueError, but it {'raised ' + raised if raised else 'returned text'}.")
