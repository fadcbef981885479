"""Small helpers the probes share: Keras on demand, kit models from data, type names, error text."""

import numpy as np


def _keras():
    import keras

    return keras


def _model(model):
    """The model described by {"json": model.to_json(), "weights": [...]}."""
    built = _keras().models.model_from_json(model["json"])
    built.set_weights([np.asarray(w, dtype=np.float32) for w in model["weights"]])
    return built


def _type_name(value):
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _export(model):
    """A built model as data: {"type", "json" (or None), "json_error", "weights"}."""
    info = {"type": _type_name(model), "json": None, "json_error": None, "weights": None}
    try:
        info["json"] = model.to_json()
    except Exception as exc:  # not a Keras model, or one Keras can't describe
        info["json_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    try:
        info["weights"] = [np.asarray(w) for w in model.get_weights()]
    except Exception:
        pass
    return info


def _error(exc):
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"
