"""Mutation score of the hidden suites: how many small mistakes in the reference solution they catch.

    .venv/bin/python tools/mutation_score.py [ID ...] [--max-per-unit N] [--units a,b] [--jobs J]

Each unit of each reference notebook (solutions/<id>/<id>.ipynb; the graded cells that
notebook.reference_layout names) is mutated one change at a time, with mutmut's node
operators (mutmut.mutation.mutators.mutation_operators: swapped arithmetic, comparison
and boolean operators, numbers +1, changed strings, True/False, arguments dropped or set
to None, x = None, augmented assignment made plain, conditional expressions forced) and
with the few operators mutmut has none for (OPERATORS below: swapped operands, a dropped
term or factor, off-by-one slices, indices and ranges, transposes added or removed,
activations removed, swapped or inserted, a softmax on a Dense layer that should give
logits). Docstrings, imports, annotations and `raise` statements are left alone.

Every mutant becomes a copy of the reference notebook with that one cell changed, written
to a temporary folder and graded by the real grader (rnnkit_grader.batch.run_batch: the
sandboxed child, the hidden suite, reference answers cached once in
build/mutation/<id>/grades/.reference-cache, results reused while nothing changed). A
mutant that still gets full marks survived. Each survivor is either triaged as
equivalent in tools/mutation_triage.json ({id: {mutant id: reason}}) or is a gap in the
suite to close with a new check. Mutant ids (unit:operator:digest) depend only on the
unit, the operator, the changed code and its line, so they stay put when the rest of the
notebook changes. With --max-per-unit N a deterministic sample (the N smallest digests
of each unit) is graded, so a run's size is bounded and repeatable.

Prints, per assignment: mutants made and graded, time, killed, survived (triaged as
equivalent / not), and the score killed / (graded - equivalent); per unit the same, and
every survivor with its diff. Writes build/mutation/report.json (or --report FILE).
"""

import argparse
import copy
import difflib
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst
import libcst.matchers as m
import nbformat
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider
from mutmut.mutation.mutators import mutation_operators as MUTMUT_OPERATORS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))

from rnnkit_grader import assignments, batch, notebook  # noqa: E402

TRIAGE = ROOT / "tools" / "mutation_triage.json"
BUILD = ROOT / "build" / "mutation"


# ---- operators mutmut has none for --------------------------------------------------------

NON_COMMUTATIVE = (cst.Subtract, cst.Divide, cst.FloorDivide, cst.MatrixMultiply, cst.Power, cst.Modulo)
ACTIVATIONS = {"softmax", "log_softmax", "sigmoid", "tanh", "relu", "exp"}
ACTIVATION_SWAPS = {"tanh": "sigmoid", "sigmoid": "tanh", "relu": "tanh", "softmax": "sigmoid"}
ACTIVATION_STRINGS = {"tanh": "sigmoid", "sigmoid": "tanh", "relu": "tanh", "softmax": "linear", "linear": "softmax"}
NUMPY_NAMES = {"np", "numpy", "math"}  # no sigmoid there: a swap would only raise


def _func_name(call):
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def _root_name(expr):
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return expr.value if isinstance(expr, cst.Name) else None


def _plus_minus_one(expr):
    for op in (cst.Add(), cst.Subtract()):
        yield cst.BinaryOperation(left=expr, operator=op, right=cst.Integer("1"),
                                  lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _paren(expr):
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]) if not expr.lpar else expr


