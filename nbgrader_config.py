"""nbgrader configuration for the course kit (used by `rnnkit release` and by staff)."""

import os

c = get_config()  # noqa: F821 - provided by nbgrader

# Kernels inherit nbgrader's environment: keep TensorFlow's C++ log off stderr, where
# nbgrader would read it as a failure of whichever test cell it lands in.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.course_id = "rnnkit"
# The stub nbgrader writes where a solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Training cells need more than nbgrader's default 30 s per cell.
c.ExecutePreprocessor.timeout = 600
