"""Hidden suite for 04_embeddings: one-hot versus embeddings.

100 points: the lookup equals a one-hot product, the weight counts, the embedding
language model (shapes, parameters, an Embedding layer whose gradient touches only
the rows that occur), its training loop against the reference's from the same
weights, and nearest neighbours by cosine similarity on crafted tables.
"""

import numpy as np
import pytest

from rnnkit_grader import checks

VOCAB = ["h", "i", "e", "l", "o"]
X_IDS = np.array([[0, 1, 0, 2, 3, 3]], dtype=np.int32)  # "hihell"
Y_IDS = np.array([[1, 0, 2, 3, 3, 4]], dtype=np.int32)  # "ihello"


# ---- embedding_lookup (15 points) -----------------------------------------------------


@pytest.mark.unit("embedding_lookup")
@pytest.mark.points(5)
@pytest.mark.parametrize("shape", [(7,), (3, 4), ()], ids=["1-D", "2-D", "0-D"])
def test_embedding_lookup(student, shape):
    """table[ids], shape ids.shape + (E,), equal to one_hot(ids) @ table"""
    rng = np.random.default_rng(11)
    table = rng.standard_normal((6, 3))
    ids = rng.integers(0, 6, size=shape)
    got = checks.array(student.call("embedding_lookup", ids, table), "embedding_lookup", "the result", shape=shape + (3,))
    want = np.eye(6)[ids] @ table
    if not np.allclose(got, want, rtol=1e-12, atol=1e-12):
        checks.fail(f"embedding_lookup: wrong vectors for ids of shape {shape}; vectors[s] must be table[ids[s]] (the row of the id).")
    if got.dtype != table.dtype:
        checks.fail(f"embedding_lookup: the result has dtype {got.dtype}; keep the table's dtype ({table.dtype}).")


# ---- input_param_counts (14 points) ---------------------------------------------------


@pytest.mark.unit("input_param_counts")
@pytest.mark.points(7)
@pytest.mark.parametrize("V, E, H", [(5, 4, 8), (10000, 100, 256)])
def test_input_param_counts(student, V, E, H):
    """(V*H, V*E + E*H): input-side weights without biases"""
    got = checks.sequence(student.call("input_param_counts", V, E, H), "input_param_counts", ("onehot", "embedding"))
    want = (V * H, V * E + E * H)
    if [checks.scalar(g, "input_param_counts", "a count") for g in got] != list(want):
        hint = ""
        if got[1] == V * E:
            hint = " The embedding count leaves out the E*H input kernel that reads the vectors."
        elif got[0] == V * H + H or got[1] == V * E + E * H + H:
            hint = " Biases are excluded."
        checks.fail(f"input_param_counts({V}, {E}, {H}) gave {tuple(got)}, expected {want}.{hint}")


# ---- build_embedding_lm (26 points) ---------------------------------------------------


def lm_params(V, E, H, cell):
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    recurrent = gates * (E * H + H * H + H) + (3 * H if cell == "gru" else 0)
    return V * E + recurrent + H * V + V


@pytest.mark.unit("build_embedding_lm")
@pytest.mark.points(4)
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_build_embedding_lm(student, cell):
    """ids (batch, time) -> Embedding -> one recurrent layer -> logits (batch, time, V)"""
    got = student.probe("hello.describe_model", "build_embedding_lm", builder="build_embedding_lm", args=[7, 4, 8, cell], batch=3, time=5, ids=True)
    if got["shape"] != [3, 5, 7]:
        checks.fail(f"build_embedding_lm(7, 4, 8, {cell!r}) maps ids of shape (3, 5) to {tuple(got['shape'])}, expected (3, 5, 7).")
    if "Embedding" not in got["layers"]:
        checks.fail(f"build_embedding_lm: the model has no keras.layers.Embedding (layers: {got['layers']}).")
    if got["params"] != lm_params(7, 4, 8, cell):
        checks.fail(f"build_embedding_lm(7, 4, 8, {cell!r}) has {got['params']} parameters, expected {lm_params(7, 4, 8, cell)} (Embedding 7x4, one {cell.upper()} of 8 units, Dense(7)). Layers: {got['layers']}.")


