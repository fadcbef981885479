class _WeightsMixin:
    """Shared helper: make the three weights in Keras's order (kernel, recurrent_kernel, bias)."""

    def _make_weights(self, input_dim, width, bias_shape, bias_init="zeros"):
        # Same names and order as keras.layers.SimpleRNNCell / GRUCell / LSTMCell
        self.kernel = self.add_weight(shape=(input_dim, width), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), initializer="orthogonal",
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=bias_shape, initializer=bias_init, name="bias")


def _affine(x, w, b=None):
    out = ops.matmul(x, w)
    return out if b is None else out + b


class RNNCell(_WeightsMixin, keras.layers.Layer):
    """
    A vanilla (Elman) RNN cell: one time step of h_t = activation(x_t W + h_{t-1} U + b).
    Weight-compatible with keras.layers.SimpleRNNCell.
    """

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.state_size = units  # one state vector of `units` numbers
        self.output_size = units

    def build(self, input_shape):
        # unlike SimpleRNN (the layer), a cell only knows one step
        self._make_weights(input_shape[-1], self.units, (self.units,))

    def call(self, inputs, states):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        h = self.activation(_affine(inputs, self.kernel, self.bias) + _affine(h_prev, self.recurrent_kernel))
        return h, [h]

    def get_initial_state(self, batch_size=None):
        """The state before the first step: [zeros of shape (batch_size, u)]."""
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        """Everything from_config needs to build an equal cell."""
        config = super().get_config()
        config.update(units=self.units, activation=keras.activations.serialize(self.activation))
        return config
