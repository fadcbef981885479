"""Hidden suite for 04_embeddings: one-hot versus embeddings.

100 points: the lookup equals a one-hot product, the weight counts, the embedding
language model (shapes, parameters, an Embedding layer whose gradient touches only
the rows that occur), its training loop against the reference's from the same
weights, and nearest neighbours by cosine similarity on crafted tables.

The kit's model is built in the reference child (rnnkit_grader.reference.hello) and
reaches the student's child as data (model.to_json() and weights). The student's
child hands back what the units returned or built (losses, trained weights, a model's
layer names, weights, outputs and gradients); whether the model is the right one,
which embedding rows the gradient touches and what a trained model predicts are
decided here or in the reference child. Error paths earn points only together with
the unit's values, and feedback never prints the value a hidden input should give.
"""

import numpy as np
import pytest

from rnnkit_grader import checks
from rnnkit_child.probes import hello as probes
from rnnkit_grader.reference import hello as kit_probes

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
    # The second table has rows no id reaches: its vocabulary (table.shape[0]) is not ids.max() + 1.
    for rows, top in ((6, 6), (8, 4)):
        table = rng.standard_normal((rows, 3))
        ids = rng.integers(0, top, size=shape)
        if ids.size:
            ids.flat[0] = top - 1
        outcome = student.outcome("embedding_lookup", ids, table)
        if top < rows and outcome.error is not None:
            checks.fail(
                f"embedding_lookup raised {outcome.raised} for ids that don't reach the table's last rows (a table of {rows} rows, "
                f"ids below {top}): the vocabulary size is table.shape[0], not a size read off the ids (ids.max() + 1)."
            )
        got = checks.array(student.call("embedding_lookup", ids, table), "embedding_lookup", "the result", shape=shape + (3,))
        want = np.eye(rows)[ids] @ table
        if not np.allclose(got, want, rtol=1e-12, atol=1e-12):
            checks.fail(f"embedding_lookup: wrong vectors for ids of shape {shape}; vectors[s] must be table[ids[s]] (the row of the id).")
        if got.dtype != table.dtype:
            checks.fail(f"embedding_lookup: the result has dtype {got.dtype}; keep the table's dtype ({table.dtype}).")


# ---- input_param_counts (14 points) ---------------------------------------------------


def count_problem(got, V, E, H):
    """'' when (onehot, embedding) are V*H and V*E + E*H, else what is wrong (never the right numbers)."""
    if not isinstance(got, tuple) or len(got) != 2:
        return f"input_param_counts should return a tuple of 2 counts (onehot, embedding), but it returned {checks.describe(got)}."
    for g in got:  # counts are whole numbers: ints, as the docstring says, never floats
        if isinstance(g, bool) or not (isinstance(g, int) or (isinstance(g, np.ndarray) and g.size == 1 and g.dtype.kind in "iu")):
            return f"input_param_counts({V}, {E}, {H}) should return two ints, but a count is {checks.describe(g)} (a count of weights is a whole number: use integer arithmetic)."
    values = [checks.scalar(g, "input_param_counts", "a count") for g in got]
    want = (V * H, V * E + E * H)
    if values == list(want):
        return ""
    wrong = [name for name, v, w in zip(("onehot", "embedding"), values, want) if v != w]
    how = ", ".join(f"{name} is too {'high' if v > w else 'low'}" for name, v, w in zip(("onehot", "embedding"), values, want) if v != w)
    hint = ""
    if values[1] == V * E:
        hint = " The embedding count leaves out the E*H input kernel that reads the vectors."
    elif values[0] == V * H + H or values[1] == V * E + E * H + H:
        hint = " Biases are excluded."
    return f"input_param_counts({V}, {E}, {H}) gave {tuple(got)}: {how} ({' and '.join(wrong)} wrong).{hint}"


@pytest.mark.unit("input_param_counts")
@pytest.mark.points(7)
@pytest.mark.parametrize("V, E, H", [(5, 4, 8), (10000, 100, 256)])
def test_input_param_counts(student, V, E, H):
    """(V*H, V*E + E*H): input-side weights without biases"""
    # each test also checks a second set of sizes, so that no fixed answer passes it
    for v, e, h in ((V, E, H), (V + 7, E + 3, H + 5)):
        problem = count_problem(student.call("input_param_counts", v, e, h), v, e, h)
        if problem:
            checks.fail(problem)


# ---- build_embedding_lm (26 points) ---------------------------------------------------


