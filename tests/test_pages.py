"""Every result visible without installing: the saved outputs of the reference notebooks are current,
their pages carry every figure, a real browser renders a page cleanly, and the release has no outputs.

The reference notebooks are executed by `make execute` (tools/notebooks.py), which records the
sha256 of their code cells; the pages come from `make pages`. Nothing here runs a reference
notebook: one tiny notebook is executed to prove the record catches a changed cell.
"""

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

from rnnkit_grader import assignments

ROOT = Path(__file__).resolve().parents[1]
IDS = [a.id for a in assignments.available()]


def _tool(name):
    spec = importlib.util.spec_from_file_location(f"rnnkit_tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the execute pool pickles its worker function by module name
    spec.loader.exec_module(module)
    return module


notebooks = _tool("notebooks")
browser_check = _tool("browser_check")


def reference(assignment_id):
    return nbformat.read(assignments.get(assignment_id).solution, as_version=4)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The pages of every reference notebook as saved, as `make pages` builds them."""
    out = tmp_path_factory.mktemp("pages")
    notebooks.build_pages(out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A two-cell notebook executed by the same code as `make execute`: a print and a plot."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("A tiny notebook: $h_t = \\tanh(x_t W_x + h_{t-1} W_h + b)$"),
        nbformat.v4.new_code_cell("x = 6 * 7\nprint(x)"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])\nplt.show()"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    seconds, error = notebooks.execute_notebook(path, timeout=120)
    assert error is None, error
    return path


@pytest.mark.parametrize("assignment_id", IDS)
def test_saved_outputs_come_from_the_current_source(assignment_id):
    why = notebooks.staleness(reference(assignment_id))
    assert why is None, f"solutions/{assignment_id}: {why}"


def test_a_changed_cell_without_reexecution_is_caught(tiny):
    nb = nbformat.read(tiny, as_version=4)
    assert notebooks.staleness(nb) is None
    assert nb.cells[1].outputs[0]["text"] == "42\n"
    record = nb.metadata["rnnkit"]["executed"]
    assert record["code_sha256"] == notebooks.code_digest(nb) and record["python"] and record["keras"]

    nb.cells[1].source = "x = 6 * 9\nprint(x)"
    assert "a code cell changed" in notebooks.staleness(nb)
    nb.cells[1].source = "x = 6 * 7\nprint(x)"
    nb.cells.append(nbformat.v4.new_code_cell("print('new')"))
    assert "a code cell changed" in notebooks.staleness(nb)
    nb.cells.pop()
    nb.cells[0].source = "Prose may change without re-executing."
    assert notebooks.staleness(nb) is None
    nb.cells[2].execution_count = None
    assert "never run" in notebooks.staleness(nb)
    del nb.metadata["rnnkit"]["executed"]
    assert "no execution record" in notebooks.staleness(nb)


def test_a_failing_cell_leaves_no_execution_record(tmp_path):
    path = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('boom')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    seconds, error = notebooks.execute_notebook(path, timeout=60)
    assert error == "ValueError: boom"
    assert "no execution record" in notebooks.staleness(nbformat.read(path, as_version=4))


def test_figures_drawn_counts_figure_calls():
    assert notebooks.figures_drawn("fig, ax = plt.subplots()\nax.plot(x)\nplt.show()") == 1
    assert notebooks.figures_drawn("fig = plt.figure()\n# plt.subplots() in a comment\nfig2, _ = plt.subplots(1, 2)") == 2
    assert notebooks.figures_drawn("plt.semilogy(x)\nplt.title('t')") == 1
    assert notebooks.figures_drawn("x = np.arange(3)\nprint(x)") == 0
    definition = "def plot_losses(losses):\n    fig, ax = plt.subplots()\n    ax.plot(losses)"
    assert notebooks.figures_drawn(definition) == 0, "defining a plotting function draws nothing"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(definition)])
    assert notebooks.drawing_functions(nb) == {"plot_losses"}
    assert notebooks.figures_drawn("for run in runs:\n    plot_losses(run)", {"plot_losses"}) == 1


def embedded_images(html):
    return len(re.findall(r'<img[^>]+src="data:image/(?:png|jpeg|svg\+xml)', html))


def test_the_tiny_page_has_its_figure(tiny, tmp_path):
    page = notebooks.render_page(tiny, tmp_path, "mathjax/MathJax.js")
    assert embedded_images(page.read_text()) == 1


@pytest.mark.parametrize("assignment_id", IDS)
def test_each_page_has_the_figures_its_plotting_cells_draw(pages, assignment_id):
    nb = reference(assignment_id)
    drawers = notebooks.drawing_functions(nb)
    missing = [
        f"[{number}] draws {drawn}, shows {notebooks.images_in(cell)}"
        for number, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (drawn := notebooks.figures_drawn(cell.source, drawers)) > notebooks.images_in(cell)
    ]
    assert not missing, f"solutions/{assignment_id}: plotting cells without their figures (run `make execute`): {missing}"
    html = (pages / f"{assignment_id}.html").read_text()
    assert embedded_images(html) == sum(notebooks.images_in(c) for c in nb.cells), "every saved figure is on the page"


def test_pages_need_nothing_from_the_network(pages):
    for page in sorted(pages.glob("*.html")):
        html = page.read_text()
        remote = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//[^"]*"', html)
        assert not remote, f"{page.name} loads {remote}"
    assert (pages / "mathjax" / "MathJax.js").is_file()
    index = (pages / "index.html").read_text()
    assert all(f'href="{i}.html"' in index for i in IDS)


def test_a_browser_renders_a_page(pages, tmp_path):
    binary = browser_check.find_chromium()
    if binary is None:
        pytest.skip("no Chromium here (apt-get install chromium, as .ci/run does; or set RNNKIT_CHROMIUM)")
    page = pages / "01_rnn_numpy.html"
    seen = browser_check.check_page(page, binary, screenshot=tmp_path / "shot.png")
    assert seen["errors"] == [], "the page logs no console errors"
    assert seen["images"] == embedded_images(page.read_text()) and seen["images_broken"] == 0
    assert seen["math_typeset"] > 0, "MathJax typeset the notebook's formulas"
    assert seen["inked_fraction"] > 0.05 and seen["colours"] > 50, f"the screenshot is blank: {seen}"


@pytest.mark.parametrize("assignment_id", IDS)
def test_the_release_has_no_outputs(assignment_id):
    nb = nbformat.read(assignments.get(assignment_id).release, as_version=4)
    for number, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"assignments/{assignment_id} cell [{number}]"
