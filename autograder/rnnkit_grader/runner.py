"""Grade one notebook: load, extract, isolate, check with the hidden pytest suite.

`grade_notebook` is the one entry point that the CLI, the batch runner and the
kit's tests share. The hidden suite runs under pytest in this (trusted) process; its
fixtures `student` and `reference` talk to two sandboxed children, and every
comparison happens here.
"""

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from rnnkit_child import codec
from rnnkit_grader import assignments, notebook
from rnnkit_grader.clip import MESSAGE_CHARS, OUTPUT_CHARS, clip
from rnnkit_grader.sandbox import SandboxError, StudentError, SubmissionProcess, UnitMissing

PACKAGE_DIR = Path(__file__).resolve().parent


class GradingFailure(AssertionError):
    """A test's verdict on the submission; its message is what the student reads."""


class GraderBug(Exception):
    """The kit itself went wrong (for example the reference failed)."""


@dataclasses.dataclass
class Outcome:
    """What one call of a student unit did: a value, or the error it raised."""

    value: object = None
    error: dict | None = None

    @property
    def raised(self):
        return None if self.error is None else self.error.get("type")


class Student:
    """The submission as the hidden tests see it: units to call, probes to run."""

    def __init__(self, nb, process):
        self.notebook = nb
        self.process = process
        self.timed_out = {}  # unit -> message: a unit that hung once is not run again

    def call(self, unit, *args, timeout=None, **kwargs):
        """The unit's return value; any failure becomes a GradingFailure naming the unit."""
        outcome = self.outcome(unit, *args, timeout=timeout, **kwargs)
        if outcome.error is not None:
            raise GradingFailure(self.explain_error(unit, outcome.error))
        return outcome.value

    def outcome(self, unit, *args, timeout=None, **kwargs):
        """Like call, but an exception raised by the student's code is returned, not raised."""
        self._require(unit)
        try:
            return Outcome(value=self.process.call(unit, *args, timeout=timeout, **kwargs))
        except StudentError as exc:
            return Outcome(error=exc.info)
        except UnitMissing:
            raise GradingFailure(self._missing(unit)) from None
        except SandboxError as exc:
            raise self._sandbox_failure(unit, exc) from None

    def _sandbox_failure(self, unit, exc):
        if exc.kind == "timeout":
            self.timed_out[unit] = f"{unit}: {exc}; it is not run again for the remaining checks."
            return GradingFailure(self.timed_out[unit])
        return GradingFailure(f"{unit}: {exc}")

    def probe(self, name, unit, timeout=None, **kwargs):
        """Run the kit's probe `name` in the child; `unit` names what it exercises."""
        self._require(unit)
        try:
            return self.process.probe(name, timeout=timeout, **kwargs)
        except StudentError as exc:
            raise GradingFailure(self.explain_error(unit, exc.info)) from None
        except UnitMissing:
            raise GradingFailure(self._missing(unit)) from None
        except SandboxError as exc:
            raise self._sandbox_failure(unit, exc) from None

    def _require(self, unit):
        if unit in self.timed_out:
            raise GradingFailure(self.timed_out[unit])
        if unit in self.notebook.unit_problems:
            raise GradingFailure(f"{unit} could not be graded: {self.notebook.unit_problems[unit]}")
        if self.process is None:
            raise GradingFailure(f"{unit} could not be graded: the notebook could not be read")

    def _missing(self, unit):
        error = self.process.cell_errors.get(unit)
        if isinstance(error, dict):  # the child's own words: each part capped
            kind, message, trace = (clip(error.get(k, ""), clip_limit) for k, clip_limit in (("type", 200), ("message", MESSAGE_CHARS), ("traceback", MESSAGE_CHARS)))
            return f"{unit} is not defined: running its cell failed with {kind}: {message}\n{trace}"
        return f"{unit} is not defined after running its cell; is the function's name spelt '{unit}'?"

    @staticmethod
    def explain_error(unit, info):
        info = info if isinstance(info, dict) else {"type": "Error", "message": info}
        kind, message = clip(info.get("type"), 200), clip(info.get("message", ""), MESSAGE_CHARS)
        if kind == "NotImplementedError":
            return f"{unit} is not implemented yet (it raises NotImplementedError)."
        if kind == "UnitMissing":
            return f"{unit} is not defined."
        if kind == "SystemExit":
            return f"{unit} called exit() (SystemExit {message}); a unit must return its result."
        if kind == "MemoryError":
            return f"{unit} ran out of memory (MemoryError): it allocated more than the grader allows."
        text = f"{unit} raised {kind}: {message}"
        if info.get("traceback"):
            text += f"\n{clip(info['traceback'], MESSAGE_CHARS)}"
        return text


