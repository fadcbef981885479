"""Build a Gradescope autograder zip for one assignment.

The zip holds the kit's source (library, engine, hidden suite, the assignment's
reference notebook), the reference answers (computed once here, by grading the reference
solution with a reference cache; `reference_answers/`), `setup.sh` (installs Python 3.11
and the kit into a virtual environment) and `run_autograder` (grades
/autograder/submission/*.ipynb and writes /autograder/results/results.json, rewritten
after every test: see live_results.py). Upload it as the assignment's autograder.

In the container the grader answers the suite's reference requests from the shipped
answers (a Reference with eager=False): the reference child starts only for a request they lack
(one that depends on what the submission returned, say), and results.json says whether
it started (extra_data.reference_child). Tests keep the visibility chosen with
--hidden-tests except those the suite marks `@pytest.mark.public`. Settings (timeout,
memory, CPUs): the README's Gradescope section.
"""

import shutil
import tempfile
import zipfile
from pathlib import Path

from rnnkit_grader import assignments
from rnnkit_grader.isolate import Reference

ANSWERS = "reference_answers"  # the folder of the zip (and of /autograder/source) with the shipped reference answers
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when the autograder image is built.
set -euo pipefail
cd /autograder/source
if ! command -v python3.11 >/dev/null; then
    apt-get update -q
    apt-get install -y -q software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa || true
    apt-get update -q
    apt-get install -y -q python3.11 python3.11-venv
fi
# The grader refuses to run submissions without bubblewrap's sandbox (see docs/threat-model.md).
if ! command -v bwrap >/dev/null; then
    apt-get update -q && apt-get install -y -q bubblewrap || true
fi
python3.11 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
/autograder/venv/bin/pip install --quiet -e /autograder/source
# The second line where the container forbids bubblewrap (a zip built with --isolation weak):
# the student's child then runs as `nobody`, so what it must not read is made root's only.
# It needs only the interpreter, the packages, rnnkit and rnnkit_child, which stay readable.
chmod -R go-rwx /autograder/source/autograder/suites /autograder/source/solutions \
    /autograder/source/autograder/rnnkit_grader /autograder/source/reference_answers 2>/dev/null || true
chmod go+rx /autograder /autograder/source /autograder/source/autograder
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT lets tests use another root.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
RNNKIT="${{RNNKIT_BIN:-$ROOT/venv/bin/rnnkit}}"
export TF_CPP_MIN_LOG_LEVEL=3
{isolation}mkdir -p "$ROOT/results"
# Symlinks are listed (find does not follow them) and refused by the grader with a message.
notebook=$(find "$ROOT/submission" -name '{assignment}.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort | head -n 1)
if [ -z "$notebook" ]; then
    notebook=$(find "$ROOT/submission" -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort | head -n 1)
fi
if [ -z "$notebook" ]; then
    printf '%s\\n' '{{"score": 0, "output": "No .ipynb file was submitted: upload your {assignment}.ipynb notebook.", "tests": []}}' > "$ROOT/results/results.json"
    exit 0
fi
# results.json is rewritten after every test: Gradescope's global timeout leaves the tests done so far.
"$RNNKIT" grade "$notebook" --assignment {assignment} --submission-dir "$ROOT/submission" --isolation strong \\
    --reference-answers "$ROOT/source/{answers}" --hidden-tests {hidden} \\
    --results "$ROOT/results/results.json" --feedback "$ROOT/results/feedback.html"
"""

# What the zip carries from the repository (the assignment's own solution is added separately).
INCLUDE = ["pyproject.toml", "README.md", "nbgrader_config.py", "rnnkit", "autograder/rnnkit_grader", "autograder/rnnkit_child"]


def build_zip(assignment_id, out_path, isolation="strong", hidden_tests="visible", answers=True):
    """Write the autograder zip for assignment_id to out_path and return its path.

    Its run_autograder refuses to grade where bubblewrap cannot run, unless built with
    isolation="weak" (or RNNKIT_ISOLATION=weak is set where it runs). `hidden_tests` is the
    Gradescope visibility of every test but the suite's public ones. With `answers`, the
    reference solution is graded here (seconds to minutes, like one submission) and the
    reference answers it needed go into the zip.
    """
    if hidden_tests not in VISIBILITIES:
        raise ValueError(f"hidden_tests must be one of {', '.join(VISIBILITIES)}, not {hidden_tests!r}")
    assignment = assignments.get(assignment_id)
    root = assignments.ROOT
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rnnkit-answers-") as tmp, zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _add_executable(zf, "setup.sh", SETUP_SH)
        _add_executable(zf, "run_autograder", RUN_AUTOGRADER.format(
            assignment=assignment_id, answers=ANSWERS, hidden=hidden_tests,
            isolation='export RNNKIT_ISOLATION=weak  # built with --isolation weak\n' if isolation == "weak" else ""))
        for item in INCLUDE:
            path = root / item
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            for file in files:
                zf.write(file, file.relative_to(root).as_posix())
        for file in (assignment.suite, assignment.suite.parent / "conftest.py", assignment.solution):
            if file.exists():
                zf.write(file, file.relative_to(root).as_posix())
        zf.writestr(f"{ANSWERS}/README", "Reference answers computed when this zip was built (rnnkit_grader.gradescope.reference_answers).\n")
        if answers:
            for file in sorted(p for p in reference_answers(assignment, Path(tmp)).iterdir() if p.is_file()):  # answers and the cache's own markers
                zf.write(file, f"{ANSWERS}/{file.name}")
    return out_path


def reference_answers(assignment, folder):
    """Grade the reference solution with a reference cache in `folder`: the answers every grading
    of the assignment asks for. Raises RuntimeError when the solution does not pass its own suite."""
    from rnnkit_grader.runner import grade_notebook

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    reference = Reference(assignment, cache_dir=folder)
    try:
        with tempfile.TemporaryDirectory(prefix="rnnkit-solution-") as tmp:
            copy = Path(tmp) / assignment.solution.name  # graded as a submission, from a folder of its own
            shutil.copy(assignment.solution, copy)
            result = grade_notebook(copy, assignment.id, reference=reference)
    finally:
        reference.close()
    if result.score != result.max_score or not result.tests:
        failed = [t.name for t in result.tests if t.status != "passed"] or result.problems
        raise RuntimeError(f"the reference solution of {assignment.id} scores {result.score:g} / {result.max_score:g} on its own suite; not building: {failed[:5]}")
    return folder


# The reference in the container, answered from the answers shipped in the zip: its child starts
# only when a request is not among them.
def _add_executable(zf, name, text):
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, text)
