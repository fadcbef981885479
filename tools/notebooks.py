"""Execute the reference notebooks, check that their saved outputs are current, render them as pages.

    python tools/notebooks.py execute [ID ...] [--jobs N] [--out DIR]   # run top to bottom, save outputs
    python tools/notebooks.py check [ID ...]                            # are the saved outputs current?
    python tools/notebooks.py pages [--out build/pages]                 # HTML pages with nbconvert

`execute` runs each notebook in a fresh kernel of this interpreter (a scratch working
folder, so nothing lands in solutions/) and records in the notebook's metadata, under
`rnnkit.executed`, the sha256 of its code cells' sources and the versions it ran with.
Without `--out` it saves the outputs into `solutions/<id>/<id>.ipynb`; with `--out` it
writes executed copies there and leaves solutions/ alone (the student check of CI).
`check` fails (exit 1) when a notebook was changed after its outputs were saved.
`pages` renders the saved outputs as they are (it never executes anything) with
nbconvert's HTML exporter, MathJax copied beside the pages so they work offline.
"""

import argparse
import ast
import concurrent.futures
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
PAGES = ROOT / "build" / "pages"
TEMPLATE_DIR = Path(__file__).resolve().parent / "pages_template"
RECORDED_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "numpy", "matplotlib")
FIGURE_CALLS = {"plt.subplots", "plt.figure", "plt.subplot_mosaic"}
PYPLOT_DRAWS = {f"plt.{name}" for name in ("plot", "semilogy", "semilogx", "loglog", "imshow", "bar", "hist", "scatter")}
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")


def reference_notebooks(ids=()):
    """{id: path} of solutions/<id>/<id>.ipynb, all of them or those named."""
    found = {p.parent.name: p for p in sorted(SOLUTIONS.glob("*/*.ipynb")) if p.stem == p.parent.name}
    unknown = sorted(set(ids) - set(found))
    if unknown:
        raise SystemExit(f"no reference notebook for {', '.join(unknown)} (known: {', '.join(found)})")
    return {i: found[i] for i in (ids or found)}


def code_digest(nb):
    """sha256 of the notebook's code cells' sources, in order: what the saved outputs came from."""
    sources = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources, ensure_ascii=True).encode()).hexdigest()


def versions():
    found = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


# Smaller training budgets for the student check (`execute --quick`): what it proves is that every
# notebook runs top to bottom on the student's versions, not the figures a full budget reaches.
# Each edit must match the cells it names exactly as many times as given, so a notebook that
# changes is noticed here rather than silently run at full length.
QUICK_BUDGETS = {
    "05_mnist": [("ADAM_EPOCHS = 3\n", "ADAM_EPOCHS = 1\n", 1),
                 ("keras.optimizers.SGD(learning_rate=0.01), epochs=3,", "keras.optimizers.SGD(learning_rate=0.01), epochs=1,", 2)],
    "06_char_rnn": [("BATCH_SIZE, SEQ_LEN, EPOCHS = 32, 64, 3\n", "BATCH_SIZE, SEQ_LEN, EPOCHS = 32, 64, 1\n", 1)],
    "07_time_series": [("epochs=20, learning_rate=0.01)", "epochs=3, learning_rate=0.01)", 2),
                       ("MAX_H = 60\n", "MAX_H = 20\n", 1), ("10 * np.arange(10)", "10 * np.arange(3)", 1),
                       ("HORIZON = 100\n", "HORIZON = 40\n", 1)],
    "08_seq2seq": [("EPOCHS, BATCH_SIZE = 5, 128\n", "EPOCHS, BATCH_SIZE = 2, 128\n", 1)],
}


