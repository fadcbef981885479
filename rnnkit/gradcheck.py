"""Numerical gradient checking for the NumPy exercises.

Students call these to test a backward pass against central differences before
they hand it in:

    dx_num = numerical_gradient(lambda x: rnn_step_forward(x, h, Wx, Wh, b), x, dnext)
    print(rel_error(dx_num, dx))   # around 1e-9 or smaller when dx is right
"""

import numpy as np


def numerical_gradient(f, x, upstream=None, h=1e-5):
    """Central-difference gradient of sum(f(x) * upstream) with respect to x.

    Inputs:
    - f: function of one array returning an array (or a scalar)
    - x: float64 array; it is perturbed in place and restored
    - upstream: array of f(x)'s shape, dL/df (ones when None)
    - h: step size

    Returns:
    - grad: array of x's shape
    """
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise ValueError(f"x must be float64 for a numerical gradient, got {x.dtype}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = old - h
        minus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = old
        up = np.ones_like(plus) if upstream is None else upstream
        grad[i] = np.sum((plus - minus) * up) / (2 * h)
        it.iternext()
    return grad


def rel_error(a, b):
    """Largest elementwise relative error between two arrays of the same shape."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
