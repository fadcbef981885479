"""Shared helpers for the kit's tests: submissions made from the reference notebooks."""

import copy
import importlib.util
import os

import nbformat
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rnnkit_grader import assignments  # noqa: E402
from rnnkit_grader.notebook import nbgrader_meta  # noqa: E402


def reference_notebook(assignment_id):
    return nbformat.read(assignments.get(assignment_id).solution, as_version=4)


def make_submission(tmp_path, assignment_id, replace=None, drop=(), name=None):
    """Write a variant of the reference notebook: unit cells replaced or dropped."""
    nb = copy.deepcopy(reference_notebook(assignment_id))
    replace = replace or {}
    cells = []
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in drop:
            continue
        if grade_id in replace:
            cell.source = replace[grade_id]
        cells.append(cell)
    nb.cells = cells
    path = tmp_path / (name or f"{assignment_id}.ipynb")
    nbformat.write(nb, path)
    return path


@pytest.fixture
def submission(tmp_path):
    def make(assignment_id, **kwargs):
        return make_submission(tmp_path, assignment_id, **kwargs)

    return make


def by_unit(result):
    """{unit: (score, max_score)} from a GradeResult."""
    units = {}
    for t in result.tests:
        got, total = units.get(t.unit, (0.0, 0.0))
        units[t.unit] = (got + t.score, total + t.max_score)
    return units


def messages(result, unit):
    return "\n".join(t.output for t in result.tests if t.unit == unit and t.status != "passed")


def load_suite(assignment_id):
    """The hidden suite of an assignment as a module, for tests that re-check its calibrated thresholds."""
    path = assignments.get(assignment_id).suite
    spec = importlib.util.spec_from_file_location(f"suite_{assignment_id}_for_tests", path)
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    return suite


def reference_child(assignment_id):
    """A reference child of the assignment, as the grader runs it (a generator for module fixtures)."""
    from rnnkit_grader.isolate import Reference

    ref = Reference(assignments.get(assignment_id))
    try:
        yield ref
    finally:
        ref.close()


@pytest.fixture(scope="module")
def references():
    """references(assignment_id): one Reference per assignment for the module's tests, closed after them."""
    from rnnkit_grader.isolate import Reference

    made = {}

    def get(assignment_id):
        if assignment_id not in made:
            made[assignment_id] = Reference(assignments.get(assignment_id))
        return made[assignment_id]

    yield get
    for ref in made.values():
        ref.close()
