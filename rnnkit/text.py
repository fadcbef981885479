"""Text corpora for the character-level language model (assignment 06_char_rnn).

Two corpora, both plain English text:

- "python-docs" (the default, offline): the prose of the Python Language Reference
  that every CPython ships as `pydoc_data.topics` (what `help("for")` prints), about
  465,000 characters. Curly quotes and dashes are folded to ASCII, so the text is
  printable ASCII plus newlines. CPython refreshes these pages in each patch release,
  so the text differs slightly between 3.11.x versions (the manifest records the
  sha256 for 3.11.7); on one machine it never changes.
- "shakespeare" (optional, downloaded once): Tiny Shakespeare, 1,115,394 characters
  from karpathy/char-rnn, cached and verified by sha256. Without a network the
  loader falls back to the default corpus and says so; a cached file that is good is
  never deleted.

    from rnnkit.text import load_corpus
    text = load_corpus()               # offline default
    text = load_corpus("shakespeare")  # download once, then from the cache
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from rnnkit import sha256_of  # noqa: F401 - also part of this module's API

DEFAULT_CORPUS = "python-docs"
CORPORA = ("python-docs", "shakespeare")

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


def python_docs_text():
    """The default corpus: Python's Language Reference topics as one ASCII string.

    The topics are joined in alphabetical order of their names, each once (two names
    share a page), separated by a blank line.
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
    say(f"Corpus: the Python Language Reference shipped with Python (pydoc_data.topics), {len(text):,} characters.")
    return text
