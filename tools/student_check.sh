#!/usr/bin/env bash
# `make student-check`, run by CI: what a student installs, on Python 3.12, runs every reference notebook.
# Installs requirements-student.txt (ranges) with the newest TensorFlow and Keras the index serves, and
# the kit's library as a wheel without its grading pins, into a fresh build/student-py3.12; then runs
# each reference notebook top to bottom (executed copies in build/student-check/, solutions/ untouched).
#   STUDENT_PYTHON=/path/to/python3.12   the interpreter (default: python3.12 on PATH, else pyenv's)
#   JOBS=N                               notebooks at once (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
version=3.12
python="${STUDENT_PYTHON:-}"
if [ -z "$python" ]; then
    for candidate in "$(command -v python$version || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$version.*/bin/python$version; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then python="$candidate"; break; fi
    done
fi
if [ -z "$python" ]; then
    echo "student-check: no Python $version found (install it, e.g. pyenv install $version, or set STUDENT_PYTHON)" >&2
    exit 2
fi
venv="build/student-py$version"
start=$(date +%s)
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet --upgrade --upgrade-strategy eager -r requirements-student.txt
"$venv/bin/python" -m pip install --quiet --no-deps .
installed=$(date +%s)
echo "student-check: installed in $((installed - start)) s with $("$venv/bin/python" --version)"
TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" tools/notebooks.py execute --quick --jobs "${JOBS:-1}" --out build/student-check
echo "student-check: notebooks ran in $(( $(date +%s) - installed )) s; $(( $(date +%s) - start )) s in all"
