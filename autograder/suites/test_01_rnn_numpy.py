"""Hidden suite for 01_rnn_numpy: a vanilla RNN in NumPy, forward and backward.

100 points. Values are compared with the reference solution on random float64
inputs (relative error below 1e-8 forward, 1e-6 backward); when a value is wrong,
the test feeds the unit inputs that isolate one term at a time and says which term
(or which well-known slip) explains the difference.

The assignment is NumPy only: a notebook importing a deep-learning framework scores nothing
(numpy_only), and the child has none to import.

Every comparison is made here, in the grader, on what the student's units returned;
numerical gradients come from the reference child (rnnkit_grader.reference.numeric,
which the student's child cannot import). A test of an error path or of a shape also
checks the unit's values, so a unit that always raises or returns zeros of the right
shape earns nothing; feedback says what is wrong and by how much, never the numbers
a hidden input should give.
"""

import numpy as np
import pytest

from rnnkit_grader import checks, shortcuts
from rnnkit_grader.reference import numeric as kit_probes

N, T, D, H, V = 3, 5, 4, 6, 7
FORWARD_TOL = 1e-8
BACKWARD_TOL = 1e-6


def random_case(seed):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((N, T, D)),
        "h0": rng.standard_normal((N, H)),
        "Wx": rng.standard_normal((D, H)) * 0.5,
        "Wh": rng.standard_normal((H, H)) * 0.5,
        "b": rng.standard_normal(H) * 0.5,
        "dh": rng.standard_normal((N, T, H)),
    }


@pytest.fixture(scope="module")
def case():
    return random_case(2024)


@pytest.fixture(scope="module")
def framework_verdict(student):
    """The rule's message when the notebook's code imports a deep-learning framework (read here, never run)."""
    return shortcuts.numpy_only_violation(student.notebook)


@pytest.fixture(autouse=True)
def numpy_only(framework_verdict):
    """01 is NumPy only: a notebook that imports TensorFlow, Keras, PyTorch, JAX, autograd, ... scores
    nothing (as a blank one), each test failing with the rule. (The child could not import one
    anyway: its view holds NumPy and the standard library only.)"""
    if framework_verdict:
        checks.fail(framework_verdict)


def step_args(case, **override):
    args = {"x": case["x"][:, 0], "h_prev": case["h0"], "Wx": case["Wx"], "Wh": case["Wh"], "b": case["b"]}
    args.update(override)
    return args


# ---- one_hot (10 points) ---------------------------------------------------------------


@pytest.mark.unit("one_hot")
@pytest.mark.points(2)
@pytest.mark.parametrize("shape", [(5,), (2, 3), ()], ids=["1-D", "2-D", "0-D"])
def test_one_hot_values(student, shape):
    """one row per index, a 1 at the index and 0 elsewhere, float32"""
    # two cases, so that no fixed answer passes; a third whose indices stay below depth - 2, so
    # that a depth taken from the indices (indices.max() + 1) instead of the argument shows
    for depth, seed, top in ((4, 7, 4), (6, 8, 6), (9, 9, 5)):
        indices = np.random.default_rng(seed).integers(0, top, size=shape)
        if indices.size:
            indices.flat[0] = top - 1
        got = student.call("one_hot", indices, depth)
        if isinstance(got, np.ndarray) and got.shape == shape + (int(indices.max()) + 1,) and top < depth:
            checks.fail(
                f"one_hot: given depth {depth}, the result has {got.shape[-1]} columns, one more than the largest index: "
                "the depth must come from the `depth` argument, not from the indices (indices.max() + 1)."
            )
        got = checks.array(got, "one_hot", "the result", shape=shape + (depth,))
        if got.dtype != np.float32:
            checks.fail(f"one_hot: the result has dtype {got.dtype}; the contract says float32.")
        expected = np.eye(depth, dtype=np.float32)[indices]
        if not np.array_equal(got, expected):
            rows = int(np.sum(np.any(got.reshape(-1, depth) != expected.reshape(-1, depth), axis=1)))
            checks.fail(f"one_hot: wrong values for {shape}-shaped indices and depth {depth} ({rows} of {max(indices.size, 1)} rows wrong); row i must be 1 at column indices[i], 0 elsewhere.")
    if shape == (5,):  # no index at all: shape S = (0,) gives (0, depth), with nothing to range-check
        empty = student.outcome("one_hot", np.zeros((0,), dtype=np.int64), 4)
        if empty.error is not None or not isinstance(empty.value, np.ndarray) or empty.value.shape != (0, 4):
            what = f"raised {empty.raised}" if empty.error is not None else f"returned {checks.describe(empty.value)}"
            checks.fail(
                f"one_hot: an empty array of indices (shape (0,)) with depth 4 {what}; the contract's shape S + (depth,) is (0, 4). "
                "Check the range only when there are indices (indices.min() of an empty array raises)."
            )


