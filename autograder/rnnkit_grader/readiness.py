"""What a new or changed assignment is missing: `rnnkit check-assignment ID`.

Each check reads the assignment's record (assignments.py) and the files it names, and
says in one line what is missing or wrong: the solution, the release in sync with it,
the hidden suite and its total of 100 points over the solution's units, every probe the
suite names (and no probe of its modules that no suite calls), examples (correct, blank
and at least three mistakes, each with a recorded score), the README's row, and, wherever
the suite declares a bound calibrated on the reference, a record saying how and a
calibrate(reference) that re-measures each bound.
Nothing of a submission runs; the release check runs nbgrader into a temporary folder.
"""

import ast
import json
import re
import tempfile
from pathlib import Path

from rnnkit_grader import assignments

CHILD_PROBES = Path(__file__).resolve().parents[1] / "rnnkit_child" / "probes"
REFERENCE_PROBES = Path(__file__).resolve().parent / "reference"
# A module-level name of a suite that holds a bound calibrated on the reference (FLOOR, PPL_BOUND,
# CALIBRATED_MEAN, ...): the suite's calibrate(reference) re-measures it and tests/test_calibration.py
# re-checks it (the record's `calibration` says how it was set).
BOUND_NAME = re.compile(r"^(CALIBRATED_\w+|\w+_BOUND|FLOORS?)$")
MIN_MISTAKES = 3


def missing(assignment, release=True):
    """[message] of what `assignment` (a record) lacks; empty when it is complete.
    `release=False` skips regenerating the release (the slowest check: nbgrader)."""
    problems = []
    units = _check_solution(assignment, problems)
    suite = _check_suite(assignment, units, problems)
    if release and units is not None:
        _check_release(assignment, problems)
    if suite is not None:
        _check_probes(assignment, suite, problems)
        _check_calibration(assignment, suite, problems)
    _check_examples(assignment, problems)
    _check_readme(assignment, problems)
    return problems


def _check_solution(assignment, problems):
    from rnnkit_grader import extract, load

    if not assignment.solution.exists():
        problems.append(f"solution: {_rel(assignment.solution)} is missing (the reference notebook, nbgrader's source)")
        return None
    try:
        nb = load.read_notebook(assignment.solution)
    except ValueError as exc:
        problems.append(f"solution: {_rel(assignment.solution)} cannot be read: {exc}")
        return None
    meta = nb.get("metadata", {}).get("rnnkit", {})
    if not isinstance(meta, dict) or meta.get("assignment") != assignment.id:
        problems.append(f"solution: its metadata rnnkit.assignment must be {assignment.id!r} (the grader reads the assignment from it)")
    _, units = extract.reference_layout(assignment.solution)
    if not units:
        problems.append("solution: no unit cells (code cells with nbgrader metadata solution=true and a grade_id)")
    return units


def _check_suite(assignment, units, problems):
    if not assignment.suite.exists():
        problems.append(f"suite: {_rel(assignment.suite)} is missing (the hidden pytest suite)")
        return None
    try:
        tree = ast.parse(assignment.suite.read_text(encoding="utf-8"))
    except SyntaxError as exc:
        problems.append(f"suite: {_rel(assignment.suite)} does not parse: line {exc.lineno}: {exc.msg}")
        return None
    if units is None:
        return tree
    from rnnkit_grader.nbgrader_bridge import unit_points

    try:
        points = unit_points(assignment.id)
    except Exception as exc:  # a suite that cannot be collected
        problems.append(f"suite: pytest cannot collect it: {str(exc)[-500:]}")
        return tree
    total = round(sum(points.values()), 4)
    if total != 100:
        problems.append(f"suite: its tests total {total:g} points, not 100 (points per unit: {points})")
    for unit in units:
        if not points.get(unit):
            problems.append(f"suite: the solution's unit {unit!r} earns no points in any test (@pytest.mark.unit / points)")
    for unit in points:
        if unit not in units and not (" + " in unit and all(u in units for u in unit.split(" + "))):
            problems.append(f"suite: tests grade {unit!r}, which is not a unit of the solution")
    return tree


