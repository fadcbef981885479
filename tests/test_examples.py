"""Every example submission gets exactly the score recorded for it."""

import json
from pathlib import Path

import pytest

from rnnkit_grader import assignments
from rnnkit_grader.runner import grade_notebook

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "submissions"
EXPECTED = {
    f"{path.parent.name}/{name}": entry
    for path in sorted(EXAMPLES.glob("*/expected.json"))
    for name, entry in json.loads(path.read_text()).items()
}


@pytest.mark.parametrize("relpath", sorted(EXPECTED))
def test_example_gets_its_recorded_score(relpath, references):
    assignment_id = relpath.split("/")[0]
    result = grade_notebook(EXAMPLES / relpath, assignment_id, reference=references(assignment_id))
    failures = "\n".join(f"{t.name}: {t.output}" for t in result.tests if t.status != "passed")
    assert result.max_score == 100, "an assignment is worth 100 points"
    assert result.score == EXPECTED[relpath]["score"], failures
    for fragment in EXPECTED[relpath].get("feedback_mentions", []):
        assert fragment in failures, f"the feedback should mention {fragment!r}"


def test_every_assignment_has_correct_blank_and_three_mistakes():
    for assignment in assignments.available():
        names = {p.split("/")[1] for p in EXPECTED if p.startswith(assignment.id + "/")}
        assert {"correct.ipynb", "blank.ipynb"} <= names, assignment.id
        assert len(names) >= 5, f"{assignment.id} needs at least three mistakes"
        assert EXPECTED[f"{assignment.id}/correct.ipynb"]["score"] == 100
        assert EXPECTED[f"{assignment.id}/blank.ipynb"]["score"] == 0