def require_one_hot_values(student):
    """The error-path points come with the values: valid indices must give the right rows."""
    indices = np.array([2, 0, 3, 1, 3])
    outcome = student.outcome("one_hot", indices, 4)
    ok = (
        outcome.error is None
        and isinstance(outcome.value, np.ndarray)
        and outcome.value.shape == (5, 4)
        and np.array_equal(outcome.value, np.eye(4)[indices])
    )
    if not ok:
        what = f"raised {outcome.raised}" if outcome.error is not None else "gave wrong rows"
        checks.fail(
            f"one_hot: for valid indices (all in [0, 4)) it {what}; the range check earns its points "
            "only once valid indices give one-hot rows (see the values test)."
        )


@pytest.mark.unit("one_hot")
@pytest.mark.points(2)
@pytest.mark.parametrize("bad", [4, -1], ids=["index-equals-depth", "negative-index"])
def test_one_hot_rejects_out_of_range(student, bad):
    """an index outside [0, depth) raises ValueError (and indices inside it give the right rows)"""
    require_one_hot_values(student)
    outcome = student.outcome("one_hot", np.array([0, bad, 1]), 4)
    if outcome.raised != "ValueError":
        what = f"raised {outcome.raised}" if outcome.raised else "returned without an error"
        checks.fail(f"one_hot: index {bad} with depth 4 is outside [0, 4) and must raise ValueError, but it {what}.")
    single = student.outcome("one_hot", np.array(bad), 4)  # a 0-d array: a single index, checked like any other
    if single.raised != "ValueError":
        what = f"raised {single.raised}" if single.raised else "returned without an error"
        checks.fail(f"one_hot: a single index {bad} (a 0-d array) with depth 4 is outside [0, 4) and must raise ValueError, but it {what}.")


# ---- rnn_step_forward (15 points) ------------------------------------------------------


def diagnose_step_forward(student, reference, case):
    """Name the term of tanh(x Wx + h_prev Wh + b) that is wrong."""
    zero_x = np.zeros_like(case["Wx"])
    zero_h = np.zeros_like(case["Wh"])
    zero_b = np.zeros_like(case["b"])
    full = step_args(case)
    got = student.call("rnn_step_forward", **full)
    ref = reference.call("rnn_step_forward", **full)
    pre_activation = np.arctanh(np.clip(ref, -1 + 1e-15, 1 - 1e-15))
    if checks.matches(got, pre_activation, 1e-6):
        return "It returns the pre-activation: apply np.tanh to x @ Wx + h_prev @ Wh + b."
    terms = [
        ("input term x @ Wx", dict(Wh=zero_h, b=zero_b), "check x @ Wx: x is (N, D) and Wx is (D, H)."),
        ("recurrent term h_prev @ Wh", dict(Wx=zero_x, b=zero_b), "check h_prev @ Wh (not Wh @ h_prev, not Wh.T)."),
        ("bias b", dict(Wx=zero_x, Wh=zero_h), "check that b (shape (H,)) is added to every row."),
    ]
    for name, override, hint in terms:
        args = step_args(case, **override)
        if not checks.matches(student.call("rnn_step_forward", **args), reference.call("rnn_step_forward", **args), FORWARD_TOL):
            return f"With the other terms zeroed, the {name} alone is wrong: {hint}"
    return "Each term alone is right, but not their combination: add the three terms, then apply tanh once."


