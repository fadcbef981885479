"""What stands between student code and the machine, beyond the child process itself.

Where bubblewrap (`bwrap`) works, the child starts on an EMPTY root (an allow-list, not
a deny-list) with only these bound in, read-only:

- the system's shared libraries and programs (`/usr` and the `/bin`, `/lib*` links),
  and the few files of `/etc` the dynamic loader reads;
- the Python interpreter and the installed packages (the environment's prefixes),
  with any grader-side kit package found inside them covered;
- the kit's public library `rnnkit` and the child-side engine `rnnkit_child` under
  `/kit` (the reference child also gets `rnnkit_grader`, for its reference-only probes);
- the data files the child may load (the char-RNN corpus cache), under `/data`.

Writable are only a sized scratch tmpfs (the working directory and $HOME) and a sized
private `/tmp`. Nothing of the kit checkout (suites, solutions, tools, examples, tests,
`.git`), no course folder, no home directory and no host secrets exist in the child's
view; MNIST's files (which hold the test labels) are covered even inside the bound
packages. The child has its own user (nobody), network (none), PID, IPC, UTS and cgroup
namespaces and dies with the grader (`--die-with-parent`). Where a cgroup `pids` or
`memory` controller is writable (as root), the child's whole tree is capped in process
count and in memory (tmpfs pages included).

Without bwrap the child is a plain process with resource limits; `strong_isolation()`
is False, and grading other people's work is refused unless the operator asks for the
weak isolation by name (see `require_strong`).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PIDS_MAX = 256
SCRATCH_BYTES = 256 * 2**20  # the child's working directory and $HOME
TMP_BYTES = 64 * 2**20  # its private /tmp
KIT_MOUNT = "/kit"
DATA_MOUNT = "/data"
SCRATCH_MOUNT = "/scratch"
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime")
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
WEAK_ENV = "RNNKIT_ISOLATION"


class IsolationRefused(RuntimeError):
    """Strong isolation is not available and the operator did not accept the weak one."""


def bwrap_path():
    if os.environ.get("RNNKIT_NO_BWRAP") == "1":
        return None
    path = shutil.which("bwrap")
    return path if path and _bwrap_works(path) else None


_BWRAP_OK = {}


def _bwrap_works(path):
    if path not in _BWRAP_OK:
        try:
            done = subprocess.run(
                [path, "--ro-bind", "/usr", "/usr", *_root_links(), "--unshare-user", "--unshare-net",
                 "--unshare-pid", "--dev", "/dev", "--proc", "/proc", "--size", str(2**20), "--tmpfs", "/tmp",
                 "--die-with-parent", "true"],
                capture_output=True, timeout=20,
            )
            _BWRAP_OK[path] = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_OK[path] = False
    return _BWRAP_OK[path]


def strong_isolation():
    """True where children run in bubblewrap's allow-list sandbox."""
    return bwrap_path() is not None


def weak_accepted(explicit=None):
    """Whether the operator asked for the weak isolation by name (a flag, or RNNKIT_ISOLATION=weak)."""
    return explicit == "weak" or os.environ.get(WEAK_ENV, "").strip().lower() == "weak"


def require_strong(what, explicit=None):
    """Raise IsolationRefused for grading other people's work without bubblewrap, unless weak was asked for."""
    if strong_isolation() or weak_accepted(explicit):
        return
    raise IsolationRefused(
        f"refusing to {what}: bubblewrap is not available here ({_why_not()}), so a submission could read "
        "the hidden suites and solutions and reach the network. Install it (apt-get install bubblewrap), "
        f"or accept the weaker isolation by name: --isolation weak, or {WEAK_ENV}=weak."
    )


def _why_not():
    if os.environ.get("RNNKIT_NO_BWRAP") == "1":
        return "RNNKIT_NO_BWRAP=1 is set"
    if shutil.which("bwrap") is None:
        return "no bwrap on PATH"
    return "bwrap is installed but the kernel refused its namespaces"


# ---- what the child may see --------------------------------------------------------------


