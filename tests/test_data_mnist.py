"""MNIST-style sets: the real IDX files, deterministic subsets, and the Keras download fallback."""

import gzip

import numpy as np
import pytest

import keras
from conftest import require_real_file
from gencompare.data import DatasetUnavailable, load_images, load_labels
from gencompare.data import idx

TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist_dir(real_data_dir):
    require_real_file(real_data_dir, "mnist/train-images-idx3-ubyte.gz")
    return real_data_dir


@pytest.mark.shared_data
@pytest.mark.parametrize("split, count, class_counts", [("train", 60000, TRAIN_CLASS_COUNTS),
                                                        ("test", 10000, TEST_CLASS_COUNTS)])
def test_real_mnist_shapes_labels_and_pixels(mnist_dir, split, count, class_counts):
    images = load_images("mnist", split, data_dir=mnist_dir)
    labels = load_labels("mnist", split, data_dir=mnist_dir)
    assert images.shape == (count, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (count,)
    assert np.bincount(labels, minlength=10).tolist() == class_counts
    # Independent decoding of the raw file: a 16-byte header, then the pixels in order.
    prefix = "train" if split == "train" else "t10k"
    raw = gzip.decompress((mnist_dir / "mnist" / f"{prefix}-images-idx3-ubyte.gz").read_bytes())
    expected = np.frombuffer(raw, dtype=np.uint8, offset=16)
    assert int(images.sum(dtype=np.int64)) == int(expected.sum(dtype=np.int64))
    np.testing.assert_array_equal(images.reshape(-1), expected)


@pytest.mark.shared_data
def test_real_mnist_limit_is_a_nested_aligned_subset(mnist_dir):
    small = load_images("mnist", limit=100, data_dir=mnist_dir)
    large = load_images("mnist", limit=300, data_dir=mnist_dir)
    np.testing.assert_array_equal(large[:100], small)
    everything = load_images("mnist", data_dir=mnist_dir)
    all_labels = load_labels("mnist", data_dir=mnist_dir)
    labels = load_labels("mnist", limit=300, data_dir=mnist_dir)
    # Each chosen image carries its own label: find it in the full set and compare.
    positions = [np.flatnonzero((everything == image).all(axis=(1, 2, 3)))[0] for image in large[:20]]
    np.testing.assert_array_equal(all_labels[positions], labels[:20])
    assert len(np.unique(labels)) == 10, "a random subset of 300 digits holds every class"


@pytest.mark.shared_data
def test_real_mnist_all_split_and_resizing(mnist_dir):
    assert load_images("mnist", "all", limit=70000, data_dir=mnist_dir).shape == (70000, 28, 28, 1)
    resized = load_images("mnist", "test", image_size=14, limit=8, data_dir=mnist_dir)
    original = load_images("mnist", "test", limit=8, data_dir=mnist_dir).astype(np.float64)
    assert resized.shape == (8, 14, 14, 1)
    # An antialiased halving looks like the 2x2 block average (Lanczos sharpens a little).
    block_means = original.reshape(8, 14, 2, 14, 2, 1).mean(axis=(2, 4))
    correlation = np.corrcoef(resized.reshape(-1).astype(np.float64), block_means.reshape(-1))[0, 1]
    assert correlation > 0.97
    assert np.abs(resized - block_means).mean() < 6.0


def _fake_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), rng.integers(0, 10, 12).astype(np.uint8)),
            (rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), rng.integers(0, 10, 6).astype(np.uint8)))


def test_keras_fallback_is_used_and_stored_as_idx_files(tmp_path, monkeypatch):
    calls = []
    arrays = _fake_arrays()

    def fake_load_data(*args, **kwargs):
        calls.append((args, kwargs))
        return arrays

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    images = load_images("mnist", "test", data_dir=tmp_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(images[..., 0], arrays[1][0])
    assert (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").is_file()
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"), arrays[1][1])
    # Second load reads the stored files: no second download.
    np.testing.assert_array_equal(load_labels("mnist", "train", data_dir=tmp_path), arrays[0][1])
    assert len(calls) == 1


def test_keras_fallback_on_a_read_only_folder_still_returns_the_arrays(tmp_path, monkeypatch):
    arrays = _fake_arrays(1)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", lambda: arrays)
    blocker = tmp_path / "fashion_mnist"
    blocker.write_text("a file where the folder should be")  # makes the folder unwritable, even as root
    images = load_images("fashion_mnist", "train", data_dir=tmp_path)
    np.testing.assert_array_equal(images[..., 0], arrays[0][0])


def test_network_failure_is_dataset_unavailable_listing_the_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DatasetUnavailable) as raised:
        load_images("mnist", data_dir=tmp_path)
    message = str(raised.value)
    for file_name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert file_name in message
    assert str(tmp_path / "mnist") in message and "no network" in message


def test_labels_of_unlabelled_sets_and_bad_arguments_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="no labels"):
        load_labels("cats", data_dir=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_images("mnist", "validation", data_dir=tmp_path)
    with pytest.raises(ValueError, match="limit"):
        load_images("mnist", limit=0, data_dir=tmp_path)
    with pytest.raises(ValueError, match="Known names: anime, cats, celeba, comics, fashion_mnist, mnist"):
        load_images("imagenet", data_dir=tmp_path)
