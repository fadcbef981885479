"""Example submissions for 02_cells: the code of each variant, by unit.

`correct` is a full solution written differently from the reference (the grader
must accept it in full); every other variant replaces some units of `correct` with a
realistic mistake. Used by tools/make_examples.py.
"""

_GRU_CORRECT = '''
class GRUCell(keras.layers.Layer):
    """GRU cell, reset_after=True, weight-compatible with keras.layers.GRUCell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        n = self.units
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 3 * n), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(n, 3 * n), initializer="orthogonal")
        self.bias = self.add_weight(name="bias", shape=(2, 3 * n), initializer="zeros")

    def call(self, inputs, states):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        n = self.units
        W, U = self.kernel, self.recurrent_kernel
        b_in, b_rec = self.bias[0], self.bias[1]
        z = ops.sigmoid(inputs @ W[:, :n] + b_in[:n] + h_prev @ U[:, :n] + b_rec[:n])
        r = ops.sigmoid(inputs @ W[:, n:2 * n] + b_in[n:2 * n] + h_prev @ U[:, n:2 * n] + b_rec[n:2 * n])
        candidate = ops.tanh(inputs @ W[:, 2 * n:] + b_in[2 * n:] + r * (h_prev @ U[:, 2 * n:] + b_rec[2 * n:]))
        h = UPDATE
        return h, [h]

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
'''

_LSTM_CORRECT = '''
class LSTMCell(keras.layers.Layer):
    """LSTM cell with gate columns i, f, c, o, weight-compatible with keras.layers.LSTMCell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        n = self.units
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 4 * n), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(n, 4 * n), initializer="orthogonal")

        def bias_init(shape, dtype=None):
            return np.concatenate([np.zeros(n), FORGET * np.ones(n), np.zeros(2 * n)]).astype("float32")

        self.bias = self.add_weight(name="bias", shape=(4 * n,), initializer=bias_init)

    def call(self, inputs, states):
        h_prev, c_prev = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias
        GATES = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]

    def get_config(self):
        return dict(super().get_config(), units=self.units)
'''

VARIANTS = {
    "correct": {
        "RNNCell": '''
class RNNCell(keras.layers.Layer):
    """Elman cell, weight-compatible with keras.layers.SimpleRNNCell."""

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, self.units), initializer="orthogonal")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs, states):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        h = self.activation(ops.add(ops.add(ops.matmul(inputs, self.kernel), ops.matmul(prev, self.recurrent_kernel)), self.bias))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": keras.activations.serialize(self.activation)}
''',
        "GRUCell": _GRU_CORRECT.replace("UPDATE", "z * h_prev + (1 - z) * candidate"),
        "LSTMCell": _LSTM_CORRECT.replace("FORGET", "1.0").replace("GATES", "i, f, g, o"),
        "stacked_rnn": '''
def stacked_rnn(cell_class, units, num_layers, return_sequences=False, return_state=False):
    cells = []
    for _ in range(num_layers):
        cells.append(cell_class(units))
    return keras.layers.RNN(cells, return_sequences=return_sequences, return_state=return_state)
''',
    },
    # The LSTM's gate blocks read as i, f, o, c (PyTorch-like order confusion).
    "lstm_gate_order_ifoc": {"LSTMCell": _LSTM_CORRECT.replace("FORGET", "1.0").replace("GATES", "i, f, o, g")},
    # The GRU update written as in some textbooks: h = (1 - z) * h_prev + z * candidate.
    "gru_update_flipped": {"GRUCell": _GRU_CORRECT.replace("UPDATE", "(1 - z) * h_prev + z * candidate")},
    # The reset gate applied to h_prev before the recurrent matmul (reset_after=False maths).
    "gru_reset_before_matmul": {
        "GRUCell": _GRU_CORRECT.replace("UPDATE", "z * h_prev + (1 - z) * candidate").replace(
            "r * (h_prev @ U[:, 2 * n:] + b_rec[2 * n:])", "(r * h_prev) @ U[:, 2 * n:] + b_rec[2 * n:]"
        )
    },
    # The forget-gate bias left at zero like the others.
    "lstm_forget_bias_zero": {"LSTMCell": _LSTM_CORRECT.replace("FORGET", "0.0").replace("GATES", "i, f, g, o")},
    # The activation argument accepted and ignored: tanh written in.
    "rnn_activation_ignored": {
        "RNNCell": '''
class RNNCell(keras.layers.Layer):
    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, self.units), initializer="orthogonal")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs, states):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(prev, self.recurrent_kernel) + self.bias)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}
''',
    },
    # Correct, and it talks about Keras's own cells (docstring, comments, a string attribute, a
    # variable called lstm): the from-scratch checks look for uses, not for words.
    "correct_mentions_keras_cells": {
        "RNNCell": '''
class RNNCell(keras.layers.Layer):
    """Drop-in for keras.layers.SimpleRNNCell (not a subclass of it, nor a wrapper around keras.layers.RNN)."""

    keras_twin = "SimpleRNNCell"  # the class whose weights and function this matches

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation_name = activation
        self.activation = keras.activations.get(activation)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        # Same creation order as SimpleRNNCell.build: kernel, recurrent_kernel, bias.
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, self.units), initializer="orthogonal")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs, states):
        lstm = False  # nothing to do with an LSTM: one state only
        prev = states if lstm else (states[0] if isinstance(states, (list, tuple)) else states)
        pre = ops.einsum("bd,du->bu", inputs, self.kernel) + ops.einsum("bu,uv->bv", prev, self.recurrent_kernel)
        h = self.activation(pre + self.bias)
        return h, [h]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=self.activation_name)
        return config
''',
    },
    # One cell object shared by every layer of the stack.
    "stack_shares_one_cell": {
        "stacked_rnn": '''
def stacked_rnn(cell_class, units, num_layers, return_sequences=False, return_state=False):
    cell = cell_class(units)
    return keras.layers.RNN([cell] * num_layers, return_sequences=return_sequences, return_state=return_state)
''',
    },
}