SHARED_CACHE_ENV = "RNNKIT_REFERENCE_CACHE"
LAZY_ENV = "RNNKIT_LAZY_REFERENCE"


class Reference:
    """The reference solution, run in its own child, with answers cached by request.

    Answers are keyed by the kit's fingerprint (solution, suite and code) and the request, kept
    in memory, in `cache_dir` (a batch's OUT/.reference-cache/<id>) and, where
    $RNNKIT_REFERENCE_CACHE names a folder, in <that folder>/<id> too, which any number of
    batches, Dask workers or Gradescope containers can share: an answer is computed once per
    assignment and kit version. The child starts only when a request is not in any cache
    (`warm()` says whether one has been filled for this kit), so grading against a filled cache
    starts no reference child at all. With eager=False the child is never started ahead of a
    grading, only on a miss: for a process that grades one submission against answers cached
    before (a Dask task, Gradescope's container with the shipped answers).
    """

    def __init__(self, assignment, cache_dir=None, shared_cache=None, eager=True):
        self.assignment = assignment
        self.notebook = None
        self.process = None
        self.memory = {}
        self.cache_dir = Path(cache_dir) if cache_dir else None
        shared_cache = shared_cache or os.environ.get(SHARED_CACHE_ENV)
        self.shared_dir = Path(shared_cache) / assignment.id if shared_cache else None
        self._fingerprint = None
        self.submission = None  # the SubmissionProcess being graded: its deadline bounds new requests
        self.started = 0  # how often the reference child was started
        self.eager = eager

    def _cache_dirs(self):
        return [d for d in (self.cache_dir, self.shared_dir) if d is not None]

    def warm(self):
        """Whether answers for this kit are cached already (then the child is started only on a miss)."""
        if self.memory:
            return True
        return any((d / f"{self.fingerprint()}.warm").exists() for d in self._cache_dirs())

    def call(self, unit, *args, timeout=None, **kwargs):
        return self._cached({"op": "call", "unit": unit, "args": args, "kwargs": kwargs},
                            lambda p, t: p.call(unit, *args, timeout=t, **kwargs), timeout)

    def probe(self, name, timeout=None, **kwargs):
        """Run a probe in the reference child.

        A batch shares the reference child, so it has no budget across submissions; each request
        has a time limit, and a request not answered from the cache also ends at the deadline of
        the submission being graded: what a submission makes the reference child do (run its
        model, say) costs that submission's time, never a later student's.
        """
        return self._cached({"op": "probe", "probe": name, "kwargs": kwargs},
                            lambda p, t: p.probe(name, timeout=t, **kwargs), timeout)

    def _cached(self, request, run, timeout=None):
        key = hashlib.sha256(
            (self.fingerprint() + json.dumps(codec.to_data(request), sort_keys=True)).encode()
        ).hexdigest()
        if key in self.memory:
            return self.memory[key]
        for folder in self._cache_dirs():
            path = folder / f"{key}.json"
            if path.exists():
                try:
                    value = codec.from_data(json.loads(path.read_text()))
                    self.memory[key] = value
                    return value
                except (OSError, ValueError, codec.ProtocolError):
                    pass
        deadline = getattr(self.submission, "deadline", None)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GradingFailure(
                    f"the submission used up its time budget of {self.submission.limits.total_seconds:.0f} s "
                    "(the grader was still measuring what it returned)"
                )
            timeout = min(timeout or self.assignment.limits.call_seconds, left)
        try:
            value = run(self._process(), timeout)
        except (StudentError, UnitMissing, SandboxError) as exc:
            raise GraderBug(f"the reference child failed on {request.get('unit') or request.get('probe')} (the reference solution, or the kit acting on what the submission returned): {exc}") from None
        self.memory[key] = value
        text = json.dumps(codec.to_data(value))
        for folder in self._cache_dirs():
            try:
                write_atomic(folder / f"{key}.json", text)
                marker = folder / f"{self.fingerprint()}.warm"
                if not marker.exists():
                    write_atomic(marker, "reference answers of this kit version are cached here\n")
            except OSError:
                if folder == self.cache_dir:
                    raise  # the batch's own cache must work; a shared one is best effort
        return value

    def fingerprint(self):
        """Changes whenever the solution, the hidden suite, or any code of the kit (grader, child or library) changes."""
        if self._fingerprint is None:
            self._fingerprint = kit_fingerprint(self.assignment)
        return self._fingerprint

    def _process(self):
        if self.process is None:
            setup, units = notebook.reference_layout(self.assignment.solution)
            self.notebook = notebook.load_submission(self.assignment.solution, units, setup)
            if self.notebook.unit_problems:
                raise GraderBug(f"the reference notebook is broken: {self.notebook.unit_problems}")
            self.process = SubmissionProcess(
                notebook.execution_cells(self.notebook), self.assignment.limits, label="reference", role="reference",
                hide=hidden_paths(self.assignment.solution, self._cache_dirs()),
            )
        if self.process.proc is None and self.process.start_failure is None:
            self.started += 1
        return self.process

    def start(self):
        self._process().start()

    def close(self):
        if self.process is not None:
            self.process.close()
            self.process = None


