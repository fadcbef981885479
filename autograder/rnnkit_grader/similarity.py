"""Similarity report: submissions that look copied from each other or from the reference solution.

`rnnkit similarity DIR --assignment ID --out REPORT.html` reads every submission under
DIR (the layouts of grade-batch), takes only its graded cells (the units, as the grader
extracts them), and fingerprints them with copydetect (winnowing over the token stream,
with names, strings and comments normalised away): renamed variables, reformatted code,
changed comments and functions in another order do not hide a copy. The released
starter code of each unit (signatures, docstrings) is boilerplate and removed, so what
every student was handed counts for nothing. Every submission is compared with every
other and with the reference solution; a pair is flagged when the share of one side's
fingerprinted code found in the other is at least the threshold, and the report shows
flagged pairs side by side with the matching code marked.

Notebooks are only read and parsed here, never run. A flag is a reason to look, not a
verdict: short units have few ways to be written.
"""

import dataclasses
import html
import io
import itertools
import logging
from pathlib import Path

from rnnkit_grader import assignments, notebook

THRESHOLD = 0.6  # calibrated: disguised copies in 01-08 score 0.91-0.99, the independent `correct` examples against the reference 0.04-0.22 (tests/test_similarity.py)
NOISE = 25  # copydetect's k: matches shorter than this many characters of normalised code are ignored
GUARANTEE = 30  # matches at least this long are always found (window = GUARANTEE - NOISE + 1)
MIN_CODE = 60  # characters of normalised code (after the starter code is removed) needed to be compared
REFERENCE = "(reference solution)"


@dataclasses.dataclass
class Document:
    name: str  # the student, or REFERENCE
    path: str
    code: str  # the graded cells, unit after unit
    fingerprint: object = None  # copydetect.CodeFingerprint, None when too little code of one's own
    problem: str = ""


@dataclasses.dataclass
class Pair:
    a: Document
    b: Document
    similarity: float  # the larger of the two shares
    shares: tuple  # (share of a found in b, share of b found in a)
    slices: tuple  # copydetect's copied slices of a's and b's code


@dataclasses.dataclass
class Comparison:
    assignment: str
    threshold: float
    documents: list
    pairs: list  # every compared pair, most similar first

    @property
    def flagged(self):
        return [p for p in self.pairs if p.similarity >= self.threshold]


def graded_code(path, assignment, root=None):
    """The code of the notebook's units, in the reference's unit order, as the grader extracts it; raises ValueError."""
    setup, units = notebook.reference_layout(assignment.solution)
    nb_data = notebook.parse_notebook(notebook.read_submission(path, root))
    nb = notebook.load_submission(path, units, setup, nb=nb_data)
    return "\n\n".join(f"# {unit}\n{nb.units[unit].strip()}" for unit in units if unit in nb.units) + "\n"


def _fingerprint(code, boilerplate=()):
    from copydetect import CodeFingerprint

    logging.disable(logging.WARNING)  # copydetect warns on the root logger about every empty document
    try:
        return CodeFingerprint("graded_cells.py", NOISE, GUARANTEE - NOISE + 1, boilerplate=list(boilerplate), fp=io.StringIO(code), language="python")
    finally:
        logging.disable(logging.NOTSET)


def compare_folder(root, assignment_id, threshold=None):
    """Compare the submissions under root (nbgrader's layout or a flat folder) for assignment_id."""
    from rnnkit_grader import batch

    jobs = batch.find_submissions(root, assignment_id)
    return compare([(job.student, job.path, job.root) for job in jobs], assignment_id, threshold)


