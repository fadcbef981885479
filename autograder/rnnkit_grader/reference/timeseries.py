"""Reference-only probes for 07_time_series: the kit's forecaster, its training, and measuring models.

The kit's forecaster (num_layers SimpleRNN layers, then Dense(1)) is what a student's
build_forecaster must make, and its training (Adam, MSE, shuffled batches of 32) is
what train_forecaster must do: both run only here, in the reference child. The kit's
model reaches the student's child as data (`kit_spec`: model.to_json() and weights);
what comes back from there (a built model's config, trained weights) is rebuilt and
measured here: output shapes, weight counts, predictions on the held-out windows, which
therefore never enter the student's process. The suite computes the figures.

A config from the student's child is rebuilt only with Keras's own classes: Keras's
safe mode refuses serialized Python code, and `_check_config` refuses anything that
is not a plain Keras object before Keras reads it.
"""

import json

import numpy as np

_FORBIDDEN = {"Lambda", "TFSMLayer"}


def _keras():
    import keras

    return keras


def _kit_model(units=10, num_layers=2):
    """num_layers SimpleRNN layers of `units` units (the last keeps only its last step), then Dense(1)."""
    keras = _keras()
    inputs = keras.Input(shape=(None, 1))
    hidden = inputs
    for layer in range(num_layers):
        hidden = keras.layers.SimpleRNN(units, return_sequences=layer < num_layers - 1)(hidden)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


def kit_spec(namespace, units, num_layers, seed):
    """The kit's forecaster built after set_random_seed(seed), as data: {"json", "weights"}."""
    _keras().utils.set_random_seed(seed)
    model = _kit_model(units, num_layers)
    return {"json": model.to_json(), "weights": [np.asarray(w, dtype=np.float32) for w in model.get_weights()]}


def _check_config(node, depth=0):
    if depth > 60:
        raise ValueError("the model's config is nested too deep")
    if isinstance(node, dict):
        module = node.get("module")
        if isinstance(module, str) and module != "keras" and not module.startswith("keras."):
            raise ValueError(f"the model's config names a class outside Keras ({module})")
        if node.get("class_name") in _FORBIDDEN:
            raise ValueError(f"the model's config holds a {node['class_name']} layer, which the grader does not rebuild")
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            raise ValueError(f"the model's config holds a custom object ({registered})")
        for value in node.values():
            _check_config(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _check_config(value, depth + 1)


def _rebuild(config, weights=None):
    """A model from a student's model.to_json() (fresh weights, or the given ones)."""
    keras = _keras()
    if not isinstance(config, str) or len(config) > 2_000_000:
        raise ValueError("no Keras config came back for the model")
    _check_config(json.loads(config))
    from keras.src.saving import serialization_lib

    model = serialization_lib.deserialize_keras_object(json.loads(config), safe_mode=True)
    if not isinstance(model, keras.Model):
        raise ValueError(f"the config describes a {type(model).__name__}, not a keras.Model")
    if weights is not None:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return model


def _error(exc):
    return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}


def inspect_model(namespace, config, windows=(20,)):
    """The model of `config` rebuilt: its weight count, layer types, and the output shape (or the
    error) for a batch of 3 windows of each length in `windows`; {"error"} when it can't be rebuilt."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    try:
        model = _rebuild(config)
    except Exception as exc:
        return _error(exc)
    info = {"params": int(model.count_params()), "layers": [type(layer).__name__ for layer in model.layers], "outputs": {}}
    rng = np.random.default_rng(0)
    for length in windows:
        try:
            out = model(rng.standard_normal((3, length, 1)).astype(np.float32), training=False)
            info["outputs"][str(length)] = list(np.shape(out))
        except Exception as exc:  # a model fixed to one window length
            info["outputs"][str(length)] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return info


def outputs_with(namespace, config, weights, x):
    """The model of `config` with `weights` (the reference model's) on the windows x: {"outputs"},
    {"mismatch": its weights' shapes} when they don't have the shapes of `weights`, or {"error"}."""
    try:
        model = _rebuild(config)
    except Exception as exc:
        return _error(exc)
    own = model.get_weights()
    if len(own) != len(weights) or any(np.shape(a) != np.shape(b) for a, b in zip(own, weights)):
        return {"mismatch": [list(np.shape(a)) for a in own]}
    try:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        return {"outputs": np.asarray(model(np.asarray(x, np.float32), training=False))}
    except Exception as exc:
        return _error(exc)


def train_built(namespace, config, weights, x, y, x_eval, epochs, learning_rate, seed):
    """The kit's training (Adam, MSE, shuffled batches of 32) on the model of `config`, then its
    predictions for x_eval. The model starts from `weights` (the reference model's initial
    weights) when its weights have their shapes, and from fresh ones of its own otherwise."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    try:
        model = _rebuild(config)
    except Exception as exc:
        return _error(exc)
    own = model.get_weights()
    copied = len(own) == len(weights) and all(np.shape(a) == np.shape(b) for a, b in zip(own, weights))
    if copied:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    try:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
        keras.utils.set_random_seed(seed)
        model.fit(np.asarray(x, np.float32), np.asarray(y, np.float32), epochs=epochs, batch_size=32, shuffle=True, verbose=0)
        predictions = np.asarray(model.predict(np.asarray(x_eval, np.float32), verbose=0, batch_size=256))
    except Exception as exc:
        return _error(exc)
    return {"predictions": predictions, "copied_weights": bool(copied)}


def predict(namespace, model, x):
    """The predictions for x of the model given as data ({"json", "weights"}: the kit's forecaster
    with, e.g., the weights a student's train_forecaster left it with)."""
    keras = _keras()
    try:
        built = keras.models.model_from_json(model["json"])
        built.set_weights([np.asarray(w, dtype=np.float32) for w in model["weights"]])
        return {"predictions": np.asarray(built.predict(np.asarray(x, np.float32), verbose=0, batch_size=256))}
    except Exception as exc:
        return _error(exc)
