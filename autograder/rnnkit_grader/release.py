"""Make the student release: nbgrader's own generate_assignment, from solutions/ to assignments/."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rnnkit_grader import assignments


def nbgrader_command():
    exe = Path(sys.executable).with_name("nbgrader")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]


def generate(assignment_id, release_dir=None):
    """Run nbgrader generate_assignment for one assignment into release_dir (default assignments/).

    Returns the path of the generated notebook. The gradebook nbgrader insists on
    goes to a temporary database, so releasing leaves nothing else behind.
    """
    release_dir = Path(release_dir or assignments.RELEASE).resolve()
    with tempfile.TemporaryDirectory(prefix="rnnkit-release-") as tmp:
        cmd = nbgrader_command() + [
            "generate_assignment",
            assignment_id,
            "--force",
            "--log-level=ERROR",
            f"--CourseDirectory.root={assignments.ROOT}",
            "--CourseDirectory.source_directory=solutions",
            f"--CourseDirectory.release_directory={release_dir}",
            f"--CourseDirectory.db_url=sqlite:///{tmp}/gradebook.db",
        ]
        # nbgrader runs `alembic` by name to create its database: put this environment's bin first.
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PATH=path)
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {assignment_id} failed:\n{done.stdout}\n{done.stderr}")
    out = release_dir / assignment_id
    for extra in out.iterdir():  # nbgrader copies the whole source folder; keep only the notebook
        if extra.name != f"{assignment_id}.ipynb":
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    released = out / f"{assignment_id}.ipynb"
    strip_execution_record(released)
    return released


def strip_execution_record(path):
    """nbgrader clears outputs but keeps notebook metadata: drop the reference's execution record
    (the digest and versions tools/notebooks.py stores), which means nothing in a student's copy."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    record = nb.metadata.get("rnnkit")
    if isinstance(record, dict) and "executed" in record:
        record.pop("executed")
        if not record:
            nb.metadata.pop("rnnkit")
        nbformat.write(nb, path)
