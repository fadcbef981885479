"""The calibrated thresholds of 06_char_rnn and 07_time_series still hold for the references.

Each hidden suite writes down what its reference reached under the grading budget and
seed, and sets its bound from that. These tests re-run the reference exactly as the
grader does (the suite's own budget, in a grading child), so a change to a notebook, a
probe or a library that moves the figure can't slip by silently.
"""

import numpy as np
import pytest

from conftest import load_suite, reference_child


@pytest.fixture(scope="module")
def char_suite():
    return load_suite("06_char_rnn")


@pytest.fixture(scope="module")
def char_reference():
    yield from reference_child("06_char_rnn")


@pytest.fixture(scope="module")
def series_suite():
    return load_suite("07_time_series")


@pytest.fixture(scope="module")
def series_reference():
    yield from reference_child("07_time_series")


def test_char_rnn_reference_perplexity_under_the_bound(char_suite, char_reference):
    s = char_suite
    V, batches, val_x, val_y = s.budget_data()
    _, position_nll, _ = s.budget_logits(char_reference, char_reference, unit=False)
    ppl = float(np.exp(position_nll.mean()))
    assert ppl < s.PPL_BOUND, f"the reference's validation perplexity is {ppl:.2f}, over the bound {s.PPL_BOUND}: recalibrate"
    assert abs(ppl - s.CALIBRATED_PPL) <= 1.0, (
        f"the reference's validation perplexity moved: {ppl:.2f} now, {s.CALIBRATED_PPL} when calibrated; update the figures next to PPL_BOUND"
    )


def test_time_series_reference_mse_and_limit(series_suite, series_reference):
    s = series_suite
    start = series_reference.probe("timeseries.kit_spec", units=10, num_layers=2, seed=s.SEED)
    test_mse = s.reference_mse(series_reference, start)
    assert abs(test_mse - s.CALIBRATED_MSE) <= 0.15 * s.CALIBRATED_MSE, (
        f"the reference's test MSE moved: {test_mse:.5f} now, {s.CALIBRATED_MSE} when calibrated; update the figures next to MSE_FACTOR"
    )
    assert s.MSE_FACTOR * test_mse < s.NAIVE_MSE, "the limit must be stricter than the naive forecast 'next = current'"


def test_time_series_evaluation_inputs_hold_no_answer(series_suite):
    """No test target lies inside any window the evaluation reads (test or training windows)."""
    s = series_suite
    read = set()
    for start in list(range(s.SPLIT - s.WINDOW)) + list(s.TEST_STARTS):
        read.update(range(start, start + s.WINDOW))
    targets = set(int(t) for t in s.TEST_STARTS + s.WINDOW)
    assert len(targets) == s.N_TEST and not targets & read
    assert np.allclose(s.Y_TEST[:, 0], s.SERIES[s.TEST_STARTS + s.WINDOW])
    assert np.allclose(s.X_TEST[:, :, 0], s.SERIES[s.TEST_STARTS[:, None] + np.arange(s.WINDOW)])
