"""A pre-started child template: the interpreter and its imports, ready to be forked.

Started by the grader (`rnnkit_grader.sandbox.ChildTemplate`) as `python -m rnnkit_child.template`
inside exactly the bubblewrap view a student's child gets (the same allow-list, bwrap's own user,
network, PID, IPC and UTS namespaces), as uid 0 of bwrap's user namespace with CAP_SYS_ADMIN there
only: it makes each child's namespaces and mounts, which must not be locked (they would be under
bwrap's nested namespace for nobody). It imports what every child would import (NumPy, and
TensorFlow and Keras when RNNKIT_PRELOAD_TF=1) and never runs student code. For each submission
the grader sends, over the control socket named by RNNKIT_TEMPLATE_FD, the child's environment
and four descriptors (requests, output, responses, exit status); the template forks, and the fork:

1. closes the control socket and every descriptor but its own four (it can ask nothing of the
   template), and dies with the template (PR_SET_PDEATHSIG);
2. waits for one byte on its requests pipe: the grader has put it in its cgroups by then;
3. unshares new mount, PID, network, IPC, UTS and cgroup namespaces;
4. forks the namespace's init (PID 1), which mounts a fresh sized tmpfs on /scratch, /tmp and
   /dev/shm and a devpts instance of its own, makes every other mount read-only, mounts a fresh /proc of the new PID namespace
   (with bwrap's covers), and forks the server (PID 2);
5. the server enters a user namespace of its own (nobody there, as under bwrap), drops every
   capability (bounding set included) with no_new_privs, starts a new session, takes the
   environment it was sent and runs `rnnkit_child.serve.main()`.

A submission's child thus starts from the template's pristine memory, copy-on-write, and shares
no writable file, namespace, keyring or visible process with the template or another
submission's child.
"""

import ctypes
import json
import os
import signal
import socket
import struct
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21}
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
CHILD_FDS = 4  # 0 requests, 1 output (stdout and stderr), 3 responses; the status pipe goes to init only
SANDBOX_ID = 65534  # nobody, as bwrap's --uid/--gid

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _prctl(option, arg=0):
    return _libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                       data.encode() if data else None), f"mount {target}")


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def _mounts():
    """(mount point, per-mount flags, writable) of this mount namespace, from /proc/self/mountinfo."""
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            options = fields[5].split(",")
            flags = 0
            for option in options:
                flags |= _MOUNT_FLAGS.get(option, 0)
            found.append((point, flags, "rw" in options))
    return found


