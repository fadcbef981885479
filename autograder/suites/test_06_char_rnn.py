"""Hidden suite for 06_char_rnn: a character-level language model with truncated BPTT.

100 points: build_vocab 6, make_tbptt_batches 16, clip_by_global_norm 12,
build_char_model 12, train_tbptt 28, perplexity 12, sample 14.

The batch layout is checked on ids 0, 1, 2, ... (every id is its own position, so a
wrong layout can be read off and named). Clipping is compared with
tf.clip_by_global_norm run in the reference child. train_tbptt, sample and
perplexity act on small models the kit builds itself in the reference child
(rnnkit_grader/reference/charlm.py `kit_spec`) with weights from fixed seeds, sent to
the student's child as data (a Keras config and weights), so they are graded apart
from build_char_model. Nothing that decides a grade is computed beside the student's
code: the student's child returns what the units returned (clipped gradients, built
models as configs and weights, losses and trained weights, texts, perplexities); the
reference child runs the built models and computes the budget's validation logits (its
windows never enter the student's child); the figures are computed here.

- state: train_tbptt runs with learning_rate=0 (the weights stay put), so its
  per-batch losses depend only on how it handles the state; the reference child
  computes the losses of each policy (carried and reset at each epoch's start, never
  carried, never reset, reset at the end) and the test names the one that matches;
- updates: one batch per epoch, so Adam's updates and the clipping are graded apart
  from the carrying (a train_tbptt that never resets is compared with the kit's loop
  that never resets, its state slip being graded by the state test);
- budget: the student's own build_char_model and train_tbptt on the default corpus;
  the trained model comes back as data, the reference child computes its logits on the
  validation windows and the perplexity is computed here, below PPL_BOUND;
- sampling: greedy at temperature 0.01 against the kit's argmax generation in the
  reference child; the distribution of draws against softmax(logits / T) with a
  chi-square test on a model whose logits don't depend on the input.
"""

import functools

import numpy as np
import pytest

from rnnkit_grader import checks
from rnnkit_child.codec import Opaque
from rnnkit_child.probes import charlm as probes
from rnnkit_grader.reference import charlm as kit_probes

# ---- helpers -----------------------------------------------------------------------


def remember(memo, key, compute):
    """compute() once per run; a failure is remembered and raised again for every test that needs it."""
    if key not in memo:
        try:
            memo[key] = (True, compute())
        except checks.GradingFailure as exc:
            memo[key] = (False, str(exc))
    ok, value = memo[key]
    if not ok:
        checks.fail(value)
    return value


def kit_weights(reference, dims, seed, scale=0.5):
    """Random weights for the kit's model, drawn by the reference child in that model's own order (which
    only reference/charlm.py knows)."""
    return reference.probe(kit_probes.kit_weights, dims=list(dims), seed=seed, scale=scale)


def kit(reference, dims, weights, batch_size=None, stateful=False, recurrent=True):
    """The kit's model with these weights as data ({"json", "weights"}), made in the reference child."""
    return reference.probe(kit_probes.kit_spec, dims=list(dims), weights=weights, batch_size=batch_size, stateful=stateful, recurrent=recurrent)


