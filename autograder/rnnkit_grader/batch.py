"""Grade a folder of submissions: in parallel, resumable, with a gradebook.

Layouts found under DIR:
- nbgrader's  DIR/submitted/<student>/<assignment>/<anything>.ipynb (or DIR/<student>/<assignment>/...):
  the assignment is the folder's name;
- a flat folder DIR/<student>.ipynb or DIR/<student>_<assignment>.ipynb: the assignment is
  the one given with --assignment (required). It never comes from the student's own file.

Each submission's results.json and feedback.html land in OUT/<assignment>/<student>/,
written atomically as it finishes. A re-run reuses a result only when nothing that decides it changed: its results.json
records one fingerprint of the notebook's content (sha256) and of the kit (suite, solution,
grader, child and library code, assignments.kit_fingerprint). Everything out of date is graded
again, so an interrupted batch resumes where it stopped and a fix to a suite or solution
reaches every grade; a re-run that changed scores writes OUT/regrade_report.{html,csv}
(see regrade.py). Reference answers go to a cache in
OUT/.reference-cache shared by all workers, so each is computed once per batch.

Grading runs in worker processes that the batch supervises: a worker that takes longer
than its submission's wall-clock limit is killed, one that dies (say, killed for memory)
is replaced, and in both cases only that submission gets a result saying so (score 0).
The gradebook and class report are written at the end whatever happened, also after
Ctrl-C (with what was done by then).
"""

import collections
import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import stat
import sys
import time
from pathlib import Path

from rnnkit_grader import assignments, isolation, itemanalysis, load, regrade, report
from rnnkit_grader.assignments import kit_fingerprint
from rnnkit_grader.clip import clip
from rnnkit_grader.isolate import Reference
from rnnkit_grader.results import GradeResult, JobFailed, write_atomic
from rnnkit_grader.runner import grade_notebook


class BatchError(ValueError):
    """The batch cannot run as asked (for example a flat folder without --assignment)."""


@dataclasses.dataclass(frozen=True)
class Job:
    student: str
    assignment: str | None
    path: str
    root: str | None = None  # the submission folder: nothing under it may be a symlink

    def out_dir(self, out):
        return Path(out) / (self.assignment or "unknown") / self.student


