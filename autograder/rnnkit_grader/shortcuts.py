"""Shortcuts around the exercise, refused: what a unit may not use, and the checks that enforce it.

Where an exercise is to write the maths by hand, a unit that hands the work to the framework
computes exactly the right values, so no value check can see it. Two rules, each stated in its
notebook:

- 01_rnn_numpy is NumPy only. Its children see NumPy and the standard library and nothing else
  installed (assignments.NUMPY_ONLY, isolation.bwrap_command), so TensorFlow, Keras, PyTorch,
  JAX or autograd cannot even be imported there (the child's own import guard names the rule);
  and a notebook whose extracted code imports one is refused, with the rule as its message,
  by the suite (`numpy_only_violation`, on the source, in the grader).
- 02_cells' RNNCell, GRUCell and LSTMCell are written from scratch: they may not use Keras's (or
  TensorFlow's) built-in recurrent cells and layers: not call one, subclass one, wrap one, hold
  one or make one in `call`. Checked twice: the unit's extracted source, here in the grader,
  parsed (never run) and bounded in size, for references to them, direct or aliased
  (`from keras.layers import GRUCell as G`, `L = keras.layers; L.GRUCell`, getattr with a
  string, importlib) (`from_scratch_violation`); and the built cell in the child: the probe
  `cells.anatomy` reports as data the classes in the MRO of the cell, of every layer it
  tracks or holds in an attribute (also inside lists, dicts, closures, bound methods and the
  globals its methods name), of every layer made while it was built and run, and of what calling
  the unit hands back (a factory, partial or metaclass may return a built-in), whether the unit
  is a class, and which of Keras's or TensorFlow's own recurrent code ran while the cell was built
  and run, seen by a profile hook whatever name it was reached under (an unbound
  `SimpleRNNCell.call(self, ...)`, an instance found through `globals()`, `tf.raw_ops.BlockLSTM`,
  a legacy cell: probes/_recurrent_trace.py); `judge_anatomy` decides here. The source check
  also refuses what would get around the hook (sys.setprofile / settrace, sys.monitoring, a
  thread or process started outside `threading`).

A unit caught scores nothing (as a blank one): the suites' autouse fixtures fail every one of its
tests with the message.
"""

import ast
import re

from rnnkit_grader import isolation

MAX_NODES = 200_000  # syntax-tree nodes walked per source (extraction already bounds each cell's size)

# ---- what is forbidden ---------------------------------------------------------------------------

NUMPY_ONLY_RULE = (
    "01_rnn_numpy is NumPy only: the point is to write the forward pass and backprop through time "
    "yourself, so no deep-learning or automatic-differentiation framework (TensorFlow, Keras, PyTorch, "
    "JAX, autograd, ...) may be used; none is available to the grader's run of your code."
)

FROM_SCRATCH = {"02_cells": ("RNNCell", "GRUCell", "LSTMCell")}

# Keras's and TensorFlow's recurrent cells and layers (and TensorFlow's fused recurrent ops).
BUILTIN_RECURRENT = frozenset({
    "SimpleRNNCell", "GRUCell", "LSTMCell", "SimpleRNN", "GRU", "LSTM", "RNN", "StackedRNNCells",
    "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "ConvLSTMCell", "ConvLSTM",
    "BasicRNNCell", "BasicLSTMCell", "MultiRNNCell", "LSTMBlockCell", "GRUBlockCell", "GRUBlockCellV2",
    "LSTMBlockCellV2", "BlockLSTM", "BlockLSTMV2", "CudnnRNN", "CudnnRNNV2", "CudnnRNNV3", "CudnnLSTM", "CudnnGRU",
    "CuDNNLSTM", "CuDNNGRU", "dynamic_rnn", "static_rnn", "bidirectional_dynamic_rnn", "raw_rnn",
})
_BACKEND_FUNCTIONS = frozenset({"gru", "lstm", "cudnn_gru", "cudnn_lstm"})  # keras.src.backend.*.rnn.gru / .lstm
_RECURRENT_MODULE = re.compile(r"(^|\.)(layers\.rnn|rnn_cell|rnn_cell_impl|legacy_rnn|cudnn_rnn|recurrent(_v2)?)(\.|$)")
_FRAMEWORK_PREFIXES = ("keras", "tensorflow", "tf_keras", "keras_core", "keras_nlp", "keras_hub")
_ALLOWED_MIXINS = frozenset({"DropoutRNNCell"})  # dropout masks only: no recurrent maths

