"""Reference-only probes for 06_char_rnn: the kit's char model, its loops, and measuring models.

The kit's model (Embedding, LSTM, Dense logits) is what build_char_model must make; its
TBPTT loop, the losses of each way of handling the state, greedy generation, logits and
cross-entropy for perplexity and TensorFlow's clipping are what the graded units compute:
they run only here, in the reference child. The kit's model reaches the student's child as
data (`kit_spec`: model.to_json() and weights). What comes back from there (a built model's
config and weights, the weights a student's training left) is rebuilt and run here; the
validation windows of the budgeted run never enter the student's child. The suite
computes the figures (perplexity, comparisons) from what this returns.
"""

import numpy as np

from rnnkit_grader import checks
from rnnkit_grader.reference.timeseries import _rebuild


def _keras():
    import keras

    return keras


def _error(exc):
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


def _kit_model(vocab_size, embed_dim, units, batch_size=None, stateful=False, weights=None, recurrent=True):
    """Embedding -> LSTM (return_sequences) -> Dense logits; recurrent=False leaves the LSTM out."""
    keras = _keras()
    ids = keras.Input(shape=(None,), batch_size=batch_size, dtype="int32")
    h = keras.layers.Embedding(vocab_size, embed_dim)(ids)
    if recurrent:
        h = keras.layers.LSTM(units, return_sequences=True, stateful=stateful)(h)
    model = keras.Model(ids, keras.layers.Dense(vocab_size)(h), name="kit_char_model")
    if weights is not None:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return model


def kit_weights(namespace, dims, seed, scale=0.5, recurrent=True, logits_bias=None):
    """Random weights for the kit's model, in its own order (model.get_weights()): each drawn from a
    normal distribution times `scale`, from numpy's default_rng(seed), float32. With logits_bias the
    output layer's kernel is zero and its bias `logits_bias`: the logits are that bias whatever the input."""
    vocab_size, embed_dim, units = dims
    model = _kit_model(vocab_size, embed_dim, units, recurrent=recurrent)
    rng = np.random.default_rng(seed)
    weights = [(rng.standard_normal(w.shape) * scale).astype(np.float32) for w in model.get_weights()]
    if logits_bias is not None:
        weights[-2] = np.zeros_like(weights[-2])
        weights[-1] = np.asarray(logits_bias, dtype=np.float32).reshape(weights[-1].shape)
    return weights


def kit_spec(namespace, dims, weights, batch_size=None, stateful=False, recurrent=True):
    """The kit's model with these weights, as data: {"json": model.to_json(), "weights"}."""
    vocab_size, embed_dim, units = dims
    model = _kit_model(vocab_size, embed_dim, units, batch_size=batch_size, stateful=stateful, weights=weights, recurrent=recurrent)
    return {"json": model.to_json(), "weights": [np.asarray(w, dtype=np.float32) for w in model.get_weights()]}


def _stateful_layers(model):
    found = []
    for layer in getattr(model, "layers", []):
        if getattr(layer, "stateful", False):
            found.append(layer)
        found.extend(_stateful_layers(layer))
    return found


def _reset_states(model):
    for layer in _stateful_layers(model):
        layer.reset_state()


def _numpy(value):
    return np.asarray(_keras().ops.convert_to_numpy(value))


def _mean_ce(logits, targets):
    return float(checks.nll(logits, targets).mean())


def _student_model(built):
    """The model of a student's export ({"type", "json", "json_error", "weights"}) with its weights."""
    if not isinstance(built, dict) or not isinstance(built.get("json"), str):
        kind = built.get("type") if isinstance(built, dict) else type(built).__name__
        why = built.get("json_error") if isinstance(built, dict) else None
        raise ValueError(f"build_char_model returned a {kind} that Keras can't describe{f' ({why})' if why else ''}; return a keras.Model made of Keras's layers")
    try:
        return _rebuild(built["json"], built.get("weights"))
    except Exception as exc:
        raise ValueError(f"the grader could not rebuild your model from its Keras config and weights ({_error(exc)}); build it from Keras's own layers") from None


