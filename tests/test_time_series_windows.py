"""07_time_series's evaluation windows hold no answer they are scored on.

(The suite's calibrated MSE limit is re-checked with every other calibrated bound by tests/test_calibration.py.)
"""

import numpy as np
import pytest

from conftest import load_suite


@pytest.fixture(scope="module")
def series_suite():
    return load_suite("07_time_series")


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
