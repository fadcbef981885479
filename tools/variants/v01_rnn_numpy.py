"""Example submissions for 01_rnn_numpy: the code of each variant, by unit.

`correct` is a full solution written differently from the reference (the grader
must accept it in full); every other variant replaces some units of `correct` with a
realistic mistake. Used by tools/make_examples.py.
"""

VARIANTS = {
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
    # The depth read off the data (indices.max() + 1) instead of the `depth` argument: right
    # whenever the largest index happens to be depth - 1.
    "one_hot_depth_from_indices": {
        "one_hot": '''
def one_hot(indices, depth):
    indices = np.asarray(indices)
    if indices.size and (indices.min() < 0 or indices.max() >= depth):
        raise ValueError(f"index out of range [0, {depth})")
    size = int(indices.max()) + 1 if indices.size else depth
    return np.eye(size, dtype=np.float32)[indices]
''',
    },
    # Correct, written differently again: a comparison against every class id, broadcast.
    "correct_one_hot_by_comparison": {
        "one_hot": '''
def one_hot(indices, depth):
    """One-hot rows of width `depth` (the argument), float32."""
    indices = np.asarray(indices)
    if np.any((indices < 0) | (indices >= depth)):
        raise ValueError(f"one_hot: every index must be in [0, {depth})")
    return (indices[..., np.newaxis] == np.arange(depth)).astype(np.float32)
''',
    },
}
