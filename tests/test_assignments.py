"""Each assignment is one declared record, and `rnnkit check-assignment` says what one lacks."""

import json
import re
import shutil

import pytest

from rnnkit_grader import assignments, cli, readiness

IDS = list(assignments.ASSIGNMENT_IDS)


@pytest.mark.parametrize("assignment_id", IDS)
def test_every_assignment_is_complete(assignment_id):
    """Solution, release in sync, suite of 100 points, its probes, examples, README row, calibration."""
    problems = readiness.missing(assignments.get(assignment_id))
    assert not problems, f"{assignment_id} is missing:\n" + "\n".join(problems)


def test_the_readme_table_is_the_records():
    readme = (assignments.ROOT / "README.md").read_text(encoding="utf-8")
    table = re.search(r"^\| assignment \| what you write \| status \|\n(?:\|.*\|\n)+", readme, re.M)
    assert table, "README.md has the assignments table"
    assert table.group(0).rstrip("\n") == assignments.readme_table(), "README's table differs from assignments.RECORDS"


def test_every_part_reads_the_records():
    """The ids, the limits and the paths all come from one record per assignment."""
    assert tuple(a.id for a in assignments.RECORDS) == assignments.ASSIGNMENT_IDS
    assert len(set(assignments.ASSIGNMENT_IDS)) == len(assignments.ASSIGNMENT_IDS)
    for record in assignments.RECORDS:
        assert assignments.get(record.id) is record and record.title
        assert record.solution.name == record.release.name == f"{record.id}.ipynb"
        assert record.limits.total_seconds > 0


SUITE = '''
import pytest
from rnnkit_child.probes import hello, mnist
from rnnkit_grader.reference import mnist as mnist_kit

FLOOR = 0.5  # a calibrated bound that no kit test re-checks


@pytest.mark.unit("rnn_step")
@pytest.mark.points(90)
def test_step(student):
    """rnn_step runs"""
    student.probe(hello.no_such_probe, unit="rnn_step")
    student.probe(mnist.model_outputs, unit="rnn_step")  # a child probe of a module the record does not name
    student.probe(mnist_kit.kit_outputs, unit="rnn_step")  # reference-only: the student's child has no such probe
    student.probe("hello.train", unit="rnn_step")  # by name, not by reference
'''


