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
        self.hook = self._hook  # one bound method, so `sys.getprofile() is self.hook` can be asked

    def _hook(self, frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        key = (code.co_filename, code.co_name)
        if key in self._seen:
            return
        self._seen.add(key)
        if len(self.hits) < MAX_HITS and forbidden(*key):
            parts = str(code.co_filename).replace(os.sep, "/").split("/")
            self.hits.append(f"{'/'.join(parts[-3:])}:{code.co_name}")

    def __enter__(self):
        self._previous = sys.getprofile()
        threading.setprofile(self.hook)
        sys.setprofile(self.hook)
        return self

    def __exit__(self, *exc):
        self.intact = sys.getprofile() is self.hook
        sys.setprofile(self._previous)
        threading.setprofile(None)
        return False
