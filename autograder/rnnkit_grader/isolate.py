"""Step 3, isolate: the two parties a hidden suite talks to, each in a sandboxed child.

`Student` is the submission as the suite sees it (`student` fixture): units to call and
probes to run in the submission's child, every failure turned into a verdict that names
the unit. `Reference` (`reference` fixture) answers the same requests from the reference
solution's child, cached by request. `Parties` starts both for one grading and closes
them after it. The child processes themselves are `sandbox.SubmissionProcess` (the
protocol, limits and deadlines) inside the view that `isolation` builds (bubblewrap,
cgroups, rlimits); what crosses the boundary is `rnnkit_child.codec` data.
"""

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import threading
import time
from pathlib import Path

from rnnkit_child import codec
from rnnkit_grader import assignments, extract, isolation
from rnnkit_grader.clip import MESSAGE_CHARS, clip
from rnnkit_grader.results import GraderBug, GradingFailure, write_atomic
from rnnkit_grader.sandbox import SandboxError, StudentError, SubmissionProcess, UnitMissing


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

    def probe(self, probe, *, unit=None, timeout=None, **kwargs):
        """Run the kit's probe in the submission's child: `probe` is the function itself (`from
        rnnkit_child.probes import hello as probes` ... `student.probe(probes.train, unit="train", ...)`),
        `unit` the student's unit it exercises (named in every failure), the other keywords its
        arguments. The reference party takes the same call (`reference.probe(probes.train, ...)`)."""
        if unit is None:
            raise GraderBug(f"student.probe({probe_label(probe)}) names no unit: a probe on the student's side says "
                            "which unit it exercises (unit=...)")
        name = probe_name(probe, student=True)
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


PROBE_PACKAGES = {"rnnkit_child.probes": "both children", "rnnkit_grader.reference": "the reference child only"}


def _module_and_function(probe):
    return getattr(probe, "__module__", None) or "", getattr(probe, "__name__", None) or ""


def probe_label(probe):
    module, function = _module_and_function(probe)
    return f"{module}.{function}" if function else repr(probe)


def probe_name(probe, student=False):
    """The name "module.function" by which a child finds `probe`, a function of
    rnnkit_child.probes.<module> (or, for the reference only, of rnnkit_grader.reference.<module>).
    Both children look a name up the same way (rnnkit_child.serve.find_probe), so the same function
    makes the same request on either party. A suite passes the function, never its name: then an
    import error, not a failed grading, says that a probe was renamed or removed."""
    if isinstance(probe, str):
        raise GraderBug(f"probe {probe!r} is given by name: pass the function (from rnnkit_child.probes import <module>)")
    module, function = _module_and_function(probe)
    package, _, stem = module.rpartition(".")
    if package not in PROBE_PACKAGES or not function.isidentifier() or function.startswith("_"):
        raise GraderBug(f"{probe!r} is not a probe: a probe is a public function of rnnkit_child.probes.<module> "
                        "(or, in the reference child only, of rnnkit_grader.reference.<module>)")
    if student and package != "rnnkit_child.probes":
        raise GraderBug(f"{module}.{function} is a reference-only probe; the student's child cannot run it")
    if not student and package == "rnnkit_child.probes" and function in _reference_only_names(stem):
        # the reference child looks in rnnkit_grader.reference first: it would run another function
        raise GraderBug(f"the reference child runs rnnkit_grader.reference.{stem}.{function} for {module}.{function}: "
                        "pass that function")
    return f"{stem}.{function}"


@functools.lru_cache(maxsize=None)
def _reference_only_names(stem):
    """Public top-level functions of rnnkit_grader/reference/<stem>.py, read without importing it."""
    import ast

    path = Path(__file__).resolve().parent / "reference" / f"{stem}.py"
    if not path.exists():
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_"))


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

    def probe(self, probe, *, unit=None, timeout=None, **kwargs):
        """Run a probe in the reference child: the same call as Student.probe (`unit`, the student's
        unit the answer is compared with, is optional here and only names it in a failure).

        A batch shares the reference child, so it has no budget across submissions; each request
        has a time limit, and a request not answered from the cache also ends at the deadline of
        the submission being graded: what a submission makes the reference child do (run its
        model, say) costs that submission's time, never a later student's. The probe is a function of
        rnnkit_child.probes or rnnkit_grader.reference.
        """
        name = probe_name(probe)
        return self._cached({"op": "probe", "probe": name, "kwargs": kwargs},
                            lambda p, t: p.probe(name, timeout=t, **kwargs), timeout, unit=unit)

    def _cached(self, request, run, timeout=None, unit=None):
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
            what = request.get("unit") or request.get("probe") + (f" (for {unit})" if unit else "")
            raise GraderBug(f"the reference child failed on {what} (the reference solution, or the kit acting on what the submission returned): {exc}") from None
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
            self._fingerprint = assignments.kit_fingerprint(self.assignment)
        return self._fingerprint

    def _process(self):
        if self.process is None:
            self.notebook = extract.reference_notebook(self.assignment.solution)
            if self.notebook.unit_problems:
                raise GraderBug(f"the reference notebook is broken: {self.notebook.unit_problems}")
            self.process = SubmissionProcess(
                extract.execution_cells(self.notebook), self.assignment.limits, label="reference", role="reference",
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



class Parties:
    """Step 3 for one grading: the submission's child (none when the notebook could not be read)
    and the reference, started together on entry and closed on exit (the reference only when
    this grading made it; a batch passes its own, shared across submissions)."""

    def __init__(self, nb, assignment, path, limits=None, hide=(), reference=None, cache_dir=None):
        self.process = None if nb.problems else SubmissionProcess(
            extract.execution_cells(nb), limits or assignment.limits, hide=hidden_paths(path, hide))
        self.student = Student(nb, self.process)
        self.owns_reference = reference is None
        self.reference = Reference(assignment, cache_dir=cache_dir) if reference is None else reference
        self._started_before = self.reference.started
        self.isolation = isolation.describe()  # what the report says of this machine's isolation

    def __enter__(self):
        start_together(self.process, self.reference)
        self.reference.submission = self.process
        return self

    def __exit__(self, *exc):
        self.reference.submission = None
        if self.process is not None:
            self.process.close()
        if self.owns_reference:
            self.reference.close()
        return False

    @property
    def reference_started(self):
        """Whether a reference child had to start for this grading."""
        return self.reference.started > self._started_before
