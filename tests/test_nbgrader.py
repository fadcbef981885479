"""nbgrader: nbgrader's own autograde grades with the kit's grader and gives `rnnkit`'s points.

Cheap checks first: the solution notebooks carry one autograder test cell per unit, worth
that unit's points in the hidden suite; the released test cells only print a note; the
kit's nbgrader_config.py puts the kit's step where nbgrader's Execute was; a test cell
the kit wrote no score for scores 0.

Then one real nbgrader course folder (module fixture): generate_assignment for every
assignment; handed in: for 01 five one-line attacks on a blank notebook (each once beat
the old test cells), the blank, correct and a mistaken example; for every other
assignment its correct example and one mistake. `nbgrader autograde` runs once per
assignment, then `rnnkit grade-batch` grades the same submitted/ folder; the
tests compare nbgrader's gradebook with rnnkit's results unit by unit.
"""

import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import pytest

from rnnkit_grader import assignments, nbgrader_bridge
from rnnkit_grader.notebook import nbgrader_meta, read_notebook

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
IDS = [a.id for a in assignments.available()]
HOSTILE_ID = "01_rnn_numpy"  # NumPy only: quick to grade

# One line each, put at the top of the first solution cell of a blank release. Against the old
# test cells (run in the student's kernel after the student's code) each scored 100/100.
UNITS_01 = [("rnn_step_forward", 15), ("one_hot", 10), ("rnn_forward", 15), ("rnn_step_backward", 20),
            ("rnn_backward", 25), ("softmax_cross_entropy", 15)]
ATTACKS = {
    "env_var": 'import os; os.environ["NBGRADER_EXECUTION"] = "validate"',
    "display_off": 'get_ipython().display_formatter.formatters["text/plain"].enabled = False',
    "replaced_function": "import rnnkit_grader.nbgrader_bridge as _b; _b.unit_score = _b.grade_here = lambda *a, **k: None",
    "forged_cache": (
        "import glob, hashlib, json, os, tempfile; _d = os.path.join(tempfile.gettempdir(), 'rnnkit-nbgrader'); "
        "os.makedirs(_d, exist_ok=True); [open(os.path.join(_d, '01_rnn_numpy-' + hashlib.sha256(open(_p, 'rb').read())"
        ".hexdigest()[:32] + '.json'), 'w').write(json.dumps({'tests': [], 'extra_data': {'units': "
        + repr({u: {"score": p, "max_score": p} for u, p in UNITS_01})
        + "}})) for _p in glob.glob('*.ipynb')]"
    ),
    "solution_copied": (
        "import pathlib, shutil, rnnkit; shutil.copy(pathlib.Path(rnnkit.__file__).resolve().parents[1] / 'solutions' "
        "/ '01_rnn_numpy' / '01_rnn_numpy.ipynb', '01_rnn_numpy.ipynb')"
    ),
    # breaks the old shared cache path for everyone graded after it on the machine
    "breaks_shared_cache": (
        "import os, shutil, tempfile; _d = os.path.join(tempfile.gettempdir(), 'rnnkit-nbgrader'); "
        "shutil.rmtree(_d, ignore_errors=True); open(_d, 'w').write('x')"
    ),
}
HOSTILE = {f"a_{name}": line for name, line in ATTACKS.items()}  # sorted first: autograded before the honest ones


def hidden_test_cells(path):
    return {
        nbgrader_meta(c)["grade_id"]: c
        for c in read_notebook(path)["cells"]
        if nbgrader_meta(c).get("grade") and str(nbgrader_meta(c).get("grade_id", "")).startswith("test_")
    }


def mistake_of(assignment_id):
    """The first recorded example that is neither correct nor blank."""
    recorded = json.loads((EXAMPLES / assignment_id / "expected.json").read_text())
    return next(Path(name).stem for name in recorded if Path(name).stem not in ("correct", "blank"))


def expected_score(assignment_id, example):
    return json.loads((EXAMPLES / assignment_id / "expected.json").read_text())[f"{example}.ipynb"]["score"]


# ---- cheap checks -----------------------------------------------------------------------------


@pytest.mark.parametrize("assignment_id", IDS)
def test_solution_has_a_test_cell_per_unit_worth_the_suites_points(assignment_id):
    points = nbgrader_bridge.unit_points(assignment_id)
    cells = hidden_test_cells(assignments.get(assignment_id).solution)
    wanted = {nbgrader_bridge.cell_name(unit): p for unit, p in points.items()}
    assert {name: nbgrader_meta(c)["points"] for name, c in cells.items()} == wanted, (
        f"the test cells of {assignment_id} do not match its hidden suite: run "
        f"`python -m rnnkit_grader.nbgrader_bridge sync {assignment_id}`, then `make release`"
    )
    for name, cell in cells.items():
        source = "".join(cell["source"])
        assert nbgrader_bridge.HIDDEN_BEGIN in source and nbgrader_bridge.UNIT_MARK in source, name
        assert "rnnkit_grader import" not in source and "import rnnkit_grader" not in source, (
            f"{name}: a test cell's code runs nothing of the grader's")
        assert nbgrader_meta(cell).get("locked"), f"{name} must be locked"


