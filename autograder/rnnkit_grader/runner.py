"""Grade one notebook: the pipeline of five steps, one module each.

1. load     (load.py)     read the file once, safely, and parse it;
2. extract  (extract.py)  the units' code the grader runs, with the reference's setup cells;
3. isolate  (isolate.py)  the submission's child and the reference's, the suite's two parties;
4. check    (check.py)    the hidden pytest suite, run in this (trusted) process;
5. report   (report.py)   the GradeResult, and results.json / feedback / table from it.

`grade_notebook` is the one entry point that the CLI, the batch runner, Gradescope,
nbgrader and the kit's tests share. Results and file utilities live in `results`, which
imports nothing of the pipeline.
"""

import time

from rnnkit_grader import assignments, check, extract, isolate, load, report
from rnnkit_grader.results import GradeResult

# Names that batch.py (and older scripts) import from here; their homes are the modules above.
from rnnkit_grader.assignments import kit_fingerprint  # noqa: F401, E402
from rnnkit_grader.isolate import Reference  # noqa: F401, E402
from rnnkit_grader.results import write_atomic  # noqa: F401, E402


def grade_notebook(path, assignment_id=None, reference=None, cache_dir=None, limits=None, hide=(), root=None, raw=None):
    """Grade the notebook at `path`; never raises for anything the submission does.

    The file is read once, by load.read_submission (or not at all where the caller passes
    its bytes `raw`, read with read_submission): a symlink, or a file whose real path is
    outside `root` (the submission folder; default the file's folder), is refused and scores
    0 with a message. Parsing is bounded (load.parse_notebook). The reference solution is
    parsed once per process (load.solution).
    """
    t0 = time.monotonic()
    loaded = load.load(path, assignment_id, root, raw=raw)
    assignment = assignments.find(loaded.assignment_id)
    if assignment is None:
        return not_graded(loaded, t0)
    nb = extract.extract(loaded, assignment.solution)
    with isolate.Parties(nb, assignment, loaded.path, limits, hide, reference, cache_dir) as parties:
        checked = check.check(assignment, parties)
    return report.grade_result(loaded.path, assignment.id, nb, parties, checked, t0)


def not_graded(loaded, t0):
    """The result for a notebook whose assignment is not known (or not available here)."""
    message = (
        f"could not tell which assignment this notebook is for (found {loaded.assignment_id!r}); "
        f"grade it with --assignment, one of: {', '.join(a.id for a in assignments.available())}"
    )
    return GradeResult(str(loaded.path), loaded.assignment_id, [], [message], time.monotonic() - t0)
