"""Assertions for hidden suites: each failure says which unit, which output, and why.

Everything here runs in the grader on plain data that came back from the child, so
a lying object can't reach it: values are Opaque, NumPy arrays of numbers, or JSON
scalars, and each check validates type, shape, dtype and finiteness before comparing.
"""

import dataclasses

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


def number(value):
    """What scalar() makes of a returned value (a single finite real number, as a float), or None where
    scalar() would fail: the quiet form, for choosing feedback."""
    try:
        return scalar(value, "", "")
    except (GradingFailure, OverflowError):  # OverflowError: an int too large for a float
        return None


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


# ---- statistics the suites share ---------------------------------------------------------------
#
# Plain NumPy on data the grader holds (never in a child). Each suite used to carry its own copy.


def softmax(z):
    """Softmax over the last axis, shifted by the maximum for stability (the dtype of z)."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def nll(logits, targets):
    """Per-position negative log-likelihood (float64) of int targets under logits (..., V)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_p, np.asarray(targets)[..., None], axis=-1)[..., 0]


def chi_square(counts, shares):
    """Pearson's statistic of observed `counts` against expected `shares` (summing to 1)."""
    expected = shares * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def chi_square_sf(x, df):
    """P(X > x) for a chi-square variable with `df` degrees of freedom (closed forms; no SciPy)."""
    import math

    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:  # exp(-x/2) * sum_{i < df/2} (x/2)^i / i!
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return math.exp(-half) * total
    total = math.erfc(math.sqrt(half))  # odd: erfc(sqrt(x/2)) + exp(-x/2) sum_{i=1}^{(df-1)/2} (x/2)^(i-1/2) / Gamma(i+1/2)
    for i in range(1, (df - 1) // 2 + 1):
        total += math.exp(-half + (i - 0.5) * math.log(half) - math.lgamma(i + 0.5))
    return total


def chi_square_critical(df, false_failure):
    """The x at which P(X > x) = false_failure for `df` degrees of freedom (bisection, to 1e-9)."""
    lo, hi = 0.0, 1.0
    while chi_square_sf(hi, df) > false_failure:
        hi *= 2.0
    while hi - lo > 1e-9:
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if chi_square_sf(mid, df) > false_failure else (lo, mid)
    return hi


def first_departure(curve, reference, rtol, atol, symmetric=False):
    """Index of the first point where `curve` departs from `reference`, or None: np.isclose with
    rtol, atol (the tolerance relative to the reference's point), or with symmetric=True math.isclose
    (relative to the larger of the two points, rel_tol=rtol, abs_tol=atol)."""
    import math

    for i, (a, b) in enumerate(zip(curve, reference)):
        if not (math.isclose(a, b, rel_tol=rtol, abs_tol=atol) if symmetric else np.isclose(a, b, rtol=rtol, atol=atol)):
            return i
    return None


def agree(actual, expected, rtol, atol, arrays_only=False):
    """True when `actual` has the shape of `expected` and np.allclose(actual, expected, rtol, atol), in
    float64 (a quiet check, for choosing feedback). With arrays_only, only a NumPy array agrees: a
    list or a number the student returned where an array belongs does not."""
    if arrays_only and not isinstance(actual, np.ndarray):
        return False
    try:
        a, b = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def all_agree(actuals, expected, rtol, atol, arrays_only=False):
    """True when `actuals` is a list of as many items as `expected`, each agreeing with its own."""
    return (isinstance(actuals, list) and len(actuals) == len(expected)
            and all(agree(a, b, rtol, atol, arrays_only) for a, b in zip(actuals, expected)))


# ---- calibration ---------------------------------------------------------------------------------
#
# A suite that declares a bound calibrated on its reference (a floor, a limit, the figure it was set
# from: readiness.BOUND_NAME) defines `calibrate(reference)`, which re-measures each figure on the
# reference exactly as the grader measures a submission and returns Calibration records; one kit
# test (tests/test_calibration.py) re-checks them for every such suite.


@dataclasses.dataclass(frozen=True)
class Calibration:
    """One figure behind a suite's bound, re-measured on the reference."""

    names: tuple  # the suite's module-level names this re-checks ("PPL_BOUND", "CALIBRATED_PPL")
    what: str  # the figure, in words ("the reference's validation perplexity under BUDGET")
    measured: float  # its value now
    holds: bool  # the reference is on the passing side of the bound, with any margin the suite needs
    failure: str = ""  # why it does not hold, when it does not
    calibrated: float = None  # its value when the bound was set (None: no drift check)
    drift: float = None  # how far `measured` may move from `calibrated` before the bound is recalibrated
    recalibrate: str = "recalibrate and update the figures next to the bound"

    def problems(self):
        """What is wrong with this figure, as sentences ([] when the bound still holds)."""
        found = [] if self.holds else [f"{self.what} is {self.measured:.4g}: {self.failure or 'the bound no longer holds'}; {self.recalibrate}"]
        if self.calibrated is not None and not abs(self.measured - self.calibrated) <= self.drift:
            found.append(f"{self.what} moved: {self.measured:.4g} now, {self.calibrated} when calibrated (drift allowed "
                         f"{self.drift:.3g}); {self.recalibrate}")
        return found
