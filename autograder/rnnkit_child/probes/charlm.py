"""Child-side probes for 06_char_rnn: kit-built models that the student's units act on.

Most tests hand the student's unit a model the kit builds itself (`kit_model`:
Embedding, LSTM, Dense, with weights sent by the suite), so a test of `train_tbptt`,
`sample` or `perplexity` does not depend on the student's `build_char_model`. What
must not be influenced by student code (TensorFlow's own clipping, the losses of each
way of handling the state, greedy generation, logits for perplexity) is only ever
asked of the reference child. Everything returned is plain data.
"""

import numpy as np


def _keras():
    import keras

    return keras


def kit_model(vocab_size, embed_dim, units, batch_size=None, stateful=False, weights=None, recurrent=True):
    """Embedding -> LSTM (return_sequences) -> Dense logits, like build_char_model's contract.

    With recurrent=False the LSTM is left out: logits depend on the current id only.
    """
    keras = _keras()
    ids = keras.Input(shape=(None,), batch_size=batch_size, dtype="int32")
    h = keras.layers.Embedding(vocab_size, embed_dim)(ids)
    if recurrent:
        h = keras.layers.LSTM(units, return_sequences=True, stateful=stateful)(h)
    model = keras.Model(ids, keras.layers.Dense(vocab_size)(h), name="kit_char_model")
    if weights is not None:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return model


def stateful_layers(model):
    """Every layer (nested models included) built with stateful=True."""
    found = []
    for layer in getattr(model, "layers", []):
        if getattr(layer, "stateful", False):
            found.append(layer)
        found.extend(stateful_layers(layer))
    return found


def reset_states(model):
    for layer in stateful_layers(model):
        layer.reset_state()


def to_numpy(value, what):
    """A tensor, variable or array as a NumPy array; TypeError naming `what` otherwise."""
    try:
        return np.asarray(_keras().ops.convert_to_numpy(value))
    except Exception:
        raise TypeError(f"{what} should be a tensor or an array, got {type(value).__name__}") from None


def _losses(value):
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"train_tbptt should return a list of per-batch losses, got {type(value).__name__}")
    out = []
    for item in value:
        try:
            out.append(float(np.asarray(_keras().ops.convert_to_numpy(item))))
        except Exception:
            raise TypeError(f"train_tbptt's losses should be numbers, got {type(item).__name__}") from None
    return out


def mean_ce(logits, targets):
    """Mean next-id cross-entropy (float64) of logits (..., V) against int targets (...)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-np.take_along_axis(log_p, np.asarray(targets)[..., None], axis=-1).mean())


# ---- clip_by_global_norm ----------------------------------------------------------


def clip(namespace, grads, max_norm, source="student", graph=False):
    """The student's clip_by_global_norm (or, source="tf", TensorFlow's) on float32 tensors.

    graph=True calls it inside tf.function, as a compiled training step does.
    """
    import tensorflow as tf

    func = tf.clip_by_global_norm if source == "tf" else namespace["clip_by_global_norm"]
    tensors = [tf.constant(np.asarray(g, dtype=np.float32)) for g in grads]
    run = (lambda ts: func(list(ts), max_norm))
    if graph:
        run = tf.function(run)
    result = run(tensors)
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise TypeError(f"clip_by_global_norm should return a pair (clipped, global_norm), got {type(result).__name__}")
    clipped, norm = result
    if not isinstance(clipped, (list, tuple)):
        raise TypeError(f"clip_by_global_norm's first result should be a list of tensors, got {type(clipped).__name__}")
    return {
        "clipped": [to_numpy(c, "each clipped gradient").astype(np.float64) for c in clipped],
        "norm": float(to_numpy(norm, "global_norm")),
    }


# ---- build_char_model -------------------------------------------------------------


def describe_model(namespace, vocab_size, embed_dim, units, x, batch_size=None, stateful=False):
    """What the student's build_char_model builds, and what it computes on x (twice, then after a reset)."""
    keras = _keras()
    model = namespace["build_char_model"](vocab_size, embed_dim=embed_dim, units=units, batch_size=batch_size, stateful=stateful)
    info = {"is_model": isinstance(model, keras.Model)}
    if not info["is_model"]:
        info["type"] = type(model).__name__
        return info
    x = np.asarray(x, dtype=np.int32)
    first = to_numpy(model(x), "the model's output")
    second = to_numpy(model(x), "the model's output")
    reset_states(model)
    info.update(
        first=first,
        second=second,
        after_reset=to_numpy(model(x), "the model's output"),
        weight_shapes=[list(w.shape) for w in model.weights if w.trainable],
        stateful_layers=len(stateful_layers(model)),
        input_batch=(None if not model.inputs else model.inputs[0].shape[0]),
    )
    return info


