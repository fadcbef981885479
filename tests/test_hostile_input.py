"""Hostile input before and around the sandbox: symlinks, files that cost the grader's
memory, floods of text from the child, workers that hang or die, and assignments taken
from the student's own file. Each gets a result with a message; nobody else's grade moves."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import by_unit, messages, reference_notebook
from rnnkit_grader import assignments, batch, cli, notebook
from rnnkit_grader.notebook import nbgrader_meta
from rnnkit_grader.runner import grade_notebook

A = "01_rnn_numpy"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions" / A
SOLUTION = assignments.get(A).solution
RNNKIT = Path(sys.executable).with_name("rnnkit")


def gradebook(out, assignment=A):
    with open(Path(out) / "gradebook.csv") as handle:
        return {row["student"]: float(row[assignment]) for row in csv.DictReader(handle) if row.get(assignment)}


def results(out, student, assignment=A):
    return json.loads((Path(out) / assignment / student / "results.json").read_text())


def text_of(data):
    return data["output"] + "\n".join(t["output"] for t in data["tests"])


def assert_refused(result, fragment):
    assert result.score == 0
    assert any(fragment in p for p in result.problems), result.problems


# ---- symlinks --------------------------------------------------------------------------------


def test_symlink_to_the_solution_scores_zero_in_grade(tmp_path):
    link = tmp_path / f"{A}.ipynb"
    link.symlink_to(SOLUTION)
    assert_refused(grade_notebook(link, A), "symbolic link")
    # through the command line too, with the results file written
    out = tmp_path / "results.json"
    assert cli.main(["grade", str(link), "--assignment", A, "--results", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["score"] == 0 and "symbolic link" in data["output"]


def test_symlinked_folder_on_the_way_is_refused(tmp_path):
    handed_in = tmp_path / "submission"
    handed_in.mkdir()
    (handed_in / "work").symlink_to(SOLUTION.parent)
    result = grade_notebook(handed_in / "work" / f"{A}.ipynb", A, root=handed_in)
    assert_refused(result, "symbolic link")


def test_fifo_and_outside_paths_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / f"{A}.ipynb"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        notebook.read_submission(fifo)
    with pytest.raises(ValueError, match="not inside the submission folder"):
        notebook.read_submission(SOLUTION, root=tmp_path)


def _course_with_links(tmp_path, submission):
    root = tmp_path / "course" / "submitted"
    (root / "alice" / A).mkdir(parents=True)
    (root / "alice" / A / f"{A}.ipynb").write_bytes(submission(A).read_bytes())
    (root / "mallory" / A).mkdir(parents=True)
    (root / "mallory" / A / f"{A}.ipynb").symlink_to(SOLUTION)
    (root / "eve").mkdir()
    (root / "eve" / A).symlink_to(SOLUTION.parent)  # the assignment folder itself is a link
    return tmp_path / "course"


def test_symlinks_score_zero_in_grade_batch_nbgrader_layout(tmp_path, submission):
    course, out = _course_with_links(tmp_path, submission), tmp_path / "out"
    batch.run_batch(course, out, jobs=1, progress=False)
    assert gradebook(out) == {"alice": 100, "mallory": 0, "eve": 0}
    for student in ("mallory", "eve"):
        assert "symbolic link" in text_of(results(out, student))


def test_symlinks_score_zero_in_grade_batch_flat_layout(tmp_path, submission):
    flat, out = tmp_path / "flat", tmp_path / "out"
    flat.mkdir()
    (flat / f"alice_{A}.ipynb").write_bytes(submission(A).read_bytes())
    (flat / "mallory.ipynb").symlink_to(SOLUTION)
    (flat / "trudy.ipynb").symlink_to("/dev/zero")  # would never end if it were read
    os.mkfifo(flat / "oscar.ipynb")  # would block forever if it were opened for reading
    batch.run_batch(flat, out, assignment=A, progress=False)
    assert gradebook(out) == {"alice": 100, "mallory": 0, "trudy": 0, "oscar": 0}
    assert "symbolic link" in text_of(results(out, "mallory"))
    assert "not a regular file" in text_of(results(out, "oscar"))


# ---- files that would cost the grader its memory ---------------------------------------------


def _with_cell_source(path, extra, unit="one_hot"):
    nb = reference_notebook(A)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == unit:
            cell.source += extra
    nbformat.write(nb, path)
    return path


def hostile_files(folder):
    """{student: (path, fragment of the message it must get)}"""
    folder.mkdir(exist_ok=True)
    files = {}
    big = _with_cell_source(folder / "big.ipynb", "\nDATA = [" + "1, " * (20 * 2**20 // 3) + "]\n")
    files["big"] = (big, "over the grader's limit of 16 MiB")
    deep = folder / "deep.ipynb"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    files["deep"] = (deep, "nested more than")
    deep_object = folder / "deepobj.ipynb"
    deep_object.write_text('{"cells": [], "metadata": ' + '{"a": ' * 200_000 + "1" + "}" * 200_001)
    files["deepobj"] = (deep_object, "nested more than")
    junk = folder / "junk.ipynb"
    junk.write_text("this is { not json")
    files["junk"] = (junk, "not valid JSON")
    cells = nbformat.v4.new_notebook()
    cells.cells = [nbformat.v4.new_code_cell("") for _ in range(notebook.MAX_CELLS + 1000)]
    many = folder / "many.ipynb"
    nbformat.write(cells, many)
    files["many"] = (many, "cells, over the grader's limit")
    return files


def test_hostile_files_each_get_a_result_with_a_message(tmp_path):
    for name, (path, fragment) in hostile_files(tmp_path / "files").items():
        result = grade_notebook(path, A)
        assert result.score == 0 and result.tests, name
        assert any(fragment in p for p in result.problems), (name, result.problems)


def test_a_huge_unit_cell_costs_only_that_unit(tmp_path):
    path = _with_cell_source(tmp_path / f"{A}.ipynb", "\nDATA = [" + "1, " * (notebook.MAX_CELL_SOURCE // 2) + "]\n")
    result = grade_notebook(path, A)
    units = by_unit(result)
    assert units["one_hot"][0] == 0 and "over the grader's limit" in messages(result, "one_hot")
    assert units["rnn_step_forward"][0] == units["rnn_step_forward"][1] > 0


def test_grader_memory_stays_bounded_on_a_20_mb_notebook(tmp_path):
    """Before the caps a 20 MB notebook took the grader to about 7 GB; now it is refused before parsing."""
    path = _with_cell_source(tmp_path / f"{A}.ipynb", "\nDATA = [" + "1, " * (20 * 2**20 // 3) + "]\n")
    under_cap = _with_cell_source(tmp_path / "under.ipynb", "\nDATA = [" + "1, " * (15 * 2**20 // 3) + "]\n")
    code = (
        "import resource, sys\n"
        "from rnnkit_grader import assignments, notebook\n"
        "setup, units = notebook.reference_layout(assignments.get('01_rnn_numpy').solution)\n"
        "for path in sys.argv[1:]:\n"
        "    nb = notebook.load_submission(path, units, setup)\n"
        "    assert nb.problems or nb.unit_problems, path\n"
        # This process's own peak (VmHWM of its memory map): ru_maxrss would also count the pytest worker's
        # peak, which Linux carries over to a child that vfork+exec made (so it read ~1 GB late in a full run).
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "print(int(peak[0].split()[1]) // 1024 if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path), str(under_cap)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) < 400, f"grader peak {done.stdout.split()[-1]} MiB"


def test_flat_batch_with_hostile_files_grades_the_others(tmp_path, submission):
    flat, out = tmp_path / "flat", tmp_path / "out"
    files = hostile_files(flat)
    (flat / "alice.ipynb").write_bytes(submission(A).read_bytes())
    (flat / "bob.ipynb").write_bytes((EXAMPLES / "blank.ipynb").read_bytes())
    all_jobs, _, failures, _ = batch.run_batch(flat, out, jobs=2, assignment=A, progress=False)
    assert len(all_jobs) == len(files) + 2 and not failures
    assert gradebook(out) == {"alice": 100, "bob": 0, **{name: 0 for name in files}}
    for name, (_, fragment) in files.items():
        assert fragment in text_of(results(out, name)), name
    assert (out / "class_report.html").exists()


# ---- floods of text from the child -----------------------------------------------------------


def test_a_50_mb_exception_message_gives_bounded_reports(tmp_path, submission):
    flood = "import numpy as np\ndef one_hot(indices, depth):\n    raise ValueError('x' * 50_000_000)\n"
    cell_flood = "import numpy as np\nBOOM = exec(\"raise RuntimeError('y' * 50_000_000)\")\ndef rnn_step_forward(x, h_prev, Wx, Wh, b):\n    return 0\n"
    path = submission(A, replace={"one_hot": flood, "rnn_step_forward": cell_flood})
    target = tmp_path / "results.json"
    feedback = tmp_path / "feedback.html"
    assert cli.main(["grade", str(path), "--assignment", A, "--results", str(target), "--feedback", str(feedback)]) == 0
    data = json.loads(target.read_text())
    assert data["score"] < 100
    assert target.stat().st_size < 1_000_000 and feedback.stat().st_size < 1_000_000
    assert all(len(t["output"]) < 20_000 for t in data["tests"])


def test_grader_caps_whatever_the_child_sends(tmp_path):
    """A child that writes its own answers can send any text: the grader cuts every piece of it."""
    from rnnkit_grader import report
    from rnnkit_grader.isolate import Student
    from rnnkit_grader.results import GradeResult, TestResult

    huge = "z" * 50_000_000
    forged = {"type": huge, "message": huge, "traceback": huge}
    text = Student.explain_error("one_hot", forged)
    assert len(text) < 10_000 and "characters cut]" in text

    class Child:
        cell_errors = {"one_hot": forged}

    text = Student(notebook.Notebook(path="x"), Child())._missing("one_hot")
    assert len(text) < 10_000 and "characters cut]" in text
    tests = [TestResult(f"one_hot: check {i}", "one_hot", 0.0, 1.0, "failed", huge, 0.1) for i in range(30)]
    result = GradeResult("x.ipynb", A, tests, [huge] * 1000, 1.0)
    data = json.dumps(report.results_json(result))
    assert len(data) < 1_000_000 and "characters cut]" in data and "more left out]" in data
    assert len(report.feedback_html(result)) < 1_000_000 and len(report.table(result)) < 100_000


# ---- stuck, crashed and killed workers -------------------------------------------------------


def hostile_grade(job, out, threads=None):
    """Stands in for batch.grade_job in the workers: some students make the worker itself misbehave."""
    if job.student == "stuck":
        time.sleep(10**6)
    if job.student == "oom":  # what the kernel's OOM killer does to a worker
        os.kill(os.getpid(), signal.SIGKILL)
    if job.student == "buggy":
        raise RuntimeError("grader bug")
    return batch.grade_job(job, out, threads)


def test_stuck_and_killed_workers_cost_only_their_own_submission(tmp_path, submission):
    root, out = tmp_path / "course" / "submitted", tmp_path / "out"
    never_reads = "import numpy as np\nSTALL = __import__('time').sleep(10**6)\ndef one_hot(indices, depth):\n    return np.eye(depth)[indices]\n"
    sources = {
        "alice": submission(A).read_bytes(),
        "bob": (EXAMPLES / "blank.ipynb").read_bytes(),
        "carol": submission(A).read_bytes(),
        "sleeper": submission(A, replace={"one_hot": never_reads}, name="sleeper.ipynb").read_bytes(),
        "stuck": submission(A).read_bytes(),
        "oom": submission(A).read_bytes(),
        "buggy": submission(A).read_bytes(),
    }
    for student, data in sources.items():
        (root / student / A).mkdir(parents=True)
        (root / student / A / f"{A}.ipynb").write_bytes(data)
    t0 = time.monotonic()
    _, todo, failures, _ = batch.run_batch(
        tmp_path / "course", out, jobs=2, progress=False, grade=hostile_grade,
        timeout=lambda job: 15 if job.student == "stuck" else 300,
    )
    assert time.monotonic() - t0 < 300
    assert len(todo) == 7
    assert sorted(j.student for j, _ in failures) == ["buggy", "oom", "stuck"]
    assert gradebook(out) == {"alice": 100, "bob": 0, "carol": 100, "sleeper": 0, "stuck": 0, "oom": 0, "buggy": 0}
    assert "longer than the batch allows" in text_of(results(out, "stuck"))
    assert "died" in text_of(results(out, "oom")) and "SIGKILL" in text_of(results(out, "oom"))
    assert "grader bug" in text_of(results(out, "buggy"))
    assert (out / "class_report.html").exists()
    # a re-run retries the ones whose grading did not finish (the others too only if the kit's code
    # changed meanwhile, as it may in a shared checkout)
    for job in batch.find_submissions(tmp_path / "course"):
        assert results(out, job.student)["extra_data"].get("batch_error") == (
            {"stuck": "timeout", "oom": "died", "buggy": "error"}.get(job.student))
        if job.student in ("buggy", "oom", "stuck"):
            assert not batch.is_done(job, out)


def test_ctrl_c_still_writes_the_gradebook(tmp_path, submission):
    root, out = tmp_path / "course" / "submitted", tmp_path / "out"
    slow = "import numpy as np\nSTALL = __import__('time').sleep(10**6)\n"
    for student, replace in (("alice", {}), ("zed", {"one_hot": slow})):
        (root / student / A).mkdir(parents=True)
        (root / student / A / f"{A}.ipynb").write_bytes(submission(A, replace=replace, name=f"{student}.ipynb").read_bytes())
    proc = subprocess.Popen([str(RNNKIT), "grade-batch", str(tmp_path / "course"), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / A / "alice" / "results.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert gradebook(out) == {"alice": 100}
    assert (out / "class_report.html").exists()


# ---- the assignment comes from the layout or --assignment, never from the file ---------------


def test_flat_folder_without_assignment_is_refused(tmp_path, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "alice.ipynb").write_bytes((EXAMPLES / "correct.ipynb").read_bytes())
    with pytest.raises(batch.BatchError, match="--assignment"):
        batch.find_submissions(flat)
    assert cli.main(["grade-batch", str(flat), "--out", str(tmp_path / "out")]) == 2
    assert "--assignment" in capsys.readouterr().err
    assert not (tmp_path / "out" / A).exists()


def test_week_1_notebook_in_a_week_7_flat_batch_gets_week_7s_result(tmp_path):
    week7 = "07_time_series"
    if not assignments.get(week7).available:
        pytest.skip("07 is not available")
    flat, out = tmp_path / "flat", tmp_path / "out"
    flat.mkdir()
    (flat / "bob.ipynb").write_bytes((EXAMPLES / "correct.ipynb").read_bytes())  # a finished week-1 notebook
    assert notebook.assignment_of(notebook.read_notebook(flat / "bob.ipynb"), "bob.ipynb") == A
    # bob's week-1 grade, from an earlier batch
    (out / A / "bob").mkdir(parents=True)
    (out / A / "bob" / "results.json").write_text(json.dumps({"score": 0, "tests": [], "extra_data": {}}))
    jobs = batch.find_submissions(flat, week7)
    assert [(j.student, j.assignment) for j in jobs] == [("bob", week7)]
    batch.run_batch(flat, out, assignment=week7, progress=False)
    assert results(out, "bob", week7)["extra_data"]["assignment"] == week7
    assert results(out, "bob", week7)["score"] < 100
    assert results(out, "bob")["score"] == 0  # week 1 untouched
    assert sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) == [A, week7]


def test_nbgrader_layout_with_assignment_grades_only_that_folder(tmp_path):
    root = tmp_path / "course" / "submitted"
    for student, folder in (("alice", A), ("alice", "07_time_series"), ("bob", "not_an_assignment")):
        (root / student / folder).mkdir(parents=True)
        (root / student / folder / "work.ipynb").write_bytes((EXAMPLES / "correct.ipynb").read_bytes())
    assert [(j.student, j.assignment) for j in batch.find_submissions(tmp_path / "course", A)] == [("alice", A)]
    found = batch.find_submissions(tmp_path / "course", warn=lambda message: None)
    assert sorted((j.student, j.assignment) for j in found) == [("alice", A), ("alice", "07_time_series")]


# ---- no strong isolation -------------------------------------------------------------------


def test_grading_others_work_is_refused_without_strong_isolation(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNKIT_NO_BWRAP", "1")
    monkeypatch.delenv("RNNKIT_ISOLATION", raising=False)
    course = tmp_path / "course"
    (course / "submitted").mkdir(parents=True)
    assert cli.main(["grade-batch", str(course), "--out", str(tmp_path / "out")]) == 2
    assert "refusing" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert cli.main(["grade-batch", str(course), "--out", str(tmp_path / "out"), "--isolation", "weak"]) == 0
    monkeypatch.setenv("RNNKIT_ISOLATION", "weak")
    assert cli.main(["grade-batch", str(course), "--out", str(tmp_path / "out2")]) == 0
    monkeypatch.delenv("RNNKIT_ISOLATION")
    # one's own notebook: a warning, and it is graded
    junk = tmp_path / f"{A}.ipynb"
    junk.write_text("not json")
    assert cli.main(["grade", str(junk), "--assignment", A]) == 0
    assert "warning: bubblewrap is not available" in capsys.readouterr().err
    # what Gradescope's run_autograder asks for: refused, with a results.json that says why
    target = tmp_path / "results.json"
    assert cli.main(["grade", str(junk), "--assignment", A, "--isolation", "strong", "--results", str(target)]) == 2
    assert json.loads(target.read_text())["score"] == 0 and "not set up safely" in json.loads(target.read_text())["output"]


def test_terminal_escapes_from_the_child_never_reach_a_report(submission):
    """Text the student controls (exception messages, at import and in a unit) is shown with its
    control characters and bidirectional overrides replaced: it can't clear or recolour the staff's
    terminal, or reorder what a report line says."""
    from rnnkit_grader import report

    trick = "\\x1b[2J\\x1b[32mALL TESTS PASSED 100/100\\x1b[0m\\r\\u202e001\\u2028\\u200b\\ufeff\\u061c\\nPASS     15/15   fake"
    result = grade_notebook(submission(A, replace={
        "one_hot": f"def one_hot(indices, depth):\n    raise ValueError('{trick}')\n",
        "rnn_step_forward": f"raise RuntimeError('{trick}')\n",
    }), A)
    shown = report.table(result) + json.dumps(report.results_json(result), ensure_ascii=False) + report.feedback_html(result)
    assert "ALL TESTS PASSED" in shown, "the message itself is still shown"
    for char in ("\x1b", "\r", "\u202e", "\u2028", "\u200b", "\ufeff", "\u061c"):
        assert char not in shown, f"{char!r} reached a report"
    forged = [line for line in report.table(result).splitlines() if "fake" in line]
    assert forged and all(line.lstrip().startswith("|") for line in forged), f"a message line passes for a table row: {forged}"
