"""Grade a folder of submissions: in parallel, resumable, with a gradebook.

Layouts found under DIR:
- nbgrader's  DIR/submitted/<student>/<assignment>/<anything>.ipynb (or DIR/<student>/<assignment>/...)
- a flat folder DIR/<student>.ipynb or DIR/<student>_<assignment>.ipynb (the assignment
  read from the notebook, or given with --assignment)

Each submission's results.json and feedback.html land in OUT/<assignment>/<student>/,
written atomically as it finishes. A re-run skips submissions whose results were
written for the same notebook content (sha256), so an interrupted batch resumes where
it stopped. Reference answers go to a cache in OUT/.reference-cache shared by all
workers, so each is computed once per batch.
"""

import concurrent.futures
import csv
import dataclasses
import io
import json
import os
import sys
import time
from pathlib import Path

from rnnkit import sha256_of
from rnnkit_grader import assignments, notebook, report
from rnnkit_grader.runner import Reference, grade_notebook, write_atomic


@dataclasses.dataclass(frozen=True)
class Job:
    student: str
    assignment: str | None
    path: str

    def out_dir(self, out):
        return Path(out) / (self.assignment or "unknown") / self.student


def guess_assignment(path):
    try:
        return notebook.assignment_of(notebook.read_notebook(path), path)
    except ValueError:
        return notebook.assignment_of({}, path)


def find_submissions(root, assignment=None):
    """Jobs for every notebook under root, in a stable order."""
    root = Path(root)
    base = root / "submitted" if (root / "submitted").is_dir() else root
    jobs = []
    for path in sorted(base.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        rel = path.relative_to(base).parts
        if len(rel) >= 3:  # <student>/<assignment>/<file>
            student, folder = rel[0], rel[1]
            jobs.append(Job(student, assignment or (folder if folder in assignments.ASSIGNMENT_IDS else guess_assignment(path)), str(path)))
        else:
            found = assignment or guess_assignment(path)
            student = path.stem
            if found and student.endswith("_" + found):
                student = student[: -len(found) - 1]
            elif found and student == found and len(rel) == 2:
                student = rel[0]
            jobs.append(Job(student, found, str(path)))
    return _one_per_student(jobs)


def _one_per_student(jobs):
    """One notebook per student and assignment: the one named <assignment>.ipynb, else the first."""
    chosen = {}
    for job in jobs:
        key = (job.student, job.assignment)
        best = chosen.get(key)
        if best is None or (Path(job.path).stem == job.assignment and Path(best.path).stem != job.assignment):
            chosen[key] = job
    return [job for job in jobs if chosen[(job.student, job.assignment)] is job]


def is_done(job, out):
    results = job.out_dir(out) / "results.json"
    try:
        data = json.loads(results.read_text())
        return data["extra_data"]["sha256"] == sha256_of(job.path)
    except (OSError, ValueError, KeyError, TypeError):
        return False


_REFERENCES = {}  # per worker process: assignment -> Reference


def grade_job(job, out, threads=None):
    """Grade one job and write its files; returns (job, score, max_score, seconds). Runs in a worker."""
    cache = Path(out) / ".reference-cache"
    if job.assignment not in _REFERENCES and job.assignment in assignments.ASSIGNMENT_IDS:
        if assignments.get(job.assignment).available:
            _REFERENCES[job.assignment] = Reference(assignments.get(job.assignment), cache_dir=cache / job.assignment)
    limits = None
    if job.assignment in _REFERENCES and threads:
        limits = dataclasses.replace(assignments.get(job.assignment).limits, threads=threads)
    hide = [Path(out).resolve(), Path(job.path).resolve().parents[2] if len(Path(job.path).resolve().parents) > 2 else Path(job.path).resolve().parent]
    result = grade_notebook(job.path, job.assignment, reference=_REFERENCES.get(job.assignment), limits=limits, hide=hide)
    data = report.results_json(result)
    data["extra_data"].update(student=job.student, sha256=sha256_of(job.path))
    target = job.out_dir(out)
    write_atomic(target / "feedback.html", report.feedback_html(result))
    write_atomic(target / "results.json", json.dumps(data, indent=2))  # last: its presence marks the job done
    return job, result.score, result.max_score, result.seconds


def close_references():
    for ref in _REFERENCES.values():
        ref.close()
    _REFERENCES.clear()


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
        except (OSError, ValueError):
            continue
        assignment, student = results.parent.parent.name, results.parent.name
        ids.add(assignment)
        scores.setdefault(student, {})[assignment] = data.get("score", 0)
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
    """class_report.html: per assignment, a score histogram and each test's pass rate."""
    import html

    out = Path(out)
    by_assignment = {}
    for results in sorted(out.glob("*/*/results.json")):
        try:
            by_assignment.setdefault(results.parent.parent.name, []).append(json.loads(results.read_text()))
        except (OSError, ValueError):
            continue
    sections = []
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
        tests = {}
        for run in runs:
            for t in run.get("tests", []):
                passed, total = tests.get(t["name"], (0, 0))
                tests[t["name"]] = (passed + (t.get("status") == "passed"), total + 1)
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{100 * p / n:.0f}%</td><td><div style='background:#e45756;height:8px;width:{100 - 100 * p / n:.0f}px'></div></td></tr>"
            for name, (p, n) in sorted(tests.items(), key=lambda kv: kv[1][0] / kv[1][1])
        )
        mean = sum(scores) / len(scores)
        sections.append(
            f"<h2>{html.escape(assignment)}</h2><p>{len(scores)} submissions, mean {mean:.1f}, "
            f"median {sorted(scores)[len(scores) // 2]:g}</p>"
            f'<svg width="380" height="175" role="img" aria-label="score histogram">{bars}</svg>'
            f"<h3>Tests, hardest first</h3><table><tr><th>test</th><th>passed</th><th>failed</th></tr>{rows}</table>"
        )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Class report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto}td{padding:2px 8px;border-bottom:1px solid #eee}</style>"
        f"</head><body><h1>Class report</h1>{''.join(sections) or '<p>No results yet.</p>'}</body></html>"
    )
    write_atomic(out / "class_report.html", page)
    return out / "class_report.html"


