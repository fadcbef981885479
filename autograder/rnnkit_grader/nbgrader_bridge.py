"""nbgrader parity: the hidden test cells of the solution notebooks, and the gradebook.

Every solution notebook carries one nbgrader autograder-test cell per unit
(`grade_id` ``test_<unit>``, worth the points the hidden suite gives that unit). Its
hidden part is two lines::

    from rnnkit_grader.nbgrader_bridge import unit_score
    unit_score("05_mnist", "train_epoch")

Under ``nbgrader autograde`` the first such cell grades the notebook being autograded
with ``rnnkit grade`` in a fresh process (the same sandboxed children, the same hidden
suite), and every cell then prints its unit's failure messages and shows its score as
the cell's value, which nbgrader takes as partial credit. So nbgrader's total is the
total ``rnnkit grade`` gives. Outside autograde (a student running the notebook,
``nbgrader validate``, the kit's notebook tests) the cell only says so.

Caveat, also in docs/threat-model.md: under nbgrader the student's code runs in the
kernel before these cells, as it always does with nbgrader, so a hostile submission
can tamper with what the cells report. ``rnnkit grade`` / ``grade-batch`` never run
student code in the grader's process; use them (and `write_gradebook` to report in
nbgrader) where that matters.

    python -m rnnkit_grader.nbgrader_bridge sync [ID ...]   # (re)write the test cells
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
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
        from rnnkit_grader.runner import points_and_unit

        for item in items:
            points, unit = points_and_unit(item)
            self.points[unit] = self.points.get(unit, 0.0) + points


def unit_points(assignment_id):
    """{unit: points} of the assignment's hidden suite, in the order its tests are collected."""
    from rnnkit_grader import assignments
    from rnnkit_grader.runner import run_suite

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


def test_cell_source(assignment_id, unit, points):
    return (
        f"# Hidden tests for `{unit}` ({points:g} points): nbgrader's autograde runs the course's\n"
        f"# hidden suite here. Run your own checks above; this cell shows nothing before grading.\n"
        f"{HIDDEN_BEGIN}\n"
        f"from rnnkit_grader.nbgrader_bridge import unit_score\n"
        f"unit_score({assignment_id!r}, {unit!r})\n"
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


# ---- what the test cells do --------------------------------------------------------------


def _notebook_here(assignment_id):
    here = Path.cwd()
    named = here / f"{assignment_id}.ipynb"
    if named.exists():
        return named
    for candidate in sorted(here.glob("*.ipynb")):
        try:
            meta = json.loads(candidate.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError):
            continue
        if meta.get("rnnkit", {}).get("assignment") == assignment_id:
            return candidate
    return None


def _rnnkit_command():
    script = Path(sys.executable).with_name("rnnkit")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from rnnkit_grader.cli import main; sys.exit(main())"]


def grade_here(assignment_id):
    """The results of `rnnkit grade` on the notebook being autograded (graded once, then cached)."""
    path = _notebook_here(assignment_id)
    if path is None:
        raise FileNotFoundError(f"{assignment_id}.ipynb is not in {Path.cwd()}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    cache = Path(tempfile.gettempdir()) / "rnnkit-nbgrader" / f"{assignment_id}-{digest}.json"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        done = subprocess.run(
            _rnnkit_command() + ["grade", str(path), "--assignment", assignment_id, "--results", str(cache)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
        )
        if not cache.exists():
            raise RuntimeError(f"rnnkit grade wrote no results (exit {done.returncode}): {done.stdout[-2000:]}")
    return json.loads(cache.read_text())


def unit_score(assignment_id, unit):
    """The points `rnnkit grade` gives `unit`; printed feedback first. None outside autograde."""
    if os.environ.get("NBGRADER_EXECUTION") != "autograde":
        print(f"{unit}: the hidden tests run when the course autogrades this notebook.")
        return None
    results = grade_here(assignment_id)
    scores = results.get("extra_data", {}).get("units", {}).get(unit)
    for test in results.get("tests", []):
        if test.get("name", "").startswith(f"{unit}:") and test.get("score", 0) < test.get("max_score", 0):
            print(f"FAILED ({test['score']:g}/{test['max_score']:g}) {test['name']}\n    {test.get('output', '')}\n")
    problems = results.get("extra_data", {}).get("problems") or []
    for problem in problems:
        print(f"note: {problem}")
    if scores is None:
        print(f"{unit}: not graded (see the notes above)")
        return 0.0
    print(f"{unit}: {scores['score']:g} / {scores['max_score']:g} points")
    return float(scores["score"])


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
