"""The public entry points: `load_images`, `load_labels`, `dataset_info`, `download`."""

import os
import pathlib

from gencompare.data import archives, kaggle_source, mnist
from gencompare.data.decode import resize_array
from gencompare.data.image_sets import Request, load_image_set
from gencompare.data.locations import resolve_data_dir
from gencompare.data.registry import (DATASETS, DEFAULT_FACE_SIZE, KAGGLE_PREFIX, DatasetSpec,
                                      parse_kaggle_name, unknown_name_message)

SPLITS = ("train", "test", "all")
LOCAL_PATH = "local path"


def _validate_common(split, limit, image_size):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    for label, value in (("limit", limit), ("image_size", image_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{label} must be a positive integer or None, got {value!r}.")


def _looks_like_path(name):
    return isinstance(name, os.PathLike) or "/" in name or os.sep in name or name.endswith(".zip")


def resolve(name, data_dir=None):
    """The dataset spec and the folder (or zip) its files live in.

    Args:
        name: A registered name, a path to a folder or .zip, or "kaggle:<owner>/<dataset>".
        data_dir: As for `load_images`.

    Returns:
        (spec, location). For a path, `spec` is an ad-hoc colour image spec and `location` is
        the path itself; for `kaggle:` names it is `<data_dir>/kaggle/<owner>/<dataset>`.

    Raises:
        ValueError: The name is unknown, or a given path does not exist.
    """
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(unknown_name_message(name))
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name], resolve_data_dir(data_dir) / name
    if isinstance(name, str) and name.startswith(KAGGLE_PREFIX):
        slug = parse_kaggle_name(name)
        spec = DatasetSpec(name, "images", 3, DEFAULT_FACE_SIZE, kaggle_slug=slug,
                           description=f"Kaggle dataset {slug}")
        return spec, resolve_data_dir(data_dir) / "kaggle" / slug
    path = pathlib.Path(name).expanduser()
    if path.exists() and (path.is_dir() or path.suffix.lower() == ".zip"):
        return DatasetSpec(path.name, "images", 3, DEFAULT_FACE_SIZE, description=LOCAL_PATH), path
    if _looks_like_path(name) or path.exists():
        raise ValueError(f"{name}: no such folder or .zip file. {unknown_name_message(name)}")
    raise ValueError(unknown_name_message(name))


def _has_images(location):
    if not pathlib.Path(location).is_dir():
        return False
    return bool(archives.zip_files_in(location)) or bool(archives.list_folder_members(location))


def _ensure_image_files(spec, location):
    """Downloads from Kaggle when the folder holds neither a zip nor images (local paths: never)."""
    if spec.kaggle_slug and not _has_images(location):
        kaggle_source.download_dataset(spec.kaggle_slug, location)


def load_images(name, split="train", *, image_size=None, limit=None, data_dir=None, deduplicate=False):
    """Loads a dataset as one uint8 array of shape (N, H, W, C).

    Args:
        name: A registered name ("mnist", "fashion_mnist", "cats", "anime", "celeba", "comics"),
            a path to a folder or .zip of images, or "kaggle:<owner>/<dataset>".
        split: "train", "test" or "all". MNIST-style sets use their official split; other sets
            hold out 5 % as "test", chosen by a hash of each file's bytes (duplicates stay together).
        image_size: Side length of the square output; None keeps 28 for MNIST-style sets and
            uses 64 for image sets.
        limit: Keep a deterministic subset of this many images; smaller limits are prefixes of
            larger ones.
        data_dir: The data directory; else `GENCOMPARE_DATA`; else `~/.gencompare/data`.
        deduplicate: Keep one copy of byte-identical files (image sets; MNIST has none).

    Returns:
        uint8 array (N, H, W, C), C = 1 for MNIST-style sets and 3 otherwise.

    Raises:
        ValueError: Unknown name or bad argument.
        DatasetUnavailable: The files are missing and cannot be downloaded, or none is readable;
            the message says what to do.
    """
    _validate_common(split, limit, image_size)
    spec, location = resolve(name, data_dir)
    if spec.kind == "idx":
        images, _ = mnist.load_split(spec, split, location)
        images = images[mnist.subset_indices(len(images), limit)]
        return resize_array(images, image_size) if image_size else images
    _ensure_image_files(spec, location)
    request = Request(label=spec.name, path=location, image_size=image_size or spec.default_image_size,
                      channels=spec.channels, split=split, limit=limit, deduplicate=bool(deduplicate),
                      member_folder=spec.member_folder)
    return load_image_set(request)


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
    spec, location = resolve(name, data_dir)
    if spec.kind != "idx":
        labelled = ", ".join(n for n, s in DATASETS.items() if s.kind == "idx")
        raise ValueError(f"{name!r} has no labels; labelled sets: {labelled}.")
    _, labels = mnist.load_split(spec, split, location)
    return labels[mnist.subset_indices(len(labels), limit)]


def download(name, data_dir=None, *, extract=False):
    """Makes sure a dataset's files are in its folder, downloading them when missing.

    Args:
        name: A registered name or "kaggle:<owner>/<dataset>".
        data_dir: As for `load_images`.
        extract: Also unpack the downloaded zips into the folder (member paths are checked:
            nothing is written outside it). Loading never needs this: images are read from the zip.

    Returns:
        The dataset folder.

    Raises:
        ValueError: `name` is a local path (nothing to download) or unknown; or a zip member
            would escape the folder.
        DatasetUnavailable: As for `load_images`.
    """
    spec, location = resolve(name, data_dir)
    if spec.description == LOCAL_PATH:
        raise ValueError(f"{name} is a local path: there is nothing to download.")
    if spec.kind == "idx":
        if mnist.idx_paths(location, "train") is None or mnist.idx_paths(location, "test") is None:
            mnist.load_split(spec, "all", location)
        return location
    _ensure_image_files(spec, location)
    if extract:
        for zip_path in archives.zip_files_in(location):
            archives.extract_zip_safely(zip_path, location / zip_path.stem)
    return location


def _image_summary(spec, location):
    zips = archives.zip_files_in(location) if location.is_dir() else ([location] if location.is_file() else [])
    found = [path.name for path in zips]
    count = None
    if zips:
        count = sum(len(archives.list_zip_members(path, spec.member_folder)[0]) for path in zips)
    elif location.is_dir():
        loose = archives.list_folder_members(location, spec.member_folder)
        count = len(loose)
        found = [f"{count} image files"] if loose else []
    looked_for = "a .zip of images, or image files (jpg, png, bmp, gif, webp, tif)"
    return looked_for, found, ({"files": count} if count is not None else {})


def dataset_info(name, data_dir=None):
    """Where a dataset's files are looked for, what is there, and where it would come from.

    Cheap: reads directory listings, IDX headers and zip directories, never decodes images.

    Args:
        name: As for `load_images`.
        data_dir: As for `load_images`.

    Returns:
        A dict with keys name, description, folder, looked_for, found, source, counts and
        (for Kaggle sources) credentials: where credentials were found, or None.
    """
    spec, location = resolve(name, data_dir)
    info = {"name": spec.name, "description": spec.description, "folder": str(location)}
    if spec.kind == "idx":
        info["looked_for"] = mnist.expected_files_message(spec, location)
        info["found"] = sorted(path.name for path in location.glob("*-ubyte*")) if location.is_dir() else []
        info["source"] = f"keras.datasets.{spec.keras_module}.load_data()"
        info["counts"] = mnist.split_counts(location)
        return info
    info["looked_for"], info["found"], info["counts"] = _image_summary(spec, location)
    if spec.kaggle_slug:
        info["source"] = f"kaggle:{spec.kaggle_slug}"
        info["credentials"] = kaggle_source.credentials_source()
    else:
        info["source"] = LOCAL_PATH
    return info
