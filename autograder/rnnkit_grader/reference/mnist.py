"""Reference-only probes for 05_mnist: the contract's model and the kit's training loop.

Only the reference child imports this module (it is looked up before
`rnnkit_child.probes.mnist`); the student's child can never import it. It holds what
needs a correct implementation: the contract's model from Keras's own layers (as a
config JSON for the student's child, its initial weights, its logits), the kit's own
training loop with the known slips the suite replays to name a student's mistake, and
the logits of trained weights on the test images, from which the suite computes the
training run's accuracy.
"""

import numpy as np

LAYERS = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def _keras():
    import keras

    return keras


def _tf():
    import tensorflow as tf

    return tf


def _kit_model(kind="rnn", units=100, num_layers=1, activation="relu"):
    """The contract's model, built from Keras's own layers: (batch, 28, 28) -> logits (batch, 10)."""
    keras = _keras()
    inputs = keras.Input(shape=(28, 28))
    h = inputs
    for layer in range(num_layers):
        options = {"activation": activation} if kind == "rnn" else {}
        h = getattr(keras.layers, LAYERS[kind])(units, return_sequences=layer < num_layers - 1, **options)(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def _with_weights(model, weights):
    model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return model


def _scaled(images):
    return np.asarray(images).reshape(len(images), 28, 28).astype(np.float32) / np.float32(255.0)


def kit_config(namespace, kind="rnn", units=100, num_layers=1, activation="relu"):
    """The contract's model as Keras config JSON (model.to_json()), for the student's child to rebuild."""
    return _kit_model(kind, units, num_layers, activation).to_json()


def kit_info(namespace, kind="rnn", units=100, num_layers=1, activation="relu"):
    """The contract's model's parameter count and weight shapes."""
    model = _kit_model(kind, units, num_layers, activation)
    return {"params": int(model.count_params()), "weight_shapes": [[int(d) for d in w.shape] for w in model.weights]}


def kit_outputs(namespace, kind, units, num_layers, weights, x, activation="relu"):
    """Logits of the contract's model with the given weights, on x (N, 28, 28)."""
    model = _with_weights(_kit_model(kind, units, num_layers, activation), weights)
    return np.asarray(model(np.asarray(x, dtype=np.float32)))


def initial_weights(namespace, kind="rnn", units=100, num_layers=1, activation="relu", seed=0):
    """Keras's default initial weights of the contract's model, drawn from `seed`."""
    _keras().utils.set_random_seed(seed)
    return [np.asarray(w) for w in _kit_model(kind, units, num_layers, activation).get_weights()]


def kit_logits(namespace, config, weights, x, images=False):
    """Logits of the model `config` (JSON) with the given weights on x (scaled, or uint8 images when `images`)."""
    model = _with_weights(_keras().models.model_from_json(config), weights)
    x = _scaled(x) if images else np.asarray(x, dtype=np.float32)
    return np.asarray(model.predict(x, batch_size=500, verbose=0))


def _kit_train_epoch(model, optimizer, dataset, slip=None):
    """The kit's own training loop, exactly or with one known slip; (mean loss, batch losses, sizes).

    slips: "never_applied" (gradients computed, not applied), "softmax_as_logits" (softmax
    on the logits, then a from_logits loss), "logits_as_probabilities" (from_logits=False
    on logits), "summed" (loss summed over the batch), "ascent" (the gradient added).
    """
    keras = _keras()
    tf = _tf()
    from_logits = slip != "logits_as_probabilities"
    loss_fn = keras.losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, reduction="sum" if slip == "summed" else "sum_over_batch_size"
    )
    losses, sizes = [], []
    for x, y in dataset:
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            if slip == "softmax_as_logits":
                logits = tf.nn.softmax(logits)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        if slip == "ascent":
            grads = [-g for g in grads]
        if slip != "never_applied":
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
        sizes.append(int(x.shape[0]))
    mean = float(np.dot(losses, sizes) / np.sum(sizes)) if sizes else float("nan")
    return mean, losses, sizes


def kit_train_epoch_run(namespace, config, weights, batches, optimizer, slip=None, epochs=1):
    """The kit's loop (with `slip`) where the student's child runs train_epoch: same model, batches and optimizer.

    Returns {"losses", "weights"} per epoch like train_epoch_run, and the first epoch's
    per-batch losses and sizes.
    """
    from rnnkit_child.probes.mnist import _dataset, _model, make_optimizer

    model = _model(config, weights)
    dataset = _dataset(batches)
    opt = make_optimizer(optimizer)
    result = {"losses": [], "weights": []}
    for epoch in range(epochs):
        mean, batch_losses, sizes = _kit_train_epoch(model, opt, dataset, slip)
        result["losses"].append(mean)
        result["weights"].append([np.asarray(w) for w in model.get_weights()])
        if epoch == 0:
            result["batch_losses"], result["batch_sizes"] = batch_losses, sizes
    return result