def op_swap_operands(node):
    """a - b -> b - a (and /, //, @, **, %); np.dot(a, b) / matmul(a, b) -> (b, a)."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, NON_COMMUTATIVE):
        yield node.with_changes(left=_paren(node.right), right=_paren(node.left))
    elif isinstance(node, cst.Call) and _func_name(node) in ("dot", "matmul") and len(node.args) == 2:
        a, b = node.args
        yield node.with_changes(args=[a.with_changes(value=b.value), b.with_changes(value=a.value)])


def op_drop_term(node):
    """a + b -> a, b;  a - b -> a;  a * b -> a, b: a term or factor left out."""
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, (cst.Add, cst.Multiply)):
            yield _paren(node.left)
            yield _paren(node.right)
        elif isinstance(node.operator, cst.Subtract):
            yield _paren(node.left)


def op_off_by_one(node):
    """Slice bounds, a computed index and range() bounds moved by one."""
    if isinstance(node, cst.Slice):
        for field in ("lower", "upper"):
            bound = getattr(node, field)
            if bound is None:
                continue
            if isinstance(bound, cst.Integer):  # mutmut adds one to a literal; take one away
                yield node.with_changes(**{field: cst.Integer(str(int(bound.value, 0) - 1))})
            else:
                for moved in _plus_minus_one(bound):
                    yield node.with_changes(**{field: moved})
    elif isinstance(node, cst.Index) and isinstance(node.value, (cst.Name, cst.BinaryOperation)):
        for moved in _plus_minus_one(node.value):
            yield node.with_changes(value=moved)
    elif isinstance(node, cst.Call) and _func_name(node) == "range":
        positional = [i for i, a in enumerate(node.args) if a.keyword is None and not a.star]
        for i in positional[:2]:
            if isinstance(node.args[i].value, cst.Integer):
                continue  # mutmut's number operator moves literals
            for moved in _plus_minus_one(node.args[i].value):
                args = list(node.args)
                args[i] = args[i].with_changes(value=moved)
                yield node.with_changes(args=args)


def op_transpose(node):
    """Add .T to an operand of a matrix product, or drop a .T / transpose()."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
        for field in ("left", "right"):
            operand = getattr(node, field)
            if isinstance(operand, (cst.Name, cst.Attribute, cst.Subscript)):
                yield node.with_changes(**{field: cst.Attribute(value=operand, attr=cst.Name("T"))})
    elif isinstance(node, cst.Attribute) and node.attr.value == "T":
        yield node.value
    elif isinstance(node, cst.Call) and _func_name(node) == "transpose" and len(node.args) == 1:
        yield _paren(node.args[0].value)


def op_activation(node):
    """An activation removed (f(x) -> x) or swapped (tanh <-> sigmoid, relu -> tanh), by call or by name."""
    if isinstance(node, cst.Call) and _func_name(node) in ACTIVATIONS:
        positional = [a for a in node.args if a.keyword is None and not a.star]
        if positional:
            yield _paren(positional[0].value)
    elif (isinstance(node, cst.Attribute) and node.attr.value in ACTIVATION_SWAPS
          and _root_name(node.value) not in NUMPY_NAMES):
        yield node.with_changes(attr=cst.Name(ACTIVATION_SWAPS[node.attr.value]))
    elif isinstance(node, cst.SimpleString):
        try:
            value = node.evaluated_value
        except Exception:
            return
        if isinstance(value, str) and value in ACTIVATION_STRINGS:
            quote = node.value[-1]
            yield node.with_changes(value=f"{quote}{ACTIVATION_STRINGS[value]}{quote}")


def op_insert_softmax(node):
    """A Dense layer that gives logits made to give probabilities (activation='softmax')."""
    if isinstance(node, cst.Call) and _func_name(node) == "Dense":
        if not any(a.keyword is not None and a.keyword.value == "activation" for a in node.args):
            extra = cst.Arg(keyword=cst.Name("activation"), value=cst.SimpleString('"softmax"'),
                            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                  whitespace_after=cst.SimpleWhitespace("")))
            args = list(node.args)
            if args:
                args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            yield node.with_changes(args=args + [extra])


OPERATORS = {
    "swap_operands": op_swap_operands,
    "drop_term": op_drop_term,
    "off_by_one": op_off_by_one,
    "transpose": op_transpose,
    "activation": op_activation,
    "insert_softmax": op_insert_softmax,
}


def _mutmut_operators():
    for node_type, function in MUTMUT_OPERATORS:
        name = "mutmut." + function.__name__.removeprefix("operator_")

        def run(node, node_type=node_type, function=function):
            if isinstance(node, node_type):
                yield from function(node)

        yield name, run


ALL_OPERATORS = dict(_mutmut_operators()) | OPERATORS


# ---- making mutants ------------------------------------------------------------------------

