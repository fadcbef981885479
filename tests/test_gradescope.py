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
