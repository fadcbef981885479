"""The regrade report: whose score a re-run of grade-batch moved, from what to what, and why.

Before a batch grades anything, `snapshot` keeps the score and per-test scores of every
submission about to be graded again (its old results.json). After the batch, `compare`
reads the new results.json files and lists each student whose score changed, with the
tests whose scores moved it; `write` puts that list in OUT/regrade_report.csv and
OUT/regrade_report.html. A re-run in which no score changed leaves the last report alone.
"""

import csv
import dataclasses
import html
import io
import json
import time
from pathlib import Path

from rnnkit_grader.results import write_atomic


@dataclasses.dataclass
class Moved:
    student: str
    assignment: str
    old: float
    new: float
    reason: str  # why it was graded again: "notebook", "kit", ...
    tests: list  # [(name, old score or None, new score or None)]
    note: str = ""  # for a result that is now an error ("not graded: timeout")

    @property
    def delta(self):
        return round(self.new - self.old, 4)


def _read(path):
    try:
        data = json.loads(Path(path).read_text())
        extra = data.get("extra_data") or {}
        tests = {t["name"]: float(t.get("score", 0)) for t in data.get("tests", []) if isinstance(t, dict) and isinstance(t.get("name"), str)}
        return {"score": float(data.get("score", 0)), "tests": tests, "error": extra.get("batch_error")}
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return None


def snapshot(jobs, out):
    """{(student, assignment): old result} for the jobs whose finished results are about to be replaced."""
    old = {}
    for job in jobs:
        data = _read(job.out_dir(out) / "results.json")
        if data is not None and not data["error"]:
            old[(job.student, job.assignment)] = data
    return old


def compare(before, jobs, out, reasons=None):
    """The Moved entries of `jobs`: students whose new score differs from the one in `before`."""
    reasons = reasons or {}
    moved = []
    for job in jobs:
        key = (job.student, job.assignment)
        if key not in before:
            continue
        new = _read(job.out_dir(out) / "results.json")
        if new is None:
            continue
        old = before[key]
        if abs(new["score"] - old["score"]) < 1e-9:
            continue
        names = list(old["tests"]) + [n for n in new["tests"] if n not in old["tests"]]
        tests = [
            (name, old["tests"].get(name), new["tests"].get(name))
            for name in names
            if old["tests"].get(name) != new["tests"].get(name)
        ]
        note = f"not graded this time: {new['error']}" if new["error"] else ""
        moved.append(Moved(job.student, str(job.assignment), old["score"], new["score"], reasons.get(key, ""), tests, note))
    return sorted(moved, key=lambda m: (m.assignment, m.delta, m.student))


def _points(value):
    return "absent" if value is None else f"{value:g}"


def write(moved, out):
    """regrade_report.csv (one row per moved test) and regrade_report.html in out; their paths."""
    out = Path(out)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "assignment", "old_score", "new_score", "change", "regraded_because", "test", "old_test_score", "new_test_score"])
    for m in moved:
        for name, old, new in m.tests or [(m.note or "", None, None)]:
            writer.writerow([_cell(m.student), m.assignment, f"{m.old:g}", f"{m.new:g}", f"{m.delta:+g}", m.reason, _cell(name), _points(old), _points(new)])
    csv_path, html_path = out / "regrade_report.csv", out / "regrade_report.html"
    write_atomic(csv_path, buffer.getvalue())
    esc = html.escape
    rows = []
    for m in moved:
        tests = "".join(f"<li>{esc(name)}: {_points(old)} &rarr; {_points(new)}</li>" for name, old, new in m.tests)
        if m.note:
            tests += f"<li><em>{esc(m.note)}</em></li>"
        colour = "#1a7f37" if m.delta > 0 else "#b42318"
        rows.append(
            f"<tr><td>{esc(m.student)}</td><td>{esc(m.assignment)}</td><td>{m.old:g}</td><td>{m.new:g}</td>"
            f"<td style='color:{colour}'>{m.delta:+g}</td><td>{esc(m.reason)}</td><td><ul>{tests}</ul></td></tr>"
        )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Regrade report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto}td,th{padding:2px 8px;border-bottom:1px solid #eee;"
        "text-align:left;vertical-align:top}ul{margin:0;padding-left:1rem}</style></head><body>"
        f"<h1>Regrade report</h1><p>{time.strftime('%Y-%m-%d %H:%M')}: {len(moved)} score(s) changed when grade-batch graded "
        "submissions again (\"regraded because\": <code>kit</code> = the suite, the solution or the kit's code changed; "
        "<code>notebook</code> = the student handed in a new notebook).</p>"
        "<table><tr><th>student</th><th>assignment</th><th>old</th><th>new</th><th>change</th><th>regraded because</th>"
        f"<th>tests that moved it (old &rarr; new)</th></tr>{''.join(rows)}</table></body></html>"
    )
    write_atomic(html_path, page)
    return csv_path, html_path


def _cell(text):
    """A CSV cell a spreadsheet will not run as a formula (student names and test names come from outside)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
