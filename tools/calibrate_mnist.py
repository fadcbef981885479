"""Calibrate the accuracy floors of 05_mnist's budgeted training run on the reference.

    .venv/bin/python tools/calibrate_mnist.py [--seeds 8] [--variant sample|full] [--activation tanh|relu]

Runs the hidden suite's training run (autograder/suites/test_05_mnist.py: RUN, SIZES)
with the reference notebook in a grading child, exactly as the grader does (one
TensorFlow thread, the probe `mnist.training_run`), once per shuffle seed, and prints
the test accuracy of each run with their mean, minimum, maximum and standard deviation.
Write the figures next to FLOORS in the suite. `--activation relu` shows why the run
uses tanh: the source's ReLU network spreads far more from one shuffle order to the next.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rnnkit_grader import assignments  # noqa: E402
from rnnkit_grader.isolate import Reference  # noqa: E402
from rnnkit_child.probes import mnist as probes

ROOT = Path(__file__).resolve().parents[1]


def load_suite():
    spec = importlib.util.spec_from_file_location("suite_05_mnist", ROOT / "autograder" / "suites" / "test_05_mnist.py")
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    return suite


def run(reference, suite, variant, seeds, activation=None):
    """[(seed, accuracy, seconds)] for the reference's training runs, measured as the suite measures a student's:
    the kit model enters the child as config + weights, the trained weights come back, the reference child's
    logits on the test digits are compared with the labels here."""
    results = []
    config, weights = suite.run_model(reference, activation)
    for seed in seeds:
        t0 = time.perf_counter()
        got = reference.probe(probes.training_run, config=config, weights=weights, **suite.run_kwargs(variant, seed))
        if "unit_error" in got:
            raise SystemExit(f"the reference's training run failed: {got['unit_error']}")
        acc = suite.measured_accuracy(reference, config, got["weights"], variant)
        results.append((seed, acc, got["seconds"], time.perf_counter() - t0))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="shuffle seeds 0..N-1")
    parser.add_argument("--variant", choices=["sample", "full"], default="sample")
    parser.add_argument("--activation", choices=["tanh", "relu"], default=None, help="override the run's activation")
    args = parser.parse_args()
    suite = load_suite()
    reference = Reference(assignments.get("05_mnist"))
    try:
        results = run(reference, suite, args.variant, range(args.seeds), args.activation)
    finally:
        reference.close()
    n_train, n_test = suite.SIZES[args.variant]
    budget = dict(suite.RUN, activation=args.activation or suite.RUN["activation"])
    print(f"05_mnist training run on the {args.variant} variant ({n_train} training / {n_test} test images), budget {budget}")
    for seed, acc, train_seconds, wall in results:
        print(f"  seed {seed}: accuracy {acc:.2%}  (training {train_seconds:.1f} s, whole probe {wall:.1f} s)")
    accs = [acc for _, acc, _, _ in results]
    std = statistics.pstdev(accs) if len(accs) > 1 else 0.0
    print(f"mean {statistics.mean(accs):.2%}, min {min(accs):.2%}, max {max(accs):.2%}, std {100 * std:.2f} points")
    floor = suite.FLOORS[args.variant]
    print(f"floor in the suite: {floor:.0%} ({'cleared by every run' if min(accs) >= floor else 'NOT cleared by every run'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
