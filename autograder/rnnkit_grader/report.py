"""Step 5, report: one grading's `GradeResult`, and what people read of it: results.json,
a feedback page, a table.

results.json follows Gradescope's autograder schema (score, execution_time, output,
tests[] with name/score/max_score/status/output/visibility); kit-specific fields sit
under extra_data.
"""

import html
import json
import time
from collections import OrderedDict

from rnnkit_grader.clip import MESSAGE_CHARS, OUTPUT_CHARS, clip, clip_list
from rnnkit_grader.results import GradeResult, write_atomic


def grade_result(path, assignment_id, nb, parties, checked, t0):
    """The GradeResult of one grading from what steps 2-4 left (extract.Notebook, isolate.Parties,
    check.Checked): the tests, every problem the student should read, and the child's figures.
    `t0` is time.monotonic() when the grading began."""
    problems = list(nb.problems) + list(checked.problems)
    process = parties.process
    if process is not None:
        for cell, error in process.cell_errors.items():
            if cell not in nb.units and cell not in nb.unit_problems and isinstance(error, dict):
                problems.append(f"{clip(cell, 200)} raised {clip(error.get('type'), 200)} when run: {clip(error.get('message'), MESSAGE_CHARS)}")
    return GradeResult(
        str(path),
        assignment_id,
        checked.tests,
        problems,
        time.monotonic() - t0,
        startup_seconds=process.startup_seconds if process else None,
        restarts=process.restarts if process else 0,
        peak_rss_mib=process.peak_rss_mib if process else None,
        first_check_seconds=None if checked.first_check is None else checked.first_check - t0,
        checks_seconds=checked.seconds,
        reference_started=parties.reference_started,
        isolation=parties.isolation,
    )


def _summary(result):
    if result.problems and not result.tests:
        return "Not graded: " + " ".join(clip_list(result.problems))
    failed = sum(1 for t in result.tests if t.status != "passed")
    line = f"{result.assignment}: {result.score:g} / {result.max_score:g} points; {len(result.tests) - failed} of {len(result.tests)} checks passed."
    if result.problems:
        line += "\n" + "\n".join(f"Note: {p}" for p in clip_list(result.problems))
    return line


def results_json(result, visibility="visible", public=()):
    """Gradescope's results.json of `result`. Every test gets `visibility` (Gradescope's
    visible / hidden / after_due_date / after_published) except those named in `public`;
    with hidden tests the summary says how many checks ran but not the points."""
    def shown(test):
        return "visible" if test.name in public else visibility

    output = _summary(result)
    if visibility != "visible" and result.tests:
        hidden = sum(1 for t in result.tests if shown(t) != "visible")
        output = (f"{result.assignment}: your notebook was graded ({len(result.tests)} checks). The points and the results "
                  f"of {hidden} check(s) are shown when the course staff release them ({visibility}).")
        output += "".join(f"\nNote: {p}" for p in clip_list(result.problems))
    return {
        "score": result.score,
        "max_score": result.max_score,
        "execution_time": round(result.seconds, 3),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": t.name,
                "score": t.score,
                "max_score": t.max_score,
                "status": t.status,
                "output": clip(t.output, OUTPUT_CHARS),
                "visibility": shown(t),
            }
            for t in result.tests
        ],
        "extra_data": {
            "assignment": result.assignment,
            "notebook": result.path,
            "problems": clip_list(result.problems),
            "child_startup_seconds": None if result.startup_seconds is None else round(result.startup_seconds, 3),
            "child_restarts": result.restarts,
            "child_peak_rss_mib": result.peak_rss_mib,
            "isolation": result.isolation,
            "units": unit_scores(result),
        },
    }


def unit_scores(result):
    units = OrderedDict()
    for t in result.tests:
        got, total = units.get(t.unit or "other", (0.0, 0.0))
        units[t.unit or "other"] = (got + t.score, total + t.max_score)
    return {u: {"score": round(s, 4), "max_score": m} for u, (s, m) in units.items()}


def write_results(result, path, visibility="visible", public=(), extra=None):
    data = results_json(result, visibility, public)
    data["extra_data"].update(extra or {})
    write_atomic(path, json.dumps(data, indent=2))


def feedback_html(result):
    esc = html.escape
    rows = []
    for unit, scores in unit_scores(result).items():
        ok = scores["score"] == scores["max_score"]
        rows.append(
            f'<tr class="{"ok" if ok else "bad"}"><td><code>{esc(unit)}</code></td>'
            f'<td>{scores["score"]:g} / {scores["max_score"]:g}</td></tr>'
        )
    failures = [
        f'<div class="failure"><h3>{esc(t.name)} <span class="pts">0 / {t.max_score:g}</span></h3>'
        f"<pre>{esc(clip(t.output, OUTPUT_CHARS))}</pre></div>"
        for t in result.tests
        if t.status != "passed"
    ]
    problems = "".join(f"<li>{esc(p)}</li>" for p in clip_list(result.problems))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Feedback: {esc(str(result.assignment))}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .3rem .8rem; border-bottom: 1px solid #ddd; text-align: left; }}
tr.ok td:last-child {{ color: #1a7f37; }} tr.bad td:last-child {{ color: #b42318; font-weight: bold; }}
.failure {{ border-left: 4px solid #b42318; padding: .2rem 1rem; margin: 1rem 0; background: #fff6f5; }}
.failure h3 {{ font-size: 1rem; }} .pts {{ color: #b42318; font-weight: normal; }}
pre {{ white-space: pre-wrap; }}
</style></head><body>
<h1>{esc(str(result.assignment))}: {result.score:g} / {result.max_score:g}</h1>
<p>{esc(_summary(result).splitlines()[0])}</p>
{f"<h2>About your notebook</h2><ul>{problems}</ul>" if problems else ""}
<h2>Points by unit</h2>
<table><tr><th>unit</th><th>points</th></tr>{"".join(rows)}</table>
<h2>What to look at</h2>
{"".join(failures) or "<p>Every check passed.</p>"}
</body></html>
"""


def write_feedback(result, path):
    write_atomic(path, feedback_html(result))


def table(result, width=100):
    """The per-test table printed by `rnnkit grade`."""
    lines = [f"{result.path}  ({result.assignment})"]
    for t in result.tests:
        mark = "PASS" if t.status == "passed" else "FAIL"
        lines.append(f"  {mark}  {t.score:5g}/{t.max_score:<4g} {t.name}"[:width])
        if t.status != "passed":
            for out in t.output.splitlines()[:4]:  # marked, so a message can't pass for a row of the table
                lines.append(f"             | {out}"[:width])
    for p in clip_list(result.problems):
        lines.append(f"  NOTE  {p}"[:width * 3])
    lines.append(f"  TOTAL {result.score:g} / {result.max_score:g}   ({result.seconds:.1f} s)")
    return "\n".join(lines)
