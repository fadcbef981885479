"""The sandbox seen from inside the child: an allow-list, sized writable space, deadlines,
and a child that dies with its grader.

Each test runs real code in a real child (bubblewrap where installed; CI installs it)
and asks it what it can see, read, write and reach. The kit runs from its checkout
(outside /tmp in a real install), and a fake course folder is made outside /tmp too,
so nothing here passes merely because bubblewrap's private /tmp hides it.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rnnkit_grader import assignments, isolation
from rnnkit_grader import sandbox
from rnnkit_grader.sandbox import Limits, SandboxError, SubmissionProcess

needs_bwrap = pytest.mark.skipif(not isolation.strong_isolation(), reason="bubblewrap is not available")
FAST = Limits(memory_bytes=2 * 2**30, call_seconds=20, total_seconds=90, startup_seconds=30)

SPY = textwrap.dedent(
    '''
    import os, socket, importlib

    def exists(paths):
        return {p: os.path.exists(p) for p in paths}

    def readable(paths):
        found = {}
        for p in paths:
            try:
                with open(p, "rb") as handle:
                    found[p] = len(handle.read(16)) >= 0
            except OSError:
                found[p] = False
        return found

    def importable(names):
        found = {}
        for name in names:
            try:
                importlib.import_module(name)
                found[name] = True
            except Exception:
                found[name] = False
        return found

    def listing(path):
        try:
            return sorted(os.listdir(path))
        except OSError as exc:
            return ["<" + type(exc).__name__ + ">"]

    def fill(folder, mib):
        """How many MiB could be written under folder (in files of 16 MiB) before writing failed."""
        written = 0
        block = b"x" * 2**20
        try:
            for n in range(mib // 16):
                with open(os.path.join(folder, f"fill{n}.bin"), "wb") as handle:
                    for _ in range(16):
                        handle.write(block)
                        handle.flush()
                        written += 1
        except OSError:
            pass
        return written

    def connect(host, port):
        try:
            socket.create_connection((host, port), timeout=2).close()
            return "connected"
        except OSError as exc:
            return type(exc).__name__
    '''
)


@pytest.fixture(scope="module")
def course_outside_tmp():
    """A course folder with a secret in it, outside /tmp (beside the checkout)."""
    folder = assignments.ROOT / "out" / f"sandbox-test-{os.getpid()}"
    (folder / "submitted" / "alice" / "01_rnn_numpy").mkdir(parents=True, exist_ok=True)
    secret = folder / "gradebook.db"
    secret.write_text("secret")
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def child(role="student", hide=()):
    return SubmissionProcess([("spy", SPY)], FAST, role=role, hide=hide)


@pytest.fixture(params=["template", "plain"])
def start(request, monkeypatch):
    """The student's child forked from the pre-started template (the default), or started from scratch."""
    monkeypatch.setenv(sandbox.TEMPLATE_ENV, "1" if request.param == "template" else "0")
    return request.param


@needs_bwrap
def test_the_child_sees_only_what_it_needs(course_outside_tmp, start):
    root = assignments.ROOT
    private = [root / "solutions", root / "autograder" / "suites", root / "tools", root / ".git", root / "examples",
               root / "tests", root / "assignments", root / "README.md", course_outside_tmp, Path.home() / ".bash_history",
               Path("/etc/passwd"), Path("/etc/shadow"), Path("/root"), Path("/home"), Path("/var"), Path("/work") / "shared"]
    with child() as process:
        seen = process.call("exists", [str(p) for p in private])
        top = process.call("listing", "/")
        kit_dir = process.call("listing", str(root))
    leaked = [p for p, there in seen.items() if there and p not in (str(Path.home()), "/root")]
    assert not leaked, f"the child can see {leaked}"
    assert set(top) <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "dev", "proc", "tmp", "scratch",
                        "kit", "data", *{p.parts[1] for p in isolation.python_paths()}}, top
    # Of the kit checkout only the virtual environment (the interpreter's packages) may be there.
    assert set(kit_dir) <= {".venv", "<FileNotFoundError>"}, kit_dir


@needs_bwrap
def test_home_holds_only_the_interpreter(start):
    """A pyenv interpreter under root's home is bound alone: nothing else of the home is there."""
    with child() as process:
        home = process.call("listing", str(Path.home()))
    allowed = {p.relative_to(Path.home()).parts[0] for p in isolation.python_paths() if Path.home() in p.parents}
    assert set(home) <= allowed | {"<FileNotFoundError>"}, home


