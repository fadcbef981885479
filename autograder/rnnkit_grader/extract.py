"""Step 2, extract: the code of a notebook's units that the grader runs, and nothing else.

Extraction follows docs/authoring.md: unit cells are found by `grade_id` (or, when a
student lost the metadata, by the cell that defines the unit), and only their imports,
definitions and assignments that call nothing of the notebook's own run, so a
notebook's training runs, plots and prints are never executed by the grader. Setup
cells come from the reference notebook, as nbgrader's autograde does with locked cells.
"""

import ast
import dataclasses

from rnnkit_grader.load import assignment_of, solution

MAX_CELL_SOURCE = 128 * 2**10  # characters of one code cell that the grader parses
MAX_CODE_SOURCE = 2**20  # characters of all code cells together (parsing runs at about 0.5 MB/s)

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
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return meta if isinstance(meta, dict) else {}


def cell_source(cell):
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s if isinstance(s, str) else "" for s in source)
    return source if isinstance(source, str) else ""


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
    """(tree, None) or (None, 'SyntaxError on line N: ...'); see python_of for the code parsed."""
    _, tree, error = python_of(source)
    return tree, error


def python_of(source):
    """(code, tree, error): the cell as plain Python and its syntax tree.

    A cell that is already Python is parsed as it is; only one that is not goes through
    IPython's transformer (%magic, !shell), which costs far more per character.
    """
    code = source
    try:
        try:
            return code, ast.parse(code), None
        except SyntaxError:
            code = without_magics(source)
            if code == source:
                raise
            return code, ast.parse(code), None
    except SyntaxError as exc:
        where = f" on line {exc.lineno}" if exc.lineno else ""
        return code, None, f"SyntaxError{where}: {str(exc.msg)[:200]}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return code, None, f"the cell cannot be parsed: {type(exc).__name__}"


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
    lines = source.splitlines()  # already plain Python (python_of)
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


def extract(loaded, solution_path):
    """A `Notebook` of a loaded submission (load.load): the code of each unit that the reference
    notebook at `solution_path` declares, with the reference's setup cells in place of whatever
    the submission has in its locked setup cells (as nbgrader's autograde does)."""
    setup, units = reference_layout(solution_path)
    return extract_units(loaded.path, loaded.nb, units, setup, problem=loaded.problem)


def extract_units(path, nb, units, setup_cells=None, problem=None):
    """`extract` on a parsed notebook `nb` (or the `problem` that kept it from being read)."""
    result = Notebook(path=str(path), setup=list(setup_cells or []))
    if problem is not None or nb is None:
        result.problems.append(problem or "the notebook could not be read")
        for unit in units:
            result.unit_problems[unit] = "the notebook could not be read"
        return result
    result.assignment = assignment_of(nb, path)
    code_cells = [c for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    result.grade_ids = [g if isinstance(g := nbgrader_meta(c).get("grade_id"), str) else None for c in code_cells]

    # First pass: each cell is parsed on its own and only what later steps need is kept
    # (its bound names, or why it can't be parsed), so at most one syntax tree is alive at
    # a time. Cells over MAX_CELL_SOURCE, or past MAX_CODE_SOURCE in all, are not parsed.
    parsed = []  # (cell, grade_id, bound names or None, error)
    definers = {id(c) for c in code_cells}  # cells with a top-level import or definition
    budget = MAX_CODE_SOURCE
    for cell in code_cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        grade_id = grade_id if isinstance(grade_id, str) else None
        source = cell_source(cell)
        if len(source) > MAX_CELL_SOURCE:
            names, error = None, f"size of {len(source):,} characters, over the grader's limit of {MAX_CELL_SOURCE:,} for one cell"
        elif len(source) > budget:
            names, error = None, f"position past the grader's limit of {MAX_CODE_SOURCE:,} characters of code in one notebook"
        else:
            budget -= len(source)
            tree, error = parse_cell(source)
            names = _bound_names(tree) if tree is not None else None
            if tree is not None and not any(isinstance(node, _DEFINITIONS) for node in tree.body):
                definers.discard(id(cell))
            del tree
        parsed.append((cell, grade_id, names, error))
    notebook_names = set()
    for _, grade_id, names, _ in parsed:
        if names is not None and not str(grade_id or "").startswith("setup"):
            notebook_names |= names

    unit_cells = {}
    for cell, grade_id, names, error in parsed:
        if grade_id in units and grade_id not in unit_cells:
            unit_cells[grade_id] = (cell, error)
    for unit in units:  # metadata lost (a copied cell): take the cell that defines the unit
        if unit in unit_cells:
            continue
        for cell, grade_id, names, error in parsed:
            if names is not None and grade_id not in units and unit in names:
                unit_cells[unit] = (cell, None)
                break

    used = {id(c) for c, _ in unit_cells.values()}
    for unit in units:
        if unit not in unit_cells:
            result.unit_problems[unit] = (
                f"no cell defines {unit}: the cell with grade_id '{unit}' is missing and no other cell has 'def {unit}' or 'class {unit}'"
            )
            continue
        cell, error = unit_cells[unit]
        if error:
            result.unit_problems[unit] = f"the cell for {unit} has a {error}, so none of it could run"
            continue
        code, tree, _ = python_of(cell_source(cell))
        result.units[unit] = keep_statements(code, tree, _DEFINITIONS + _ASSIGNMENTS, notebook_names)

    for index, (cell, grade_id, names, error) in enumerate(parsed):
        meta = nbgrader_meta(cell)
        if id(cell) in used or names is None or id(cell) not in definers or meta.get("locked") or str(grade_id or "").startswith("setup"):
            continue
        code, tree, _ = python_of(cell_source(cell))
        if tree is None:
            continue
        source = keep_statements(code, tree, _DEFINITIONS, notebook_names, skip_names=set(units))
        if source.strip():
            result.extra.append((f"code cell {index + 1}", source))
    return result


def reference_layout(path):
    """(setup cells, unit names) of a reference notebook, in notebook order."""
    nb = solution(path)
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


def reference_notebook(path):
    """The reference notebook's units and setup as extracted for its child (parsed once: load.solution)."""
    setup, units = reference_layout(path)
    return extract_units(path, solution(path), units, setup)


def execution_cells(notebook):
    """[(name, source)] in the order the child runs them: setup, other helpers, units."""
    return list(notebook.setup) + list(notebook.extra) + list(notebook.units.items())