def _root_links():
    """/bin, /lib, ... as the host has them: symlinks recreated, real directories bound."""
    args = []
    for name in _ROOT_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def python_paths():
    """The interpreter and its packages: every prefix of this environment, outermost only."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
             Path(sys.executable).resolve().parent.parent}
    return _outermost({p.resolve() for p in paths if p.exists()} - {Path("/usr"), Path("/")})


def _outermost(paths):
    paths = sorted(paths, key=lambda p: len(p.parts))
    kept = []
    for p in paths:
        if not any(k == p or k in p.parents for k in kept):
            kept.append(p)
    return kept


def _package_dir(name):
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def kit_packages(role):
    """{name: folder} of the kit code bound under /kit for a child of `role`."""
    names = ["rnnkit", "rnnkit_child"] + (["rnnkit_grader"] if role == "reference" else [])
    return {n: d for n in names if (d := _package_dir(n)) is not None}


def covered_paths(role):
    """Paths inside the bound trees that the child must still not see.

    The grader-side packages wherever they are installed (a non-editable install puts them in
    site-packages), and MNIST's files: the student's child gets its training data as data and
    must never reach the test labels.
    """
    covered = []
    if role == "student":
        for name in ("rnnkit_grader",):
            if (d := _package_dir(name)) is not None:
                covered.append(d)
    with contextlib.suppress(Exception):  # without importing rnnkit.mnist (it would import Keras here)
        from rnnkit import mnist

        if (d := _package_dir(mnist.SAMPLE_PACKAGE)) is not None:
            covered.append(d.joinpath(*mnist.SAMPLE_RESOURCE[:-1]))
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    covered.append(keras_home / "datasets")
    return covered


def data_files():
    """Data the child may read: downloaded corpora of rnnkit.text, by file name (never MNIST)."""
    found = {}
    with contextlib.suppress(Exception):
        from rnnkit import text

        folder = text.default_cache_dir()
        for name in (text.SHAKESPEARE_FILE,):
            if (folder / name).is_file():
                found[name] = (folder / name).resolve()
    return found


# Deep-learning and automatic-differentiation frameworks: what a NumPy-only assignment's child must
# not be able to import (used for messages and for the child's own import guard; the view itself is
# an allow-list, see site_dirs and bwrap_command's `packages`).
FRAMEWORKS = ("tensorflow", "keras", "tf_keras", "torch", "jax", "jaxlib", "flax", "autograd", "theano", "pytensor",
              "mxnet", "paddle", "chainer", "mindspore", "oneflow", "sympy", "tensorflow_probability", "tangent", "cupy")


def site_dirs():
    """Every folder of installed Python packages that a child's view could reach: the interpreter's
    own site-packages, and any site- or dist-packages under its prefixes or /usr (a student's code can
    put any of them on sys.path, so a NumPy-only child must have them all narrowed)."""
    import glob
    import site

    found = set()
    with contextlib.suppress(Exception):
        found.update(Path(p) for p in site.getsitepackages())
    roots = [*python_paths(), Path("/usr"), Path("/usr/local")]
    for root in roots:
        for pattern in ("lib*/python3*/site-packages", "lib*/python3*/dist-packages", "lib*/python3/dist-packages",
                        "local/lib*/python3*/site-packages", "local/lib*/python3*/dist-packages"):
            found.update(Path(p) for p in glob.glob(str(root / pattern)))
    return sorted({p.resolve() for p in found if p.is_dir()})


def _package_entries(site_dir, packages):
    """The entries of site_dir that make up the allowed top-level packages (a package folder or
    module, its bundled shared libraries `<name>.libs`), by exact name."""
    entries = []
    for name in packages:
        for entry in (name, f"{name}.libs", f"{name}.py"):
            if (site_dir / entry).exists() and not (site_dir / entry).is_symlink():
                entries.append(entry)
        entries.extend(sorted(e.name for e in site_dir.glob(f"{name}.cpython-*.so") if not e.is_symlink()))
    return entries


def child_env(role):
    """Environment entries a sandboxed child needs to find the kit and its data."""
    return {"PYTHONPATH": KIT_MOUNT, "PYTHONNOUSERSITE": "1", "RNNKIT_DATA_DIR": DATA_MOUNT,
            "HOME": SCRATCH_MOUNT, "KERAS_HOME": f"{SCRATCH_MOUNT}/.keras", "MPLCONFIGDIR": f"{SCRATCH_MOUNT}/.matplotlib",
            "TMPDIR": "/tmp"}


def bwrap_command(role="student", hide=(), scratch_bytes=SCRATCH_BYTES, tmp_bytes=TMP_BYTES, packages=None):
    """The bwrap argument list that wraps the child's command (cwd /scratch), or [] without bwrap.

    `packages` (a tuple of top-level import names) narrows every folder of installed packages
    (site_dirs) to those packages: each is covered by an empty read-only tmpfs with only the named
    packages bound back in, so nothing else installed (TensorFlow, Keras, PyTorch, JAX, autograd,
    ...) exists in the child's view. None keeps the whole environment."""
    bwrap = bwrap_path()
    if bwrap is None:
        return []
    args = [
        bwrap,
        "--die-with-parent",  # the grader starts children from one long-lived thread (sandbox.launch)
        "--new-session",
        "--unshare-user", "--uid", "65534", "--gid", "65534",  # nobody, in its own user namespace
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--dev", "/dev",
        "--proc", "/proc",
        # The private /tmp before any bind: the environment itself may live under /tmp (a fresh clone there).
        "--size", str(int(tmp_bytes)), "--tmpfs", "/tmp",
        "--ro-bind", "/usr", "/usr",
        *_root_links(),
    ]
    for name in _ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    bound = []
    for path in python_paths():
        args += ["--ro-bind", str(path), str(path)]
        bound.append(path)
    for name, folder in sorted(kit_packages(role).items()):
        args += ["--ro-bind", str(folder), f"{KIT_MOUNT}/{name}"]
    for name, path in sorted(data_files().items()):
        args += ["--ro-bind", str(path), f"{DATA_MOUNT}/{name}"]
    narrowed = [] if packages is None else [d for d in site_dirs() if any(b == d or b in d.parents for b in [*bound, Path("/usr")])]
    inside = [Path(h).resolve() for h in [*covered_paths(role), *hide] if h]
    inside = [p for p in inside if not any(d == p or d in p.parents for d in narrowed)]  # gone with their site dir
    for path in _outermost({p for p in inside if any(b == p or b in p.parents for b in bound)}):
        if path.is_dir():
            args += ["--tmpfs", str(path)]
        elif path.exists():
            args += ["--ro-bind", "/dev/null", str(path)]
    for site_dir in narrowed:
        args += ["--tmpfs", str(site_dir)]
        for entry in _package_entries(site_dir, packages):
            args += ["--ro-bind", str(site_dir / entry), str(site_dir / entry)]
        args += ["--remount-ro", str(site_dir)]
    args += [
        "--size", str(int(scratch_bytes)), "--tmpfs", SCRATCH_MOUNT,
        "--chdir", SCRATCH_MOUNT,
    ]
    return args