@pytest.mark.unit("rnn_step_forward")
@pytest.mark.points(3)
def test_rnn_step_forward_shape(student, reference, case):
    """returns h_next of shape (N, H), float64 for float64 inputs, with the right values"""
    got = student.call("rnn_step_forward", **step_args(case))
    checks.array(got, "rnn_step_forward", "h_next", shape=(N, H), float64=True)
    if not checks.matches(got, reference.call("rnn_step_forward", **step_args(case)), FORWARD_TOL):
        checks.fail("rnn_step_forward: the shape and dtype are right, but the values are not (see the values test); the shape points come with the values.")


@pytest.mark.unit("rnn_step_forward")
@pytest.mark.points(12)
def test_rnn_step_forward_values(student, reference, case):
    """h_next = tanh(x Wx + h_prev Wh + b)"""
    got = checks.array(student.call("rnn_step_forward", **step_args(case)), "rnn_step_forward", "h_next", shape=(N, H))
    ref = reference.call("rnn_step_forward", **step_args(case))
    if not checks.matches(got, ref, FORWARD_TOL):
        checks.close(got, ref, FORWARD_TOL, "rnn_step_forward", "h_next", diagnose_step_forward(student, reference, case))


# ---- rnn_forward (15 points) -----------------------------------------------------------


def forward_args(case):
    return {k: case[k] for k in ("x", "h0", "Wx", "Wh", "b")}


def diagnose_forward(student, reference, case, got, ref):
    h0 = case["h0"]
    if checks.matches(got[:, 0], h0) and checks.matches(got[:, 1:], ref[:, :-1]):
        return "It is shifted by one step: h[:, 0] holds h0. h[:, t] must be the state after step t, so h0 is not in the output."
    from_h0 = np.stack(
        [reference.call("rnn_step_forward", case["x"][:, t], h0, case["Wx"], case["Wh"], case["b"]) for t in range(T)], axis=1
    )
    if checks.matches(got, from_h0):
        return "Every step starts from h0: feed the state from step t-1 into step t."
    wrong = [t for t in range(T) if not checks.matches(got[:, t], ref[:, t], FORWARD_TOL)]
    return f"The first time step that differs is t={wrong[0]} (of {T})." if wrong else ""


@pytest.mark.unit("rnn_forward")
@pytest.mark.points(3)
def test_rnn_forward_shape(student, reference, case):
    """returns h of shape (N, T, H), float64 for float64 inputs, with the right values"""
    got = student.call("rnn_forward", **forward_args(case))
    if isinstance(got, np.ndarray) and got.shape == (N, T + 1, H):
        checks.fail(f"rnn_forward: h has shape {got.shape}, expected {(N, T, H)}: leave h0 out of the output.")
    if isinstance(got, np.ndarray) and got.shape == (T, N, H):
        checks.fail(f"rnn_forward: h has shape {got.shape}, expected {(N, T, H)}: time is axis 1, after the batch.")
    checks.array(got, "rnn_forward", "h", shape=(N, T, H), float64=True)
    if not checks.matches(got, reference.call("rnn_forward", **forward_args(case)), FORWARD_TOL):
        checks.fail("rnn_forward: the shape and dtype are right, but the values are not (see the values test); the shape points come with the values.")


@pytest.mark.unit("rnn_forward")
@pytest.mark.points(12)
def test_rnn_forward_values(student, reference, case):
    """h[:, t] is the state after step t, carried from step to step"""
    got = checks.array(student.call("rnn_forward", **forward_args(case)), "rnn_forward", "h", shape=(N, T, H))
    ref = reference.call("rnn_forward", **forward_args(case))
    if not checks.matches(got, ref, FORWARD_TOL):
        checks.close(got, ref, FORWARD_TOL, "rnn_forward", "h", diagnose_forward(student, reference, case, got, ref))


# ---- rnn_step_backward (20 points) -----------------------------------------------------

