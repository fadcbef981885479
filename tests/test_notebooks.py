"""The reference notebooks run top to bottom; the releases run up to their first stub."""

import os

import nbclient
import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from rnnkit_grader import assignments

IDS = [a.id for a in assignments.available()]


def execute(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["MPLBACKEND"] = "Agg"
    client.execute()
    return nb


@pytest.mark.parametrize("assignment_id", IDS)
def test_reference_notebook_runs_top_to_bottom(assignment_id, tmp_path):
    nb = execute(assignments.get(assignment_id).solution, tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("assignment_id", IDS)
def test_release_runs_until_its_first_stub(assignment_id, tmp_path):
    with pytest.raises(CellExecutionError) as info:
        execute(assignments.get(assignment_id).release, tmp_path)
    assert info.value.ename == "NotImplementedError", f"first error is {info.value.ename}: {info.value.evalue}"