# ---- the second line, without bubblewrap: a separate unprivileged user ---------------------

_FALLBACK = {}


def fallback_user():
    """(uid, gid) that a child runs as where bubblewrap is missing and the grader is root, or None.

    The user is `nobody` (or $RNNKIT_FALLBACK_USER; "none" turns this off). It is used only if it
    can run this interpreter and import the child-side code: on a machine whose Python lives in
    root's home it cannot, and describe() says so. Files the child must not read must then not
    be readable by others (the Gradescope setup.sh makes the kit's private folders root-only).
    """
    if bwrap_path() is not None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    name = os.environ.get("RNNKIT_FALLBACK_USER", "nobody")
    if name == "none":
        return None
    if name not in _FALLBACK:
        _FALLBACK[name] = None
        try:
            import pwd

            entry = pwd.getpwnam(name)
            ids = (entry.pw_uid, entry.pw_gid)
            done = subprocess.run([sys.executable, "-c", "import rnnkit_child.serve"], preexec_fn=lambda: drop_to(ids),
                                  capture_output=True, timeout=60, cwd="/")
            if done.returncode == 0:
                _FALLBACK[name] = ids
        except (KeyError, OSError, subprocess.TimeoutExpired):
            pass
    return _FALLBACK[name]


def drop_to(ids):
    """In a forked child: give up root for (uid, gid), supplementary groups included."""
    uid, gid = ids
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


# ---- cgroups: process count and memory of the child's whole tree --------------------------


