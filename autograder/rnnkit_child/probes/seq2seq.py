"""Child-side probes for 08_seq2seq: run the student's units and hand back what they made.

Nothing here trains, decodes or scores an encoder-decoder the way the kit does. What
build_seq2seq made leaves this process as data (`export`: each model's Keras config
from model.to_json(), the weights, and which of train_model's weight variables the
encoder and the decoder hold); the reference child (rnnkit_grader.reference.seq2seq)
rebuilds the three models from it with Keras's code, runs them, trains them and
decodes with them, and the suite computes every figure. `known_models` makes an
encoder-decoder that follows a transition table the suite sends (its next id a lookup of
the fed id and the state), for greedy_decode to run on: the ids it writes come back as
they are, and the suite, which alone holds the rule, works out what they should be.

The calling convention is the notebook's: `state = encoder(source_ids)` and
`logits, state = decoder([token_ids, state])`, token ids of shape (batch, 1), logits of
shape (batch, vocab_size); the state is whatever the encoder returns (one tensor for a
GRU, a list [h, c] for an LSTM) and is passed on as it is.
"""

import numpy as np

from rnnkit_child.probes._common import _keras, _error


def _build(namespace, vocab_size, units, seed):
    _keras().utils.set_random_seed(seed)
    built = namespace["build_seq2seq"](vocab_size, units=units)
    if not isinstance(built, (tuple, list)) or len(built) != 3:
        raise TypeError(f"build_seq2seq returned {type(built).__name__}, not (train_model, encoder, decoder)")
    return built


def _config(model):
    try:
        return model.to_json(), None
    except Exception as exc:  # not a Keras model, or one Keras can't describe
        return None, _error(exc)


def _variables(model):
    try:
        return list(model.weights)
    except Exception:
        return []


def export(namespace, vocab_size, units, seed=0):
    """build_seq2seq(vocab_size, units) after set_random_seed(seed), as data.

    {"types": the three objects' type names, "json": their configs (None where to_json
    failed), "json_errors", "weights": each model's weight values, "paths": each model's
    weight paths, "shared": for the encoder's and the decoder's weights, the index of the
    same variable among train_model's weights (-1 where train_model doesn't have it)}.
    """
    models = _build(namespace, vocab_size, units, seed)
    configs = [_config(m) for m in models]
    variables = [_variables(m) for m in models]
    train_index = {id(v): i for i, v in enumerate(variables[0])}
    return {
        "types": [f"{type(m).__module__}.{type(m).__qualname__}" for m in models],
        "json": [c for c, _ in configs],
        "json_errors": [e for _, e in configs],
        "weights": [[np.asarray(_keras().ops.convert_to_numpy(v)) for v in vs] for vs in variables],
        "paths": [[str(getattr(v, "path", getattr(v, "name", ""))) for v in vs] for vs in variables],
        "shared": [[train_index.get(id(v), -1) for v in vs] for vs in variables[1:]],
    }


def shift_in_place(namespace, targets, start_id):
    """shift_right(targets, start_id) on a copy of targets: what it returned ("result") and the
    array it was given, as it is after the call ("after")."""
    targets = np.array(targets)
    result = namespace["shift_right"](targets, start_id)
    try:
        result = np.asarray(result)
    except Exception:
        result = None
    return {"result": result, "after": targets}


# ---- an encoder-decoder with known behaviour, for greedy_decode ----------------------------


def known_models(rule, split_state=False):
    """(encoder, decoder) that follow `rule`, a transition table the suite sends as data.

    rule = {"next": int table (V, V), "runner_up": int table (V,), "logits": [top, second],
    "pad": id, "end": id}. The encoder's state holds r = the number of non-pad source ids
    and s = the first source id. Fed id t, the decoder gives next[t, s] the logit `top` while
    r > 0 and `end` once r <= 0, gives runner_up[that id] the logit `second` (so sampling
    would show), and returns the state with r - 1. With split_state the state is a list
    [r, s] (like an LSTM's [h, c]); otherwise one (batch, 2) tensor. A fed id outside the
    table is clipped into it. What the rule is, the suite alone says (and works out what
    greedy decoding must give).
    """
    keras = _keras()
    ops = keras.ops
    table = np.asarray(rule["next"], dtype=np.int32)
    runner_table = np.asarray(rule["runner_up"], dtype=np.int32)
    vocab_size = table.shape[0]
    top, second = (float(v) for v in rule["logits"])
    pad, end = int(rule["pad"]), int(rule["end"])

    def encode(source):
        source = ops.cast(source, "int32")
        length = ops.sum(ops.cast(ops.not_equal(source, pad), "float32"), axis=1, keepdims=True)
        first = ops.cast(source[:, :1], "float32")
        return [length, first] if split_state else ops.concatenate([length, first], axis=1)

    def step(inputs):
        token, state = inputs
        remaining, first = state if split_state else (state[:, :1], state[:, 1:])
        token = ops.clip(ops.cast(ops.reshape(token, (-1, 1)), "int32"), 0, vocab_size - 1)
        column = ops.clip(ops.cast(first, "int32"), 0, vocab_size - 1)
        digit = ops.take(ops.convert_to_tensor(table.reshape(-1)), token * vocab_size + column)
        nxt = ops.where(remaining > 0, digit, ops.full_like(digit, end))[:, 0]
        runner_up = ops.take(ops.convert_to_tensor(runner_table), nxt)
        logits = top * ops.one_hot(nxt, vocab_size) + second * ops.one_hot(runner_up, vocab_size)
        left = remaining - 1.0
        return [logits, [left, first] if split_state else ops.concatenate([left, first], axis=1)]

    source = keras.Input(shape=(None,), dtype="int32")
    encoder = keras.Model(source, keras.layers.Lambda(encode)(source), name="known_encoder")
    token = keras.Input(shape=(1,), dtype="int32")
    state = [keras.Input(shape=(1,)), keras.Input(shape=(1,))] if split_state else keras.Input(shape=(2,))
    logits, new_state = keras.layers.Lambda(step)([token, state])
    decoder = keras.Model([token, state], [logits, new_state], name="known_decoder")
    return encoder, decoder


def greedy_known(namespace, rule, sources, max_len, split_state=False):
    """Student's greedy_decode(encoder, decoder, sources, max_len) on known_models(rule)."""
    encoder, decoder = known_models(rule, split_state=split_state)
    out = namespace["greedy_decode"](encoder, decoder, np.asarray(sources, dtype=np.int32), max_len)
    if isinstance(out, (list, tuple)):
        return [_plain_ids(row) for row in out]
    return _plain_ids(out)


def _plain_ids(value):
    if type(value).__name__ in ("EagerTensor", "Variable", "Tensor"):
        return np.asarray(_keras().ops.convert_to_numpy(value))
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value)
        except (TypeError, ValueError):
            return value
    return value


def greedy_known_outcome(namespace, rule, sources, max_len, split_state=False):
    """Like greedy_known, but an exception comes back as {"error": text}, a result as {"value": ...}."""
    try:
        return {"value": greedy_known(namespace, rule, sources, max_len, split_state)}
    except Exception as exc:
        return {"error": _error(exc)}