class _Collect(cst.CSTVisitor):
    """Every node the mutants may change, outside docstrings, imports, annotations and raise."""

    METADATA_DEPENDENCIES = (PositionProvider, ParentNodeProvider)

    def __init__(self):
        self.nodes = []

    def on_visit(self, node):
        if isinstance(node, (cst.Import, cst.ImportFrom, cst.Annotation, cst.Raise, cst.Decorator)):
            return False
        if isinstance(node, (cst.FormattedString, cst.ConcatenatedString)):
            return False
        if isinstance(node, cst.Expr) and isinstance(node.value, (cst.SimpleString, cst.ConcatenatedString)):
            return False  # a docstring or a bare string
        if isinstance(node, cst.Call) and _func_name(node) in ("print", "warn"):
            return False
        self.nodes.append(node)
        return True


def _same_program(a, b):
    import ast

    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError:
        return False


def mutants_of(unit, source):
    """[(mutant id, operator, mutated cell source, one-line description)] for one unit cell, in a stable order."""
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module)
    collect = _Collect()
    wrapper.visit(collect)
    tree = wrapper.module  # the nodes the visitor saw belong to this copy
    positions = wrapper.resolve(PositionProvider)
    lines = source.splitlines()
    seen_code = {source}
    taken = {}
    found = []
    for node in collect.nodes:
        line = positions[node].start.line
        context = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        for name, operator in ALL_OPERATORS.items():
            try:
                variants = list(operator(node))
            except Exception:
                continue
            for mutated in variants:
                try:
                    code = tree.deep_replace(node, mutated).code
                except Exception:
                    continue
                if code in seen_code or _same_program(code, source):
                    continue
                seen_code.add(code)
                before, after = tree.code_for_node(node), cst.Module([]).code_for_node(mutated)
                digest = hashlib.sha256("\0".join((unit, name, context, before, after)).encode()).hexdigest()[:10]
                key = f"{unit}:{name.removeprefix('mutmut.')}:{digest}"
                taken[key] = taken.get(key, 0) + 1
                if taken[key] > 1:
                    key = f"{key}-{taken[key]}"
                found.append((key, name, code, f"line {line}: {_short(before)} -> {_short(after)}"))
    return found


def _short(text, limit=70):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sample(mutants, limit):
    """A deterministic sample: the `limit` mutants with the smallest digests (all when limit is None)."""
    if limit is None or len(mutants) <= limit:
        return list(mutants)
    ranked = sorted(mutants, key=lambda mu: hashlib.sha256(mu[0].encode()).hexdigest())
    chosen = {mu[0] for mu in ranked[:limit]}
    return [mu for mu in mutants if mu[0] in chosen]


def unit_cells(assignment_id):
    """{unit: cell source} of the reference notebook, in notebook order."""
    nb = nbformat.read(assignments.get(assignment_id).solution, as_version=4)
    _, units = notebook.reference_layout(assignments.get(assignment_id).solution)
    cells = {}
    for cell in nb.cells:
        grade_id = notebook.nbgrader_meta(cell).get("grade_id")
        if cell.cell_type == "code" and grade_id in units:
            cells[grade_id] = notebook.cell_source(cell)
    return nb, cells


def write_mutant(nb, unit, code, path):
    copy_nb = copy.deepcopy(nb)
    for cell in copy_nb.cells:
        if notebook.nbgrader_meta(cell).get("grade_id") == unit:
            cell.source = code
            cell.outputs = []
    nbformat.write(copy_nb, path)


def plan(assignment_id, max_per_unit=None, only_units=None):
    """(reference notebook, {unit: (all mutants, sampled mutants)})."""
    nb, cells = unit_cells(assignment_id)
    result = {}
    for unit, source in cells.items():
        if only_units and unit not in only_units:
            continue
        everything = mutants_of(unit, source)
        result[unit] = (everything, sample(everything, max_per_unit))
    return nb, result


# ---- grading --------------------------------------------------------------------------------

def _student(mutant_id):
    return "m-" + hashlib.sha256(mutant_id.encode()).hexdigest()[:16]


