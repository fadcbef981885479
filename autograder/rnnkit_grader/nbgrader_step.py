"""nbgrader's autograde step, done by the kit's grader instead of a Jupyter kernel.

The kit's ``nbgrader_config.py`` puts :class:`GradeWithRnnkit` where nbgrader has its
``Execute`` preprocessor in ``Autograde.autograde_preprocessors``. For each notebook
nbgrader autogrades, it

1. reads the bytes of the submitted file (``submitted/<student>/<assignment>/<nb>.ipynb``,
   the file nbgrader is autograding) before anything else happens, and copies them into
   a private temporary folder (mode 0700, removed afterwards);
2. grades that copy with :func:`rnnkit_grader.runner.grade_notebook`: the kit's sandboxed
   child and hidden suite, exactly as ``rnnkit grade`` does. The student's notebook is
   never executed in a kernel of the grader's;
3. writes the outputs of every autograder test cell itself: the unit's failure messages as
   a ``stdout`` stream and the unit's score as the cell's ``execute_result``, which
   nbgrader's ``determine_grade`` reads as partial credit. A grade cell the kit has no
   score for (an unknown ``grade_id``, a grader failure) gets an ``error`` output, which
   nbgrader scores 0: fail closed. Nothing is ever written to stderr.

``SaveAutoGrades``, ``AssignLatePenalties``, ``generate_feedback`` and the formgrader run
unchanged on the notebook this step leaves behind.

Reference answers are reused within one run (one ``nbgrader autograde`` command, or one
click of the formgrader's button): one reference child per assignment, its answers cached
in a folder private to the run (mkdtemp, removed when the run ends) and keyed by the
suite, the solution and the kit's code. ``GradeWithRnnkit.cache_dir`` names a folder to
use instead (the kit's tests share one across their nbgrader runs); answers there are
still keyed by suite, solution and kit, so a changed suite never reads stale answers.
"""

import atexit
import os
import shutil
import tempfile
import threading
import traceback
import weakref
from pathlib import Path

from nbformat import v4
from traitlets import Dict, Unicode

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor



class _Run:
    """What one autograde run shares between its notebooks: reference children and their cache."""

    def __init__(self, cache_dir=None):
        self._own_dir = None
        if cache_dir:
            self.cache_root = Path(cache_dir)
            self.cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        else:
            self._own_dir = Path(tempfile.mkdtemp(prefix="rnnkit-nbgrader-refs-"))
            self.cache_root = self._own_dir
        self.references = {}
        self.points = {}
        self.lock = threading.Lock()

    def reference(self, assignment):
        from rnnkit_grader.assignments import kit_fingerprint
        from rnnkit_grader.isolate import Reference

        if assignment.id not in self.references:
            folder = self.cache_root / assignment.id / kit_fingerprint(assignment)[:24]
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.references[assignment.id] = Reference(assignment, cache_dir=folder)
        return self.references[assignment.id]

    def unit_points(self, assignment_id):
        from rnnkit_grader.nbgrader_bridge import unit_points

        if assignment_id not in self.points:
            self.points[assignment_id] = unit_points(assignment_id)
        return self.points[assignment_id]

    def close(self):
        references, self.references = self.references, {}
        for reference in references.values():
            try:
                reference.close()
            except Exception:  # closing must not stop the others
                pass
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None


_RUNS = weakref.WeakKeyDictionary()  # the converter (one autograde run) -> its _Run
_ALL_RUNS = weakref.WeakSet()


@atexit.register
def _close_all():
    for run in list(_ALL_RUNS):
        run.close()


def _run_for(owner, cache_dir):
    """The _Run of the autograde run `owner` belongs to, made on first use and closed with it."""
    run = _RUNS.get(owner) if owner is not None else None
    if run is None:
        run = _Run(cache_dir)
        _ALL_RUNS.add(run)
        if owner is not None:
            _RUNS[owner] = run
            weakref.finalize(owner, run.close)
    return run


def _error_output(message):
    return v4.new_output("error", ename="NotGradedByRnnkit", evalue=message, traceback=[f"Not graded: {message}"])


def unit_messages(result, unit):
    """What a student reads under a unit's test cell: each failed check and why, then notes."""
    lines = []
    for test in result.tests:
        if test.unit == unit and test.status != "passed":
            lines.append(f"FAILED ({test.score:g}/{test.max_score:g}) {test.name}")
            lines.extend(f"    {line}" for line in (test.output or "").splitlines())
            lines.append("")
    for problem in result.problems:
        lines.append(f"Note: {problem}")
    return lines


