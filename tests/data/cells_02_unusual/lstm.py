def lstm_gates(z, units):
    """Split the pre-activations like keras.layers.LSTMCell does: i, f, c, o."""
    return [z[:, k * units:(k + 1) * units] for k in range(4)]


class LSTMCell(keras.layers.Layer):
    """
    A long short-term memory cell. Weight-compatible with keras.layers.LSTMCell.
    (Keras's LSTM layer runs this same cell; PyTorch's nn.LSTM uses i, f, g, o.)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]  # two states: h and c
        self.output_size = units
        self.sigma = keras.activations.get("sigmoid")

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), initializer=keras.initializers.GlorotUniform(),
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), initializer=keras.initializers.Orthogonal(),
                                                name="recurrent_kernel")
        init = np.zeros(4 * u, dtype="float32")
        init[u:2 * u] = 1.0  # unit_forget_bias, as LSTMCell(unit_forget_bias=True)
        self.bias = self.add_weight(shape=(4 * u,), initializer=keras.initializers.Constant(init), name="bias")

    def call(self, inputs, states):
        h_prev, c_prev = states
        z = ops.add(ops.add(ops.matmul(inputs, self.kernel), ops.matmul(h_prev, self.recurrent_kernel)), self.bias)
        zi, zf, zc, zo = lstm_gates(z, self.units)
        c = self.sigma(zf) * c_prev + self.sigma(zi) * ops.tanh(zc)
        h = self.sigma(zo) * ops.tanh(c)
        return h, [h, c]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in range(2)]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
