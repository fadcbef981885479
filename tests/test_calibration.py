"""Every bound a hidden suite calibrated on its reference still holds for that reference.

A suite that declares such a bound (a floor, a limit, the figure it was set from: readiness.BOUND_NAME)
says in its record how it was calibrated and defines `calibrate(reference)`, which re-runs the
reference exactly as the grader runs a submission (the suite's own budget, in a grading child) and
returns checks.Calibration records. This one test re-checks them all, so a change to a notebook, a
probe or a library that moves a figure can't slip by silently.
"""

import ast

import pytest

from conftest import load_suite, reference_child
from rnnkit_grader import assignments, checks
from rnnkit_grader.readiness import declared_bounds

CALIBRATED = [a for a in assignments.RECORDS if a.calibration]


def test_every_suite_that_declares_a_bound_is_calibrated():
    for record in assignments.RECORDS:
        if record.suite.exists() and declared_bounds(ast.parse(record.suite.read_text(encoding="utf-8"))):
            assert record in CALIBRATED, f"{record.id}'s suite declares bounds, its record no calibration"


@pytest.mark.parametrize("record", CALIBRATED, ids=[a.id for a in CALIBRATED])
def test_the_reference_still_meets_the_suites_bounds(record):
    suite = load_suite(record.id)
    parties = reference_child(record.id)
    reference = next(parties)
    try:
        found = suite.calibrate(reference)
    finally:
        parties.close()
    assert found and all(isinstance(c, checks.Calibration) for c in found), f"{record.id}: calibrate() returned {found!r}"
    declared = set(declared_bounds(ast.parse(record.suite.read_text(encoding="utf-8"))))
    covered = {name for c in found for name in c.names}
    assert declared <= covered, f"{record.id}: calibrate() re-measures no figure for {sorted(declared - covered)}"
    for c in found:
        print(f"{record.id}: {c.what} = {c.measured:.4f}" + (f" (calibrated {c.calibrated})" if c.calibrated is not None else ""))
    problems = [p for c in found for p in c.problems()]
    assert not problems, f"{record.id}: " + " | ".join(problems)


def test_a_calibration_reports_a_broken_bound_and_a_drift():
    """The record says which way a figure is wrong, in words naming the figure and the fix."""
    ok = checks.Calibration(("FLOOR",), "the reference's score", 0.9, holds=True, calibrated=0.91, drift=0.02)
    assert ok.problems() == []
    low = checks.Calibration(("FLOOR",), "the reference's score", 0.7, holds=False, failure="under the floor 0.8")
    assert low.problems() == ["the reference's score is 0.7: under the floor 0.8; recalibrate and update the figures next to the bound"]
    moved = checks.Calibration(("CALIBRATED_MEAN",), "the mean", 0.85, holds=True, calibrated=0.9, drift=0.03, recalibrate="rerun it")
    assert moved.problems() == ["the mean moved: 0.85 now, 0.9 when calibrated (drift allowed 0.03); rerun it"]