def kit_fingerprint(assignment):
    """One digest of everything that decides an assignment's grades apart from the submission:
    the reference solution, the hidden suite, and the code of rnnkit_grader, rnnkit_child and rnnkit."""
    import rnnkit
    import rnnkit_child

    digest = hashlib.sha256()
    for path in (assignment.solution, assignment.suite):
        digest.update(path.read_bytes())
    for package in (PACKAGE_DIR, Path(rnnkit_child.__file__).resolve().parent, Path(rnnkit.__file__).resolve().parent):
        for source in sorted(package.rglob("*.py")):
            digest.update(str(source.relative_to(package)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


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


@dataclasses.dataclass
class TestResult:
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

    @property
    def score(self):
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self):
        return round(sum(t.max_score for t in self.tests), 4) or 100.0


def points_and_unit(item):
    """(points, unit name) of a collected suite test: its markers, or the `cell` it is parametrized over."""
    points = item.get_closest_marker("points")
    unit_marker = item.get_closest_marker("unit")
    params = item.callspec.params if hasattr(item, "callspec") else {}
    unit = unit_marker.args[0] if unit_marker else str(params.get("cell", ""))
    return (float(points.args[0]) if points else 0.0), unit


class GradingPlugin:
    """pytest plugin: hands the suite its fixtures' objects and collects the verdicts."""

    def __init__(self, student, reference):
        self._student = student
        self._reference = reference
        self.results = []
        self.first_check = None  # time.monotonic() when the first test began
        self.checks_seconds = 0.0

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        t0 = time.monotonic()
        if self.first_check is None:
            self.first_check = t0
        yield
        self.checks_seconds += time.monotonic() - t0

    @pytest.hookimpl
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "points(n): points the test is worth")
        config.addinivalue_line("markers", "unit(name): the unit the test grades")

    @pytest.fixture(scope="session")
    def student(self):
        return self._student

    @pytest.fixture(scope="session")
    def reference(self):
        return self._reference

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._record(item, report, call)

    def _record(self, item, report, call):
        max_score, unit = points_and_unit(item)
        doc = (item.function.__doc__ or item.name).strip().splitlines()[0]
        name = f"{unit}: {doc}" if unit else doc
        if hasattr(item, "callspec"):
            name += f" [{item.callspec.id}]"
        if report.passed:
            status, output, score = "passed", "", max_score
        elif report.skipped:
            status, output, score = "failed", "skipped", 0.0
        else:
            status, score = "failed", 0.0
            exc = call.excinfo.value if call.excinfo else None
            if isinstance(exc, GradingFailure):
                output = str(exc)
            elif isinstance(exc, AssertionError):
                output = str(exc).split("\nassert ")[0] or "assertion failed"
            elif isinstance(exc, GraderBug):
                output = f"grader error (not your fault; tell the course staff): {exc}"
            else:
                output = f"grader error while checking: {type(exc).__name__}: {exc}"
        self.results.append(TestResult(name, unit, score, max_score, status, clip(output, OUTPUT_CHARS), report.duration))


def lazy_reference():
    return os.environ.get(LAZY_ENV, "1").strip() != "0"