@pytest.mark.parametrize("assignment_id", IDS)
def test_released_test_cells_say_what_they_are_for_and_run_cleanly(assignment_id):
    cells = hidden_test_cells(assignments.get(assignment_id).release)
    assert cells, f"the release of {assignment_id} has no test cells"
    for name, cell in cells.items():
        source = "".join(cell["source"])
        assert nbgrader_bridge.UNIT_MARK not in source, f"{name}: the hidden part leaked into the release"
        assert "autograde" in source and source.lstrip().startswith("#"), f"{name} does not explain itself"
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            exec(compile(source, name, "exec"), {})  # what a student who runs the cell sees; raises if it fails
        assert "graded by the course autograder" in out.getvalue() and not err.getvalue(), name


def test_config_puts_the_kits_step_where_nbgraders_execute_was():
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute
    from traitlets.config.loader import PyFileConfigLoader
    from traitlets.utils.importstring import import_item

    from rnnkit_grader.nbgrader_step import GradeWithRnnkit

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    ours = [import_item(name) for name in config.Autograde.autograde_preprocessors]
    default = list(Autograde.class_traits()["autograde_preprocessors"].default())
    assert default[0] is Execute, "nbgrader's autograde steps changed: review nbgrader_config.py"
    assert ours == [GradeWithRnnkit] + default[1:]


def test_a_test_cell_the_kit_wrote_no_score_for_scores_zero(monkeypatch, tmp_path):
    """Fail closed: a grader failure, or a grade cell that is no unit of the suite, earns nothing."""
    from nbgrader.utils import determine_grade
    from rnnkit_grader import nbgrader_step

    nb = nbformat.read(assignments.get(HOSTILE_ID).release, as_version=4)
    bogus = nbformat.v4.new_code_cell("x = 1")
    bogus.metadata["nbgrader"] = {"grade": True, "grade_id": "test_not_a_unit", "locked": True, "points": 5.0,
                                  "schema_version": 3, "solution": False}
    nb.cells.append(bogus)
    resources = {"nbgrader": {"student": "s", "assignment": HOSTILE_ID, "notebook": HOSTILE_ID}}
    step = nbgrader_step.GradeWithRnnkit()
    monkeypatch.setattr(step, "_submitted_bytes", lambda *a: b"{}")
    monkeypatch.setattr(step, "_coursedir", lambda *a: None)

    def broken(*args):
        raise RuntimeError("the grader broke")

    monkeypatch.setattr(step, "_grade", broken)
    graded, _ = step.preprocess(nbformat.from_dict(json.loads(json.dumps(nb))), resources)
    cells = [c for c in graded.cells if nbgrader_meta(c).get("grade") and c.cell_type == "code"]
    assert len(cells) == len(hidden_test_cells(assignments.get(HOSTILE_ID).release)) + 1
    answers = [c for c in graded.cells if nbgrader_meta(c).get("grade") and c.cell_type == "markdown"]
    assert answers and all(determine_grade(c) == (0, nbgrader_meta(c)["points"]) for c in answers), (
        "a blank written answer earns 0 and is left to the hand grader")
    for cell in cells:
        assert determine_grade(cell)[0] == 0, nbgrader_meta(cell)["grade_id"]
        assert "the grader broke" in json.dumps(cell.outputs)
    # a grading that scores every unit still leaves a cell that maps to no unit at 0
    full = {nbgrader_bridge.cell_name(u): (float(p), float(p), ["ok"]) for u, p in UNITS_01}
    monkeypatch.setattr(step, "_grade", lambda *a: full)
    graded, _ = step.preprocess(nbformat.from_dict(json.loads(json.dumps(nb))), resources)
    scores = {nbgrader_meta(c)["grade_id"]: determine_grade(c)[0] for c in graded.cells
              if nbgrader_meta(c).get("grade") and c.cell_type == "code"}
    assert scores.pop("test_not_a_unit") == 0
    assert scores == {nbgrader_bridge.cell_name(u): p for u, p in UNITS_01}
    assert not any(o.get("name") == "stderr" for c in graded.cells for o in c.get("outputs", []))


# ---- one real nbgrader course -----------------------------------------------------------------


def env_for(tmpdir):
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PATH=path, TMPDIR=str(tmpdir))


def nbgrader_cmd(course, cache, *args):
    return [str(Path(sys.executable).with_name("nbgrader")), *args, "--log-level=ERROR",
            f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{course}/gradebook.db",
            f"--GradeWithRnnkit.cache_dir={cache}"]