def grade_mutants(assignment_id, nb, chosen, jobs=1, out=None, timeout=None, progress=True):
    """{mutant id: (score, max score, [names of failed tests]) or None when it was not graded}; the
    unchanged reference is graded too (student 'original') and must get full marks."""
    out = Path(out or BUILD / assignment_id / "grades")
    with tempfile.TemporaryDirectory(prefix=f"mutants-{assignment_id}-") as folder:
        folder = Path(folder)
        nbformat.write(nb, folder / "original.ipynb")
        names = {}
        for mutant_id, _, code, _ in chosen:
            names[mutant_id] = _student(mutant_id)
            write_mutant(nb, mutant_id.split(":")[0], code, folder / f"{names[mutant_id]}.ipynb")
        batch.run_batch(folder, out, jobs=jobs, assignment=assignment_id, progress=progress, timeout=timeout)
    results = {}
    for mutant_id, student in list(names.items()) + [("original", "original")]:
        path = out / assignment_id / student / "results.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            results[mutant_id] = None
            continue
        failed = [t.get("name", "") for t in data.get("tests", []) if t.get("score", 0) < t.get("max_score", 0)]
        max_score = sum(t.get("max_score", 0) for t in data.get("tests", [])) or 100
        results[mutant_id] = (data.get("score", 0), max_score, failed)
    return results


def load_triage(path=TRIAGE):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}


def summarize(assignment_id, planned, results, triage, seconds):
    """The report of one assignment (a dict) from the plan, the grades and the triage."""
    equivalent = triage.get(assignment_id, {})
    units, total = {}, dict(made=0, graded=0, killed=0, survived=0, equivalent=0, not_graded=0)
    survivors = []
    for unit, (everything, chosen) in planned.items():
        row = dict(made=len(everything), graded=0, killed=0, survived=0, equivalent=0, not_graded=0)
        for mutant_id, operator, code, description in chosen:
            outcome = results.get(mutant_id)
            if outcome is None:
                row["not_graded"] += 1
                continue
            row["graded"] += 1
            score, max_score, failed = outcome
            if score < max_score:
                row["killed"] += 1
                continue
            row["survived"] += 1
            reason = equivalent.get(mutant_id)
            if reason:
                row["equivalent"] += 1
            survivors.append(dict(id=mutant_id, unit=unit, operator=operator, change=description,
                                  equivalent=reason, diff=_diff(planned, unit, code)))
        row["score"] = _score(row)
        units[unit] = row
        for key in total:
            total[key] += row[key]
    total["score"] = _score(total)
    original = results.get("original")
    return dict(assignment=assignment_id, seconds=round(seconds, 1), units=units, total=total,
                survivors=survivors, original_full_marks=bool(original and original[0] >= original[1]))


def retriaged(report, triage):
    """A saved report with its survivors' triage taken from `triage` (the file as it is now)."""
    equivalent = triage.get(report["assignment"], {})
    report = json.loads(json.dumps(report))
    for row in report["units"].values():
        row["equivalent"] = 0
    for s in report["survivors"]:
        s["equivalent"] = equivalent.get(s["id"])
        if s["equivalent"]:
            report["units"][s["unit"]]["equivalent"] += 1
    for row in report["units"].values():
        row["score"] = _score(row)
    report["total"]["equivalent"] = sum(row["equivalent"] for row in report["units"].values())
    report["total"]["score"] = _score(report["total"])
    return report


def _score(row):
    judged = row["graded"] - row["equivalent"]
    return round(row["killed"] / judged, 3) if judged else None


_SOURCES = {}


def _diff(planned, unit, code):
    original = _SOURCES.get(unit, "")
    return "\n".join(list(difflib.unified_diff(original.splitlines(), code.splitlines(), lineterm="", n=0))[2:])


def print_report(report, stream=None):
    stream = stream or sys.stdout
    t = report["total"]
    print(f"\n== {report['assignment']}: {t['made']} mutants made, {t['graded']} graded in {report['seconds']:.0f} s: "
          f"{t['killed']} killed, {t['survived']} survived ({t['equivalent']} triaged equivalent, "
          f"{t['survived'] - t['equivalent']} not), {t['not_graded']} not graded; "
          f"score {_pct(t['score'])}" + ("" if report["original_full_marks"] else "  [!] the reference itself lost points"),
          file=stream)
    for unit, row in report["units"].items():
        print(f"   {unit:24s} made {row['made']:4d}  graded {row['graded']:3d}  killed {row['killed']:3d}  "
              f"survived {row['survived']:3d} (equivalent {row['equivalent']})  score {_pct(row['score'])}", file=stream)
    for s in report["survivors"]:
        tag = f"equivalent: {s['equivalent']}" if s["equivalent"] else "NOT TRIAGED: a gap in the suite or an equivalent mutant to triage"
        print(f"   survived {s['id']}  ({s['change']})\n      {tag}", file=stream)


