"""`make lab`: JupyterLab for a student, on assignments/, with the kit's kernel and no instructor tools.

    python tools/student_lab.py [--venv-dir DIR] [JUPYTER LAB ARGS ...]

nbgrader (a kit dependency, for staff) installs server and JupyterLab extensions whose
menus list the course's source notebooks, solutions/ included. This launch turns them
off for itself only: it runs JupyterLab with its own Jupyter config folder (copied from
tools/student_jupyter/, in DIR, default .venv/student-jupyter) that disables nbgrader's
server extensions and its JupyterLab extension, and a data folder whose `python3` kernel
is this interpreter (the one with the kit installed). The file browser starts at, and
cannot leave, assignments/. Other Jupyter launches on the machine are unaffected.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG_SOURCE = Path(__file__).resolve().parent / "student_jupyter"


def prepare(venv_dir):
    """Fill `venv_dir` with the launch's config and data folders; returns the environment to run Jupyter in."""
    venv_dir = Path(venv_dir).resolve()
    config, data = venv_dir / "config", venv_dir / "data"
    shutil.copytree(CONFIG_SOURCE, config, dirs_exist_ok=True)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(data),
               JUPYTER_PREFER_ENV_PATH="0",  # this launch's folders come before the environment's
               TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("MPLBACKEND", None)
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3",
                    "--display-name", "Python 3 (rnnkit)"], env=env, check=True, capture_output=True)
    return env


def lab_command(extra=()):
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT / 'assignments'}",
            "--MappingKernelManager.default_kernel_name=python3", *extra]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv-dir", type=Path, default=ROOT / ".venv" / "student-jupyter")
    args, extra = parser.parse_known_args(argv)
    env = prepare(args.venv_dir)
    print("JupyterLab on assignments/ with the kit's kernel; nbgrader's instructor extensions are off. Ctrl-C stops it.")
    os.execve(sys.executable, lab_command(extra), env)


if __name__ == "__main__":
    main()
