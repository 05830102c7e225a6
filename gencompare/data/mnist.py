"""MNIST and Fashion-MNIST: the four IDX files in `<data_dir>/<name>/`, else a Keras download."""

import logging
import pathlib

import numpy as np

from gencompare.data import idx
from gencompare.data.errors import DatasetUnavailable
from gencompare.data.locations import ensure_writable_folder
from gencompare.data.registry import IDX_FILE_NAMES

logger = logging.getLogger(__name__)

OFFICIAL_SPLITS = ("train", "test")
# Fixed, not the caller's seed: `limit=` must pick the same images in every run and every process.
SUBSET_SEED = 20_240_601


def idx_paths(folder, split):
    """The image and label files of one split, accepting both `.gz` and uncompressed copies.

    Args:
        folder: `<data_dir>/<name>`.
        split: "train" or "test".

    Returns:
        (images_path, labels_path), or None when either file is missing.
    """
    found = []
    for file_name in IDX_FILE_NAMES[split]:
        candidates = [folder / file_name, folder / file_name.removesuffix(".gz")]
        existing = [path for path in candidates if path.is_file()]
        if not existing:
            return None
        found.append(existing[0])
    return tuple(found)


def expected_files_message(spec, folder):
    """Lists the four files a user can place by hand to avoid the download."""
    names = [name for split in OFFICIAL_SPLITS for name in IDX_FILE_NAMES[split]]
    return f"place these four files in {folder}: {', '.join(names)}"


def load_split(spec, split, folder):
    """Images (N, 28, 28, 1) uint8 and labels (N,) uint8 of one split or of "all".

    Reads the IDX files when present; otherwise downloads through `keras.datasets` once and
    stores the IDX files in `folder` (when writable) so later loads need no network.

    Args:
        spec: The dataset's `DatasetSpec` (kind "idx").
        split: "train", "test" or "all".
        folder: `<data_dir>/<name>`.

    Returns:
        (images, labels).

    Raises:
        DatasetUnavailable: The files are absent and the Keras download failed.
    """
    if split == "all":
        parts = [load_split(spec, part, folder) for part in OFFICIAL_SPLITS]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    paths = idx_paths(folder, split)
    if paths is None:
        return _download_with_keras(spec, folder)[split]
    images, labels = (idx.read_idx(path) for path in paths)
    _check_consistent(images, labels, paths)
    return images[..., np.newaxis], labels


def _check_consistent(images, labels, paths):
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{paths[0]} holds {images.shape} images but {paths[1]} holds {labels.shape} "
                         "labels: replace both files with the original IDX files.")


def _keras_arrays(spec, folder):
    """Calls `keras.datasets.<module>.load_data()` and returns {split: (images, labels)}."""
    import keras  # Imported here: reading IDX files must not pay for importing Keras.

    module = getattr(keras.datasets, spec.keras_module)
    try:
        (train_images, train_labels), (test_images, test_labels) = module.load_data()
    except Exception as error:  # urllib, HTTP, checksum and disk errors all mean "not available".
        raise DatasetUnavailable(
            f"{spec.name}: the Keras download (keras.datasets.{spec.keras_module}.load_data) failed "
            f"with {type(error).__name__}: {error}. Connect to the internet and retry, or "
            f"{expected_files_message(spec, folder)}."
        ) from error
    return {
        "train": (np.asarray(train_images, np.uint8)[..., np.newaxis], np.asarray(train_labels, np.uint8)),
        "test": (np.asarray(test_images, np.uint8)[..., np.newaxis], np.asarray(test_labels, np.uint8)),
    }


def _download_with_keras(spec, folder):
    """Downloads through Keras, stores the four IDX files in `folder` when it is writable.

    Returns:
        {split: (images, labels)} for both official splits.
    """
    logger.info("%s files not found in %s: downloading through keras.datasets", spec.name, folder)
    arrays = _keras_arrays(spec, folder)
    try:
        ensure_writable_folder(folder)
    except PermissionError as error:
        logger.warning("%s; using the arrays Keras keeps in ~/.keras/datasets instead.", error)
        return arrays
    for split, (images, labels) in arrays.items():
        image_name, label_name = IDX_FILE_NAMES[split]
        idx.write_idx(pathlib.Path(folder) / image_name, images[..., 0])
        idx.write_idx(pathlib.Path(folder) / label_name, labels)
    return arrays


def subset_indices(count, limit):
    """Indices of a deterministic subset: a fixed permutation's prefix, so smaller limits nest.

    Args:
        count: Number of items available.
        limit: Number wanted, or None for all (in their original order).

    Returns:
        An int64 index array.
    """
    if limit is None or limit >= count:
        return np.arange(count)
    return np.random.default_rng(SUBSET_SEED).permutation(count)[:limit]


def split_counts(folder):
    """{split: count} read from the IDX headers (cheap), for the splits whose files exist."""
    counts = {}
    for split in OFFICIAL_SPLITS:
        paths = idx_paths(folder, split)
        if paths is not None:
            counts[split] = idx.read_idx_shape(paths[1])[0]
    return counts