def _check_release(assignment, problems):
    from rnnkit_grader import release

    if not assignment.release.exists():
        problems.append(f"release: {_rel(assignment.release)} is missing: run `rnnkit release`")
        return
    with tempfile.TemporaryDirectory(prefix="rnnkit-check-") as tmp:
        try:
            fresh = json.loads(release.generate(assignment.id, tmp).read_text())
        except Exception as exc:
            problems.append(f"release: nbgrader could not generate it: {str(exc)[-500:]}")
            return
    if json.loads(assignment.release.read_text()) != fresh:
        problems.append(f"release: {_rel(assignment.release)} is stale: run `rnnkit release` and commit it")


PACKAGES = ("rnnkit_child.probes", "rnnkit_grader.reference")


def _probe_imports(tree):
    """{local name: (package, module) or (package, module, function)} of the suite's imports of probes."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in PACKAGES:
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.rpartition(".")[0] in PACKAGES:
            package, _, module = node.module.rpartition(".")
            for alias in node.names:
                names[alias.asname or alias.name] = (package, module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                package, _, module = alias.name.rpartition(".")
                if package in PACKAGES and alias.asname:
                    names[alias.asname] = (package, module)
    return names


def probe_calls(tree):
    """[(party, 'module.function', line, package or None)] of every `X.probe(...)` in a suite whose probe is
    a function imported from rnnkit_child.probes / rnnkit_grader.reference (`package` says which) or a
    name "module.function" (package None: refused by the parties, reported by _check_probes)."""
    imported = _probe_imports(tree)
    calls = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "probe" and node.args):
            continue
        value, first = node.func.value, node.args[0]
        party = value.id if isinstance(value, ast.Name) else ast.unparse(value)
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            calls.append((party, first.value, node.lineno, None))
        elif isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name) and len(imported.get(first.value.id, ())) == 2:
            package, module = imported[first.value.id]
            calls.append((party, f"{module}.{first.attr}", node.lineno, package))
        elif isinstance(first, ast.Name) and len(imported.get(first.id, ())) == 3:
            package, module, function = imported[first.id]
            calls.append((party, f"{module}.{function}", node.lineno, package))
    return calls


def defined_names(path):
    """Top-level functions (and names bound at top level) of a module file; empty when it is absent."""
    if not path.exists():
        return set()
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def probe_functions(path):
    """The probes a module file defines: its public top-level functions whose first argument is `namespace`."""
    if not path.exists():
        return set()
    return {n.name for n in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(n, ast.FunctionDef) and not n.name.startswith("_") and n.args.args and n.args.args[0].arg == "namespace"}


def probe_references(tree):
    """{(package, module, function)} of every probe function a suite refers to (called, passed on or stored)."""
    imported = _probe_imports(tree)
    found = {imported[n.id] for n in ast.walk(tree) if isinstance(n, ast.Name) and len(imported.get(n.id, ())) == 3}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and len(imported.get(node.value.id, ())) == 2:
            found.add((*imported[node.value.id], node.attr))
    return found


def _used_by_any_suite():
    used = set()
    for record in assignments.RECORDS:
        if record.suite.exists():
            try:
                used |= probe_references(ast.parse(record.suite.read_text(encoding="utf-8")))
            except SyntaxError:
                pass
    return used


def _check_dead_probes(assignment, tree, problems):
    """Every probe of a module the suite imports is used by some suite (or by another probe of its module):
    a probe nothing calls is dead code that still runs beside a student's submission, unreviewed."""
    referred = probe_references(tree)
    used = _used_by_any_suite() | referred  # this suite's too, when it is not a record's yet
    modules = {(package, module) for package, module, _ in referred}
    for package, module in sorted(modules):
        path = (CHILD_PROBES if package == PACKAGES[0] else REFERENCE_PROBES) / f"{module}.py"
        source = path.read_text(encoding="utf-8") if path.exists() else ""
        for function in sorted(probe_functions(path)):
            inside = len(re.findall(rf"\b{function}\(", source)) > 1  # beyond its own def
            if (package, module, function) not in used and not inside:
                problems.append(f"probes: {_rel(path)} defines the probe {function}, which no suite calls: remove it or use it")


