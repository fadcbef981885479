"""Child-side probes for 07_time_series: build, train and run forecasters.

The kit's own forecaster (`kit_model`) is two SimpleRNN layers and Dense(1) made from
Keras's layers, so `train_forecaster` can be graded on a model that the student's
`build_forecaster` did not make. `known_model` predicts a fixed function of its window,
so the grader can work out what `forecast` must return. Every probe returns plain data
(arrays, numbers, strings); the grader decides.
"""

import numpy as np


def _keras():
    import keras

    return keras


def _numbers(value):
    """A returned loss list as a float64 array when it is one; anything else as it came."""
    if isinstance(value, (list, tuple, np.ndarray)) or type(value).__name__ in ("EagerTensor", "Variable"):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return value
        if array.ndim == 1:
            return array
    return value


def _max_change(before, after):
    return float(max((np.max(np.abs(a - b)) for a, b in zip(before, after)), default=0.0))


def kit_model(units=10, num_layers=2):
    """num_layers SimpleRNN layers of `units` units (the last keeps only its last step), then Dense(1)."""
    keras = _keras()
    inputs = keras.Input(shape=(None, 1))
    hidden = inputs
    for layer in range(num_layers):
        hidden = keras.layers.SimpleRNN(units, return_sequences=layer < num_layers - 1)(hidden)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


def kit_weights(namespace, units, num_layers, seed):
    """The initial weights of the kit's forecaster built after set_random_seed(seed)."""
    _keras().utils.set_random_seed(seed)
    return [np.asarray(w) for w in kit_model(units, num_layers).get_weights()]


def train_kit_model(namespace, weights, x, y, x_eval, epochs, learning_rate, seed, units=10, num_layers=2):
    """Student's train_forecaster on the kit's forecaster started from `weights`.

    Returns what it returned ("losses"), the trained model's predictions for x_eval
    ("predictions", shape (len(x_eval), 1)) and how far the weights moved ("weight_change").
    """
    keras = _keras()
    model = kit_model(units, num_layers)
    model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    keras.utils.set_random_seed(seed)
    losses = namespace["train_forecaster"](model, np.asarray(x, np.float32), np.asarray(y, np.float32), epochs=epochs, learning_rate=learning_rate)
    return {
        "losses": _numbers(losses),
        "predictions": np.asarray(model.predict(np.asarray(x_eval, np.float32), verbose=0, batch_size=256)),
        "weight_change": _max_change(weights, model.get_weights()),
    }


def built_model(namespace, units, num_layers, kind, windows=(20,), with_weights=False):
    """What build_forecaster(units, num_layers, kind) makes: type, weights count, layers, and
    the output shape (or the error) for a batch of 3 windows of each length in `windows`."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    model = namespace["build_forecaster"](units=units, num_layers=num_layers, kind=kind)
    info = {"type": type(model).__name__, "is_model": isinstance(model, keras.Model)}
    if not info["is_model"]:
        return info
    info["params"] = int(model.count_params())
    info["layers"] = [type(layer).__name__ for layer in model.layers]
    info["outputs"] = {}
    rng = np.random.default_rng(0)
    for length in windows:
        try:
            out = model(rng.standard_normal((3, length, 1)).astype(np.float32), training=False)
            info["outputs"][str(length)] = list(np.shape(out))
        except Exception as exc:  # a model fixed to one window length
            info["outputs"][str(length)] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    if with_weights:
        info["weights"] = [np.asarray(w) for w in model.get_weights()]
    return info


def train_built_model(namespace, units, num_layers, kind, weights, x, y, x_eval, epochs, learning_rate, seed):
    """The kit's training (Adam, MSE, shuffled batches of 32) on build_forecaster's model.

    When the model's weights have the shapes of `weights` (the reference model's initial
    weights) they are copied in, so a model like the reference starts where it started.
    """
    keras = _keras()
    keras.utils.set_random_seed(seed)
    model = namespace["build_forecaster"](units=units, num_layers=num_layers, kind=kind)
    own = model.get_weights()
    copied = len(own) == len(weights) and all(np.shape(a) == np.shape(b) for a, b in zip(own, weights))
    if copied:
        model.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    keras.utils.set_random_seed(seed)
    model.fit(np.asarray(x, np.float32), np.asarray(y, np.float32), epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    return {
        "predictions": np.asarray(model.predict(np.asarray(x_eval, np.float32), verbose=0, batch_size=256)),
        "copied_weights": bool(copied),
    }


def known_model(coefficients):
    """A keras.Model whose prediction for a window w (batch, T, 1) is
    a * w[-1] + b * w[0] + c * mean(w) + d, for coefficients (a, b, c, d)."""
    keras = _keras()
    a, b, c, d = (float(v) for v in coefficients)

    def known_function(w):
        return a * w[:, -1] + b * w[:, 0] + c * keras.ops.mean(w, axis=1) + d

    inputs = keras.Input(shape=(None, 1))
    return keras.Model(inputs, keras.layers.Lambda(known_function)(inputs), name="known_function")


def forecast_known(namespace, history, horizon, coefficients):
    """Student's forecast(model, history, horizon) with the model of known_model(coefficients)."""
    model = known_model(coefficients)
    return namespace["forecast"](model, np.asarray(history, dtype=np.float64), horizon)
