"""Benchmark: what each assignment needs from Gradescope's autograder settings, on one CPU.

    .venv/bin/python tools/bench_gradescope.py [ID ...] [--cpus 0]

For each assignment (default: all that are ready) this computes the reference answers as
`rnnkit gradescope` does when it builds the zip (timed: the build's cost), then grades the
assignment's `correct` example as the container's run_autograder does (`rnnkit grade
--reference-answers DIR --isolation strong`) pinned to one CPU with taskset, and prints
the wall time, the peak memory of the whole process tree (the grader, the student's
child and the reference child if it had to start, sampled every 0.2 s from /proc) and
whether the reference child started. The last columns are the settings to choose: a
timeout of at least twice the time measured and the smallest Gradescope memory size
above 1.5 times the peak. The load average is printed with the figures: on a shared
machine times stretch with it.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rnnkit_grader import assignments, gradescope  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RNNKIT = Path(sys.executable).with_name("rnnkit")
MEMORY_SIZES_GB = (0.768, 1, 1.5, 2, 3, 4, 6, 8)  # the sizes Gradescope offers, roughly (check the current settings page)


def tree_rss_mib(root_pid):
    """Resident memory of root_pid and all its descendants, in MiB."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def measure(cmd, env):
    peak = [0.0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mib(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    sampler.join()
    return time.perf_counter() - t0, peak[0], proc.returncode, err


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=[a.id for a in assignments.available()])
    parser.add_argument("--cpus", default="0", help="the CPU list for taskset (default 0: one CPU)")
    args = parser.parse_args()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    print(f"{os.cpu_count()} CPUs here, grading pinned to CPU(s) {args.cpus}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'assignment':<16} {'build s':>8} {'grade s':>8} {'peak MiB':>9} {'reference child':>16}  {'score':>6}  load   timeout / memory to set")
    for assignment_id in args.assignments:
        assignment = assignments.get(assignment_id)
        with tempfile.TemporaryDirectory(prefix="rnnkit-bench-gs-") as tmp:
            tmp = Path(tmp)
            t0 = time.perf_counter()
            gradescope.reference_answers(assignment, tmp / "answers")
            build = time.perf_counter() - t0
            results = tmp / "results.json"
            seconds, peak, code, err = measure(
                ["taskset", "-c", args.cpus, str(RNNKIT), "grade", str(ROOT / "examples" / "submissions" / assignment_id / "correct.ipynb"),
                 "--assignment", assignment_id, "--reference-answers", str(tmp / "answers"), "--isolation", "strong", "--results", str(results)],
                env,
            )
            if code != 0:
                print(f"{assignment_id:<16} grading failed (exit {code}): {err.strip().splitlines()[-1:]}")
                continue
            data = json.loads(results.read_text())
            started = data["extra_data"].get("reference_child", "?").split(":")[0]
            memory = next((m for m in MEMORY_SIZES_GB if m * 1024 >= 1.5 * peak), MEMORY_SIZES_GB[-1])
            timeout = max(60, int(-(-2 * seconds // 60) * 60))
            print(f"{assignment_id:<16} {build:8.1f} {seconds:8.1f} {peak:9.0f} {started:>16}  {data['score']:6g}  {os.getloadavg()[0]:4.1f}   "
                  f"{timeout // 60} min / {memory:g} GB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
