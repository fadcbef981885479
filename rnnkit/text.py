"""Text corpora for the character-level language model (assignment 06_char_rnn).

Two corpora, both plain English text:

- "python-docs" (the default, offline): the prose of the Python Language Reference
  (what `help("for")` prints), 464,506 characters in a file the kit ships,
  `rnnkit/data/python_docs.txt`, whose sha256 is checked on every load: the same text,
  and so the same figures (V = 94), on every Python version and machine. It was made
  once from CPython 3.11.7's `pydoc_data.topics` by `python_docs_from_pydoc()`, with
  curly quotes and dashes folded to ASCII (printable ASCII plus newlines).
- "shakespeare" (optional, downloaded once): Tiny Shakespeare, 1,115,394 characters
  from karpathy/char-rnn, cached and verified by sha256. Without a network the
  loader falls back to the default corpus and says so; a cached file that is good is
  never deleted.

    from rnnkit.text import load_corpus
    text = load_corpus()               # offline default
    text = load_corpus("shakespeare")  # download once, then from the cache
"""

import functools
import hashlib
import importlib.resources
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from rnnkit import sha256_of  # noqa: F401 - also part of this module's API

DEFAULT_CORPUS = "python-docs"
CORPORA = ("python-docs", "shakespeare")

PYTHON_DOCS_FILE = "python_docs.txt"  # in rnnkit/data/
PYTHON_DOCS_SHA256 = "2175d1c12d102f025e44e9c6ff7cde39b5a9c3760b0c68ccc2ad5f8294e60dd7"

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_FILE = "tinyshakespeare.txt"

# Typographic characters of the Python docs and their ASCII stand-ins; anything else
# outside printable ASCII (a handful of characters) is dropped.
_ASCII_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2013": "-", "\u2014": "--", "\u2026": "...", "\u00a0": " ", "\t": "    ",
})


class CorpusError(RuntimeError):
    """A corpus could not be loaded (download failed, checksum wrong) and no fallback was allowed."""


def python_docs_path():
    """Where the shipped default corpus lies (inside the installed rnnkit package)."""
    return Path(str(importlib.resources.files("rnnkit") / "data" / PYTHON_DOCS_FILE))


@functools.lru_cache(maxsize=1)
def python_docs_text():
    """The default corpus: the shipped Language Reference text, checked against its sha256.

    Raises CorpusError when the file is missing or its sha256 is not PYTHON_DOCS_SHA256
    (a damaged or edited copy, or line endings converted by a checkout).
    """
    path = python_docs_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"the kit's default corpus {path} cannot be read ({exc}); reinstall rnnkit") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != PYTHON_DOCS_SHA256:
        raise CorpusError(
            f"the kit's default corpus {path} has sha256 {digest}, expected {PYTHON_DOCS_SHA256}: "
            "the file was changed or damaged (line endings converted by git?); reinstall rnnkit or restore it "
            "with `git checkout rnnkit/data/python_docs.txt`"
        )
    return data.decode("utf-8")


def python_docs_from_pydoc():
    """Rebuild the default corpus from this Python's `pydoc_data.topics` (how the shipped file was made).

    The topics are joined in alphabetical order of their names, each once (two names
    share a page), separated by a newline, folded to printable ASCII plus newlines.
    CPython refreshes these pages in its releases, so only 3.11.7 gives the shipped text;
    the kit never calls this when loading.
    """
    from pydoc_data.topics import topics

    pages = []
    for name in sorted(topics):
        if topics[name] not in pages:
            pages.append(topics[name])
    text = "\n".join(pages).translate(_ASCII_FOLD)
    return "".join(ch for ch in text if ch == "\n" or " " <= ch <= "~")


def default_cache_dir():
    """Where downloads are cached: $RNNKIT_DATA_DIR, else Keras's cache ($KERAS_HOME or ~/.keras)/datasets."""
    if os.environ.get("RNNKIT_DATA_DIR"):
        return Path(os.environ["RNNKIT_DATA_DIR"]).expanduser()
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "datasets"


def download_verified(url, path, sha256, timeout=30):
    """Download `url` to `path` unless a file with the right sha256 is already there.

    The download goes to a temporary file beside `path` and replaces it only once its
    sha256 matches, so a failed or corrupt download never touches what was cached.
    Returns `path`; raises CorpusError saying what went wrong.
    """
    path = Path(path)
    if path.exists() and sha256_of(path) == sha256:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise CorpusError(
                f"the file downloaded from {url} has sha256 {digest.hexdigest()}, expected {sha256}; "
                "it was discarded (a proxy page or a changed file?)"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return path
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CorpusError(f"could not download {url}: {getattr(exc, 'reason', None) or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_corpus(name=DEFAULT_CORPUS, cache_dir=None, url=SHAKESPEARE_URL, fallback=True, quiet=False):
    """The text of a corpus, as one str.

    Inputs:
    - name: "python-docs" (offline, the default) or "shakespeare" (downloaded once)
    - cache_dir: folder for downloads (default: default_cache_dir())
    - url: where to download Tiny Shakespeare from (a file:// URL works too)
    - fallback: when the download fails, return the default corpus instead of raising
    - quiet: print nothing (otherwise one line says which corpus is used)

    Returns:
    - text: str
    """
    say = (lambda message: None) if quiet else print
    if name not in CORPORA:
        raise ValueError(f"name must be one of {CORPORA}, got {name!r}")
    if name == "shakespeare":
        path = Path(cache_dir or default_cache_dir()) / SHAKESPEARE_FILE
        try:
            download_verified(url, path, SHAKESPEARE_SHA256)
        except CorpusError as exc:
            if not fallback:
                raise
            say(f"Tiny Shakespeare is not available ({exc}); using the offline corpus instead.")
        else:
            text = path.read_text(encoding="utf-8")
            say(f"Corpus: Tiny Shakespeare, {len(text):,} characters (verified copy at {path}).")
            return text
    text = python_docs_text()
    say(f"Corpus: the Python Language Reference (the kit's copy, sha256 verified), {len(text):,} characters.")
    return text