def tbptt_layout(ids, batch_size, seq_len):
    """The contract's batches, computed here (never by the student's code)."""
    ids = np.asarray(ids, dtype=np.int32)
    L = (len(ids) - 1) // batch_size
    xs = ids[: batch_size * L].reshape(batch_size, L)
    ys = ids[1: batch_size * L + 1].reshape(batch_size, L)
    return [(xs[:, k * seq_len:(k + 1) * seq_len], ys[:, k * seq_len:(k + 1) * seq_len]) for k in range(L // seq_len)]


def close(a, b, rtol=1e-4, atol=1e-5):
    return checks.agree(a, b, rtol, atol)


def all_close(xs, ys, rtol=1e-4, atol=1e-5):
    return checks.all_agree(xs, ys, rtol, atol)


# ---- build_vocab (6 points) --------------------------------------------------------

VOCAB_TEXTS = {"prose": "hello, World!\nhello again", "code": "def f(x):\n    return {x: x ** 2}  # ~"}


@pytest.mark.unit("build_vocab")
@pytest.mark.points(3)
@pytest.mark.parametrize("text_id", list(VOCAB_TEXTS))
def test_build_vocab(student, text_id):
    """the sorted distinct characters, and each one's id"""
    text = VOCAB_TEXTS[text_id]
    chars, char_to_id = checks.sequence(student.call("build_vocab", text), "build_vocab", ["chars", "char_to_id"])
    expected = sorted(set(text))
    got = list(chars) if isinstance(chars, (list, tuple, str)) else None
    if got is None or not all(isinstance(c, str) for c in got):
        checks.fail(f"build_vocab: chars should be a list of characters, got {checks.describe(chars)}.")
    if got != expected:
        if sorted(got) == expected:
            checks.fail(f"build_vocab({text!r}): the characters are not sorted ({''.join(got)!r}); use sorted(set(text)), since a set's order changes from run to run.")
        if len(set(got)) < len(got):
            checks.fail(f"build_vocab({text!r}): chars holds repeated characters; each distinct character once.")
        checks.fail(f"build_vocab({text!r}): chars should be {expected}, got {got}.")
    if not isinstance(char_to_id, dict):
        checks.fail(f"build_vocab: char_to_id should be a dict, got {checks.describe(char_to_id)}.")
    ids = {k: (int(v) if isinstance(v, (int, np.ndarray)) and np.size(v) == 1 else v) for k, v in char_to_id.items()}
    want = {c: i for i, c in enumerate(expected)}
    if ids != want:
        wrong = [c for c in expected if ids.get(c) != want[c]]
        checks.fail(f"build_vocab({text!r}): char_to_id[chars[i]] should be i; wrong for {wrong[:5]} (e.g. {wrong[0]!r} -> {ids.get(wrong[0])!r}, expected {want[wrong[0]]})." if wrong else f"build_vocab({text!r}): char_to_id has keys that are not characters of the text.")


# ---- make_tbptt_batches (16 points) ------------------------------------------------

# (N, batch_size, seq_len): streams of L = (N - 1) // B steps, L // T batches.
LAYOUTS = {
    "no-leftover": (37, 3, 4),   # L = 12, 3 batches, nothing dropped
    "leftover": (50, 3, 5),      # L = 16, 3 batches, one step per stream dropped
}


def student_batches(student, ids, batch_size, seq_len):
    """The student's batches as a list of (x, y) arrays, or a failure naming what is wrong."""
    value = student.call("make_tbptt_batches", ids, batch_size, seq_len)
    if not isinstance(value, (list, tuple)):
        checks.fail(f"make_tbptt_batches should return a list of (x, y) tuples, got {checks.describe(value)}.")
    out = []
    for k, item in enumerate(value):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            checks.fail(f"make_tbptt_batches: item {k} should be a tuple (x, y), got {checks.describe(item)}.")
        out.append(tuple(checks.array(a, "make_tbptt_batches", f"{name} of batch {k}") for a, name in zip(item, "xy")))
    return out


def layout_diagnosis(batches, N, B, T):
    """Name the slip behind a wrong layout of ids 0..N-1 (every id equals its position)."""
    L = (N - 1) // B
    if not batches:
        return f"It returned no batches; with N={N}, batch_size={B}, seq_len={T} there are {L // T}."
    x0 = batches[0][0]
    if x0.ndim != 2:
        return f"x should be 2-D (batch_size, seq_len), got shape {x0.shape}."
    if x0.shape == (T, B):
        return "x is transposed: rows are streams (batch_size of them), columns are time steps."
    starts = x0[:, 0].tolist()
    if starts == [b * T for b in range(B)]:
        return ("The streams are not contiguous: row b of batch 0 starts at id b*seq_len, so the rows of a batch are "
                "consecutive chunks and row b of the next batch does not continue row b. Cut the ids into batch_size "
                "streams of L = (N - 1) // batch_size first (stream b starts at b*L), then take chunk k of every stream.")
    if starts == [b * (N // B) for b in range(B)] and N // B != L:
        return f"Stream b starts at b * (N // batch_size); the streams have L = (N - 1) // batch_size = {L} steps, since the last input still needs a target."
    if len(batches) == L // T + 1:
        return "It keeps the last, shorter chunk: drop a chunk that does not fill seq_len."
    return f"Expected {L // T} batches; batch k, row b should hold ids b*L + k*seq_len ... with L = {L}."


@pytest.mark.unit("make_tbptt_batches")
@pytest.mark.points(2)
def test_batches_shapes_and_count(student):
    """a list of L // seq_len pairs of int32 arrays of shape (batch_size, seq_len)"""
    N, B, T = LAYOUTS["leftover"]
    batches = student_batches(student, np.arange(N), B, T)
    want = len(tbptt_layout(np.arange(N), B, T))
    if len(batches) != want:
        checks.fail(f"make_tbptt_batches(ids of length {N}, batch_size={B}, seq_len={T}) returned {len(batches)} batches, expected {want}. {layout_diagnosis(batches, N, B, T)}")
    for k, (x, y) in enumerate(batches):
        if x.shape != (B, T) or y.shape != (B, T):
            checks.fail(f"make_tbptt_batches: batch {k} has x of shape {x.shape} and y of shape {y.shape}, expected {(B, T)} each.")
        if x.dtype != np.int32 or y.dtype != np.int32:
            checks.fail(f"make_tbptt_batches: x and y should be int32, got {x.dtype} and {y.dtype}.")


@pytest.mark.unit("make_tbptt_batches")
@pytest.mark.points(5)
def test_rows_continue_across_batches(student):
    """row b of batch k+1 continues row b of batch k (contiguous streams)"""
    N, B, T = LAYOUTS["no-leftover"]
    batches = student_batches(student, np.arange(N), B, T)
    L = (N - 1) // B
    if not batches or batches[0][0].shape != (B, T):
        checks.fail(f"make_tbptt_batches: {layout_diagnosis(batches, N, B, T)}")
    for k in range(len(batches)):
        x = batches[k][0]
        if x.shape != (B, T) or not np.array_equal(x, np.arange(T)[None] + (np.arange(B) * L + k * T)[:, None]):
            checks.fail(f"make_tbptt_batches(ids 0..{N - 1}, batch_size={B}, seq_len={T}): batch {k} x = {x.tolist()}. {layout_diagnosis(batches, N, B, T)}")


@pytest.mark.unit("make_tbptt_batches")
@pytest.mark.points(3)
def test_targets_are_next_ids(student):
    """y holds the id that follows each id of x"""
    N, B, T = LAYOUTS["no-leftover"]
    rng = np.random.default_rng(3)
    ids = rng.permutation(N)  # distinct ids, so "the next id" is unambiguous
    batches = student_batches(student, ids, B, T)
    position = {int(v): i for i, v in enumerate(ids)}
    for k, (x, y) in enumerate(batches):
        if x.shape != y.shape:
            checks.fail(f"make_tbptt_batches: batch {k} has x of shape {x.shape} but y of shape {y.shape}.")
        following = np.array([[ids[position[int(v)] + 1] if position[int(v)] + 1 < N else -1 for v in row] for row in x])
        if not np.array_equal(y, following):
            if np.array_equal(y, x):
                checks.fail("make_tbptt_batches: y equals x; y must be the ids one step later (the targets are the inputs shifted by one).")
            checks.fail(f"make_tbptt_batches: in batch {k}, y is not the id that follows each id of x in the text (y[b, t] = ids[i + 1] where x[b, t] = ids[i]).")


@pytest.mark.unit("make_tbptt_batches")
@pytest.mark.points(2)
@pytest.mark.parametrize("case", ["no-leftover", "leftover", "random-ids"])
def test_exact_layout(student, case):
    """exactly the contract's batches, leftover steps dropped"""
    if case == "random-ids":
        ids, B, T = np.random.default_rng(4).integers(0, 20, size=1000), 8, 16
    else:
        N, B, T = LAYOUTS[case]
        ids = np.arange(N)
    got = student_batches(student, ids, B, T)
    want = tbptt_layout(ids, B, T)
    if len(got) != len(want) or not all(np.array_equal(gx, wx) and np.array_equal(gy, wy) for (gx, gy), (wx, wy) in zip(got, want)):
        hint = layout_diagnosis(student_batches(student, np.arange(len(ids)), B, T), len(ids), B, T)
        checks.fail(f"make_tbptt_batches(ids of length {len(ids)}, batch_size={B}, seq_len={T}) differs from the contract's layout. {hint}")


# ---- clip_by_global_norm (12 points) -----------------------------------------------

CLIP_SHAPES = [(3, 4), (4,), (2, 3, 2), (5,)]


def clip_case(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in CLIP_SHAPES]


def clip_diagnosis(grads, max_norm, got):
    """Name a known slip from what the student's clipping returned."""
    grads = [g.astype(np.float64) for g in grads]
    norms = [np.linalg.norm(g) for g in grads]
    total = float(np.sqrt(sum(n ** 2 for n in norms)))
    clipped = got["clipped"]
    if all_close(clipped, [g * min(1.0, max_norm / n) for g, n in zip(grads, norms)], 1e-4, 1e-6):
        return "It clips each tensor on its own (as tf.clip_by_norm per tensor); the global norm takes all gradients together: sqrt(sum of every squared entry), and one factor for all."
    if all_close(clipped, grads, 1e-4, 1e-6) and total > max_norm:
        return f"The gradients came back unchanged although their global norm exceeds max_norm={max_norm}."
    if all_close(clipped, [g * max_norm / total for g in grads], 1e-4, 1e-6):
        return "It always rescales to max_norm, even when the global norm is below it: multiply by max_norm / max(global_norm, max_norm)."
    if all_close(clipped, [g / total for g in grads], 1e-4, 1e-6):
        return "It divides by the global norm but forgets to multiply by max_norm."
    return "Expected g * max_norm / max(global_norm, max_norm) for every g, with global_norm = sqrt(sum_i ||g_i||^2)."


def check_clip(student, reference, max_norm):
    grads = clip_case()
    got = student.probe(probes.clip, unit="clip_by_global_norm", grads=grads, max_norm=max_norm)
    want = reference.probe(kit_probes.tf_clip, grads=grads, max_norm=max_norm)
    if len(got["clipped"]) != len(grads) or [c.shape for c in got["clipped"]] != [g.shape for g in grads]:
        checks.fail(f"clip_by_global_norm: for gradients of shapes {CLIP_SHAPES} it returned shapes {[tuple(c.shape) for c in got['clipped']]}.")
    return grads, got, want


def norm_band(got, want):
    return checks.band(checks.relative(got["norm"], want["norm"]), 1e-5) + " against the gradients' global norm"


def require_global_norm(got, want):
    """The returned global norm is the gradients' (what the cheaper clipping checks build on)."""
    if not np.isclose(got["norm"], want["norm"], rtol=1e-5):
        checks.fail(f"clip_by_global_norm: global_norm is {got['norm']:.5f}, {norm_band(got, want)} (see the global-norm test); this check builds on it.")


@pytest.mark.unit("clip_by_global_norm")
@pytest.mark.points(5)
def test_clip_scales_all_gradients_together(student, reference):
    """above max_norm, every gradient shrinks by the same factor (as tf.clip_by_global_norm)"""
    grads, got, want = check_clip(student, reference, 1.0)
    if not all_close(got["clipped"], want["clipped"], 1e-5, 1e-6):
        checks.fail(f"clip_by_global_norm: the clipped gradients differ from tf.clip_by_global_norm's (max_norm=1.0, below the gradients' global norm). {clip_diagnosis(grads, 1.0, got)}")


@pytest.mark.unit("clip_by_global_norm")
@pytest.mark.points(2)
def test_clip_returns_global_norm(student, reference):
    """returns the global norm before clipping"""
    grads, got, want = check_clip(student, reference, 1.0)
    if not np.isclose(got["norm"], want["norm"], rtol=1e-5):
        if np.isclose(got["norm"], want["norm"] ** 2, rtol=1e-5):
            hint = "That is the sum of squares: take its square root."
        elif np.isclose(got["norm"], 1.0, rtol=1e-5):
            hint = "That is the norm after clipping; return the norm of the gradients you were given."
        else:
            hint = "The global norm is sqrt(sum_i ||g_i||^2) over all gradients."
        checks.fail(f"clip_by_global_norm: global_norm is {got['norm']:.5f}, {norm_band(got, want)}. {hint}")


@pytest.mark.unit("clip_by_global_norm")
@pytest.mark.points(3)
def test_clip_leaves_small_gradients_alone(student, reference):
    """below max_norm, the gradients come back unchanged (and the global norm is right)"""
    grads, got, want = check_clip(student, reference, 100.0)
    require_global_norm(got, want)
    if not all_close(got["clipped"], want["clipped"], 1e-5, 1e-6):
        checks.fail(f"clip_by_global_norm: with max_norm=100, above the gradients' global norm, nothing should change. {clip_diagnosis(grads, 100.0, got)}")


@pytest.mark.unit("clip_by_global_norm")
@pytest.mark.points(2)
def test_clip_inside_tf_function(student, reference):
    """works on tensors inside tf.function, as in a compiled training step (and the global norm is right)"""
    grads = clip_case()
    _, eager, want = check_clip(student, reference, 1.0)
    require_global_norm(eager, want)
    try:
        traced = student.probe(probes.clip, unit="clip_by_global_norm", grads=grads, max_norm=1.0, graph=True)
    except checks.GradingFailure as exc:
        if "not implemented yet" in str(exc):
            raise
        checks.fail(f"{exc}\nInside tf.function a tensor has no value yet: use ops.maximum (not a Python if, float() or .numpy()) so that the function can be traced.")
    if not all_close(traced["clipped"], eager["clipped"], 1e-5, 1e-6) or not np.isclose(traced["norm"], eager["norm"], rtol=1e-5):
        checks.fail("clip_by_global_norm: inside tf.function it computes something else than when called eagerly.")


# ---- build_char_model (12 points) --------------------------------------------------

MV, ME, MU = 13, 5, 7  # vocab, embedding and units chosen distinct so their roles can be read from shapes


def model_ids(shape, seed=0):
    return np.random.default_rng(seed).integers(0, MV, size=shape).astype(np.int32)


def built_char_model(student, batch_size=None, stateful=False):
    """What build_char_model(MV, ME, MU, ...) made, as data (config and weights)."""
    return student.probe(probes.built_model, unit="build_char_model", vocab_size=MV, embed_dim=ME, units=MU, batch_size=batch_size, stateful=stateful)


def describe(student, reference, x, batch_size=None, stateful=False):
    """The student's model rebuilt in the reference child and run on x: outputs, weight shapes, stateful layers."""
    built = built_char_model(student, batch_size=batch_size, stateful=stateful)
    if not isinstance(built, dict) or not isinstance(built.get("json"), str):
        why = built.get("json_error") if isinstance(built, dict) else None
        checks.fail(f"build_char_model should return a keras.Model made of Keras's layers, got a {built.get('type') if isinstance(built, dict) else checks.describe(built)}{f' ({why})' if why else ''}.")
    info = reference.probe(kit_probes.describe_built, built=built, x=x)
    if "error" in info:
        checks.fail(f"build_char_model: {info['error']}")
    return info


@pytest.mark.unit("build_char_model")
@pytest.mark.points(4)
def test_model_maps_ids_to_logits(student, reference):
    """a stateless model maps ids (batch, time), any sizes, to logits (batch, time, V)"""
    for shape in [(3, 6), (2, 11)]:
        info = describe(student, reference, x=model_ids(shape))
        out = info["first"]
        if out.shape != shape + (MV,):
            checks.fail(f"build_char_model({MV}, embed_dim={ME}, units={MU}): ids of shape {shape} gave an output of shape {out.shape}, expected {shape + (MV,)} (logits at every step: return_sequences=True, then Dense(vocab_size)).")
        if np.all(out >= 0) and np.allclose(out.sum(axis=-1), 1.0, atol=1e-4):
            checks.fail("build_char_model: the outputs are probabilities; return logits (no softmax): the loss and the sampler take logits.")
        if not close(info["second"], out, 1e-5, 1e-6):
            checks.fail("build_char_model: the stateless model (stateful=False) gave different outputs for the same input on a second call; only stateful=True may keep the state.")


@pytest.mark.unit("build_char_model")
@pytest.mark.points(3)
def test_model_sizes(student, reference):
    """an Embedding(vocab_size, embed_dim), `units` recurrent units, a Dense(vocab_size) read-out"""
    shapes = [tuple(s) for s in describe(student, reference, x=model_ids((2, 4)))["weight_shapes"]]
    if (MV, ME) not in shapes:
        checks.fail(f"build_char_model({MV}, embed_dim={ME}, units={MU}): no weight of shape {(MV, ME)}; the Embedding should be Embedding(vocab_size, embed_dim). Weights: {shapes}.")
    if (MU, MV) not in shapes:
        checks.fail(f"build_char_model({MV}, embed_dim={ME}, units={MU}): no weight of shape {(MU, MV)}; the recurrent layer should have `units` units, read out by Dense(vocab_size). Weights: {shapes}.")
    # build_char_model(vocab_size) alone: the contract's defaults embed_dim=32, units=128, stateless
    built = student.probe(probes.built_model, unit="build_char_model", vocab_size=MV, embed_dim=None, units=None, defaults=True)
    if not isinstance(built, dict) or not isinstance(built.get("json"), str):
        checks.fail(f"build_char_model({MV}), with its defaults, did not return a keras.Model made of Keras's layers ({checks.describe(built)}).")
    info = reference.probe(kit_probes.describe_built, built=built, x=model_ids((2, 4)))
    if "error" in info:
        checks.fail(f"build_char_model({MV}), with its defaults: {info['error']}")
    shapes = [tuple(s) for s in info["weight_shapes"]]
    if (MV, 32) not in shapes or (128, MV) not in shapes:
        checks.fail(
            f"build_char_model({MV}), with its defaults, has weights {shapes}; the contract's defaults are embed_dim=32 and units=128 "
            f"(an Embedding of shape {(MV, 32)}, a Dense read-out of shape {(128, MV)}). Keep the signature "
            "build_char_model(vocab_size, embed_dim=32, units=128, batch_size=None, stateful=False)."
        )
    if info["stateful_layers"] or not close(info["second"], info["first"], 1e-5, 1e-6):
        checks.fail(f"build_char_model({MV}), with its defaults, keeps its state from call to call; the default is stateful=False.")


@pytest.mark.unit("build_char_model")
@pytest.mark.points(3)
def test_stateful_model_keeps_its_state(student, reference):
    """stateful=True with batch_size: the state carries from call to call until reset"""
    info = describe(student, reference, x=model_ids((3, 5)), batch_size=3, stateful=True)
    if info["input_batch"] not in (3, None):
        checks.fail(f"build_char_model(..., batch_size=3, stateful=True): the model's input has batch size {info['input_batch']}, expected 3.")
    if info["stateful_layers"] == 0 or close(info["first"], info["second"], 1e-6, 1e-7):
        checks.fail("build_char_model(..., stateful=True): two calls on the same input gave the same output, so the state was not kept; pass stateful=True to the recurrent layer (with batch_size in keras.Input).")
    if not close(info["after_reset"], info["first"], 1e-5, 1e-6):
        checks.fail("build_char_model(..., stateful=True): after reset_state() on its stateful layers, the model should compute what it computed from the start.")


@pytest.mark.unit("build_char_model")
@pytest.mark.points(2)
def test_stateful_and_stateless_share_weights(student, reference):
    """the stateful and the stateless model have the same weights and compute the same function"""
    stateful, stateless = built_char_model(student, batch_size=2, stateful=True), built_char_model(student)
    for built in (stateful, stateless):
        if not isinstance(built, dict) or not isinstance(built.get("json"), str):
            checks.fail(f"build_char_model should return a keras.Model made of Keras's layers, got a {built.get('type') if isinstance(built, dict) else checks.describe(built)}.")
    info = reference.probe(kit_probes.twins_built, stateful=stateful, stateless=stateless, x=model_ids((2, 6)))
    if "error" in info:
        checks.fail(f"build_char_model: {info['error']}")
    if info["stateful_shapes"] != info["stateless_shapes"]:
        checks.fail(f"build_char_model: the stateful model's weights have shapes {info['stateful_shapes']}, the stateless one's {info['stateless_shapes']}; they should be the same so that weights can be copied from one to the other.")
    if not close(info["stateful"], info["stateless"], 1e-4, 1e-5):
        checks.fail("build_char_model: given the same weights and a fresh state, the stateful and the stateless model compute different outputs.")


# ---- train_tbptt (28 points) -------------------------------------------------------

TV, TE, TU = 11, 4, 8
T_DIMS = [TV, TE, TU]
STATE_SEED, STATE_SCALE = 7, 0.8
STATE_BATCHES = tbptt_layout(np.random.default_rng(8).integers(0, TV, size=3 * 12 + 1), 3, 4)  # 3 batches of (3, 4)
WARM = np.random.default_rng(9).integers(0, TV, size=(3, 6)).astype(np.int32)
STATE_EPOCHS = 2
NO_CLIP = 1e6
CARRIED, NEVER_CARRIED, NEVER_RESET, RESET_AT_END = (
    "carried, reset at each epoch's start", "never carried", "never reset", "reset at each epoch's end")
# The ways of handling the state, as the reference child computes their losses: where each resets it.
STATE_POLICIES = {
    CARRIED: {"epoch_start": True, "each_batch": False, "epoch_end": False},
    NEVER_CARRIED: {"epoch_start": False, "each_batch": True, "epoch_end": False},
    NEVER_RESET: {"epoch_start": False, "each_batch": False, "epoch_end": False},
    RESET_AT_END: {"epoch_start": False, "each_batch": False, "epoch_end": True},
}


def state_weights(reference):
    return kit_weights(reference, T_DIMS, STATE_SEED, STATE_SCALE)


def state_model(reference):
    return kit(reference, T_DIMS, state_weights(reference), batch_size=len(STATE_BATCHES[0][0]), stateful=True)


def frozen_run(student, reference, memo, warm):
    """train_tbptt with learning_rate=0: the losses depend only on the state handling."""
    epochs = STATE_EPOCHS if warm is None else 1
    got = remember(memo, ("frozen", warm is None), lambda: student.probe(
        probes.train, unit="train_tbptt", model=state_model(reference), batches=STATE_BATCHES,
        epochs=epochs, learning_rate=0.0, clip_norm=NO_CLIP, warm=warm,
    ))
    n = epochs * len(STATE_BATCHES)
    if len(got["losses"]) != n:
        checks.fail(f"train_tbptt: {epochs} epoch(s) of {len(STATE_BATCHES)} batches should give {n} losses, got {len(got['losses'])}.")
    if not all_close(got["weights"], state_weights(reference), 0, 1e-7):
        checks.fail("train_tbptt changed the weights although learning_rate=0: pass learning_rate to keras.optimizers.Adam.")
    return got["losses"]


def policy_losses(reference, warm):
    return reference.probe(
        kit_probes.state_policies, dims=T_DIMS, weights=state_weights(reference), batches=STATE_BATCHES,
        epochs=STATE_EPOCHS if warm is None else 1, policies=STATE_POLICIES, warm=warm,
    )


def matching_policy(losses, policies):
    for name, want in policies.items():
        if close(losses, want, 1e-4, 1e-6):
            return name
    return None


def unexplained(losses, correct):
    ratio = np.asarray(losses) / np.asarray(correct)
    factor = round(float(ratio[0])) if np.isfinite(ratio[0]) else 0
    # Only a whole factor is named (a sum over positions): any other ratio would give the expected loss away.
    if factor >= 2 and np.allclose(ratio, factor, rtol=1e-4):
        return f"train_tbptt's losses are {factor} times the expected ones: the loss is the mean cross-entropy over all batch_size * seq_len positions."
    return ("train_tbptt's losses (computed with learning_rate=0, so with fixed weights) match no way of handling the state; "
            "each should be the mean sparse categorical cross-entropy from logits of one batch, before its update.")


@pytest.mark.unit("train_tbptt")
@pytest.mark.points(2)
def test_train_returns_batch_losses(student, reference, memo):
    """returns one float per batch and epoch: the cross-entropy of that batch under some way of handling the state"""
    got = remember(memo, ("frozen", True), lambda: student.probe(
        probes.train, unit="train_tbptt", model=state_model(reference), batches=STATE_BATCHES,
        epochs=STATE_EPOCHS, learning_rate=0.0, clip_norm=NO_CLIP, warm=None,
    ))
    n = STATE_EPOCHS * len(STATE_BATCHES)
    if len(got["losses"]) != n:
        checks.fail(f"train_tbptt(model, {len(STATE_BATCHES)} batches, epochs={STATE_EPOCHS}) should return {n} losses (one per batch and epoch), got {len(got['losses'])}.")
    if not all(np.isfinite(got["losses"])):
        checks.fail(f"train_tbptt returned losses that are not finite: {got['losses']}.")
    policies = policy_losses(reference, warm=None)
    if matching_policy(got["losses"], policies) is None:
        checks.fail(unexplained(got["losses"], policies[CARRIED]))


@pytest.mark.unit("train_tbptt")
@pytest.mark.points(8)
def test_state_carried_from_batch_to_batch(student, reference, memo):
    """the hidden state is carried from each batch into the next within an epoch"""
    losses = frozen_run(student, reference, memo, warm=None)
    policies = policy_losses(reference, warm=None)
    K = len(STATE_BATCHES)
    if close(losses[:K], policies[CARRIED][:K], 1e-4, 1e-6):
        return
    if close(losses[:K], policies[NEVER_CARRIED][:K], 1e-4, 1e-6):
        checks.fail("train_tbptt: the state is never carried: every batch starts from a zero state. Reset only at the start of each epoch; between batches the stateful model must keep the state the previous batch ended in.")
    checks.fail(unexplained(losses[:K], policies[CARRIED][:K]))


@pytest.mark.unit("train_tbptt")
@pytest.mark.points(6)
def test_state_reset_at_each_epoch_start(student, reference, memo):
    """the hidden state is reset to zeros at the start of every epoch"""
    losses = frozen_run(student, reference, memo, warm=None)
    policies = policy_losses(reference, warm=None)
    K = len(STATE_BATCHES)
    if not close(losses[K:], policies[CARRIED][K:], 1e-4, 1e-6):
        if close(losses, policies[NEVER_RESET], 1e-4, 1e-6):
            checks.fail("train_tbptt: the state is never reset: the second epoch starts from the state the first one ended in. Call reset_state() on the stateful layers at the start of each epoch.")
        if close(losses, policies[NEVER_CARRIED], 1e-4, 1e-6):
            return  # resetting before every batch resets at each epoch's start too; the carrying test names that slip
        checks.fail(unexplained(losses, policies[CARRIED]))
    warm_losses = frozen_run(student, reference, memo, warm=WARM)
    warm_policies = policy_losses(reference, warm=WARM)
    if not close(warm_losses[:1], warm_policies[CARRIED][:1], 1e-4, 1e-6):
        if matching_policy(warm_losses, {RESET_AT_END: warm_policies[RESET_AT_END]}):
            checks.fail("train_tbptt: the state is reset at the end of each epoch instead of its start: given a model that had already been run, the first epoch started from that model's old state. Reset at the start of every epoch.")
        checks.fail("train_tbptt: given a model that had already been run, the first batch did not start from a zero state; reset the state at the start of every epoch, the first one included.")


# The update tests use a batch in which every id occurs once: the Embedding's gradient is
# then the same whether an implementation clips its IndexedSlices or a dense copy
# (with repeated ids the two give slightly different global norms, both defensible).
U_DIMS = [40, 4, 8]
UPDATE_BATCHES = tbptt_layout(np.random.default_rng(11).permutation(40)[:25], 4, 6)  # 1 batch of (4, 6), distinct ids
UPDATE_EPOCHS = 4
UPDATE_LR = 0.02
TIGHT_CLIP = 0.05  # the gradients' global norm is about 0.3 here, so clipping acts on every update


def update_run(student, reference, clip_norm):
    model = kit(reference, U_DIMS, kit_weights(reference, U_DIMS, seed=10, scale=0.5), batch_size=len(UPDATE_BATCHES[0][0]), stateful=True)
    args = dict(model=model, batches=UPDATE_BATCHES, epochs=UPDATE_EPOCHS, learning_rate=UPDATE_LR, clip_norm=clip_norm)
    got = student.probe(probes.train, unit="train_tbptt", **args)
    want = reference.probe(probes.train, **args)
    return got, want, args


def same_run(got, want):
    return close(got["losses"], want["losses"], 1e-4, 1e-6) and all_close(got["weights"], want["weights"], 1e-3, 1e-5)


def kit_variant(reference, args, **variant):
    return reference.probe(kit_probes.kit_train, **args, **variant)


@pytest.mark.unit("train_tbptt")
@pytest.mark.points(3)
def test_updates_match_reference(student, reference):
    """Adam with the given learning rate, one update per batch (state graded separately)"""
    got, want, args = update_run(student, reference, NO_CLIP)
    if same_run(got, want) or same_run(got, kit_variant(reference, args, reset=False)):
        return
    if not close(got["losses"][:1], want["losses"][:1], 1e-4, 1e-6):
        checks.fail(unexplained(got["losses"][:1], want["losses"][:1]))
    checks.fail(
        f"train_tbptt: from the same weights, {UPDATE_EPOCHS} updates with learning_rate={UPDATE_LR} end with different losses or weights "
        f"than keras.optimizers.Adam(learning_rate) (your losses {np.round(got['losses'], 4).tolist()}). "
        "Use Adam with the learning_rate argument, one optimizer for the whole call (a new one per batch or epoch forgets Adam's moment estimates), "
        "and update with the gradients of the mean loss."
    )


@pytest.mark.unit("train_tbptt")
@pytest.mark.points(4)
def test_updates_clipped_by_global_norm(student, reference):
    """gradients are clipped by their global norm before each update"""
    got, want, args = update_run(student, reference, TIGHT_CLIP)
    if same_run(got, want) or same_run(got, kit_variant(reference, args, reset=False)):
        return
    if same_run(got, kit_variant(reference, args, clip="per_tensor")):
        checks.fail("train_tbptt: the updates match clipping each gradient tensor on its own; clip all of them together with clip_by_global_norm(grads, clip_norm).")
    if same_run(got, kit_variant(reference, args, clip="none")):
        checks.fail(f"train_tbptt: with clip_norm={TIGHT_CLIP} the updates match no clipping at all: clip the gradients with clip_by_global_norm(grads, clip_norm) before applying them.")
    checks.fail(f"train_tbptt: with clip_norm={TIGHT_CLIP} the updates differ from Adam on gradients clipped by global norm. If clip_by_global_norm fails its own tests, fix it first: train_tbptt uses it.")


# The budget: the student's build_char_model(V, embed_dim=16, units=64, batch_size=64,
# stateful=True), seed 0, trained by the student's train_tbptt for one epoch of 60
# batches of 64 x 32 from the start of the default corpus (Python 3.11's Language
# Reference, V = 94), learning_rate 0.02, clip_norm 5; validation: 64 windows of 64
# characters from the corpus's end, each read from a zero state.
# Calibrated on the reference (LSTM): 15.15 (seeds 1 and 2: 15.81, 14.35); a GRU gives
# about 11, a SimpleRNN 12-15; untrained 94, character frequencies alone about 25.
BUDGET = dict(batch_size=64, seq_len=32, batches=60, embed_dim=16, units=64, learning_rate=0.02, clip_norm=5.0, seed=0)
VAL_WINDOWS, VAL_LEN = 64, 64
PPL_BOUND = 18.0
CALIBRATED_PPL = 15.15  # the reference under BUDGET (calibrate() re-measures it; tests/test_calibration.py)


@functools.lru_cache(maxsize=1)
def budget_data():
    from rnnkit.text import python_docs_text

    text = python_docs_text()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text], dtype=np.int32)
    b = BUDGET
    train = ids[: b["batch_size"] * b["seq_len"] * b["batches"] + 1]
    val = ids[-(VAL_WINDOWS * VAL_LEN + 1):]
    return len(chars), tbptt_layout(train, b["batch_size"], b["seq_len"]), val[:-1].reshape(VAL_WINDOWS, VAL_LEN), val[1:].reshape(VAL_WINDOWS, VAL_LEN)


def budget_logits(owner, reference):
    """The budgeted run of `owner` (losses), and the trained model's per-position cross-entropy on the validation
    windows with whether its outputs look like probabilities, both computed in the reference child (whole logits
    would be 1.5 MB per submission in the reference's answer cache)."""
    V, batches, val_x, val_y = budget_data()
    b = BUDGET
    kwargs = dict(vocab_size=V, embed_dim=b["embed_dim"], units=b["units"], batches=batches, learning_rate=b["learning_rate"], clip_norm=b["clip_norm"], seed=b["seed"])
    got = owner.probe(probes.budget_run, unit="train_tbptt", **kwargs)
    if not isinstance(got, dict) or not isinstance(got.get("model"), dict):
        checks.fail("train_tbptt: the budgeted run gave back no trained model.")
    ran = reference.probe(kit_probes.budget_nll, built=got["model"], val_x=val_x, val_y=val_y, batch_size=b["batch_size"])
    if "error" in ran:
        checks.fail(f"train_tbptt: the trained model could not be evaluated: {ran['error']}")
    return got, checks.array(ran["nll"], "train_tbptt", "the trained model's cross-entropy", shape=val_x.shape), bool(ran["probabilities"])



def calibrate(reference):
    """PPL_BOUND and CALIBRATED_PPL re-measured on the reference: its build_char_model and train_tbptt under BUDGET,
    measured as test_budgeted_run measures a student's (checks.Calibration; tests/test_calibration.py)."""
    _, position_nll, _ = budget_logits(reference, reference)
    ppl = float(np.exp(position_nll.mean()))
    return [checks.Calibration(
        ("PPL_BOUND", "CALIBRATED_PPL"), "the reference's validation perplexity under BUDGET", ppl, holds=ppl < PPL_BOUND,
        failure=f"over the bound {PPL_BOUND}", calibrated=CALIBRATED_PPL, drift=1.0, recalibrate="update the figures next to PPL_BOUND")]

@pytest.mark.unit("train_tbptt")
@pytest.mark.points(5)
def test_budget_validation_perplexity(student, reference):
    """your model and training loop reach a validation perplexity below the bound on a fixed budget"""
    V, batches, val_x, val_y = budget_data()
    b = BUDGET
    got, position_nll, probabilities = budget_logits(student, reference)
    ppl = float(np.exp(position_nll.mean()))
    if not ppl < PPL_BOUND and probabilities:
        checks.fail(
            f"train_tbptt: your build_char_model outputs probabilities, not logits (see its tests); read as logits they give a validation "
            f"perplexity of {ppl:.1f} after the budget, over the bound {PPL_BOUND}. Leave the softmax out of the model."
        )
    if not ppl < PPL_BOUND:
        losses = got["losses"]
        trend = f"its training loss went from {losses[0]:.2f} to {np.mean(losses[-5:]):.2f}" if losses else "it returned no losses"
        checks.fail(
            f"train_tbptt: after {b['batches']} updates (batch_size={b['batch_size']}, seq_len={b['seq_len']}, learning_rate={b['learning_rate']}) "
            f"your build_char_model reaches a validation perplexity of {ppl:.1f}; the bound is {PPL_BOUND} (the reference reaches about 15, "
            f"a model that knows only character frequencies about 25; V = {V}); {trend}. Check that every batch makes an update with the given learning rate."
        )


# ---- perplexity (12 points) --------------------------------------------------------

P_DIMS = [9, 4, 6]


def p_weights(reference):
    return kit_weights(reference, P_DIMS, seed=12, scale=0.8)


def perplexity_case(n_ids, seq_len, seed):
    ids = np.random.default_rng(seed).integers(0, P_DIMS[0], size=n_ids).astype(np.int32)
    return ids, seq_len


def perplexity_values(reference, ids, seq_len):
    """Per-position NLL of windows read from a zero state, and of one pass over everything."""
    ref = reference.probe(kit_probes.window_logits, dims=P_DIMS, weights=p_weights(reference), ids=ids, seq_len=seq_len)
    targets = ids[1:]
    windows = [checks.nll(w, targets[s:s + seq_len]) for w, s in zip(ref["windows"], range(0, len(targets), seq_len))]
    return windows, checks.nll(ref["one_pass"], targets)


def perplexity_diagnosis(got, windows, one_pass):
    nll_all = np.concatenate(windows)
    mean = nll_all.mean()
    if np.isclose(got, mean, rtol=1e-4):
        return "That is the mean cross-entropy itself: the perplexity is its exp."
    if np.isclose(got, 2 ** mean, rtol=1e-4):
        return "That is 2 ** (cross-entropy in nats); use exp, or 2 ** (cross-entropy in bits)."
    if np.isclose(got, np.exp(np.mean([w.mean() for w in windows])), rtol=1e-4):
        return "It averages over windows, so the short last window weighs as much as a full one: average over all N - 1 predictions."
    if len(windows) > 1 and np.isclose(got, np.exp(np.concatenate(windows[:-1]).mean()), rtol=1e-4):
        return "It drops the last, shorter window: every one of the N - 1 predictions counts."
    if np.isclose(got, np.mean([np.exp(w.mean()) for w in windows]), rtol=1e-4):
        return "It averages the perplexities of the windows; take exp of the mean cross-entropy over all predictions."
    return "Expected exp(mean over the N - 1 predictions of -log softmax(logits)[next id]), windows of seq_len inputs each from a zero state."


@pytest.mark.unit("perplexity")
@pytest.mark.points(6)
def test_perplexity_one_window(student, reference):
    """exp of the mean next-character cross-entropy (a text that fits in one window)"""
    ids, seq_len = perplexity_case(11, 10, seed=13)
    got = checks.scalar(student.probe(probes.student_perplexity, unit="perplexity", model=kit(reference, P_DIMS, p_weights(reference)), ids=ids, seq_len=seq_len), "perplexity", "the result")
    windows, one_pass = perplexity_values(reference, ids, seq_len)
    want = float(np.exp(np.concatenate(windows).mean()))
    if not np.isclose(got, want, rtol=1e-4):
        shifted = float(np.exp(checks.nll(reference.probe(kit_probes.window_logits, dims=P_DIMS, weights=p_weights(reference), ids=ids, seq_len=seq_len)["one_pass"], ids[:-1]).mean()))
        hint = "It scores each input against itself: the target of position t is ids[t + 1]." if np.isclose(got, shifted, rtol=1e-4) else perplexity_diagnosis(got, windows, one_pass)
        checks.fail(f"perplexity: {got:.5f} for a text of {len(ids)} ids, {checks.band(checks.relative(got, want), 1e-4)}. {hint}")


@pytest.mark.unit("perplexity")
@pytest.mark.points(6)
def test_perplexity_over_windows(student, reference):
    """every prediction counts once when the text spans several windows (the last one shorter)"""
    ids, seq_len = perplexity_case(26, 10, seed=14)  # 25 predictions: windows of 10, 10 and 5
    got = checks.scalar(student.probe(probes.student_perplexity, unit="perplexity", model=kit(reference, P_DIMS, p_weights(reference)), ids=ids, seq_len=seq_len), "perplexity", "the result")
    windows, one_pass = perplexity_values(reference, ids, seq_len)
    windowed = float(np.exp(np.concatenate(windows).mean()))
    carried = float(np.exp(one_pass.mean()))  # carrying the state across windows is one pass: also right
    if not (np.isclose(got, windowed, rtol=1e-4) or np.isclose(got, carried, rtol=1e-4)):
        checks.fail(f"perplexity: {got:.5f} for {len(ids)} ids with seq_len={seq_len}, {checks.band(checks.relative(got, windowed), 1e-4)}. {perplexity_diagnosis(got, windows, one_pass)}")


# ---- sample (14 points) ------------------------------------------------------------

PREFIX = "for "
S_EMBED, S_UNITS = 8, 16
GREEDY_LENGTH = 12
# Logits that ignore the input: 8 likely characters, the rest far behind.
FAVOURITES = "et a\nons"
FAVOURITE_LOGITS = [3.0, 2.5, 2.2, 2.0, 1.6, 1.2, 0.8, 0.5]
OTHER_LOGIT = -3.0
DRAWS = 400
CHI2_CRITICAL = {8: 42.70}  # chi-square quantile for a false failure probability of 1e-6, by degrees of freedom


def vocab(reference):
    chars = reference.probe(probes.corpus_chars)
    return chars, {c: i for i, c in enumerate(chars)}


def greedy_model(reference):
    chars, _ = vocab(reference)
    return [len(chars), S_EMBED, S_UNITS], kit_weights(reference, [len(chars), S_EMBED, S_UNITS], seed=18, scale=1.3)


def constant_model(reference):
    """Embedding -> Dense with a zero kernel: the logits are the Dense bias whatever the input."""
    chars, index = vocab(reference)
    bias = np.full(len(chars), OTHER_LOGIT, dtype=np.float32)
    for c, logit in zip(FAVOURITES, FAVOURITE_LOGITS):
        bias[index[c]] = logit
    dims = [len(chars), 4, 0]
    weights = reference.probe(kit_probes.kit_weights, dims=dims, seed=16, scale=1.0, recurrent=False, logits_bias=bias)
    return dims, weights, bias.astype(np.float64)


def student_texts(student, reference, dims, weights, length, temperature, seeds, recurrent=True):
    texts = student.probe(probes.sample_texts, unit="sample", model=kit(reference, dims, weights, recurrent=recurrent), prefix=PREFIX, length=length,
                          temperature=temperature, seeds=list(seeds))
    for text in texts:
        if not isinstance(text, str):
            checks.fail(f"sample should return a str, got {checks.describe(text)}.")
    return texts


@pytest.mark.unit("sample")
@pytest.mark.points(2)
def test_sample_returns_the_drawn_characters(student, reference):
    """a str of `length` characters of the vocabulary, the prefix left out"""
    dims, weights, _ = constant_model(reference)
    chars, _ = vocab(reference)
    text = student_texts(student, reference, dims, weights, 25, 1.0, [0], recurrent=False)[0]
    if len(text) == 25 + len(PREFIX) and text.startswith(PREFIX):
        checks.fail(f"sample({PREFIX!r}, length=25) returned the prefix too; return only the 25 drawn characters.")
    if len(text) != 25:
        checks.fail(f"sample(model, {PREFIX!r}, 25) returned {len(text)} characters, expected 25.")
    if not set(text) <= set(chars):
        checks.fail(f"sample returned characters that are not in the vocabulary: {sorted(set(text) - set(chars))}.")
    require_likely_draws(text, reference)


def require_likely_draws(text, reference):
    """At temperature 1 on the constant model, most draws are its 8 likely characters (about 93%;
    under half happens with probability below 1e-9 for a sampler that follows the model)."""
    _, _, bias = constant_model(reference)
    chars, index = vocab(reference)
    share = float(expected_shares(bias, chars, index, 1.0)[:-1].sum())
    hits = sum(text.count(c) for c in FAVOURITES)
    if not hits >= len(text) / 2:
        checks.fail(
            f"sample: on a model whose next character is one of {list(FAVOURITES)} with probability {share:.0%}, only {hits} of "
            f"{len(text)} draws were: draw each character from softmax(model's logits / temperature)."
        )


@pytest.mark.unit("sample")
@pytest.mark.points(3)
def test_sample_reproducible(student, reference):
    """the same seed gives the same text; different seeds give different texts"""
    dims, weights, _ = constant_model(reference)
    texts = student_texts(student, reference, dims, weights, 20, 1.0, [5, 5, 6, 7, 8], recurrent=False)
    require_likely_draws("".join(texts), reference)
    if texts[0] != texts[1]:
        checks.fail(f"sample: two calls with seed=5 gave {texts[0]!r} and {texts[1]!r}; create the generator from the seed inside sample (np.random.default_rng(seed)).")
    if len(set(texts)) == 1:
        checks.fail("sample: seeds 5, 6, 7 and 8 all gave the same text at temperature 1; draw from the distribution with the seeded generator (rng.choice(V, p=probs)), don't take the argmax.")


@pytest.mark.unit("sample")
@pytest.mark.points(5)
def test_sample_greedy_at_low_temperature(student, reference):
    """at temperature 0.01 every draw is the most likely character (greedy generation)"""
    dims, weights = greedy_model(reference)
    chars, index = vocab(reference)
    want = reference.probe(kit_probes.greedy_ids, dims=dims, weights=weights, prefix_ids=[index[c] for c in PREFIX], length=GREEDY_LENGTH)
    expected = "".join(chars[i] for i in want["ids"])
    got = student_texts(student, reference, dims, weights, GREEDY_LENGTH, 0.01, [0])[0]
    if got == expected:
        return
    memoryless = reference.probe(kit_probes.greedy_ids, dims=dims, weights=weights, prefix_ids=[index[c] for c in PREFIX], length=GREEDY_LENGTH, memory=False)
    if got == "".join(chars[i] for i in memoryless["ids"]):
        hint = "It matches a model that sees only the last character at each step: let the model read the whole text so far (or carry its state)."
    elif got == student_texts(student, reference, dims, weights, GREEDY_LENGTH, 1.0, [0])[0]:
        hint = "The temperature has no effect: divide the logits by it before the softmax (dividing the probabilities cancels out when they are normalised)."
    else:
        hint = "Divide the logits by the temperature, subtract their maximum, then exp and normalise; and feed every drawn character back in."
    checks.fail(f"sample(model, {PREFIX!r}, {GREEDY_LENGTH}, temperature=0.01) gave {got!r}; greedy generation (argmax at every step) gives {expected!r}. {hint}")


def draw_counts(text, chars):
    favourites = [text.count(c) for c in FAVOURITES]
    return np.array(favourites + [len(text) - sum(favourites)], dtype=np.float64)


def expected_shares(bias, chars, index, temperature):
    z = bias / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    fav = np.array([p[index[c]] for c in FAVOURITES])
    return np.append(fav, 1.0 - fav.sum())


@pytest.mark.unit("sample")
@pytest.mark.points(2)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sample_distribution(student, reference, temperature):
    """draws follow softmax(logits / temperature) (chi-square test, false failure probability 1e-6)"""
    dims, weights, bias = constant_model(reference)
    chars, index = vocab(reference)
    text = student_texts(student, reference, dims, weights, DRAWS, temperature, [17], recurrent=False)[0]
    if len(text) != DRAWS:
        checks.fail(f"sample(model, {PREFIX!r}, {DRAWS}) returned {len(text)} characters.")
    counts = draw_counts(text, chars)
    stat = checks.chi_square(counts, expected_shares(bias, chars, index, temperature))
    critical = CHI2_CRITICAL[len(counts) - 1]
    if stat <= critical:
        return
    shares = np.round(counts / counts.sum(), 3).tolist()
    if temperature != 1.0 and checks.chi_square(counts, expected_shares(bias, chars, index, 1.0)) <= critical:
        hint = "They follow softmax(logits) at temperature 1: the temperature is ignored or applied to the probabilities; divide the logits by it."
    elif counts[0] == counts.sum():
        hint = "Every draw is the most likely character: draw at random from the distribution instead of taking the argmax."
    elif checks.chi_square(counts, expected_shares(bias, chars, index, 1.0 / temperature)) <= critical:
        hint = "They follow softmax(logits * temperature): divide by the temperature, don't multiply."
    else:
        hint = "Draw each character with rng.choice(V, p=softmax(logits / temperature))."
    checks.fail(
        f"sample at temperature {temperature}: on a model whose next-character distribution is fixed, {DRAWS} draws of "
        f"{list(FAVOURITES)} + others came out in shares {shares}, which a chi-square test rejects at false-failure probability 1e-6. {hint}"
    )