def _check_probes(assignment, tree, problems):
    for module in assignment.probes:
        if not (CHILD_PROBES / f"{module}.py").exists():
            problems.append(f"probes: the record names rnnkit_child/probes/{module}.py, which does not exist")
    _check_dead_probes(assignment, tree, problems)
    for party, name, line, package in probe_calls(tree):
        module, _, func = name.rpartition(".")
        if package is None:
            problems.append(f"probes: line {line} gives probe {name!r} by name: pass the function "
                            f"(from rnnkit_child.probes import {module or '<module>'} as probes ... probes.{func})")
            continue
        if not module or func.startswith("_"):
            problems.append(f"probes: line {line} calls probe {name!r}, not a 'module.function' name")
            continue
        in_child = func in defined_names(CHILD_PROBES / f"{module}.py") and package == PACKAGES[0]
        in_reference = func in defined_names(REFERENCE_PROBES / f"{module}.py") and package == PACKAGES[1]
        if party == "student" and not in_child:
            where = " (it is reference-only: rnnkit_grader/reference/)" if in_reference else ""
            problems.append(f"probes: line {line}: student.probe({name!r}) names no function of rnnkit_child/probes/{module}.py{where}")
        elif not (in_child or in_reference):
            problems.append(f"probes: line {line}: {party}.probe({name!r}) names no function of rnnkit_child/probes/{module}.py "
                            f"or rnnkit_grader/reference/{module}.py")
        elif in_child and module not in assignment.probes:
            problems.append(f"probes: line {line} calls rnnkit_child/probes/{module}.py, which the record's probes {assignment.probes} do not name")


def declared_bounds(tree):
    """Module-level names of a suite that hold a calibrated bound (BOUND_NAME)."""
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names += [t.id for t in targets if isinstance(t, ast.Name) and BOUND_NAME.match(t.id)]
    return names


def _check_calibration(assignment, tree, problems):
    """A suite that declares bounds has a record saying how they were calibrated and a calibrate(reference) that
    names each of them (it re-measures them; tests/test_calibration.py re-checks what it returns)."""
    bounds = declared_bounds(tree)
    calibrate = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "calibrate"), None)
    if bounds and not assignment.calibration:
        problems.append(f"calibration: the suite declares {', '.join(bounds)} but the record does not say how they were calibrated (calibration=...)")
    if assignment.calibration and not bounds:
        problems.append("calibration: the record names a calibration but the suite declares no bound (FLOOR, CALIBRATED_..., ..._BOUND)")
    if bounds and calibrate is None:
        problems.append(f"calibration: the suite declares {', '.join(bounds)} but defines no calibrate(reference) that re-measures them "
                        "(returning checks.Calibration records; tests/test_calibration.py re-checks them)")
        return
    if calibrate is not None:
        named = {n.id for n in ast.walk(calibrate) if isinstance(n, ast.Name)}
        named |= {c.value for c in ast.walk(calibrate) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
        for name in bounds:
            if name not in named:
                problems.append(f"calibration: the suite's calibrate() does not re-check {name}")


def _check_examples(assignment, problems):
    folder = assignment.examples
    notebooks = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    for needed in ("correct.ipynb", "blank.ipynb"):
        if needed not in notebooks:
            problems.append(f"examples: {_rel(folder / needed)} is missing")
    mistakes = [n for n in notebooks if n not in ("blank.ipynb",) and not n.startswith("correct")]
    if len(mistakes) < MIN_MISTAKES:
        problems.append(f"examples: {len(mistakes)} typical mistake(s) in {_rel(folder)}, at least {MIN_MISTAKES} needed "
                        "(tools/make_examples.py)")
    try:
        expected = json.loads((folder / "expected.json").read_text())
    except (OSError, ValueError):
        problems.append(f"examples: {_rel(folder / 'expected.json')} is missing or unreadable (tools/make_examples.py records the scores)")
        return
    for name in notebooks:
        if name not in expected:
            problems.append(f"examples: {name} has no recorded score in expected.json (tools/make_examples.py)")
    correct = expected.get("correct.ipynb", {})
    if isinstance(correct, dict) and correct.get("score") != 100:
        problems.append("examples: correct.ipynb must be recorded at 100 points")


def _check_readme(assignment, problems):
    readme = assignments.ROOT / "README.md"
    row = f"| `{assignment.id}` | {assignment.title} | {assignment.status} |"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if row not in text:
        problems.append(f"README: the assignments table lacks the row {row} (assignments.readme_table() writes the table)")


def _rel(path):
    try:
        return str(Path(path).relative_to(assignments.ROOT))
    except ValueError:
        return str(path)
