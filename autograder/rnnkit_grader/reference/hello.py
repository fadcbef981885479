"""Reference-only probes for 03_hello_lm and 04_embeddings: the kit's own models and loops.

The kit's model (one-hot or ids -> one recurrent layer -> Dense logits) is what a
student's build_hello_model / build_embedding_lm must be, and its loss, Adam step,
greedy decoder and logits are what the training and decoding units compute: they run
only here, in the reference child. Models reach the student's child as data
(`model_spec`: a Keras config from model.to_json() and weights), and what comes back
from there (trained weights, a built model's weights and outputs) is measured here.
"""

import numpy as np

VOCAB_SIZE = 5
LAYERS = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def _keras():
    import keras

    return keras


def _kit_model(cell="rnn", hidden=8, weights=None, embed_dim=None, vocab_size=VOCAB_SIZE):
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


def _from_spec(model):
    built = _keras().models.model_from_json(model["json"])
    built.set_weights([np.asarray(w, dtype=np.float32) for w in model["weights"]])
    return built


def model_spec(namespace, seed, cell="rnn", hidden=8, logit_scale=1.0, embed_dim=None, vocab_size=VOCAB_SIZE):
    """A freshly seeded kit model as data: {"json": model.to_json(), "weights"}; the Dense kernel scaled by logit_scale."""
    _keras().utils.set_random_seed(seed)
    model = _kit_model(cell, hidden, embed_dim=embed_dim, vocab_size=vocab_size)
    weights = model.get_weights()
    weights[-2] = weights[-2] * logit_scale
    return {"json": model.to_json(), "weights": [np.asarray(w, dtype=np.float32) for w in weights]}


def kit_shapes(namespace, cell="rnn", hidden=8, embed_dim=None, vocab_size=VOCAB_SIZE):
    """The shapes of the kit model's weights, in get_weights() order."""
    return [list(w.shape) for w in _kit_model(cell, hidden, embed_dim=embed_dim, vocab_size=vocab_size).get_weights()]


def kit_outputs(namespace, weights, x, cell="rnn", hidden=8, embed_dim=None, vocab_size=VOCAB_SIZE, projection=None):
    """The kit model's outputs on x with the given weights (and, given a projection, the
    gradients of sum(outputs * projection) with respect to every weight)."""
    import tensorflow as tf

    model = _kit_model(cell, hidden, weights=weights, embed_dim=embed_dim, vocab_size=vocab_size)
    x = np.asarray(x)
    if projection is None:
        return {"outputs": np.asarray(model(x)), "grads": None}
    with tf.GradientTape() as tape:
        out = model(x)
        total = tf.reduce_sum(out * tf.constant(np.asarray(projection, dtype=np.float32)))
    grads = [np.asarray(tf.convert_to_tensor(g)) for g in tape.gradient(total, model.trainable_variables)]
    return {"outputs": np.asarray(out), "grads": grads}


def logits(namespace, model, x, weights=None):
    """The logits of the model given as data (with other weights, e.g. a student's trained ones)."""
    built = _from_spec(model if weights is None else {"json": model["json"], "weights": weights})
    x = np.asarray(x)
    return np.asarray(built(x if x.dtype.kind in "iu" else x.astype(np.float32)))


def loss_variants(namespace, model, x, y, learning_rate=0.1):
    """The reference's view of one step: the right loss and the values common slips give."""
    import tensorflow as tf

    keras = _keras()
    built = _from_spec(model)
    out = built(np.asarray(x))
    y = np.asarray(y)
    per_position = keras.losses.sparse_categorical_crossentropy(y, out, from_logits=True)
    as_probs = keras.losses.sparse_categorical_crossentropy(y, out, from_logits=False)
    optimizer = keras.optimizers.Adam(learning_rate)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, built(np.asarray(x)), from_logits=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, built.trainable_variables), built.trainable_variables))
    after = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, built(np.asarray(x)), from_logits=True))
    return {
        "mean": float(np.mean(per_position)),
        "sum": float(np.sum(per_position)),
        "probs": float(np.mean(as_probs)),
        "after": float(after),
    }


def train_fresh_optimizer_each_step(namespace, model, x, y, steps, learning_rate=0.1):
    """Losses when a new Adam is made for every step (a common slip), for diagnosis."""
    import tensorflow as tf

    keras = _keras()
    built = _from_spec(model)
    losses = []
    for _ in range(steps):
        optimizer = keras.optimizers.Adam(learning_rate)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(np.asarray(y), built(np.asarray(x)), from_logits=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, built.trainable_variables), built.trainable_variables))
        losses.append(float(loss))
    return losses


def greedy_ids(namespace, model, start_ids, length):
    """Greedy autoregressive generation with the kit's own loop."""
    built = _from_spec(model)
    eye = np.eye(VOCAB_SIZE, dtype=np.float32)
    ids = list(start_ids)
    for _ in range(length):
        ids.append(int(np.argmax(np.asarray(built(eye[ids][None]))[0, -1])))
    return ids[len(start_ids):]
