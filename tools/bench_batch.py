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

    .venv/bin/python tools/bench_batch.py --students 50 [--mix 01_rnn_numpy=34,03_hello_lm=8,04_embeddings=8]

is the regrade benchmark instead (and `--course [ID ...]` the whole course per student, see
tools/bench_course.py): the examples of cheap assignments handed in under many
names (one assignment per student, cycling through each assignment's examples), graded
from a snapshot of the kit copied to a temporary folder (so that edits in the checkout
during the run change nothing) with `grade-batch --jobs 1`, `--jobs 2` and on a two-worker
local Dask cluster (each from an empty output folder), then again with nothing changed,
then after a one-line change to each suite (every submission graded again once), then
once more (with --scaling-only just the two --jobs runs and their ratio). It prints each wall time, the ratios, how many submissions each run graded and
the load average of the machine before and after each run.
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
    parser.add_argument("--course", action="store_true", help="the whole course per student instead (tools/bench_course.py)")
    parser.add_argument("--students", type=int, default=0, help="the regrade benchmark with this many students")
    parser.add_argument("--mix", default="01_rnn_numpy=34,03_hello_lm=8,04_embeddings=8",
                        help="for --students: ID=WEIGHT,... how the students are spread over assignments")
    parser.add_argument("--scaling-only", action="store_true",
                        help="for --students: only --jobs 1 and --jobs 2 and their ratio (the Dask and re-grading runs are skipped)")
    args = parser.parse_args()
    if args.course:  # one student's correct notebook of every assignment (or the given ones), cached references
        from bench_course import course_per_student

        return course_per_student([a for a in sys.argv[1:] if not a.startswith("-")])
    if args.students:
        return regrade_benchmark(args.students, dict((k, int(v)) for k, v in (item.split("=") for item in args.mix.split(","))),
                                 scaling_only=args.scaling_only)
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


def snapshot_kit(target, assignment_ids):
    """Copy the kit's code, the given assignments' suites, solutions and releases to target."""
    for package in ("autograder/rnnkit_grader", "autograder/rnnkit_child", "rnnkit"):
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "autograder" / "suites").mkdir(parents=True)
    for assignment_id in assignment_ids:
        shutil.copy(ROOT / "autograder" / "suites" / f"test_{assignment_id}.py", target / "autograder" / "suites")
        for folder in ("solutions", "assignments"):
            shutil.copytree(ROOT / folder / assignment_id, target / folder / assignment_id)
    return {"PYTHONPATH": f"{target / 'autograder'}{os.pathsep}{target}", "RNNKIT_ROOT": str(target)}


def regrade_benchmark(students, mix, scaling_only=False):
    tmp = Path(tempfile.mkdtemp(prefix="rnnkit-bench-regrade-"))
    env = snapshot_kit(tmp / "kit", list(mix))
    os.environ.update(env)  # the Dask workers started here, and every rnnkit command, use the snapshot
    total = sum(mix.values())
    counts = {a: round(students * w / total) for a, w in mix.items()}
    counts[list(mix)[0]] += students - sum(counts.values())
    course = tmp / "course"
    n = 0
    for assignment_id, count in counts.items():
        examples = [EXAMPLES / assignment_id / name for name in json.loads((EXAMPLES / assignment_id / "expected.json").read_text())]
        for i in range(count):
            n += 1
            target = course / "submitted" / f"student{n:03d}" / assignment_id
            target.mkdir(parents=True)
            shutil.copy(examples[i % len(examples)], target / f"{assignment_id}.ipynb")
    print(f"{n} submissions ({', '.join(f'{a}: {c}' for a, c in counts.items())}), graded from a snapshot of the kit in {tmp / 'kit'}; "
          f"{os.cpu_count()} CPUs")
    rnnkit = [sys.executable, "-c", "import sys; from rnnkit_grader.cli import main; sys.exit(main())"]

    def timed(label, *extra, out):
        before = os.getloadavg()[0]
        t = time.perf_counter()
        done = subprocess.run(rnnkit + ["grade-batch", str(course), "--out", str(out), *extra], cwd=tmp, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        summary = next((line for line in done.stderr.splitlines() if "submissions found" in line), "?")
        print(f"{label:<44} {seconds:7.1f} s   load {before:4.1f} -> {os.getloadavg()[0]:4.1f}   [{summary.strip()}]"
              + ("" if done.returncode == 0 else f"   exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"), flush=True)
        return seconds

    times = {}
    times["jobs1"] = timed("grade-batch --jobs 1", "--jobs", "1", out=tmp / "out1")
    times["jobs2"] = timed("grade-batch --jobs 2", "--jobs", "2", out=tmp / "out2")
    if scaling_only:
        same = (tmp / "out1" / "gradebook.csv").read_text() == (tmp / "out2" / "gradebook.csv").read_text()
        print(f"ratio --jobs 1 / --jobs 2 = {times['jobs1'] / times['jobs2']:.2f} (target >= 1.8); "
              + ("the two gradebooks agree" if same else "the gradebooks DIFFER between --jobs 1 and --jobs 2"))
        shutil.rmtree(tmp, ignore_errors=True)
        return 0 if same else 1
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        times["dask"] = timed("grade-batch on a 2-worker local Dask cluster", "--scheduler", cluster.scheduler_address, out=tmp / "out3")
    times["unchanged"] = timed("again, nothing changed (--jobs 2)", "--jobs", "2", out=tmp / "out2")
    for assignment_id in mix:
        suite = tmp / "kit" / "autograder" / "suites" / f"test_{assignment_id}.py"
        suite.write_text(suite.read_text() + "# one line added: a suite change\n")
    times["changed"] = timed("after a one-line change to each suite", "--jobs", "2", out=tmp / "out2")
    times["again"] = timed("again, nothing changed since", "--jobs", "2", out=tmp / "out2")
    print(f"ratios: --jobs 1 / --jobs 2 = {times['jobs1'] / times['jobs2']:.2f}, --jobs 1 / Dask (2 workers) = {times['jobs1'] / times['dask']:.2f}, "
          f"unchanged re-run / --jobs 2 = {times['unchanged'] / times['jobs2']:.3f}, after the suite change / --jobs 2 = {times['changed'] / times['jobs2']:.2f}")
    same = all((tmp / "out1" / "gradebook.csv").read_text() == (tmp / o / "gradebook.csv").read_text() for o in ("out2", "out3"))
    print("the three gradebooks agree" if same else "the gradebooks DIFFER between --jobs 1, --jobs 2 and Dask")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