def _safe_name(name):
    """A student id usable as one folder name and a CSV cell."""
    original = name
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    name = "".join(ch if ch.isprintable() else "_" for ch in name)
    name = name if name not in ("", ".", "..") and not name.startswith(".") else "_" + name
    if name != original or len(name) > 120:  # changed names keep a digest of the original: no two students merge
        digest = hashlib.sha256(original.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        name = f"{name[:100]}-{digest}"
    return name


def _walk(base, warn):
    """(relative parts, path, is_link_to_folder) of every *.ipynb entry under base, and of symlinked
    folders; never follows a symlink, never stops on an unreadable folder."""
    stack = [(base, ())]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            warn(f"skipped the folder {folder}: {exc.strerror}")
            continue
        for entry in reversed(entries):
            name = entry.name
            if name == ".ipynb_checkpoints":
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            parts = rel + (name,)
            if stat.S_ISDIR(mode):
                stack.append((Path(entry.path), parts))
            elif stat.S_ISLNK(mode) and not name.endswith(".ipynb"):
                yield parts, Path(entry.path), True
            elif name.endswith(".ipynb"):
                yield parts, Path(entry.path), False


def find_submissions(root, assignment=None, warn=None):
    """Jobs for every notebook under root, in a stable order.

    The assignment comes from the layout (nbgrader's <assignment> folder) or from
    `assignment`; a flat folder needs `assignment` (BatchError otherwise). With
    `assignment`, nbgrader folders of other assignments are left alone.
    """
    warn = warn or (lambda message: print(f"grade-batch: {message}", file=sys.stderr))
    root = Path(os.path.abspath(root))
    if assignment is not None and assignment not in assignments.ASSIGNMENT_IDS:
        raise BatchError(f"unknown assignment {assignment!r}; one of: {', '.join(assignments.ASSIGNMENT_IDS)}")
    submitted = root / "submitted"
    base = submitted if submitted.is_dir() and not submitted.is_symlink() else root
    jobs, flat = [], []
    found = sorted(_walk(base, warn), key=lambda item: item[0])
    for rel, path, linked_folder in found:
        if linked_folder:
            # A symlinked <student> or <assignment> folder: its notebook is refused when graded.
            if len(rel) == 2 and rel[1] in assignments.ASSIGNMENT_IDS and assignment in (None, rel[1]):
                jobs.append(Job(_safe_name(rel[0]), rel[1], str(path / f"{rel[1]}.ipynb"), str(base)))
            elif len(rel) == 1 and assignment is not None and base == submitted:
                jobs.append(Job(_safe_name(rel[0]), assignment, str(path / assignment / f"{assignment}.ipynb"), str(base)))
            else:
                warn(f"not graded: {path} is a symbolic link")
            continue
        if len(rel) >= 3:  # <student>/<assignment>/<file>
            student, folder = rel[0], rel[1]
            if folder not in assignments.ASSIGNMENT_IDS:
                warn(f"not graded: {path} (the folder {folder!r} is not an assignment id)")
                continue
            if assignment is not None and folder != assignment:
                continue  # another assignment's folder: not asked for
            jobs.append(Job(_safe_name(student), folder, str(path), str(base)))
        else:
            flat.append((rel, path))
    if flat and assignment is None:
        example = flat[0][1]
        raise BatchError(
            f"{len(flat)} notebook(s) under {base} are in a flat folder (for example {example.name}); a flat folder "
            "is graded as one assignment, given with --assignment ID (it is never read from the students' files)"
        )
    for rel, path in flat:
        stem = path.name[: -len(".ipynb")]
        named = _strip_assignment(stem)
        if len(rel) == 2 and named == "":
            student = rel[0]  # <student>/<assignment>.ipynb
        else:
            student = named or stem
        jobs.append(Job(_safe_name(student), assignment, str(path), str(base)))
    return _one_per_student(jobs)


def _strip_assignment(stem):
    """The student part of '<student>_<id>' ('' for '<id>' alone), or None when stem names no assignment."""
    for known in assignments.ASSIGNMENT_IDS:
        if stem == known:
            return ""
        if stem.endswith("_" + known):
            return stem[: -len(known) - 1]
    return None


def _one_per_student(jobs):
    """One notebook per student and assignment: the one named for the assignment, else the first."""
    def named_for(job):
        stem = Path(job.path).name[: -len(".ipynb")]
        return stem == job.assignment or stem.endswith("_" + str(job.assignment))

    chosen = {}
    for job in jobs:
        key = (job.student, job.assignment)
        best = chosen.get(key)
        if best is None or (named_for(job) and not named_for(best)):
            chosen[key] = job
    return [job for job in jobs if chosen[(job.student, job.assignment)] is job]


def submission_digest(job):
    """sha256 of the submitted bytes, read as the grader reads them (no symlinks, bounded size)."""
    return read_job(job)[1]


def read_job(job):
    """(the submitted bytes or None, their sha256 digest): read once, as the grader reads them
    (load.read_submission: no symlinks, bounded size); an unreadable file's digest names why."""
    try:
        raw = load.read_submission(job.path, job.root)
    except ValueError as exc:
        return None, "unreadable:" + hashlib.sha256(str(exc).encode()).hexdigest()
    return raw, hashlib.sha256(raw).hexdigest()


_FINGERPRINTS = {}


def fingerprint(assignment_id):
    if assignment_id not in _FINGERPRINTS:
        try:
            _FINGERPRINTS[assignment_id] = kit_fingerprint(assignments.get(assignment_id))
        except (KeyError, OSError):
            _FINGERPRINTS[assignment_id] = None
    return _FINGERPRINTS[assignment_id]


def result_fingerprint(kit, digest):
    """The one fingerprint of a result: the kit's (suite, solution, grader, child and library code) and the notebook's."""
    return None if kit is None else hashlib.sha256(f"{kit}:{digest}".encode()).hexdigest()


def staleness(job, out):
    """Why job's result must be (re)made, or None when its results.json is up to date: "new" (no result),
    "unfinished" (its grading did not finish), "notebook" (a new notebook was handed in) or "kit" (the
    suite, the solution or the kit's code changed since)."""
    results = job.out_dir(out) / "results.json"
    try:
        extra = json.loads(results.read_text())["extra_data"]
        if extra.get("batch_error"):
            return "unfinished"
        digest, kit = submission_digest(job), fingerprint(job.assignment)
        if extra.get("fingerprint") is not None and extra.get("fingerprint") == result_fingerprint(kit, digest):
            return None
        return "notebook" if extra.get("sha256") != digest else "kit"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "new"


def is_done(job, out):
    return staleness(job, out) is None


_REFERENCES = {}  # per worker process: assignment -> Reference


def grade_job(job, out, threads=None, lazy_reference=False):
    """Grade one job and write its files; returns (job, score, max_score, seconds). Runs in a worker.
    `lazy_reference`: for a process that grades only this job (Reference's eager=False)."""
    cache = Path(out) / ".reference-cache"
    if job.assignment not in _REFERENCES and job.assignment in assignments.ASSIGNMENT_IDS:
        if assignments.get(job.assignment).available:
            _REFERENCES[job.assignment] = Reference(assignments.get(job.assignment), cache_dir=cache / job.assignment, eager=not lazy_reference)
    limits = None
    if job.assignment in _REFERENCES and threads:
        limits = dataclasses.replace(assignments.get(job.assignment).limits, threads=threads)
    path = Path(os.path.abspath(job.path))
    hide = [Path(out).resolve(), Path(job.root).resolve() if job.root else path.parent]
    raw, digest = read_job(job)  # the notebook is read once: its digest and its grading see the same bytes
    result = grade_notebook(job.path, job.assignment, reference=_REFERENCES.get(job.assignment), limits=limits, hide=hide, root=job.root, raw=raw)
    data = report.results_json(result)
    kit = fingerprint(job.assignment)
    data["extra_data"].update(student=job.student, sha256=digest, kit=kit, fingerprint=result_fingerprint(kit, digest))
    target = job.out_dir(out)
    write_atomic(target / "feedback.html", report.feedback_html(result))
    write_atomic(target / "results.json", json.dumps(data, indent=2))  # last: its presence marks the job done
    return job, result.score, result.max_score, result.seconds


def write_error_result(job, out, message, kind):
    """A result for a submission whose grading did not finish: score 0 and why."""
    result = GradeResult(job.path, job.assignment, [], [clip(message)], 0.0, isolation=isolation.describe())
    data = report.results_json(result)
    data["extra_data"].update(student=job.student, sha256=submission_digest(job), batch_error=kind)
    target = job.out_dir(out)
    write_atomic(target / "feedback.html", report.feedback_html(result))
    write_atomic(target / "results.json", json.dumps(data, indent=2))


def close_references():
    for ref in _REFERENCES.values():
        with contextlib.suppress(Exception):
            ref.close()
    _REFERENCES.clear()


def job_timeout(job):
    """Wall-clock seconds a worker may spend on one submission before the batch kills it:
    the submission's own budget, its child's starts, and a margin for the reference and the checks."""
    try:
        limits = assignments.get(job.assignment).limits
    except KeyError:
        return 300.0
    return limits.total_seconds + 2 * limits.startup_seconds + max(120.0, limits.total_seconds / 2)


# ---- supervised worker processes ----------------------------------------------------------


def _worker_main(conn, out, threads, grade):
    """A worker: grade the jobs the batch sends, one at a time, until it sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch decides what Ctrl-C does

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    grade = grade or grade_job
    try:
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                return
            if job is None:
                return
            try:
                _, score, max_score, seconds = grade(job, out, threads)
                conn.send(("ok", score, max_score, seconds))
            except MemoryError:
                conn.send(("error", "the grader ran out of memory on this submission", "memory"))
                return  # a fresh worker for the next one
            except Exception as exc:  # a grader bug on one submission costs only that one
                conn.send(("error", f"grader error: {type(exc).__name__}: {clip(str(exc), 2000)}", "error"))
    finally:
        close_references()


class _Worker:
    def __init__(self, ctx, out, threads, grade):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, str(out), threads, grade), name="rnnkit-grade-worker")
        self.proc.start()
        child.close()
        self.job = None
        self.deadline = None
        self.limit = None
        self.seen = set()  # assignments this worker process has graded (their reference is warm in it)

    def assign(self, job, seconds):
        self.job, self.limit = job, seconds
        self.seen.add(job.assignment)
        self.deadline = time.monotonic() + seconds
        self.conn.send(job)

    def kill(self):
        if self.proc.is_alive():
            self.proc.terminate()  # SIGTERM: the worker closes its children
            self.proc.join(3)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        with contextlib.suppress(OSError):
            self.conn.close()

    def stop(self):
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.proc.join(10)
        self.kill()


def _describe_death(exitcode):
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else str(-exitcode)
        why = " (killed by SIGKILL: the machine may have run out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"signal {name}{why}"
    return f"exit status {exitcode}"


class Dispatch:
    """Which pending submission a free worker grades next.

    A worker keeps to the assignments it has graded already: their reference answers are in its
    memory and its child template for their sandbox view is started. A worker with none of those
    left starts an assignment nobody has started yet (so each assignment's reference answers are
    computed by one worker while the others go on), then takes one whose first grading has
    finished elsewhere (its answers are in the batch's cache), and only last one whose first
    grading is still running in another worker (which would compute the same answers twice).
    Within an assignment submissions go in order. The order changes when a submission is graded,
    never its score.
    """

    def __init__(self, jobs):
        self.queues = collections.OrderedDict()  # assignment -> deque of its pending jobs
        for job in jobs:
            self.queues.setdefault(job.assignment, collections.deque()).append(job)
        self.started = set()  # assignments some worker has begun
        self.finished = set()  # assignments with a grading finished (answers cached)

    def __len__(self):
        return sum(len(q) for q in self.queues.values())

    def next(self, seen):
        """The job for a worker that has graded the assignments in `seen`, or None if none is left."""
        ready = [a for a, q in self.queues.items() if q]
        for wanted in (lambda a: a in seen, lambda a: a not in self.started, lambda a: a in self.finished, lambda a: True):
            for assignment in ready:
                if wanted(assignment):
                    self.started.add(assignment)
                    return self.queues[assignment].popleft()
        return None

    def put_back(self, job):
        """A job whose worker was gone before it began: first in line again."""
        self.queues.setdefault(job.assignment, collections.deque()).appendleft(job)

    def done(self, job):
        self.finished.add(job.assignment)


def run_pool(todo, out, jobs, threads, finished, timeout=None, grade=None):
    """Grade `todo` in `jobs` supervised worker processes; finished(job, outcome) for each, where
    outcome is (job, score, max_score, seconds) or a JobFailed (whose error result is already written)."""
    ctx = multiprocessing.get_context("spawn")
    pending = Dispatch(todo)
    workers = []
    timeout = timeout or job_timeout

    def fail(job, message, kind):
        with contextlib.suppress(Exception):
            write_error_result(job, out, message, kind)
        finished(job, JobFailed(message, kind))

    try:
        for _ in range(min(max(jobs, 1), len(pending))):
            workers.append(_Worker(ctx, out, threads, grade))
        while pending or any(w.job is not None for w in workers):
            for i, w in enumerate(workers):
                if w.job is None and pending:
                    job = pending.next(w.seen)
                    try:
                        w.assign(job, timeout(job) if callable(timeout) else float(timeout))
                    except (OSError, ValueError):  # the worker is gone: a fresh one takes the job
                        pending.put_back(job)
                        w.job = None
                        w.kill()
                        workers[i] = _Worker(ctx, out, threads, grade)
            busy = [w for w in workers if w.job is not None]
            if not busy:
                continue
            wait_for = min(w.deadline for w in busy) - time.monotonic()
            multiprocessing.connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=max(0.05, min(wait_for, 5.0)))
            for i, w in enumerate(workers):
                if w.job is None:
                    continue
                job, replace = w.job, False
                message = None
                try:
                    message = w.conn.recv() if w.conn.poll() else None
                except (EOFError, OSError):
                    message = None
                if message is not None:
                    w.job = None
                    pending.done(job)
                    if message[0] == "ok":
                        finished(job, (job, *message[1:]))
                    else:
                        fail(job, message[1], message[2])
                        replace = not w.proc.is_alive() or message[2] == "memory"
                elif not w.proc.is_alive():
                    w.proc.join()
                    fail(job, f"the process grading this submission died ({_describe_death(w.proc.exitcode)}); nothing of it was graded", "died")
                    w.job, replace = None, True
                elif time.monotonic() > w.deadline:
                    w.kill()
                    fail(job, f"grading took longer than the batch allows ({w.limit:.0f} s) and was stopped; nothing of it was graded", "timeout")
                    w.job, replace = None, True
                if replace:
                    w.kill()
                    workers[i] = _Worker(ctx, out, threads, grade) if pending else w
    finally:
        for w in workers:
            if w.job is None:
                w.stop()
            else:
                w.kill()


class Progress:
    """A one-line progress bar on stderr (a plain log line per job when not a terminal)."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.start = time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, label):
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}  {elapsed:5.0f}s elapsed, ~{eta:4.0f}s left  {label}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def write_gradebook(out):
    """gradebook.csv from every results.json under out: one row per student, one column per assignment."""
    out = Path(out)
    scores, ids = {}, set()
    for results in sorted(out.glob("*/*/results.json")):
        try:
            data = json.loads(results.read_text())
            score = float(data.get("score", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        assignment, student = _safe_name(results.parent.parent.name), _safe_name(results.parent.name)
        ids.add(assignment)
        scores.setdefault(student, {})[assignment] = score
    columns = sorted(ids)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student"] + columns + ["total"])
    for student in sorted(scores):
        row = [scores[student].get(a, "") for a in columns]
        writer.writerow([student] + row + [round(sum(v for v in row if v != ""), 4)])
    write_atomic(out / "gradebook.csv", buffer.getvalue())
    return out / "gradebook.csv"


def write_class_report(out):
    """class_report.html: per assignment, a score histogram and each test's item analysis (pass rate,
    flags, item-rest correlation: itemanalysis.py); the same figures in item_analysis.csv."""
    import html

    out = Path(out)
    by_assignment = {}
    for results in sorted(out.glob("*/*/results.json")):
        try:
            data = json.loads(results.read_text())
            data["score"] = float(data.get("score", 0))
            data["tests"] = [t for t in data.get("tests", []) if isinstance(t, dict) and isinstance(t.get("name"), str)]
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        by_assignment.setdefault(_safe_name(results.parent.parent.name), []).append(data)
    sections, analysis_rows = [], []
    for assignment, runs in sorted(by_assignment.items()):
        scores = [r.get("score", 0) for r in runs]
        bins = [0] * 10
        for score in scores:
            bins[min(int(score // 10), 9)] += 1
        top = max(bins) or 1
        bars = "".join(
            f'<rect x="{i * 34 + 30}" y="{150 - 130 * n / top:.0f}" width="30" height="{130 * n / top:.0f}" fill="#4c78a8"><title>{i * 10}-{i * 10 + 10}: {n}</title></rect>'
            f'<text x="{i * 34 + 45}" y="166" font-size="10" text-anchor="middle">{i * 10}</text>'
            f'<text x="{i * 34 + 45}" y="{145 - 130 * n / top:.0f}" font-size="10" text-anchor="middle">{n or ""}</text>'
            for i, n in enumerate(bins)
        )
        items = itemanalysis.analyse(runs)
        analysis_rows.extend([assignment, i.name, i.max_score, i.graded, round(i.pass_rate, 4),
                              "" if i.correlation is None else round(i.correlation, 3), "; ".join(i.flags)] for i in items)
        rows = "".join(
            f"<tr{' class=flag' if i.flags else ''}><td>{html.escape(i.name)}</td><td>{100 * i.pass_rate:.0f}%</td>"
            f"<td><div style='background:#e45756;height:8px;width:{100 - 100 * i.pass_rate:.0f}px'></div></td>"
            f"<td>{'&ndash;' if i.correlation is None else f'{i.correlation:+.2f}'}</td><td>{html.escape('; '.join(i.flags))}</td></tr>"
            for i in items
        )
        flagged = sum(1 for i in items if i.flags)
        mean = sum(scores) / len(scores)
        sections.append(
            f"<h2>{html.escape(assignment)}</h2><p>{len(scores)} submissions, mean {mean:.1f}, "
            f"median {sorted(scores)[len(scores) // 2]:g}</p>"
            f'<svg width="380" height="175" role="img" aria-label="score histogram">{bars}</svg>'
            f"<h3>Tests, hardest first</h3><p>{flagged} of {len(items)} tests flagged for a look before grades go out. "
            "<em>rest r</em>: the correlation between passing the test and the rest of the score (below "
            f"{itemanalysis.LOW_CORRELATION:g}: the test does not separate strong from weak submissions; flags from "
            f"{itemanalysis.MIN_FOR_FLAGS} graded submissions on).</p>"
            f"<table><tr><th>test</th><th>passed</th><th>failed</th><th>rest r</th><th>look at it</th></tr>{rows}</table>"
        )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Class report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto}td{padding:2px 8px;border-bottom:1px solid #eee}"
        "tr.flag td{background:#fff4d6}</style>"
        f"</head><body><h1>Class report</h1>{''.join(sections) or '<p>No results yet.</p>'}</body></html>"
    )
    write_atomic(out / "class_report.html", page)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["assignment", "test", "max_score", "graded", "pass_rate", "rest_correlation", "flags"])
    writer.writerows([row[0], regrade._cell(row[1]), *row[2:]] for row in analysis_rows)
    write_atomic(out / "item_analysis.csv", buffer.getvalue())
    return out / "class_report.html"


def run_batch(root, out, jobs=1, assignment=None, scheduler=None, progress=True, timeout=None, grade=None):
    """Grade every submission under root that is not already graded; write the gradebook.

    Returns (all jobs, the jobs graded now, [(job, JobFailed or exception)], gradebook path).
    The gradebook and class report are written whatever happens, Ctrl-C included (the
    KeyboardInterrupt is raised again after). `timeout` (seconds, or a function of the job)
    replaces job_timeout; `grade` replaces grade_job in the workers (for tests).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_jobs = find_submissions(root, assignment)
    _FINGERPRINTS.clear()  # the kit as it is now
    reasons = {}
    for job in all_jobs:
        why = staleness(job, out)
        if why is not None:
            reasons[(job.student, job.assignment)] = why
    todo = [j for j in all_jobs if (j.student, j.assignment) in reasons]
    before = regrade.snapshot(todo, out)
    bar = Progress(len(todo)) if progress and todo else None
    if progress:
        print(describe_todo(all_jobs, reasons, "the Dask cluster" if scheduler else f"{jobs} worker(s)"), file=sys.stderr)
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    failures = []

    def finished(job, outcome):
        if isinstance(outcome, BaseException):
            failures.append((job, outcome))
            label = f"{job.student}/{job.assignment}: not graded ({getattr(outcome, 'kind', type(outcome).__name__)})"
        else:
            label = f"{job.student}/{job.assignment}: {outcome[1]:g}/{outcome[2]:g}"
        if bar:
            bar.update(label)

    try:
        if scheduler:
            from rnnkit_grader import cluster

            cluster.run_on_dask(scheduler, todo, out, threads, finished, timeout=timeout, grade=grade_one_guarded, write_error=write_error_result)
        elif todo:
            run_pool(todo, out, jobs, threads, finished, timeout=timeout, grade=grade)
    finally:
        gradebook = write_gradebook(out)
        write_class_report(out)
        moved = regrade.compare(before, todo, out, reasons)
        if moved:
            csv_path, html_path = regrade.write(moved, out)
            if progress:
                print(f"{len(moved)} score(s) changed on re-grading; who, old and new, and the tests that moved each: {html_path} ({csv_path.name})", file=sys.stderr)
    return all_jobs, todo, failures, gradebook


def describe_todo(all_jobs, reasons, workers):
    """One line: how many submissions are up to date, how many must be graded, and why."""
    counts = collections.Counter(reasons.values())
    why = [f"{counts[k]} {label}" for k, label in (
        ("new", "new"), ("notebook", "with a new notebook"), ("kit", "out of date (suite, solution or kit changed)"),
        ("unfinished", "unfinished last time")) if counts[k]]
    line = f"{len(all_jobs)} submissions found: {len(all_jobs) - len(reasons)} up to date, {len(reasons)} to grade"
    return line + (f" ({', '.join(why)}) with {workers}" if reasons else "")


def grade_one_guarded(job, out, threads=None, timeout=None):
    """Grade one job in a process of its own, under its wall-clock limit (a Dask task, whose own
    process may not have multiprocessing children): (job, score, max, seconds), or raise JobFailed
    after writing the job's error result."""
    import subprocess

    limit = job_timeout(job) if timeout is None else (timeout(job) if callable(timeout) else float(timeout))
    request = json.dumps({"job": dataclasses.asdict(job), "out": str(out), "threads": threads})
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnkit_grader.batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )
    try:
        stdout, _ = proc.communicate(request, timeout=limit)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        failure = JobFailed(f"grading took longer than the batch allows ({limit:.0f} s) and was stopped; nothing of it was graded", "timeout")
    else:
        try:
            answer = json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            answer = None
        if isinstance(answer, list) and answer and answer[0] == "ok":
            return (job, *answer[1:])
        if isinstance(answer, list) and len(answer) == 3:
            failure = JobFailed(answer[1], answer[2])
        else:
            failure = JobFailed(f"the process grading this submission died ({_describe_death(proc.returncode)}); nothing of it was graded", "died")
    with contextlib.suppress(Exception):
        write_error_result(job, out, str(failure), failure.kind)
    raise failure


def _one_job_main():
    """`python -m rnnkit_grader.batch`: grade the one job described on stdin; one JSON line on stdout."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    request = json.loads(sys.stdin.read())
    job = Job(**request["job"])
    try:
        _, score, max_score, seconds = grade_job(job, request["out"], request["threads"], lazy_reference=True)
        answer = ["ok", score, max_score, seconds]
    except MemoryError:
        answer = ["error", "the grader ran out of memory on this submission", "memory"]
    except Exception as exc:
        answer = ["error", f"grader error: {type(exc).__name__}: {clip(str(exc), 2000)}", "error"]
    finally:
        close_references()
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _one_job_main()
