"""grade-batch: both layouts, parallel workers, resume, gradebook."""

import csv
import json
import shutil
from pathlib import Path

from rnnkit_grader import batch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "submissions" / "01_rnn_numpy"
A = "01_rnn_numpy"
SCORES = {"correct": 100, "blank": 0, "forward_reuses_h0": 60, "one_hot_without_range_check": 96}


def nbgrader_layout(tmp_path):
    root = tmp_path / "course"
    for student in SCORES:
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        shutil.copy(EXAMPLES / f"{student}.ipynb", folder / f"{A}.ipynb")
    (root / "submitted" / "broken" / A).mkdir(parents=True)
    (root / "submitted" / "broken" / A / f"{A}.ipynb").write_text("{ not a notebook")
    return root


def gradebook(out):
    with open(out / "gradebook.csv") as handle:
        return {row["student"]: float(row[A]) for row in csv.DictReader(handle)}


def test_batch_grades_in_parallel_and_resumes(tmp_path):
    root, out = nbgrader_layout(tmp_path), tmp_path / "out"
    all_jobs, todo, failures, _ = batch.run_batch(root, out, jobs=2, progress=False)
    assert len(all_jobs) == len(todo) == 5 and not failures
    assert gradebook(out) == {**SCORES, "broken": 0}
    results = json.loads((out / A / "correct" / "results.json").read_text())
    assert results["score"] == 100 and (out / A / "correct" / "feedback.html").exists()
    report = (out / "class_report.html").read_text()
    assert "5 submissions" in report and "one_hot: an index outside" in report

    # An interrupted batch: one result lost, one submission changed since.
    (out / A / "blank" / "results.json").unlink()
    shutil.copy(EXAMPLES / "correct.ipynb", root / "submitted" / "forward_reuses_h0" / A / f"{A}.ipynb")
    _, todo, failures, _ = batch.run_batch(root, out, jobs=1, progress=False)
    assert sorted(j.student for j in todo) == ["blank", "forward_reuses_h0"]
    assert gradebook(out)["forward_reuses_h0"] == 100 and gradebook(out)["blank"] == 0


