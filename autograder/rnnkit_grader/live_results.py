"""results.json rewritten after every test, so a grading stopped from outside leaves what it did.

Gradescope kills the autograder at its global timeout and reads whatever
/autograder/results/results.json holds then. `rnnkit grade --results FILE` therefore
writes FILE before the first test and again after each one (atomically): the tests
graded so far with their scores, and one more test, "Grading did not finish", that says
the rest were not run. The final write, when grading ends, replaces it with the full
result. The same pytest plugin records which tests the suite marks
`@pytest.mark.public`: with `--hidden-tests VISIBILITY` every other test gets that
Gradescope visibility (report.results_json).

The plugin reaches the suite's pytest run through PYTEST_PLUGINS, set only while
`watching` is active; it reads the verdicts that check.GradingPlugin has recorded.
"""

import contextlib
import json
import os
import time

import pytest

from rnnkit_grader import isolation, report
from rnnkit_grader.check import GradingPlugin
from rnnkit_grader.results import GradeResult, write_atomic

STOPPED = "Grading did not finish"
_ACTIVE = None  # the LiveResults of the grading in progress in this process


class LiveResults:
    def __init__(self, path, notebook, assignment, visibility="visible"):
        self.path = path
        self.notebook = str(notebook)
        self.assignment = assignment
        self.visibility = visibility
        self.public = set()  # names of the tests the suite marks public
        self.t0 = time.monotonic()
        self.isolation = isolation.describe()

    def write(self, tests):
        """results.json as it stands after `tests`: those, and a test saying the rest were not run."""
        result = GradeResult(self.notebook, self.assignment, list(tests), [], time.monotonic() - self.t0, isolation=self.isolation)
        data = report.results_json(result, visibility=self.visibility, public=self.public)
        done = f"{len(tests)} check(s)" if tests else "no check"
        message = (
            f"The autograder was stopped (most likely by Gradescope's time limit for the assignment) after {done}, "
            f"{result.seconds:.0f} s into grading. The checks listed were graded; the others were not run and earn "
            "no points. Tell the course staff: they can raise the autograder's timeout and regrade."
        )
        data["tests"].append({"name": STOPPED, "score": 0.0, "max_score": 0.0, "status": "failed", "output": message, "visibility": "visible"})
        data["output"] = message
        data["extra_data"]["finished"] = False
        write_atomic(self.path, json.dumps(data, indent=2))


@contextlib.contextmanager
def watching(path, notebook, assignment, visibility="visible"):
    """While active, the suite's run rewrites `path` after every test; yields the LiveResults."""
    global _ACTIVE
    live = LiveResults(path, notebook, assignment, visibility)
    live.write([])
    previous = os.environ.get("PYTEST_PLUGINS")
    os.environ["PYTEST_PLUGINS"] = ",".join(filter(None, [previous, __name__]))
    _ACTIVE = live
    try:
        yield live
    finally:
        _ACTIVE = None
        if previous is None:
            os.environ.pop("PYTEST_PLUGINS", None)
        else:
            os.environ["PYTEST_PLUGINS"] = previous


# ---- pytest hooks (this module is the plugin) ------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line("markers", "public: a check students may always see (Gradescope visibility 'visible')")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    live = _ACTIVE
    grading = next((p for p in item.config.pluginmanager.get_plugins() if isinstance(p, GradingPlugin)), None)
    if live is None or grading is None:
        yield
        return
    before = len(grading.results)
    yield
    if item.get_closest_marker("public"):
        live.public.update(t.name for t in grading.results[before:])
    with contextlib.suppress(OSError):  # a full disk costs the partial file, never the grading
        live.write(grading.results)
