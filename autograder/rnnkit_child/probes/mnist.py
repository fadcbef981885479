"""Child-side probes for 05_mnist: build, run and train models with the notebook's units.

Each function runs inside a sandboxed child (the student's or the reference's) and
returns plain data: arrays, numbers, strings. Nothing here decides a grade. Models the
suite needs to be identical in both children are built here from Keras's own layers
(`kit_model`) and get their weights from the suite, so a test of `train_epoch` or
`evaluate` depends on that unit alone. `implementation="kit"` runs the kit's own
training loop, optionally with a known slip; the suite asks that only of the reference
child, to name the mistake that explains a student's result.
"""

import time

import numpy as np

LAYERS = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}


def _keras():
    import keras

    return keras


def _tf():
    import tensorflow as tf

    return tf


def _plain(value):
    """A unit's return value as data: tensors and NumPy scalars become arrays."""
    if hasattr(value, "numpy") and callable(value.numpy):
        try:
            return np.asarray(value.numpy())
        except Exception:
            return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    return value


def kit_model(kind="rnn", units=100, num_layers=1, activation="relu"):
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


def scaled(images):
    """The kit's own scaling (the suite never relies on the student's to_sequences for data)."""
    return np.asarray(images).reshape(len(images), 28, 28).astype(np.float32) / np.float32(255.0)


def make_optimizer(config):
    keras = _keras()
    rate = config["learning_rate"]
    if config.get("cosine_steps"):
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=int(config["cosine_steps"]))
    if config["name"] == "sgd":
        return keras.optimizers.SGD(learning_rate=rate)
    if config["name"] == "adam":
        return keras.optimizers.Adam(learning_rate=rate)
    raise ValueError(f"unknown optimizer {config['name']!r}")


# ---- build_mnist_rnn ---------------------------------------------------------------------


def _build(namespace, kind, units, num_layers, activation, source):
    """The kit's contract model (source="keras") or the student's build_mnist_rnn, activation passed only when given."""
    if source == "keras":
        return kit_model(kind, units, num_layers, activation or "relu")
    kwargs = {"kind": kind, "units": units, "num_layers": num_layers}
    if activation is not None:
        kwargs["activation"] = activation
    return namespace["build_mnist_rnn"](**kwargs)


def model_info(namespace, kind, units=100, num_layers=1, activation=None, source="student"):
    """What build_mnist_rnn builds: parameter count, weight shapes, output shape, recurrent layers."""
    keras = _keras()
    model = _build(namespace, kind, units, num_layers, activation, source)
    info = {"is_model": isinstance(model, keras.Model), "type": type(model).__name__}
    if not info["is_model"]:
        return info
    try:
        output_shape = [None if d is None else int(d) for d in model.output_shape]
    except Exception:  # a model without a static output shape: run it on two inputs
        output_shape = [-1] + list(np.asarray(model(np.zeros((2, 28, 28), dtype=np.float32))).shape[1:])
    recurrent = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.RNN)]
    info.update(
        params=int(model.count_params()),
        weight_shapes=[list(w.shape) for w in model.weights],
        output_shape=output_shape,
        recurrent=[type(layer).__name__ for layer in recurrent],
        activations=[_activation_name(layer) for layer in recurrent],
    )
    return info


def _all_layers(model):
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if hasattr(layer, "layers") and layer is not model:
            found.extend(_all_layers(layer))
    return found


def _activation_name(layer):
    cell = getattr(layer, "cell", layer)
    activation = getattr(cell, "activation", None)
    return getattr(activation, "__name__", str(activation))


def model_outputs(namespace, kind, units, num_layers, weights, x, activation=None, source="student"):
    """Logits of build_mnist_rnn's model (or the kit's) with the given weights, on x (N, 28, 28)."""
    model = _build(namespace, kind, units, num_layers, activation, source)
    _with_weights(model, weights)
    return np.asarray(model(np.asarray(x, dtype=np.float32)))


def initial_weights(namespace, kind="rnn", units=100, num_layers=1, activation="relu", seed=0):
    """Keras's default initial weights of the kit model, drawn from `seed` (asked of the reference)."""
    _keras().utils.set_random_seed(seed)
    return [np.asarray(w) for w in kit_model(kind, units, num_layers, activation).get_weights()]


def kit_logits(namespace, weights, x, units=100, activation="relu", images=False):
    """Logits of the kit model with the given weights (x already scaled, or uint8 images)."""
    model = _with_weights(kit_model("rnn", units, 1, activation), weights)
    x = scaled(x) if images else np.asarray(x, dtype=np.float32)
    return np.asarray(model.predict(x, batch_size=500, verbose=0))


# ---- make_dataset -----------------------------------------------------------------------


