"""nbgrader parity: nbgrader's own autograde gives the points `rnnkit grade` gives.

The solution notebooks carry one hidden test cell per unit, worth that unit's points in
the hidden suite (checked for every assignment, cheaply). Then real nbgrader runs a
course in a temporary folder: generate_assignment, the example submissions handed in,
autograde, the gradebook; its totals must equal the recorded scores of the examples.
Last, `rnnkit grade-batch --nbgrader-db` writes the same totals into a gradebook.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit_grader import assignments, nbgrader_bridge
from rnnkit_grader.notebook import nbgrader_meta, read_notebook

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
IDS = [a.id for a in assignments.available()]
PARITY_ID = "01_rnn_numpy"  # NumPy only: nbgrader runs the whole notebook, which is quick here
PARITY_EXAMPLES = ["correct", "blank", "forward_reuses_h0", "bptt_last_step_only", "loss_summed_not_averaged"]


def hidden_test_cells(path):
    return {
        nbgrader_meta(c)["grade_id"]: c
        for c in read_notebook(path)["cells"]
        if nbgrader_meta(c).get("grade") and str(nbgrader_meta(c).get("grade_id", "")).startswith("test_")
    }


@pytest.mark.parametrize("assignment_id", IDS)
def test_solution_has_a_test_cell_per_unit_worth_the_suites_points(assignment_id):
    points = nbgrader_bridge.unit_points(assignment_id)
    cells = hidden_test_cells(assignments.get(assignment_id).solution)
    wanted = {nbgrader_bridge.cell_name(unit): p for unit, p in points.items()}
    assert {name: nbgrader_meta(c)["points"] for name, c in cells.items()} == wanted, (
        f"the test cells of {assignment_id} do not match its hidden suite: run "
        f"`python -m rnnkit_grader.nbgrader_bridge sync {assignment_id}`, then `make release`"
    )
    for name, cell in cells.items():
        source = "".join(cell["source"])
        assert nbgrader_bridge.HIDDEN_BEGIN in source and "unit_score(" in source, name
        assert nbgrader_meta(cell).get("locked"), f"{name} must be locked"


@pytest.mark.parametrize("assignment_id", IDS)
def test_release_keeps_the_test_cells_without_their_hidden_part(assignment_id):
    cells = hidden_test_cells(assignments.get(assignment_id).release)
    assert cells, f"the release of {assignment_id} has no test cells"
    for name, cell in cells.items():
        assert "unit_score(" not in "".join(cell["source"]), f"{name}: the hidden tests leaked into the release"


def run_nbgrader(course, *args):
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PATH=path)
    cmd = [str(Path(sys.executable).with_name("nbgrader")), *args, "--log-level=ERROR",
           f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{course}/gradebook.db"]
    done = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"nbgrader {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder after generate_assignment, with the examples submitted and autograded."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(assignments.get(PARITY_ID).solution.parent, course / "solutions" / PARITY_ID)
    run_nbgrader(course, "generate_assignment", PARITY_ID, "--force")
    for name in PARITY_EXAMPLES:
        target = course / "submitted" / name / PARITY_ID
        target.mkdir(parents=True)
        shutil.copy(EXAMPLES / PARITY_ID / f"{name}.ipynb", target / f"{PARITY_ID}.ipynb")
    run_nbgrader(course, "autograde", PARITY_ID, "--create", "--force")
    return course


def expected_scores():
    recorded = json.loads((EXAMPLES / PARITY_ID / "expected.json").read_text())
    return {name: recorded[f"{name}.ipynb"]["score"] for name in PARITY_EXAMPLES}


def gradebook_totals(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        return {name: round(gb.find_submission(PARITY_ID, name).score, 4) for name in PARITY_EXAMPLES}


@pytest.mark.skipif(not assignments.get(PARITY_ID).available, reason=f"{PARITY_ID} is not available")
def test_nbgrader_autograde_gives_the_scores_rnnkit_gives(course):
    assert gradebook_totals(course) == expected_scores()
    # the failure messages reach nbgrader's feedback: they are the test cell's output
    autograded = read_notebook(course / "autograded" / "forward_reuses_h0" / PARITY_ID / f"{PARITY_ID}.ipynb")
    outputs = json.dumps([c.get("outputs") for c in autograded["cells"] if nbgrader_meta(c).get("grade_id") == "test_rnn_forward"])
    assert "FAILED" in outputs and "rnn_forward" in outputs


@pytest.mark.skipif(not assignments.get(PARITY_ID).available, reason=f"{PARITY_ID} is not available")
def test_grade_batch_writes_the_same_scores_into_an_nbgrader_gradebook(course, tmp_path):
    # the same submissions, graded by rnnkit into a fresh copy of the gradebook
    shutil.copy(course / "gradebook.db", tmp_path / "gradebook.db")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path}/gradebook.db") as gb:
        for name in PARITY_EXAMPLES:
            gb.remove_submission(PARITY_ID, name)
    rnnkit = Path(sys.executable).with_name("rnnkit")
    done = subprocess.run(
        [str(rnnkit), "grade-batch", str(course), "--out", str(tmp_path / "out"), "--jobs", "1",
         "--nbgrader-db", f"sqlite:///{tmp_path}/gradebook.db"],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert gradebook_totals(tmp_path) == expected_scores()
