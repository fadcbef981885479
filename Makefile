# Quick start:  make demo   (grade the example submissions)
#               make test   (the kit's own tests)
# Each target creates .venv and installs the kit on its first run.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rnnkit-installed
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: demo test release bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "rnnkit needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
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

clean:
	rm -rf $(VENV) .pytest_cache
