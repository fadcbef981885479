"""Load and extract in one call, for code that wants a submission's `Notebook` from its path.

The two steps live in their own modules: `load` (read the file once, safely, and parse
it) and `extract` (the units' code the grader runs). This module keeps the names that
the kit's tools and tests use for both (`load_submission`, `read_submission`, ...).
"""

from rnnkit_grader.extract import (  # noqa: F401
    MAX_CELL_SOURCE,
    MAX_CODE_SOURCE,
    Notebook,
    cell_source,
    execution_cells,
    extract,
    extract_units,
    keep_statements,
    nbgrader_meta,
    parse_cell,
    python_of,
    reference_layout,
    reference_notebook,
    without_magics,
)
from rnnkit_grader.load import (  # noqa: F401
    MAX_CELLS,
    MAX_JSON_DEPTH,
    MAX_JSON_VALUES,
    MAX_NOTEBOOK_BYTES,
    Loaded,
    assignment_of,
    assignment_of_name,
    load,
    parse_notebook,
    read_notebook,
    read_submission,
)


def load_submission(path, units, setup_cells=None, nb=None, problem=None, root=None):
    """Extract `units` (names) from the notebook at `path` (load, then extract).

    `setup_cells` are the reference notebook's setup cells [(grade_id, source)]. A caller
    that already parsed the file passes the notebook `nb` (or the `problem` that kept it
    from being read); otherwise the file is read with read_submission(path, root).
    """
    if nb is None and problem is None:
        loaded = load(path, root=root)
        nb, problem = loaded.nb, loaded.problem
    return extract_units(path, nb, units, setup_cells, problem=problem)