STEP_GRADS = ("dx", "dh_prev", "dWx", "dWh", "db")
STEP_HINTS = {
    "dx": "dx = dtanh @ Wx.T, where dtanh = dh_next * (1 - h_next**2).",
    "dh_prev": "dh_prev = dtanh @ Wh.T, where dtanh = dh_next * (1 - h_next**2).",
    "dWx": "dWx = x.T @ dtanh.",
    "dWh": "dWh = h_prev.T @ dtanh (the previous state, not the new one).",
    "db": "db = dtanh summed over the batch (axis 0).",
}
SHAPES = {"dx": (N, D), "dh_prev": (N, H), "dh0": (N, H), "dWx": (D, H), "dWh": (H, H), "db": (H,)}


def step_backward_args(case):
    rng = np.random.default_rng(99)
    return {"dh_next": rng.standard_normal((N, H)), **step_args(case)}


def tanh_hint(student, reference, case):
    """Recognise the derivative taken at h_prev instead of h_next, or tanh' left out."""
    args = step_backward_args(case)
    got = checks.sequence(student.call("rnn_step_backward", **args), "rnn_step_backward", STEP_GRADS)
    h_next = reference.call("rnn_step_forward", **step_args(case))
    for wrong_local, note in (
        (1 - args["h_prev"] ** 2, "The tanh derivative must be 1 - h_next**2 (the new state), not 1 - h_prev**2."),
        (np.ones_like(h_next), "The tanh derivative is missing: multiply dh_next by 1 - h_next**2 first."),
        (1 - np.tanh(h_next) ** 2, "tanh is applied twice: the derivative is 1 - h_next**2, where h_next is already tanh(...)."),
    ):
        dtanh = args["dh_next"] * wrong_local
        if checks.matches(got[0], dtanh @ args["Wx"].T) or checks.matches(got[4], dtanh.sum(axis=0)):
            return note
    return ""


@pytest.mark.unit("rnn_step_backward")
@pytest.mark.points(3)
@pytest.mark.parametrize("which", STEP_GRADS)
def test_rnn_step_backward_values(student, reference, case, which):
    """each gradient of one step matches the reference"""
    args = step_backward_args(case)
    got = checks.sequence(student.call("rnn_step_backward", **args), "rnn_step_backward", STEP_GRADS)
    ref = reference.call("rnn_step_backward", **args)
    value = checks.array(got[STEP_GRADS.index(which)], "rnn_step_backward", which, shape=SHAPES[which], float64=True)
    expected = ref[STEP_GRADS.index(which)]
    if not checks.matches(value, expected, BACKWARD_TOL):
        hint = tanh_hint(student, reference, case) or STEP_HINTS[which]
        checks.close(value, expected, BACKWARD_TOL, "rnn_step_backward", which, hint)


@pytest.mark.unit("rnn_step_backward")
@pytest.mark.points(5)
def test_rnn_step_backward_gradient_check(student, reference, case):
    """all five gradients agree with central differences of the forward step"""
    args = step_backward_args(case)
    got = checks.sequence(student.call("rnn_step_backward", **args), "rnn_step_backward", STEP_GRADS)
    numeric = reference.probe(
        kit_probes.central_differences,
        forward="rnn_step_forward",
        kwargs=step_args(case),
        wrt=["x", "h_prev", "Wx", "Wh", "b"],
        upstream=args["dh_next"],
    )
    bad = [
        name
        for name, value, num in zip(STEP_GRADS, got, numeric)
        if not (isinstance(value, np.ndarray) and value.shape == num.shape and checks.rel_error(value, num) < 1e-5)
    ]
    if bad:
        checks.fail(f"rnn_step_backward: {', '.join(bad)} disagree with a numerical gradient check (central differences, relative error above 1e-5).")


# ---- rnn_backward (25 points) ----------------------------------------------------------

