"""Where each assignment's pieces live, and the limits its grading runs under."""

import dataclasses
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

# Per-assignment limits over the Limits() defaults. 01 is NumPy only; the others use
# TensorFlow, which the child imports before the student's code.
_LIMITS = {
    "01_rnn_numpy": dict(memory_bytes=2 * 2**30, call_seconds=20, total_seconds=240, startup_seconds=30),
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


def available():
    return [Assignment(a) for a in ASSIGNMENT_IDS if Assignment(a).available]
