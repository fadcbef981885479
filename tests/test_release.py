"""assignments/ is exactly what nbgrader generates from solutions/ today."""

import json

import pytest

from rnnkit_grader import assignments, release
from rnnkit_grader.notebook import nbgrader_meta, read_notebook

IDS = [a.id for a in assignments.available()]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    return {a: release.generate(a, out) for a in IDS}


@pytest.mark.parametrize("assignment_id", IDS)
def test_release_is_in_sync_with_solutions(generated, assignment_id):
    committed = assignments.get(assignment_id).release
    assert committed.exists(), f"{committed} is missing: run `make release`"
    fresh = json.loads(generated[assignment_id].read_text())
    assert json.loads(committed.read_text()) == fresh, f"{committed} is stale: run `make release` and commit it"


@pytest.mark.parametrize("assignment_id", IDS)
def test_release_hides_the_solutions(assignment_id):
    nb = read_notebook(assignments.get(assignment_id).release)
    text = json.dumps(nb)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    units = [nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c).get("solution")]
    assert units, "the release keeps the unit cells"
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError()" in cell.source


@pytest.mark.parametrize("assignment_id", IDS)
def test_solution_cells_follow_the_conventions(assignment_id):
    nb = read_notebook(assignments.get(assignment_id).solution)
    ids = [nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids are unique"
    assert nb.metadata["rnnkit"]["assignment"] == assignment_id
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "markdown":
            # a written answer, graded by hand: its own points, never an autograded unit
            assert meta.get("grade") and meta.get("points", 0) > 0 and meta["grade_id"].startswith("answer_"), (
                f"markdown solution cell {meta.get('grade_id')} is a manually graded answer_ cell with points")
        elif meta.get("solution"):
            assert cell.cell_type == "code"
            assert f"def {meta['grade_id']}" in cell.source or f"class {meta['grade_id']}" in cell.source, (
                f"unit cell {meta['grade_id']} defines its unit"
            )
        elif meta:
            assert meta.get("locked"), f"cell {meta.get('grade_id')} is locked"
