"""The Gradescope autograder zip grades a submission in Gradescope's directory layout."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from rnnkit_grader import gradescope, live_results

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
        assert any(n.startswith(f"{gradescope.ANSWERS}/") and n.endswith(".json") for n in names)  # computed at build time
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
    assert not any(t["name"] == live_results.STOPPED for t in data["tests"])  # the final write replaced the partial one


def test_the_container_answers_the_reference_from_the_zip(autograder_root):
    """The reference answers shipped in the zip serve the grading: no reference child starts."""
    data = run_autograder(autograder_root, ROOT / "examples" / "submissions" / A / "correct.ipynb")
    assert data["score"] == 100
    assert data["extra_data"]["reference_child"] == "not started"


def test_a_global_timeout_leaves_the_tests_done_so_far(autograder_root, tmp_path):
    """Gradescope kills run_autograder at its global timeout: results.json then holds the tests graded
    so far, with their points, and a test saying that grading did not finish."""
    from conftest import make_submission

    hang = "def softmax_cross_entropy(logits, targets):\n    while True:\n        pass\n"
    notebook = make_submission(tmp_path, A, replace={"softmax_cross_entropy": hang})
    submission = _fresh_submission(autograder_root)
    shutil.copy(notebook, submission / f"{A}.ipynb")
    env = dict(os.environ, AUTOGRADER_ROOT=str(autograder_root), RNNKIT_BIN=str(Path(sys.executable).with_name("rnnkit")), RNNKIT_ROOT=str(autograder_root / "source"))
    proc = subprocess.Popen(["bash", str(autograder_root / "source" / "run_autograder")], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = autograder_root / "results" / "results.json"
    try:
        # The global timeout, forced short: it fires once grading is under way (the last unit hangs for 20 s).
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and len(json.loads(results.read_text())["tests"]) > 15:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "grading ended before the timeout fired"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    data = json.loads(results.read_text())
    check_results_schema(data)
    *graded, stopped = data["tests"]
    assert stopped["name"] == live_results.STOPPED and stopped["visibility"] == "visible" and "time limit" in stopped["output"]
    assert len(graded) > 15 and all(t["status"] == "passed" and t["score"] == t["max_score"] > 0 for t in graded)
    assert not any(t["name"].startswith("softmax_cross_entropy") for t in graded)
    assert data["score"] == sum(t["score"] for t in graded) and "stopped" in data["output"]


def test_hidden_tests_hold_back_all_but_the_public_checks(tmp_path):
    """--hidden-tests after_published: every test but those the suite marks public is held back, and the
    summary shows no points."""
    zip_path = gradescope.build_zip(A, tmp_path / "autograder.zip", hidden_tests="after_published", answers=False)
    with zipfile.ZipFile(zip_path) as zf:
        assert "--hidden-tests after_published" in zf.read("run_autograder").decode()
        zf.extractall(tmp_path / "source")
    suite = tmp_path / "source" / "autograder" / "suites" / f"test_{A}.py"
    text = suite.read_text()
    assert "\ndef test_rnn_step_forward_shape(" in text
    suite.write_text(text.replace("\ndef test_rnn_step_forward_shape(", "\n@pytest.mark.public\ndef test_rnn_step_forward_shape(", 1))
    data = run_autograder(tmp_path, ROOT / "examples" / "submissions" / A / "correct.ipynb")
    check_results_schema(data)
    shown = {t["name"] for t in data["tests"] if t["visibility"] == "visible"}
    assert len(shown) == 1 and next(iter(shown)).startswith("rnn_step_forward:"), shown
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_published"}
    assert data["score"] == 100 and "100" not in data["output"] and "after_published" in data["output"]


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
    zip_path = gradescope.build_zip(A, tmp_path / "weak.zip", isolation="weak", answers=False)
    with zipfile.ZipFile(zip_path) as zf:
        assert "export RNNKIT_ISOLATION=weak" in zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
        assert "bubblewrap" in setup
        # The student's child runs as nobody there: the suites, solutions, grader and shipped answers are root's only.
        chmod = setup[setup.index("chmod -R go-rwx"):].split("||")[0]
        assert all(part in chmod for part in ("autograder/suites", "solutions", "rnnkit_grader", gradescope.ANSWERS))


def test_the_zip_holds_an_installable_kit(tmp_path):
    """The kit inside the zip builds as a distribution (setup.sh pip-installs it) with every package the grader imports."""
    zip_path = gradescope.build_zip(A, tmp_path / "autograder.zip", answers=False)
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