def compare(submissions, assignment_id, threshold=None):
    """[(name, path, root)] compared with each other and with the reference solution."""
    from copydetect import compare_files

    assignment = assignments.get(assignment_id)
    threshold = THRESHOLD if threshold is None else threshold
    starter = _fingerprint(graded_code(assignment.release, assignment) if assignment.release.exists() else "")
    boilerplate = starter.hashes
    documents = [Document(REFERENCE, str(assignment.solution), graded_code(assignment.solution, assignment))]
    for name, path, root in submissions:
        try:
            documents.append(Document(name, str(path), graded_code(path, assignment, root)))
        except ValueError as exc:
            documents.append(Document(name, str(path), "", problem=str(exc)))
    for doc in documents:
        if doc.problem:
            continue
        fp = _fingerprint(doc.code, boilerplate)
        if len(fp.filtered_code) < MIN_CODE or fp.token_coverage < MIN_CODE:
            doc.problem = "too little code of its own to compare (the starter code is not counted)"
        else:
            doc.fingerprint = fp
    pairs = []
    for a, b in itertools.combinations([d for d in documents if d.fingerprint is not None], 2):
        _, shares, slices = compare_files(a.fingerprint, b.fingerprint)
        shares = (float(shares[0]), float(shares[1]))
        pairs.append(Pair(a, b, max(shares), shares, slices))
    pairs.sort(key=lambda p: (-p.similarity, p.a.name, p.b.name))
    return Comparison(assignment_id, threshold, documents, pairs)


def summary(found):
    compared = sum(1 for d in found.documents if d.fingerprint is not None) - 1
    lines = [f"{found.assignment}: {compared} submission(s) compared with each other and with the reference solution; "
             f"{len(found.flagged)} pair(s) at or above {found.threshold:.0%}"]
    for p in found.flagged:
        lines.append(f"  {p.similarity:4.0%}  {p.a.name}  ~  {p.b.name}")
    return "\n".join(lines)


def _marked(doc, slices):
    from copydetect.utils import highlight_overlap

    if slices is None or len(slices[0]) == 0:
        return html.escape(doc.code)
    text, _ = highlight_overlap(doc.code, slices, "<mark>", "</mark>", escape_html=True)
    return text


def write_report(found, out):
    """The HTML report: flagged pairs side by side, then every pair's figure and what was not compared."""
    esc = html.escape
    sections = []
    for p in found.flagged:
        sections.append(
            f"<section><h2>{p.similarity:.0%}: {esc(p.a.name)} &harr; {esc(p.b.name)}</h2>"
            f"<p>{p.shares[0]:.0%} of {esc(p.a.name)}'s graded code is found in {esc(p.b.name)}'s; {p.shares[1]:.0%} the other way.</p>"
            f"<div class='pair'><div><h3>{esc(p.a.name)}</h3><pre>{_marked(p.a, p.slices[0])}</pre></div>"
            f"<div><h3>{esc(p.b.name)}</h3><pre>{_marked(p.b, p.slices[1])}</pre></div></div></section>"
        )
    rows = "".join(
        f"<tr{' class=flag' if p.similarity >= found.threshold else ''}><td>{p.similarity:.0%}</td><td>{esc(p.a.name)}</td><td>{esc(p.b.name)}</td></tr>"
        for p in found.pairs
    )
    skipped = "".join(f"<li>{esc(d.name)}: {esc(d.problem)}</li>" for d in found.documents if d.problem)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Similarity: {esc(found.assignment)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:90rem;margin:2rem auto;padding:0 1rem}}
.pair{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}} pre{{background:#f6f8fa;padding:.5rem;white-space:pre-wrap;font-size:.8rem}}
mark{{background:#ffd76e}} td{{padding:2px 8px;border-bottom:1px solid #eee}} tr.flag td{{background:#fff4d6}}</style></head><body>
<h1>Similarity of {esc(found.assignment)}</h1>
<p>{esc(summary(found).splitlines()[0])}. Only the graded cells count, without the starter code every student was handed;
names, strings, comments and layout are normalised away before fingerprinting (copydetect). Marked code is what two
submissions share. A flag is a reason to look, not a verdict.</p>
{''.join(sections) or '<p>No pair reached the threshold.</p>'}
<h2>Every pair</h2><table><tr><th>similarity</th><th>one</th><th>other</th></tr>{rows}</table>
{f'<h2>Not compared</h2><ul>{skipped}</ul>' if skipped else ''}
</body></html>
"""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
