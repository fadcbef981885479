"""Benchmark: how long grading one submission takes, and where the time goes.

    .venv/bin/python tools/bench_grade.py [ASSIGNMENT ...] [--repeat N]

For each assignment it grades the reference solution (as a submission) with a cold
reference (a fresh reference child, nothing cached), then again with the reference
answers already cached, as a batch does. It prints wall time, the child's start-up
(interpreter, imports, running the notebook's cells), and the slowest tests.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rnnkit_grader import assignments  # noqa: E402
from rnnkit_grader.runner import Reference, grade_notebook  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare-isolation", action="store_true", help="also time the plain child (no bubblewrap) and print the ratio")
    args = parser.parse_args()
    if args.compare_isolation:
        return compare_isolation(args)
    ids = args.assignments or [a.id for a in assignments.available()]
    for assignment_id in ids:
        assignment = assignments.get(assignment_id)
        cold, warm, startups = [], [], []
        slowest = {}
        for _ in range(args.repeat):
            reference = Reference(assignment)
            t0 = time.perf_counter()
            result = grade_notebook(assignment.solution, assignment_id, reference=reference)
            cold.append(time.perf_counter() - t0)
            startups.append(result.startup_seconds or 0.0)
            t0 = time.perf_counter()
            again = grade_notebook(assignment.solution, assignment_id, reference=reference)
            warm.append(time.perf_counter() - t0)
            reference.close()
            for t in result.tests:
                slowest[t.name] = max(slowest.get(t.name, 0.0), t.seconds)
            assert result.score == again.score == result.max_score, f"reference scored {result.score}"
        print(f"{assignment_id}: score {result.score:g}/{result.max_score:g}, {len(result.tests)} tests, {args.repeat} runs")
        print(f"  grade, cold reference : median {statistics.median(cold):6.2f} s  (min {min(cold):.2f}, max {max(cold):.2f})")
        print(f"  grade, cached reference: median {statistics.median(warm):6.2f} s")
        print(f"  child start-up        : median {statistics.median(startups):6.2f} s  (python, imports, the notebook's cells)")
        print("  slowest tests (cold):")
        for name, secs in sorted(slowest.items(), key=lambda kv: -kv[1])[:5]:
            print(f"    {secs:6.2f} s  {name}")
    return 0


def compare_isolation(args):
    """Median grade time with and without bubblewrap, alternating runs in one process."""
    from rnnkit_grader import isolation

    for assignment_id in args.assignments or ["01_rnn_numpy"]:
        assignment = assignments.get(assignment_id)
        times = {"plain": [], "isolated": []}
        child_peak = {"plain": 0.0, "isolated": 0.0}
        for _ in range(args.repeat):
            for mode in ("plain", "isolated"):
                os.environ["RNNKIT_NO_BWRAP"] = "1" if mode == "plain" else "0"
                t0 = time.perf_counter()
                result = grade_notebook(assignment.solution, assignment_id)
                times[mode].append(time.perf_counter() - t0)
                child_peak[mode] = max(child_peak[mode], result.peak_rss_mib or 0.0)
        os.environ.pop("RNNKIT_NO_BWRAP")
        plain, isolated = statistics.median(times["plain"]), statistics.median(times["isolated"])
        import resource

        grader_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(f"{assignment_id}: plain child {plain:.2f} s, isolated {isolated:.2f} s, ratio {isolated / plain:.2f}  ({args.repeat} runs each)")
        print(f"  peak memory: grader {grader_peak:.0f} MiB (so far in this run), student's child "
              f"{child_peak['plain']:.0f} MiB plain / {child_peak['isolated']:.0f} MiB isolated")
        print(f"  isolation here: {isolation.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