# ---- clip_by_global_norm ----------------------------------------------------------


def tf_clip(namespace, grads, max_norm):
    """TensorFlow's clip_by_global_norm on float32 tensors: {"clipped", "norm"}."""
    import tensorflow as tf

    clipped, norm = tf.clip_by_global_norm([tf.constant(np.asarray(g, dtype=np.float32)) for g in grads], max_norm)
    return {"clipped": [np.asarray(c, dtype=np.float64) for c in clipped], "norm": float(norm)}


# ---- build_char_model -------------------------------------------------------------


def describe_built(namespace, built, x):
    """What a student's built model computes on x (twice, then after a reset), rebuilt here:
    {"first", "second", "after_reset", "weight_shapes", "stateful_layers", "input_batch"} or {"error"}."""
    try:
        model = _student_model(built)
        x = np.asarray(x, dtype=np.int32)
        first = _numpy(model(x))
        second = _numpy(model(x))
        _reset_states(model)
        return {
            "first": first,
            "second": second,
            "after_reset": _numpy(model(x)),
            "weight_shapes": [list(w.shape) for w in model.weights if w.trainable],
            "stateful_layers": len(_stateful_layers(model)),
            "input_batch": (None if not model.inputs else model.inputs[0].shape[0]),
        }
    except Exception as exc:
        return {"error": _error(exc)}


def twins_built(namespace, stateful, stateless, x):
    """A student's stateful and stateless models of one size, rebuilt here; the stateless one gets
    the stateful one's (random) weights. {"stateful_shapes", "stateless_shapes", "stateful", "stateless"}."""
    try:
        trained = _student_model(stateful)
        plain = _student_model(stateless)
    except Exception as exc:
        return {"error": _error(exc)}
    info = {
        "stateful_shapes": [list(w.shape) for w in trained.get_weights()],
        "stateless_shapes": [list(w.shape) for w in plain.get_weights()],
    }
    if info["stateful_shapes"] != info["stateless_shapes"]:
        return info
    x = np.asarray(x, dtype=np.int32)
    rng = np.random.default_rng(5)
    weights = [(rng.standard_normal(w.shape) * 0.3).astype(np.float32) for w in trained.get_weights()]
    try:
        trained.set_weights(weights)
        plain.set_weights(trained.get_weights())
        _reset_states(trained)
        info["stateful"] = _numpy(trained(x))
        info["stateless"] = _numpy(plain(x))
    except Exception as exc:
        return {"error": _error(exc)}
    return info


# ---- train_tbptt ------------------------------------------------------------------

def state_policies(namespace, dims, weights, batches, epochs, policies, warm=None):
    """Per-batch losses of fixed weights (no update) under each way of handling the state the suite
    names: policies = {name: {"epoch_start", "each_batch", "epoch_end"}}, each true where the state is
    reset at that point (at the start of every epoch, before every batch, after every epoch);
    warm, if given, is run through the model first. Returns {name: [losses]}."""
    vocab_size, embed_dim, units = dims
    model = _kit_model(vocab_size, embed_dim, units, batch_size=len(batches[0][0]), stateful=True, weights=weights)
    result = {}
    for name, resets in policies.items():
        _reset_states(model)
        if warm is not None:
            model(np.asarray(warm, dtype=np.int32))
        losses = []
        for _ in range(epochs):
            if resets["epoch_start"]:
                _reset_states(model)
            for x, y in batches:
                if resets["each_batch"]:
                    _reset_states(model)
                losses.append(_mean_ce(_numpy(model(np.asarray(x, dtype=np.int32))), y))
            if resets["epoch_end"]:
                _reset_states(model)
        result[name] = losses
    return result


