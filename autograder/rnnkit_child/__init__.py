"""The code that runs beside student code, inside the sandboxed child.

This package is the trust boundary made visible: it is the only kit code (with the
public `rnnkit` library) that the student's child can import. It imports nothing of
the grader side (`rnnkit_grader`), and nothing in it implements a graded unit: its
probes call the student's units and send back the student's raw outputs (values,
trained weights, predictions, generated ids) as data. Whatever decides a grade
(accuracy, MSE, perplexity, exact match, ...) is computed by the grader or by the
reference child, never here; nothing it returns is believed without checks.

    serve.py   the child's request loop (exec cells, call units, run probes)
    codec.py   the data-only message format shared with the grader
    probes/    per-assignment helpers that exercise the student's units
"""