@pytest.mark.unit("build_embedding_lm")
@pytest.mark.points(4)
def test_build_embedding_lm_rejects_unknown_cell(student):
    """ValueError for a cell other than rnn, gru, lstm"""
    outcome = student.outcome("build_embedding_lm", 5, 4, 8, "cnn")
    if outcome.raised != "ValueError":
        checks.fail(f'build_embedding_lm(cell="cnn") should raise ValueError, but it {"raised " + outcome.raised if outcome.raised else "returned a model"}.')


@pytest.mark.unit("build_embedding_lm")
@pytest.mark.points(10)
def test_embedding_gradient_touches_only_used_rows(student):
    """the loss gradient of the embedding table is non-zero exactly on the rows of the ids used"""
    ids = np.array([[1, 3, 5, 3], [5, 1, 1, 3]], dtype=np.int32)
    got = student.probe("hello.embedding_gradient_rows", "build_embedding_lm", vocab_size=9, ids=ids, targets=np.roll(ids, -1, axis=1))
    if not got["found"]:
        checks.fail(f"build_embedding_lm: no keras.layers.Embedding in the model (layers: {got['layers']}).")
    if got["nonzero_rows"] != [1, 3, 5]:
        checks.fail(f"build_embedding_lm: the embedding gradient is non-zero on rows {got['nonzero_rows']}, but the batch uses ids 1, 3 and 5 only.")


# ---- train_embedding_lm (20 points) ---------------------------------------------------

CURVE_STEPS = 15
# The reference reaches "ihello" within a few steps for seeds 0-4 (Adam, lr 0.1, E=4,
# H=8); 60 steps leave a wide margin.
LEARN_STEPS = 60


@pytest.mark.unit("train_embedding_lm")
@pytest.mark.points(10)
def test_train_embedding_lm_loss_curve(student, reference):
    """Adam at the given rate from the same weights: the loss curve matches the reference's"""
    weights = reference.probe("hello.initial_weights", seed=0, embed_dim=4)
    kw = dict(weights=weights, x=X_IDS, y=Y_IDS, steps=CURVE_STEPS, unit_name="train_embedding_lm", embed_dim=4)
    got = student.probe("hello.train", "train_embedding_lm", **kw)
    want = reference.probe("hello.train", **kw)
    losses = got["losses"]
    if len(losses) != CURVE_STEPS or any(v is None for v in losses):
        checks.fail(f"train_embedding_lm(..., steps={CURVE_STEPS}) returned {len(losses)} values; expected one loss per step.")
    if not np.allclose(losses, want["losses"], rtol=1e-3, atol=1e-5):
        first = next(i for i, (a, b) in enumerate(zip(losses, want["losses"])) if not np.isclose(a, b, rtol=1e-3, atol=1e-5))
        hint = " The loss never changes: apply the gradients." if np.allclose(losses, losses[0]) else ""
        if first == 0 and np.isclose(losses[0], want["losses"][0] * X_IDS.size, rtol=1e-4):
            hint = " The loss is summed over positions; take the mean."
        checks.fail(f"train_embedding_lm: the loss curve departs from the reference's at step {first} ({losses[first]:.4f} vs {want['losses'][first]:.4f}).{hint}")


@pytest.mark.unit("train_embedding_lm")
@pytest.mark.points(10)
def test_train_embedding_lm_learns_ihello(student, reference):
    """within the step budget the embedding model predicts "ihello" """
    weights = reference.probe("hello.initial_weights", seed=3, embed_dim=4)
    got = student.probe("hello.train", "train_embedding_lm", weights=weights, x=X_IDS, y=Y_IDS, steps=LEARN_STEPS, unit_name="train_embedding_lm", embed_dim=4)
    text = "".join(VOCAB[i] for i in np.argmax(got["logits"], axis=-1).reshape(-1))
    if text != "ihello":
        checks.fail(f'train_embedding_lm: after {LEARN_STEPS} steps the model predicts {text!r}, not "ihello".')


