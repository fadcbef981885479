"""Step 1, load: the bytes of a submitted file, read once and safely, parsed as a notebook.

Any file gets a `Loaded`, however broken: what could not be read becomes its `problem`
(a message for the student) instead of an exception. The bounds below are checked
before anything costly, so the grader's memory and time stay bounded whatever a
student hands in. Reference notebooks are parsed once per process and file version
(`solution`).
"""

import contextlib
import dataclasses
import errno
import hashlib
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


def assignment_of(nb, path):
    meta = nb.get("metadata", {}) if isinstance(nb, dict) else {}
    meta = meta.get("rnnkit", {}) if isinstance(meta, dict) else {}
    if isinstance(meta, dict) and isinstance(meta.get("assignment"), str):
        return meta["assignment"][:100]
    return assignment_of_name(path)


def assignment_of_name(path):
    match = re.search(r"(\d\d_[a-z0-9_]+?)(?:\.ipynb)?$", Path(path).name)
    return match.group(1) if match else None



@dataclasses.dataclass
class Loaded:
    """One submission as step 1 leaves it: the parsed notebook, or the problem that kept it from being read."""

    path: Path
    nb: dict | None
    problem: str | None
    assignment_id: str | None  # as given, or read from the notebook's metadata or file name


def load(path, assignment_id=None, root=None, raw=None):
    """Read the file at `path` once (read_submission: never through a link, never outside `root`)
    and parse it (parse_notebook). `raw` is the file's bytes where a caller has read them already
    with read_submission (a batch, for its fingerprint), so the file is read once per grading."""
    path = Path(path)
    nb, problem = None, None
    try:
        nb = parse_notebook(raw if raw is not None else read_submission(path, root))
    except ValueError as exc:
        problem = str(exc)
    if assignment_id is None:
        assignment_id = assignment_of(nb if nb is not None else {}, path)
    return Loaded(path, nb, problem, assignment_id)


_SOLUTIONS = {}  # resolved path -> (sha256 of its bytes, parsed notebook)


def solution(path):
    """The reference notebook at `path`, parsed once per process and content of the file (it is
    read every time, which is cheap; parsing is what costs). Callers must not modify what it returns."""
    path = Path(path).resolve()
    raw = read_submission(path)
    digest = hashlib.sha256(raw).hexdigest()
    cached = _SOLUTIONS.get(path)
    if cached is None or cached[0] != digest:
        cached = _SOLUTIONS[path] = (digest, parse_notebook(raw))
    return cached[1]
