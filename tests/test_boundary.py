"""The trust boundary in the tree: what may run beside student code, and what it may import.

`rnnkit_child` (and the public `rnnkit` library) is all the kit code the student's child
can import. It must import nothing of the grader side, and define nothing under the name
of a unit students write: a correct implementation there would be two import lines away.
"""

import ast
import re
from pathlib import Path

import pytest

import rnnkit
import rnnkit_child
from rnnkit_grader import assignments
from rnnkit_grader.notebook import reference_layout

CHILD_SIDE = [Path(rnnkit_child.__file__).parent, Path(rnnkit.__file__).parent]


def _modules():
    for package in CHILD_SIDE:
        for path in sorted(package.rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


def _imported(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__"):
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg.value
                elif isinstance(arg, ast.JoinedStr):
                    yield "".join(v.value for v in arg.values if isinstance(v, ast.Constant))


def test_child_side_imports_nothing_of_the_grader():
    found = [(str(path), name) for path, tree in _modules() for name in _imported(tree) if name.split(".")[0] == "rnnkit_grader"]
    assert not found, f"child-side code imports the grader side: {found}"


def _graded_units():
    units = {}
    for a in assignments.available():
        for unit in reference_layout(a.solution)[1]:
            units.setdefault(unit, a.id)
    return units


def test_child_side_defines_no_graded_unit():
    """No module-level function or class there carries a unit's name, unless it is a probe (it takes the
    student's `namespace` first and calls the student's unit). The hostile tests check the behaviour."""
    units = _graded_units()
    assert len(units) > 20  # the curriculum's units, read off the reference notebooks
    clashes = []
    for path, tree in _modules():
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name in units:
                clashes.append(f"{path}: class {node.name} ({units[node.name]})")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in units:
                first = node.args.args[0].arg if node.args.args else None
                if first != "namespace":
                    clashes.append(f"{path}: def {node.name} ({units[node.name]})")
    assert not clashes, "child-side code defines graded units:\n" + "\n".join(clashes)


@pytest.mark.parametrize("package", ["rnnkit_child", "rnnkit"])
def test_probe_lookup_never_reaches_the_grader(package, monkeypatch):
    """A student's probe request naming a reference-only probe, a private helper or a path finds nothing."""
    from rnnkit_child import serve

    monkeypatch.setenv("RNNKIT_PROBE_PACKAGES", "rnnkit_child.probes")
    for name in ("numeric._private", "../rnnkit_grader.runner", "rnnkit_grader.runner.grade_notebook", "os.system", ""):
        assert serve.find_probe(name) is None, name
    assert re.match(r"^[\w.]+$", serve.probe_packages()[0])
