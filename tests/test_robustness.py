"""Broken and misbehaving submissions get a result and a message, never a grader crash."""

import json

import nbformat
import pytest

from conftest import by_unit, messages
from rnnkit_grader import report
from rnnkit_grader.runner import grade_notebook
from rnnkit_grader.sandbox import Limits

A = "01_rnn_numpy"
FAST = Limits(memory_bytes=2 * 2**30, call_seconds=3, total_seconds=120, startup_seconds=20)


def assert_zero_with_message(result, fragment):
    assert result.score == 0
    assert result.tests, "every hidden test is still reported"
    assert all(t.status == "failed" for t in result.tests)
    text = " ".join(result.problems) + " ".join(t.output for t in result.tests)
    assert fragment in text
    json.dumps(report.results_json(result))  # the report can be written


def test_file_that_is_not_json(tmp_path):
    path = tmp_path / f"{A}.ipynb"
    path.write_text("this is { not json")
    result = grade_notebook(path, A)
    assert_zero_with_message(result, "not valid JSON")


def test_binary_file(tmp_path):
    path = tmp_path / f"{A}.ipynb"
    path.write_bytes(bytes(range(256)) * 10)
    assert_zero_with_message(grade_notebook(path, A), "not UTF-8")


def test_empty_notebook(tmp_path):
    path = tmp_path / f"{A}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    assert_zero_with_message(grade_notebook(path, A), "no cell defines rnn_forward")


def test_notebook_without_unit_cells(submission):
    units = ["one_hot", "rnn_step_forward", "rnn_forward", "rnn_step_backward", "rnn_backward", "softmax_cross_entropy"]
    result = grade_notebook(submission(A, drop=units), A)
    assert_zero_with_message(result, "grade_id 'softmax_cross_entropy' is missing")


def test_old_nbformat_version_is_read(submission, tmp_path):
    path = submission(A)
    v3 = nbformat.convert(nbformat.read(path, as_version=4), 3)
    old = tmp_path / "old.ipynb"
    nbformat.write(v3, old, version=3)
    result = grade_notebook(old, A)
    assert result.score == 100


def test_unknown_assignment_is_reported(tmp_path):
    path = tmp_path / "homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    result = grade_notebook(path)
    assert result.score == 0 and "could not tell which assignment" in result.problems[0]


def test_syntax_error_costs_only_that_unit(submission):
    result = grade_notebook(submission(A, replace={"rnn_forward": "def rnn_forward(x, h0, Wx, Wh, b):\n    return (x\n"}), A)
    units = by_unit(result)
    assert units["rnn_forward"][0] == 0
    assert "SyntaxError" in messages(result, "rnn_forward")
    assert units["one_hot"] == (10, 10) and units["softmax_cross_entropy"] == (15, 15)


def test_wrong_signature(submission):
    code = "import numpy as np\ndef rnn_step_forward(x, h_prev, Wx, Wh):\n    return np.tanh(x @ Wx + h_prev @ Wh)\n"
    result = grade_notebook(submission(A, replace={"rnn_step_forward": code}), A)
    assert by_unit(result)["rnn_step_forward"][0] == 0
    assert "TypeError" in messages(result, "rnn_step_forward")
    assert by_unit(result)["one_hot"] == (10, 10)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("return [[0.0] * Wx.shape[1]] * x.shape[0]", "should be a NumPy array, but it is a list"),
        ("return np.zeros((x.shape[0], Wx.shape[1] + 1))", "has shape (3, 7), expected (3, 6)"),
        ("return np.full((x.shape[0], Wx.shape[1]), np.nan)", "contains NaN or inf"),
        ("return np.tanh(x @ Wx + h_prev @ Wh + b).astype(np.float32)", "dtype float32"),
        ("return object()", "should be a NumPy array, but it is a object"),
    ],
    ids=["list", "shape", "nan", "float32", "object"],
)
def test_wrong_return_values(submission, body, fragment):
    code = f"import numpy as np\ndef rnn_step_forward(x, h_prev, Wx, Wh, b):\n    {body}\n"
    result = grade_notebook(submission(A, replace={"rnn_step_forward": code}), A)
    assert by_unit(result)["rnn_step_forward"][0] == 0
    assert fragment in messages(result, "rnn_step_forward")
    assert by_unit(result)["softmax_cross_entropy"] == (15, 15)


def test_infinite_loop_times_out_and_the_rest_is_graded(submission):
    code = "def one_hot(indices, depth):\n    while True:\n        pass\n"
    result = grade_notebook(submission(A, replace={"one_hot": code}), A, limits=FAST)
    assert by_unit(result)["one_hot"][0] == 0
    assert "timed out" in messages(result, "one_hot")
    assert result.score == 90


def test_infinite_loop_at_import_time(submission):
    code = "SPIN = sum(iter(int, 1))  # an assignment the grader runs, and it never ends\n"
    result = grade_notebook(submission(A, replace={"one_hot": code}), A, limits=FAST)
    assert result.score == 0
    assert "timed out" in messages(result, "rnn_forward")


def test_sys_exit_in_a_unit(submission):
    code = "import sys\ndef softmax_cross_entropy(logits, targets):\n    sys.exit(3)\n"
    result = grade_notebook(submission(A, replace={"softmax_cross_entropy": code}), A)
    assert by_unit(result)["softmax_cross_entropy"][0] == 0
    assert "called exit()" in messages(result, "softmax_cross_entropy")
    assert result.score == 85


def test_hard_exit_kills_only_that_call(submission):
    code = "import os\ndef one_hot(indices, depth):\n    os._exit(7)\n"
    result = grade_notebook(submission(A, replace={"one_hot": code}), A)
    assert by_unit(result)["one_hot"][0] == 0
    assert "died" in messages(result, "one_hot")
    assert result.score == 90


def test_memory_beyond_the_limit(submission):
    code = "import numpy as np\ndef one_hot(indices, depth):\n    return np.ones((60000, 60000))\n"
    result = grade_notebook(submission(A, replace={"one_hot": code}), A)
    assert by_unit(result)["one_hot"][0] == 0
    assert "memory" in messages(result, "one_hot").lower()
    assert result.score == 90


def test_top_level_code_in_unit_cells_is_not_run(submission):
    code = (
        "import numpy as np\n"
        "def one_hot(indices, depth):\n"
        "    indices = np.asarray(indices)\n"
        "    if np.any((indices < 0) | (indices >= depth)):\n"
        "        raise ValueError('indices out of range')\n"
        "    return np.eye(depth, dtype=np.float32)[indices]\n"
        "print(one_hot([1, 2], 4))\n"
        "while True:\n"
        "    pass\n"
        "result = one_hot(np.arange(3), 3)\n"
    )
    result = grade_notebook(submission(A, replace={"one_hot": code}), A, limits=FAST)
    assert result.score == 100


def test_grading_is_deterministic(submission):
    code = "import numpy as np\ndef rnn_forward(x, h0, Wx, Wh, b):\n    return np.stack([rnn_step_forward(x[:, t], h0, Wx, Wh, b) for t in range(x.shape[1])], axis=1)\n"
    path = submission(A, replace={"rnn_forward": code})
    first = report.results_json(grade_notebook(path, A))
    second = report.results_json(grade_notebook(path, A))
    for r in (first, second):
        r.pop("execution_time")
        r["extra_data"].pop("child_startup_seconds")  # measurements, not verdicts
        r["extra_data"].pop("child_peak_rss_mib")
    assert first == second
    assert "Every step starts from h0" in json.dumps(first)