@needs_bwrap
def test_no_grader_code_and_no_mnist_labels_for_the_student(start):
    from rnnkit import mnist

    names = ["rnnkit_grader", "rnnkit_grader.reference", "rnnkit_grader.runner", "rnnkit", "rnnkit_child", "rnnkit_child.probes"]
    sample = str(mnist.sample_file())
    with child() as process:
        imports = process.call("importable", names)
        reads = process.call("readable", [sample])
    assert imports == {n: n.startswith(("rnnkit_child", "rnnkit")) and not n.startswith("rnnkit_grader") for n in names}, imports
    assert reads == {sample: False}, "the student's child can read the MNIST file that holds the test labels"


@needs_bwrap
def test_the_reference_child_may_import_its_probes():
    with child(role="reference") as process:
        assert process.call("importable", ["rnnkit_grader.reference", "rnnkit_child.probes"]) == {
            "rnnkit_grader.reference": True, "rnnkit_child.probes": True}


@needs_bwrap
def test_writable_space_is_sized(start):
    with child() as process:
        scratch = process.call("fill", ".", 1024)
        tmp = process.call("fill", "/tmp", 1024)
        root = process.call("fill", "/usr", 16)
    assert scratch <= isolation.SCRATCH_BYTES >> 20 and tmp <= isolation.TMP_BYTES >> 20 and root == 0, (scratch, tmp, root)


@needs_bwrap
def test_no_network(start):
    with child() as process:
        assert process.call("connect", "127.0.0.1", 22) in ("ConnectionRefusedError", "OSError")
        assert process.call("connect", "1.1.1.1", 53) != "connected"


def test_a_child_that_stops_reading_cannot_stall_the_grader():
    """A cell that replaces the child's request reader: the next large request meets a deadline."""
    stall = "import sys, time\nsys.modules['rnnkit_child.codec'].read_message = lambda stream: time.sleep(10**6)\ndef f(x):\n    return 1\n"
    limits = Limits(memory_bytes=2 * 2**30, call_seconds=3, total_seconds=60, startup_seconds=30)
    with SubmissionProcess([("stall", stall)], limits) as process:
        process.start()
        t0 = time.monotonic()
        with pytest.raises(SandboxError) as raised:
            process.call("f", np.zeros(2_000_000))  # 16 MB: far more than a pipe holds
        assert time.monotonic() - t0 < 10
    assert raised.value.kind == "timeout"


def test_one_wall_clock_limit_per_submission():
    """However the time is spread over requests, the submission's child gets total_seconds in all."""
    slow = "import time\ndef f():\n    time.sleep(1.5)\n    return 1\n"
    limits = Limits(memory_bytes=2 * 2**30, call_seconds=5, total_seconds=4, startup_seconds=30)
    with SubmissionProcess([("slow", slow)], limits) as process:
        t0 = time.monotonic()
        outcomes = []
        for _ in range(6):
            try:
                outcomes.append(process.call("f"))
            except SandboxError as exc:
                outcomes.append(exc.kind)
        assert time.monotonic() - t0 < limits.total_seconds + 3
    assert outcomes[:2] == [1, 1] and outcomes[-1] == "budget", outcomes