def twins(namespace, vocab_size, embed_dim, units, batch_size, x):
    """Stateful and stateless models of the same size; the stateless one gets the stateful one's weights."""
    build = namespace["build_char_model"]
    trained = build(vocab_size, embed_dim=embed_dim, units=units, batch_size=batch_size, stateful=True)
    plain = build(vocab_size, embed_dim=embed_dim, units=units)
    x = np.asarray(x, dtype=np.int32)
    info = {
        "stateful_shapes": [list(w.shape) for w in trained.get_weights()],
        "stateless_shapes": [list(w.shape) for w in plain.get_weights()],
    }
    if info["stateful_shapes"] != info["stateless_shapes"]:
        return info
    rng = np.random.default_rng(5)
    weights = [(rng.standard_normal(w.shape) * 0.3).astype(np.float32) for w in trained.get_weights()]
    trained.set_weights(weights)
    plain.set_weights(trained.get_weights())
    reset_states(trained)
    info["stateful"] = to_numpy(trained(x), "the stateful model's output")
    info["stateless"] = to_numpy(plain(x), "the stateless model's output")
    return info


# ---- train_tbptt ------------------------------------------------------------------


def train(namespace, dims, weights, batches, epochs, learning_rate, clip_norm, warm=None):
    """train_tbptt on a stateful kit model from the given weights: losses and final weights.

    `warm`, when given, is run through the model first so its state is not zero when
    train_tbptt starts (a correct train_tbptt resets it).
    """
    vocab_size, embed_dim, units = dims
    model = kit_model(vocab_size, embed_dim, units, batch_size=len(batches[0][0]), stateful=True, weights=weights)
    if warm is not None:
        model(np.asarray(warm, dtype=np.int32))
    batches = [(np.asarray(x, dtype=np.int32), np.asarray(y, dtype=np.int32)) for x, y in batches]
    losses = namespace["train_tbptt"](model, batches, epochs=epochs, learning_rate=learning_rate, clip_norm=clip_norm)
    return {"losses": _losses(losses), "weights": [np.asarray(w) for w in model.get_weights()]}


STATE_POLICIES = ("carried, reset at each epoch's start", "never carried", "never reset", "reset at each epoch's end")


def state_policies(namespace, dims, weights, batches, epochs, warm=None):
    """Per-batch losses of fixed weights (no update) under each way of handling the state.

    Asked of the reference child only. Returns {policy: [losses]} for STATE_POLICIES.
    """
    vocab_size, embed_dim, units = dims
    model = kit_model(vocab_size, embed_dim, units, batch_size=len(batches[0][0]), stateful=True, weights=weights)
    result = {}
    for policy in STATE_POLICIES:
        reset_states(model)
        if warm is not None:
            model(np.asarray(warm, dtype=np.int32))
        losses = []
        for _ in range(epochs):
            if policy.startswith("carried"):
                reset_states(model)
            for x, y in batches:
                if policy == "never carried":
                    reset_states(model)
                losses.append(mean_ce(to_numpy(model(np.asarray(x, dtype=np.int32)), "logits"), y))
            if policy == "reset at each epoch's end":
                reset_states(model)
        result[policy] = losses
    return result


def kit_train(namespace, dims, weights, batches, epochs, learning_rate, clip_norm, clip="global", reset=True):
    """The kit's own TBPTT loop with a chosen slip, for diagnosis (asked of the reference child only).

    clip: "global" (tf.clip_by_global_norm), "per_tensor" (tf.clip_by_norm on each
    gradient) or "none"; reset=False never resets the state. Adam(learning_rate) as
    train_tbptt's contract says. Returns losses and final weights like `train`.
    """
    import tensorflow as tf

    keras = _keras()
    vocab_size, embed_dim, units = dims
    model = kit_model(vocab_size, embed_dim, units, batch_size=len(batches[0][0]), stateful=True, weights=weights)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    losses = []
    for _ in range(epochs):
        if reset:
            reset_states(model)
        for x, y in batches:
            with tf.GradientTape() as tape:
                logits = model(np.asarray(x, dtype=np.int32), training=True)
                loss = keras.ops.mean(keras.ops.sparse_categorical_crossentropy(np.asarray(y), logits, from_logits=True))
            grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]
            if clip == "global":
                grads, _ = tf.clip_by_global_norm(grads, clip_norm)
            elif clip == "per_tensor":
                grads = [tf.clip_by_norm(g, clip_norm) for g in grads]
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            losses.append(float(loss))
    return {"losses": losses, "weights": [np.asarray(w) for w in model.get_weights()]}


