"""Child-side probes for 03_hello_lm and 04_embeddings: small language models on "hihell".

The kit builds its own models here (`kit_model`) so that the training and decoding
units can be tested on weights the suite chooses, whatever the student's builder does.
"""

import numpy as np

VOCAB_SIZE = 5
LAYERS = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def _keras():
    import keras

    return keras


def kit_model(cell="rnn", hidden=8, weights=None, embed_dim=None, vocab_size=VOCAB_SIZE):
    """One-hot (or, with embed_dim, id) input -> one recurrent layer -> Dense logits."""
    keras = _keras()
    if embed_dim is None:
        inputs = keras.Input(shape=(None, vocab_size))
        x = inputs
    else:
        inputs = keras.Input(shape=(None,), dtype="int32")
        x = keras.layers.Embedding(vocab_size, embed_dim)(inputs)
    x = getattr(keras.layers, LAYERS[cell])(hidden, return_sequences=True)(x)
    model = keras.Model(inputs, keras.layers.Dense(vocab_size)(x))
    if weights is not None:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return model


def initial_weights(namespace, seed, cell="rnn", hidden=8, logit_scale=1.0, embed_dim=None, vocab_size=VOCAB_SIZE):
    """Weights of a freshly seeded kit model; the Dense kernel scaled by logit_scale."""
    _keras().utils.set_random_seed(seed)
    weights = kit_model(cell, hidden, embed_dim=embed_dim, vocab_size=vocab_size).get_weights()
    weights[-2] = weights[-2] * logit_scale
    return weights


def _number(value):
    """(float or None, type name): what a unit returned as its loss."""
    kind = type(value).__module__ + "." + type(value).__qualname__
    try:
        return float(np.asarray(value)), kind
    except Exception:
        return None, kind


def train_step(namespace, weights, x, y, learning_rate=0.1, embed_dim=None, vocab_size=VOCAB_SIZE):
    keras = _keras()
    model = kit_model(weights=weights, embed_dim=embed_dim, vocab_size=vocab_size)
    optimizer = keras.optimizers.Adam(learning_rate)
    loss, kind = _number(namespace["train_step"](model, optimizer, np.asarray(x), np.asarray(y)))
    return {"loss": loss, "loss_type": kind, "weights": [np.asarray(w) for w in model.get_weights()]}


def loss_variants(namespace, weights, x, y, learning_rate=0.1):
    """The reference's view of one step: the right loss and the values common slips give."""
    import tensorflow as tf

    keras = _keras()
    model = kit_model(weights=weights)
    logits = model(np.asarray(x))
    y = np.asarray(y)
    per_position = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    as_probs = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=False)
    optimizer = keras.optimizers.Adam(learning_rate)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(np.asarray(x)), from_logits=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    after = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(np.asarray(x)), from_logits=True))
    return {
        "mean": float(np.mean(per_position)),
        "sum": float(np.sum(per_position)),
        "probs": float(np.mean(as_probs)),
        "after": float(after),
    }


def train(namespace, weights, x, y, steps, learning_rate=0.1, unit_name="train", embed_dim=None, vocab_size=VOCAB_SIZE):
    """The unit `train` (or `train_embedding_lm`) on a kit model; returns its losses and final logits."""
    model = kit_model(weights=weights, embed_dim=embed_dim, vocab_size=vocab_size)
    losses = namespace[unit_name](model, np.asarray(x), np.asarray(y), steps=steps, learning_rate=learning_rate)
    values = []
    for value in list(losses):
        number, _ = _number(value)
        values.append(number)
    return {"losses": values, "logits": np.asarray(model(np.asarray(x)))}


def train_fresh_optimizer_each_step(namespace, weights, x, y, steps, learning_rate=0.1):
    """Losses when a new Adam is made for every step (a common slip), for diagnosis."""
    import tensorflow as tf

    keras = _keras()
    model = kit_model(weights=weights)
    losses = []
    for _ in range(steps):
        optimizer = keras.optimizers.Adam(learning_rate)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(np.asarray(y), model(np.asarray(x)), from_logits=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        losses.append(float(loss))
    return losses


def logits(namespace, weights, x):
    return np.asarray(kit_model(weights=weights)(np.asarray(x, dtype=np.float32)))


def predict_text(namespace, weights, x):
    model = kit_model(weights=weights)
    return namespace["predict_text"](model, np.asarray(x, dtype=np.float32))


def sample_texts(namespace, weights, start, length, temperature, seeds):
    model = kit_model(weights=weights)
    return [namespace["sample_text"](model, start=start, length=length, temperature=temperature, seed=int(s)) for s in seeds]


def sample_error(namespace, weights, temperature):
    """The type of exception sample_text raises for this temperature ('' if none)."""
    model = kit_model(weights=weights)
    try:
        namespace["sample_text"](model, start="h", length=2, temperature=temperature, seed=0)
    except Exception as exc:  # the type is what the suite checks
        return type(exc).__name__
    return ""


def greedy_ids(namespace, weights, start_ids, length):
    """Greedy autoregressive generation with the kit's own loop."""
    model = kit_model(weights=weights)
    eye = np.eye(VOCAB_SIZE, dtype=np.float32)
    ids = list(start_ids)
    for _ in range(length):
        ids.append(int(np.argmax(np.asarray(model(eye[ids][None]))[0, -1])))
    return ids[len(start_ids):]


def describe_model(namespace, builder, args, batch=2, time=7, ids=False):
    """Output shape, parameter count and layer classes of builder(*args)."""
    model = namespace[builder](*args)
    if ids:
        x = np.zeros((batch, time), dtype=np.int32)
    else:
        x = np.zeros((batch, time, VOCAB_SIZE), dtype=np.float32)
        x[..., 0] = 1
    out = model(x)
    return {
        "shape": list(np.shape(out)),
        "params": int(model.count_params()),
        "layers": [type(layer).__name__ for layer in model.layers],
    }


def embedding_gradient_rows(namespace, vocab_size, ids, targets):
    """Rows of the student's model's embedding table with a non-zero loss gradient.

    Returns {"found": False} when the model has no keras.layers.Embedding.
    """
    import tensorflow as tf

    keras = _keras()
    model = namespace["build_embedding_lm"](vocab_size)
    embeddings = [layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
    if not embeddings:
        return {"found": False, "layers": [type(layer).__name__ for layer in model.layers]}
    table = embeddings[0].embeddings
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(np.asarray(targets), model(np.asarray(ids)), from_logits=True))
    grad = tape.gradient(loss, table)
    dense = np.asarray(tf.convert_to_tensor(grad))
    return {"found": True, "nonzero_rows": [int(i) for i in np.flatnonzero(np.abs(dense).sum(axis=1) > 0)]}
