"""Reference-only probes for 08_seq2seq: run, train and decode a student's encoder-decoder as data.

The student's child sends what build_seq2seq made as data (probes/seq2seq.py `export`:
three Keras configs, the weights, and which of train_model's weight variables the
encoder and the decoder hold). Here the three models are rebuilt with Keras's code
(safe mode, Keras classes only: rnnkit_grader.reference.timeseries `_rebuild`), the
encoder's and decoder's shared weights are taken from train_model's (after training,
from the trained ones, which is what sharing the variables means), and the models are
run step by step, trained by the kit and decoded by the kit's greedy loop. The
held-out data of the training run never enters the student's child; the suite
computes the exact matches and every other figure from what comes back.
"""

import time

import numpy as np

from rnnkit_child.probes._common import _keras, _error

from rnnkit_grader.reference.timeseries import _rebuild

PAD, START, END, FIRST_DIGIT = 0, 1, 2, 3


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


class Unbuildable(Exception):
    pass


def _inference_weights(spec, which, train_weights):
    """The encoder's (which=1) or decoder's (2) weights: train_model's where it shares them, its own elsewhere."""
    own = spec["weights"][which]
    shared = spec["shared"][which - 1]
    if len(shared) != len(own):
        raise Unbuildable("the weight sharing map does not match the weights")
    return [train_weights[i] if 0 <= i < len(train_weights) else w for i, w in zip(shared, own)]


def _models(spec):
    """(train_model, encoder, decoder) rebuilt from the student's export."""
    names = ("train_model", "encoder", "decoder")
    models = []
    for name, config, why, kind in zip(names, spec["json"], spec["json_errors"], spec["types"]):
        if not isinstance(config, str):
            raise Unbuildable(f"{name} is a {kind} that Keras can't describe ({why}); return three keras.Models made of Keras's layers")
        try:
            models.append(_rebuild(config))
        except Exception as exc:
            raise Unbuildable(f"{name} could not be rebuilt from its Keras config ({_error(exc)}); build it from Keras's own layers") from None
    train_model, encoder, decoder = models
    try:
        train_model.set_weights([np.asarray(w) for w in spec["weights"][0]])
        _sync(spec, train_model, encoder, decoder)
    except Unbuildable:
        raise
    except Exception as exc:
        raise Unbuildable(f"the weights do not fit the rebuilt models ({_error(exc)})") from None
    return train_model, encoder, decoder


def _sync(spec, train_model, encoder, decoder):
    """Give the encoder and the decoder train_model's current values of the weights they share."""
    current = [np.asarray(w) for w in train_model.get_weights()]
    encoder.set_weights([np.asarray(w) for w in _inference_weights(spec, 1, current)])
    decoder.set_weights([np.asarray(w) for w in _inference_weights(spec, 2, current)])


def _step_logits(decoder, ids, state):
    """One decoder step on ids (batch,): (logits as (batch, -1) float64, new state)."""
    out = decoder([_tensor(np.asarray(ids).reshape(-1, 1)), state])
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        raise TypeError(f"decoder([token_ids, state]) returned {type(out).__name__} of length {len(out) if isinstance(out, (list, tuple)) else '-'}, not [logits, state]")
    logits, state = out
    logits = _numpy(logits)[0]
    return logits.reshape(len(logits), -1), state


def measure_shapes(namespace, spec, vocab_size, batch, source_len, target_lens):
    """The rebuilt models' output shapes: the training model's for each decoder-input length (and
    whether its outputs look like probabilities), the encoder's state, the decoder's outputs."""
    keras = _keras()
    try:
        train_model, encoder, decoder = _models(spec)
    except Unbuildable as exc:
        return {"error": str(exc)}
    info = {"types": list(spec["types"])}
    for name, model in (("train_is_model", train_model), ("encoder_is_model", encoder), ("decoder_is_model", decoder)):
        info[name] = isinstance(model, keras.Model)
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


def consistency(namespace, spec, sources, decoder_inputs, other_sources):
    """The training model's logits and the encoder-decoder's, step by step, on the same ids.

    Returns {"train": (N, T, V) logits for (sources, decoder_inputs), "other": the same for
    other_sources, "steps": (N, T, V) logits from encoder(sources) then one decoder call per
    decoder-input column, feeding decoder_inputs[:, t]} (or error strings), or {"error"}.
    """
    try:
        train_model, encoder, decoder = _models(spec)
    except Unbuildable as exc:
        return {"error": str(exc)}
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


def _kit_greedy(encoder, decoder, sources, max_len):
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


def training_run(namespace, spec, sources, targets, decoder_inputs, eval_sources, eval_decoder_inputs, epochs, batch_size, learning_rate, seed, max_len):
    """The kit's training of the exported training model, then its answers on held-out data.

    Adam with a cosine decay of `learning_rate` to 0 over the budget, sparse cross-entropy
    on the logits with PAD targets weighted 0, shuffled batches, everything seeded. Returns
    {"teacher_forced": argmax ids (N, T) of the training model on (eval_sources,
    eval_decoder_inputs), "decoded": the kit's greedy decoding of eval_sources with the
    trained encoder and decoder (or an error string), "losses": per-epoch losses, "seconds"},
    or {"error"}.
    """
    keras = _keras()
    try:
        train_model, encoder, decoder = _models(spec)
    except Unbuildable as exc:
        return {"error": str(exc)}
    targets = np.asarray(targets, dtype=np.int32)
    steps = epochs * -(-len(targets) // batch_size)
    try:
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
    except Exception as exc:
        return {"error": f"the kit's training of train_model failed: {_error(exc)}"}
    result = {
        "teacher_forced": np.argmax(np.asarray(logits), axis=-1).astype(np.int64),
        "losses": [float(v) for v in history.history["loss"]],
        "seconds": seconds,
    }
    try:
        _sync(spec, train_model, encoder, decoder)
        result["decoded"] = _kit_greedy(encoder, decoder, eval_sources, max_len)
    except Exception as exc:
        result["decoded"] = _error(exc)
    return result
