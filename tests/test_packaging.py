"""The conda environment and the pip distribution ask for the same packages, on Linux and macOS alike;
the student requirements name the same packages as ranges, and every route accepts Python 3.11 to 3.13."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ({"sys_platform": "linux", "platform_system": "Linux"}, {"sys_platform": "darwin", "platform_system": "Darwin"})


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def conda_env():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return env, pip_section


def resolved(requirements, platform):
    """{name: specifier} of the requirements whose markers hold on `platform`."""
    out = {}
    for line in requirements:
        req = Requirement(line.split("#", 1)[0].strip())
        if req.marker is None or req.marker.evaluate(platform):
            out[req.name.lower()] = str(req.specifier)
    return out


def test_environment_yml_matches_pyproject_on_linux_and_macos():
    env, pip_section = conda_env()
    assert "-e ." in pip_section
    conda = [line for line in pip_section if not line.startswith("-e")]
    for platform in PLATFORMS:
        assert resolved(conda, platform) == resolved(pyproject()["dependencies"], platform), platform["sys_platform"]
    assert "tensorflow-cpu" not in resolved(conda, PLATFORMS[1]), "tensorflow-cpu has no macOS wheel"
    assert all(spec.startswith("==") for spec in resolved(conda, PLATFORMS[0]).values()), "grading is pinned"


def test_python_versions_agree():
    env, _ = conda_env()
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    supported = SpecifierSet(pyproject()["requires-python"].split("#")[0])
    assert [v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if v in supported] == ["3.11", "3.12", "3.13"]
    assert conda_python.removeprefix("python=") in supported
    makefile = (ROOT / "Makefile").read_text()
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in makefile, "the Makefile's version check says the same"


def test_student_requirements_are_ranges_of_the_kit_packages():
    lines = [l for l in (ROOT / "requirements-student.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    pinned = resolved(pyproject()["dependencies"], PLATFORMS[0])
    for platform in PLATFORMS:
        student = resolved(lines, platform)
        assert {"keras", "numpy", "matplotlib", "mlxtend"} <= set(student)
        assert ("tensorflow-cpu" if platform is PLATFORMS[0] else "tensorflow") in student
        for name, spec in student.items():
            assert not spec.startswith("=="), f"{name} is a range for students"
            if name in pinned:
                assert pinned[name].removeprefix("==") in SpecifierSet(spec), f"the grading pin of {name} is in the student range"


def test_readme_quick_start_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in ci and "make student-check" in ci
    assert re.search(r"make lab\b", readme) and "rnnkit grade" in readme and "make pages" in readme
