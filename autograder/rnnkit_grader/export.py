"""Grades of a batch for a learning management system.

`rnnkit export OUT --format canvas --roster roster.csv` reads every OUT/<assignment>/<student>/results.json
that `rnnkit grade-batch` wrote and writes Canvas's gradebook import CSV
(Grades > Import): the columns Student, ID, SIS User ID, SIS Login ID and Section, which
identify the student in Canvas, then one column per assignment, and a "Points Possible"
row under the header. Canvas matches an assignment column to an existing assignment by
its header "Name (assignment id)" (as in Canvas's own export; map one with --name
ID='Homework 1 (1234)'); a column it does not know becomes a new assignment. A blank cell
leaves Canvas's grade alone.

`--format units` writes one row per student with a column per assignment and unit
("01_rnn_numpy: one_hot"), the same points the feedback page lists, and the total per
assignment.

The roster maps the kit's student ids (the <student> folder names of the batch, column
`student`) to the LMS's: a CSV with `student` and any of Student (the name), ID, SIS User
ID, SIS Login ID, Section; Canvas's own exported gradebook with a `student` column added
will do. Students of the batch that the roster lacks are left out with a message (Canvas
could not tell who they are); roster students without a result get blank cells.
"""

import csv
import io
import json
from pathlib import Path

from rnnkit_grader.results import write_atomic

CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
_ALIASES = {"name": "Student", "id": "ID", "canvas_id": "ID", "sis_user_id": "SIS User ID", "sis_login_id": "SIS Login ID", "section": "Section"}


class ExportError(ValueError):
    """The export cannot be made as asked (no results, a roster without the student column, ...)."""


def _unfinished(data):
    return bool((data.get("extra_data") or {}).get("batch_error"))


def read_results(out):
    """{student: {assignment: results.json data}} of a batch's OUT folder (unreadable files skipped)."""
    found = {}
    for path in sorted(Path(out).glob("*/*/results.json")):
        try:
            data = json.loads(path.read_text())
            float(data["score"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.setdefault(path.parent.name, {})[path.parent.parent.name] = data
    return found


def read_roster(path):
    """[(kit student id, {Canvas identity column: value})] in the roster's order."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = {name: _ALIASES.get(name.strip().lower().replace(" ", "_"), name.strip()) for name in reader.fieldnames or []}
        if "student" not in [f.strip().lower() for f in fields]:
            raise ExportError(f"the roster {path} has no 'student' column (the kit's student ids); its columns: {', '.join(fields)}")
        key = next(f for f in fields if f.strip().lower() == "student")
        roster = []
        for row in reader:
            kit_id = (row.get(key) or "").strip()
            if kit_id:
                ids = {fields[f]: (row.get(f) or "").strip() for f in fields if f != key and fields[f] in CANVAS_IDENTITY}
                roster.append((kit_id, ids))
    if not roster:
        raise ExportError(f"the roster {path} lists no student")
    return roster


def export(out, fmt="canvas", roster=None, to=None, names=None):
    """Write the export of the batch in `out`; (path written, [messages about students left out])."""
    results = read_results(out)
    if not results:
        raise ExportError(f"no results.json under {out}: run rnnkit grade-batch with --out {out} first")
    names = names or {}
    assignment_ids = sorted({a for by in results.values() for a in by})
    unknown = sorted(set(names) - set(assignment_ids))
    if unknown:
        raise ExportError(f"--name for assignments without results: {', '.join(unknown)} (the batch has: {', '.join(assignment_ids)})")
    problems = []
    failed = sorted(f"{student}/{a}" for student, by in results.items() for a, data in by.items() if (data.get("extra_data") or {}).get("batch_error"))
    if failed:
        problems.append(f"{len(failed)} result(s) whose grading did not finish are left blank (run grade-batch again): {', '.join(failed[:20])}")
    if roster is not None:
        people = read_roster(roster)
        listed = {kit_id for kit_id, _ in people}
        missing = sorted(set(results) - listed)
        if missing:
            problems.append(f"{len(missing)} student(s) with results are not in the roster and were left out: {', '.join(missing[:20])}"
                            + (" ..." if len(missing) > 20 else ""))
    elif fmt == "canvas":
        raise ExportError("Canvas's import needs --roster: a CSV mapping the kit's student ids (column 'student') to Canvas's (ID, SIS User ID or SIS Login ID)")
    else:
        people = [(student, {}) for student in sorted(results)]
    if fmt == "canvas":
        text = _canvas(people, results, assignment_ids, names)
        default = "canvas_import.csv"
    elif fmt == "units":
        text = _units(people, results, assignment_ids, with_identity=roster is not None)
        default = "unit_scores.csv"
    else:
        raise ExportError(f"unknown format {fmt!r}: canvas or units")
    path = Path(to) if to else Path(out) / default
    write_atomic(path, text)
    return path, problems


def _max_score(results, assignment):
    scores = [float(by[assignment].get("max_score") or 0) for by in results.values() if assignment in by]
    return max(scores) if scores else 0.0


def _number(value):
    return f"{round(float(value), 4):g}"


def _canvas(people, results, assignment_ids, names):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CANVAS_IDENTITY + [names.get(a, a) for a in assignment_ids])
    writer.writerow(["    Points Possible", "", "", "", ""] + [_number(_max_score(results, a)) for a in assignment_ids])
    for kit_id, ids in people:
        by = results.get(kit_id, {})
        row = [_cell(ids.get(c, "")) for c in CANVAS_IDENTITY]
        row += [_number(by[a]["score"]) if a in by and not _unfinished(by[a]) else "" for a in assignment_ids]
        writer.writerow(row)
    return buffer.getvalue()


def _units(people, results, assignment_ids, with_identity):
    columns = []  # (assignment, unit)
    for a in assignment_ids:
        units = []
        for by in results.values():
            for unit in ((by.get(a) or {}).get("extra_data") or {}).get("units") or {}:
                if unit not in units:
                    units.append(unit)
        columns += [(a, u) for u in units] + [(a, None)]
    identity = CANVAS_IDENTITY if with_identity else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student"] + identity + [f"{a}: {u}" if u else f"{a}: total" for a, u in columns])
    possible = []
    for a, u in columns:
        if u is None:
            possible.append(_number(_max_score(results, a)))
        else:
            tops = [by[a]["extra_data"]["units"][u].get("max_score", 0) for by in results.values()
                    if u in ((by.get(a) or {}).get("extra_data") or {}).get("units", {})]
            possible.append(_number(max(tops)) if tops else "")
    writer.writerow(["Points Possible"] + [""] * len(identity) + possible)
    for kit_id, ids in people:
        by = results.get(kit_id, {})
        row = [_cell(kit_id)] + [_cell(ids.get(c, "")) for c in identity]
        for a, u in columns:
            data = by.get(a)
            if data is None or _unfinished(data):
                row.append("")
            elif u is None:
                row.append(_number(data["score"]))
            else:
                unit = ((data.get("extra_data") or {}).get("units") or {}).get(u)
                row.append(_number(unit.get("score", 0)) if isinstance(unit, dict) else _number(0))
        writer.writerow(row)
    return buffer.getvalue()


def _cell(text):
    """A CSV cell a spreadsheet will not run as a formula (ids and names come from outside)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
