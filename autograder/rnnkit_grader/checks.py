"""Assertions for hidden suites: each failure says which unit, which output, and why.

Everything here runs in the grader on plain data that came back from the child, so
a lying object can't reach it: values are Opaque, NumPy arrays of numbers, or JSON
scalars, and each check validates type, shape, dtype and finiteness before comparing.
"""

import numpy as np

from rnnkit_child.codec import Opaque
from rnnkit_grader.results import GradingFailure


def fail(message):
    raise GradingFailure(message)


def describe(value):
    if isinstance(value, Opaque):
        return f"a {value.type_name} ({value.text[:80]})"
    if isinstance(value, np.ndarray):
        return f"a NumPy array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__} ({str(value)[:80]})"


def array(value, unit, what, shape=None, float64=False, finite=True):
    """The value as a NumPy array of numbers, or a failure saying what is wrong with it."""
    if not isinstance(value, np.ndarray):
        fail(f"{unit}: {what} should be a NumPy array, but it is {describe(value)}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        fail(f"{unit}: {what} has shape {tuple(value.shape)}, expected {tuple(shape)}.")
    if float64 and value.dtype != np.float64:
        fail(
            f"{unit}: {what} has dtype {value.dtype}; given float64 inputs it must be float64 "
            "(an array created with another dtype, e.g. np.zeros(..., dtype=np.float32), loses precision)."
        )
    if finite and value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
        fail(f"{unit}: {what} contains NaN or inf.")
    return value


def scalar(value, unit, what):
    """A real number from a Python float/int or a 0-d / one-element array."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.ndarray)):
        fail(f"{unit}: {what} should be a number, but it is {describe(value)}.")
    if isinstance(value, np.ndarray):
        if value.size != 1 or value.dtype.kind not in "iuf":
            fail(f"{unit}: {what} should be a single number, but it is {describe(value)}.")
        value = value.reshape(()).item()
    value = float(value)
    if not np.isfinite(value):
        fail(f"{unit}: {what} is {value}.")
    return value


def sequence(value, unit, names):
    """A tuple or list of exactly len(names) items."""
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        fail(f"{unit} should return a tuple of {len(names)} items ({', '.join(names)}), but it returned {describe(value)}.")
    return list(value)


def rel_error(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def band(error, tol=None):
    """How far off a value is, in words that give away neither the expected value nor the direction.

    Hidden inputs are the same at every grading, so feedback that printed the reference's value,
    the exact distance to it, or whether a result is too high or too low would let a student tune
    a constant over a few resubmissions instead of computing it. Feedback therefore says only
    which of three bands a wrong value falls in (`error` is a relative error, as rel_error gives).
    """
    if not np.isfinite(error) or error >= 0.1:
        return "off by more than 10%"
    if error >= 1e-3:
        return "off by 0.1% to 10%"
    allowed = f" (allowed: {tol:.0e})" if tol is not None else ""
    return f"within 0.1%, but not within the tolerance{allowed}: look for lost precision or a small missing term"


def relative(value, expected):
    """The relative error of one number against another, as a band() takes it."""
    return abs(float(value) - float(expected)) / max(abs(float(expected)), 1e-12)


def close(actual, expected, tol, unit, what, hint=""):
    """Fail unless the largest relative error is below tol; the message gives the error only as a band."""
    err = rel_error(actual, expected)
    if not err < tol:
        message = f"{unit}: {what} does not match the reference ({band(err, tol)})."
        if hint:
            message += f" {hint}"
        fail(message)


def matches(actual, expected, tol=1e-6):
    """True when two arrays of the same shape agree to tol (a quiet close)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    return actual.shape == expected.shape and rel_error(actual, expected) < tol


def parameter_gap(shapes, want):
    """How a model's weight shapes (lists of lists) differ from `want`, as a phrase for feedback:
    "no weights", "+12 parameters against", or "as many parameters as, but other weight shapes than,"."""
    params = sum(int(np.prod(s)) for s in shapes) if isinstance(shapes, list) and all(isinstance(s, list) for s in shapes) else 0
    expected = sum(int(np.prod(s)) for s in want)
    if not params:
        return "no weights"
    return f"{params - expected:+d} parameters against" if params != expected else "as many parameters as, but other weight shapes than,"
