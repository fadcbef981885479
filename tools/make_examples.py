"""Write the example submissions in examples/submissions/ from the released notebooks.

    .venv/bin/python tools/make_examples.py [ASSIGNMENT ...]

Each example is the student release with its unit cells filled in the way a student
might: a correct solution written differently from the reference, and realistic
mistakes (each changes one unit of the correct one), from tools/variants/v<id>.py. `blank` is the release as
handed out. The score each must get is recorded by hand in
examples/submissions/<id>/expected.json, with the reason, and asserted by
tests/test_examples.py. Run this again after `rnnkit release` changes a notebook.
"""

import copy
import sys
from pathlib import Path

import nbformat

import importlib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))


def all_variants():
    """{assignment id: VARIANTS} from tools/variants/v<id>.py."""
    found = {}
    for module in sorted((ROOT / "tools" / "variants").glob("v[0-9]*.py")):
        found[module.stem[1:]] = importlib.import_module(f"variants.{module.stem}").VARIANTS
    return found


def nbgrader_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def fill(release, units):
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        gid = nbgrader_id(cell)
        if gid in units:
            cell.source = units[gid].strip("\n") + "\n"
    return nb


def main(ids=None):
    out_root = ROOT / "examples" / "submissions"
    for assignment_id, variants in all_variants().items():
        if ids and assignment_id not in ids:
            continue
        release_path = ROOT / "assignments" / assignment_id / f"{assignment_id}.ipynb"
        if not release_path.exists():
            print(f"skipped {assignment_id}: no release yet (run rnnkit release)")
            continue
        release = nbformat.read(release_path, as_version=4)
        out = out_root / assignment_id
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(release, out / "blank.ipynb")
        correct = variants["correct"]
        for name, units in variants.items():
            merged = dict(correct)
            merged.update(units)
            nbformat.write(fill(release, merged), out / f"{name}.ipynb")
            print(f"wrote {out.relative_to(ROOT)}/{name}.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
