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
import contextlib
import dataclasses
import errno
import json
import os
import re
import stat
import warnings
from pathlib import Path

import nbformat

# Bounds on the untrusted file, checked before anything costly (see read_submission and
# parse_notebook): the grader's memory and time stay bounded whatever a student hands in.
MAX_NOTEBOOK_BYTES = 16 * 2**20  # the whole file
MAX_JSON_DEPTH = 64  # nesting of JSON arrays and objects (a notebook needs about 10)
MAX_JSON_VALUES = 1_000_000  # arrays, objects and items: each becomes a Python object
MAX_CELLS = 5000
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


def read_submission(path, root=None):
    """The bytes of a submitted file, read as the grader may: never through a symbolic link.

    `root` is the submission folder (default: the file's own folder). The file and every
    folder between it and root must be real (no symlinks), its real path must lie inside
    root's, it must be a regular file of at most MAX_NOTEBOOK_BYTES. It is opened with
    O_NOFOLLOW | O_NONBLOCK (a FIFO or device never blocks the grader) and the path of
    the open descriptor is checked again, so swapping a folder for a link mid-way is caught.
    Raises ValueError with a message for the student otherwise.
    """
    path = Path(os.path.abspath(path))
    root = Path(os.path.abspath(root)) if root is not None else path.parent
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise ValueError(f"refused: the file is not inside the submission folder {root}") from None
    if not rel.parts:
        raise ValueError("refused: the submission is a folder, not a notebook file")
    real_root = os.path.realpath(root)
    current = root
    for part in rel.parts:
        current = current / part
        try:
            st = os.lstat(current)
        except OSError as exc:
            raise ValueError(f"cannot read the file: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            what = "the submitted file" if current == path else f"the folder {part!r} of the submission"
            raise ValueError(f"refused: {what} is a symbolic link; hand in the notebook file itself, not a link to one")
    if not _inside(os.path.realpath(path), real_root):
        raise ValueError("refused: the file lies outside the submission folder")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError("refused: the submitted file is a symbolic link; hand in the notebook file itself") from None
        raise ValueError(f"cannot read the file: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("refused: the submission is not a regular file")
        with contextlib.suppress(OSError):
            opened = os.readlink(f"/proc/self/fd/{fd}")
            if not _inside(opened, real_root):
                raise ValueError("refused: the file lies outside the submission folder")
        if st.st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(_too_big(st.st_size))
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, MAX_NOTEBOOK_BYTES + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_NOTEBOOK_BYTES:
                raise ValueError(_too_big(total))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _inside(path, folder):
    return os.path.commonpath([path, folder]) == folder


def _too_big(size):
    return f"the file is {size / 2**20:.1f} MiB, over the grader's limit of {MAX_NOTEBOOK_BYTES // 2**20} MiB for a notebook (clear the outputs and hand it in again)"


_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')  # once escapes are gone: linear, no backtracking
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _check_json_shape(text):
    """Refuse JSON whose parse would cost too much: too many values or too deep (RecursionError)."""
    bare = _STRING.sub("", _ESCAPE.sub("", text))  # strings carry no structure
    values = bare.count("[") + bare.count("{") + bare.count(",")
    if values > MAX_JSON_VALUES:
        raise ValueError(f"the file has about {values:,} JSON values, over the grader's limit of {MAX_JSON_VALUES:,}")
    brackets = _NOT_BRACKET.sub("", bare)
    del bare
    depth = deepest = 0
    for ch in brackets:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    raise ValueError(f"the file's JSON is nested more than {MAX_JSON_DEPTH} levels deep; a notebook is not")
        else:
            depth -= 1


def parse_notebook(raw):
    """nbformat v4 notebook from a file's bytes, or raise ValueError with a message a student understands.

    The work is bounded: the size, the JSON's shape and the number of cells are checked
    before the costly steps, and nbformat's schema validation (which only logs) is skipped.
    """
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise ValueError(_too_big(len(raw)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text, so it is not a notebook") from None
    del raw
    _check_json_shape(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the file is not valid JSON (line {exc.lineno}: {exc.msg}); was it saved by Jupyter?") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ValueError(f"the file could not be read as JSON ({type(exc).__name__})") from None
    del text
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise ValueError("the file is JSON but not a Jupyter notebook (no cells)")
    cells = data.get("cells")
    if cells is None and isinstance(data.get("worksheets"), list):
        cells = [c for w in data["worksheets"] if isinstance(w, dict) for c in (w.get("cells") or [])]
    if isinstance(cells, list) and len(cells) > MAX_CELLS:
        raise ValueError(f"the notebook has {len(cells):,} cells, over the grader's limit of {MAX_CELLS:,}")
    try:
        from nbformat import reader

        major, minor = reader.get_version(data)
        if major not in nbformat.versions:
            raise ValueError(f"unsupported nbformat version {major}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.versions[major].to_notebook_json(data, minor=minor)
            nb = nbformat.convert(nb, 4)
    except Exception as exc:  # nbformat raises many kinds on malformed notebooks
        raise ValueError(f"nbformat could not read the notebook: {type(exc).__name__}: {str(exc)[:500]}") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError("the notebook has no list of cells")
    return nb


def read_notebook(path):
    """nbformat v4 notebook, or raise ValueError with a message a student understands."""
    return parse_notebook(read_submission(path))


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


def assignment_of(nb, path):
    meta = nb.get("metadata", {}) if isinstance(nb, dict) else {}
    meta = meta.get("rnnkit", {}) if isinstance(meta, dict) else {}
    if isinstance(meta, dict) and isinstance(meta.get("assignment"), str):
        return meta["assignment"][:100]
    return assignment_of_name(path)


def assignment_of_name(path):
    match = re.search(r"(\d\d_[a-z0-9_]+?)(?:\.ipynb)?$", Path(path).name)
    return match.group(1) if match else None


def load_submission(path, units, setup_cells=None, nb=None, problem=None, root=None):
    """Extract `units` (names) from the notebook at `path`.

    `setup_cells` are the reference notebook's setup cells [(grade_id, source)];
    they replace whatever the submission has in its locked setup cells. A caller that
    already read the file passes the parsed notebook `nb` (or the `problem` that kept it
    from being read); otherwise the file is read with read_submission(path, root).
    """
    result = Notebook(path=str(path), setup=list(setup_cells or []))
    if nb is None and problem is None:
        try:
            nb = parse_notebook(read_submission(path, root))
        except ValueError as exc:
            problem = str(exc)
    if problem is not None:
        result.problems.append(problem)
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
