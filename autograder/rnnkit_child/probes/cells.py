"""Child-side probes for 02_cells: run a cell inside keras.layers.RNN and take gradients.

`source="keras"` uses Keras's own cell (only ever asked of the reference child, so
student code can't have patched it); `source="student"` uses the class of that name
from the notebook. Everything returned is plain data: arrays, names, numbers.
"""

import numpy as np

KERAS_CELLS = {"RNNCell": "SimpleRNNCell", "GRUCell": "GRUCell", "LSTMCell": "LSTMCell"}


def _keras():
    import keras

    return keras


def cell_class(namespace, cell, source):
    if source == "keras":
        return getattr(_keras().layers, KERAS_CELLS[cell])
    if cell not in namespace:
        raise NameError(f"{cell} is not defined")
    return namespace[cell]


def _projection(shape, index):
    """Fixed random weights that turn an output into a scalar loss, the same in every child."""
    return np.random.default_rng(1000 + index).standard_normal(shape).astype(np.float32)


def build_layer(namespace, cell, units, input_dim, source="student", return_sequences=False, return_state=False, num_layers=1, cell_kwargs=None):
    keras = _keras()
    cls = cell_class(namespace, cell, source)
    cells = [cls(units, **(cell_kwargs or {})) for _ in range(num_layers)]
    layer = keras.layers.RNN(cells if num_layers > 1 else cells[0], return_sequences=return_sequences, return_state=return_state)
    layer(np.zeros((1, 1, input_dim), dtype=np.float32))
    return layer, cells


def layout(namespace, cell, units, input_dim, source="student"):
    """The cell's weights as created: [(name, shape)], and their initial values."""
    layer, cells = build_layer(namespace, cell, units, input_dim, source)
    weights = cells[0].weights
    return {
        "names": [str(w.name).split("/")[-1].split(":")[0] for w in weights],
        "shapes": [list(w.shape) for w in weights],
        "values": [np.asarray(w.numpy()) for w in weights],
        "state_size": _plain(cells[0].state_size),
    }


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)


def run(namespace, cell, units, x, weights, source="student", return_sequences=True, return_state=True, num_layers=1, grads=True, cell_kwargs=None):
    """Outputs of keras.layers.RNN over the cell, and gradients of a fixed scalar loss.

    Returns {"outputs": [arrays], "grads": [d loss/d x, then d loss/d each weight]}.
    """
    import tensorflow as tf

    x = np.asarray(x, dtype=np.float32)
    layer, _ = build_layer(namespace, cell, units, x.shape[-1], source, return_sequences, return_state, num_layers, cell_kwargs)
    layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = layer(xt)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        loss = tf.add_n([tf.reduce_sum(o * _projection(tuple(o.shape), i)) for i, o in enumerate(outs)])
    result = {"outputs": [np.asarray(o) for o in outs]}
    if grads:
        g = tape.gradient(loss, [xt] + list(layer.trainable_weights))
        result["grads"] = [None if v is None else np.asarray(tf.convert_to_tensor(v)) for v in g]
    return result


def config_roundtrip(namespace, cell, units, x, weights):
    """Outputs of the cell and of type(cell).from_config(cell.get_config()) with the same weights."""
    first = run(namespace, cell, units, x, weights, grads=False)
    keras = _keras()
    cls = cell_class(namespace, cell, "student")
    original = cls(units, name="probe_cell")
    config = original.get_config()
    clone = type(original).from_config(config)
    layer = keras.layers.RNN(clone, return_sequences=True, return_state=True)
    x = np.asarray(x, dtype=np.float32)
    layer(x[:, :1])
    layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    out = layer(x)
    return {
        "outputs": first["outputs"],
        "clone_outputs": [np.asarray(o) for o in out],
        "clone_units": _plain(getattr(clone, "units", None)),
        "clone_name": str(clone.name),
    }


def kwargs_passed(namespace, cell, units):
    """Does the cell hand name and dtype on to Layer (and still work in float64)?"""
    keras = _keras()
    made = cell_class(namespace, cell, "student")(units, name="named_cell", dtype="float64")
    layer = keras.layers.RNN(made, dtype="float64")
    layer(np.zeros((1, 2, 3), dtype=np.float64))
    return {"name": str(made.name), "dtype": str(made.weights[0].dtype) if made.weights else "no weights"}


def stacked(namespace, units, num_layers, return_sequences, return_state, x, weights=None):
    """What the student's stacked_rnn builds (over Keras's LSTMCell), and what it computes."""
    keras = _keras()
    layer = namespace["stacked_rnn"](keras.layers.LSTMCell, units, num_layers, return_sequences=return_sequences, return_state=return_state)
    info = {"is_rnn": isinstance(layer, keras.layers.RNN)}
    cells = getattr(layer, "cell", None)
    inner = getattr(cells, "cells", None)
    cell_list = list(inner) if inner is not None else ([cells] if cells is not None else [])
    info["num_cells"] = len(cell_list)
    info["distinct_cells"] = len({id(c) for c in cell_list})
    info["return_sequences"] = bool(getattr(layer, "return_sequences", None))
    info["return_state"] = bool(getattr(layer, "return_state", None))
    if not info["is_rnn"]:
        return info
    try:  # what the layer is made of is worth reporting even when running it fails
        x = np.asarray(x, dtype=np.float32)
        layer(x[:, :1])
        if weights is not None:
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        out = layer(x)
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"[:600]
        return info
    info["outputs"] = [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
    info["weight_shapes"] = [list(w.shape) for w in layer.weights]
    return info


def keras_stacked(namespace, units, num_layers, return_sequences, return_state, x, weights=None):
    """The same stack built from Keras's own pieces (asked of the reference child)."""
    keras = _keras()
    layer = keras.layers.RNN([keras.layers.LSTMCell(units) for _ in range(num_layers)], return_sequences=return_sequences, return_state=return_state)
    x = np.asarray(x, dtype=np.float32)
    layer(x[:, :1])
    if weights is not None:
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    out = layer(x)
    return {"outputs": [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])], "weight_shapes": [list(w.shape) for w in layer.weights]}
