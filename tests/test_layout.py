"""The engine's layout: its imports form no circle, and each step is the module named for it.

The import graph is read with `ast` from the source of autograder/rnnkit_grader and
autograder/rnnkit_child (nothing is imported to build it), counting every import,
those inside functions too: a lazy import that closes a circle is still a circle for
whoever reads or moves the code.
"""

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "autograder"
PACKAGES = ("rnnkit_grader", "rnnkit_child")
STEPS = {  # the five steps of grade_notebook: the call of each, and the module it lives in
    "load": "load.load",
    "extract": "extract.extract",
    "isolate": "isolate.Parties",
    "check": "check.check",
    "report": "report.grade_result",
}


def module_name(path):
    parts = list(path.relative_to(ENGINE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def engine_modules():
    return {module_name(p): p for package in PACKAGES for p in sorted((ENGINE / package).rglob("*.py"))}


def imports_of(name, path, modules):
    """The engine modules that the module `name` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    edges = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            edges.add(target)
    return edges


def import_graph():
    modules = engine_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph):
    """Every circle of the graph, as one list of modules per strongly connected part (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.append(member)
                if member == node:
                    break
            if len(part) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        for successor in graph.get(todo.pop(), ()):
            if successor not in seen:
                seen.add(successor)
                todo.append(successor)
    return seen


def test_the_cycle_finder_finds_a_circle():
    """The check below can fail: a circle of two, one of three and a module importing itself are found."""
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": set(), "x": {"y"}, "y": {"z"}, "z": {"x"}, "s": {"s"}}
    assert find_cycles(graph) == [["a", "b"], ["s"], ["x", "y", "z"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_engine_imports_form_no_circle():
    graph = import_graph()
    assert "rnnkit_grader.runner" in graph and "rnnkit_child.serve" in graph  # the walk found the engine
    cycles = find_cycles(graph)
    assert not cycles, "the engine's imports form a circle: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_results_and_report_do_not_reach_the_pipeline():
    """report, checks and results use a result without importing the pipeline or the isolation code
    (writing a report probes no bubblewrap and creates no cgroup); batch and cluster don't import each other."""
    graph = import_graph()
    assert not graph["rnnkit_grader.results"], "results imports nothing of the kit"
    pipeline = {"rnnkit_grader.runner", "rnnkit_grader.isolate", "rnnkit_grader.sandbox", "rnnkit_grader.isolation",
                "rnnkit_grader.check", "rnnkit_grader.batch"}
    for module in ("rnnkit_grader.report", "rnnkit_grader.checks", "rnnkit_grader.export", "rnnkit_grader.regrade"):
        assert not reachable(graph, module) & pipeline, f"{module} reaches {sorted(reachable(graph, module) & pipeline)}"
    assert "rnnkit_grader.batch" not in reachable(graph, "rnnkit_grader.cluster")


def test_child_side_imports_nothing_of_the_grader():
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("rnnkit_child"):
            assert all(t.startswith("rnnkit_child") for t in targets), f"{module} imports {sorted(targets)}"


def test_grade_notebook_is_the_five_steps():
    """grade_notebook calls each step once, in order, and each step is a function of the module named for it."""
    runner = ast.parse((ENGINE / "rnnkit_grader" / "runner.py").read_text(encoding="utf-8"))
    grade = next(n for n in runner.body if isinstance(n, ast.FunctionDef) and n.name == "grade_notebook")
    calls = [ast.unparse(n.func) for n in sorted((n for n in ast.walk(grade) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))]
    steps = [c for c in calls if c in STEPS.values()]
    assert steps == list(STEPS.values()), f"grade_notebook calls {steps}"
    for step, call in STEPS.items():
        module, _, name = call.partition(".")
        assert module == step
        tree = ast.parse((ENGINE / "rnnkit_grader" / f"{module}.py").read_text(encoding="utf-8"))
        assert any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name for n in tree.body), call


def test_one_grading_reads_the_notebook_once_and_parses_the_solution_once(monkeypatch):
    """Grading a submission reads its file once and parses it once, and parses the reference
    notebook once (the reference child's code and the layout of units come from one parse)."""
    from rnnkit_grader import assignments, load
    from rnnkit_grader.runner import grade_notebook

    assignment = assignments.get("01_rnn_numpy")
    submission = (ENGINE.parent / "examples" / "submissions" / assignment.id / "correct.ipynb").resolve()
    reads, parses = [], []
    read, parse = load.read_submission, load.parse_notebook
    monkeypatch.setattr(load, "read_submission", lambda path, root=None: reads.append(Path(path).resolve()) or read(path, root))
    monkeypatch.setattr(load, "parse_notebook", lambda raw: parses.append(len(raw)) or parse(raw))
    monkeypatch.setattr(load, "_SOLUTIONS", {})
    result = grade_notebook(submission, assignment.id)
    assert result.score == 100 and result.reference_started
    assert reads.count(submission) == 1
    sizes = {submission.stat().st_size: "the submission", assignment.solution.stat().st_size: "the solution"}
    assert sorted(sizes[n] for n in parses) == ["the solution", "the submission"], parses