def start_together(process, reference):
    """Start the student's child, and the reference's at the same time unless its answers are cached
    (then it starts only if a request misses the cache): each may take seconds to import."""
    needs_reference = reference.eager and not (lazy_reference() and reference.warm())
    starters = ([reference.start] if needs_reference else []) + ([process.start] if process is not None else [])

    def run(start):
        with contextlib.suppress(Exception):  # a failed start is remembered and reported per test
            start()

    threads = [threading.Thread(target=run, args=(start,)) for start in starters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def hidden_paths(path, extra=()):
    """What a child must not see: hidden suites, solutions, the kit's tests and examples, the submissions' folder."""
    root = assignments.ROOT
    return [assignments.SUITES, assignments.SOLUTIONS, root / "examples", root / "tests", Path(path).resolve().parent, *extra]


def run_suite(assignment, plugin, *options):
    """Run the assignment's hidden suite under pytest in this process with `plugin`; (exit code, pytest's output).

    Output is captured, and the suite's module is forgotten afterwards so the next run imports it afresh.
    """
    args = [
        str(assignment.suite),
        "-p", "no:cacheprovider",
        "-p", "no:randomly",
        "--import-mode=importlib",
        "--rootdir", str(assignment.suite.parent),
        "-c", os.devnull,
        "-q",
        *options,
    ]
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            exit_code = pytest.main(args, plugins=[plugin])
    finally:
        for name in [m for m in sys.modules if m.startswith("test_") and m.endswith(assignment.id)]:
            del sys.modules[name]
    return exit_code, sink.getvalue()


def grade_notebook(path, assignment_id=None, reference=None, cache_dir=None, limits=None, hide=(), root=None):
    """Grade the notebook at `path`; never raises for anything the submission does.

    The file is read once, by notebook.read_submission: a symlink, or a file whose real
    path is outside `root` (the submission folder; default the file's folder), is refused
    and scores 0 with a message. Parsing is bounded (notebook.parse_notebook).
    """
    t0 = time.monotonic()
    path = Path(path)
    problems = []
    nb_data, problem = None, None
    try:
        nb_data = notebook.parse_notebook(notebook.read_submission(path, root))
    except ValueError as exc:
        problem = str(exc)
    if assignment_id is None:
        assignment_id = notebook.assignment_of(nb_data if nb_data is not None else {}, path)
    if assignment_id not in assignments.ASSIGNMENT_IDS or not assignments.get(assignment_id).available:
        message = (
            f"could not tell which assignment this notebook is for (found {assignment_id!r}); "
            f"grade it with --assignment, one of: {', '.join(a.id for a in assignments.available())}"
        )
        return GradeResult(str(path), assignment_id, [], [message], time.monotonic() - t0)
    assignment = assignments.get(assignment_id)

    setup, units = notebook.reference_layout(assignment.solution)
    nb = notebook.load_submission(path, units, setup, nb=nb_data, problem=problem)
    del nb_data
    problems.extend(nb.problems)
    process = None if nb.problems else SubmissionProcess(notebook.execution_cells(nb), limits or assignment.limits, hide=hidden_paths(path, hide))
    student = Student(nb, process)
    owns_reference = reference is None
    if reference is None:
        reference = Reference(assignment, cache_dir=cache_dir)
    started_before = reference.started
    start_together(process, reference)
    reference.submission = process
    plugin = GradingPlugin(student, reference)
    try:
        exit_code, output = run_suite(assignment, plugin)
        if exit_code not in (0, 1):
            problems.append(f"grader error: the hidden suite did not run (pytest exit {exit_code}): {output[-2000:]}")
    finally:
        reference.submission = None
        if process is not None:
            process.close()
        if owns_reference:
            reference.close()
    if process is not None:
        for cell, error in process.cell_errors.items():
            if cell not in units and isinstance(error, dict):
                problems.append(f"{clip(cell, 200)} raised {clip(error.get('type'), 200)} when run: {clip(error.get('message'), MESSAGE_CHARS)}")
    return GradeResult(
        str(path),
        assignment_id,
        plugin.results,
        problems,
        time.monotonic() - t0,
        startup_seconds=process.startup_seconds if process else None,
        restarts=process.restarts if process else 0,
        peak_rss_mib=process.peak_rss_mib if process else None,
        first_check_seconds=None if plugin.first_check is None else plugin.first_check - t0,
        checks_seconds=plugin.checks_seconds,
        reference_started=reference.started > started_before,
    )
