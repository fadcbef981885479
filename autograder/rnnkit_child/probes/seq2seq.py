"""Child-side probes for 08_seq2seq: build, run and train encoder-decoders.

The calling convention is the notebook's: `state = encoder(source_ids)` and
`logits, state = decoder([token_ids, state])`, token ids of shape (batch, 1), logits of
shape (batch, vocab_size); the state is whatever the encoder returns (one tensor for a
GRU, a list [h, c] for an LSTM) and is passed on as it is. `known_models` makes an
encoder-decoder whose next id is a known function of the fed id and the state, so the
grader can work out what greedy decoding must return. Every probe returns plain data
(arrays, numbers, strings); the grader decides.
"""

import numpy as np

PAD, START, END, FIRST_DIGIT = 0, 1, 2, 3


def _keras():
    import keras

    return keras


def _error(exc):
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def _numpy(value):
    """A tensor (or a nest of them) as float64 NumPy arrays, in a flat list."""
    keras = _keras()
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _numpy(v)]
    if isinstance(value, dict):
        return [a for k in sorted(value) for a in _numpy(value[k])]
    return [np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)]


def _tensor(ids):
    return _keras().ops.convert_to_tensor(np.asarray(ids, dtype=np.int32))


def _build(namespace, vocab_size, units, seed):
    _keras().utils.set_random_seed(seed)
    built = namespace["build_seq2seq"](vocab_size, units=units)
    if not isinstance(built, (tuple, list)) or len(built) != 3:
        raise TypeError(f"build_seq2seq returned {type(built).__name__}, not (train_model, encoder, decoder)")
    return built


def _step_logits(decoder, ids, state):
    """One decoder step on ids (batch,): (logits as (batch, -1) float64, new state)."""
    out = decoder([_tensor(np.asarray(ids).reshape(-1, 1)), state])
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        raise TypeError(f"decoder([token_ids, state]) returned {type(out).__name__} of length {len(out) if isinstance(out, (list, tuple)) else '-'}, not [logits, state]")
    logits, state = out
    logits = _numpy(logits)[0]
    return logits.reshape(len(logits), -1), state


def shift_in_place(namespace, targets, start_id):
    """The array given to shift_right(targets, start_id), as it is after the call."""
    targets = np.array(targets)
    namespace["shift_right"](targets, start_id)
    return targets


def shapes(namespace, vocab_size, units, batch, source_len, target_lens):
    """What build_seq2seq makes: model types, the training model's output shape for each
    decoder-input length, the encoder's state shapes, the decoder's output shapes."""
    keras = _keras()
    train_model, encoder, decoder = _build(namespace, vocab_size, units, 0)
    info = {name: isinstance(m, keras.Model) for name, m in (("train_is_model", train_model), ("encoder_is_model", encoder), ("decoder_is_model", decoder))}
    info["types"] = [type(m).__name__ for m in (train_model, encoder, decoder)]
    rng = np.random.default_rng(0)
    source = rng.integers(FIRST_DIGIT, vocab_size, size=(batch, source_len))
    info["train"] = {}
    for length in target_lens:
        dec_in = rng.integers(FIRST_DIGIT, vocab_size, size=(batch, length))
        dec_in[:, 0] = START
        try:
            out = train_model([_tensor(source), _tensor(dec_in)])
            info["train"][str(length)] = list(np.shape(out)) if not isinstance(out, (list, tuple)) else f"a {type(out).__name__} of {len(out)} outputs"
            if not isinstance(out, (list, tuple)):
                out = _numpy(out)[0]
                info["train_probabilities"] = bool(np.all(out >= 0) and np.allclose(out.sum(-1), 1.0, atol=1e-4))
        except Exception as exc:
            info["train"][str(length)] = _error(exc)
    try:
        state = encoder(_tensor(source))
        info["state"] = [list(a.shape) for a in _numpy(state)]
        info["state_is_list"] = isinstance(state, (list, tuple))
    except Exception as exc:
        info["state"] = _error(exc)
        return info
    try:
        out = decoder([_tensor(np.full((batch, 1), START)), state])
        if isinstance(out, (list, tuple)) and len(out) == 2:
            info["decoder_logits"] = list(np.shape(_numpy(out[0])[0]))
            info["decoder_state"] = [list(a.shape) for a in _numpy(out[1])]
        else:
            info["decoder_logits"] = f"decoder([token_ids, state]) returned {type(out).__name__}, not [logits, state]"
    except Exception as exc:
        info["decoder_logits"] = _error(exc)
    return info


