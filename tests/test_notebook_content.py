"""What the notebooks say: the install cell, the written answers, and the results the text reports.

The claim checks read the outputs saved in the reference notebooks (`tools/notebooks.py
execute` writes them; tests/test_pages.py checks they are current) and hold each sentence of
the text that reports a particular result to the output it reports. Nothing is executed here.
"""

import builtins
import os
import re
import subprocess
import sys

import pytest

from rnnkit_grader import assignments
from rnnkit_grader.notebook import nbgrader_meta, read_notebook

IDS = [a.id for a in assignments.available()]


def cells(path):
    return read_notebook(path)["cells"]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


# ---- the install cell ---------------------------------------------------------------------------


def install_cell(assignment_id):
    code = [c for c in cells(assignments.get(assignment_id).solution) if c["cell_type"] == "code"]
    assert nbgrader_meta(code[0]).get("grade_id") == "install_rnnkit", f"{assignment_id}: the first code cell installs the kit"
    assert nbgrader_meta(code[0]).get("locked")
    return source(code[0])


@pytest.mark.parametrize("assignment_id", IDS)
def test_first_code_cell_is_the_same_short_install_cell(assignment_id):
    text = install_cell(assignment_id)
    assert text == install_cell(IDS[0]) and len(text.splitlines()) <= 16


def run_install_cell(monkeypatch, rnnkit_missing, env_source):
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, **kw: calls.append(cmd))
    if env_source is None:
        monkeypatch.delenv("RNNKIT_SOURCE", raising=False)
    else:
        monkeypatch.setenv("RNNKIT_SOURCE", env_source)
    if rnnkit_missing:
        real_import = builtins.__import__

        def no_rnnkit(name, *args, **kwargs):
            if name == "rnnkit" and not calls:  # importable again once "pip" has run
                raise ModuleNotFoundError("No module named 'rnnkit'")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_rnnkit)
    exec(compile(install_cell(IDS[0]), "install_rnnkit", "exec"), {})
    return calls


def test_install_cell_does_nothing_where_the_kit_is_installed(monkeypatch):
    assert run_install_cell(monkeypatch, rnnkit_missing=False, env_source="/somewhere") == []


def test_install_cell_installs_from_rnnkit_source(monkeypatch):
    calls = run_install_cell(monkeypatch, rnnkit_missing=True, env_source="/content/rnnkit")
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", "/content/rnnkit"]]


def test_install_cell_says_what_to_set_when_it_cannot_install(monkeypatch):
    with pytest.raises(RuntimeError, match="RNNKIT_SOURCE"):
        run_install_cell(monkeypatch, rnnkit_missing=True, env_source=None)


# ---- written answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("assignment_id", IDS)
def test_one_or_two_written_answers_worth_no_autograded_points(assignment_id):
    solution = cells(assignments.get(assignment_id).solution)
    answers = [(i, c) for i, c in enumerate(solution) if str(nbgrader_meta(c).get("grade_id", "")).startswith("answer_")]
    assert 1 <= len(answers) <= 2, f"{assignment_id} has {len(answers)} written questions"
    for i, cell in answers:
        meta = nbgrader_meta(cell)
        assert cell["cell_type"] == "markdown" and meta["solution"] and meta["grade"] and meta["points"] > 0
        assert len(source(cell).split()) >= 40, f"{meta['grade_id']}: the reference holds a model answer"
        question = solution[i - 1]
        assert question["cell_type"] == "markdown" and nbgrader_meta(question).get("locked") and "Question" in source(question)
    autograded = sum(nbgrader_meta(c)["points"] for c in solution
                     if nbgrader_meta(c).get("grade") and str(nbgrader_meta(c)["grade_id"]).startswith("test_"))
    assert autograded == 100, f"{assignment_id}: the autograded cells total {autograded}"
    released = {nbgrader_meta(c).get("grade_id"): c for c in cells(assignments.get(assignment_id).release)}
    for _, cell in answers:
        blank = released[nbgrader_meta(cell)["grade_id"]]
        assert source(blank).strip() == "YOUR ANSWER HERE" and not nbgrader_meta(blank).get("locked")


@pytest.mark.parametrize("assignment_id", IDS)
def test_text_never_leans_on_material_students_do_not_have(assignment_id):
    for cell in cells(assignments.get(assignment_id).solution):
        if cell["cell_type"] == "markdown":
            # "the source" of 08 is the sequence being reversed ("from the source to the answer")
            found = re.findall(r"\bthe (?:source(?!s| to the answer| ids)|original(?! order))", source(cell), re.I)
            found += re.findall(r"\btools/\w+", source(cell))
            assert not found, f"{assignment_id} {nbgrader_meta(cell).get('grade_id')}: {found}"


# ---- claims of the text, against the saved outputs ---------------------------------------------


def printed(assignment_id, marker):
    """The stdout of the one reference code cell whose source contains `marker`."""
    hits = [c for c in cells(assignments.get(assignment_id).solution) if c["cell_type"] == "code" and marker in source(c)]
    assert len(hits) == 1, f"{assignment_id}: {len(hits)} cells contain {marker!r}"
    text = "".join("".join(o["text"]) for o in hits[0].get("outputs", []) if o.get("output_type") == "stream")
    assert text, (f"{assignment_id}: the cell with {marker!r} has no saved output: "
                  f"run `python tools/notebooks.py execute {assignment_id}`")
    return text


