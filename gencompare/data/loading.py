"""The public entry points: `load_images`, `load_labels`, `dataset_info`, `download`."""

import os
import pathlib

from gencompare.data import mnist
from gencompare.data.decode import resize_array
from gencompare.data.locations import resolve_data_dir
from gencompare.data.registry import DATASETS, KAGGLE_PREFIX, unknown_name_message

SPLITS = ("train", "test", "all")


def _validate_common(split, limit, image_size):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    for label, value in (("limit", limit), ("image_size", image_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{label} must be a positive integer or None, got {value!r}.")


def _resolve_spec(name):
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(unknown_name_message(name))
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name]
    raise ValueError(unknown_name_message(name))


def load_images(name, split="train", *, image_size=None, limit=None, data_dir=None, deduplicate=False):
    """Loads a dataset as one uint8 array of shape (N, H, W, C).

    Args:
        name: A registered name ("mnist", "fashion_mnist", "cats", "anime", "celeba", "comics"),
            a path to a folder or .zip of images, or "kaggle:<owner>/<dataset>".
        split: "train", "test" or "all". Sets without an official split hold out 5 % as "test",
            chosen by a hash of each file's bytes.
        image_size: Side length of the square output; None keeps 28 for MNIST-style sets and
            uses 64 for image sets.
        limit: Keep a deterministic subset of this many images; smaller limits are prefixes of
            larger ones.
        data_dir: The data directory; else `GENCOMPARE_DATA`; else `~/.gencompare/data`.
        deduplicate: Keep one copy of byte-identical files (image sets only).

    Returns:
        uint8 array (N, H, W, C), C = 1 for MNIST-style sets and 3 otherwise.

    Raises:
        ValueError: Unknown name or bad argument.
        DatasetUnavailable: The files are missing and cannot be downloaded; the message says
            what to do.
    """
    _validate_common(split, limit, image_size)
    spec = _resolve_spec(name)
    folder = resolve_data_dir(data_dir) / spec.name
    images, _ = mnist.load_split(spec, split, folder)
    images = images[mnist.subset_indices(len(images), limit)]
    return resize_array(images, image_size) if image_size else images


def load_labels(name, split="train", *, limit=None, data_dir=None):
    """Class labels of a labelled set, aligned with `load_images` called with the same arguments.

    Args:
        name: "mnist" or "fashion_mnist".
        split: "train", "test" or "all".
        limit: The same `limit` as given to `load_images`.
        data_dir: As for `load_images`.

    Returns:
        uint8 array (N,) of class indices 0-9.

    Raises:
        ValueError: The dataset has no labels, or a bad argument.
        DatasetUnavailable: As for `load_images`.
    """
    _validate_common(split, limit, None)
    spec = _resolve_spec(name)
    if spec.kind != "idx":
        raise ValueError(f"{name!r} has no labels; labelled sets: "
                         f"{', '.join(n for n, s in DATASETS.items() if s.kind == 'idx')}.")
    folder = resolve_data_dir(data_dir) / spec.name
    _, labels = mnist.load_split(spec, split, folder)
    return labels[mnist.subset_indices(len(labels), limit)]
