"""The Gradescope autograder zip grades a submission in Gradescope's directory layout."""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rnnkit_grader import gradescope

ROOT = Path(__file__).resolve().parents[1]
A = "01_rnn_numpy"


def check_results_schema(data):
    """The fields Gradescope's autograder documentation specifies for results.json."""
    assert isinstance(data["score"], (int, float))
    assert isinstance(data.get("execution_time", 0), (int, float))
    assert isinstance(data.get("output", ""), str)
    assert data.get("visibility", "visible") in {"visible", "hidden", "after_due_date", "after_published"}
    for test in data["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test.get("status") in {"passed", "failed"}
        assert isinstance(test.get("output", ""), str)
        assert test.get("visibility", "visible") in {"visible", "hidden", "after_due_date", "after_published"}
    assert set(data) <= {"score", "max_score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "tests", "leaderboard", "extra_data"}


@pytest.fixture(scope="module")
def autograder_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("autograder")
    zip_path = gradescope.build_zip(A, root / "autograder.zip")
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)
        assert f"autograder/suites/test_{A}.py" in names and f"solutions/{A}/{A}.ipynb" in names
        assert not any(n.startswith("examples/") or n.startswith("tests/") for n in names)
        zf.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        path = root / "source" / script
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return root


def run_autograder(root, submission):
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    (root / "submission").mkdir()
    if submission:
        shutil.copy(submission, root / "submission" / f"{A}.ipynb")
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), RNNKIT_BIN=str(Path(sys.executable).with_name("rnnkit")), RNNKIT_ROOT=str(root / "source"))
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_grades_a_submission(autograder_root):
    data = run_autograder(autograder_root, ROOT / "examples" / "submissions" / A / "bptt_last_step_only.ipynb")
    check_results_schema(data)
    assert data["score"] == 75
    assert (autograder_root / "results" / "feedback.html").exists()


def test_run_autograder_without_a_notebook(autograder_root):
    data = run_autograder(autograder_root, None)
    check_results_schema(data)
    assert data["score"] == 0 and "No .ipynb" in data["output"]


def _run_raw(root, env_extra=None):
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), RNNKIT_BIN=str(Path(sys.executable).with_name("rnnkit")), RNNKIT_ROOT=str(root / "source"), **(env_extra or {}))
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=600)
    return done, json.loads((root / "results" / "results.json").read_text())


def _fresh_submission(root):
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    (root / "submission").mkdir()
    return root / "submission"


def test_run_autograder_refuses_a_symlink_to_the_shipped_solution(autograder_root):
    """The zip ships the solution at a fixed path: a submitted link to it scores 0, with a message."""
    submission = _fresh_submission(autograder_root)
    (submission / f"{A}.ipynb").symlink_to(autograder_root / "source" / "solutions" / A / f"{A}.ipynb")
    done, data = _run_raw(autograder_root)
    assert done.returncode == 0, done.stderr
    check_results_schema(data)
    assert data["score"] == 0 and "symbolic link" in data["output"]


def test_run_autograder_ignores_a_symlinked_folder(autograder_root):
    submission = _fresh_submission(autograder_root)
    (submission / "work").symlink_to(autograder_root / "source" / "solutions" / A)
    done, data = _run_raw(autograder_root)
    check_results_schema(data)
    assert data["score"] == 0


def test_run_autograder_refuses_without_strong_isolation(autograder_root):
    submission = _fresh_submission(autograder_root)
    shutil.copy(ROOT / "examples" / "submissions" / A / "correct.ipynb", submission / f"{A}.ipynb")
    done, data = _run_raw(autograder_root, {"RNNKIT_NO_BWRAP": "1", "RNNKIT_ISOLATION": ""})
    assert done.returncode != 0 and "refusing" in done.stderr
    check_results_schema(data)
    assert data["score"] == 0 and "not set up safely" in data["output"]


def test_a_zip_built_for_weak_isolation_grades_without_bubblewrap(tmp_path):
    zip_path = gradescope.build_zip(A, tmp_path / "weak.zip", isolation="weak")
    with zipfile.ZipFile(zip_path) as zf:
        assert "export RNNKIT_ISOLATION=weak" in zf.read("run_autograder").decode()
        assert "bubblewrap" in zf.read("setup.sh").decode()


def test_the_zip_holds_an_installable_kit(tmp_path):
    """The kit inside the zip builds as a distribution (setup.sh pip-installs it) with every package the grader imports."""
    zip_path = gradescope.build_zip(A, tmp_path / "autograder.zip")
    source = tmp_path / "source"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "wheel"), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "wheel").glob("rnnkit-*.whl")
    with zipfile.ZipFile(wheel) as wf:
        packages = {name.split("/")[0] for name in wf.namelist() if name.endswith("__init__.py")}
    assert {"rnnkit", "rnnkit_grader", "rnnkit_child"} <= packages, packages