def budget_run(namespace, vocab_size, embed_dim, units, batches, val_x, learning_rate, clip_norm, seed=0):
    """The whole pipeline on a fixed budget: the student's model, trained by the student's train_tbptt.

    Returns the per-batch losses and the logits of the trained model on the
    validation windows (evaluated len(batches[0][0]) windows at a time, each group
    from a zero state); the suite computes the perplexity from them.
    """
    keras = _keras()
    keras.utils.set_random_seed(seed)
    batch_size = len(batches[0][0])
    model = namespace["build_char_model"](vocab_size, embed_dim=embed_dim, units=units, batch_size=batch_size, stateful=True)
    batches = [(np.asarray(x, dtype=np.int32), np.asarray(y, dtype=np.int32)) for x, y in batches]
    losses = _losses(namespace["train_tbptt"](model, batches, epochs=1, learning_rate=learning_rate, clip_norm=clip_norm))
    val_x = np.asarray(val_x, dtype=np.int32)
    logits = []
    for start in range(0, len(val_x), batch_size):
        reset_states(model)
        logits.append(to_numpy(model(val_x[start:start + batch_size]), "the model's output"))
    reset_states(model)
    return {"losses": losses, "logits": np.concatenate(logits).astype(np.float32)}


# ---- sample -----------------------------------------------------------------------


def corpus_chars(namespace):
    """The vocabulary of the notebook's TEXT (asked of the reference child)."""
    chars, _ = namespace["build_vocab"](namespace["TEXT"])
    return list(chars)


def sample_texts(namespace, dims, weights, prefix, length, temperature, seeds, recurrent=True):
    """The student's sample on a stateless kit model, once per seed."""
    vocab_size, embed_dim, units = dims
    model = kit_model(vocab_size, embed_dim, units, weights=weights, recurrent=recurrent)
    return [namespace["sample"](model, prefix, length, temperature=temperature, seed=int(s)) for s in seeds]


def greedy_ids(namespace, dims, weights, prefix_ids, length, recurrent=True, memory=True):
    """Greedy generation by the kit (asked of the reference child): the argmax id at each step, fed back.

    memory=False re-reads only the last id at each step (the slip of a sampler that
    keeps no state), for diagnosis. Also returns the smallest gap between the two
    largest logits along the way, so the suite knows greedy is well defined.
    """
    vocab_size, embed_dim, units = dims
    model = kit_model(vocab_size, embed_dim, units, weights=weights, recurrent=recurrent)
    ids = [int(i) for i in prefix_ids]
    gaps = []
    for _ in range(length):
        context = ids if memory else ids[-1:]
        logits = np.asarray(model(np.array([context], dtype=np.int32)))[0, -1]
        top_two = np.sort(logits)[-2:]
        gaps.append(float(top_two[1] - top_two[0]))
        ids.append(int(np.argmax(logits)))
    return {"ids": ids[len(prefix_ids):], "min_gap": min(gaps) if gaps else 0.0}


def next_logits(namespace, dims, weights, prefix_ids, recurrent=True):
    """The kit model's logits for the id after prefix_ids (asked of the reference child)."""
    vocab_size, embed_dim, units = dims
    model = kit_model(vocab_size, embed_dim, units, weights=weights, recurrent=recurrent)
    return np.asarray(model(np.array([list(prefix_ids)], dtype=np.int32)))[0, -1].astype(np.float64)


# ---- perplexity -------------------------------------------------------------------


def student_perplexity(namespace, dims, weights, ids, seq_len):
    """The student's perplexity of a stateless kit model on ids."""
    vocab_size, embed_dim, units = dims
    model = kit_model(vocab_size, embed_dim, units, weights=weights)
    value = namespace["perplexity"](model, np.asarray(ids, dtype=np.int32), seq_len=seq_len)
    return float(to_numpy(value, "perplexity's result"))


def window_logits(namespace, dims, weights, ids, seq_len):
    """Logits of a stateless kit model (asked of the reference child).

    "windows": one array per window of seq_len inputs, each read from a zero state
    (the last window may be shorter); "one_pass": all of ids[:-1] read at once.
    """
    vocab_size, embed_dim, units = dims
    model = kit_model(vocab_size, embed_dim, units, weights=weights)
    x = np.asarray(ids, dtype=np.int32)[:-1]
    windows = [np.asarray(model(x[None, s:s + seq_len]))[0] for s in range(0, len(x), seq_len)]
    return {"windows": windows, "one_pass": np.asarray(model(x[None]))[0]}