def check_built(student, reference, memo, V, E, H, cell, ids, projection=None):
    """build_embedding_lm(V, E, H, cell) computes what Embedding, one `cell` layer and Dense(V) compute, with weights the suite loads.

    Returns the student's result and the kit model's (outputs, and gradients when a projection is given)."""
    key = ("build", V, E, H, cell, projection is not None)
    if key not in memo:
        memo[key] = None
        call = f"build_embedding_lm({V}, {E}, {H}, {cell!r})"
        want = reference.probe(kit_probes.kit_shapes, cell=cell, hidden=H, embed_dim=E, vocab_size=V)
        weights = suite_weights(want)
        got = student.probe(probes.build, unit="build_embedding_lm", builder="build_embedding_lm", args=[V, E, H, cell], x=ids, weights=weights, projection=projection)
        out = got.get("outputs") if isinstance(got, dict) else None
        want_shape = ids.shape + (V,)
        if not isinstance(out, np.ndarray) or out.shape != want_shape:
            shape = tuple(out.shape) if isinstance(out, np.ndarray) else checks.describe(out)
            checks.fail(f"{call} maps ids of shape {ids.shape} to {shape}, expected {want_shape}.")
        layers = got.get("layers")
        if not isinstance(layers, list) or "Embedding" not in layers:
            checks.fail(f"build_embedding_lm: the model has no keras.layers.Embedding (layers: {layers}).")
        shapes = got.get("shapes")
        if shapes != want:
            how = checks.parameter_gap(shapes, want)
            hint = ""
            for e, h, ignored in ((4, 8, "embed_dim and hidden_size"), (4, H, "embed_dim"), (E, 8, "hidden_size")):
                if (e, h) != (E, H) and shapes == reference.probe(kit_probes.kit_shapes, cell=cell, hidden=h, embed_dim=e, vocab_size=V):
                    hint = f" Its sizes are the defaults' whatever is passed: build the layers from the {ignored} arguments."
                    break
            checks.fail(f"{call} has {how} an Embedding {V}x{E}, one {cell.upper()} of {H} units and Dense({V}). Layers: {layers}.{hint}")
        kit = reference.probe(
            kit_probes.kit_outputs, weights=weights, x=ids, cell=cell, hidden=H, embed_dim=E, vocab_size=V, projection=projection
        )
        if not np.allclose(out, kit["outputs"], rtol=1e-4, atol=1e-5):
            checks.fail(
                f"{call}: with weights of those shapes loaded, the model's outputs are not those of Embedding, one {cell.upper()} layer "
                f"(return_sequences=True) and Dense({V}); the model should return logits (no softmax, no extra layers)."
            )
        memo[key] = (got, kit)
    if memo[key] is None:
        checks.fail(f"build_embedding_lm({V}, {E}, {H}, {cell!r}) does not build the model yet (see the build tests).")
    return memo[key]


def suite_weights(shapes):
    """Weights the suite chooses for a model of the kit's shapes (so outputs can't be matched without computing)."""
    rng = np.random.default_rng(99)
    return [(rng.standard_normal(s) * 0.5).astype(np.float32) for s in shapes]


def build_ids(batch=3, time=5, V=7):
    return np.random.default_rng(21).integers(0, V, size=(batch, time)).astype(np.int32)


@pytest.mark.unit("build_embedding_lm")
@pytest.mark.points(4)
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_build_embedding_lm(student, reference, memo, cell):
    """ids (batch, time) -> Embedding -> one recurrent layer -> logits (batch, time, V)"""
    check_built(student, reference, memo, 7, 4, 8, cell, build_ids())
    check_built(student, reference, memo, 6, 3, 5, cell, build_ids(V=6))  # embed_dim and hidden_size away from their defaults


@pytest.mark.unit("build_embedding_lm")
@pytest.mark.points(4)
def test_build_embedding_lm_rejects_unknown_cell(student, reference, memo):
    """ValueError for a cell other than rnn, gru, lstm"""
    try:
        check_built(student, reference, memo, 7, 4, 8, "rnn", build_ids())
    except checks.GradingFailure:
        checks.fail("build_embedding_lm: the error path earns its points only once build_embedding_lm(7, 4, 8, 'rnn') builds the right model (see the build tests).")
    outcome = student.outcome("build_embedding_lm", 5, 4, 8, "cnn")
    if outcome.raised != "ValueError":
        checks.fail(f'build_embedding_lm(cell="cnn") should raise ValueError, but it {"raised " + outcome.raised if outcome.raised else "returned a model"}.')


@pytest.mark.unit("build_embedding_lm")
@pytest.mark.points(10)
def test_embedding_gradient_touches_only_used_rows(student, reference, memo):
    """the loss gradient of the embedding table is non-zero exactly on the rows of the ids used"""
    ids = np.array([[1, 3, 5, 3], [5, 1, 1, 3]], dtype=np.int32)
    projection = np.random.default_rng(22).standard_normal(ids.shape + (9,)).astype(np.float32)
    got, kit = check_built(student, reference, memo, 9, 4, 8, "rnn", ids, projection=projection)
    grads = got.get("grads")
    if not isinstance(grads, list) or len(grads) != len(kit["grads"]) or not all(
        isinstance(g, np.ndarray) and g.shape == k.shape and np.allclose(g, k, rtol=1e-4, atol=1e-6) for g, k in zip(grads, kit["grads"])
    ):
        checks.fail("build_embedding_lm: the gradients through the model differ from those of Embedding, SimpleRNN and Dense with the same weights (are all its weights trainable?).")
    rows = [int(i) for i in np.flatnonzero(np.abs(grads[0]).sum(axis=1) > 0)]
    if rows != [1, 3, 5]:
        checks.fail(f"build_embedding_lm: the embedding gradient is non-zero on rows {rows}, but the batch uses ids 1, 3 and 5 only.")


