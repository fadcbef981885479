"""Step 4, check: the assignment's hidden pytest suite, run in this (trusted) process.

pytest does the collection, fixtures, parametrisation and reporting; `GradingPlugin`
hands the suite its two fixtures (`student`, `reference`: isolate.Parties) and turns
each test's outcome into a `TestResult` with the points its markers declare. (The
suites' assertion library is the neighbouring `checks` module.)
"""

import contextlib
import dataclasses
import io
import os
import sys
import time

import pytest

from rnnkit_grader.clip import OUTPUT_CHARS, clip
from rnnkit_grader.results import GraderBug, GradingFailure, TestResult


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

    @pytest.fixture(scope="session")
    def memo(self):
        """A dict for answers that several of a suite's tests look at, kept for one grading (one pytest session)."""
        return {}

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


@dataclasses.dataclass
class Checked:
    """What step 4 leaves: the tests' verdicts, and when and how long they ran."""

    tests: list
    problems: list  # about the suite's run itself (it did not run)
    first_check: float | None  # time.monotonic() when the first test began
    seconds: float  # the tests' own time (setup, call and teardown of each)


def check(assignment, parties):
    """Run the hidden suite of `assignment` against `parties` (isolate.Parties)."""
    plugin = GradingPlugin(parties.student, parties.reference)
    exit_code, output = run_suite(assignment, plugin)
    problems = []
    if exit_code not in (0, 1):
        problems.append(f"grader error: the hidden suite did not run (pytest exit {exit_code}): {output[-2000:]}")
    return Checked(plugin.results, problems, plugin.first_check, plugin.checks_seconds)