def apply_quick_budget(nb, notebook_id):
    """Cut the notebook's training budgets (QUICK_BUDGETS) in place; ValueError when an edit no longer fits."""
    for old, new, count in QUICK_BUDGETS.get(notebook_id, []):
        cells = [c for c in nb.cells if c.cell_type == "code" and not nbgrader_solution(c)]
        found = sum(c.source.count(old) for c in cells)
        if found != count:
            raise ValueError(f"{notebook_id}: the quick budget expects {old.strip()!r} {count} time(s) outside solution cells, "
                             f"found {found}: update QUICK_BUDGETS in tools/notebooks.py")
        for c in cells:
            c.source = c.source.replace(old, new)


def nbgrader_solution(cell):
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def execute_notebook(path, out=None, timeout=1200, quick=False):
    """Run `path` top to bottom in a fresh python3 kernel; write it (with outputs) to `out` or in place.

    Returns (seconds, error or None). A cell that raises stops the run; the notebook is
    then saved with the error as its last output and no execution record, so `check` fails.
    """
    import nbclient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    digest = code_digest(nb)
    if quick:
        if out is None:
            raise ValueError("a quick run writes executed copies elsewhere (--out): its outputs are not the notebook's")
        apply_quick_budget(nb, Path(path).stem)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend is what saves figures into the notebook
    start = time.monotonic()
    error = None
    with tempfile.TemporaryDirectory(prefix=f"rnnkit-exec-{Path(path).stem}-") as scratch:
        client = nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name="python3", record_timing=False,
            resources={"metadata": {"path": scratch}},
        )
        try:
            client.execute(env=env)  # nbclient passes env on to the kernel it starts
        except CellExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"
    seconds = time.monotonic() - start
    record = nb.metadata.setdefault("rnnkit", {})
    record.pop("executed", None)
    if error is None and not quick:
        record["executed"] = {"code_sha256": digest, **versions()}
    nbformat.write(nb, out or path)
    return seconds, error


def staleness(nb):
    """Why the saved outputs of `nb` are not those of its current source, or None when they are."""
    executed = nb.metadata.get("rnnkit", {}).get("executed")
    if not executed:
        return "it has no execution record: run `make execute`"
    if executed.get("code_sha256") != code_digest(nb):
        return "a code cell changed after the outputs were saved: run `make execute`"
    for number, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.strip() and cell.get("execution_count") is None:
            return f"code cell [{number}] was never run: run `make execute`"
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return f"code cell [{number}] ends in an error"
    return None


def _calls(tree, skip_definitions):
    """The names of the functions `tree` calls ("plt.subplots", "plot_histories"), outside definitions if asked."""
    found = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if skip_definitions and node is not tree and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                found.append(func.id)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                found.append(f"{func.value.id}.{func.attr}")
        stack.extend(ast.iter_child_nodes(node))
    return found


def _parse(source):
    try:
        return ast.parse(source)
    except SyntaxError:  # an IPython magic: treat as drawing nothing
        return ast.parse("")


def drawing_functions(nb):
    """Names of the functions the notebook defines that make a figure when called."""
    names = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            for node in ast.walk(_parse(cell.source)):
                if isinstance(node, ast.FunctionDef) and any(c in FIGURE_CALLS for c in _calls(node, False)):
                    names.add(node.name)
    return names


def figures_drawn(source, drawers=()):
    """How many figures a cell draws when run: each plt.subplots/plt.figure or call of a drawing function
    outside a definition, or one for bare pyplot drawing; a cell that only defines a plotting function draws none."""
    calls = _calls(_parse(source), skip_definitions=True)
    made = sum(1 for c in calls if c in FIGURE_CALLS or c in drawers)
    return made or (1 if any(c in PYPLOT_DRAWS for c in calls) else 0)


def images_in(cell):
    return sum(1 for o in cell.get("outputs", []) if any(t in o.get("data", {}) for t in IMAGE_TYPES))


def copy_mathjax(out):
    """MathJax 2.7 (from jupyter-server-mathjax) beside the pages, once; returns its URL relative to a page."""
    import jupyter_server_mathjax

    target = out / "mathjax"
    if not (target / "MathJax.js").exists():
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", target, dirs_exist_ok=True)
    return "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"  # set up by the page template