def _private_view(scratch_bytes, tmp_bytes):
    """In the new mount namespace: fresh writable space, everything else read-only, a /proc of its own."""
    existing = _mounts()
    fresh = {"/scratch": scratch_bytes, "/tmp": tmp_bytes, "/dev/shm": tmp_bytes}
    for point, size in fresh.items():
        if os.path.isdir(point):
            _mount("tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(size)},mode=0755")
    if os.path.isdir("/dev/pts"):  # ptys of its own: bwrap's devpts instance is the template's
        _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    keep_writable = ("/proc", "/dev/pts", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
    for point, flags, writable in existing:
        if not writable or point in fresh or point.startswith(keep_writable):
            continue
        _mount("none", point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)  # only this namespace's view
    # A proc of the new PID namespace, mounted while the template's is still visible (the kernel asks
    # for that), then moved in its place: no process outside this namespace can be seen.
    staging = "/tmp/.proc"
    os.mkdir(staging)
    _mount("proc", staging, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for point, _, _ in sorted(existing, key=lambda m: -len(m[0])):  # the template's /proc, covers first
        if point == "/proc" or point.startswith("/proc/"):
            _check(_libc.umount2(point.encode(), 2), f"umount {point}")  # MNT_DETACH
    _mount(staging, "/proc", None, 8192)  # MS_MOVE
    os.rmdir(staging)
    for name in ("sys", "sysrq-trigger", "irq", "bus"):  # bwrap's covers, whether or not writable
        path = f"/proc/{name}"
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir("/scratch")


def _own_user_namespace():
    """A user namespace of the server's own, in which it is nobody: no keyring or id shared with another child."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare user namespace")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{SANDBOX_ID} {uid} 1")
    _write("/proc/self/gid_map", f"{SANDBOX_ID} {gid} 1")


def _drop_capabilities():
    """No capability left, none to regain (the server runs as nobody in its namespace, like bwrap's)."""
    for cap in range(64):
        if _prctl(PR_CAPBSET_DROP, cap) != 0:
            break
    _prctl(PR_CAP_AMBIENT, 4)  # PR_CAP_AMBIENT_CLEAR_ALL
    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(24)  # two empty {effective, permitted, inheritable}
    _check(_libc.capset(ctypes.c_char_p(header), data), "capset")
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")


def _close_all_but(keep):
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else range(3, 1024):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _status_of(wait_status):
    if os.WIFSIGNALED(wait_status):
        return -os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else 1


def _report_failure(what):
    """On the child's output (the grader keeps its tail): why the child could not be made."""
    import traceback

    try:
        os.write(2, f"rnnkit child template: {what} failed:\n{traceback.format_exc(limit=3)}".encode())
    except OSError:
        pass


def _fork_child(request, fds):
    """In the fork (step 1 on): never returns."""
    try:
        requests, output, responses, status = fds
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the template ignores it; this process waits for its init
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for target, fd in ((0, requests), (1, output), (2, output), (3, responses), (4, status)):
            os.dup2(fd, target)
        _close_all_but({0, 1, 2, 3, 4})
        if os.read(0, 1) != b"G":  # the grader has not put this process in its cgroups: stop
            os._exit(1)
        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP), "unshare")
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
        init = os.fork()
        if init == 0:
            _init(request)
        for fd in range(5):
            os.close(fd)
        _, wait_status = os.waitpid(init, 0)
        os._exit(0 if _status_of(wait_status) == 0 else 1)
    except BaseException:
        _report_failure("making the child's namespaces")
        os._exit(120)


def _init(request):
    """PID 1 of the child's namespace: builds its view, runs the server as PID 2, reports its status."""
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _private_view(request["scratch_bytes"], request["tmp_bytes"])
        server = os.fork()
        if server == 0:
            _serve(request)
        for fd in range(4):
            os.close(fd)
        status = None
        while True:  # reap everything; the server's end is the child's end
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            if pid == server:
                status = _status_of(wait_status)
                break
        os.write(4, struct.pack(">i", 1 if status is None else status))
        os._exit(0)
    except BaseException:
        _report_failure("setting up the child's view")
        os._exit(121)


def _serve(request):
    try:
        os.close(4)
        _own_user_namespace()
        _drop_capabilities()
        os.setsid()
        os.environ.clear()
        os.environ.update(request["env"])
        threads = int(request["env"].get("RNNKIT_THREADS", "1"))
        if "tensorflow" in sys.modules:  # threads are sized per child: TensorFlow's pools start on first use
            tf = sys.modules["tensorflow"]
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        from rnnkit_child import serve

        serve.main()
    except BaseException:
        pass
    os._exit(122)


def main():
    control = socket.socket(fileno=int(os.environ.pop("RNNKIT_TEMPLATE_FD")))
    _prctl(PR_SET_DUMPABLE, 0)  # nothing may read or trace the template's memory
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    import numpy  # noqa: F401

    from rnnkit_child import codec, serve  # noqa: F401

    if os.environ.get("RNNKIT_PRELOAD_TF") == "1" and not os.environ.get("RNNKIT_BLOCKED_MODULES"):  # never for 01's view
        import tensorflow  # noqa: F401  (its thread pools start on first use, in each child)
        import keras  # noqa: F401
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # ended children are reaped at once: no zombie outlives its kill
    control.sendall(b'{"ready": true}')
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, CHILD_FDS)
        except OSError:
            break
        if not message:
            break
        try:
            request = json.loads(message)
            if len(fds) != CHILD_FDS:
                raise ValueError(f"expected {CHILD_FDS} descriptors, got {len(fds)}")
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                control.close()
                _fork_child(request, fds)
            answer = {"pid": pid}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        for fd in fds:
            os.close(fd)
        control.sendall(json.dumps(answer).encode())
    os._exit(0)


if __name__ == "__main__":
    main()
