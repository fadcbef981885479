"""The statistics the hidden suites share (rnnkit_grader.checks): right on known values, and the
suites' chi-square critical values are the ones these functions compute."""

import math

import numpy as np
import pytest

from conftest import load_suite
from rnnkit_grader import checks


def test_softmax_and_nll_agree_and_are_stable():
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]])
    p = checks.softmax(z)
    assert np.allclose(p.sum(axis=-1), 1.0) and np.all(np.isfinite(p))
    assert np.allclose(p[0], np.exp(z[0]) / np.exp(z[0]).sum()) and np.allclose(p[1], 1 / 3)
    assert np.allclose(checks.softmax(z[0]), p[0])  # one axis as well as many
    targets = np.array([2, 0])
    assert np.allclose(checks.nll(z, targets), -np.log(p[np.arange(2), targets]))
    assert checks.nll(z.astype(np.float32), targets).dtype == np.float64


def test_chi_square_statistic_and_tail():
    assert checks.chi_square(np.array([10.0, 30.0]), np.array([0.5, 0.5])) == pytest.approx(10.0)
    assert checks.chi_square(np.array([25.0, 25.0]), np.array([0.5, 0.5])) == 0.0
    for df, x, p in ((1, 3.841458820694124, 0.05), (2, 5.991464547107979, 0.05), (3, 7.814727903251179, 0.05),
                     (4, 9.487729036781154, 0.05), (10, 18.307038053275146, 0.05), (5, 15.08627246938899, 0.01)):
        assert checks.chi_square_sf(x, df) == pytest.approx(p, rel=1e-6), df
        assert checks.chi_square_critical(df, p) == pytest.approx(x, rel=1e-6), df
    assert checks.chi_square_sf(0.0, 3) == 1.0
    assert checks.chi_square_sf(4.0, 2) == pytest.approx(math.exp(-2.0))


@pytest.mark.parametrize("assignment_id, critical", [
    ("03_hello_lm", lambda suite: {4: suite.CHI2_CRITICAL}),
    ("06_char_rnn", lambda suite: suite.CHI2_CRITICAL),
])
def test_the_suites_critical_values_are_computed_ones(assignment_id, critical):
    """Each suite's chi-square critical value is the quantile for a false failure of 1e-6 at its degrees of freedom."""
    for df, value in critical(load_suite(assignment_id)).items():
        assert round(checks.chi_square_critical(df, 1e-6), 2) == value, (assignment_id, df)


def test_first_departure():
    reference = [1.0, 0.9, 0.8, 0.7]
    assert checks.first_departure([1.0, 0.9, 0.8, 0.7], reference, rtol=1e-3, atol=1e-5) is None
    assert checks.first_departure([1.0, 0.9, 0.85, 0.7], reference, rtol=1e-3, atol=1e-5) == 2
    assert checks.first_departure([1.0005, 0.9, 0.8, 0.6], reference, rtol=1e-3, atol=1e-5) == 3


def test_first_departure_symmetric_measures_against_the_larger_point():
    # 2.0 against 1.0 with rtol 0.6: within 0.6 of the larger point (math.isclose: 1 <= 1.2),
    # not within 0.6 of the reference's point (np.isclose: 1 > 0.6)
    assert checks.first_departure([1.0, 2.0], [1.0, 1.0], rtol=0.6, atol=0.0, symmetric=True) is None
    assert checks.first_departure([1.0, 2.0], [1.0, 1.0], rtol=0.6, atol=0.0) == 1
    assert checks.first_departure([1.0, 1.00105], [1.0, 1.0], rtol=1e-3, atol=1e-5, symmetric=True) == 1


def test_agree_needs_the_shape_and_the_values():
    a = np.array([1.0, 2.0])
    assert checks.agree(a, [1.0, 2.0 + 1e-7], rtol=1e-6, atol=0)
    assert not checks.agree(a, [1.0, 2.1], rtol=1e-6, atol=0)
    assert not checks.agree(a.reshape(2, 1), [1.0, 2.0], rtol=1e-6, atol=0)  # same values, another shape
    assert checks.agree([1.0, 2.0], a, rtol=1e-6, atol=0) and not checks.agree([1.0, 2.0], a, 1e-6, 0, arrays_only=True)
    assert not checks.agree(object(), a, rtol=1e-6, atol=0)  # not numbers: no agreement, no error
    assert checks.all_agree([a, a], [a, a], 1e-6, 0) and not checks.all_agree([a], [a, a], 1e-6, 0)
    assert not checks.all_agree((a, a), [a, a], 1e-6, 0)  # a tuple where a list of arrays belongs


def test_number_is_a_single_finite_real_or_none():
    assert checks.number(2) == 2.0 and checks.number(np.float64(0.5)) == 0.5 and checks.number(np.array([[3.0]])) == 3.0
    for not_one in (True, np.array([1.0, 2.0]), float("nan"), np.array(np.inf), "1.0", None, np.array(1 + 2j), [1.0]):
        assert checks.number(not_one) is None, not_one
