"""What a grading produces, and how it is written: verdicts, results, atomic files.

Imported by every step that makes or reads a result (the pipeline's steps, `report`,
`checks`, the suites, `batch`, `export`, `regrade`), and it imports nothing of the
kit, so none of them has to import the pipeline to use a result.
"""

import contextlib
import dataclasses
import os
import tempfile
from pathlib import Path


class GradingFailure(AssertionError):
    """A test's verdict on the submission; its message is what the student reads."""


class GraderBug(Exception):
    """The kit itself went wrong (for example the reference failed)."""


@dataclasses.dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    name: str
    unit: str
    score: float
    max_score: float
    status: str  # "passed" or "failed"
    output: str
    seconds: float


@dataclasses.dataclass
class GradeResult:
    path: str
    assignment: str | None
    tests: list
    problems: list
    seconds: float
    startup_seconds: float | None = None
    restarts: int = 0
    peak_rss_mib: float | None = None  # the submission's child, its largest process
    first_check_seconds: float | None = None  # from the start of grading to the first hidden test
    checks_seconds: float = 0.0  # the hidden tests' own time (setup, call and teardown of each)
    reference_started: bool = False  # whether a reference child had to start for this grading
    isolation: str | None = None  # isolation.describe() as the isolate step found it; None where no child was started

    @property
    def score(self):
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self):
        return round(sum(t.max_score for t in self.tests), 4) or 100.0


class JobFailed(Exception):
    """A submission whose grading did not finish: its worker timed out, died, or hit a grader error."""

    def __init__(self, message, kind="error"):
        super().__init__(message)
        self.kind = kind

    def __reduce__(self):  # travels between processes (Dask) with its kind
        return (JobFailed, (str(self), self.kind))


def write_atomic(path, text):
    """Write a file so that readers see the old content or the new, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