def weight_sharing(namespace, vocab_size, units):
    """Which weights the three models share, by variable identity.

    Returns {"encoder_own", "decoder_own": paths of the encoder's / decoder's weights that
    train_model doesn't have; "train_unused": paths of train_model's weights that neither
    uses; "counts": numbers of weights of the three models}.
    """
    train_model, encoder, decoder = _build(namespace, vocab_size, units, 0)
    train = {id(v) for v in train_model.weights}
    inference = {id(v) for v in encoder.weights} | {id(v) for v in decoder.weights}
    return {
        "encoder_own": [str(v.path) for v in encoder.weights if id(v) not in train],
        "decoder_own": [str(v.path) for v in decoder.weights if id(v) not in train],
        "train_unused": [str(v.path) for v in train_model.weights if id(v) not in inference],
        "counts": [len(m.weights) for m in (train_model, encoder, decoder)],
    }


def consistency(namespace, vocab_size, units, sources, decoder_inputs, other_sources, seed=0):
    """The training model's logits and the encoder-decoder's, step by step, on the same ids.

    Returns {"train": (N, T, V) logits for (sources, decoder_inputs), "other": the same for
    other_sources, "steps": (N, T, V) logits from encoder(sources) then one decoder call per
    decoder-input column, feeding decoder_inputs[:, t]} (or error strings).
    """
    train_model, encoder, decoder = _build(namespace, vocab_size, units, seed)
    result = {}
    try:
        result["train"] = _numpy(train_model([_tensor(sources), _tensor(decoder_inputs)]))[0]
        result["other"] = _numpy(train_model([_tensor(other_sources), _tensor(decoder_inputs)]))[0]
    except Exception as exc:
        result["train"] = _error(exc)
    try:
        state = encoder(_tensor(sources))
        steps = []
        for t in range(np.shape(decoder_inputs)[1]):
            logits, state = _step_logits(decoder, np.asarray(decoder_inputs)[:, t], state)
            steps.append(logits)
        result["steps"] = np.stack(steps, axis=1)
    except Exception as exc:
        result["steps"] = _error(exc)
    return result


def kit_greedy(encoder, decoder, sources, max_len):
    """The kit's greedy decoding: argmax fed back, each row cut at its first END (excluded)."""
    sources = np.asarray(sources)
    state = encoder(_tensor(sources))
    ids = np.full(len(sources), START)
    generated = np.zeros((len(sources), max_len), dtype=np.int64)
    for t in range(max_len):
        logits, state = _step_logits(decoder, ids, state)
        ids = np.argmax(logits, axis=-1)
        generated[:, t] = ids
        if np.all((generated[:, : t + 1] == END).any(axis=1)):
            break
    rows = []
    for row in generated:
        stop = np.flatnonzero(row == END)
        rows.append(row[: stop[0] if stop.size else max_len])
    return rows