SEQ_GRADS = ("dx", "dh0", "dWx", "dWh", "db")
SEQ_HINTS = {
    "dx": "dx[:, t] comes from step t's backward pass with the gradient flowing into h[:, t].",
    "dh0": "dh0 is the dh_prev that comes out of step 0, after walking back through every step.",
    "dWx": "Wx is shared by all steps: add (+=) its gradient from every step.",
    "dWh": "Wh is shared by all steps: add (+=) its gradient from every step.",
    "db": "b is shared by all steps: add (+=) its gradient from every step.",
}


def backward_args(case):
    return {k: case[k] for k in ("dh", "x", "h0", "Wx", "Wh", "b")}


def dependency_note(student, reference, case):
    """rnn_backward builds on rnn_forward and rnn_step_backward: say when those are wrong."""
    notes = []
    fwd = student.outcome("rnn_forward", **forward_args(case))
    if fwd.error or not checks.matches(fwd.value, reference.call("rnn_forward", **forward_args(case)), FORWARD_TOL):
        notes.append("rnn_forward")
    args = step_backward_args(case)
    step = student.outcome("rnn_step_backward", **args)
    ref_step = reference.call("rnn_step_backward", **args)
    if step.error or not (isinstance(step.value, (tuple, list)) and len(step.value) == 5 and all(checks.matches(a, b, BACKWARD_TOL) for a, b in zip(step.value, ref_step))):
        notes.append("rnn_step_backward")
    if notes:
        return f"rnn_backward uses your {' and '.join(notes)}, which {'is' if len(notes) == 1 else 'are'} wrong too: fix {'it' if len(notes) == 1 else 'them'} first."
    return ""


def diagnose_backward(student, reference, case, got):
    dependency = dependency_note(student, reference, case)
    if dependency:
        return dependency
    last_only = dict(backward_args(case))
    last_only["dh"] = np.zeros_like(case["dh"])
    last_only["dh"][:, -1] = case["dh"][:, -1]
    ref_last = reference.call("rnn_backward", **last_only)
    if all(checks.matches(g, r) for g, r in zip(got, ref_last)):
        return "Only dh[:, T-1] is used: at every step t add the upstream dh[:, t] to the gradient coming back from step t+1."
    no_carry = reference.call("rnn_step_backward", case["dh"][:, 0], case["x"][:, 0], case["h0"], case["Wx"], case["Wh"], case["b"])
    if checks.matches(got[1], no_carry[1]):
        return "dh0 ignores the later steps: the gradient from step t+1 (dh_prev) must be carried back into step t."
    return ""


@pytest.mark.unit("rnn_backward")
@pytest.mark.points(4)
@pytest.mark.parametrize("which", SEQ_GRADS)
def test_rnn_backward_values(student, reference, case, which):
    """each gradient of backprop through time matches the reference"""
    got = checks.sequence(student.call("rnn_backward", **backward_args(case)), "rnn_backward", SEQ_GRADS)
    ref = reference.call("rnn_backward", **backward_args(case))
    shape = (N, T, D) if which == "dx" else SHAPES[which]
    value = checks.array(got[SEQ_GRADS.index(which)], "rnn_backward", which, shape=shape, float64=True)
    expected = ref[SEQ_GRADS.index(which)]
    if not checks.matches(value, expected, BACKWARD_TOL):
        hint = diagnose_backward(student, reference, case, got) or SEQ_HINTS[which]
        checks.close(value, expected, BACKWARD_TOL, "rnn_backward", which, hint)


@pytest.mark.unit("rnn_backward")
@pytest.mark.points(5)
def test_rnn_backward_gradient_check(student, reference, case):
    """dx, dh0, dWx, dWh, db agree with central differences of the whole forward pass"""
    small = random_case(31)
    for k, shape in (("x", (2, 3, D)), ("h0", (2, H)), ("dh", (2, 3, H))):
        small[k] = small[k][tuple(slice(0, s) for s in shape)]
    args = backward_args(small)
    got = checks.sequence(student.call("rnn_backward", **args), "rnn_backward", SEQ_GRADS)
    numeric = reference.probe(
        kit_probes.central_differences,
        forward="rnn_forward",
        kwargs=forward_args(small),
        wrt=["x", "h0", "Wx", "Wh", "b"],
        upstream=small["dh"],
    )
    bad = [
        name
        for name, value, num in zip(SEQ_GRADS, got, numeric)
        if not (isinstance(value, np.ndarray) and value.shape == num.shape and checks.rel_error(value, num) < 1e-5)
    ]
    if bad:
        checks.fail(f"rnn_backward: {', '.join(bad)} disagree with a numerical gradient check of rnn_forward (central differences).")


