"""Run a submission's code in a child process and talk to it with data only.

`SubmissionProcess` owns one child per submission and assignment: it starts the
child in a scratch directory with resource limits (address space, CPU time, file
size, processes), sends it the submission's cells once, and then serves every test's
requests from that child. A request that runs past its time limit, a child that
dies (exit, segfault, out of memory) or one that sends garbage ends that request with
a `SandboxError`; the whole process group is killed and the next request gets a fresh
child with the cells run again. Output the child prints is drained and capped.

Where bubblewrap works, a student's child is not started from scratch: `ChildTemplate` keeps
one pre-started process per sandbox view (the same bwrap command, run once) with the imports
done (NumPy, and TensorFlow and Keras where the assignment preloads them), and forks each
submission's child from it into namespaces, scratch, /tmp and limits of its own
(`rnnkit_child/template.py` says how). The reference child, and every child without
bubblewrap, is started as before. RNNKIT_CHILD_TEMPLATE=0 turns the template off.
"""

import atexit
import contextlib
import dataclasses
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rnnkit_child import codec
from rnnkit_grader import isolation


@dataclasses.dataclass
class Limits:
    """Resource limits for one submission's child."""

    memory_bytes: int = 4 * 2**30  # address space; TensorFlow needs about 2.2 GiB of it
    call_seconds: float = 60.0  # one request (one unit call or probe)
    total_seconds: float = 600.0  # everything the submission runs, restarts included
    startup_seconds: float = 60.0  # running the setup and unit cells
    file_bytes: int = 64 * 2**20
    processes: int = 512
    open_files: int = 4096
    output_bytes: int = 64 * 2**10  # what is kept of the child's stdout and stderr
    preload_tf: bool = False  # import TensorFlow in the child before the student's code
    threads: int = 1  # TensorFlow intra- and inter-op threads in the child
    # Top-level packages of the environment the child may import (None: all installed). Under
    # bubblewrap everything else is absent from its view (isolation.bwrap_command); without it the
    # child refuses to import isolation.FRAMEWORKS (a courtesy only: a weak child can read anything).
    packages: tuple | None = None


STUDENT_PROBES = "rnnkit_child.probes"
REFERENCE_PROBES = "rnnkit_grader.reference,rnnkit_child.probes"


class SandboxError(Exception):
    """The child could not answer: timed out, died, or broke the protocol."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind  # "timeout", "crash", "protocol", "budget"


class StudentError(Exception):
    """The student's code raised; `info` has type, message and traceback."""

    def __init__(self, info):
        super().__init__(f"{info.get('type')}: {info.get('message')}")
        self.info = info


class UnitMissing(Exception):
    """The unit is not defined in the submission."""


def child_environment(extra=None, home=None):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": home or tempfile.gettempdir(),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "MPLBACKEND": "Agg",
        "KERAS_BACKEND": "tensorflow",
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
    }
    for var in ("VIRTUAL_ENV", "KERAS_HOME"):
        if var in os.environ:
            env[var] = os.environ[var]
    env.update(extra or {})
    return env


_LAUNCHER = {"pid": None, "thread": None, "queue": None}
_LAUNCH_LOCK = threading.Lock()


def launch(*args, **kwargs):
    """subprocess.Popen(*args, **kwargs), run on one long-lived thread of this process.

    A child asks to be killed when its parent dies (bubblewrap's --die-with-parent and our own
    PR_SET_PDEATHSIG). Linux sends that signal when the *thread* that forked the child ends, so
    children are forked only by this thread, which lives as long as the process: the child
    dies with the grader, not with whichever short-lived thread started it.
    """
    import queue

    with _LAUNCH_LOCK:
        if _LAUNCHER["pid"] != os.getpid() or not _LAUNCHER["thread"].is_alive():
            requests = queue.Queue()

            def serve():
                while True:
                    job = requests.get()
                    try:
                        job["result"] = subprocess.Popen(*job["args"], **job["kwargs"])
                    except BaseException as exc:  # handed back to the caller
                        job["error"] = exc
                    job["done"].set()

            thread = threading.Thread(target=serve, name="rnnkit-launcher", daemon=True)
            thread.start()
            _LAUNCHER.update(pid=os.getpid(), thread=thread, queue=requests)
        requests = _LAUNCHER["queue"]
    job = {"args": args, "kwargs": kwargs, "done": threading.Event()}
    requests.put(job)
    job["done"].wait()
    if "error" in job:
        raise job["error"]
    return job["result"]