def kit_train(namespace, model, batches, epochs, learning_rate, clip_norm, clip="global", reset=True, warm=None):
    """The kit's own TBPTT loop with a chosen slip, for diagnosis, on the model given as data.

    clip: "global" (tf.clip_by_global_norm), "per_tensor" (tf.clip_by_norm on each
    gradient) or "none"; reset=False never resets the state. Adam(learning_rate).
    Returns {"losses", "weights"} like the child's `train` probe.
    """
    import tensorflow as tf

    keras = _keras()
    built = _rebuild(model["json"], model["weights"])
    if warm is not None:
        built(np.asarray(warm, dtype=np.int32))
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    losses = []
    for _ in range(epochs):
        if reset:
            _reset_states(built)
        for x, y in batches:
            with tf.GradientTape() as tape:
                logits = built(np.asarray(x, dtype=np.int32), training=True)
                loss = keras.ops.mean(keras.ops.sparse_categorical_crossentropy(np.asarray(y), logits, from_logits=True))
            grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, built.trainable_variables)]
            if clip == "global":
                grads, _ = tf.clip_by_global_norm(grads, clip_norm)
            elif clip == "per_tensor":
                grads = [tf.clip_by_norm(g, clip_norm) for g in grads]
            optimizer.apply_gradients(zip(grads, built.trainable_variables))
            losses.append(float(loss))
    return {"losses": losses, "weights": [np.asarray(w) for w in built.get_weights()]}


def budget_nll(namespace, built, val_x, val_y, batch_size):
    """A student's trained model on the validation windows, batch_size windows at a time, each group
    from a zero state: {"nll": the next-character cross-entropy at every position (float64, the
    shape of val_y), "probabilities": whether the outputs are probabilities, not logits} or {"error"}."""
    try:
        model = _student_model(built)
        val_x = np.asarray(val_x, dtype=np.int32)
        logits = []
        for start in range(0, len(val_x), batch_size):
            _reset_states(model)
            logits.append(_numpy(model(val_x[start:start + batch_size])))
        logits = np.concatenate(logits).astype(np.float64)
        nll = checks.nll(logits, val_y)
        probabilities = bool(np.all(logits >= 0) and np.allclose(logits.sum(axis=-1), 1.0, atol=1e-3))
        return {"nll": nll, "probabilities": probabilities}
    except Exception as exc:
        return {"error": _error(exc)}


# ---- sample -----------------------------------------------------------------------


def greedy_ids(namespace, dims, weights, prefix_ids, length, recurrent=True, memory=True):
    """Greedy generation by the kit: the argmax id at each step, fed back (memory=False re-reads only
    the last id, for diagnosis), and the smallest gap between the two largest logits along the way."""
    vocab_size, embed_dim, units = dims
    model = _kit_model(vocab_size, embed_dim, units, weights=weights, recurrent=recurrent)
    ids = [int(i) for i in prefix_ids]
    gaps = []
    for _ in range(length):
        context = ids if memory else ids[-1:]
        logits = np.asarray(model(np.array([context], dtype=np.int32)))[0, -1]
        top_two = np.sort(logits)[-2:]
        gaps.append(float(top_two[1] - top_two[0]))
        ids.append(int(np.argmax(logits)))
    return {"ids": ids[len(prefix_ids):], "min_gap": min(gaps) if gaps else 0.0}


# ---- perplexity -------------------------------------------------------------------


def window_logits(namespace, dims, weights, ids, seq_len):
    """Logits of a stateless kit model: "windows", one array per window of seq_len inputs, each read
    from a zero state (the last may be shorter); "one_pass": all of ids[:-1] read at once."""
    vocab_size, embed_dim, units = dims
    model = _kit_model(vocab_size, embed_dim, units, weights=weights)
    x = np.asarray(ids, dtype=np.int32)[:-1]
    windows = [np.asarray(model(x[None, s:s + seq_len]))[0] for s in range(0, len(x), seq_len)]
    return {"windows": windows, "one_pass": np.asarray(model(x[None]))[0]}