def _pct(score):
    return "n/a" if score is None else f"{100 * score:.1f}%"


def _run_at(commit, argv, args):
    """Run this tool again inside a snapshot of the kit at `commit` (its own code, this tool's operators)."""
    import shutil
    import subprocess

    rest, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--at":
            skip = True
            continue
        if item.startswith("--at="):
            continue
        rest.append(item)
    with tempfile.TemporaryDirectory(prefix="rnnkit-at-") as folder:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        shutil.copy(__file__, Path(folder) / "tools" / "mutation_score.py")
        if not any(a == "--triage" or a.startswith("--triage=") for a in rest):
            rest += ["--triage", str(Path(args.triage).resolve())]
        if not any(a == "--report" or a.startswith("--report=") for a in rest):
            rest += ["--report", str(Path(args.report).resolve())]
        if not any(a == "--out" or a.startswith("--out=") for a in rest):
            rest += ["--out", str((BUILD / f"at-{commit}").resolve())]
        env = dict(os.environ, RNNKIT_ROOT=folder, PYTHONPATH=os.pathsep.join([str(Path(folder) / "autograder"), folder]))
        print(f"grading with the kit as committed at {commit} (snapshot in {folder})", file=sys.stderr)
        return subprocess.run([sys.executable, str(Path(folder) / "tools" / "mutation_score.py"), *rest], env=env).returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ids", nargs="*", help="assignment ids (default: all)")
    parser.add_argument("--max-per-unit", type=int, default=None, help="grade a deterministic sample of at most N mutants per unit")
    parser.add_argument("--units", default=None, help="comma-separated units to mutate (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at a time")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant (default: the batch's own limit)")
    parser.add_argument("--out", default=None, help="grading folder (default build/mutation/<id>/grades; answers are reused)")
    parser.add_argument("--report", default=str(BUILD / "report.json"), help="where the JSON report goes")
    parser.add_argument("--list", action="store_true", help="only list the mutants that would be graded")
    parser.add_argument("--triage", default=str(TRIAGE), help="the triage file")
    parser.add_argument("--at", default=None, metavar="COMMIT",
                        help="grade with the kit (suites, solutions, grader) as committed at COMMIT: a snapshot made with "
                             "git archive, so that edits in the checkout don't reach the run (figures before and after a change)")
    parser.add_argument("--from-report", default=None, metavar="FILE",
                        help="grade nothing: print a saved JSON report again with the triage file as it is now")
    args = parser.parse_args(argv)
    if args.from_report:
        for report in json.loads(Path(args.from_report).read_text()):
            print_report(retriaged(report, load_triage(args.triage)))
        return 0
    if args.at:
        return _run_at(args.at, argv if argv is not None else sys.argv[1:], args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ids = args.ids or list(assignments.ASSIGNMENT_IDS)
    only = set(args.units.split(",")) if args.units else None
    triage = load_triage(args.triage)
    reports = []
    for assignment_id in ids:
        nb, planned = plan(assignment_id, args.max_per_unit, only)
        _SOURCES.clear()
        _SOURCES.update(unit_cells(assignment_id)[1])
        chosen = [mu for _, picked in planned.values() for mu in picked]
        made = sum(len(everything) for everything, _ in planned.values())
        print(f"{assignment_id}: {made} mutants made in {len(planned)} unit(s), grading {len(chosen)}", file=sys.stderr)
        if args.list:
            for mutant_id, _, _, description in chosen:
                print(f"  {mutant_id}  {description}")
            continue
        started = time.monotonic()
        out = Path(args.out) / assignment_id if args.out else None
        results = grade_mutants(assignment_id, nb, chosen, jobs=args.jobs, out=out, timeout=args.timeout)
        report = summarize(assignment_id, planned, results, triage, time.monotonic() - started)
        print_report(report)
        reports.append(report)
    if reports:
        path = Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(reports, indent=1) + "\n")
        print(f"\nreport: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
