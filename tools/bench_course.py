"""Benchmark: the whole course per student, graded through `rnnkit grade-batch` with cached references.

    .venv/bin/python tools/bench_course.py [ASSIGNMENT ...]      (or tools/bench_batch.py --course)

One student's correct example of every assignment (default all eight) in an nbgrader course
folder goes through one `rnnkit grade-batch --jobs 1` three times, in this one run: cold
(filling the reference cache), then with that cache copied into a fresh output folder with the
fast start off (RNNKIT_CHILD_TEMPLATE=0 RNNKIT_LAZY_REFERENCE=0: every child started from scratch
and the reference child started for every grading, as before issue 18) and on. It prints each
run's wall time with the load average before and after, and per assignment the grading time
from results.json. Target for the cached course with the fast start on: at most 60 s on 2 cores.
It grades from a copy of the kit's code, suites and solutions made at the start: an edit in the
checkout during the run would change the kit's fingerprint and so miss every cached answer.
"""

import argparse
import json
import os
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
SWITCHES = ("RNNKIT_CHILD_TEMPLATE", "RNNKIT_LAZY_REFERENCE")
RUNS = (("cold (no cache)", "cold", "1"), ("cached, fast start off", "before", "0"), ("cached, fast start on", "after", "1"))


def _load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def copy_of_the_kit(target, ids):
    """The code, suites, solutions and releases of `ids` under target; the environment that grades with them."""
    for package in ("autograder/rnnkit_grader", "autograder/rnnkit_child", "rnnkit"):
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "autograder" / "suites").mkdir()
    for assignment_id in ids:
        shutil.copy(ROOT / "autograder" / "suites" / f"test_{assignment_id}.py", target / "autograder" / "suites")
        for folder in ("solutions", "assignments"):
            if (ROOT / folder / assignment_id).is_dir():
                shutil.copytree(ROOT / folder / assignment_id, target / folder / assignment_id)
    return {"PYTHONPATH": os.pathsep.join([str(target / "autograder"), str(target)]), "RNNKIT_ROOT": str(target)}


def course_per_student(assignment_ids=()):
    """Returns 0 when every notebook of every run scores 100."""
    ids = list(assignment_ids) or sorted(p.name for p in EXAMPLES.iterdir() if (p / "correct.ipynb").exists())
    tmp = Path(tempfile.mkdtemp(prefix="rnnkit-bench-course-"))
    course = tmp / "course"
    for assignment_id in ids:
        target = course / "submitted" / "student" / assignment_id
        target.mkdir(parents=True)
        shutil.copy(EXAMPLES / assignment_id / "correct.ipynb", target / f"{assignment_id}.ipynb")
    kit = copy_of_the_kit(tmp / "kit", ids)
    print(f"the course per student: {len(ids)} correct notebooks ({', '.join(ids)}); {os.cpu_count()} CPUs", flush=True)
    failed = False
    try:
        for label, name, fast in RUNS:
            out = tmp / name
            if name != "cold":
                shutil.copytree(tmp / "cold" / ".reference-cache", out / ".reference-cache")
            env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]), **kit, **{k: fast for k in SWITCHES})
            load = _load()
            t0 = time.perf_counter()
            done = subprocess.run([str(BIN / "rnnkit"), "grade-batch", str(course), "--out", str(out), "--jobs", "1"],
                                  cwd=tmp, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            per = {}
            for results in sorted(out.glob("*/student/results.json")):
                data = json.loads(results.read_text())
                per[results.parent.parent.name] = (data["execution_time"], data["score"])
            failed = failed or done.returncode != 0 or len(per) != len(ids) or any(score != 100 for _, score in per.values())
            print(f"{label:24s}: {seconds:6.1f} s for the course  (load average before {load}, after {_load()})"
                  + ("" if done.returncode == 0 else f"  exit {done.returncode}: {done.stderr.strip()[-300:]}"))
            print("    " + ", ".join(f"{a[:2]} {t:.1f} s" + ("" if score == 100 else f" (score {score:g})")
                                     for a, (t, score) in per.items()), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("every notebook scored 100 in every run" if not failed else "SOME NOTEBOOK DID NOT SCORE 100 (or a run failed)")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    return course_per_student(parser.parse_args().assignments)


if __name__ == "__main__":
    sys.exit(main())