# ---- nearest_neighbors (25 points) ----------------------------------------------------

WORDS = ["a", "b", "c", "d", "e"]


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.unit("nearest_neighbors")
@pytest.mark.points(9)
def test_nearest_neighbors_by_cosine(student):
    """most similar first, by cosine similarity (not by dot product or distance)"""
    table = np.array([[1.0, 0.0], [10.0, 10.0], [1.0, 0.1], [-1.0, 0.2], [0.5, -0.6]])
    got = student.call("nearest_neighbors", table, WORDS, "a", 3)
    want = ["c", "b", "e"]
    if as_list(got) != want:
        hint = ""
        if "a" in as_list(got):
            hint = " The token itself is in the list: leave it out."
        elif as_list(got)[:1] == ["b"]:
            hint = " 'b' is long but points elsewhere: it wins by dot product, not by cosine. Divide by the vectors' norms."
        checks.fail(f"nearest_neighbors(table, vocab, 'a', 3) gave {got!r}, expected {want} (cosine similarities 0.995, 0.707, 0.640).{hint}")


@pytest.mark.unit("nearest_neighbors")
@pytest.mark.points(5)
def test_nearest_neighbors_excludes_the_token(student):
    """the token is never its own neighbour"""
    table = np.random.default_rng(2).standard_normal((5, 3))
    got = student.call("nearest_neighbors", table, WORDS, "d", 4)
    if not isinstance(got, (list, tuple)) or len(got) != 4:
        checks.fail(f"nearest_neighbors(..., k=4) should return a list of 4 tokens, got {checks.describe(got)}.")
    if "d" in got:
        checks.fail(f"nearest_neighbors(..., 'd', 4) gave {list(got)}: the token itself (similarity 1) must be left out.")
    sims = {w: float(table[i] @ table[3] / np.linalg.norm(table[i]) / np.linalg.norm(table[3])) for i, w in enumerate(WORDS) if w != "d"}
    want = sorted(sims, key=lambda w: -sims[w])
    if as_list(got) != want:
        checks.fail(f"nearest_neighbors(..., 'd', 4) gave {list(got)}, expected {want}.")


@pytest.mark.unit("nearest_neighbors")
@pytest.mark.points(5)
def test_nearest_neighbors_ties_in_vocabulary_order(student):
    """equal similarities keep vocabulary order"""
    table = np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 3.0], [1.0, 1.0], [3.0, 0.0]])
    got = student.call("nearest_neighbors", table, WORDS, "b", 4)
    want = ["d", "a", "c", "e"]
    if as_list(got) != want:
        checks.fail(f"nearest_neighbors(..., 'b', 4) gave {got!r}, expected {want}: 'a', 'c' and 'e' are exactly equally similar to 'b', and ties keep vocabulary order (a stable sort).")


@pytest.mark.unit("nearest_neighbors")
@pytest.mark.points(2)
@pytest.mark.parametrize("token, k", [("z", 2), ("a", 0), ("a", 5)], ids=["unknown-token", "k=0", "k=len(vocab)"])
def test_nearest_neighbors_rejects_bad_arguments(student, token, k):
    """ValueError for an unknown token or k outside 1..len(vocab)-1"""
    outcome = student.outcome("nearest_neighbors", np.eye(5), WORDS, token, k)
    if outcome.raised != "ValueError":
        checks.fail(f"nearest_neighbors(..., token={token!r}, k={k}) should raise ValueError, but it {'raised ' + outcome.raised if outcome.raised else 'returned ' + repr(outcome.value)}.")
