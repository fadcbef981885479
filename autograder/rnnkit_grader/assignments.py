"""Where each assignment's pieces live, and the limits its grading runs under."""

import dataclasses
import hashlib
import os
from pathlib import Path

from rnnkit_grader.sandbox import Limits

ROOT = Path(os.environ.get("RNNKIT_ROOT") or Path(__file__).resolve().parents[2])
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "assignments"
SUITES = ROOT / "autograder" / "suites"

ASSIGNMENT_IDS = (
    "01_rnn_numpy",
    "02_cells",
    "03_hello_lm",
    "04_embeddings",
    "05_mnist",
    "06_char_rnn",
    "07_time_series",
    "08_seq2seq",
)

# Per-assignment limits over the Limits() defaults. 01 is NumPy only: its children (the student's
# and the reference's) see NumPy and the standard library and no other installed package, so no
# deep-learning or autodiff framework can do its backprop (packages=; see isolation.bwrap_command);
# the others use TensorFlow, which the child imports before the student's code.
NUMPY_ONLY = ("numpy",
              # and matplotlib with what it imports, for a notebook's plots (no array maths beyond NumPy's)
              "matplotlib", "mpl_toolkits", "pylab", "PIL", "pillow", "kiwisolver", "contourpy", "cycler", "fontTools",
              "packaging", "pyparsing", "dateutil", "six")
_LIMITS = {
    "01_rnn_numpy": dict(memory_bytes=2 * 2**30, call_seconds=20, total_seconds=240, startup_seconds=30, packages=NUMPY_ONLY),
}
_TENSORFLOW = dict(preload_tf=True, call_seconds=60, total_seconds=600, startup_seconds=90)


@dataclasses.dataclass(frozen=True)
class Assignment:
    id: str

    @property
    def solution(self):
        return SOLUTIONS / self.id / f"{self.id}.ipynb"

    @property
    def release(self):
        return RELEASE / self.id / f"{self.id}.ipynb"

    @property
    def suite(self):
        return SUITES / f"test_{self.id}.py"

    @property
    def limits(self):
        return Limits(**_LIMITS.get(self.id, _TENSORFLOW))

    @property
    def available(self):
        return self.solution.exists() and self.suite.exists()


def get(assignment_id):
    if assignment_id not in ASSIGNMENT_IDS:
        raise KeyError(assignment_id)
    return Assignment(assignment_id)


def find(assignment_id):
    """The assignment `assignment_id` names, or None where it names none that can be graded here."""
    if assignment_id not in ASSIGNMENT_IDS or not Assignment(assignment_id).available:
        return None
    return Assignment(assignment_id)


def available():
    return [Assignment(a) for a in ASSIGNMENT_IDS if Assignment(a).available]


def kit_fingerprint(assignment):
    """One digest of everything that decides an assignment's grades apart from the submission:
    the reference solution, the hidden suite, and the code of rnnkit_grader, rnnkit_child and rnnkit."""
    import rnnkit
    import rnnkit_child

    digest = hashlib.sha256()
    for path in (assignment.solution, assignment.suite):
        digest.update(path.read_bytes())
    for package in (Path(__file__).resolve().parent, Path(rnnkit_child.__file__).resolve().parent, Path(rnnkit.__file__).resolve().parent):
        for source in sorted(package.rglob("*.py")):
            digest.update(str(source.relative_to(package)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()
