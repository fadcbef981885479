"""Hostile submissions: each is contained, scores no more than a blank answer for the
unit it attacks, and leaves the rest of the grading (and the machine) unharmed.

The strongest cases need bubblewrap (CI installs it); without it they are skipped
and `isolation.describe()` says what isolation is left.
"""

import os
import socket
import threading
import time

import pytest

from conftest import by_unit, messages
from rnnkit_grader import assignments, isolation
from rnnkit_grader.runner import grade_notebook
from rnnkit_grader.sandbox import Limits

A = "01_rnn_numpy"
FAST = Limits(memory_bytes=2 * 2**30, call_seconds=5, total_seconds=120, startup_seconds=30)
needs_bwrap = pytest.mark.skipif(isolation.bwrap_path() is None, reason="bubblewrap is not installed")


def attack(submission, unit, body, signature="indices, depth"):
    code = f"import os, sys, signal, socket, subprocess, numpy as np\ndef {unit}({signature}):\n" + "\n".join("    " + line for line in body.strip().splitlines()) + "\n"
    return grade_notebook(submission(A, replace={unit: code}), A, limits=FAST)


def assert_contained(result, unit="one_hot", rest=90):
    assert by_unit(result)[unit][0] == 0, messages(result, unit)
    assert result.score == rest, [(t.name, t.output) for t in result.tests if t.status != "passed" and t.unit != unit]


@pytest.mark.parametrize(
    "body",
    [
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
        "os.kill(os.getppid(), signal.SIGKILL)\nos.killpg(0, signal.SIGKILL)",
        "os.abort()",
        "import ctypes\nctypes.string_at(0)",
        "sys.stdout.write('x' * 10**6 * 50)\nsys.stdout.flush()\nreturn np.eye(depth, dtype=np.float32)[indices] * 0",
        "open('big.bin', 'wb').write(b'0' * (2 * 2**30))",
        "print('ALL TESTS PASSED: 100/100')\nraise SystemExit(0)",
    ],
    ids=["ignores-signals", "kills-parent", "abort", "segfault", "floods-output", "huge-file", "fakes-success"],
)
def test_contained(submission, body):
    assert_contained(attack(submission, "one_hot", body))


