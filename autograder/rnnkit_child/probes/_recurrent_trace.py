"""Which of Keras's and TensorFlow's own recurrent code runs while a student's cell is built and run.

cells.anatomy runs the cell under `Recorder`, a profile hook (sys.setprofile, and
threading.setprofile for threads started meanwhile) that notes every Python function entered.
It sees code by where it is defined, not by the name it was reached under: an unbound
`SimpleRNNCell.call(self, ...)` found through a computed name, a built-in instance made before
the probe ran, TensorFlow's fused ops (`tf.raw_ops.BlockLSTM` runs gen_rnn_ops' wrapper) or its
legacy cells all show up as their file and function. The report is data; the grader judges it
(rnnkit_grader.shortcuts.judge_anatomy). The child is the student's, so this is one of two
checks: the other, on the source in the grader, also refuses code that touches the profiler.
"""

import os
import sys
import threading

# keras/src/layers/rnn/<file>: the files of the built-in recurrent cells and layers. rnn.py (the
# generic RNN layer the probe itself runs the cell in), stacked_rnn_cells.py and the dropout mixin
# hold no recurrent maths of a cell.
_KERAS_CELL_FILES = frozenset({
    "simple_rnn.py", "gru.py", "lstm.py", "conv_lstm.py", "conv_lstm1d.py", "conv_lstm2d.py", "conv_lstm3d.py",
    "bidirectional.py",
})
# Backend kernels of the built-in layers (keras/src/backend/*/rnn.py): the fused GRU and LSTM.
_BACKEND_FUNCTIONS = frozenset({"gru", "lstm", "cudnn_gru", "cudnn_lstm", "_cudnn_gru", "_cudnn_lstm"})
# TensorFlow's own recurrent ops and cells.
_TF_FILES = frozenset({"gen_rnn_ops.py", "gen_cudnn_rnn_ops.py", "rnn_cell_impl.py", "rnn_cell_wrapper_impl.py",
                       "rnn_cell_wrapper_v2.py", "recurrent.py", "recurrent_v2.py", "cudnn_recurrent.py", "rnn.py"})
MAX_HITS = 20
# TensorFlow's fused recurrent kernels, as op types: seen by an op callback however they are reached
# (tf.raw_ops, the eager fast path, an op_def_library call, inside a tf.function being traced).
FORBIDDEN_OPS = frozenset({
    "LSTMBlockCell", "LSTMBlockCellGrad", "BlockLSTM", "BlockLSTMV2", "BlockLSTMGrad", "BlockLSTMGradV2",
    "GRUBlockCell", "GRUBlockCellGrad", "CudnnRNN", "CudnnRNNV2", "CudnnRNNV3", "CudnnRNNBackprop",
    "CudnnRNNBackpropV2", "CudnnRNNBackpropV3", "CudnnRNNCanonicalToParams", "CudnnRNNParamsToCanonical",
})
# The built-in cells' own modules: a copy of one of their functions (a code object given another file
# name, or their source compiled again) has the same global, attribute and local names, whatever it is
# called (its bytecode may differ with the compiler's choices, so it is not compared).
_KERAS_CELL_MODULES = ("keras.src.layers.rnn.simple_rnn", "keras.src.layers.rnn.gru", "keras.src.layers.rnn.lstm")
_MATHS = frozenset({"call", "inner_loop", "step", "_compute_carry_and_output", "_compute_carry_and_output_fused"})
_MIN_NAMES = 8  # functions with fewer names could match honest code by chance
_FORBIDDEN_CODE = None


def _signature(code):
    return (code.co_names, code.co_varnames, code.co_argcount)


def _codes(value, found, depth=0):
    code = getattr(value, "__code__", None)
    if code is not None:
        todo = [code]
        while todo:
            c = todo.pop()
            if len(c.co_names) + len(c.co_varnames) >= _MIN_NAMES:
                found[_signature(c)] = f"{c.co_filename.replace(os.sep, '/').rpartition('/')[2]}:{c.co_name}"
            todo.extend(k for k in c.co_consts if hasattr(k, "co_code"))
    elif isinstance(value, type) and depth == 0:
        for name, member in vars(value).items():
            if name in _MATHS:  # the recurrent maths, not a constructor or a config that honest code may copy
                _codes(getattr(member, "__func__", member), found, 1)


def forbidden_code():
    """{(names, local names, argument count): "file:function"} of the maths of Keras's built-in cells."""
    global _FORBIDDEN_CODE
    if _FORBIDDEN_CODE is None:
        import importlib

        found = {}
        for name in _KERAS_CELL_MODULES:
            try:
                module = importlib.import_module(name)
            except Exception:
                continue
            for value in list(vars(module).values()):
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    _codes(value, found)
        _FORBIDDEN_CODE = found
    return _FORBIDDEN_CODE


def forbidden(filename, function):
    """Whether code defined in `filename` as `function` is part of a built-in recurrent cell or layer."""
    path = str(filename).replace(os.sep, "/")
    base = path.rpartition("/")[2]
    if "/keras/src/layers/rnn/" in path or "/tf_keras/" in path and "/layers/rnn/" in path:
        return base in _KERAS_CELL_FILES
    if "/keras/src/backend/" in path and base == "rnn.py":
        return function in _BACKEND_FUNCTIONS
    if "/tensorflow/" in path:
        if "/legacy_rnn/" in path or "/cudnn_rnn/" in path:
            return True
        return base in _TF_FILES and ("/python/ops/" in path or "/keras/" in path)
    return False


class Recorder:
    """A context manager: `hits` lists "<file>:<function>" of the built-in recurrent code that ran
    inside it; `intact` is False when something replaced the profile hook meanwhile."""

    def __init__(self):
        self.hits = []
        self.intact = True
        self._seen = set()
        self._copies = forbidden_code()
        self.hook = self._hook  # one bound method, so `sys.getprofile() is self.hook` can be asked
        self.op_hook = self._op_hook
        self._callbacks = None

    def _hit(self, what):
        if len(self.hits) < MAX_HITS and what not in self.hits:
            self.hits.append(what)

    def _hook(self, frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        if code in self._seen:
            return
        self._seen.add(code)
        if forbidden(code.co_filename, code.co_name):
            parts = str(code.co_filename).replace(os.sep, "/").split("/")
            self._hit(f"{'/'.join(parts[-3:])}:{code.co_name}")
        elif _signature(code) in self._copies:
            self._hit(f"a copy of {self._copies[_signature(code)]}")

    def _op_hook(self, op_type, inputs, attrs, outputs, op_name=None, graph=None):
        name = op_type.decode() if isinstance(op_type, bytes) else str(op_type)
        if name in FORBIDDEN_OPS:
            self._hit(f"TensorFlow op {name}")
        return None

    def __enter__(self):
        if "tensorflow" in sys.modules:  # its fused kernels, by op type
            try:
                from tensorflow.python.framework import op_callbacks

                op_callbacks.add_op_callback(self.op_hook)
                self._callbacks = op_callbacks
            except Exception:
                self._callbacks = None
        self._previous = sys.getprofile()
        threading.setprofile(self.hook)
        sys.setprofile(self.hook)
        return self

    def __exit__(self, *exc):
        self.intact = sys.getprofile() is self.hook
        sys.setprofile(self._previous)
        threading.setprofile(None)
        if self._callbacks is not None:
            try:
                from tensorflow.python.eager import context

                self.intact = self.intact and self.op_hook in context.context().op_callbacks
                self._callbacks.remove_op_callback(self.op_hook)
            except Exception:
                self.intact = False
        return False