def dataset_epochs(namespace, x, y, batch_size, shuffle, seed, epochs=1, calls=1):
    """Iterate make_dataset's result `epochs` times, for `calls` separate calls.

    x[i] holds the number i in every pixel, so the example behind each yielded image is
    known. Returns {"is_dataset", "type", "calls": [[epoch, ...], ...]} where an epoch is
    {"sizes", "ids", "labels", "exact"}: batch sizes, the example ids in the order
    yielded (-1 for an image that is not one of x), the labels yielded with them, and
    whether every image came back unchanged.
    """
    tf = _tf()
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    result = {"calls": []}
    for _ in range(calls):
        dataset = namespace["make_dataset"](x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)
        result["is_dataset"] = isinstance(dataset, tf.data.Dataset)
        result["type"] = type(dataset).__name__
        runs = []
        for _ in range(epochs):
            sizes, ids, labels, exact = [], [], [], True
            for batch in dataset:
                xb, yb = (np.asarray(_plain(part)) for part in batch)
                xb = xb.reshape(len(xb), -1)
                first = xb[:, 0]
                idx = np.rint(first).astype(np.int64)
                known = (idx >= 0) & (idx < len(x))
                exact = exact and bool(np.all(known)) and bool(np.all(xb == x[np.clip(idx, 0, len(x) - 1)].reshape(len(xb), -1)))
                sizes.append(int(len(xb)))
                ids.append(np.where(known, idx, -1))
                labels.append(yb.reshape(-1).astype(np.int64))
            runs.append({
                "sizes": sizes,
                "ids": np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64),
                "labels": np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64),
                "exact": exact,
            })
        result["calls"].append(runs)
    return result


# ---- train_epoch ------------------------------------------------------------------------


def kit_train_epoch(model, optimizer, dataset, slip=None):
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


def train_epoch_run(namespace, weights, x, y, batch_size, optimizer, units=32, activation="relu", implementation="notebook", slip=None):
    """One train_epoch over an unshuffled tf.data pipeline built here, from the given weights.

    Returns {"loss": what train_epoch returned, "weights": the weights after it} and, for the
    kit implementation, the per-batch losses and sizes.
    """
    tf = _tf()
    model = _with_weights(kit_model("rnn", units, 1, activation), weights)
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64))).batch(batch_size)
    opt = make_optimizer(optimizer)
    result = {}
    if implementation == "kit":
        loss, result["batch_losses"], result["batch_sizes"] = kit_train_epoch(model, opt, dataset, slip)
    else:
        loss = namespace["train_epoch"](model, opt, dataset)
    result["loss"] = _plain(loss)
    result["weights"] = [np.asarray(w) for w in model.get_weights()]
    return result


# ---- evaluate ---------------------------------------------------------------------------


def evaluate_run(namespace, weights, x, y, batch_size=None, units=16, activation="relu"):
    """What evaluate returns for the kit model with the given weights (default batch size if None)."""
    model = _with_weights(kit_model("rnn", units, 1, activation), weights)
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if batch_size is None:
        value = namespace["evaluate"](model, x, y)
    else:
        value = namespace["evaluate"](model, x, y, batch_size=batch_size)
    return _plain(value)


# ---- the budgeted training run ----------------------------------------------------------


def training_run(namespace, x_train, y_train, x_test, weights, epochs, batch_size, learning_rate, seed, units=100, activation="tanh", implementation="notebook"):
    """Train the kit model with the notebook's make_dataset and train_epoch; logits on x_test.

    Images arrive as uint8 and are scaled here. The optimizer is Adam with a cosine decay
    of `learning_rate` to 0 over the whole budget. Returns {"logits", "losses", "seconds",
    "pairing"}; "pairing" looks at one extra epoch of a separate make_dataset call with the
    same arguments: how many yielded labels belong to their image, and how many distinct
    training images that epoch held. An exception raised by one of the units comes back
    as {"unit_error": {"unit", "type", "message", "traceback"}}, so the suite can say which.
    """
    from rnnkit_child.serve import describe_error

    x = scaled(x_train)
    y = np.asarray(y_train, dtype=np.int64)
    unit = "make_dataset"
    try:
        for name in ("make_dataset", "train_epoch"):
            if name not in namespace:
                return {"unit_error": {"unit": name, "type": "UnitMissing", "message": name, "traceback": ""}}
        pairing = _pairing(namespace["make_dataset"](x, y, batch_size=batch_size, shuffle=True, seed=seed), x, y)
        model = _with_weights(kit_model("rnn", units, 1, activation), weights)
        steps = epochs * -(-len(x) // batch_size)
        opt = make_optimizer({"name": "adam", "learning_rate": learning_rate, "cosine_steps": steps})
        dataset = namespace["make_dataset"](x, y, batch_size=batch_size, shuffle=True, seed=seed)
        losses = []
        start = time.perf_counter()
        unit = "train_epoch"
        for _ in range(epochs):
            if implementation == "kit":
                losses.append(kit_train_epoch(model, opt, dataset)[0])
            else:
                loss = _plain(namespace["train_epoch"](model, opt, dataset))
                try:
                    losses.append(float(loss))
                except (TypeError, ValueError):
                    losses.append(None)
        seconds = time.perf_counter() - start
    except Exception as exc:
        return {"unit_error": dict(describe_error(exc), unit=unit)}
    logits = np.asarray(model.predict(scaled(x_test), batch_size=500, verbose=0))
    return {"logits": logits, "losses": losses, "seconds": seconds, "pairing": pairing}


def _pairing(dataset, x, y):
    index = {x[i].tobytes(): i for i in range(len(x))}
    matched = total = 0
    seen = set()
    for batch in dataset:
        xb, yb = (np.asarray(_plain(part)) for part in batch)
        for image, label in zip(xb.astype(np.float32), yb.reshape(-1)):
            i = index.get(image.tobytes())
            total += 1
            if i is not None:
                seen.add(i)
                matched += int(label == y[i])
    return {"matched": matched, "total": total, "distinct": len(seen)}
