"""rnnkit: the course kit's helpers that notebooks import (gradient checks, data).

The grading engine lives in the separate `rnnkit_grader` package (autograder/).
"""

__version__ = "0.1.0"
