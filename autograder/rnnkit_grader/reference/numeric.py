"""Reference-only probe for 01_rnn_numpy: central-difference gradients of a unit.

Run only in the reference child, on the reference solution's own forward functions:
numerical gradients are what a backward pass computes, so nothing the student's
child can import may offer them. The comparison with the student's gradients is made
by the suite, in the grader.
"""

import numpy as np


def central_differences(namespace, forward, kwargs, wrt, upstream, h=1e-5):
    """[d sum(forward(**kwargs) * upstream) / d kwargs[name] for name in wrt], by central differences
    of the reference solution's function `forward` (its name)."""
    func = namespace[forward]
    grads = []
    for name in wrt:
        x = np.array(kwargs[name], dtype=np.float64)
        args = dict(kwargs)
        args[name] = x
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            plus = np.asarray(func(**args), dtype=np.float64)
            x[i] = old - h
            minus = np.asarray(func(**args), dtype=np.float64)
            x[i] = old
            grad[i] = np.sum((plus - minus) * upstream) / (2 * h)
        grads.append(grad)
    return grads