def test_fork_bomb(submission):
    body = "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    before = set(isolation.descendants(os.getpid()))  # e.g. multiprocessing's resource tracker from earlier tests
    assert_contained(attack(submission, "one_hot", body))
    deadline = time.monotonic() + 10  # killed processes take a moment to go on a loaded machine
    while (survivors := set(isolation.descendants(os.getpid())) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not survivors, f"processes of the submission survived: {sorted(survivors)}"


def test_lying_return_values(submission):
    body = (
        "class Liar(np.ndarray):\n"
        "    def __eq__(self, other):\n        return True\n"
        "class Sneaky:\n"
        "    def __eq__(self, other):\n        return True\n"
        "    def __array__(self, *a, **k):\n        return np.eye(depth, dtype=np.float32)[indices]\n"
        "np.allclose = lambda *a, **k: True\n"
        "np.array_equal = lambda *a, **k: True\n"
        "return Sneaky() if np.ndim(indices) == 1 else np.zeros(np.shape(indices) + (depth,), np.float32).view(Liar)"
    )
    assert_contained(attack(submission, "one_hot", body))


@needs_bwrap
def test_cannot_read_hidden_suites_or_solutions(submission):
    suite = str(assignments.get(A).suite)
    solution = str(assignments.get(A).solution)
    body = f"for path in ({suite!r}, {solution!r}):\n    open(path).read()\nreturn np.zeros(np.shape(indices) + (depth,), np.float32)"
    result = attack(submission, "one_hot", body)
    assert_contained(result)
    assert "No such file" in messages(result, "one_hot") or "FileNotFoundError" in messages(result, "one_hot")


@needs_bwrap
def test_cannot_write_outside_its_scratch_directory(submission, tmp_path):
    target = tmp_path / "planted.json"
    body = f"open({str(target)!r}, 'w').write('{{\"score\": 100}}')\nreturn np.zeros(np.shape(indices) + (depth,), np.float32)"
    assert_contained(attack(submission, "one_hot", body))
    assert not target.exists()


@needs_bwrap
def test_no_network(submission):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    body = f"s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nreturn np.zeros(np.shape(indices) + (depth,), np.float32)"
    result = attack(submission, "one_hot", body)
    server.close()
    assert_contained(result)
    assert not accepted, "the child reached a socket on the host"


@needs_bwrap
def test_deleting_files_harms_nothing(submission, tmp_path):
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    body = f"import shutil\nshutil.rmtree('..', ignore_errors=True)\nshutil.rmtree({str(tmp_path)!r}, ignore_errors=True)\nos.remove({str(keep)!r})"
    assert_contained(attack(submission, "one_hot", body))
    assert keep.read_text() == "precious"


def test_exit_at_import_time(submission):
    """A cell that kills its process while the cells run: every test still gets a result and a message."""
    code = "import os, numpy as np\nSTOP = os._exit(3)\n" + "def one_hot(indices, depth):\n    return np.zeros(np.shape(indices) + (depth,), np.float32)\n"
    result = grade_notebook(submission(A, replace={"one_hot": code}), A, limits=FAST)
    assert result.score == 0
    assert "died" in messages(result, "rnn_forward")


def test_hostile_submission_in_a_batch_costs_no_one_else(submission, tmp_path):
    from rnnkit_grader import batch

    root = tmp_path / "course" / "submitted"
    bomb = "import os\ndef one_hot(indices, depth):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n"
    for student, replace in (("mallory", {"one_hot": bomb}), ("alice", {}), ("bob", {})):
        folder = root / student / A
        folder.mkdir(parents=True)
        (folder / f"{A}.ipynb").write_bytes(submission(A, replace=replace, name=f"{student}.ipynb").read_bytes())
    batch.run_batch(tmp_path / "course", tmp_path / "out", jobs=2, progress=False)
    gradebook = (tmp_path / "out" / "gradebook.csv").read_text().splitlines()
    assert "alice,100.0,100.0" in gradebook and "bob,100.0,100.0" in gradebook
    assert "mallory,90.0,90.0" in gradebook


# One hostile one_hot of each kind (the rest of the notebook is correct, so each should score 90).
ATTACKS = {
    "reader": "import glob\ndef one_hot(indices, depth):\n    found = glob.glob('/**/solutions/**/*.ipynb', recursive=True) + glob.glob('/**/tools/variants/*.py', recursive=True)\n    ns = {}\n    exec(open(found[0]).read() if found else 'raise RuntimeError(\"nothing\")', ns)\n    return ns['one_hot'](indices, depth)\n",
    "importer": "def one_hot(indices, depth):\n    import importlib\n    for name in ('rnnkit_grader.reference.numeric', 'rnnkit_grader.runner', 'tools.variants.v01_rnn_numpy'):\n        importlib.import_module(name)\n    raise RuntimeError('no kit code found')\n",
    "patcher": "import sys, numpy as np\nsys.modules['rnnkit_child.codec'].to_data = lambda value, _depth=0: {'__ndarray__': 'forged'}\ndef one_hot(indices, depth):\n    return np.zeros(np.shape(indices) + (depth,), np.float32)\n",
    "flooder": "def one_hot(indices, depth):\n    raise ValueError('x' * 50_000_000)\n",
    "filler": "import os\ndef one_hot(indices, depth):\n    block = b'0' * 2**20\n    for n in range(10_000):\n        with open(f'fill{n}', 'wb') as f:\n            f.write(block * 32)\n",
    "constant": "import numpy as np\ndef one_hot(indices, depth):\n    return np.eye(4, dtype=np.float32)[[0, 1, 2]]\n",
}


@needs_bwrap
def test_a_batch_of_every_kind_of_attack_grades_the_honest_students_in_full(submission, tmp_path):
    """Reading the kit, importing it, forging the child's replies, flooding text, filling the disk, a constant,
    a symlink to the solution: each costs only its own one_hot; alice and bob get 100. (A child that stalls
    the request channel: tests/test_sandbox.py; hanging and dying workers: tests/test_hostile_input.py.)"""
    from rnnkit_grader import batch

    root = tmp_path / "course" / "submitted"
    students = {"alice": {}, "bob": {}, **{name: {"one_hot": code} for name, code in ATTACKS.items()}}
    for student, replace in students.items():
        folder = root / student / A
        folder.mkdir(parents=True)
        (folder / f"{A}.ipynb").write_bytes(submission(A, replace=replace, name=f"{student}.ipynb").read_bytes())
    linker = root / "linker" / A
    linker.mkdir(parents=True)
    (linker / f"{A}.ipynb").symlink_to(assignments.get(A).solution)
    batch.run_batch(tmp_path / "course", tmp_path / "out", jobs=2, progress=False)
    rows = dict(line.split(",", 1) for line in (tmp_path / "out" / "gradebook.csv").read_text().splitlines()[1:])
    assert rows["alice"] == "100.0,100.0" and rows["bob"] == "100.0,100.0", rows
    assert rows["linker"] == "0.0,0.0", rows
    for name in ATTACKS:
        assert float(rows[name].split(",")[0]) <= 90.0, (name, rows[name])
    report = tmp_path / "out" / A / "flooder" / "results.json"
    assert report.stat().st_size < 2**20


@needs_bwrap
def test_private_tmp_keeps_a_kit_installed_under_tmp(tmp_path, monkeypatch):
    """A checkout under /tmp (a fresh clone there) stays importable; the rest of /tmp is not visible."""
    import subprocess

    if not str(tmp_path.resolve()).startswith("/tmp/"):
        pytest.skip("pytest's temporary folder is not under /tmp here")
    kit = tmp_path / "clone" / ".venv"
    kit.mkdir(parents=True)
    (kit / "marker").write_text("kit")
    secret = tmp_path / "clone" / "solutions"
    secret.mkdir()
    (secret / "answer").write_text("secret")
    paths = isolation.python_paths() + [kit.resolve()]
    monkeypatch.setattr(isolation, "python_paths", lambda: paths)
    script = f"cat {kit}/marker; echo; cat {secret}/answer 2>/dev/null || echo hidden"
    done = subprocess.run(isolation.bwrap_command("student") + ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert done.stdout.split() == ["kit", "hidden"], done.stdout + done.stderr
