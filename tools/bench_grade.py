"""Benchmark: how long grading one submission takes, and where the time goes.

    .venv/bin/python tools/bench_grade.py [ASSIGNMENT ...] [--repeat N] [--before-after]

For each assignment it grades the reference solution (as a submission) with a cold
reference (a fresh reference child, nothing cached), then again with a fresh Reference
over the filled cache, as the next batch or worker does. For the cached grading it
prints the time to the first check (everything before the hidden suite's first test:
reading the notebook, starting the child and running its cells), the checks' own time
(the hidden tests), the total, and the overhead (total minus the checks), and whether a
reference child had to start and whether the child was forked from the pre-started
template.

--before-after times the cached grading with the fast start off (RNNKIT_CHILD_TEMPLATE=0,
RNNKIT_LAZY_REFERENCE=0: a child started from scratch, the reference child started for
every grading) and on, alternating in this one run, with the load average beside each
figure. The template's own start is paid once per grading process (a batch worker) and is
printed on its own line.
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rnnkit_grader import assignments, isolation, sandbox  # noqa: E402
from rnnkit_grader.isolate import LAZY_ENV, Reference  # noqa: E402
from rnnkit_grader.runner import grade_notebook  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before-after", action="store_true", help="time the cached grading with the fast start off and on")
    parser.add_argument("--compare-isolation", action="store_true", help="also time the plain child (no bubblewrap) and print the ratio")
    args = parser.parse_args()
    if args.compare_isolation:
        return compare_isolation(args)
    ids = args.assignments or [a.id for a in assignments.available()]
    print(f"{os.cpu_count()} CPUs, load average at start {_load()}; isolation: {'bubblewrap' if isolation.strong_isolation() else 'WEAK'}")
    t0 = time.perf_counter()
    template = sandbox.child_template(*_template_args(assignments.get(ids[0])))
    print(f"child template start (once per grading process): {time.perf_counter() - t0:.2f} s"
          + ("" if template else "  (no template here: plain children)"))
    modes = ["before", "after"] if args.before_after else ["after"]
    for assignment_id in ids:
        assignment = assignments.get(assignment_id)
        if args.before_after or assignment.limits.preload_tf:
            sandbox.child_template(*_template_args(assignment))  # its start is not this assignment's
        cold, slowest = [], {}
        cached = {mode: [] for mode in modes}
        with tempfile.TemporaryDirectory(prefix="rnnkit-bench-cache-") as cache:
            for _ in range(args.repeat):
                reference = Reference(assignment, cache_dir=cache)
                t0 = time.perf_counter()
                result = grade_notebook(assignment.solution, assignment_id, reference=reference)
                cold.append(time.perf_counter() - t0)
                reference.close()
                for t in result.tests:
                    slowest[t.name] = max(slowest.get(t.name, 0.0), t.seconds)
                assert result.score == result.max_score, f"reference scored {result.score}"
                for mode in modes:
                    with _fast_start(mode == "after"):
                        reference = Reference(assignment, cache_dir=cache)
                        again = grade_notebook(assignment.solution, assignment_id, reference=reference)
                        reference.close()
                    assert again.score == result.max_score, f"reference scored {again.score} ({mode})"
                    cached[mode].append((again, _load()))
        print(f"{assignment_id}: score {result.score:g}/{result.max_score:g}, {len(result.tests)} tests, {args.repeat} runs")
        print(f"  grade, cold reference  : median {statistics.median(cold):6.2f} s  (min {min(cold):.2f}, max {max(cold):.2f})")
        for mode in modes:
            runs = cached[mode]
            first = statistics.median(r.first_check_seconds or 0.0 for r, _ in runs)
            checks = statistics.median(r.checks_seconds for r, _ in runs)
            total = statistics.median(r.seconds for r, _ in runs)
            overhead = statistics.median(r.seconds - r.checks_seconds for r, _ in runs)
            label = {"before": "fast start off", "after": "fast start on "}[mode] if args.before_after else "cached reference"
            print(f"  {label}: first check {first:5.2f} s, checks {checks:6.2f} s, total {total:6.2f} s, "
                  f"overhead {overhead:5.2f} s (min {min(r.seconds - r.checks_seconds for r, _ in runs):.2f}, "
                  f"max {max(r.seconds - r.checks_seconds for r, _ in runs):.2f}); reference started "
                  f"{sum(r.reference_started for r, _ in runs)}/{len(runs)}; load {runs[-1][1]}")
        print("  slowest tests (cold):")
        for name, secs in sorted(slowest.items(), key=lambda kv: -kv[1])[:3]:
            print(f"    {secs:6.2f} s  {name}")
    return 0


def _load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _template_args(assignment):
    """What SubmissionProcess hands child_template for a submission of `assignment` (to start it ahead)."""
    from rnnkit_grader import isolate

    view = isolation.bwrap_command("student", isolate.hidden_paths(assignment.solution))
    env = sandbox.child_environment(isolation.child_env("student"))
    env.update(RNNKIT_PRELOAD_TF="1" if assignment.limits.preload_tf else "0", RNNKIT_THREADS=str(assignment.limits.threads),
               RNNKIT_PROBE_PACKAGES=sandbox.STUDENT_PROBES)
    return view, assignment.limits.preload_tf, env, 120.0


@contextlib.contextmanager
def _fast_start(on):
    saved = {k: os.environ.get(k) for k in (sandbox.TEMPLATE_ENV, LAZY_ENV)}
    os.environ[sandbox.TEMPLATE_ENV] = os.environ[LAZY_ENV] = "1" if on else "0"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