def training_run(namespace, vocab_size, units, sources, targets, decoder_inputs, eval_sources, eval_decoder_inputs, epochs, batch_size, learning_rate, seed, max_len):
    """The kit's training of build_seq2seq's training model, then its answers on held-out data.

    Adam with a cosine decay of `learning_rate` to 0 over the budget, sparse cross-entropy
    on the logits with PAD targets weighted 0, shuffled batches, everything seeded. Returns
    {"teacher_forced": argmax ids (N, T) of the training model on (eval_sources,
    eval_decoder_inputs), "decoded": the kit's greedy decoding of eval_sources with the
    trained encoder and decoder (or an error string), "losses": per-epoch losses, "seconds"}.
    """
    import time

    keras = _keras()
    train_model, encoder, decoder = _build(namespace, vocab_size, units, seed)
    targets = np.asarray(targets, dtype=np.int32)
    steps = epochs * -(-len(targets) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    train_model.compile(optimizer=keras.optimizers.Adam(schedule), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    history = train_model.fit(
        [np.asarray(sources, np.int32), np.asarray(decoder_inputs, np.int32)], targets,
        sample_weight=(targets != PAD).astype(np.float32), batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
    )
    seconds = time.perf_counter() - start
    logits = train_model.predict([np.asarray(eval_sources, np.int32), np.asarray(eval_decoder_inputs, np.int32)], batch_size=500, verbose=0)
    result = {
        "teacher_forced": np.argmax(np.asarray(logits), axis=-1).astype(np.int64),
        "losses": [float(v) for v in history.history["loss"]],
        "seconds": seconds,
    }
    try:
        result["decoded"] = kit_greedy(encoder, decoder, eval_sources, max_len)
    except Exception as exc:
        result["decoded"] = _error(exc)
    return result


# ---- an encoder-decoder with known behaviour, for greedy_decode ----------------------------


def known_next(ids, remaining, offset):
    """The id the known decoder predicts after `ids`: a digit while remaining > 0, then END."""
    ids = np.asarray(ids, dtype=np.int64)
    digit = FIRST_DIGIT + (3 * ids + np.asarray(offset, dtype=np.int64)) % 10
    return np.where(np.asarray(remaining) > 0, digit, END)


def known_models(vocab_size=13, split_state=False):
    """(encoder, decoder) whose greedy decoding the grader can work out.

    The encoder's state holds r = the number of non-PAD source ids and v = the first
    source id minus FIRST_DIGIT. Fed id t, the decoder predicts FIRST_DIGIT + (3 t + v) mod 10
    while r > 0 and END once r <= 0 (logit 3; a runner-up id gets 2.5, so sampling would
    show), and returns the state with r - 1. With split_state the state is a list [r, v]
    (like an LSTM's [h, c]); otherwise one (batch, 2) tensor.
    """
    keras = _keras()
    ops = keras.ops

    def encode(source):
        source = ops.cast(source, "int32")
        length = ops.sum(ops.cast(ops.not_equal(source, PAD), "float32"), axis=1, keepdims=True)
        offset = ops.cast(source[:, :1] - FIRST_DIGIT, "float32")
        return [length, offset] if split_state else ops.concatenate([length, offset], axis=1)

    def step(inputs):
        token, state = inputs
        remaining, offset = state if split_state else (state[:, :1], state[:, 1:])
        token = ops.cast(ops.reshape(token, (-1, 1)), "int32")
        digit = FIRST_DIGIT + ops.mod(3 * token + ops.cast(offset, "int32"), 10)
        nxt = ops.where(remaining > 0, digit, ops.full_like(digit, END))[:, 0]
        runner_up = FIRST_DIGIT + ops.mod(nxt + 4, 10)
        logits = 3.0 * ops.one_hot(nxt, vocab_size) + 2.5 * ops.one_hot(runner_up, vocab_size)
        left = remaining - 1.0
        return [logits, [left, offset] if split_state else ops.concatenate([left, offset], axis=1)]

    source = keras.Input(shape=(None,), dtype="int32")
    encoder = keras.Model(source, keras.layers.Lambda(encode)(source), name="known_encoder")
    token = keras.Input(shape=(1,), dtype="int32")
    state = [keras.Input(shape=(1,)), keras.Input(shape=(1,))] if split_state else keras.Input(shape=(2,))
    logits, new_state = keras.layers.Lambda(step)([token, state])
    decoder = keras.Model([token, state], [logits, new_state], name="known_decoder")
    return encoder, decoder


def greedy_known(namespace, sources, max_len, split_state=False):
    """Student's greedy_decode(encoder, decoder, sources, max_len) on the known models."""
    encoder, decoder = known_models(split_state=split_state)
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


def greedy_known_outcome(namespace, sources, max_len, split_state=False):
    """Like greedy_known, but an exception comes back as {"error": text}, a result as {"value": ...}."""
    try:
        return {"value": greedy_known(namespace, sources, max_len, split_state)}
    except Exception as exc:
        return {"error": _error(exc)}
