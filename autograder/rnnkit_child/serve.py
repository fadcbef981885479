"""The sandboxed child process: runs one submission's cells and answers requests.

Started by the grader's `rnnkit_grader.sandbox.SubmissionProcess` as `python -m rnnkit_child`. It reads
requests on its private copy of stdin, writes answers on the descriptor named by
RNNKIT_RESPONSE_FD, and sends back data only (see codec.py). Everything here runs
beside untrusted code, so nothing it says is believed without checks in the grader.

Requests:
  {"op": "exec", "cells": [{"name", "source"}]}  -> {"cells": [{"name", "error"?}]}
  {"op": "call", "unit", "args", "kwargs"}       -> {"value"} or {"error"}
  {"op": "probe", "probe": "module.function", "kwargs"} -> {"value"} or {"error"}
"""

import ast
import builtins
import importlib
import linecache
import os
import random
import resource
import sys
import traceback

from rnnkit_child import codec

_LIMITS = {
    "RNNKIT_LIMIT_AS": resource.RLIMIT_AS,
    "RNNKIT_LIMIT_CPU": resource.RLIMIT_CPU,
    "RNNKIT_LIMIT_FSIZE": resource.RLIMIT_FSIZE,
    "RNNKIT_LIMIT_NPROC": resource.RLIMIT_NPROC,
    "RNNKIT_LIMIT_NOFILE": resource.RLIMIT_NOFILE,
}


def apply_limits():
    for var, which in _LIMITS.items():
        value = os.environ.get(var)
        if value:
            resource.setrlimit(which, (int(value), int(value)))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def describe_error(exc):
    """Type, message and the traceback frames that belong to notebook cells."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell ")
    ]
    lines = [f'  {f.filename[1:-1]}, line {f.lineno}, in {f.name}\n    {(f.line or "").strip()}' for f in frames[-6:]]
    try:
        message = str(exc)
    except Exception:
        message = "<str() of the exception failed>"
    return {
        "type": type(exc).__name__,
        "message": message[:2000],
        "traceback": "\n".join(lines)[:4000],
    }


def reseed():
    random.seed(0)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(0)
    if "keras" in sys.modules:
        try:
            sys.modules["keras"].utils.set_random_seed(0)
        except Exception:
            pass


def preload():
    """Import TensorFlow before any student code runs, with threads sized for the grader."""
    if os.environ.get("RNNKIT_PRELOAD_TF") != "1":
        return
    import tensorflow as tf

    threads = int(os.environ.get("RNNKIT_THREADS", "1"))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras  # noqa: F401


class _Blocked:
    """A meta-path finder that refuses the modules named in RNNKIT_BLOCKED_MODULES (and their submodules).

    Only a courtesy where there is no bubblewrap (student code shares this process and could remove
    it); under bubblewrap those packages are not in the child's view at all."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: this assignment is NumPy only, so no deep-learning or automatic-"
                "differentiation framework is available to the grader's run of your code", name=fullname)
        return None


def block_modules():
    names = [n for n in os.environ.get("RNNKIT_BLOCKED_MODULES", "").split(",") if n]
    if names:
        for loaded in [m for m in sys.modules if m.partition(".")[0] in names]:  # never preloaded for such a child
            del sys.modules[loaded]
        sys.meta_path.insert(0, _Blocked(names))


def probe_packages():
    """Where probes are looked up, in order: the student's child has rnnkit_child.probes only;
    the reference child is started with the reference-only probes first (RNNKIT_PROBE_PACKAGES)."""
    return [p for p in os.environ.get("RNNKIT_PROBE_PACKAGES", "rnnkit_child.probes").split(",") if p]


def find_probe(name):
    """The probe function `module.function`, from the first probe package that has it, or None."""
    module_name, _, func_name = str(name).rpartition(".")
    if not module_name.isidentifier() or not func_name.isidentifier() or func_name.startswith("_"):
        return None
    for package in probe_packages():
        try:
            module = importlib.import_module(f"{package}.{module_name}")
        except ModuleNotFoundError:
            continue
        func = getattr(module, func_name, None)
        if callable(func):
            return func
    return None


class Child:
    def __init__(self):
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}

    def handle(self, request):
        op = request.get("op")
        if op == "ping":
            return {"value": "pong"}
        if op == "exec":
            return {"cells": [self.exec_cell(c["name"], c["source"]) for c in request["cells"]]}
        if op == "call":
            return self.run(self.lookup(request["unit"]), request)
        if op == "probe":
            func = find_probe(request["probe"])
            if func is None:
                return {"error": {"type": "ProtocolError", "message": f"no probe {request['probe']!r} in this child", "traceback": ""}}
            return self.run(lambda **kw: func(self.namespace, **kw), request)
        return {"error": {"type": "ProtocolError", "message": f"unknown op {op!r}", "traceback": ""}}

    def lookup(self, unit):
        if unit not in self.namespace:
            return None
        return self.namespace[unit]

    def exec_cell(self, name, source):
        filename = f"<cell {name}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            tree = ast.parse(source, filename)
        except BaseException as exc:
            return {"name": name, "error": describe_error(exc)}
        first_error = None
        reseed()
        for statement in tree.body:  # one failing statement does not hide the definitions after it
            try:
                module = ast.Module(body=[statement], type_ignores=[])
                exec(compile(module, filename, "exec"), self.namespace)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
                first_error = first_error or describe_error(exc)
        return {"name": name, "error": first_error} if first_error else {"name": name}

    def run(self, func, request):
        if func is None:
            return {"error": {"type": "UnitMissing", "message": request.get("unit", ""), "traceback": ""}}
        args = codec.from_data(request.get("args", []))
        kwargs = codec.from_data(request.get("kwargs", {"__dict__": {}}))
        try:
            reseed()
            value = func(*args, **kwargs)
        except BaseException as exc:
            return {"error": describe_error(exc)}
        return {"value": codec.to_data(value)}


def main():
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    responses = os.fdopen(int(os.environ["RNNKIT_RESPONSE_FD"]), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # student code that reads stdin gets EOF, not our requests
    apply_limits()
    preload()
    block_modules()
    child = Child()
    while True:
        request = codec.read_message(requests)
        if request is None:
            break
        try:
            answer = child.handle(request)
            message = codec.encode_message(answer)
        except BaseException as exc:
            message = codec.encode_message({"error": describe_error(exc)})
        responses.write(message)
    os._exit(0)


if __name__ == "__main__":
    main()