# ---- train_embedding_lm (20 points) ---------------------------------------------------

CURVE_STEPS = 15
OTHER_RATE = 0.03  # a learning rate away from train_embedding_lm's default (0.1)
# The reference reaches "ihello" within a few steps for seeds 0-4 (Adam, lr 0.1, E=4,
# H=8); 60 steps leave a wide margin.
LEARN_STEPS = 60


number = checks.number  # a returned loss as a float, or None when it is not a single finite real number


@pytest.mark.unit("train_embedding_lm")
@pytest.mark.points(10)
def test_train_embedding_lm_loss_curve(student, reference):
    """Adam at the given rate from the same weights: the loss curve matches the reference's"""
    # two starts, so that no fixed curve passes: the first at the default rate (learning_rate not
    # passed), the second at another rate, so that a loop that ignores learning_rate shows
    for seed, rate in ((0, None), (4, OTHER_RATE)):
        model = reference.probe(kit_probes.model_spec, seed=seed, embed_dim=4)
        kw = dict(model=model, x=X_IDS, y=Y_IDS, steps=CURVE_STEPS, unit_name="train_embedding_lm", learning_rate=rate)
        got = student.probe(probes.train, unit="train_embedding_lm", **kw)
        want = [number(v) for v in reference.probe(probes.train, **kw)["losses"]]
        losses = [number(v) for v in got.get("losses", [])]
        if len(losses) != CURVE_STEPS or any(v is None for v in losses):
            checks.fail(f"train_embedding_lm(..., steps={CURVE_STEPS}) returned {len(losses)} values; expected one loss per step.")
        if not np.allclose(losses, want, rtol=1e-3, atol=1e-5):
            first = checks.first_departure(losses, want, rtol=1e-3, atol=1e-5)
            hint = " The loss never changes: apply the gradients." if np.allclose(losses, losses[0]) else ""
            if rate is not None and not hint:
                at_default = [number(v) for v in reference.probe(probes.train, **dict(kw, learning_rate=None))["losses"]]
                if np.allclose(losses, at_default, rtol=1e-3, atol=1e-5):
                    hint = f" Called with learning_rate={rate}, it trains at the default rate 0.1: give Adam the learning_rate argument."
            if first == 0 and np.isclose(losses[0], want[0] * X_IDS.size, rtol=1e-4):
                hint = " The loss is summed over positions; take the mean."
            off = checks.band(checks.relative(losses[first], want[first]), 1e-3)
            called = "" if rate is None else f" with learning_rate={rate}"
            checks.fail(f"train_embedding_lm{called}: the loss curve departs from the reference's at step {first} ({off}).{hint}")


@pytest.mark.unit("train_embedding_lm")
@pytest.mark.points(10)
def test_train_embedding_lm_learns_ihello(student, reference):
    """within the step budget the embedding model predicts "ihello" """
    model = reference.probe(kit_probes.model_spec, seed=3, embed_dim=4)
    got = student.probe(probes.train, unit="train_embedding_lm", model=model, x=X_IDS, y=Y_IDS, steps=LEARN_STEPS, unit_name="train_embedding_lm")
    weights = got.get("weights") if isinstance(got, dict) else None
    shapes = [np.shape(w) for w in model["weights"]]
    if not isinstance(weights, list) or len(weights) != len(shapes) or any(
        not isinstance(w, np.ndarray) or w.dtype.kind != "f" or w.shape != s or not np.all(np.isfinite(w)) for w, s in zip(weights, shapes)
    ):
        checks.fail("train_embedding_lm: after training the model's weights are missing, reshaped or not finite; train the model you are given, in place.")
    logits = reference.probe(kit_probes.logits, model=model, x=X_IDS, weights=[w.astype(np.float32) for w in weights])
    text = "".join(VOCAB[i] for i in np.argmax(logits, axis=-1).reshape(-1))
    if text != "ihello":
        checks.fail(f'train_embedding_lm: after {LEARN_STEPS} steps the model predicts {text!r}, not "ihello".')


# ---- nearest_neighbors (25 points) ----------------------------------------------------

