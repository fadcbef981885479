import functools


class _Split3Mixin:
    def split3(self, t):
        return ops.split(t, 3, axis=-1)


GRU_GATES = ("z", "r", "h")  # the column order of keras.layers.GRUCell(reset_after=True)


class GRUCell(_Split3Mixin, keras.layers.Layer):
    """
    A gated recurrent unit, reset applied after the recurrent matmul. Weight-compatible with
    keras.layers.GRUCell(reset_after=True).
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        u = self.units
        make = functools.partial(self.add_weight, dtype=self.variable_dtype)
        self.kernel = make(shape=(input_shape[-1], 3 * u), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = make(shape=(u, 3 * u), initializer="orthogonal", name="recurrent_kernel")
        self.bias = make(shape=(2, 3 * u), initializer="zeros", name="bias")

    def call(self, inputs, states):
        [h_prev] = states
        input_bias, recurrent_bias = ops.unstack(self.bias, axis=0)
        xz, xr, xh = self.split3(ops.matmul(inputs, self.kernel) + input_bias)
        hz, hr, hh = self.split3(ops.matmul(h_prev, self.recurrent_kernel) + recurrent_bias)
        z = keras.activations.sigmoid(xz + hz)
        r = keras.activations.sigmoid(xr + hr)
        candidate = keras.activations.tanh(xh + r * hh)
        h = z * h_prev + (1.0 - z) * candidate
        return h, [h]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
