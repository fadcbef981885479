# Quick start:  make demo   (grade the example submissions)
#               make test   (the kit's own tests)
# Students:     make lab    (JupyterLab on assignments/, with the kit's kernel)
# Each target creates .venv and installs the kit on its first run.

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rnnkit-installed
STUDENT_JUPYTER := $(VENV)/student-jupyter
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: demo test release bench venv clean lab execute pages student-check

venv: $(STAMP)

# Python 3.11 to 3.13; grading's thresholds were calibrated on 3.11 with the versions pyproject.toml pins.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else "rnnkit needs Python 3.11 to 3.13, this is %d.%d (set PYTHON=/path/to/python3.12)" % v)'
	@$(PYTHON) -c 'import sys; sys.version_info[:2] == (3, 11) or print("note: grading is calibrated on Python 3.11; notebooks and self-grading work on this one")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rnnkit demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15

release: $(STAMP)
	$(VENV)/bin/rnnkit release

bench: $(STAMP)
	$(PY) tools/bench_grade.py

# JupyterLab on assignments/ only, with the kit's kernel and without nbgrader's instructor extensions
# (disabled for this launch only: its own Jupyter config folder in .venv/student-jupyter).
lab: $(STAMP)
	$(PY) tools/student_lab.py --venv-dir $(STUDENT_JUPYTER) $(LAB_ARGS)

# Run the reference notebooks top to bottom, save their outputs (and the sha256 of their code) into
# solutions/, then regenerate the release (nbgrader clears the outputs there).
execute: $(STAMP)
	$(PY) tools/notebooks.py execute --jobs $(or $(JOBS),2)
	$(VENV)/bin/rnnkit release

# The executed reference notebooks as HTML pages in build/pages/ (nbconvert; nothing is executed).
pages: $(STAMP)
	$(PY) tools/notebooks.py pages --out build/pages

# What CI checks for students: the student requirements (ranges) on Python 3.12 with the newest
# TensorFlow and Keras, every reference notebook top to bottom.
student-check:
	tools/student_check.sh

clean:
	rm -rf $(VENV) .pytest_cache build