WORDS = ["a", "b", "c", "d", "e"]
COSINE_TABLE = np.array([[1.0, 0.0], [10.0, 10.0], [1.0, 0.1], [-1.0, 0.2], [0.5, -0.6]])
TIED_TABLE = np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 3.0], [1.0, 1.0], [3.0, 0.0]])


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def cosine_order(table, token):
    index = WORDS.index(token)
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    sims = np.round(unit @ unit[index], 12)
    sims[index] = -np.inf
    return [WORDS[i] for i in np.argsort(-sims, kind="stable")]


def first_wrong(got, want):
    got = as_list(got)
    if not isinstance(got, list):
        return "the result is not a list"
    if len(got) != len(want):
        return f"it holds {len(got)} tokens, not {len(want)}"
    wrong = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    return f"the first wrong position is {wrong[0]}" if wrong else ""


def neighbours_value_ok(student):
    """Does at least one of the ordering checks pass? (the error path's points come only with a value)"""
    cases = [(COSINE_TABLE, "a", 3), (np.random.default_rng(2).standard_normal((5, 3)), "d", 4), (TIED_TABLE, "b", 4)]
    for table, token, k in cases:
        outcome = student.outcome("nearest_neighbors", table, WORDS, token, k)
        if outcome.error is None and as_list(outcome.value) == cosine_order(table, token)[:k]:
            return True
    return False


@pytest.mark.unit("nearest_neighbors")
@pytest.mark.points(9)
def test_nearest_neighbors_by_cosine(student):
    """most similar first, by cosine similarity (not by dot product or distance)"""
    for token, k in (("a", 3), ("e", 2)):  # two queries, so that no fixed list passes
        got = student.call("nearest_neighbors", COSINE_TABLE, WORDS, token, k)
        want = cosine_order(COSINE_TABLE, token)[:k]
        if as_list(got) != want:
            hint = ""
            if isinstance(as_list(got), list) and token in as_list(got):
                hint = " The token itself is in the list: leave it out."
            elif token == "a" and isinstance(as_list(got), list) and as_list(got)[:1] == ["b"]:
                hint = " 'b' is long but points elsewhere: it wins by dot product, not by cosine. Divide by the vectors' norms."
            checks.fail(f"nearest_neighbors(table, vocab, {token!r}, {k}) gave {got!r}: {first_wrong(got, want)} in the order of cosine similarity.{hint}")


@pytest.mark.unit("nearest_neighbors")
@pytest.mark.points(5)
def test_nearest_neighbors_excludes_the_token(student):
    """the token is never its own neighbour"""
    table = np.random.default_rng(2).standard_normal((5, 3))
    for token in ("d", "b"):  # two queries, so that no fixed list passes
        got = student.call("nearest_neighbors", table, WORDS, token, 4)
        if not isinstance(got, list) or len(got) != 4:
            checks.fail(f"nearest_neighbors(..., k=4) should return a list of 4 tokens, got {checks.describe(got)}.")
        if token in got:
            checks.fail(f"nearest_neighbors(..., {token!r}, 4) gave {list(got)}: the token itself (similarity 1) must be left out.")
        want = cosine_order(table, token)[:4]
        if as_list(got) != want:
            checks.fail(f"nearest_neighbors(..., {token!r}, 4) gave {list(got)}: {first_wrong(got, want)} in the order of cosine similarity.")


@pytest.mark.unit("nearest_neighbors")
@pytest.mark.points(5)
def test_nearest_neighbors_ties_in_vocabulary_order(student):
    """equal similarities keep vocabulary order"""
    for token in ("b", "a"):  # two queries, so that no fixed list passes
        got = student.call("nearest_neighbors", TIED_TABLE, WORDS, token, 4)
        want = cosine_order(TIED_TABLE, token)[:4]
        if as_list(got) != want:
            checks.fail(f"nearest_neighbors(..., {token!r}, 4) gave {got!r}: {first_wrong(got, want)}. Some of the other tokens are exactly equally similar to {token!r}, and ties keep vocabulary order (a stable sort).")


@pytest.mark.unit("nearest_neighbors")
@pytest.mark.points(2)
@pytest.mark.parametrize("token, k", [("z", 2), ("a", 0), ("a", 5)], ids=["unknown-token", "k=0", "k=len(vocab)"])
def test_nearest_neighbors_rejects_bad_arguments(student, token, k):
    """ValueError for an unknown token or k outside 1..len(vocab)-1"""
    outcome = student.outcome("nearest_neighbors", np.eye(5), WORDS, token, k)
    if outcome.raised != "ValueError":
        checks.fail(f"nearest_neighbors(..., token={token!r}, k={k}) should raise ValueError, but it {'raised ' + outcome.raised if outcome.raised else 'returned ' + repr(outcome.value)}.")
    if not neighbours_value_ok(student):
        checks.fail("nearest_neighbors: the argument checks earn points only together with its values, and none of the ordering checks passes yet (see those tests).")
