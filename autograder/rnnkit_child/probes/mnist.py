"""Child-side probes for 05_mnist: run the notebook's units and send back what they produced.

These run in the student's child, after the student's code and beside it, so nothing
here decides a grade and nothing here implements a graded unit: no model builder, no
scaling of images, no batching or shuffling, no training loop, no accuracy. Each probe
calls one unit and returns its raw outputs as data (the values it returned, the
batches it yielded, the weights it trained, the logits of the student's own model);
the hidden suite computes every figure that decides from them, and whatever needs a
correct implementation (the contract's model, the kit's training loop and its slips,
logits of trained weights on the test images) runs in the reference child only, from
`rnnkit_grader.reference.mnist`, which the student's child can never import.

Where the model being trained is the kit's (train_epoch, evaluate, the training run),
it arrives as data: the Keras config JSON that `model.to_json()` wrote in the
reference child, rebuilt here by Keras's own `keras.models.model_from_json`, and the
weights to start from.
"""

import time

import numpy as np

MAX_BATCHES = 400  # a dataset that never ends (e.g. .repeat()) is cut here, and said so


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


def _model(config, weights):
    """The kit's model from its Keras config JSON (Keras's own code), with the given weights."""
    model = _keras().models.model_from_json(config)
    model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return model


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def _dataset(batches):
    """A tf.data.Dataset yielding exactly the given (x, y) batches, in order (made by the grader)."""
    tf = _tf()
    parts = [tf.data.Dataset.from_tensors((np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64))) for x, y in batches]
    dataset = parts[0]
    for part in parts[1:]:
        dataset = dataset.concatenate(part)
    return dataset


def make_optimizer(config):
    """A Keras optimizer from {"name": "sgd"|"adam", "learning_rate", "cosine_steps"?}."""
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


def _student_model(namespace, kind, units, num_layers, activation):
    kwargs = {"kind": kind, "units": units, "num_layers": num_layers}
    if activation is not None:
        kwargs["activation"] = activation
    return namespace["build_mnist_rnn"](**kwargs)


def model_info(namespace, kind, units=100, num_layers=1, activation=None):
    """What build_mnist_rnn built: whether it is a keras.Model, its weights' shapes, its recurrent layers' types.

    The suite counts the parameters from the shapes and judges the model by its logits
    (model_outputs); the layer types only help the feedback.
    """
    keras = _keras()
    model = _student_model(namespace, kind, units, num_layers, activation)
    info = {"is_model": isinstance(model, keras.Model), "type": type(model).__name__}
    if not info["is_model"]:
        return info
    info["weight_shapes"] = [[int(d) for d in w.shape] for w in model.weights]
    info["recurrent"] = [type(layer).__name__ for layer in _all_layers(model) if isinstance(layer, keras.layers.RNN)]
    return info


def _all_layers(model):
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if hasattr(layer, "layers") and layer is not model:
            found.extend(_all_layers(layer))
    return found


def model_outputs(namespace, kind, units, num_layers, weights, x, activation=None):
    """The student's model's output with the given weights, on x (N, 28, 28)."""
    model = _student_model(namespace, kind, units, num_layers, activation)
    model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return _plain(model(np.asarray(x, dtype=np.float32)))


# ---- make_dataset -----------------------------------------------------------------------