FROM_SCRATCH_RULE = (
    "{unit} must be written from scratch: it may not use Keras's or TensorFlow's own recurrent cells "
    "or layers (SimpleRNNCell, GRUCell, LSTMCell, SimpleRNN, GRU, LSTM, RNN, ...) or recurrent ops: not "
    "call one, subclass one, wrap one, hold one or hand one back, under any name, nor run code where the "
    "grader can't see it (a profiler or tracer switched off, a thread or process of its own). Write it as "
    "a class with the gate equations in keras.ops (its weights made with add_weight); its tests score "
    "nothing while it does."
)


# ---- the source, in the grader ---------------------------------------------------------------------


def _fold(node, depth=0):
    """The string a small constant expression makes ('GRU' + 'Cell', f'{"GRU"}Cell', 'lleCURG'[::-1],
    ''.join([...]), '%sCell' % 'GRU'), or None."""
    if depth > 20:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left, depth + 1), _fold(node.right, depth + 1)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        left = _fold(node.left, depth + 1)
        parts = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        values = [_fold(p, depth + 1) for p in parts]
        if left is not None and all(v is not None for v in values):
            try:
                return left % tuple(values)
            except (TypeError, ValueError):
                return None
        return None
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            inner = value.value if isinstance(value, ast.FormattedValue) else value
            text = _fold(inner, depth + 1)
            if text is None:
                return None
            parts.append(text)
        return "".join(parts)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        text = _fold(node.value, depth + 1)
        bounds = [node.slice.lower, node.slice.upper, node.slice.step]
        if text is None or not all(b is None or (isinstance(b, ast.Constant) and isinstance(b.value, int))
                                   or (isinstance(b, ast.UnaryOp) and isinstance(b.operand, ast.Constant)) for b in bounds):
            return None
        try:
            values = [None if b is None else ast.literal_eval(b) for b in bounds]
            return text[slice(*values)]
        except (ValueError, TypeError):
            return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" and len(node.args) == 1:
        sep = _fold(node.func.value, depth + 1)
        items = node.args[0]
        if sep is not None and isinstance(items, (ast.List, ast.Tuple)):
            values = [_fold(e, depth + 1) for e in items.elts]
            if all(v is not None for v in values):
                return sep.join(values)
    return None