def render_page(path, out_dir, mathjax_url):
    """One notebook as one self-contained HTML page (figures embedded); returns the page's path."""
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    exporter = HTMLExporter(template_name="rnnkit", extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.mathjax_url = mathjax_url
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": Path(path).stem}})
    page = Path(out_dir) / f"{Path(path).stem}.html"
    page.write_text(body, encoding="utf-8")
    return page


def index_page(entries):
    rows = "\n".join(
        f'<li><a href="{page.name}">{page.stem}</a>{" <em>(outputs not current: " + why + ")</em>" if why else ""}</li>'
        for page, why in entries
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>rnnkit: reference notebooks</title>\n'
        "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;line-height:1.5}</style></head>\n"
        "<body><h1>rnnkit: the reference notebooks, executed</h1>\n"
        "<p>Every output and figure as the reference solutions produce them. Try each assignment first "
        "(<code>assignments/</code>), then compare.</p>\n"
        f"<ul>\n{rows}\n</ul>\n</body>\n</html>\n"
    )


def build_pages(out=PAGES, ids=()):
    """Render every reference notebook (as saved) into `out`, with an index; returns [(page, staleness)]."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mathjax_url = copy_mathjax(out)
    entries = []
    for path in reference_notebooks(ids).values():
        entries.append((render_page(path, out, mathjax_url), staleness(nbformat.read(path, as_version=4))))
    (out / "index.html").write_text(index_page(entries), encoding="utf-8")
    return entries


def _execute_one(args):
    path, out, timeout, quick = args
    try:
        return execute_notebook(path, out, timeout, quick)
    except ValueError as exc:
        return 0.0, str(exc)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="run the reference notebooks top to bottom and save their outputs")
    ex.add_argument("ids", nargs="*")
    ex.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    ex.add_argument("--out", type=Path, help="write executed copies here instead of saving into solutions/")
    ex.add_argument("--timeout", type=int, default=1200, help="seconds a cell may run (default 1200)")
    ex.add_argument("--quick", action="store_true", help="smaller training budgets (QUICK_BUDGETS), with --out only: the student check")
    ck = sub.add_parser("check", help="exit 1 unless every saved output comes from the current source")
    ck.add_argument("ids", nargs="*")
    pg = sub.add_parser("pages", help="render the executed reference notebooks as HTML pages")
    pg.add_argument("--out", type=Path, default=PAGES)
    args = parser.parse_args(argv)

    if args.command == "execute":
        notebooks = reference_notebooks(args.ids)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
        if args.quick and not args.out:
            parser.error("--quick needs --out: a quick run's outputs must not replace the reference notebooks'")
        jobs = [(path, args.out / path.name if args.out else None, args.timeout, args.quick) for path in notebooks.values()]
        print(f"Python {platform.python_version()}; " + ", ".join(f"{k} {v}" for k, v in versions().items() if k != "python"))
        failed = []
        total = time.monotonic()
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for (path, *_), (seconds, error) in zip(jobs, pool.map(_execute_one, jobs)):
                print(f"{path.stem:16s} {seconds:7.1f} s  {'ok' if error is None else 'FAILED: ' + error}", flush=True)
                if error is not None:
                    failed.append(path.stem)
        print(f"{len(jobs)} notebooks in {time.monotonic() - total:.1f} s wall, --jobs {args.jobs}")
        return 1 if failed else 0
    if args.command == "check":
        stale = {i: why for i, p in reference_notebooks(args.ids).items() if (why := staleness(nbformat.read(p, as_version=4)))}
        for i, why in stale.items():
            print(f"{i}: {why}")
        print("all saved outputs are current" if not stale else f"{len(stale)} notebook(s) not current")
        return 1 if stale else 0
    entries = build_pages(args.out)
    for page, why in entries:
        print(f"{page}{'  (outputs not current: ' + why + ')' if why else ''}")
    print(f"open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
