"""The code of the example submissions, by assignment, variant and unit.

`correct` is a full solution written differently from the reference (the grader
must accept it in full); every other variant replaces some units of `correct` with a
realistic mistake. Used by tools/make_examples.py.
"""

VARIANTS = {}

VARIANTS["01_rnn_numpy"] = {
    "correct": {
        "one_hot": '''
def one_hot(indices, depth):
    idx = np.array(indices, dtype=np.int64)
    bad = (idx < 0) | (idx >= depth)
    if bad.any():
        raise ValueError(f"indices must lie in [0, {depth}), found {idx[bad].ravel()[0]}")
    out = np.zeros(idx.shape + (depth,), dtype=np.float32)
    np.put_along_axis(out, idx[..., None], 1.0, axis=-1)
    return out
''',
        "rnn_step_forward": '''
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    a = np.dot(x, Wx) + np.dot(h_prev, Wh) + b[None, :]
    return np.tanh(a)
''',
        "rnn_forward": '''
def rnn_forward(x, h0, Wx, Wh, b):
    states = []
    h = h0
    for x_t in np.moveaxis(x, 1, 0):
        h = rnn_step_forward(x_t, h, Wx, Wh, b)
        states.append(h)
    return np.stack(states, axis=1)
''',
        "rnn_step_backward": '''
def rnn_step_backward(dh_next, x, h_prev, Wx, Wh, b):
    h_next = rnn_step_forward(x, h_prev, Wx, Wh, b)
    da = dh_next * (1.0 - np.square(h_next))
    dx = np.einsum("nh,dh->nd", da, Wx)
    dh_prev = np.einsum("nh,kh->nk", da, Wh)
    dWx = np.einsum("nd,nh->dh", x, da)
    dWh = np.einsum("nk,nh->kh", h_prev, da)
    db = np.einsum("nh->h", da)
    return dx, dh_prev, dWx, dWh, db
''',
        "rnn_backward": '''
def rnn_backward(dh, x, h0, Wx, Wh, b):
    h = rnn_forward(x, h0, Wx, Wh, b)
    T = x.shape[1]
    grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
    dx = np.empty_like(x)
    carry = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        h_prev = h[:, t - 1] if t > 0 else h0
        dx[:, t], carry, *step = rnn_step_backward(dh[:, t] + carry, x[:, t], h_prev, Wx, Wh, b)
        for g, s in zip(grads, step):
            g += s
    return dx, carry, grads[0], grads[1], grads[2]
''',
        "softmax_cross_entropy": '''
def softmax_cross_entropy(logits, targets):
    N, T, V = logits.shape
    flat = logits.reshape(N * T, V)
    y = targets.reshape(N * T)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N * T), y].mean()
    dflat = np.exp(log_probs)
    dflat[np.arange(N * T), y] -= 1.0
    return loss, (dflat / (N * T)).reshape(N, T, V)
''',
    },
    # Every step restarts from h0 instead of carrying the state.
    "forward_reuses_h0": {
        "rnn_forward": '''
def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    for t in range(T):
        h[:, t] = rnn_step_forward(x[:, t], h0, Wx, Wh, b)
    return h
''',
    },
    # The tanh derivative taken at the previous state.
    "tanh_derivative_of_h_prev": {
        "rnn_step_backward": '''
def rnn_step_backward(dh_next, x, h_prev, Wx, Wh, b):
    dtanh = dh_next * (1 - h_prev ** 2)
    dx = dtanh @ Wx.T
    dh_prev = dtanh @ Wh.T
    dWx = x.T @ dtanh
    dWh = h_prev.T @ dtanh
    db = dtanh.sum(axis=0)
    return dx, dh_prev, dWx, dWh, db
''',
    },
    # Backprop through time that only injects the last step's upstream gradient.
    "bptt_last_step_only": {
        "rnn_backward": '''
def rnn_backward(dh, x, h0, Wx, Wh, b):
    h = rnn_forward(x, h0, Wx, Wh, b)
    N, T, D = x.shape
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh_t = dh[:, T - 1]
    for t in reversed(range(T)):
        h_prev = h0 if t == 0 else h[:, t - 1]
        dx[:, t], dh_t, dWx_t, dWh_t, db_t = rnn_step_backward(dh_t, x[:, t], h_prev, Wx, Wh, b)
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dh_t, dWx, dWh, db
''',
    },
    # The loss summed over positions instead of averaged (and its gradient with it).
    "loss_summed_not_averaged": {
        "softmax_cross_entropy": '''
def softmax_cross_entropy(logits, targets):
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    N, T, V = logits.shape
    n, t = np.meshgrid(np.arange(N), np.arange(T), indexing="ij")
    loss = -np.log(p[n, t, targets]).sum()
    dlogits = p.copy()
    dlogits[n, t, targets] -= 1
    return loss, dlogits
''',
    },
    # No check of the index range: out-of-range indices silently wrap or crash with IndexError.
    "one_hot_without_range_check": {
        "one_hot": '''
def one_hot(indices, depth):
    return np.eye(depth, dtype=np.float32)[indices]
''',
    },
}

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

VARIANTS["02_cells"] = {
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
    # One cell object shared by every layer of the stack.
    "stack_shares_one_cell": {
        "stacked_rnn": '''
def stacked_rnn(cell_class, units, num_layers, return_sequences=False, return_state=False):
    cell = cell_class(units)
    return keras.layers.RNN([cell] * num_layers, return_sequences=return_sequences, return_state=return_state)
''',
    },
}
