"""Feedback is no oracle: a student can't tune a constant from what failed gradings say.

The hidden inputs are the same at every grading, so feedback that printed the reference's
value, the exact distance to it, or whether a result is too high or too low would let a
student resubmit a constant, read how far off it was, and adjust it until it passed (a red
team solved 01's loss, a single number, in about twenty resubmissions that way). Feedback
therefore names a known mistake when the result is exactly that mistake, and otherwise says
only which band of error the result falls in (checks.band), never with a number.

The attack tested here: for each unit that returns a number or a few numbers, two
submissions return different wrong constants from the same band. What the grader says to
each must be the same, apart from echoing the student's own constant, and must contain no
number the reference computed for the checks.
"""

import re

import numpy as np
import pytest

from conftest import by_unit, messages
from rnnkit_child.codec import Opaque
from rnnkit_grader import check, checks, results
from rnnkit_grader.runner import grade_notebook

# (assignment, unit, tests to run (-k), code returning the constant {c}, two constants in the "far off" band)
CASES = [
    ("01_rnn_numpy", "softmax_cross_entropy", "softmax_cross_entropy_loss",
     "import numpy as np\ndef softmax_cross_entropy(logits, targets):\n    return {c}, np.zeros_like(logits)\n", (31.0, 57.0)),
    ("06_char_rnn", "perplexity", "perplexity or clip",
     "def perplexity(model, ids, seq_len=100):\n    return {c}\n", (123.0, 456.0)),
    ("06_char_rnn", "clip_by_global_norm", "perplexity or clip",
     "def clip_by_global_norm(grads, max_norm):\n    return list(grads), {c}\n", (123.0, 456.0)),
    ("05_mnist", "evaluate", "evaluate",
     # a hair apart on the two cases, so that the "same value on both cases" check doesn't answer first
     "def evaluate(model, x, y, batch_size=512):\n    return {c} * (1 + 1e-7 * (len(y) % 7))\n", (0.0123, 0.0456)),
    ("07_time_series", "forecast", "forecast",
     "import numpy as np\ndef forecast(model, history, horizon):\n    return np.full(horizon, {c}, dtype=np.float64)\n", (7.25, -3.5)),
]

NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?")


def reference_numbers(reference):
    """Every number the reference child returned, from its scalars and small arrays (what a check compares a number with)."""
    found = []

    def walk(value):
        if isinstance(value, Opaque) or isinstance(value, (str, bytes, bool)) or value is None:
            return
        if isinstance(value, (int, float, np.floating, np.integer)):
            found.append(float(value))
        elif isinstance(value, np.ndarray):
            if value.dtype.kind == "f" and value.size <= 16:
                found.extend(float(v) for v in value.ravel())
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    for value in reference.memory.values():
        walk(value)
    return [v for v in found if np.isfinite(v) and v not in (0.0, 1.0) and v != round(v)]


def without_own(text, constant):
    """The feedback with the student's own constant (however it was formatted) replaced by a mark."""
    def mark(match):
        value = float(match.group())
        return "<yours>" if abs(value - constant) <= 1e-4 * max(abs(constant), 1e-12) else match.group()
    return NUMBER.sub(mark, text)


@pytest.mark.parametrize("assignment_id, unit, select, code, constants", CASES, ids=[c[1] for c in CASES])
def test_constants_get_the_same_feedback(assignment_id, unit, select, code, constants, submission, references, monkeypatch):
    original = check.run_suite
    monkeypatch.setattr(check, "run_suite", lambda assignment, plugin, *options: original(assignment, plugin, "-k", select, *options))
    reference = references(assignment_id)
    said = []
    for c in constants:
        notebook = submission(assignment_id, replace={unit: code.format(c=repr(c))}, name=f"{unit}_{len(said)}.ipynb")
        result = grade_notebook(notebook, assignment_id, reference=reference)
        score, total = by_unit(result)[unit]
        text = messages(result, unit)
        assert total > 0 and score == 0, f"{unit} returning the constant {c} earned {score} of {total}:\n{text}"
        said.append((c, text))
    (a, first), (b, second) = said
    assert "off by" in first, f"{unit}: the checks never compared the constant with the reference:\n{first}"
    assert without_own(first, a) == without_own(second, b), (
        f"{unit}: the feedback differs between two constants in the same band, so it tells the student how far off "
        f"or which way they are:\n--- {a}:\n{first}\n--- {b}:\n{second}"
    )
    known = reference_numbers(reference)
    for c, text in said:
        for match in NUMBER.finditer(text):
            value = float(match.group())
            leaked = [k for k in known if abs(value - k) <= 1e-3 * abs(k)]
            assert not leaked, f"{unit}: the feedback prints {match.group()}, a number the reference computed:\n{text}"


def test_band_gives_no_number_and_no_direction():
    expected = 2.1051181
    for tol in (1e-8, 1e-5):
        for low, high in ((1.2, 5.0), (2.095, 2.3), (2.10512, 2.10515)):
            words = {checks.band(checks.relative(v, expected), tol) for v in (low, high)}
            assert len(words) == 1, f"{low} and {high} are in the same band but are described differently: {words}"
            (text,) = words
            assert "2.1" not in text and "higher" not in text and "lower" not in text, text
    bands = {checks.band(checks.relative(v, expected)) for v in (9.0, 2.2, 2.1052)}
    assert len(bands) == 3, "far off, off by a few percent and nearly right are told apart"
    with pytest.raises(results.GradingFailure) as failure:
        checks.close(np.array([2.3]), np.array([expected]), 1e-8, "softmax_cross_entropy", "loss")
    assert "2.1" not in str(failure.value) and "e-0" not in str(failure.value).split("allowed")[0]
