"""Each assignment as one declared record, which every part of the kit reads.

An `Assignment` says what the assignment is (id, title: the README's table), where its
pieces live (solution, release, suite, examples: derived from the id), which child-side
probe modules its suite calls (rnnkit_child/probes/<name>.py), the limits its grading
runs under, the data its grading uses, and how the bounds its suite calibrated on the
reference were set (the suite's `calibrate(reference)` re-measures them, and
tests/test_calibration.py re-checks every record that has one). `rnnkit check-assignment
ID` (rnnkit_grader/readiness.py) lists what an assignment is missing;
docs/adding-an-assignment.md walks through adding one.
"""

import dataclasses
import hashlib
import os
from pathlib import Path

from rnnkit_grader.sandbox import Limits

ROOT = Path(os.environ.get("RNNKIT_ROOT") or Path(__file__).resolve().parents[2])
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "assignments"
SUITES = ROOT / "autograder" / "suites"


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
    """One assignment's declared record. Paths derive from the id (and ROOT), so a record is all
    that names an assignment; everything else the kit needs of it is a field here."""

    id: str
    title: str = ""  # what the student writes: the README's table
    probes: tuple = ()  # the child-side probe modules its suite calls (rnnkit_child/probes/<name>.py)
    limit_overrides: dict = dataclasses.field(default_factory=lambda: dict(_TENSORFLOW), compare=False)  # over Limits()
    data: str = ""  # the data its grading uses, and where the variant is chosen
    calibration: str = ""  # how its suite's bounds were calibrated on the reference ("": it declares none)
    status: str = "ready"

    @property
    def examples(self):
        return ROOT / "examples" / "submissions" / self.id

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
        return Limits(**self.limit_overrides)

    @property
    def available(self):
        return self.solution.exists() and self.suite.exists()


_NO_DATA = "none beyond what the suite draws itself (fixed seeds)"

RECORDS = (
    Assignment(
        "01_rnn_numpy", "one-hot, an RNN step and sequence forward and backward, softmax cross-entropy, in NumPy",
        probes=(), limit_overrides=_LIMITS["01_rnn_numpy"], data=_NO_DATA,
    ),
    Assignment("02_cells", "RNN, GRU and LSTM cells as Keras layers", probes=("cells",), data=_NO_DATA),
    Assignment(
        "03_hello_lm", "the \"hihell\" -> \"ihello\" language model and its training loop", probes=("hello",),
        data="the 'hihello' strings the suite writes",
    ),
    Assignment("04_embeddings", "one-hot versus embeddings", probes=("hello",), data="small token tables the suite crafts"),
    Assignment(
        "05_mnist", "MNIST read row by row", probes=("mnist",),
        data="MNIST through rnnkit.mnist.load_variant: the shipped sample (default) or the full set "
             "(RNNKIT_GRADE_MNIST=full)",
        calibration="the reference over 8 shuffle seeds on the offline sample (tools/calibrate_mnist.py)",
    ),
    Assignment(
        "06_char_rnn", "a character-level language model with truncated BPTT", probes=("charlm",),
        data="the default corpus of rnnkit.text (Python's own documentation text)",
        calibration="the reference under the suite's BUDGET, seeds 0 to 2",
    ),
    Assignment(
        "07_time_series", "forecasting a noisy sine", probes=("timeseries",),
        data="a noisy sine the suite generates (fixed seed)",
        calibration="the reference under the suite's budget from the kit's start, shuffle seeds 0 to 4",
    ),
    Assignment(
        "08_seq2seq", "an encoder-decoder that learns to reverse digit strings: teacher forcing, greedy decoding",
        probes=("seq2seq",), data="digit strings from rnnkit.seq2seq_data.make_reversal_data",
        calibration="the reference under the suite's budget, seeds 0 to 4",
    ),
)
BY_ID = {a.id: a for a in RECORDS}
ASSIGNMENT_IDS = tuple(BY_ID)


def get(assignment_id):
    if assignment_id not in BY_ID:
        raise KeyError(assignment_id)
    return BY_ID[assignment_id]


def find(assignment_id):
    """The assignment `assignment_id` names, or None where it names none that can be graded here."""
    if not isinstance(assignment_id, str) or assignment_id not in BY_ID or not BY_ID[assignment_id].available:
        return None
    return BY_ID[assignment_id]


def available():
    return [a for a in RECORDS if a.available]


def readme_table(records=RECORDS):
    """The README's table of assignments, from the records."""
    rows = ["| assignment | what you write | status |", "|---|---|---|"]
    rows += [f"| `{a.id}` | {a.title} | {a.status} |" for a in records]
    return "\n".join(rows)


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