class GradeWithRnnkit(NbGraderPreprocessor):
    """Grades the submitted notebook with the kit's sandbox and hidden suite; writes the test cells' outputs."""

    cache_dir = Unicode(
        "",
        help="Folder for reference answers shared by the runs that name it (default: a folder private to the run)",
    ).tag(config=True)

    isolation = Unicode(
        "strong",
        help="'strong' (default): refuse to grade where bubblewrap cannot run; 'weak': grade in a plain child (or RNNKIT_ISOLATION=weak)",
    ).tag(config=True)

    assignment_ids = Dict(
        {},
        help="nbgrader assignment name -> kit assignment id, for courses that rename the kit's assignments",
    ).tag(config=True)

    # ---- where things are ---------------------------------------------------------------

    def _converter(self):
        owner = self.parent
        while owner is not None and not hasattr(owner, "coursedir"):
            owner = getattr(owner, "parent", None)
        return owner

    def _coursedir(self, converter):
        if converter is not None and getattr(converter, "coursedir", None) is not None:
            return converter.coursedir
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.config)

    def _kit_assignment(self, resources, coursedir):
        from rnnkit_grader import assignments

        name = resources["nbgrader"]["assignment"]
        notebook_id = resources["nbgrader"]["notebook"]
        for candidate in (self.assignment_ids.get(name), name, notebook_id):
            if candidate in assignments.ASSIGNMENT_IDS:
                return candidate
        # the course's own source notebook may say which kit assignment it is (never the student's file)
        source = Path(coursedir.format_path(coursedir.source_directory, ".", name)) / f"{notebook_id}.ipynb"
        try:
            import json

            meta = json.loads(source.read_text(encoding="utf-8")).get("metadata", {})
            candidate = meta.get("rnnkit", {}).get("assignment")
        except (OSError, ValueError, AttributeError):
            candidate = None
        return candidate if candidate in assignments.ASSIGNMENT_IDS else None

    def _submitted_bytes(self, resources, coursedir):
        """The submitted file's bytes, read as `rnnkit grade` reads it: never through a symlink, bounded."""
        from rnnkit_grader.notebook import read_submission

        info = resources["nbgrader"]
        folder = Path(coursedir.format_path(coursedir.submitted_directory, info["student"], info["assignment"]))
        return read_submission(folder / f"{info['notebook']}.ipynb", root=folder)

    # ---- the step -----------------------------------------------------------------------

    def preprocess(self, nb, resources):
        converter = self._converter()
        coursedir = self._coursedir(converter)
        graded = {}  # grade_id -> (score, max_score, message lines), or why it has no score
        failure = None
        run = _run_for(converter, self.cache_dir or None)
        try:
            data = self._submitted_bytes(resources, coursedir)  # first thing: the file as handed in
            kit_id = self._kit_assignment(resources, coursedir)
            if kit_id is None:
                raise LookupError(
                    f"assignment {resources['nbgrader']['assignment']!r} is not one of the kit's; "
                    f"map it with GradeWithRnnkit.assignment_ids in nbgrader_config.py"
                )
            graded = self._grade(data, kit_id, run, resources)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            self.log.error("rnnkit could not grade %s/%s: %s\n%s", resources["nbgrader"]["student"],
                           resources["nbgrader"]["assignment"], failure, traceback.format_exc())
        finally:
            if converter is None:
                run.close()
        count = 0
        for cell in nb.cells:
            if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
                continue
            count += 1
            grade_id = cell.metadata["nbgrader"].get("grade_id")
            cell.outputs = []
            cell.execution_count = count
            if grade_id not in graded:
                why = failure or f"no unit of the kit's hidden suite is graded by the cell {grade_id!r}"
                cell.outputs.append(_error_output(why))
                continue
            if isinstance(graded[grade_id], str):
                cell.outputs.append(_error_output(graded[grade_id]))
                continue
            score, max_points, lines = graded[grade_id]
            cell_points = float(cell.metadata["nbgrader"].get("points") or 0)
            if abs(cell_points - max_points) > 1e-9:
                lines.append(f"Note: this cell is worth {cell_points:g} points, the hidden suite gives this unit "
                             f"{max_points:g}: staff should run `python -m rnnkit_grader.nbgrader_bridge sync`.")
                score = score * cell_points / max_points if max_points else 0.0
            score = round(min(max(score, 0.0), cell_points), 4)
            cell.outputs.append(v4.new_output("stream", name="stdout", text="\n".join(lines) + "\n"))
            cell.outputs.append(v4.new_output("execute_result", data={"text/plain": repr(float(score))},
                                              execution_count=count))
        return nb, resources

    def _grade(self, data, kit_id, run, resources):
        """{test cell grade_id: (score, max_score, message lines)} for the submission `data`."""
        from rnnkit_grader import assignments
        from rnnkit_grader.nbgrader_bridge import cell_name
        from rnnkit_grader.report import unit_scores
        from rnnkit_grader.runner import grade_notebook

        from rnnkit_grader import isolation

        isolation.require_strong("autograde students' notebooks", explicit=self.isolation)
        assignment = assignments.get(kit_id)
        with run.lock:
            points = run.unit_points(kit_id)
            reference = run.reference(assignment)
            private = tempfile.mkdtemp(prefix="rnnkit-nbgrader-")  # mode 0700
            try:
                path = Path(private) / f"{kit_id}.ipynb"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                result = grade_notebook(path, kit_id, reference=reference)
            finally:
                shutil.rmtree(private, ignore_errors=True)
        scores = unit_scores(result)
        self.log.info("rnnkit: %s/%s scored %g / %g", resources["nbgrader"]["student"],
                      resources["nbgrader"]["assignment"], result.score, result.max_score)
        graded = {}
        for unit, max_points in points.items():
            got = scores.get(unit)
            if got is None:  # not graded: the cell fails closed
                graded[cell_name(unit)] = " ".join([f"rnnkit gave no score for {unit}.", *result.problems])
                continue
            lines = unit_messages(result, unit)
            lines.append(f"{unit}: {got['score']:g} / {got['max_score']:g} points")
            graded[cell_name(unit)] = (float(got["score"]), float(got["max_score"]), lines)
        return graded
