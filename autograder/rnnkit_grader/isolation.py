"""What stands between student code and the machine, beyond the child process itself.

Where bubblewrap (`bwrap`) is installed, the child runs in its own mount, network,
PID, IPC and UTS namespaces: the root filesystem is read-only, only the child's
scratch directory and a private /tmp are writable, there is no network (not even
the host's loopback), and the paths the grader names (hidden suites, reference
solutions, other submissions, output folders, the grader's home) are covered by
empty directories. Without bwrap the child is a plain process with resource limits,
and `describe()` says so. Where a cgroup `pids` controller is writable (as root), the
child's whole process tree is capped in number, which stops fork bombs.
"""

import contextlib
import os
import shutil
import sys
from pathlib import Path

PIDS_MAX = 256
_CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


def bwrap_path():
    if os.environ.get("RNNKIT_NO_BWRAP") == "1":
        return None
    path = shutil.which("bwrap")
    return path if path and _bwrap_works(path) else None


_BWRAP_OK = {}


def _bwrap_works(path):
    if path not in _BWRAP_OK:
        import subprocess

        try:
            done = subprocess.run(
                [path, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--dev", "/dev", "--proc", "/proc", "true"],
                capture_output=True, timeout=20,
            )
            _BWRAP_OK[path] = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_OK[path] = False
    return _BWRAP_OK[path]


def _needed_paths():
    """Where Python, the environment and the kit's importable code live."""
    import rnnkit
    import rnnkit_grader

    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent}
    paths |= {Path(rnnkit.__file__).resolve().parent, Path(rnnkit_grader.__file__).resolve().parent}
    return {p.resolve() for p in paths}


def bwrap_command(scratch, hide=()):
    """The bwrap argument list that wraps the child's command, or [] without bwrap."""
    bwrap = bwrap_path()
    if bwrap is None:
        return []
    args = [
        bwrap,
        # No --die-with-parent: it fires when the *thread* that started the child ends, and the
        # grader starts children from short-lived threads. A child whose grader is gone reads EOF
        # on its requests and exits.
        "--new-session",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--unshare-user", "--uid", "65534", "--gid", "65534",  # nobody inside its own user namespace
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
    ]
    needed = _needed_paths()
    # A private /tmp first (the kit itself may live under /tmp, as in a fresh clone there:
    # what Python needs is bound back below), then the hidden paths, outermost first.
    hidden = [Path("/tmp").resolve()] + sorted({Path(h).resolve() for h in hide if h and Path(h).exists()} | {Path.home().resolve()})
    for path in hidden:
        if path in needed or any(n in path.parents for n in needed):  # never hide Python or the kit
            continue
        args += ["--tmpfs", str(path)]
        for n in sorted(needed):  # a hidden folder may hold what Python needs (pyenv under $HOME): bind it back
            if path in n.parents:
                args += ["--ro-bind", str(n), str(n)]
    args += ["--bind", str(scratch), str(scratch), "--chdir", str(scratch)]
    return args


class PidsCgroup:
    """A cgroup that caps the number of processes of one child's tree (best effort)."""

    def __init__(self, name):
        self.path = None
        for root in _CGROUP_ROOTS:
            if not (root / "cgroup.procs").exists() or not os.access(root, os.W_OK):
                continue
            if root.name != "pids":  # cgroup v2: the pids controller must be enabled below the root
                control = root / "cgroup.subtree_control"
                if not control.exists() or "pids" not in control.read_text(errors="ignore"):
                    continue
            try:
                path = root / name
                path.mkdir(exist_ok=True)
                (path / "pids.max").write_text(str(PIDS_MAX))
                self.path = path
            except OSError:
                self.path = None
            break

    def join_hook(self):
        """A preexec_fn that moves the new process into the group before it execs (or None)."""
        if self.path is None:
            return None
        procs = str(self.path / "cgroup.procs")

        def join():  # runs in the forked child: plain system calls only
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

        return join

    def kill_all(self):
        """SIGKILL whatever is left in the group (processes that left the session too)."""
        if self.path is None:
            return
        import signal

        for _ in range(20):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            import time

            time.sleep(0.05)

    def remove(self):
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.rmdir()
            self.path = None


def peak_rss_mib(pids):
    """The largest peak resident set (VmHWM) among pids, in MiB; 0 where /proc can't tell."""
    peak = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"VmHWM:"):
                        peak = max(peak, int(line.split()[1]))  # kB
        except (OSError, ValueError, IndexError):
            continue
    return round(peak / 1024, 1)


def descendants(pid):
    """Every process below pid, from /proc (children before their own children)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def describe():
    """One line for reports: the isolation this machine gives a child."""
    parts = []
    if bwrap_path():
        parts.append("bubblewrap (read-only root, no network, hidden suites, solutions and other submissions)")
    else:
        parts.append("a plain child process (bubblewrap not installed: the child can read what the grader can, and reach the network)")
    probe = PidsCgroup(f"rnnkit-probe-{os.getpid()}")
    parts.append(f"process count capped at {PIDS_MAX} by a pids cgroup" if probe.path else "no process-count cap (no writable pids cgroup)")
    probe.remove()
    parts.append("limits on address space, CPU time, file size and open files")
    return "; ".join(parts)
