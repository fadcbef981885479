"""tools/mutation_score.py on a tiny case: one unit of 01, a handful of mutants, graded by the real grader."""

import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "mutation_score.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("mutation_score", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mutants_are_deterministic_and_cover_the_operator_families(tool):
    _, first = tool.plan("01_rnn_numpy", only_units={"rnn_step_forward"})
    _, again = tool.plan("01_rnn_numpy", only_units={"rnn_step_forward"})
    everything, _ = first["rnn_step_forward"]
    assert [mu[0] for mu in everything] == [mu[0] for mu in again["rnn_step_forward"][0]]
    assert len({mu[0] for mu in everything}) == len(everything), "mutant ids are unique"
    operators = {mu[1] for mu in everything}
    # mutmut's swapped operator, and the kit's own: swapped operands, a dropped term, a transpose, tanh removed
    assert {"mutmut.swap_op", "swap_operands", "drop_term", "transpose", "activation"} <= operators, operators
    codes = [mu[2] for mu in everything]
    assert any("np.tanh" not in code.split('"""')[-1] for code in codes), "an activation-removed mutant exists"
    assert all(code != tool.unit_cells("01_rnn_numpy")[1]["rnn_step_forward"] for code in codes)
    # the sample is bounded and the same every time
    assert tool.sample(everything, 3) == tool.sample(everything, 3)
    assert len(tool.sample(everything, 3)) == 3


def test_dense_without_activation_gets_a_softmax_mutant(tool):
    mutants = tool.mutants_of("m", 'def m(n):\n    return keras.layers.Dense(n)\n')
    assert any('Dense(n, activation="softmax")' in code for _, name, code, _ in mutants if name == "insert_softmax")


def test_a_tiny_run_grades_mutants_with_the_real_grader(tool, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    tool.main(["01_rnn_numpy", "--units", "one_hot", "--max-per-unit", "3",
               "--out", str(tmp_path / "grades"), "--report", str(report_path), "--triage", str(tmp_path / "none.json")])
    (report,) = json.loads(report_path.read_text())
    assert report["original_full_marks"], "the unchanged reference gets full marks"
    row = report["units"]["one_hot"]
    assert row["graded"] == 3 and row["not_graded"] == 0
    assert row["killed"] + row["survived"] == 3
    assert row["killed"] >= 1, "01's suite kills some mutant of one_hot"
    printed = capsys.readouterr().out
    assert "01_rnn_numpy" in printed and "score" in printed
    # a survivor triaged afterwards counts as equivalent when the saved report is printed again
    survivors = report["survivors"] or [dict(id="one_hot:none:0", unit="one_hot", operator="none", change="", equivalent=None, diff="")]
    report["survivors"] = survivors[:1]
    report_path.write_text(json.dumps([report]))
    triage = tmp_path / "triage.json"
    triage.write_text(json.dumps({"01_rnn_numpy": {survivors[0]["id"]: "a reason"}}))
    again = tool.retriaged(report, json.loads(triage.read_text()))
    assert again["units"]["one_hot"]["equivalent"] == 1 and again["survivors"][0]["equivalent"] == "a reason"
    assert tool.main(["--from-report", str(report_path), "--triage", str(triage)]) == 0
    assert "1 triaged equivalent" in capsys.readouterr().out
