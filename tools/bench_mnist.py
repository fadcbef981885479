"""Benchmark 05_mnist's reference: test accuracy and training time per epoch for each model.

    .venv/bin/python tools/bench_mnist.py [--recipe adam|sgd] [--epochs 5] [--variant sample] [--threads N]

Runs the reference notebook's own units (to_sequences, build_mnist_rnn, make_dataset,
train_epoch, evaluate, taken from solutions/05_mnist/05_mnist.ipynb) on the offline
sample for the four models of the notebook: SimpleRNN(100, relu), two stacked
SimpleRNN layers, GRU(100) and LSTM(100), each followed by Dense(10). Recipes:

* adam: Adam(0.001), batches of 64 (the notebook's comparison)
* sgd:  SGD(0.01), batches of 16 (the source's optimizer and learning rate)

For each model it prints the parameter count, the test accuracy after every epoch, and
the training seconds per epoch (the median of the epochs after the first, whose time
includes tracing the tf.function; the first is printed too).
"""

import argparse
import linecache
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rnnkit_grader import notebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "05_mnist" / "05_mnist.ipynb"
MODELS = [("SimpleRNN", "rnn", 1), ("SimpleRNN x2", "rnn", 2), ("GRU", "gru", 1), ("LSTM", "lstm", 1)]
RECIPES = {"adam": ("Adam", 1e-3, 64), "sgd": ("SGD", 0.01, 16)}


def reference_units():
    """The solution notebook's setup and unit cells, run in a fresh namespace."""
    setup, units = notebook.reference_layout(SOLUTION)
    nb = notebook.load_submission(SOLUTION, units, setup)
    namespace = {"__name__": "__bench__"}
    for name, source in notebook.execution_cells(nb):
        filename = f"<cell {name}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # for AutoGraph
        exec(compile(source, filename, "exec"), namespace)
    return namespace


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="adam")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--variant", choices=["sample", "auto", "full"], default="sample")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: TensorFlow's default, all cores)")
    parser.add_argument("--models", default=",".join(name for name, _, _ in MODELS), help="comma-separated subset of: " + ", ".join(n for n, _, _ in MODELS))
    args = parser.parse_args()

    ns = reference_units()
    tf, keras = ns["tf"], ns["keras"]
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    (x_train_raw, y_train), (x_test_raw, y_test) = ns["load_mnist"](args.variant)
    x_train, x_test = ns["to_sequences"](x_train_raw), ns["to_sequences"](x_test_raw)
    optimizer_name, rate, batch_size = RECIPES[args.recipe]
    print(f"recipe: {optimizer_name}({rate:g}), batches of {batch_size}, {args.epochs} epochs, seed 0; "
          f"TensorFlow threads: {args.threads or 'default'}; {os.cpu_count()} CPUs")
    wanted = [m for m in MODELS if m[0] in args.models.split(",")]
    rows = []
    for name, kind, layers in wanted:
        keras.utils.set_random_seed(0)
        model = ns["build_mnist_rnn"](kind, num_layers=layers)
        optimizer = getattr(keras.optimizers, optimizer_name)(learning_rate=rate)
        dataset = ns["make_dataset"](x_train, y_train, batch_size=batch_size, shuffle=True, seed=0)
        seconds, accuracies = [], []
        for _ in range(args.epochs):
            start = time.perf_counter()
            ns["train_epoch"](model, optimizer, dataset)
            seconds.append(time.perf_counter() - start)
            accuracies.append(ns["evaluate"](model, x_test, y_test))
        steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
        rows.append((name, model.count_params(), accuracies, seconds[0], steady))
        print(f"{name:13s} {model.count_params():7,d} params  accuracy by epoch: "
              + " ".join(f"{a:.1%}" for a in accuracies)
              + f"  | s/epoch {steady:.2f} (first {seconds[0]:.2f})", flush=True)
    print()
    print(f"{'model':13s} {'params':>8s} {'final acc':>10s} {'best acc':>9s} {'s/epoch':>8s}")
    for name, params, accuracies, first, steady in rows:
        print(f"{name:13s} {params:8,d} {accuracies[-1]:10.1%} {max(accuracies):9.1%} {steady:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
