"""The parameter counts 05_mnist's hidden suite expects are the ones Keras's own layers build.

(Its accuracy floors are re-checked with every other calibrated bound by tests/test_calibration.py.)
"""

import pytest

from conftest import load_suite, reference_child
from rnnkit_grader.reference import mnist as kit_probes


@pytest.fixture(scope="module")
def suite():
    return load_suite("05_mnist")


@pytest.fixture(scope="module")
def reference():
    yield from reference_child("05_mnist")


def test_expected_parameter_counts_are_keras_own(suite, reference):
    for (kind, layers), count in suite.EXPECTED_PARAMS.items():
        info = reference.probe(kit_probes.kit_info, kind=kind, units=100, num_layers=layers)
        assert info["params"] == count, f"{kind} x{layers}: Keras builds {info['params']} parameters, the suite expects {count}"
