"""Extraction runs a notebook's definitions, not its top-level experiments."""

import nbformat

from rnnkit_grader.notebook import execution_cells, load_submission


def notebook_with(tmp_path, cells):
    nb = nbformat.v4.new_notebook()
    for grade_id, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if grade_id:
            cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True, "grade": False, "locked": False}
        nb.cells.append(cell)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def test_unit_cell_keeps_definitions_and_drops_experiments(tmp_path):
    source = (
        "%matplotlib inline\n"
        "import numpy as np\n"
        "SCALE = np.sqrt(2.0)\n"
        "def f(x):\n"
        "    return x * SCALE\n"
        "print(f(3))\n"
        "result = f(4)\n"
        "for i in range(10**9):\n"
        "    pass\n"
    )
    nb = load_submission(notebook_with(tmp_path, [("f", source)]), ["f"])
    code = nb.units["f"]
    assert "import numpy as np" in code and "SCALE = np.sqrt(2.0)" in code and "def f(x):" in code
    assert "print" not in code and "result = f(4)" not in code and "range(10**9)" not in code
    assert code.count("\n") >= source.count("\n"), "line numbers are kept"


def test_unit_found_by_definition_when_metadata_is_lost(tmp_path):
    nb = load_submission(notebook_with(tmp_path, [(None, "def f(x):\n    return x\n")]), ["f"])
    assert "def f(x)" in nb.units["f"] and not nb.unit_problems


def test_helpers_from_other_cells_but_not_redefinitions_of_units(tmp_path):
    cells = [
        ("f", "def f(x):\n    return helper(x)\n"),
        (None, "def helper(x):\n    return x + 1\nhelper(3)\n"),
        (None, "def f(x):\n    return 'scratch version'\n"),
    ]
    nb = load_submission(notebook_with(tmp_path, cells), ["f"])
    extra = "".join(source for _, source in nb.extra)
    assert "def helper" in extra and "scratch version" not in extra and "helper(3)" not in extra.replace("def helper", "")
    order = [name for name, _ in execution_cells(nb)]
    assert order[-1] == "f"


def test_syntax_error_is_a_problem_of_that_unit_only(tmp_path):
    cells = [("f", "def f(:\n"), ("g", "def g():\n    return 1\n")]
    nb = load_submission(notebook_with(tmp_path, cells), ["f", "g"])
    assert "SyntaxError on line 1" in nb.unit_problems["f"]
    assert "g" in nb.units