TEMPLATE_ENV = "RNNKIT_CHILD_TEMPLATE"


def templates_enabled():
    """Whether children are forked from a template: not with RNNKIT_CHILD_TEMPLATE=0, and not while
    the interpreter or the kit lives under /tmp (each fork gets a fresh /tmp, which would hide them;
    the plain start binds them over its private /tmp)."""
    if os.environ.get(TEMPLATE_ENV, "1").strip() == "0":
        return False
    tmp = Path("/tmp").resolve()
    roots = [*isolation.python_paths(), *isolation.kit_packages("student").values()]
    return not any(Path(r).resolve() == tmp or tmp in Path(r).resolve().parents for r in roots)


class TemplateError(Exception):
    """The template could not start or fork a child; the plain start is used instead."""


class ForkedChild:
    """A child forked from a ChildTemplate, with the parts of subprocess.Popen that SubmissionProcess uses."""

    def __init__(self, pid, stdin, stdout, status_fd):
        self.pid = pid  # the host pid of the fork (the namespace's parent): its tree is the child
        self.stdin = stdin
        self.stdout = stdout
        self._status_fd = status_fd
        self.returncode = None

    def wait(self, timeout=None):
        """The server's exit status (negative: a signal); a tree killed before it could say is -SIGKILL."""
        if self.returncode is not None:
            return self.returncode
        if self._status_fd is not None:
            ready, _, _ = select.select([self._status_fd], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired("child", timeout)
            data = b""
            while len(data) < 4:
                chunk = os.read(self._status_fd, 4 - len(data))
                if not chunk:
                    break
                data += chunk
            os.close(self._status_fd)
            self._status_fd = None
            self.returncode = struct.unpack(">i", data)[0] if len(data) == 4 else -signal.SIGKILL
        return self.returncode


def template_command(view):
    """The template's bwrap command: the student's view, as uid 0 of bwrap's own user namespace with
    CAP_SYS_ADMIN there only (it makes each child's namespaces and mounts; the child itself runs as
    nobody in a user namespace of its own, with no capability, as under bwrap)."""
    command = list(view)
    for flag in ("--uid", "--gid"):
        if flag in command:
            command[command.index(flag) + 1] = "0"
    return command[:1] + ["--cap-add", "CAP_SYS_ADMIN"] + command[1:]


class ChildTemplate:
    """A pre-started process in one sandbox view, with the child's imports done; forks children."""

    def __init__(self, view, preload_tf, env, startup_seconds):
        self.view = list(view)
        self._lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        env = dict(env, RNNKIT_TEMPLATE_FD=str(theirs.fileno()), RNNKIT_PRELOAD_TF="1" if preload_tf else "0")
        try:
            command = template_command(self.view)
            self.proc = launch(command + [sys.executable, "-u", "-m", "rnnkit_child.template"], pass_fds=(theirs.fileno(),),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/",
                               env=env, start_new_session=True)
        except OSError as exc:
            raise TemplateError(f"could not start the child template: {exc}") from None
        finally:
            theirs.close()
        ours.settimeout(startup_seconds)
        try:
            ready = ours.recv(4096)
        except OSError:
            ready = b""
        if b"ready" not in ready:
            self.close()
            raise TemplateError("the child template did not start")
        self.proc.stderr.close()

    def alive(self):
        return self.proc.poll() is None

    def fork(self, env, timeout, scratch_bytes=isolation.SCRATCH_BYTES, tmp_bytes=isolation.TMP_BYTES):
        """A ForkedChild with env as its whole environment (its responses on fd 3) and the response pipe's read end."""
        pipes = [os.pipe() for _ in range(4)]  # requests, output, responses, status
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0]]
        request = json.dumps({"env": env, "scratch_bytes": int(scratch_bytes), "tmp_bytes": int(tmp_bytes)}).encode()
        try:
            with self._lock:
                self._control.settimeout(timeout)
                socket.send_fds(self._control, [request], theirs)
                answer = json.loads(self._control.recv(4096) or b"{}")
        except (OSError, ValueError) as exc:
            for fd in ours:
                os.close(fd)
            raise TemplateError(f"the child template did not answer: {exc}") from None
        finally:
            for fd in theirs:
                os.close(fd)
        pid = self._host_pid(answer.get("pid"))
        if pid is None:
            for fd in ours:
                os.close(fd)
            raise TemplateError(f"the child template could not fork: {answer.get('error', answer)}")
        child = ForkedChild(pid, open(ours[0], "wb", buffering=0), open(ours[1], "rb"), ours[3])
        return child, ours[2]

    def _host_pid(self, pid_in_template):
        """The host pid of the template's child numbered pid_in_template in the template's namespace."""
        if not isinstance(pid_in_template, int):
            return None
        for pid in isolation.descendants(self.proc.pid):
            try:
                with open(f"/proc/{pid}/status") as handle:
                    for line in handle:
                        if line.startswith("NSpid:"):
                            ids = line.split()[1:]
                            if len(ids) == 2 and ids[1] == str(pid_in_template):
                                return pid
                            break
            except OSError:
                continue
        return None

    def close(self):
        with contextlib.suppress(OSError):
            self._control.close()
        for pid in [self.proc.pid, *isolation.descendants(self.proc.pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()


_TEMPLATES = {}  # (grader pid, view, preload_tf) -> ChildTemplate
_TEMPLATES_LOCK = threading.Lock()


def child_template(view, preload_tf, env, startup_seconds):
    """The live template for this sandbox view, started on first use; None where it can't start."""
    key = (os.getpid(), tuple(view), bool(preload_tf))
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(key)
        if template is not None and not template.alive():
            template.close()
            template = _TEMPLATES.pop(key)  # died: start another
            template = None
        if template is None and key not in _TEMPLATES:
            try:
                template = ChildTemplate(view, preload_tf, env, startup_seconds)
            except TemplateError:
                _TEMPLATES[key] = None  # not again in this process: the plain start works
                return None
            _TEMPLATES[key] = template
        return template


def close_templates():
    with _TEMPLATES_LOCK:
        for key, template in list(_TEMPLATES.items()):
            if template is not None and key[0] == os.getpid():
                with contextlib.suppress(Exception):
                    template.close()
        _TEMPLATES.clear()


atexit.register(close_templates)


class SubmissionProcess:
    """One sandboxed child running one submission's cells."""

    def __init__(self, cells, limits=None, label="submission", hide=(), role="student"):
        self.cells = list(cells)  # [(name, source)]
        if role not in ("student", "reference"):
            raise ValueError(f"role must be 'student' or 'reference', not {role!r}")
        self.role = role  # the reference child may import the reference-only probes; the student's never
        self.hide = list(hide)  # paths the child must not see (where bubblewrap is available)
        self._cgroup = None
        self.limits = limits or Limits()
        self.label = label
        self.proc = None
        self.cell_errors = {}  # cell name -> error info, from the first successful start
        self.started_once = False
        self.time_used = 0.0
        self.startup_seconds = None
        self.restarts = 0
        self.peak_rss_mib = 0.0  # the largest process of the child's tree, over all its starts
        self._output = bytearray()
        self._scratch = None  # a host folder, only where there is no bubblewrap (which gives a sized tmpfs)
        self.deadline = None  # wall clock, set when the student's child first starts
        self.start_failure = None  # a child that could not even run the cells is not retried
        self.forked = False  # whether a start was forked from a pre-started template

    # ---- lifecycle -------------------------------------------------------------

    def start(self):
        if self.proc is not None:
            return
        if self.start_failure is not None:
            raise self.start_failure
        try:
            self._start()
        except SandboxError as exc:
            self.start_failure = exc
            raise

    def _start(self):
        self._check_budget()
        if self.deadline is None and self.role == "student":
            # One wall-clock limit for the whole submission, whatever it does between requests.
            self.deadline = time.monotonic() + self.limits.total_seconds
        read_fd, write_fd = os.pipe()
        bwrap = isolation.bwrap_command(self.role, self.hide, packages=self.limits.packages)
        user = None
        if bwrap:
            cwd, home, extra = "/", None, isolation.child_env(self.role)
        else:
            self._scratch = tempfile.mkdtemp(prefix="rnnkit-child-")  # mode 0700
            user = isolation.fallback_user() if self.role == "student" else None  # the reference runs kit code only
            if user is not None:
                os.chown(self._scratch, *user)
            cwd, home, extra = self._scratch, self._scratch, {}
        env = child_environment(
            {
                "RNNKIT_RESPONSE_FD": str(write_fd),
                "RNNKIT_LIMIT_AS": str(self.limits.memory_bytes),
                "RNNKIT_LIMIT_CPU": str(int(self.limits.total_seconds) + 5),
                "RNNKIT_LIMIT_FSIZE": str(self.limits.file_bytes),
                "RNNKIT_LIMIT_NPROC": str(self.limits.processes),
                "RNNKIT_LIMIT_NOFILE": str(self.limits.open_files),
                "RNNKIT_PRELOAD_TF": "1" if self.limits.preload_tf else "0",
                "RNNKIT_THREADS": str(self.limits.threads),
                "RNNKIT_PROBE_PACKAGES": REFERENCE_PROBES if self.role == "reference" else STUDENT_PROBES,
                "RNNKIT_BLOCKED_MODULES": ",".join(isolation.FRAMEWORKS) if self.limits.packages is not None else "",
                **extra,
            },
            home=home,
        )
        t0 = time.monotonic()
        command = bwrap + [sys.executable, "-u", "-m", "rnnkit_child"]
        self._cgroup = isolation.ChildCgroup(
            f"rnnkit-{os.getpid()}-{id(self)}-{self.restarts}",
            memory_bytes=self.limits.memory_bytes + isolation.SCRATCH_BYTES + isolation.TMP_BYTES,
        )
        self.proc = self._fork_from_template(bwrap, env) if bwrap and self.role == "student" and templates_enabled() else None
        if self.proc is not None:
            os.close(read_fd)
            os.close(write_fd)
            read_fd = self._template_responses
        else:
            try:
                self.proc = launch(
                    command,
                    preexec_fn=self._cgroup.join_hook(user),  # cgroups before exec, so every descendant is in them
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,),
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                os.close(read_fd)
                raise SandboxError(f"could not start the child: {exc}", "crash") from None
            finally:
                os.close(write_fd)
        os.set_blocking(self.proc.stdin.fileno(), False)  # every write has a deadline (_write_all)
        self._responses = read_fd
        self._output = bytearray()
        self._drain = threading.Thread(target=self._drain_output, args=(self.proc.stdout,), daemon=True)
        self._drain.start()
        if self.started_once:
            self.restarts += 1
        answer = self._request(
            {"op": "exec", "cells": [{"name": n, "source": s} for n, s in self.cells]},
            self.limits.startup_seconds,
            what="running the notebook's cells",
        )
        errors = {c["name"]: c["error"] for c in answer.get("cells", []) if isinstance(c, dict) and "error" in c}
        if not self.started_once:
            self.cell_errors = errors
            self.startup_seconds = time.monotonic() - t0
        self.started_once = True

    def _fork_from_template(self, view, env):
        """The child forked from the template of this sandbox view (started on first use), put in its
        cgroups before it makes its namespaces; None where there is no template (then the plain start)."""
        template_env = {k: v for k, v in env.items() if not k.startswith("RNNKIT_LIMIT_") and k != "RNNKIT_RESPONSE_FD"}
        template = child_template(view, self.limits.preload_tf, template_env, max(self.limits.startup_seconds, 60.0))
        if template is None:
            return None
        try:
            child, self._template_responses = template.fork(dict(env, RNNKIT_RESPONSE_FD="3"), timeout=30.0)
        except TemplateError:
            return None
        try:
            self._cgroup.add(child.pid)
            child.stdin.write(b"G")  # go: make the namespaces, then serve
        except OSError:
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGKILL)
            for stream in (child.stdin, child.stdout):
                stream.close()
            os.close(self._template_responses)
            child.wait()
            return None
        self.forked = True
        return child

    def close(self):
        proc, self.proc = self.proc, None
        if proc is not None:
            tree = [proc.pid, *isolation.descendants(proc.pid)]
            self.peak_rss_mib = max(self.peak_rss_mib, isolation.peak_rss_mib(tree))
            for pid in tree:  # bubblewrap's namespace init dies with its tree
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if self._cgroup is not None:
                self._cgroup.kill_all()
                self._cgroup.remove()
                self._cgroup = None
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            os.close(self._responses)
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- requests --------------------------------------------------------------

    def call(self, unit, *args, timeout=None, **kwargs):
        """Call the submission's `unit` with data arguments; return its value as data."""
        return self._unit_request(
            {"op": "call", "unit": unit, "args": codec.to_data(list(args)), "kwargs": codec.to_data(kwargs)},
            timeout,
            f"calling {unit}",
            unit,
        )

    def probe(self, name, timeout=None, **kwargs):
        """Run the kit's probe `module.function` on the submission's namespace."""
        return self._unit_request(
            {"op": "probe", "probe": name, "kwargs": codec.to_data(kwargs)}, timeout, f"probe {name}", None
        )

    def output_tail(self, limit=2000):
        text = bytes(self._output).decode("utf-8", "replace")
        return text[-limit:]

    def _unit_request(self, message, timeout, what, unit):
        self.start()
        answer = self._request(message, timeout or self.limits.call_seconds, what)
        if "error" in answer:
            info = answer["error"] if isinstance(answer["error"], dict) else {"type": "Error", "message": str(answer["error"])}
            if info.get("type") == "UnitMissing":
                raise UnitMissing(unit or info.get("message"))
            raise StudentError(info)
        if "value" not in answer:
            raise SandboxError(f"the child sent no value while {what}", "protocol")
        try:
            return codec.from_data(answer["value"])
        except codec.ProtocolError as exc:
            raise SandboxError(f"the child sent an invalid value while {what}: {exc}", "protocol") from None

    def _check_budget(self):
        if self.role == "reference":  # serves a whole batch: each of its requests has its own time limit
            return
        if self.time_used >= self.limits.total_seconds or (self.deadline is not None and time.monotonic() >= self.deadline):
            raise SandboxError(
                f"the submission used up its time budget of {self.limits.total_seconds:.0f} s", "budget"
            )

    def _request(self, message, timeout, what):
        self._check_budget()
        if self.role != "reference":
            timeout = min(timeout, self.limits.total_seconds - self.time_used)
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
        t0 = time.monotonic()
        try:
            self._write_all(codec.encode_message(message), t0, timeout)
            header = self._read_exact(4, t0, timeout)
            (size,) = struct.unpack(">I", header)
            student = self.role != "reference"
            limit = codec.MAX_REPLY_BYTES if student else codec.MAX_MESSAGE_BYTES
            if size > limit:
                raise SandboxError(f"the child sent a message of {size} bytes (the limit is {limit}) while {what}", "protocol")
            return codec.decode_payload(self._read_exact(size, t0, timeout), codec.MAX_REPLY_VALUES if student else None)
        except SandboxError as exc:
            self._fail(exc, what)
        except codec.ProtocolError as exc:
            self._fail(SandboxError(str(exc), "protocol"), what)
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            self._fail(SandboxError(f"lost the child: {exc}", "crash"), what)
        finally:
            self.time_used += time.monotonic() - t0

    def _write_all(self, data, t0, timeout):
        """Write a request to a child that may have stopped reading: never past the deadline."""
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                raise SandboxError(f"the child stopped reading its requests; gave up after {timeout:.0f} s", "timeout")
            _, ready, _ = select.select([], [fd], [], left)
            if not ready:
                continue
            try:
                view = view[os.write(fd, view[: 1 << 20]):]
            except BlockingIOError:
                continue

    def _read_exact(self, n, t0, timeout):
        chunks = []
        while n:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                raise SandboxError(f"no answer within {timeout:.0f} s", "timeout")
            ready, _, _ = select.select([self._responses], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._responses, min(n, 1 << 20))
            if not chunk:
                raise SandboxError("the child ended", "crash")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _fail(self, exc, what):
        proc = self.proc
        returncode = None
        if exc.kind == "crash" and proc is not None:
            try:
                returncode = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        self.close()
        if exc.kind == "timeout":
            message = f"timed out while {what}: {exc}"
        elif exc.kind == "crash":
            message = f"the process running the submission died while {what}{describe_exit(returncode)}"
        else:
            message = f"{exc} (while {what})"
        raise SandboxError(message, exc.kind) from None

    def _drain_output(self, stream):
        keep = self.limits.output_bytes
        buf = self._output
        while True:
            try:
                chunk = stream.read1(65536)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            buf.extend(chunk)
            if len(buf) > 2 * keep:
                del buf[: len(buf) - keep]


def describe_exit(returncode):
    if returncode is None:
        return ""
    if returncode < 0:
        sig = -returncode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = {
            "SIGKILL": " (killed: usually memory beyond the limit)",
            "SIGSEGV": " (a segmentation fault)",
            "SIGXCPU": " (CPU time limit)",
            "SIGXFSZ": " (file size limit)",
            "SIGABRT": " (aborted)",
        }.get(name, "")
        return f" (signal {name}){hint}"
    return f" (exit status {returncode}: the code called exit)"