def numbers_after(text, label):
    return [float(m) for m in re.findall(re.escape(label) + r"\s*([-+0-9.e]+)", text)]


def test_01_claims():
    text = printed("01_rnn_numpy", "char_model_loss(params, x_train")
    assert re.search(r"step  50 .*prediction 'llll'", text), "md_demo_generate: around step 50 the model says l everywhere"
    radii = printed("01_rnn_numpy", "spectral radius of Wh")
    for scale, radius in re.findall(r"scale ([0-9.]+): spectral radius of Wh ([0-9.]+)", radii):
        assert abs(float(radius) / float(scale) - 1) < 0.25, "md_long_sequences: the spectral radius is roughly scale"


def test_02_claims():
    text = printed("02_cells", "set_forget_bias(value)")
    ratio = {m[0]: float(m[1]) for m in re.findall(r"(vanilla RNN|forget bias \d): gradient reaching x_0 / reaching x_\d+: (\S+)", text)}
    assert ratio["forget bias 0"] < ratio["forget bias 1"] and ratio["forget bias 0"] < ratio["vanilla RNN"], (
        "md_lstm_gradients_read: forget bias 0 falls faster")
    assert ratio["forget bias 3"] > 100 * max(ratio["vanilla RNN"], ratio["forget bias 1"]), (
        "md_lstm_gradients_read: forget bias 3 keeps the gradient far larger")
    assert 1e-13 < ratio["vanilla RNN"] < 1e-7, "md_vanishing_read: about ten orders of magnitude over 100 steps"


def test_03_claims():
    watch = printed("03_hello_lm", "snapshot_steps = [0, 2, 4, 10, 100]")
    assert "after 4 updates, wrong at steps: [\"0 (input 'h': said 'e', target 'i')\"]" in watch, "md_watch_notes"
    sampling = printed("03_hello_lm", "temperatures = [0.01, 0.5, 1.0, 2.0, 5.0]")
    early = sampling[sampling.index("after 4 updates"):]
    assert re.search(r"T = 0\.01\s+helloo  helloo  helloo  helloo", early), "md_sampling_notes: the early model writes helloo"
    cells_text = printed("03_hello_lm", 'for cell in ["rnn", "gru", "lstm"]')
    assert cells_text.count("prediction 'ihello'") == 3, "all three cells get there in 25 steps"


def test_04_claims():
    both = printed("04_embeddings", "onehot_losses = train_embedding_lm")
    assert both.count("prediction 'ihello'") == 2, "md_corpus: both models learn the word in 60 steps"
    rows = printed("04_embeddings", "rows with a non-zero gradient")
    touched = re.search(r"rows with a non-zero gradient: \[(.*)\]", rows).group(1)
    assert len(touched.split(",")) == 7, "md_corpus_train: seven of the 29 rows"
    assert "rows that training never changed: ['.']" in printed("04_embeddings", "rows that training never changed")


def test_06_claims():
    text = printed("06_char_rnn", "batch_losses = train_tbptt(")
    val, bigram = re.search(r"validation perplexity ([0-9.]+) \(bigram baseline ([0-9.]+)\)", text).groups()
    assert float(val) < 0.8 * float(bigram), "md_run: the validation perplexity ends well below the bigram baseline"


def test_07_claims():
    text = printed("07_time_series", "losses = train_forecaster(model, x_train")
    test_mse, naive, floor = (float(v) for v in re.search(
        r"test MSE ([0-9.]+) \| naive forecast ([0-9.]+) \| noise floor ([0-9.]+)", text).groups())
    assert test_mse < 1.5 * floor and test_mse < 0.7 * naive, "md_fit_plot: near the floor, well below naive"
    horizon = printed("07_time_series", "MAX_H = 60")
    first, last = (float(v) for v in re.search(r"at h = 1: ([0-9.]+), at h = \d+: ([0-9.]+)", horizon).groups())
    assert first < 1.5 * test_mse + 1e-9 and last > first, "the error starts at the one-step error and grows with h"


def test_08_claims():
    text = printed("08_seq2seq", "exact match by source length")
    by_length = {int(k): float(v) for k, v in re.findall(r"(\d+): ([0-9.]+)", text.split("length:", 1)[1])}
    lengths = sorted(by_length)
    assert all(by_length[n] >= 0.98 for n in lengths[:3]), "md_read: short sources are solved (almost) perfectly"
    assert min(by_length, key=by_length.get) >= lengths[len(lengths) // 2], "md_read: the mistakes are on the longest"


def test_05_claims():
    text = printed("05_mnist", "ADAM_EPOCHS = 3")
    table = {m[0].strip(): float(m[1]) for m in re.findall(r"^(SimpleRNN x2|SimpleRNN|GRU|LSTM)\s+[0-9,]+\s+[0-9.]+\s+([0-9.]+)%",
                                                            text, re.M)}
    assert set(table) == {"SimpleRNN", "SimpleRNN x2", "GRU", "LSTM"}, table
    assert min(table["GRU"], table["LSTM"]) >= table["SimpleRNN"], "md_compare: with Adam the gated cells reach at least the SimpleRNN"