def dataset_epochs(namespace, x, y, batch_size, shuffle, seed, epochs=1, calls=1, defaults=False):
    """Iterate make_dataset's result `epochs` times, for `calls` separate calls; send back every batch.

    Returns {"is_dataset", "type", "calls": [[epoch, ...], ...]} where an epoch is
    {"x": [x_batch, ...], "y": [y_batch, ...], "truncated"} exactly as yielded, or
    {"structure": what an element was} when an element is not an (x, y) pair. The suite
    tells which example each image is and checks order, coverage and labels itself. With
    `defaults`, make_dataset is called as make_dataset(x, y).
    """
    tf = _tf()
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    result = {"calls": []}
    for _ in range(calls):
        if defaults:  # make_dataset(x, y): batch_size, shuffle and seed left at the unit's own defaults
            dataset = namespace["make_dataset"](x, y)
        else:
            dataset = namespace["make_dataset"](x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)
        result["is_dataset"] = isinstance(dataset, tf.data.Dataset)
        result["type"] = type(dataset).__name__
        runs = []
        for _ in range(epochs):
            xs, ys, truncated, structure = [], [], False, None
            for k, batch in enumerate(dataset):
                if k >= MAX_BATCHES:
                    truncated = True
                    break
                if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                    structure = type(batch).__name__ + (f" of {len(batch)}" if isinstance(batch, (tuple, list)) else "")
                    break
                xs.append(_plain(batch[0]))
                ys.append(_plain(batch[1]))
            runs.append({"structure": structure} if structure else {"x": xs, "y": ys, "truncated": truncated})
        result["calls"].append(runs)
    return result


# ---- train_epoch ------------------------------------------------------------------------


def train_epoch_run(namespace, config, weights, batches, optimizer, epochs=2):
    """train_epoch, `epochs` times, on the kit's model (config + weights) over the given batches, in order.

    One optimizer for all epochs. Returns {"losses": what each call returned, "weights":
    the weights after each call}.
    """
    model = _model(config, weights)
    dataset = _dataset(batches)
    opt = make_optimizer(optimizer)
    losses, after = [], []
    for _ in range(epochs):
        losses.append(_plain(namespace["train_epoch"](model, opt, dataset)))
        after.append(_weights(model))
    return {"losses": losses, "weights": after}


# ---- evaluate ---------------------------------------------------------------------------


def evaluate_runs(namespace, config, weights, cases):
    """What evaluate returns for the kit's model (config + weights) on each case {"x", "y", "batch_size"}.

    A case's batch_size None calls evaluate with its default.
    """
    model = _model(config, weights)
    values = []
    for case in cases:
        x = np.asarray(case["x"], dtype=np.float32)
        y = np.asarray(case["y"], dtype=np.int64)
        if case.get("batch_size") is None:
            values.append(_plain(namespace["evaluate"](model, x, y)))
        else:
            values.append(_plain(namespace["evaluate"](model, x, y, batch_size=case["batch_size"])))
    return values


# ---- the budgeted training run ----------------------------------------------------------


def training_run(namespace, config, weights, x_train, y_train, epochs, batch_size, optimizer, seed):
    """Train the kit's model (config + weights) with the notebook's make_dataset and train_epoch.

    x_train arrives scaled by the grader; no test data comes here. Returns {"weights":
    the trained weights, "losses": what train_epoch returned each epoch, "seconds"}. An
    exception raised by a unit comes back as {"unit_error": {"unit", "type", "message",
    "traceback"}}, so the suite can say which. The suite has the reference child measure
    the trained weights on the test images.
    """
    from rnnkit_child.serve import describe_error

    x = np.asarray(x_train, dtype=np.float32)
    y = np.asarray(y_train, dtype=np.int64)
    for name in ("make_dataset", "train_epoch"):
        if name not in namespace:
            return {"unit_error": {"unit": name, "type": "UnitMissing", "message": name, "traceback": ""}}
    unit = "make_dataset"
    try:
        model = _model(config, weights)
        opt = make_optimizer(optimizer)
        dataset = namespace["make_dataset"](x, y, batch_size=batch_size, shuffle=True, seed=seed)
        losses = []
        start = time.perf_counter()
        unit = "train_epoch"
        for _ in range(epochs):
            losses.append(_plain(namespace["train_epoch"](model, opt, dataset)))
        seconds = time.perf_counter() - start
        trained = _weights(model)
    except Exception as exc:
        return {"unit_error": dict(describe_error(exc), unit=unit)}
    return {"weights": trained, "losses": losses, "seconds": seconds}
