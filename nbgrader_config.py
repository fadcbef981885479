"""nbgrader configuration for the course kit (used by `rnnkit release` and by staff)."""

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.course_id = "rnnkit"
# The stub nbgrader writes where a solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Training cells need more than nbgrader's default 30 s per cell.
c.ExecutePreprocessor.timeout = 600
