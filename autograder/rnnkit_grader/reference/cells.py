"""Reference-only probes for 02_cells: Keras's own cells and stack, run in the reference child.

The suite compares the student's cell (run in the student's child by
rnnkit_child.probes.cells) with Keras's cell of the same weights, and names slips by
running Keras's cell on rearranged weights or with other options (`cell_kwargs`).
Those runs are what a correct cell computes, so they live here, where the student's
child can never import them.
"""

from rnnkit_child.probes import cells as child

KERAS_CELLS = {"RNNCell": "SimpleRNNCell", "GRUCell": "GRUCell", "LSTMCell": "LSTMCell"}


def _cell_class(namespace, cell, source):
    if source == "keras":
        return getattr(child._keras().layers, KERAS_CELLS[cell])
    return child._student_class(namespace, cell)


def layout(namespace, cell, units, input_dim, source="keras"):
    """Keras's cell's weights as created: names, shapes, initial values, and its state_size."""
    return child._layout(_cell_class(namespace, cell, source), units, input_dim)


def run(namespace, cell, units, x, weights, source="keras", return_sequences=True, return_state=True, num_layers=1, grads=True, cell_kwargs=None):
    """As rnnkit_child.probes.cells.run, over Keras's cell (optionally with other cell options)."""
    return child._run(_cell_class(namespace, cell, source), units, x, weights, return_sequences, return_state, num_layers, grads, cell_kwargs)


def keras_stacked(namespace, units, num_layers, return_sequences, return_state, x, weights=None):
    """keras.layers.RNN over num_layers of Keras's LSTMCell: its outputs and weight shapes."""
    import numpy as np

    keras = child._keras()
    layer = keras.layers.RNN([keras.layers.LSTMCell(units) for _ in range(num_layers)], return_sequences=return_sequences, return_state=return_state)
    x = np.asarray(x, dtype=np.float32)
    layer(x[:, :1])
    if weights is not None:
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return {"outputs": child._outputs(layer(x)), "weight_shapes": [list(w.shape) for w in layer.weights]}
