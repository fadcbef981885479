"""Load a submitted notebook and extract the code the grader runs.

Any file gets a `Submission`, however broken: what could not be read becomes a
problem message instead of an exception. Extraction follows docs/authoring.md:
unit cells are found by `grade_id` (or, when a student lost the metadata, by the
cell that defines the unit), and only their imports, definitions and assignments
that call nothing of the notebook's own run, so a notebook's training runs, plots and
prints are never executed by the grader. Setup cells come from the reference
notebook, as nbgrader's autograde does with locked cells.
"""

import ast
import dataclasses
import json
import re
import warnings
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 50 * 2**20

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign)


@dataclasses.dataclass
class Notebook:
    """What the grader knows about one notebook file."""

    path: str
    assignment: str | None = None
    units: dict = dataclasses.field(default_factory=dict)  # unit -> extracted source
    setup: list = dataclasses.field(default_factory=list)  # [(grade_id, source)] as written
    extra: list = dataclasses.field(default_factory=list)  # [(label, source)] helpers from other cells
    problems: list = dataclasses.field(default_factory=list)  # notebook-wide problems
    unit_problems: dict = dataclasses.field(default_factory=dict)  # unit -> why it can't run
    grade_ids: list = dataclasses.field(default_factory=list)

    @property
    def readable(self):
        return not self.problems


def nbgrader_meta(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def read_notebook(path):
    """nbformat v4 notebook, or raise ValueError with a message a student understands."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror}") from None
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is {size / 2**20:.0f} MiB, over the {MAX_NOTEBOOK_BYTES // 2**20} MiB limit")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text, so it is not a notebook") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the file is not valid JSON (line {exc.lineno}: {exc.msg}); was it saved by Jupyter?") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise ValueError("the file is JSON but not a Jupyter notebook (no cells)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises many kinds on malformed notebooks
        raise ValueError(f"nbformat could not read the notebook: {type(exc).__name__}: {exc}") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError("the notebook has no list of cells")
    return nb


def cell_source(cell):
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(str(s) for s in source)
    return str(source)


def without_magics(source):
    """Turn IPython syntax (%magic, !shell) into plain Python calls, as Jupyter does."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with nbgrader
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def parse_cell(source):
    """(tree, None) or (None, 'SyntaxError on line N: ...')."""
    try:
        return ast.parse(without_magics(source)), None
    except SyntaxError as exc:
        where = f" on line {exc.lineno}" if exc.lineno else ""
        return None, f"SyntaxError{where}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"the cell cannot be parsed: {type(exc).__name__}"


def _call_roots(node):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            while isinstance(func, (ast.Attribute, ast.Subscript, ast.Call)):
                func = func.value if not isinstance(func, ast.Call) else func.func
            if isinstance(func, ast.Name):
                yield func.id


def _bound_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, _ASSIGNMENTS):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def keep_statements(source, tree, keep, notebook_names, skip_names=()):
    """The cell's source with every top-level statement we don't run blanked out.

    Blanking (not deleting) keeps line numbers, so tracebacks point at the
    student's own lines.
    """
    lines = (without_magics(source)).splitlines()
    kept = [False] * len(lines)
    for node in tree.body:
        ok = isinstance(node, keep)
        if ok and isinstance(node, _ASSIGNMENTS):
            value = node.value
            ok = value is not None and not any(r in notebook_names for r in _call_roots(value))
        if ok and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            ok = node.name not in skip_names
        if ok:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            for i in range(start - 1, node.end_lineno):
                kept[i] = True
    return "\n".join(line if k else "" for line, k in zip(lines, kept)) + "\n"


def assignment_of(nb, path):
    meta = nb.get("metadata", {}).get("rnnkit", {})
    if isinstance(meta, dict) and isinstance(meta.get("assignment"), str):
        return meta["assignment"]
    match = re.search(r"(\d\d_[a-z0-9_]+?)(?:\.ipynb)?$", Path(path).name)
    return match.group(1) if match else None


def load_submission(path, units, setup_cells=None):
    """Extract `units` (names) from the notebook at `path`.

    `setup_cells` are the reference notebook's setup cells [(grade_id, source)];
    they replace whatever the submission has in its locked setup cells.
    """
    result = Notebook(path=str(path), setup=list(setup_cells or []))
    try:
        nb = read_notebook(path)
    except ValueError as exc:
        result.problems.append(str(exc))
        for unit in units:
            result.unit_problems[unit] = "the notebook could not be read"
        return result
    result.assignment = assignment_of(nb, path)
    code_cells = [c for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    result.grade_ids = [nbgrader_meta(c).get("grade_id") for c in code_cells]

    parsed = []  # (cell, grade_id, tree or None, error)
    for cell in code_cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        tree, error = parse_cell(cell_source(cell))
        parsed.append((cell, grade_id, tree, error))
    notebook_names = set()
    for _, grade_id, tree, _ in parsed:
        if tree is not None and not str(grade_id or "").startswith("setup"):
            notebook_names |= _bound_names(tree)

    unit_cells = {}
    for cell, grade_id, tree, error in parsed:
        if grade_id in units and grade_id not in unit_cells:
            unit_cells[grade_id] = (cell, tree, error)
    for unit in units:  # metadata lost (a copied cell): take the cell that defines the unit
        if unit in unit_cells:
            continue
        for cell, grade_id, tree, error in parsed:
            if tree is not None and grade_id not in units and unit in _bound_names(tree):
                unit_cells[unit] = (cell, tree, None)
                break

    used = {id(c) for c, _, _ in unit_cells.values()}
    for unit in units:
        if unit not in unit_cells:
            result.unit_problems[unit] = (
                f"no cell defines {unit}: the cell with grade_id '{unit}' is missing and no other cell has 'def {unit}' or 'class {unit}'"
            )
            continue
        cell, tree, error = unit_cells[unit]
        if error:
            result.unit_problems[unit] = f"the cell for {unit} has a {error}, so none of it could run"
            continue
        source = cell_source(cell)
        result.units[unit] = keep_statements(source, tree, _DEFINITIONS + _ASSIGNMENTS, notebook_names)

    for index, (cell, grade_id, tree, error) in enumerate(parsed):
        meta = nbgrader_meta(cell)
        if id(cell) in used or tree is None or meta.get("locked") or str(grade_id or "").startswith("setup"):
            continue
        source = keep_statements(cell_source(cell), tree, _DEFINITIONS, notebook_names, skip_names=set(units))
        if source.strip():
            result.extra.append((f"code cell {index + 1}", source))
    return result


def reference_layout(path):
    """(setup cells, unit names) of a reference notebook, in notebook order."""
    nb = read_notebook(path)
    setup, units = [], []
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if cell.get("cell_type") != "code" or not grade_id:
            continue
        if meta.get("solution"):
            units.append(grade_id)
        elif meta.get("locked") and grade_id.startswith("setup"):
            setup.append((grade_id, cell_source(cell)))
    return setup, units


def execution_cells(notebook):
    """[(name, source)] in the order the child runs them: setup, other helpers, units."""
    return list(notebook.setup) + list(notebook.extra) + list(notebook.units.items())
