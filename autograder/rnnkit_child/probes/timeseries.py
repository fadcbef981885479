"""Child-side probes for 07_time_series: run the student's units and hand back what they made.

Nothing here builds, trains or scores a forecaster the way the graded units do. The
kit's own forecaster (for grading `train_forecaster` on a model the student's
`build_forecaster` did not make) is built in the reference child
(rnnkit_grader.reference.timeseries) and arrives here as data, a Keras config from
model.to_json() and weights, rebuilt with keras.models.model_from_json (Keras's code,
not the kit's). What goes back is raw: the losses as returned, the trained weights,
the built model as a config and weights, the forecast values. The reference child
rebuilds and measures models (shapes, weight counts, predictions on held-out windows
that never reach this process), and the suite, in the grader, computes every figure.
`known_model` predicts a fixed function of its window, so the grader can work out
what `forecast` must return; it is a probe model, not a forecaster.
"""

import numpy as np

from rnnkit_child.probes._common import _export, _keras, _model


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


def built_model(namespace, units, num_layers, kind, defaults=False):
    """What build_forecaster(units, num_layers, kind) returned, as data: its type, its Keras
    config (model.to_json(), or why that failed) and its weights. With `defaults`, of
    build_forecaster() with no argument."""
    _keras().utils.set_random_seed(0)
    if defaults:
        return _export(namespace["build_forecaster"]())
    model = namespace["build_forecaster"](units=units, num_layers=num_layers, kind=kind)
    return _export(model)


def signature_defaults(namespace, unit_name):
    """{parameter: its default} of the unit `unit_name`, for defaults that are numbers, strings, bools or
    None (others as their type's name); {"error"} when the unit has no readable signature."""
    import inspect

    try:
        parameters = inspect.signature(namespace[unit_name]).parameters
    except (TypeError, ValueError, KeyError) as exc:
        return {"error": type(exc).__name__}
    found = {}
    for param in parameters.values():
        if param.default is inspect.Parameter.empty:
            continue
        value = param.default
        found[param.name] = value if value is None or isinstance(value, (bool, int, float, str)) else type(value).__name__
    return {"defaults": found}


def train_given_model(namespace, model, x, y, epochs, learning_rate, seed):
    """Student's train_forecaster on the given model ({"json", "weights"}): what it returned
    ("losses") and the weights it left the model with ("weights")."""
    import gc

    keras = _keras()
    built = _model(model)

    def optimizers():
        return [o for o in gc.get_objects() if isinstance(o, keras.optimizers.Optimizer)]

    known = {id(o) for o in optimizers()}
    keras.utils.set_random_seed(seed)
    losses = namespace["train_forecaster"](built, np.asarray(x, np.float32), np.asarray(y, np.float32), epochs=epochs, learning_rate=learning_rate)
    steps = []  # how many updates each optimizer made during the call applied (the batch size shows in it)
    for o in optimizers():
        if id(o) not in known:
            try:
                steps.append(int(o.iterations.numpy()))
            except Exception:
                pass
    return {"losses": _numbers(losses), "weights": [np.asarray(w) for w in built.get_weights()], "optimizer_steps": steps}


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
