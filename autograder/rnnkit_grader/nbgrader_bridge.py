"""nbgrader parity: the autograder test cells of the solution notebooks, and the gradebook.

Every solution notebook carries one nbgrader autograder-test cell per unit
(`grade_id` ``test_<unit>``, worth the points the hidden suite gives that unit). The
cell's code only prints what it is for: under ``nbgrader autograde`` it is never run.
The kit's ``nbgrader_config.py`` replaces nbgrader's ``Execute`` step with
:class:`rnnkit_grader.nbgrader_step.GradeWithRnnkit`, which grades the submitted file
with the kit's sandbox and hidden suite (as ``rnnkit grade`` does) and writes each test
cell's outputs itself: the unit's failure messages, and its score as the cell's result,
which nbgrader takes as partial credit. A test cell the kit wrote no score for scores 0.

    python -m rnnkit_grader.nbgrader_bridge sync [ID ...]   # (re)write the test cells

``write_gradebook`` / ``write_batch`` put ``rnnkit grade-batch`` results into an nbgrader
gradebook instead (``rnnkit grade-batch --nbgrader-db``).
"""

import json
import re
import sys
from pathlib import Path

TEST_PREFIX = "test_"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


# ---- points per unit, read off the hidden suite ------------------------------------------


class _Collector:
    def __init__(self):
        self.points = {}

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "points(n): points the test is worth")
        config.addinivalue_line("markers", "unit(name): the unit the test grades")

    def pytest_collection_modifyitems(self, items):
        from rnnkit_grader.check import points_and_unit

        for item in items:
            points, unit = points_and_unit(item)
            self.points[unit] = self.points.get(unit, 0.0) + points


def unit_points(assignment_id):
    """{unit: points} of the assignment's hidden suite, in the order its tests are collected."""
    from rnnkit_grader import assignments
    from rnnkit_grader.check import run_suite

    assignment = assignments.get(assignment_id)
    collector = _Collector()
    code, output = run_suite(assignment, collector, "--collect-only")
    if code != 0:
        raise RuntimeError(f"could not collect {assignment.suite}: {output[-2000:]}")
    return {unit: round(p, 4) for unit, p in collector.points.items()}


# ---- the test cells ------------------------------------------------------------------------


def cell_name(unit):
    """The test cell's grade_id for a unit ("make_dataset + train_epoch" -> test_make_dataset_train_epoch)."""
    return TEST_PREFIX + re.sub(r"\W+", "_", unit).strip("_")


UNIT_MARK = "# rnnkit unit:"
NOT_CONFIGURED = ("not graded: autograde with the kit's nbgrader_config.py, which grades with "
                  "rnnkit_grader.nbgrader_step.GradeWithRnnkit instead of running this cell")


def test_cell_source(assignment_id, unit, points):
    """A test cell: a comment and a print for whoever runs it; the kit's grader writes its outputs under autograde."""
    return (
        f"# Autograder tests for `{unit}` ({points:g} points). When the course autogrades this\n"
        f"# notebook, the course's grader runs its hidden tests on your notebook in a sandbox and\n"
        f"# writes this cell's score and messages here; the code below is not run then.\n"
        f"# Running this cell yourself only prints this reminder: test your code with the check above.\n"
        f"print({(unit + ': ' + format(points, 'g') + ' points, graded by the course autograder').__repr__()})\n"
        f"{HIDDEN_BEGIN}\n"
        f"{UNIT_MARK} {unit} ({assignment_id}), graded by rnnkit_grader.nbgrader_step. Under nbgrader's own\n"
        f"# Execute step (a course folder without the kit's nbgrader_config.py) this cell fails: no credit.\n"
        f"if __import__('os').environ.get('NBGRADER_EXECUTION') == 'autograde':\n"
        f"    raise RuntimeError({NOT_CONFIGURED!r})\n"
        f"{HIDDEN_END}"
    )


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def sync_test_cells(nb, assignment_id, points):
    """Put one test cell per unit (after the unit's check cell, else after the unit), points up to date.

    Returns True when the notebook changed.
    """
    import nbformat

    before = json.dumps(nb, sort_keys=True)
    existing = {_meta(c).get("grade_id"): c for c in nb.cells if str(_meta(c).get("grade_id", "")).startswith(TEST_PREFIX)}
    stale = set(existing) - {cell_name(u) for u in points}
    nb.cells = [c for c in nb.cells if _meta(c).get("grade_id") not in stale]
    for unit, pts in points.items():
        grade_id = cell_name(unit)
        cell = existing.get(grade_id)
        if cell is None:
            cell = nbformat.v4.new_code_cell()
            anchor = None
            names = re.findall(r"\w+", unit)  # a test of several units goes after the last of them
            for i, c in enumerate(nb.cells):
                if _meta(c).get("grade_id") in names + [f"check_{n}" for n in names]:
                    anchor = i
            if anchor is None:
                raise ValueError(f"{assignment_id}: no cell with grade_id {unit!r} or 'check_{unit}'")
            nb.cells.insert(anchor + 1, cell)
        cell.source = test_cell_source(assignment_id, unit, pts)
        cell.outputs = []
        cell.execution_count = None
        cell.metadata["nbgrader"] = {
            "grade": True, "grade_id": grade_id, "locked": True, "points": pts, "schema_version": 3, "solution": False,
        }
        cell.metadata["deletable"] = False
        cell.metadata["editable"] = False
    return json.dumps(nb, sort_keys=True) != before


