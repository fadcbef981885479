"""nbgrader configuration for the course kit (used by `rnnkit release` and by staff).

`nbgrader autograde` (command line or the formgrader's button) grades with the kit's
grader: `rnnkit_grader.nbgrader_step.GradeWithRnnkit` takes the place of nbgrader's
`Execute` step. It grades the submitted file with the kit's sandbox and hidden suite and
writes each autograder test cell's score and messages; the student's notebook is never
run in a kernel of the grader's. The other steps (SaveAutoGrades, late penalties, ...)
are nbgrader's own, in nbgrader's order.
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader

# Kernels nbgrader still starts (`nbgrader validate`) inherit its environment: keep
# TensorFlow's C++ log off stderr.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.course_id = "rnnkit"
# The stub nbgrader writes where a solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Training cells need more than nbgrader's default 30 s per cell (`nbgrader validate`).
c.ExecutePreprocessor.timeout = 600

# nbgrader 0.9.6's Autograde.autograde_preprocessors with Execute replaced by the kit's grader
# (named by import string, so releasing never imports the grader).
c.Autograde.autograde_preprocessors = [
    "rnnkit_grader.nbgrader_step.GradeWithRnnkit",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