def _own_cgroup(controller):
    """This process's cgroup path for a v1 controller ('' where none is listed)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return path
    except OSError:
        pass
    return ""


def _writable_parent(controller):
    """Where a child cgroup of `controller` can be made: v1 under our own group, else a v2 root that delegates it."""
    v1 = Path("/sys/fs/cgroup") / controller
    if (v1 / "cgroup.procs").exists():
        parent = v1 / _own_cgroup(controller).lstrip("/")
        return parent if os.access(parent, os.W_OK) else None
    v2 = Path("/sys/fs/cgroup")
    control = v2 / "cgroup.subtree_control"
    if control.exists() and os.access(v2, os.W_OK) and controller in control.read_text(errors="ignore").split():
        return v2
    return None


class ChildCgroup:
    """Cgroups that cap one child tree's process count and memory (best effort, where writable)."""

    def __init__(self, name, memory_bytes=None):
        self.paths = {}  # controller -> folder
        limits = {"pids": [("pids.max", str(PIDS_MAX))]}
        if memory_bytes:
            limits["memory"] = [("memory.limit_in_bytes", str(int(memory_bytes))), ("memory.max", str(int(memory_bytes))),
                                ("memory.swap.max", "0"), ("memory.memsw.limit_in_bytes", str(int(memory_bytes)))]
        for controller, settings in limits.items():
            parent = _writable_parent(controller)
            if parent is None:
                continue
            path = parent / name
            if path in self.paths.values():  # v2: one folder for both controllers
                self._write(path, settings)
                continue
            try:
                path.mkdir(exist_ok=True)
            except OSError:
                continue
            if self._write(path, settings):
                self.paths[controller] = path
            else:
                with contextlib.suppress(OSError):
                    path.rmdir()

    @staticmethod
    def _write(path, settings):
        done = False
        for filename, value in settings:
            if (path / filename).exists():
                try:
                    (path / filename).write_text(value)
                    done = True
                except OSError:
                    pass
        return done

    @property
    def controllers(self):
        return sorted(self.paths)

    def join_hook(self, user=None):
        """A preexec_fn that moves the new process into the groups before it execs, asks for
        SIGKILL when the grader (its parent thread: sandbox.launch keeps one alive) dies, and
        drops to `user` (uid, gid) where one is given."""
        files = sorted({str(p / "cgroup.procs") for p in self.paths.values()})

        def join():  # runs in the forked child: plain system calls only
            _die_with_parent()
            for name in files:
                fd = os.open(name, os.O_WRONLY)
                try:
                    os.write(fd, str(os.getpid()).encode())
                finally:
                    os.close(fd)
            if user is not None:
                drop_to(user)

        return join

    def add(self, pid):
        """Move the process pid (not yet running student code) into the groups."""
        for name in sorted({str(p / "cgroup.procs") for p in self.paths.values()}):
            Path(name).write_text(str(pid))

    def kill_all(self):
        """SIGKILL whatever is left in the groups (processes that left the session too)."""
        for path in set(self.paths.values()):
            for _ in range(20):
                try:
                    pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)

    def memory_failures(self):
        """How often the memory cap was hit (0 where unknown)."""
        path = self.paths.get("memory")
        if path is None:
            return 0
        for name in ("memory.failcnt",):
            with contextlib.suppress(OSError, ValueError):
                return int((path / name).read_text())
        with contextlib.suppress(OSError, ValueError):
            for line in (path / "memory.events").read_text().splitlines():
                key, value = line.split()
                if key == "max":
                    return int(value)
        return 0

    def remove(self):
        for path in set(self.paths.values()):
            with contextlib.suppress(OSError):
                path.rmdir()
        self.paths = {}


# Kept for callers of the earlier name.
PidsCgroup = ChildCgroup

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """prctl(PR_SET_PDEATHSIG, SIGKILL) in a forked child (Linux); nothing elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass


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
    if strong_isolation():
        parts.append(
            "bubblewrap allow-list (empty root with only the interpreter, packages, the kit's public and child-side "
            f"code and data; no network; own user, PID and IPC namespaces; scratch {SCRATCH_BYTES >> 20} MiB and "
            f"/tmp {TMP_BYTES >> 20} MiB; dies with the grader)"
        )
        if os.environ.get("RNNKIT_CHILD_TEMPLATE", "1").strip() != "0" and os.geteuid() == 0:  # bwrap --cap-add: root only
            parts.append("the student's child forked from a pre-started template in that view into namespaces, scratch, "
                         "/tmp and /dev/shm of its own, the rest read-only, no capabilities")
    else:
        user = fallback_user()
        parts.append(
            "WEAK: a plain child process (bubblewrap not available: the child can reach the network and read "
            + (f"what uid {user[0]} can read; it runs as that user in a private working directory)" if user
               else "what the grader can)")
        )
    probe = ChildCgroup(f"rnnkit-probe-{os.getpid()}", memory_bytes=2**30)
    caps = probe.controllers
    probe.remove()
    parts.append(f"process count capped at {PIDS_MAX} by a pids cgroup" if "pids" in caps else "no process-count cap (no writable pids cgroup)")
    parts.append("memory of the whole tree capped by a memory cgroup" if "memory" in caps else "no memory cgroup (per-process address-space limit only)")
    parts.append("limits on address space, CPU time, file size and open files")
    return "; ".join(parts)