def test_the_child_dies_with_its_grader(tmp_path):
    """SIGKILL the grading process: its sandboxed child (and the child's own children) go too."""
    pidfile = tmp_path / "pids"
    script = textwrap.dedent(
        f"""
        import sys, time
        from rnnkit_grader.sandbox import Limits, SubmissionProcess
        cells = [("c", "import os, subprocess\\ndef pids():\\n    p = subprocess.Popen(['sleep', '1000'])\\n    return [os.getpid(), p.pid]\\n")]
        process = SubmissionProcess(cells, Limits(memory_bytes=2 * 2**30, call_seconds=20, total_seconds=600, startup_seconds=30))
        process.call("pids")
        from rnnkit_grader import isolation
        tree = [process.proc.pid] + isolation.descendants(process.proc.pid)
        open({str(pidfile)!r}, "w").write(" ".join(map(str, tree)))
        time.sleep(1000)
        """
    )
    grader = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    tree = [int(p) for p in pidfile.read_text().split()]
    assert len(tree) >= 2, tree
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    deadline = time.monotonic() + 10
    while (alive := [p for p in tree if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"processes of the child outlived the grader: {alive}"


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_weak_isolation_is_refused_unless_asked_for(monkeypatch):
    monkeypatch.setenv("RNNKIT_NO_BWRAP", "1")
    monkeypatch.delenv(isolation.WEAK_ENV, raising=False)
    with pytest.raises(isolation.IsolationRefused, match="--isolation weak"):
        isolation.require_strong("grade other people's work")
    isolation.require_strong("grade", explicit="weak")
    monkeypatch.setenv(isolation.WEAK_ENV, "weak")
    isolation.require_strong("grade")
    assert isolation.describe().startswith("WEAK")


def test_without_bubblewrap_a_root_grader_runs_the_child_as_another_user(monkeypatch, tmp_path):
    """The second line: no bubblewrap, grader as root: the child is `nobody` in a private folder."""
    monkeypatch.setenv("RNNKIT_NO_BWRAP", "1")
    if isolation.fallback_user() is None:
        pytest.skip("no unprivileged user can run this interpreter here (e.g. Python under root's home)")
    secret = tmp_path / "secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    with child() as process:
        assert process.call("readable", [str(secret)]) == {str(secret): False}
        assert process.call("exists", ["."]) == {".": True}


def test_a_reply_with_millions_of_values_is_refused_before_parsing():
    """Student code can write its own reply on the response descriptor: one that would become
    millions of Python objects in the grader is refused unread, whatever its byte size."""
    forge = textwrap.dedent(
        '''
        import os, struct
        def f():
            payload = b'{"value": [' + b"[]," * 3_000_000 + b'[]]}'
            fd = int(os.environ["RNNKIT_RESPONSE_FD"])
            os.write(fd, struct.pack(">I", len(payload)))
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os._exit(0)
        '''
    )
    with SubmissionProcess([("forge", forge)], FAST) as process:
        with pytest.raises(SandboxError) as raised:
            process.call("f")
    assert raised.value.kind == "protocol" and "JSON values" in str(raised.value), raised.value


def test_reference_work_on_a_submission_ends_at_that_submissions_deadline():
    """What a submission makes the shared reference child do is bounded by the submission's own time."""
    import types

    from rnnkit_grader.isolate import Reference
    from rnnkit_grader.results import GraderBug, GradingFailure

    reference = Reference(assignments.get("01_rnn_numpy"))
    reference.process = SubmissionProcess([("slow", "import time\ndef f(n):\n    time.sleep(n)\n    return n\n")], FAST, role="reference")
    try:
        reference.submission = types.SimpleNamespace(deadline=time.monotonic() + 2, limits=FAST)
        t0 = time.monotonic()
        with pytest.raises(GraderBug, match="no answer within 2 s"):
            reference.call("f", 30)
        assert time.monotonic() - t0 < 8
        reference.submission.deadline = time.monotonic() - 1
        with pytest.raises(GradingFailure, match="time budget"):
            reference.call("f", 1)
        reference.submission = None  # between submissions: only the per-call limit
        assert reference.call("f", 0.1) == 0.1
    finally:
        reference.close()


SHARE = textwrap.dedent(
    '''
    import os, socket

    def leave_traces():
        for folder in (".", "/tmp", "/dev/shm"):
            with open(os.path.join(folder, "trace"), "w") as handle:
                handle.write("from another submission")
        server = socket.socket(socket.AF_UNIX)
        server.bind("\\0rnnkit-trace")  # abstract sockets live in the network namespace
        server.listen()
        globals()["server"] = server
        return os.getpid()

    def traces():
        found = [f for f in ("trace", "/tmp/trace", "/dev/shm/trace") if os.path.exists(f)]
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect("\\0rnnkit-trace")
            found.append("abstract socket")
        except OSError:
            pass
        processes = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        return found, processes, os.getpid()
    '''
)


@needs_bwrap
def test_children_forked_from_one_template_share_nothing():
    """Two submissions' children from the same template: the second sees nothing the first left in its
    scratch, /tmp, /dev/shm or network namespace, nor any process but its own, while the first runs."""
    if not sandbox.templates_enabled():  # by design where the interpreter or the kit lives under /tmp
        pytest.skip("children are not forked from a template here (sandbox.templates_enabled: the kit or its Python is under /tmp)")
    first, second = (SubmissionProcess([("share", SHARE)], FAST) for _ in range(2))
    with first, second:
        assert first.call("leave_traces") == 2
        found, processes, pid = second.call("traces")
        assert first.forked and second.forked, "the student's child was not forked from the template"
    assert (found, processes, pid) == ([], [1, 2], 2), (found, processes)