def test_check_assignment_lists_what_a_new_assignment_lacks(tmp_path, monkeypatch, capsys):
    kit = tmp_path / "kit"
    source = assignments.get("01_rnn_numpy")
    (kit / "solutions" / "09_new").mkdir(parents=True)
    shutil.copy(source.solution, kit / "solutions" / "09_new" / "09_new.ipynb")  # its metadata still says 01
    (kit / "autograder" / "suites").mkdir(parents=True)
    (kit / "autograder" / "suites" / "test_09_new.py").write_text(SUITE)
    examples = kit / "examples" / "submissions" / "09_new"
    examples.mkdir(parents=True)
    for name in ("correct.ipynb", "one_mistake.ipynb"):
        shutil.copy(source.solution, examples / name)
    (examples / "expected.json").write_text(json.dumps({"correct.ipynb": {"score": 100}}))
    (kit / "README.md").write_text("no table\n")
    for name, value in (("ROOT", kit), ("SOLUTIONS", kit / "solutions"), ("SUITES", kit / "autograder" / "suites"),
                        ("RELEASE", kit / "assignments")):
        monkeypatch.setattr(assignments, name, value)
    record = assignments.Assignment("09_new", "something new", probes=("nowhere",))
    monkeypatch.setitem(assignments.BY_ID, record.id, record)
    monkeypatch.setattr(assignments, "ASSIGNMENT_IDS", (*assignments.ASSIGNMENT_IDS, record.id))

    problems = readiness.missing(record)
    text = "\n".join(problems)
    for expected in (
        "solution: its metadata rnnkit.assignment must be '09_new'",
        "release: assignments/09_new/09_new.ipynb is missing",
        "suite: its tests total 90 points, not 100",
        "suite: the solution's unit 'one_hot' earns no points",
        "probes: the record names rnnkit_child/probes/nowhere.py, which does not exist",
        "student.probe('hello.no_such_probe') names no function of rnnkit_child/probes/hello.py",
        "calls rnnkit_child/probes/mnist.py, which the record's probes ('nowhere',) do not name",
        "student.probe('mnist.kit_outputs') names no function of rnnkit_child/probes/mnist.py (it is reference-only",
        "gives probe 'hello.train' by name: pass the function",
        "calibration: the suite declares FLOOR but the record does not say how they were calibrated",
        "calibration: the suite declares FLOOR but defines no calibrate(reference)",
        "examples: examples/submissions/09_new/blank.ipynb is missing",
        "examples: 1 typical mistake(s)",
        "examples: one_mistake.ipynb has no recorded score",
        "README: the assignments table lacks the row | `09_new` | something new | ready |",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"

    assert cli.main(["check-assignment", "09_new", "--no-release"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("09_new: ") and "thing(s) missing" in out and "  - suite: its tests total 90 points" in out
    assert cli.main(["check-assignment", "10_unknown"]) == 2


def test_check_assignment_finds_a_probe_no_suite_calls(tmp_path, monkeypatch):
    """A probe (a public function taking `namespace`) of a module the suite imports that no suite calls is
    reported; one another probe of its module calls, a helper, or a called probe is not."""
    import ast

    (tmp_path / "fresh.py").write_text(
        "def used(namespace, x):\n    return helper(x)\n\n"
        "def inner(namespace, x):\n    return x\n\n"
        "def outer(namespace, x):\n    return inner(namespace, x)\n\n"
        "def helper(x):\n    return x\n\n"
        "def dead(namespace, x):\n    return x\n"
    )
    monkeypatch.setattr(readiness, "CHILD_PROBES", tmp_path)
    suite = ast.parse("from rnnkit_child.probes import fresh as probes\n"
                      "def test_it(student):\n    student.probe(probes.used, unit='u')\n    student.probe(probes.outer, unit='u')\n")
    problems = []
    readiness._check_dead_probes(assignments.get("03_hello_lm"), suite, problems)
    assert problems == [f"probes: {readiness._rel(tmp_path / 'fresh.py')} defines the probe dead, which no suite calls: remove it or use it"]


def test_check_assignment_wants_each_declared_bound_re_measured():
    """A calibrate(reference) that leaves a declared bound out, or a record naming a calibration its suite
    does not declare, is reported; a suite whose calibrate names every bound passes."""
    import ast

    suite = ast.parse(
        "FLOOR = 0.5\nCALIBRATED_MEAN = 0.6\n"
        "def calibrate(reference):\n    return [checks.Calibration(('FLOOR',), 'x', 0.7, holds=0.7 >= FLOOR)]\n"
    )
    calibrated = assignments.Assignment("09_new", "x", calibration="the reference, seeds 0 to 4")
    problems = []
    readiness._check_calibration(calibrated, suite, problems)
    assert problems == ["calibration: the suite's calibrate() does not re-check CALIBRATED_MEAN"]
    problems = []
    readiness._check_calibration(calibrated, ast.parse("SEED = 0\n"), problems)
    assert problems and "declares no bound" in problems[0]
    complete = ast.parse("FLOOR = 0.5\ndef calibrate(reference):\n    return [Calibration(('FLOOR',), 'x', 1.0, holds=True)]\n")
    problems = []
    readiness._check_calibration(calibrated, complete, problems)
    assert problems == []


def test_author_runs_test_cells_release_and_examples_in_order(monkeypatch, capsys):
    """`rnnkit author ID` is the one command after a notebook change: test cells, then the release, then the examples."""
    import subprocess

    from rnnkit_grader import nbgrader_bridge, release

    calls = []
    monkeypatch.setattr(nbgrader_bridge, "main", lambda argv: calls.append(("test cells", tuple(argv))) or 0)
    monkeypatch.setattr(release, "generate", lambda i: calls.append(("release", i)) or assignments.get(i).release)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(("examples", cmd[1].rsplit("/", 2)[-2:], tuple(cmd[2:])))
                        or subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setattr(readiness, "missing", lambda record, release=True: calls.append(("check", record.id, release)) or [])
    assert cli.main(["author", "01_rnn_numpy"]) == 0
    assert calls == [
        ("test cells", ("sync", "01_rnn_numpy")),
        ("release", "01_rnn_numpy"),
        ("examples", ["tools", "make_examples.py"], ("01_rnn_numpy",)),
        ("check", "01_rnn_numpy", False),
    ]
    assert "make execute" in capsys.readouterr().out
    assert cli.main(["author", "99_nothing"]) == 2


def test_a_probe_is_called_by_reference_to_its_function_on_both_parties():
    """student.probe(fn, unit=...) and reference.probe(fn) send the same request "module.fn"; a name
    given as a string is refused, a reference-only probe is refused on the student's side, and a child
    probe whose name the reference child would resolve to another function is refused on the reference's."""
    from rnnkit_child.probes import cells, hello
    from rnnkit_grader.isolate import probe_name
    from rnnkit_grader.reference import cells as reference_cells
    from rnnkit_grader.reference import numeric
    from rnnkit_grader.results import GraderBug

    assert probe_name(hello.train) == probe_name(hello.train, student=True) == "hello.train"
    assert probe_name(numeric.central_differences) == "numeric.central_differences"
    assert probe_name(reference_cells.layout) == probe_name(cells.layout, student=True) == "cells.layout"
    with pytest.raises(GraderBug, match="reference-only"):
        probe_name(numeric.central_differences, student=True)
    with pytest.raises(GraderBug, match="runs rnnkit_grader.reference.cells.layout"):
        probe_name(cells.layout)
    with pytest.raises(GraderBug, match="not a probe"):
        probe_name(json.dumps)
    with pytest.raises(GraderBug, match="given by name: pass the function"):
        probe_name("hello.train")


def test_check_assignment_reads_probes_given_by_reference():
    import ast

    suite = ast.parse(
        "from rnnkit_child.probes import hello\n"
        "from rnnkit_child.probes.cells import layout\n"
        "from rnnkit_grader.reference import numeric as num\n"
        "def test_x(student, reference):\n"
        "    student.probe(hello.train, unit='train')\n"
        "    student.probe(layout, unit='c')\n"
        "    reference.probe(num.central_differences, forward='x')\n"
        "    student.probe(hello.nothing_here, unit='train')\n"
    )
    assert readiness.probe_calls(suite) == [
        ("student", "hello.train", 5, "rnnkit_child.probes"),
        ("student", "cells.layout", 6, "rnnkit_child.probes"),
        ("reference", "numeric.central_differences", 7, "rnnkit_grader.reference"),
        ("student", "hello.nothing_here", 8, "rnnkit_child.probes"),
    ]
    problems = []
    readiness._check_probes(assignments.Assignment("09_new", probes=("hello", "cells")), suite, problems)
    assert problems == ["probes: line 8: student.probe('hello.nothing_here') names no function of rnnkit_child/probes/hello.py"]