def test_flat_folder(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    shutil.copy(EXAMPLES / "correct.ipynb", root / f"alice_{A}.ipynb")
    shutil.copy(EXAMPLES / "blank.ipynb", root / "bob.ipynb")
    jobs = batch.find_submissions(root, A)
    assert sorted((j.student, j.assignment) for j in jobs) == [("alice", A), ("bob", A)]
    batch.run_batch(root, tmp_path / "out", progress=False, assignment=A)
    assert gradebook(tmp_path / "out") == {"alice": 100, "bob": 0}


def test_dask_cluster_gives_the_same_gradebook(tmp_path):
    """The same batch on a local Dask cluster of worker processes matches the local pool."""
    from distributed import LocalCluster

    root = nbgrader_layout(tmp_path)
    batch.run_batch(root, tmp_path / "local", jobs=1, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        _, todo, failures, _ = batch.run_batch(root, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    assert len(todo) == 5 and not failures
    assert (tmp_path / "dask" / "gradebook.csv").read_text() == (tmp_path / "local" / "gradebook.csv").read_text()


def test_dask_task_that_hangs_costs_only_its_submission(tmp_path):
    """On Dask too, each task grades under a wall-clock limit in a process of its own."""
    from distributed import LocalCluster

    root = tmp_path / "course" / "submitted"
    for student, source in (("correct", EXAMPLES / "correct.ipynb"), ("blank", EXAMPLES / "blank.ipynb")):
        (root / student / A).mkdir(parents=True)
        shutil.copy(source, root / student / A / f"{A}.ipynb")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        _, todo, failures, _ = batch.run_batch(
            tmp_path / "course", tmp_path / "out", scheduler=cluster.scheduler_address, progress=False,
            timeout=lambda job: 0.5 if job.student == "blank" else 300,
        )
    assert [job.student for job, _ in failures] == ["blank"]
    assert gradebook(tmp_path / "out") == {"correct": 100, "blank": 0}
    data = json.loads((tmp_path / "out" / A / "blank" / "results.json").read_text())
    assert "longer than the batch allows" in data["output"] and data["extra_data"]["batch_error"] == "timeout"


def test_students_whose_folder_names_need_cleaning_are_never_merged(tmp_path):
    """Names with unprintable characters or of more than 120 characters keep a digest of the original."""
    from rnnkit_grader import batch

    names = ["stud\x01", "stud\x02", "a" * 121, "a" * 122, "plain"]
    for name in names:
        folder = tmp_path / "submitted" / name / "01_rnn_numpy"
        folder.mkdir(parents=True)
        (folder / "01_rnn_numpy.ipynb").write_text("{}")
    jobs = batch.find_submissions(tmp_path)
    students = {job.student for job in jobs}
    assert len(students) == len(names), students
    assert "plain" in students and all(len(s) <= 120 and s.isprintable() for s in students)


def kit_copy(tmp_path, monkeypatch):
    """A copy of 01's solution and suite under RNNKIT_ROOT, for tests that change the suite (workers read the env)."""
    from rnnkit_grader import assignments

    kit = tmp_path / "kit"
    shutil.copytree(assignments.SOLUTIONS / A, kit / "solutions" / A)
    (kit / "autograder" / "suites").mkdir(parents=True)
    shutil.copy(assignments.get(A).suite, kit / "autograder" / "suites")
    monkeypatch.setenv("RNNKIT_ROOT", str(kit))
    monkeypatch.setattr(assignments, "ROOT", kit)
    monkeypatch.setattr(assignments, "SOLUTIONS", kit / "solutions")
    monkeypatch.setattr(assignments, "SUITES", kit / "autograder" / "suites")
    return kit / "autograder" / "suites" / f"test_{A}.py"


def test_a_suite_fix_regrades_everyone_once_and_reports_whose_score_moved(tmp_path, monkeypatch, capsys):
    suite = kit_copy(tmp_path, monkeypatch)
    root, out = tmp_path / "course", tmp_path / "out"
    for student in ("correct", "blank", "forward_reuses_h0"):
        (root / "submitted" / student / A).mkdir(parents=True)
        shutil.copy(EXAMPLES / f"{student}.ipynb", root / "submitted" / student / A / f"{A}.ipynb")
    batch.run_batch(root, out, jobs=2, progress=False)
    first = json.loads((out / A / "correct" / "results.json").read_text())["extra_data"]
    assert first["fingerprint"] and first["kit"] and first["sha256"]

    _, todo, _, _ = batch.run_batch(root, out, progress=True)  # nothing changed: every result reused
    assert todo == [] and "3 up to date, 0 to grade" in capsys.readouterr().err
    assert not (out / "regrade_report.csv").exists()

    # A one-line fix of the suite: rnn_forward's values are worth 8 points, not 12.
    text = suite.read_text()
    marker = "@pytest.mark.points(12)\ndef test_rnn_forward_values("
    assert marker in text
    suite.write_text(text.replace(marker, "@pytest.mark.points(8)\ndef test_rnn_forward_values("))
    _, todo, failures, _ = batch.run_batch(root, out, jobs=2, progress=True)
    err = capsys.readouterr().err
    assert len(todo) == 3 and not failures and "3 out of date (suite, solution or kit changed)" in err
    assert "1 score(s) changed" in err
    with open(out / "regrade_report.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["student"], r["old_score"], r["new_score"], r["regraded_because"]) for r in rows] == [("correct", "100", "96", "kit")]
    assert rows[0]["test"].startswith("rnn_forward:") and (rows[0]["old_test_score"], rows[0]["new_test_score"]) == ("12", "8")
    assert "correct" in (out / "regrade_report.html").read_text()
    assert batch.run_batch(root, out, progress=False)[1] == []  # graded once


def test_class_report_item_analysis_flags_tests_worth_a_look(tmp_path):
    """Pass rate, a flag on tests nobody or everybody fails, and the item-rest correlation."""
    def result(score, passed):
        tests = [{"name": name, "score": 10.0 * ok, "max_score": 10.0, "status": "passed" if ok else "failed"} for name, ok in passed.items()]
        return {"score": score, "tests": tests, "extra_data": {}}

    students = [  # strong students pass 'separates'; 'backwards' is passed by the weak ones only
        (90, dict(easy=1, impossible=0, separates=1, backwards=0)),
        (85, dict(easy=1, impossible=0, separates=1, backwards=0)),
        (80, dict(easy=1, impossible=0, separates=1, backwards=0)),
        (30, dict(easy=1, impossible=0, separates=0, backwards=1)),
        (25, dict(easy=1, impossible=0, separates=0, backwards=1)),
        (20, dict(easy=1, impossible=0, separates=0, backwards=1)),
    ]
    for i, (score, passed) in enumerate(students):
        folder = tmp_path / A / f"s{i}"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(result(score, passed)))
    batch.write_class_report(tmp_path)
    with open(tmp_path / "item_analysis.csv") as handle:
        items = {row["test"]: row for row in csv.DictReader(handle)}
    assert items["easy"]["flags"] == "nobody fails it" and float(items["easy"]["pass_rate"]) == 1
    assert items["impossible"]["flags"] == "everybody fails it"
    assert items["separates"]["flags"] == "" and float(items["separates"]["rest_correlation"]) > 0.9
    assert "weak submissions pass it more often" in items["backwards"]["flags"] and float(items["backwards"]["rest_correlation"]) < -0.9
    page = (tmp_path / "class_report.html").read_text()
    assert "3 of 4 tests flagged" in page and "everybody fails it" in page


def test_each_assignment_is_started_by_one_worker_and_workers_keep_to_theirs():
    """Two workers on a batch of three assignments: every assignment's first submission goes to a
    different worker than a grading already running of it, a worker keeps to the assignments it
    has warm, and nothing is lost or handed out twice."""
    jobs = [batch.Job(f"s{i:02d}", a, f"/x/{a}/s{i}.ipynb") for i, a in enumerate(["01"] * 6 + ["03"] * 3 + ["04"] * 3)]
    pending = batch.Dispatch(jobs)
    a, b = set(), set()
    first_a = pending.next(a)
    a.add(first_a.assignment)
    first_b = pending.next(b)  # 01 is being started by A: B starts another assignment
    b.add(first_b.assignment)
    assert (first_a.assignment, first_b.assignment) == ("01", "03")
    pending.done(first_a)
    second_a = pending.next(a)
    assert second_a.assignment == "01"  # A keeps to 01
    pending.done(first_b)
    more_b = [pending.next(b) for _ in range(2)]
    assert [j.assignment for j in more_b] == ["03", "03"]  # B keeps to 03
    third = pending.next(b)  # B has no 03 left: 04, which nobody has started, before stealing 01
    assert third.assignment == "04"
    # A's 01 runs out; 04's first grading is still running in B, so A takes 01's rest first
    rest = [pending.next(a) for _ in range(len(pending))]
    assert [j.assignment for j in rest] == ["01"] * 4 + ["04"] * 2
    assert pending.next(a) is None and len(pending) == 0
    graded = [first_a, first_b, second_a, *more_b, third, *rest]
    assert sorted(j.student for j in graded) == sorted(j.student for j in jobs)  # each once
    pending.put_back(third)  # a job whose worker was gone is first in line again
    assert pending.next(set()) is third
