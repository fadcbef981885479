"""rnnkit similarity: disguised copies are flagged, independent solutions are not."""

import ast
import builtins
import shutil

import nbformat
import pytest

from rnnkit_grader import assignments, cli, notebook, similarity
from rnnkit_grader.notebook import nbgrader_meta

from conftest import reference_notebook

EXAMPLES = assignments.ROOT / "examples" / "submissions"
A = "01_rnn_numpy"


class _Rename(ast.NodeTransformer):
    """Every variable and argument renamed, except the units, modules and builtins."""

    def __init__(self, keep):
        self.keep, self.names = keep, {}

    def rename(self, name):
        if name in self.keep or hasattr(builtins, name):
            return name
        return self.names.setdefault(name, f"my_{len(self.names)}_{name[::-1]}")

    def visit_Name(self, node):
        node.id = self.rename(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.rename(node.arg)
        return node


def disguise(source, units):
    """A copy as a student hides one: names changed, the cell's functions in the reverse order,
    comments dropped and added, the layout redone (ast.unparse, blank lines doubled)."""
    tree = ast.parse(source)
    tree = _Rename(set(units) | {"np", "keras", "tf", "ops", "math", "rnnkit", "self", "super"}).visit(tree)
    tree.body.reverse()
    return "# all my own work\n" + ast.unparse(tree).replace("\n", "\n\n")


def disguised_copy(nb, assignment_id, path):
    """Write a disguised copy of nb, its cells also in the reverse order."""
    _, units = notebook.reference_layout(assignments.get(assignment_id).solution)
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") in units:
            cell.source = disguise(cell.source, units)
    nb.cells.reverse()
    nbformat.write(nb, path)
    return path


def test_the_report_flags_disguised_copies_and_not_independent_work(tmp_path, capsys):
    folder = tmp_path / "flat"
    folder.mkdir()
    shutil.copy(EXAMPLES / A / "correct.ipynb", folder / "alice.ipynb")
    disguised_copy(nbformat.read(EXAMPLES / A / "correct.ipynb", as_version=4), A, folder / "bob.ipynb")  # bob copied alice
    disguised_copy(reference_notebook(A), A, folder / "carol.ipynb")  # carol copied the published solution
    shutil.copy(EXAMPLES / A / "blank.ipynb", folder / "dave.ipynb")
    (folder / "erin.ipynb").write_text("{ not a notebook")
    report = tmp_path / "similarity.html"
    assert cli.main(["similarity", str(folder), "--assignment", A, "--out", str(report)]) == 0
    found = similarity.compare_folder(folder, A)
    assert {(p.a.name, p.b.name) for p in found.flagged} == {("alice", "bob"), (similarity.REFERENCE, "carol")}
    assert all(p.similarity > 0.8 for p in found.flagged)
    assert "2 pair(s) at or above" in capsys.readouterr().out
    page = report.read_text()
    assert page.count("class='pair'") == 2 and "<mark>" in page
    assert "dave: too little code of its own" in page and "erin:" in page  # the starter code alone is not compared


@pytest.mark.parametrize("assignment_id", [a.id for a in assignments.available()])
def test_independent_correct_solutions_are_not_flagged(assignment_id, tmp_path):
    """Each assignment's `correct` example, written independently of the reference, is not flagged
    against it; a disguised copy of it is."""
    correct = EXAMPLES / assignment_id / "correct.ipynb"
    copy = disguised_copy(nbformat.read(correct, as_version=4), assignment_id, tmp_path / "copy.ipynb")
    found = similarity.compare([("correct", correct, None), ("copy", copy, None)], assignment_id)
    score = {(p.a.name, p.b.name): p.similarity for p in found.pairs}
    assert score[(similarity.REFERENCE, "correct")] < similarity.THRESHOLD / 2
    assert score[("correct", "copy")] >= similarity.THRESHOLD
