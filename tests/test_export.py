"""rnnkit export: Canvas's gradebook import CSV and the per-unit CSV, from a batch's results."""

import csv
import json

from rnnkit_grader import cli, report
from rnnkit_grader import results

A, B = "01_rnn_numpy", "03_hello_lm"


def write_result(out, assignment, student, units, batch_error=None):
    """A results.json as grade-batch writes it: one test per unit, worth (score, max)."""
    tests = [results.TestResult(f"{unit}: check", unit, got, top, "passed" if got == top else "failed", "", 0.1) for unit, (got, top) in units.items()]
    data = report.results_json(results.GradeResult(f"{student}.ipynb", assignment, tests, [], 1.0))
    if batch_error:
        data["extra_data"]["batch_error"] = batch_error
    folder = out / assignment / student
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(data))


def batch_out(tmp_path):
    out = tmp_path / "out"
    write_result(out, A, "alice", {"one_hot": (10, 10), "rnn_forward": (90, 90)})
    write_result(out, A, "bob", {"one_hot": (4, 10), "rnn_forward": (0, 90)})
    write_result(out, B, "alice", {"lm_loss": (50, 100)})
    write_result(out, B, "bob", {}, batch_error="timeout")
    write_result(out, A, "mallory", {"one_hot": (10, 10), "rnn_forward": (90, 90)})
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student,Student,ID,SIS User ID,SIS Login ID,Section\n"
        "alice,\"Liddell, Alice\",101,S-1,alice@uni,Lab A\n"
        "bob,=HYPERLINK(\"x\"),102,S-2,bob@uni,Lab B\n"
        "carol,Carol,103,S-3,carol@uni,Lab A\n"
    )
    return out, roster


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_canvas_import_csv(tmp_path, capsys):
    out, roster = batch_out(tmp_path)
    assert cli.main(["export", str(out), "--format", "canvas", "--roster", str(roster), "--name", f"{A}=Homework 1 (1234)"]) == 0
    header, possible, *students = rows(out / "canvas_import.csv")
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1 (1234)", B]
    assert possible[0].strip() == "Points Possible" and possible[5:] == ["100", "100"]
    assert students == [
        ["Liddell, Alice", "101", "S-1", "alice@uni", "Lab A", "100", "50"],
        ["'=HYPERLINK(\"x\")", "102", "S-2", "bob@uni", "Lab B", "4", ""],  # bob's 03 did not finish: blank, not 0
        ["Carol", "103", "S-3", "carol@uni", "Lab A", "", ""],  # no results: Canvas keeps what it has
    ]
    err = capsys.readouterr().err
    assert "mallory" in err and "not in the roster" in err and "bob/03_hello_lm" in err


def test_per_unit_csv(tmp_path):
    out, roster = batch_out(tmp_path)
    assert cli.main(["export", str(out), "--format", "units", "--roster", str(roster), "--to", str(tmp_path / "units.csv")]) == 0
    table = rows(tmp_path / "units.csv")
    header, possible, alice, bob = table[0], table[1], table[2], table[3]
    assert header[6:] == [f"{A}: one_hot", f"{A}: rnn_forward", f"{A}: total", f"{B}: lm_loss", f"{B}: total"]
    assert possible[6:] == ["10", "90", "100", "100", "100"]
    assert alice[0] == "alice" and alice[2] == "101" and alice[6:] == ["10", "90", "100", "50", "50"]
    assert bob[6:] == ["4", "0", "4", "", ""]


def test_canvas_needs_a_roster(tmp_path, capsys):
    out, _ = batch_out(tmp_path)
    assert cli.main(["export", str(out), "--format", "canvas"]) == 2
    assert "needs --roster" in capsys.readouterr().err
