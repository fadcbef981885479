"""The `rnnkit` command: grade, release, demo."""

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from rnnkit_grader import assignments, isolation, report  # noqa: E402
from rnnkit_grader.isolate import Reference  # noqa: E402
from rnnkit_grader.runner import grade_notebook  # noqa: E402

EXAMPLES = assignments.ROOT / "examples" / "submissions"


def _refused_result(args, message):
    """What `grade` writes when it refuses to grade: a results.json of 0 with the reason (Gradescope shows it)."""
    from rnnkit_grader.results import GradeResult

    result = GradeResult(str(args.notebook), args.assignment, [], [message], 0.0, isolation=isolation.describe())
    if args.results:
        report.write_results(result, args.results)
    if args.feedback:
        report.write_feedback(result, args.feedback)


def cmd_grade(args):
    if args.isolation == "strong":  # grading someone else's work (Gradescope's run_autograder)
        try:
            isolation.require_strong("grade this submission", explicit=None)
        except isolation.IsolationRefused as exc:
            print(f"rnnkit grade: {exc}", file=sys.stderr)
            _refused_result(args, f"The autograder is not set up safely, so it did not grade this notebook; tell the course staff. ({exc})")
            return 2
    elif not isolation.strong_isolation():
        print(
            "rnnkit grade: warning: bubblewrap is not available, so the notebook's code runs with only weak isolation "
            "(it can read what this user can and reach the network); grade only notebooks you trust this way.",
            file=sys.stderr,
        )
    from rnnkit_grader import gradescope, live_results

    reference, extra = None, {}
    if args.reference_answers and args.assignment in assignments.ASSIGNMENT_IDS and assignments.get(args.assignment).available:
        reference = Reference(assignments.get(args.assignment), cache_dir=args.reference_answers, eager=False)
    live = contextlib.nullcontext() if not args.results else live_results.watching(args.results, args.notebook, args.assignment, args.hidden_tests)
    try:
        with live as watch:
            result = grade_notebook(args.notebook, args.assignment, root=args.submission_dir, reference=reference)
    finally:
        if reference is not None:
            extra["reference_child"] = "started: a request was not among the shipped answers" if reference.started else "not started"
            reference.close()
    if args.results:
        report.write_results(result, args.results, args.hidden_tests, watch.public if watch else (), extra)
    if args.feedback:
        report.write_feedback(result, args.feedback)
    print(report.table(result))
    return 0


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_grade_batch(args):
    from rnnkit_grader import batch

    try:
        isolation.require_strong("grade other people's work with grade-batch", explicit=args.isolation)
    except isolation.IsolationRefused as exc:
        print(f"rnnkit grade-batch: {exc}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    # Ctrl-C stops the batch even when started from a process that ignores SIGINT (a test runner,
    # nohup, a job started with &): Python then installs no KeyboardInterrupt handler of its own.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        all_jobs, todo, failures, gradebook = batch.run_batch(
            args.dir, args.out, jobs=args.jobs, assignment=args.assignment, scheduler=args.scheduler, timeout=args.timeout
        )
    except batch.BatchError as exc:
        print(f"rnnkit grade-batch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: the gradebook and class report in {args.out} hold what was graded so far; "
              "run the same command again to grade the rest", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    for job, exc in failures:
        print(f"not graded: {job.path}: {exc}", file=sys.stderr)
    print(f"graded {len(todo) - len(failures)} of {len(todo)}; gradebook: {gradebook}")
    if args.nbgrader_db:
        from rnnkit_grader import nbgrader_bridge

        written, problems = nbgrader_bridge.write_batch(args.nbgrader_db, args.out)
        for problem in problems:
            print(f"not written to the nbgrader gradebook: {problem}", file=sys.stderr)
        print(f"wrote {written} submissions' scores into the nbgrader gradebook {args.nbgrader_db}")
        if problems:
            return 1
    return 1 if failures else 0


def cmd_gradescope(args):
    from rnnkit_grader import gradescope

    out = args.out or f"gradescope_{args.assignment}.zip"
    print(f"computing the reference answers of {args.assignment} (grading its reference solution once) ...", file=sys.stderr)
    try:
        path = gradescope.build_zip(args.assignment, out, isolation=args.isolation, hidden_tests=args.hidden_tests)
    except RuntimeError as exc:
        print(f"rnnkit gradescope: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}: upload it as the autograder of {args.assignment} (timeout, memory and CPUs to set: the README's "
          "\"Gradescope settings\")")
    return 0


def cmd_similarity(args):
    from rnnkit_grader import batch, similarity

    try:
        found = similarity.compare_folder(args.dir, args.assignment, threshold=args.threshold)
    except batch.BatchError as exc:
        print(f"rnnkit similarity: {exc}", file=sys.stderr)
        return 2
    similarity.write_report(found, args.out)
    print(similarity.summary(found))
    print(f"report: {args.out}")
    return 0


def cmd_export(args):
    from rnnkit_grader import export

    try:
        path, problems = export.export(args.out_dir, args.format, roster=args.roster, to=args.to, names=dict(args.name or []))
    except export.ExportError as exc:
        print(f"rnnkit export: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"rnnkit export: {problem}", file=sys.stderr)
    print(f"wrote {path}")
    return 0


def _assignment_name(text):
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected ID=COLUMN (for example 01_rnn_numpy='Homework 1 (1234)'), got {text!r}")
    return key, value


def cmd_release(args):
    from rnnkit_grader import release

    ids = args.assignments or [a.id for a in assignments.available()]
    for assignment_id in ids:
        path = release.generate(assignment_id)
        print(f"released {assignment_id} -> {path.relative_to(assignments.ROOT)}")
    return 0


def cmd_check_assignment(args):
    """What each named assignment is missing (its record in assignments.py and the files it names)."""
    from rnnkit_grader import readiness

    ids = args.assignments or list(assignments.ASSIGNMENT_IDS)
    unknown = [i for i in ids if i not in assignments.ASSIGNMENT_IDS]
    if unknown:
        print(f"rnnkit check-assignment: no record for {', '.join(unknown)} in autograder/rnnkit_grader/assignments.py "
              "(add an Assignment to RECORDS: docs/adding-an-assignment.md)", file=sys.stderr)
        return 2
    incomplete = 0
    for assignment_id in ids:
        problems = readiness.missing(assignments.get(assignment_id), release=not args.no_release)
        incomplete += bool(problems)
        print(f"{assignment_id}: " + ("complete" if not problems else f"{len(problems)} thing(s) missing"))
        for problem in problems:
            print(f"  - {problem}")
    return 1 if incomplete else 0


def cmd_author(args):
    """After a notebook change, in order: the hidden test cells (nbgrader_bridge sync), the release
    (nbgrader), the examples (tools/make_examples.py); then what check-assignment still finds."""
    import subprocess

    from rnnkit_grader import nbgrader_bridge, readiness, release

    ids = args.assignments or [a.id for a in assignments.available()]
    unknown = [i for i in ids if i not in assignments.ASSIGNMENT_IDS]
    if unknown:
        print(f"rnnkit author: no record for {', '.join(unknown)} in autograder/rnnkit_grader/assignments.py", file=sys.stderr)
        return 2
    print("1/3 test cells (points from the hidden suites) in solutions/")
    nbgrader_bridge.main(["sync", *ids])
    print("2/3 the release in assignments/ (nbgrader generate_assignment)")
    for assignment_id in ids:
        path = release.generate(assignment_id)
        print(f"released {assignment_id} -> {path.relative_to(assignments.ROOT)}")
    print("3/3 the example submissions in examples/submissions/ (tools/make_examples.py)")
    done = subprocess.run([sys.executable, str(assignments.ROOT / "tools" / "make_examples.py"), *ids])
    if done.returncode != 0:
        print("rnnkit author: tools/make_examples.py failed", file=sys.stderr)
        return 1
    incomplete = 0
    for assignment_id in ids:
        problems = readiness.missing(assignments.get(assignment_id), release=False)
        incomplete += bool(problems)
        for problem in problems:
            print(f"{assignment_id}: still missing: {problem}")
    print("Next: `make execute` if a code cell of a solution changed (tests/test_pages.py), and "
          f"`rnnkit demo {' '.join(ids)} --all` to see every example keep its recorded score.")
    return 1 if incomplete else 0


def load_expected():
    """{"<id>/<name>.ipynb": expected score} from examples/submissions/<id>/expected.json, in file order."""
    expected = {}
    for path in sorted(EXAMPLES.glob("*/expected.json")):
        for name, entry in json.loads(path.read_text()).items():
            expected[f"{path.parent.name}/{name}"] = entry["score"]
    return expected


def demo_selection(expected, ids=(), everything=False):
    """The examples the demo grades: all of them with --all, else the correct one and the first mistake of each."""
    chosen, seen = {}, {}
    for rel, want in expected.items():
        assignment_id, name = rel.split("/")
        if ids and assignment_id not in ids:
            continue
        if not assignments.get(assignment_id).available:
            continue
        kind = "correct" if name == "correct.ipynb" else "blank" if name == "blank.ipynb" else "mistake"
        if everything or kind == "correct" or (kind == "mistake" and not seen.get(assignment_id)):
            chosen[rel] = want
            seen[assignment_id] = seen.get(assignment_id) or kind == "mistake"
    return chosen


def cmd_demo(args):
    expected = load_expected()
    chosen = demo_selection(expected, args.assignments, args.all)
    references = {}
    rows, mismatches = [], 0
    what = "all" if args.all else "the correct one and a realistic mistake of each assignment:"
    print(f"Grading {len(chosen)} of the {len(expected)} example submissions in {EXAMPLES.relative_to(assignments.ROOT)}/ ({what}"
          f"{'' if args.all else ' `rnnkit demo --all` grades every one'}) ...", flush=True)
    for rel, want in chosen.items():
        assignment_id = rel.split("/")[0]
        if assignment_id not in references:
            references[assignment_id] = Reference(assignments.get(assignment_id))
        result = grade_notebook(EXAMPLES / rel, assignment_id, reference=references[assignment_id])
        ok = abs(result.score - want) < 1e-6
        mismatches += not ok
        rows.append((rel, result.score, result.max_score, want, ok, result.seconds))
        print(f"  {rel:<52} {result.score:6g} / {result.max_score:g}   expected {want:g}  {'ok' if ok else 'MISMATCH'}  ({result.seconds:.1f} s)", flush=True)
        if args.verbose:
            print(report.table(result))
        else:
            for test in result.tests:
                if test.status != "passed":
                    first = (test.output.splitlines() or [""])[0]
                    print(f"      - {test.name[:90]}\n          {first[:200]}")
    for ref in references.values():
        ref.close()
    print(f"{len(rows) - mismatches} of {len(rows)} examples got their expected score.")
    return 1 if mismatches else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rnnkit", description="Course kit for recurrent neural networks: grading and release.")
    sub = parser.add_subparsers(dest="command", required=True)

    grade = sub.add_parser("grade", help="grade one submitted notebook")
    grade.add_argument("notebook")
    grade.add_argument("--assignment", help="assignment id (inferred from the notebook when left out)")
    grade.add_argument("--results", help="write Gradescope-style results.json here")
    grade.add_argument("--feedback", help="write the student's feedback page (HTML) here")
    grade.add_argument("--submission-dir", metavar="DIR", help="the folder handed in: the notebook must lie inside it, and neither it nor any folder on the way may be a symlink (default: the notebook's folder)")
    grade.add_argument(
        "--isolation", choices=("strong", "auto"), default="auto",
        help="strong: refuse to grade without bubblewrap unless RNNKIT_ISOLATION=weak (for other people's work, as Gradescope's run_autograder does); "
        "auto (default): warn and grade",
    )
    grade.add_argument("--reference-answers", metavar="DIR", help="reference answers computed beforehand (the Gradescope zip's): the reference child starts only for a request they lack; needs --assignment")
    grade.add_argument("--hidden-tests", choices=("visible", "hidden", "after_due_date", "after_published"), default="visible",
                       help="Gradescope visibility of every test in --results except the suite's public checks (default visible)")
    grade.set_defaults(func=cmd_grade)

    batch = sub.add_parser("grade-batch", help="grade every submission under DIR, in parallel and resumably")
    batch.add_argument("dir", help="nbgrader's course folder (submitted/<student>/<assignment>/) or a flat folder of notebooks")
    batch.add_argument("--out", required=True, help="where results, feedback and gradebook.csv go")
    batch.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    batch.add_argument("--assignment", help="assignment id: required for a flat folder of one assignment; in nbgrader's layout, grade only this one")
    batch.add_argument("--scheduler", help="address of a Dask distributed scheduler to run the grading on")
    batch.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-clock limit per submission (default: the assignment's time budget plus a margin)")
    batch.add_argument(
        "--isolation", choices=("strong", "weak"), default="strong",
        help="weak: grade even without bubblewrap (students' code can then read the hidden suites and reach the network); "
        "also RNNKIT_ISOLATION=weak. Default: refuse without it",
    )
    batch.add_argument(
        "--nbgrader-db", metavar="URL",
        help="also record the scores as auto scores in this nbgrader gradebook (e.g. sqlite:///gradebook.db); "
        "the assignments must have been generated into it with nbgrader generate_assignment",
    )
    batch.set_defaults(func=cmd_grade_batch)

    gs = sub.add_parser("gradescope", help="build the Gradescope autograder zip for an assignment")
    gs.add_argument("assignment")
    gs.add_argument("--out", help="zip file to write (default gradescope_<assignment>.zip)")
    gs.add_argument("--isolation", choices=("strong", "weak"), default="strong",
                    help="weak: the autograder grades even where bubblewrap cannot run (RNNKIT_ISOLATION=weak in run_autograder); default: it refuses")
    gs.add_argument("--hidden-tests", choices=("visible", "hidden", "after_due_date", "after_published"), default="visible",
                    help="Gradescope visibility of every test but the suite's public checks, e.g. after_published to hold them back until grades are published (default visible)")
    gs.set_defaults(func=cmd_gradescope)

    sim = sub.add_parser("similarity", help="compare the graded cells of every submission with each other and with the reference solution")
    sim.add_argument("dir", help="the submissions: nbgrader's course folder or a flat folder of notebooks (as for grade-batch)")
    sim.add_argument("--assignment", required=True, help="assignment id")
    sim.add_argument("--out", required=True, help="the HTML report to write")
    sim.add_argument("--threshold", type=float, default=None, help="flag pairs whose similarity is at least this (0-1; default: similarity.THRESHOLD, calibrated on the examples)")
    sim.set_defaults(func=cmd_similarity)

    exp = sub.add_parser("export", help="grades of a batch for an LMS: Canvas's gradebook import CSV, or a per-unit CSV")
    exp.add_argument("out_dir", metavar="OUT", help="the --out folder of rnnkit grade-batch")
    exp.add_argument("--format", choices=("canvas", "units"), default="canvas", help="canvas: Canvas's gradebook import CSV; units: one column per assignment and unit")
    exp.add_argument("--roster", help="CSV mapping the kit's student ids (column 'student') to the LMS's: Student, ID, SIS User ID, SIS Login ID, Section")
    exp.add_argument("--to", help="the CSV to write (default OUT/canvas_import.csv or OUT/unit_scores.csv)")
    exp.add_argument("--name", action="append", type=_assignment_name, metavar="ID=COLUMN",
                     help="the LMS's column for an assignment, e.g. 01_rnn_numpy='Homework 1 (1234)' (Canvas matches 'Name (assignment id)'); repeatable")
    exp.set_defaults(func=cmd_export)

    release = sub.add_parser("release", help="regenerate assignments/ from solutions/ with nbgrader")
    release.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    release.set_defaults(func=cmd_release)

    check = sub.add_parser("check-assignment", help="list what an assignment is missing: solution, release, suite, probes, examples, calibration")
    check.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    check.add_argument("--no-release", action="store_true", help="skip regenerating the release with nbgrader (the slowest check)")
    check.set_defaults(func=cmd_check_assignment)

    author = sub.add_parser("author", help="after a notebook change: test cells, release and examples, in that order")
    author.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    author.set_defaults(func=cmd_author)

    demo = sub.add_parser("demo", help="grade example submissions against their recorded scores")
    demo.add_argument("assignments", nargs="*", help="only these assignment ids")
    demo.add_argument("--all", action="store_true", help="every example (blank and all the mistakes too)")
    demo.add_argument("-v", "--verbose", action="store_true", help="print every test of every submission")
    demo.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
