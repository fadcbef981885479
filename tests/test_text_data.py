"""The char-RNN corpora (rnnkit.text): the offline default, and the verified download.

No test touches the network: downloads come from file:// URLs of files written here,
with the expected sha256 patched to theirs.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rnnkit import text

ROOT = Path(__file__).resolve().parents[1]
FAKE = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 50
UNREACHABLE = "file:///nonexistent/rnnkit/tinyshakespeare.txt"


def sha256(data):
    return hashlib.sha256(data.encode()).hexdigest()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A local copy of the "download" and the sha256 the loader expects for it."""
    source = tmp_path / "served" / "input.txt"
    source.parent.mkdir()
    source.write_text(FAKE)
    monkeypatch.setattr(text, "SHAKESPEARE_SHA256", sha256(FAKE))
    return source.as_uri()


def test_default_corpus_is_sizeable_plain_ascii():
    corpus = text.load_corpus(quiet=True)
    assert len(corpus) > 400_000
    assert all(ch == "\n" or " " <= ch <= "~" for ch in corpus)
    assert "assert" in corpus and "The" in corpus
    assert corpus == text.python_docs_text(), "the default corpus is the same on every call"


def test_default_corpus_is_the_shipped_file_with_its_sha256():
    shipped = ROOT / "rnnkit" / "data" / text.PYTHON_DOCS_FILE
    assert text.python_docs_path().resolve() == shipped.resolve()
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == text.PYTHON_DOCS_SHA256
    corpus = text.load_corpus(quiet=True)
    assert (len(corpus), len(set(corpus))) == (464_506, 94), "the figures notebook 06 quotes"


def test_damaged_default_corpus_is_refused(tmp_path, monkeypatch):
    damaged = tmp_path / text.PYTHON_DOCS_FILE
    damaged.write_bytes(text.python_docs_path().read_bytes().replace(b"\n", b"\r\n", 1))
    monkeypatch.setattr(text, "python_docs_path", lambda: damaged)
    text.python_docs_text.cache_clear()
    try:
        with pytest.raises(text.CorpusError, match="sha256 .* expected 2175d1"):
            text.load_corpus(quiet=True)
        damaged.unlink()
        with pytest.raises(text.CorpusError, match="cannot be read"):
            text.load_corpus(quiet=True)
    finally:
        text.python_docs_text.cache_clear()


def find_python(version):
    """An interpreter of `version` ("3.12"): on PATH, or installed by pyenv; None if neither."""
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [shutil.which(f"python{version}")] + sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
    for python in filter(None, candidates):
        if subprocess.run([python, "--version"], capture_output=True).returncode == 0:  # a pyenv shim may fail
            return python
    return None


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_default_corpus_is_the_same_on_other_pythons(version):
    python = find_python(version)
    if python is None:
        pytest.skip(f"python{version} is not installed here (neither on PATH nor by pyenv)")
    code = "import hashlib, rnnkit.text as t; print(hashlib.sha256(t.load_corpus(quiet=True).encode()).hexdigest())"
    done = subprocess.run([python, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == text.PYTHON_DOCS_SHA256


def test_load_corpus_says_which_corpus(capsys):
    text.load_corpus()
    assert "Python Language Reference" in capsys.readouterr().out


def test_unknown_corpus_name():
    with pytest.raises(ValueError, match="name must be one of"):
        text.load_corpus("wikipedia")


def test_download_is_verified_and_cached(tmp_path, served, capsys):
    cache = tmp_path / "cache"
    assert text.load_corpus("shakespeare", cache_dir=cache, url=served) == FAKE
    assert "Tiny Shakespeare" in capsys.readouterr().out
    assert (cache / text.SHAKESPEARE_FILE).read_text() == FAKE
    # Cached and good: no download is attempted (the URL is unreachable now).
    assert text.load_corpus("shakespeare", cache_dir=cache, url=UNREACHABLE) == FAKE


def test_sha256_mismatch_is_rejected(tmp_path, monkeypatch, served):
    monkeypatch.setattr(text, "SHAKESPEARE_SHA256", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(text.CorpusError, match="sha256"):
        text.load_corpus("shakespeare", cache_dir=cache, url=served, fallback=False)
    assert list(cache.iterdir()) == [], "a file that fails its checksum is neither kept nor left half-written"


def test_mismatch_falls_back_to_the_offline_corpus(tmp_path, monkeypatch, served, capsys):
    monkeypatch.setattr(text, "SHAKESPEARE_SHA256", "0" * 64)
    corpus = text.load_corpus("shakespeare", cache_dir=tmp_path / "cache", url=served)
    assert corpus == text.python_docs_text()
    out = capsys.readouterr().out
    assert "not available" in out and "offline corpus" in out


def test_no_network_falls_back_and_says_so(tmp_path, capsys):
    corpus = text.load_corpus("shakespeare", cache_dir=tmp_path / "cache", url=UNREACHABLE)
    assert corpus == text.python_docs_text()
    assert "could not download" in capsys.readouterr().out


def test_no_network_without_fallback_raises(tmp_path):
    with pytest.raises(text.CorpusError, match="could not download"):
        text.load_corpus("shakespeare", cache_dir=tmp_path / "cache", url=UNREACHABLE, fallback=False)


def test_cached_file_kept_when_the_network_fails(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / text.SHAKESPEARE_FILE
    cached.write_text("a stale or damaged copy")
    monkeypatch.setattr(text, "SHAKESPEARE_SHA256", sha256(FAKE))
    corpus = text.load_corpus("shakespeare", cache_dir=cache, url=UNREACHABLE)
    assert corpus == text.python_docs_text()
    assert cached.read_text() == "a stale or damaged copy", "a failed download never deletes what is cached"
    assert [p.name for p in cache.iterdir()] == [text.SHAKESPEARE_FILE]


def test_bad_cached_file_replaced_by_a_good_download(tmp_path, served):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / text.SHAKESPEARE_FILE).write_text("truncated")
    assert text.load_corpus("shakespeare", cache_dir=cache, url=served) == FAKE
    assert (cache / text.SHAKESPEARE_FILE).read_text() == FAKE


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA_DIR", str(tmp_path / "data"))
    assert text.default_cache_dir() == tmp_path / "data"
    monkeypatch.delenv("RNNKIT_DATA_DIR")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert text.default_cache_dir() == tmp_path / "keras" / "datasets"


def test_manifest_lists_both_corpora():
    sources = {s["id"]: s for s in json.loads((ROOT / "datasets" / "manifest.json").read_text())["sources"]}
    shakespeare = sources["tinyshakespeare"]
    assert shakespeare["sha256"] == text.SHAKESPEARE_SHA256
    assert shakespeare["origin"] == text.SHAKESPEARE_URL
    docs = sources["python-docs"]
    assert docs["license"] and docs["origin"]
    assert docs["sha256"] == text.PYTHON_DOCS_SHA256