# ---- softmax_cross_entropy (15 points) -------------------------------------------------


def loss_args(scale=1.0, seed=5):
    rng = np.random.default_rng(seed)
    return {"logits": rng.standard_normal((N, T, V)) * scale, "targets": rng.integers(0, V, size=(N, T))}


def loss_hint(got, ref, what):
    for factor, note in ((N * T, "sums over N*T positions instead of taking the mean"), (T, "divides by N only; divide by N*T"), (N, "divides by T only; divide by N*T")):
        if checks.matches(got, ref * factor):
            return f"It {note}."
    if what == "dlogits" and checks.matches(-got, ref):
        return "The sign is flipped: dlogits = softmax(logits) - one_hot(targets), divided by N*T."
    return ""


@pytest.mark.unit("softmax_cross_entropy")
@pytest.mark.points(5)
def test_softmax_cross_entropy_loss(student, reference):
    """loss is the mean over N*T of -log softmax(logits)[target]"""
    got = checks.sequence(student.call("softmax_cross_entropy", **loss_args()), "softmax_cross_entropy", ("loss", "dlogits"))
    loss = checks.scalar(got[0], "softmax_cross_entropy", "loss")
    ref = reference.call("softmax_cross_entropy", **loss_args())
    if not checks.matches(np.array(loss), np.array(ref[0]), FORWARD_TOL):
        checks.close(np.array(loss), np.array(ref[0]), FORWARD_TOL, "softmax_cross_entropy", "loss", loss_hint(np.array(loss), np.array(ref[0]), "loss"))


@pytest.mark.unit("softmax_cross_entropy")
@pytest.mark.points(6)
def test_softmax_cross_entropy_gradient(student, reference):
    """dlogits is the gradient of the mean loss"""
    got = checks.sequence(student.call("softmax_cross_entropy", **loss_args()), "softmax_cross_entropy", ("loss", "dlogits"))
    dlogits = checks.array(got[1], "softmax_cross_entropy", "dlogits", shape=(N, T, V), float64=True)
    ref = reference.call("softmax_cross_entropy", **loss_args())[1]
    if not checks.matches(dlogits, ref, BACKWARD_TOL):
        checks.close(dlogits, ref, BACKWARD_TOL, "softmax_cross_entropy", "dlogits", loss_hint(dlogits, ref, "dlogits"))


@pytest.mark.unit("softmax_cross_entropy")
@pytest.mark.points(4)
def test_softmax_cross_entropy_stable(student, reference):
    """finite and right for logits of magnitude 1e3"""
    args = loss_args(scale=1e3, seed=6)
    got = checks.sequence(student.call("softmax_cross_entropy", **args), "softmax_cross_entropy", ("loss", "dlogits"))
    ref = reference.call("softmax_cross_entropy", **args)
    unstable = "With logits around 1e3, np.exp overflows: subtract each row's max before exponentiating."
    def overflowed(value):
        numeric = isinstance(value, (float, int, np.ndarray)) and np.asarray(value).dtype.kind in "iuf"
        return numeric and not np.all(np.isfinite(value))

    if overflowed(got[0]) or overflowed(got[1]):
        checks.fail(f"softmax_cross_entropy: the result holds NaN or inf. {unstable}")
    loss = checks.scalar(got[0], "softmax_cross_entropy", "loss")
    dlogits = checks.array(got[1], "softmax_cross_entropy", "dlogits", shape=(N, T, V))
    if not (checks.matches(np.array(loss), np.array(ref[0]), 1e-8) and checks.matches(dlogits, ref[1], BACKWARD_TOL)):
        checks.fail(f"softmax_cross_entropy: wrong for logits of magnitude 1e3. {unstable}")