def _docstrings(tree):
    """ids of the nodes that are docstrings (a module's, class's or function's first string)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def _walk(tree):
    for count, node in enumerate(ast.walk(tree)):
        if count > MAX_NODES:
            return
        yield node


def _parse(source):
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _is_framework(module):
    return isinstance(module, str) and module.strip().partition(".")[0] in isolation.FRAMEWORKS


# Calls that import (or find, or run code that could import) a module named by their first argument.
_IMPORTERS = frozenset({"__import__", "import_module", "find_spec", "find_loader", "spec_from_file_location",
                        "load_module", "exec", "eval", "compile", "run_module", "system"})


def _callee(call):
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def framework_imports(source):
    """[(line, module)] of every deep-learning framework the source imports: import statements,
    __import__ / importlib.import_module / import_module with a constant (or folded) name, and
    sys.modules lookups by such a name."""
    tree = _parse(source)
    if tree is None:
        return []
    found = []
    docs = _docstrings(tree)
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_framework(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_framework(node.module):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and _callee(node) in _IMPORTERS:
            name = _fold(node.args[0])
            if _is_framework(name):
                found.append((node.lineno, name.strip()))
        if isinstance(node, ast.Subscript):
            name = _fold(node.slice)
            if _is_framework(name):
                found.append((node.lineno, name.strip()))
        if isinstance(node, (ast.JoinedStr, ast.BinOp, ast.Subscript)) and id(node) not in docs:
            name = _fold(node)
            # a module's name put together from pieces, e.g. into a variable: hiding it is the point.
            # A plain string that is a name ("torch" in a comment-like tuple, a print) is left alone:
            # the child has no framework, and an import of it fails there with the rule
            if name is not None and name.strip() in isolation.FRAMEWORKS:
                found.append((getattr(node, "lineno", 0), name.strip()))
    return sorted(set(found))


# What would switch off or get around the built cell's check in the child (cells.anatomy notes the
# code that runs with a profile hook): a from-scratch unit has no use for any of it.
EVASIONS = frozenset({
    "setprofile", "settrace", "getprofile", "gettrace", "setprofile_all_threads", "settrace_all_threads", "monitoring",
    "f_trace", "start_new_thread", "_thread", "fork", "forkpty", "Popen", "multiprocessing", "subprocess",
    "posix_spawn", "spawnv", "execv",
    # a copy of a built-in's code, or its source compiled again, or TensorFlow's ops called below
    # the Python layer the check sees, or its op callbacks removed
    "__code__", "co_code", "co_filename", "FunctionType", "CodeType", "getsource", "getsourcelines", "getsourcefile",
    "pywrap_tfe", "TFE_Py_FastPathExecute", "op_def_library", "_apply_op_helper", "op_callbacks",
    "add_op_callback", "remove_op_callback", "clear_op_callbacks",
})
_EVAL = frozenset({"exec", "eval", "compile"})  # called by name: code made from text at run time


def _forbidden_module(module):
    return isinstance(module, str) and module.partition(".")[0] in _FRAMEWORK_PREFIXES and bool(_RECURRENT_MODULE.search(module))


def builtin_references(source):
    """[(line, what)] of every reference the source makes to a built-in recurrent cell or layer:
    an attribute of that name (keras.layers.GRUCell, L.GRUCell, tf.keras.layers.LSTM,
    tf.raw_ops.LSTMBlockCell, ...), an import of one under any alias or of a module that holds
    them, and a string naming one passed to a call (getattr(layers, "GRU" + "Cell"),
    keras.layers.get("LSTMCell"), importlib.import_module("keras.src.layers.rnn.gru")), used as a
    key (keras.layers.__dict__["GRUCell"]) or as a "class_name"."""
    tree = _parse(source)
    if tree is None:
        return []
    found = []
    for node in _walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in BUILTIN_RECURRENT or node.attr in EVASIONS:
                found.append((node.lineno, node.attr))
            elif node.attr in _BACKEND_FUNCTIONS and isinstance(node.value, ast.Attribute) and node.value.attr == "rnn":
                found.append((node.lineno, f"rnn.{node.attr}"))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _forbidden_module(a.name) or a.name.partition(".")[0] in EVASIONS]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (str(node.module or "").partition(".")[0] in EVASIONS
                                                                       or any(a.name in EVASIONS for a in node.names)):
            found.append((node.lineno, node.module or "?"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and str(node.module or "").partition(".")[0] in _FRAMEWORK_PREFIXES:
            if _forbidden_module(node.module):
                found.append((node.lineno, node.module))
            found += [(node.lineno, a.name) for a in node.names if a.name in BUILTIN_RECURRENT | _BACKEND_FUNCTIONS]
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in _EVAL:
                found.append((node.lineno, node.func.id))
            for arg in node.args:
                text = _fold(arg)
                if text is not None and (text.strip() in BUILTIN_RECURRENT or text.strip() in EVASIONS or text.strip() in _EVAL
                                         or _forbidden_module(text.strip())):
                    found.append((node.lineno, text.strip()))
        elif isinstance(node, ast.Subscript):
            text = _fold(node.slice)
            if text is not None and text.strip() in BUILTIN_RECURRENT:
                found.append((node.lineno, text.strip()))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if key is not None and _fold(key) == "class_name" and (_fold(value) or "").strip() in BUILTIN_RECURRENT:
                    found.append((node.lineno, _fold(value).strip()))
    return sorted(set(found))


def _tainted_names(sources):
    """Names that the notebook's extracted code binds to a built-in recurrent cell or layer, or to
    a class or function whose own code uses one (to a fixed point): `G = keras.layers.GRUCell`,
    `from keras.layers import GRUCell as G`, `class Base(keras.layers.GRUCell)` in a helper cell."""
    tainted = set()
    bindings = []  # (names bound, the node's source references)
    for source in sources:
        tree = _parse(source)
        if tree is None:
            continue
        for node in tree.body:
            names = set()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = {node.name}
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = {(a.asname or a.name).partition(".")[0] for a in node.names}
            if not names:
                continue
            text = ast.unparse(node) if len(source) < 2**20 else ""
            direct = bool(builtin_references(text))
            used = {n.id for n in _walk(node) if isinstance(n, ast.Name)}
            bindings.append((names, used, direct))
    for names, _, direct in bindings:
        if direct:
            tainted |= names
    changed = True
    while changed:
        changed = False
        for names, used, _ in bindings:
            if not names <= tainted and used & tainted:
                tainted |= names
                changed = True
    return tainted


def unit_shortcuts(unit, source, helpers=()):
    """[(line, what)]: where the unit's source uses a built-in recurrent cell or layer, directly
    or through a name the notebook's other extracted code (`helpers`) binds to one."""
    found = builtin_references(source)
    tainted = _tainted_names(list(helpers)) - {unit}
    tree = _parse(source)
    if tree is not None and tainted:
        own = _tainted_names([source])  # names this cell binds to one: already reported above
        for node in _walk(tree):
            if isinstance(node, ast.Name) and node.id in tainted and node.id not in own:
                found.append((node.lineno, node.id))
    return sorted(set(found))


