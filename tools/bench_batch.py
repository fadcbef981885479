"""Benchmark: a batch of mixed example submissions, nbgrader autograde against rnnkit grade-batch.

    .venv/bin/python tools/bench_batch.py [ASSIGNMENT ...] [--per-assignment N] [--skip-nbgrader]

Builds an nbgrader course folder in a temporary directory with the examples of the
given assignments (default 01_rnn_numpy, 05_mnist and 06_char_rnn; all their examples,
or the first N of each expected.json with --per-assignment N) handed in as students,
then times, in this one run:

- `rnnkit grade-batch --jobs 1` and `--jobs 2` (each from an empty output folder),
- `nbgrader autograde` of the same submissions (one call per assignment): with the kit's
  nbgrader_config.py, its GradeWithRnnkit step grades each submitted file with the same
  sandbox and suites in place of nbgrader's Execute,

and prints the wall times, the ratios nbgrader / grade-batch (target: at most 1.2 against
--jobs 1), the peak resident memory of each grading child (from results.json) and
whether nbgrader's gradebook agrees with rnnkit unit by unit.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
BIN = Path(sys.executable).parent
from rnnkit_grader.nbgrader_bridge import cell_name  # noqa: E402


def run(cmd, cwd):
    """Run cmd in a fresh process; (seconds, peak RSS in MiB of its largest waited-for descendant)."""
    helper = (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter(); code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
        "print(json.dumps([code, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))"
    )
    path = os.pathsep.join([str(BIN), os.environ.get("PATH", "")])
    out = subprocess.run([sys.executable, "-c", helper, *cmd], cwd=cwd, capture_output=True, text=True,
                         env=dict(os.environ, PATH=path))
    code, seconds, peak = json.loads(out.stdout.strip().splitlines()[-1])
    if code != 0:
        print(f"  warning: {' '.join(cmd[:2])} exited {code}")
    return seconds, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=["01_rnn_numpy", "05_mnist", "06_char_rnn"])
    parser.add_argument("--per-assignment", type=int, default=0, help="only the first N examples of each assignment")
    parser.add_argument("--skip-nbgrader", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rnnkit-bench-batch-"))
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    db = f"sqlite:///{course}/gradebook.db"
    nbgrader = [str(BIN / "nbgrader")]
    flags = ["--log-level=ERROR", f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url={db}"]
    count = 0
    for assignment_id in args.assignments:
        shutil.copytree(ROOT / "solutions" / assignment_id, course / "solutions" / assignment_id)
        subprocess.run(nbgrader + ["generate_assignment", assignment_id, "--force", *flags], cwd=course, check=True,
                       capture_output=True, env=dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ["PATH"]])))
        names = list(json.loads((EXAMPLES / assignment_id / "expected.json").read_text()))
        for example in [EXAMPLES / assignment_id / n for n in names[: args.per_assignment or None]]:
            target = course / "submitted" / example.stem / assignment_id
            target.mkdir(parents=True)
            shutil.copy(example, target / f"{assignment_id}.ipynb")
            count += 1
    print(f"{count} submissions of {', '.join(args.assignments)}; {os.cpu_count()} CPUs")
    times = {}
    for jobs in (1, 2):
        out = tmp / f"out{jobs}"
        times[jobs] = run([str(BIN / "rnnkit"), "grade-batch", str(course), "--out", str(out), "--jobs", str(jobs)], tmp)
        print(f"rnnkit grade-batch --jobs {jobs}: {times[jobs][0]:7.1f} s  ({times[jobs][0] / count:.1f} s per submission), "
              f"peak RSS of one process {times[jobs][1]:.0f} MiB")
    units, peaks = {}, {}
    for results in sorted((tmp / "out1").glob("*/*/results.json")):
        data = json.loads(results.read_text())
        units[(results.parent.name, results.parent.parent.name)] = {
            cell_name(u): round(v["score"], 4) for u, v in data["extra_data"]["units"].items()}
        peaks.setdefault(results.parent.parent.name, []).append(data["extra_data"].get("child_peak_rss_mib") or 0)
    for assignment_id, values in sorted(peaks.items()):
        print(f"peak RSS of a grading child, {assignment_id}: median {sorted(values)[len(values) // 2]:.0f} MiB, max {max(values):.0f} MiB")
    if args.skip_nbgrader:
        return 0
    seconds, peak = run(nbgrader + ["autograde", *args.assignments, "--create", "--force", *flags], course) if len(args.assignments) == 1 else (0.0, 0.0)
    if len(args.assignments) > 1:  # nbgrader autograde takes one assignment per call
        for assignment_id in args.assignments:
            s, p = run(nbgrader + ["autograde", assignment_id, "--create", "--force", *flags], course)
            seconds, peak = seconds + s, max(peak, p)
    print(f"nbgrader autograde:           {seconds:7.1f} s  ({seconds / count:.1f} s per submission), peak RSS of one process {peak:.0f} MiB")
    for jobs in (1, 2):
        print(f"ratio nbgrader autograde / rnnkit grade-batch --jobs {jobs}: {seconds / times[jobs][0]:.2f}"
              + ("  (target <= 1.2)" if jobs == 1 else ""))
    from nbgrader.api import Gradebook

    mismatches = []
    with Gradebook(db) as gb:
        for (student, assignment_id), ours in units.items():
            notebook = gb.find_submission_notebook(assignment_id, assignment_id, student)
            theirs = {g.name: round(g.auto_score or 0.0, 4) for g in notebook.grades}
            if theirs != ours:
                mismatches.append(f"{student}/{assignment_id}: rnnkit {ours}, nbgrader {theirs}")
    print("unit scores agree" if not mismatches else "unit scores differ:\n  " + "\n  ".join(mismatches))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
