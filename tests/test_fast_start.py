"""Grading with every reference answer cached starts no reference child; a miss starts it on demand."""

import os

from rnnkit_grader import assignments
from rnnkit_grader.isolate import Reference
from rnnkit_grader.runner import grade_notebook

A = "01_rnn_numpy"


def test_a_filled_cache_starts_no_reference_child_and_a_miss_starts_it(tmp_path):
    assignment = assignments.get(A)
    cold = grade_notebook(assignment.solution, A, reference=Reference(assignment, cache_dir=tmp_path))
    assert cold.reference_started and cold.score == cold.max_score, cold.problems

    warm = grade_notebook(assignment.solution, A, reference=Reference(assignment, cache_dir=tmp_path))
    assert not warm.reference_started and warm.score == cold.score, [t.output for t in warm.tests if t.status != "passed"]
    assert warm.first_check_seconds is not None and 0 < warm.checks_seconds < warm.seconds

    answers = sorted(tmp_path.glob("*.json"))
    os.unlink(answers[0])  # one answer missing: the reference child starts for it, and only then
    missed = grade_notebook(assignment.solution, A, reference=Reference(assignment, cache_dir=tmp_path))
    assert missed.reference_started and missed.score == cold.score
    assert (tmp_path / answers[0].name).exists()


def test_a_shared_cache_serves_another_batch(tmp_path, monkeypatch):
    """$RNNKIT_REFERENCE_CACHE: answers computed for one batch's cache are reused by another batch's."""
    assignment = assignments.get(A)
    monkeypatch.setenv("RNNKIT_REFERENCE_CACHE", str(tmp_path / "shared"))
    first = grade_notebook(assignment.solution, A, reference=Reference(assignment, cache_dir=tmp_path / "batch1"))
    second = grade_notebook(assignment.solution, A, reference=Reference(assignment, cache_dir=tmp_path / "batch2"))
    assert first.reference_started and not second.reference_started and second.score == first.score == first.max_score


def test_no_template_while_the_environment_lives_under_tmp(monkeypatch):
    """Each forked child gets a fresh /tmp, which would hide an interpreter or kit installed there
    (a fresh clone under /tmp graded every notebook 0): the plain start is used instead."""
    from pathlib import Path

    from rnnkit_grader import isolation, sandbox

    monkeypatch.delenv(sandbox.TEMPLATE_ENV, raising=False)
    monkeypatch.setattr(isolation, "python_paths", lambda: [Path("/usr/lib/python3"), Path("/work/x/.venv")])
    monkeypatch.setattr(isolation, "kit_packages", lambda role: {"rnnkit": Path("/work/x/rnnkit")})
    assert sandbox.templates_enabled()
    monkeypatch.setattr(isolation, "python_paths", lambda: [Path("/tmp/tmp.abc/.venv")])
    assert not sandbox.templates_enabled()
    monkeypatch.setattr(isolation, "python_paths", lambda: [Path("/work/x/.venv")])
    monkeypatch.setattr(isolation, "kit_packages", lambda role: {"rnnkit": Path("/tmp/tmp.abc/rnnkit")})
    assert not sandbox.templates_enabled()