def _where(hits):
    shown = ", ".join(f"line {line}: {what}" for line, what in hits[:3])
    return shown + (f" and {len(hits) - 3} more" if len(hits) > 3 else "")


def numpy_only_violation(nb):
    """The failure message for a NumPy-only notebook (01) whose extracted code (units and helper
    cells, as the grader would run them) imports a deep-learning framework, or None."""
    hits = []
    for label, source in [*getattr(nb, "extra", []), *getattr(nb, "units", {}).items()]:
        hits += [(label, line, module) for line, module in framework_imports(source)]
    if not hits:
        return None
    where = "; ".join(f"{label}, line {line}: {module}" for label, line, module in hits[:3])
    return f"{NUMPY_ONLY_RULE} Your notebook imports one ({where}), so none of it is graded."


def from_scratch_violation(unit, nb):
    """The failure message for a from-scratch unit whose extracted source uses a built-in recurrent
    cell or layer (directly, or through a name the notebook's other extracted code binds to one), or None."""
    units = getattr(nb, "units", {})
    source = units.get(unit)
    if source is None:
        return None
    others = [s for _, s in getattr(nb, "extra", [])] + [s for u, s in units.items() if u != unit]
    hits = unit_shortcuts(unit, source, others)
    return f"{FROM_SCRATCH_RULE.format(unit=unit)} Found in its cell: {_where(hits)}." if hits else None


def framework_error(info):
    """The rule, when an error a NumPy-only unit raised is a framework that could not be imported."""
    if not isinstance(info, dict) or info.get("type") not in ("ModuleNotFoundError", "ImportError"):
        return None
    match = re.search(r"No module named '([A-Za-z0-9_.]+)'", str(info.get("message", "")))
    if match and _is_framework(match.group(1)):
        return NUMPY_ONLY_RULE
    return None


# ---- the built cell, reported by the child, judged here ---------------------------------------------


def builtin_class(name):
    """Whether `module.qualname` (as the probe reports it) is a built-in recurrent cell or layer."""
    if not isinstance(name, str):
        return False
    module, _, qualname = name.rpartition(".")
    if not module.partition(".")[0] in _FRAMEWORK_PREFIXES:
        return False
    if qualname in _ALLOWED_MIXINS:
        return False
    return qualname in BUILTIN_RECURRENT or bool(_RECURRENT_MODULE.search(module))


def judge_anatomy(unit, report):
    """The failure message for a cell whose anatomy (cells.anatomy's report) shows a built-in
    recurrent cell or layer, or None."""
    if not isinstance(report, dict):
        return None
    findings = []
    for cls in report.get("classes") or []:
        if builtin_class(cls):
            findings.append(f"it is a subclass of {cls}")
            break
    for part in report.get("parts") or []:
        if not isinstance(part, dict):
            continue
        hit = next((c for c in part.get("classes") or [] if builtin_class(c)), None)
        if hit:
            findings.append(f"it holds a {hit} ({str(part.get('path'))[:80]})")
    for made in report.get("created") or []:
        hit = next((c for c in (made if isinstance(made, list) else [made]) if builtin_class(c)), None)
        if hit:
            findings.append(f"it makes a {hit} when it is built or run")
    if report.get("is_class") is False:
        findings.append("it is not a class (the contract is a keras.layers.Layer subclass written in the notebook)")
    hit = next((c for c in report.get("instance") or [] if builtin_class(c)), None)
    if hit:
        findings.append(f"calling it makes a {hit}")
    ran = [str(r)[:120] for r in report.get("ran") or []]
    if ran:
        findings.append(f"Keras's or TensorFlow's own recurrent code ran inside it ({', '.join(ran[:3])})")
    if report.get("tracer_intact") is False:
        findings.append("it switched off the grader's record of what code runs")
    if not findings:
        return None
    return f"{FROM_SCRATCH_RULE.format(unit=unit)} Found in the built cell: {'; '.join(dict.fromkeys(findings[:3]))}."
