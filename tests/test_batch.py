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