# ---- rnnkit's results into an nbgrader gradebook ------------------------------------------


def write_gradebook(db_url, assignment_id, student_id, results, notebook_id=None):
    """Record rnnkit's per-unit scores as the auto scores of the submission's test cells.

    The assignment must be in the gradebook with its test cells (as `nbgrader
    generate_assignment` leaves it). The student and the submission are created if
    missing. Returns the total written.
    """
    from nbgrader.api import Gradebook, MissingEntry

    notebook_id = notebook_id or assignment_id
    units = results.get("extra_data", {}).get("units", {})
    total = 0.0
    with Gradebook(db_url) as gb:
        try:
            gb.find_student(student_id)
        except MissingEntry:
            gb.add_student(student_id)
        try:
            gb.find_submission(assignment_id, student_id)
        except MissingEntry:
            gb.add_submission(assignment_id, student_id)
        notebook = gb.find_notebook(notebook_id, assignment_id)
        by_cell = {cell_name(unit): scores for unit, scores in units.items()}
        for cell in notebook.grade_cells:
            if not cell.name.startswith(TEST_PREFIX):
                continue
            grade = gb.find_grade(cell.name, notebook_id, assignment_id, student_id)
            got = by_cell.get(cell.name, {}).get("score", 0.0)
            grade.auto_score = float(min(got, cell.max_score))
            total += grade.auto_score
        gb.db.commit()
    return total


def write_batch(db_url, out):
    """write_gradebook for every results.json of a grade-batch output folder: (count, problems)."""
    written, problems = 0, []
    for path in sorted(Path(out).glob("*/*/results.json")):
        assignment_id, student_id = path.parent.parent.name, path.parent.name
        try:
            write_gradebook(db_url, assignment_id, student_id, json.loads(path.read_text()))
            written += 1
        except Exception as exc:  # one missing assignment must not stop the others
            problems.append(f"{student_id}/{assignment_id}: {type(exc).__name__}: {exc}")
    return written, problems


def main(argv=None):
    import argparse

    import nbformat

    from rnnkit_grader import assignments

    parser = argparse.ArgumentParser(prog="python -m rnnkit_grader.nbgrader_bridge")
    sub = parser.add_subparsers(dest="command", required=True)
    sync = sub.add_parser("sync", help="write each unit's hidden test cell into the solution notebooks")
    sync.add_argument("ids", nargs="*")
    args = parser.parse_args(argv)
    for assignment in assignments.available():
        if args.ids and assignment.id not in args.ids:
            continue
        nb = nbformat.read(assignment.solution, as_version=4)
        points = unit_points(assignment.id)
        if sync_test_cells(nb, assignment.id, points):
            nbformat.write(nb, assignment.solution)
            print(f"updated {assignment.solution} ({sum(points.values()):g} points in {len(points)} test cells)")
        else:
            print(f"{assignment.id}: test cells up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
