"""The conda environment and the pip distribution ask for the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        requirement, _, marker = dep.partition(";")
        if marker and "linux" not in marker or "!=" in marker:
            continue  # environment.yml describes the Linux environment
        name, version = re.split(r"==", requirement.strip())
        pins[name.lower()] = version
    return pins


def conda_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for line in pip_section:
        if line.startswith("-e"):
            continue
        name, version = line.split("==")
        pins[name.lower()] = version
    return env, pins


def test_environment_yml_matches_pyproject():
    env, pins = conda_pins()
    assert pins == pyproject_pins()
    assert "python=3.11" in env["dependencies"]
    assert "-e ." in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def test_readme_quick_start_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in ci