def run_batch(root, out, jobs=1, assignment=None, scheduler=None, progress=True):
    """Grade every submission under root that is not already graded; write the gradebook."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_jobs = find_submissions(root, assignment)
    todo = [j for j in all_jobs if not is_done(j, out)]
    bar = Progress(len(todo)) if progress and todo else None
    if progress:
        print(f"{len(all_jobs)} submissions found, {len(all_jobs) - len(todo)} already graded, {len(todo)} to grade with {jobs} worker(s)", file=sys.stderr)
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    failures = []

    def finished(job, outcome):
        if isinstance(outcome, BaseException):
            failures.append((job, outcome))
            label = f"{job.student}/{job.assignment}: grader error {type(outcome).__name__}"
        else:
            label = f"{job.student}/{job.assignment}: {outcome[1]:g}/{outcome[2]:g}"
        if bar:
            bar.update(label)

    if scheduler:
        from rnnkit_grader import cluster

        cluster.run_on_dask(scheduler, todo, out, threads, finished)
    elif jobs <= 1:
        try:
            for job in todo:
                try:
                    finished(job, grade_job(job, out, threads))
                except Exception as exc:  # a grader bug on one submission must not stop the batch
                    finished(job, exc)
        finally:
            close_references()
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(grade_job, job, out, threads): job for job in todo}
            for future in concurrent.futures.as_completed(futures):
                job = futures[future]
                try:
                    finished(job, future.result())
                except Exception as exc:
                    finished(job, exc)
    gradebook = write_gradebook(out)
    write_class_report(out)
    return all_jobs, todo, failures, gradebook