def run_nbgrader(course, cache, tmpdir, *args):
    done = subprocess.run(nbgrader_cmd(course, cache, *args), cwd=course, env=env_for(tmpdir),
                          capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, f"nbgrader {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def hostile_notebook(release, line):
    nb = nbformat.read(release, as_version=4)
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code")
    cell.source = line + "\n" + cell.source
    return nb


def submissions():
    """{assignment: {student: example name or hostile line}}."""
    handed_in = {}
    for assignment_id in IDS:
        handed_in[assignment_id] = {"correct": "correct", "mistake": mistake_of(assignment_id)}
    handed_in[HOSTILE_ID].update({"blank": "blank", **HOSTILE})
    return handed_in


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """generate_assignment, hand in, nbgrader autograde (per assignment), then rnnkit grade-batch of the same files."""
    base = tmp_path_factory.mktemp("nbgrader")
    course, cache, tmpdir, out = base / "course", base / "reference-cache", base / "tmp", base / "rnnkit-out"
    for folder in (course, tmpdir):
        folder.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for assignment_id in IDS:
        shutil.copytree(assignments.get(assignment_id).solution.parent, course / "solutions" / assignment_id)
        run_nbgrader(course, cache, tmpdir, "generate_assignment", assignment_id, "--force")
    release = course / "assignments" / HOSTILE_ID / f"{HOSTILE_ID}.ipynb"  # the config's release_directory
    for assignment_id, students in submissions().items():
        for student, what in students.items():
            target = course / "submitted" / student / assignment_id
            target.mkdir(parents=True)
            if student in HOSTILE:
                nbformat.write(hostile_notebook(release, what), target / f"{assignment_id}.ipynb")
            else:
                shutil.copy(EXAMPLES / assignment_id / f"{what}.ipynb", target / f"{assignment_id}.ipynb")
    for assignment_id in IDS:
        run_nbgrader(course, cache, tmpdir, "autograde", assignment_id, "--create", "--force")
    # the honest student autograded again, after every attack, still gets rnnkit's score
    first = gradebook_units(course, HOSTILE_ID, "correct")
    run_nbgrader(course, cache, tmpdir, "autograde", HOSTILE_ID, "--student", "correct", "--force")
    rerun = gradebook_units(course, HOSTILE_ID, "correct")
    run_nbgrader(course, cache, tmpdir, "generate_feedback", HOSTILE_ID, "--force")
    # rnnkit grades the same handed-in files afterwards (not beside nbgrader: time limits hold per grading)
    rnnkit = subprocess.run(
        [str(Path(sys.executable).with_name("rnnkit")), "grade-batch", str(course / "submitted"), "--out", str(out), "--jobs", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env_for(tmpdir), cwd=base, timeout=3000,
    )
    assert rnnkit.returncode == 0, rnnkit.stdout[-3000:]
    return {"course": course, "out": out, "tmpdir": tmpdir, "rerun": (first, rerun)}


def gradebook_units(course, assignment_id, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        notebook = gb.find_submission_notebook(assignment_id, assignment_id, student)
        # the autograded cells; written answers (answer_*) are graded by hand and get no auto score
        assert all(g.auto_score in (None, 0) for g in notebook.grades if g.name.startswith("answer_"))
        return {g.name: round(g.auto_score, 4) for g in notebook.grades if not g.name.startswith("answer_")}


def gradebook_total(course, assignment_id, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        return round(gb.find_submission(assignment_id, student).score, 4)


def rnnkit_units(out, assignment_id, student):
    results = json.loads((out / assignment_id / student / "results.json").read_text())
    return {nbgrader_bridge.cell_name(u): round(s["score"], 4) for u, s in results["extra_data"]["units"].items()}


@pytest.mark.parametrize("assignment_id", IDS)
def test_nbgrader_autograde_gives_rnnkits_unit_scores(course, assignment_id):
    for student in ("correct", "mistake"):
        ours = gradebook_units(course["course"], assignment_id, student)
        assert ours == rnnkit_units(course["out"], assignment_id, student), f"{assignment_id}/{student}"
        example = submissions()[assignment_id][student]
        assert gradebook_total(course["course"], assignment_id, student) == expected_score(assignment_id, example)


@pytest.mark.parametrize("student", sorted(HOSTILE))
def test_a_one_line_attack_gets_the_blank_score(course, student):
    blank = rnnkit_units(course["out"], HOSTILE_ID, "blank")
    assert gradebook_units(course["course"], HOSTILE_ID, "blank") == blank
    assert gradebook_units(course["course"], HOSTILE_ID, student) == blank, student
    assert rnnkit_units(course["out"], HOSTILE_ID, student) == blank, student
    assert gradebook_total(course["course"], HOSTILE_ID, student) == expected_score(HOSTILE_ID, "blank")


def test_attacks_on_shared_state_change_nobody_elses_score(course):
    # every honest 01 submission was autograded after all the attacks, in the same run
    for student in ("blank", "correct", "mistake"):
        assert gradebook_units(course["course"], HOSTILE_ID, student) == rnnkit_units(course["out"], HOSTILE_ID, student)
    first, rerun = course["rerun"]  # and in a later run on the same machine
    assert first == rerun and sum(rerun.values()) == 100
    # nothing of a run is left in the temporary folder for the next run to read
    assert not [p.name for p in course["tmpdir"].iterdir() if p.name.startswith("rnnkit-nbgrader")]


def test_feedback_shows_the_kits_messages_under_each_unit(course):
    feedback = course["course"] / "feedback" / "mistake" / HOSTILE_ID / f"{HOSTILE_ID}.html"
    text = feedback.read_text()
    recorded = json.loads((EXAMPLES / HOSTILE_ID / "expected.json").read_text())[f"{mistake_of(HOSTILE_ID)}.ipynb"]
    assert "FAILED" in text
    for phrase in recorded.get("feedback_mentions", []):
        assert phrase in text, phrase
    autograded = read_notebook(course["course"] / "autograded" / "mistake" / HOSTILE_ID / f"{HOSTILE_ID}.ipynb")
    for cell in autograded["cells"]:
        if str(nbgrader_meta(cell).get("grade_id", "")).startswith("test_"):
            kinds = [o["output_type"] for o in cell["outputs"]]
            assert kinds == ["stream", "execute_result"], (nbgrader_meta(cell)["grade_id"], kinds)
            assert cell["outputs"][0]["name"] == "stdout"


def test_grade_batch_writes_the_same_scores_into_an_nbgrader_gradebook(course, tmp_path):
    # the same submissions, graded by rnnkit (its results reused), into a fresh copy of the gradebook
    shutil.copy(course["course"] / "gradebook.db", tmp_path / "gradebook.db")
    from nbgrader.api import Gradebook

    students = submissions()[HOSTILE_ID]
    with Gradebook(f"sqlite:///{tmp_path}/gradebook.db") as gb:
        for name in students:
            gb.remove_submission(HOSTILE_ID, name)
    rnnkit = Path(sys.executable).with_name("rnnkit")
    done = subprocess.run(
        [str(rnnkit), "grade-batch", str(course["course"] / "submitted"), "--out", str(course["out"]), "--jobs", "1",
         "--nbgrader-db", f"sqlite:///{tmp_path}/gradebook.db"],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in students:
        assert gradebook_total(tmp_path, HOSTILE_ID, name) == gradebook_total(course["course"], HOSTILE_ID, name)


def test_without_the_kits_config_autograde_gives_no_credit(tmp_path):
    """A course folder whose config lacks the kit's step: nbgrader's Execute runs the test cells, which fail."""
    course = tmp_path / "course"
    course.mkdir()
    text = (ROOT / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(text[: text.index("c.Autograde.autograde_preprocessors")])
    shutil.copytree(assignments.get(HOSTILE_ID).solution.parent, course / "solutions" / HOSTILE_ID)
    cache, tmpdir = tmp_path / "cache", tmp_path / "tmp"
    tmpdir.mkdir()
    run_nbgrader(course, cache, tmpdir, "generate_assignment", HOSTILE_ID, "--force")
    target = course / "submitted" / "correct" / HOSTILE_ID
    target.mkdir(parents=True)
    shutil.copy(EXAMPLES / HOSTILE_ID / "correct.ipynb", target / f"{HOSTILE_ID}.ipynb")
    run_nbgrader(course, cache, tmpdir, "autograde", HOSTILE_ID, "--create", "--force")
    assert set(gradebook_units(course, HOSTILE_ID, "correct").values()) == {0}
    autograded = (course / "autograded" / "correct" / HOSTILE_ID / f"{HOSTILE_ID}.ipynb").read_text()
    assert "autograde with the kit's nbgrader_config.py" in autograded


def test_autograde_refuses_without_strong_isolation(monkeypatch):
    """Without bubblewrap the kit's step grades nobody (every test cell then fails closed), unless weak is asked for."""
    from rnnkit_grader import isolation
    from rnnkit_grader.nbgrader_step import GradeWithRnnkit, _run_for

    monkeypatch.setenv("RNNKIT_NO_BWRAP", "1")
    monkeypatch.delenv(isolation.WEAK_ENV, raising=False)
    run = _run_for(None, None)
    try:
        with pytest.raises(isolation.IsolationRefused, match="isolation weak"):
            GradeWithRnnkit()._grade(b"{}", "01_rnn_numpy", run, {"nbgrader": {"student": "s", "assignment": "01_rnn_numpy"}})
    finally:
        run.close()
