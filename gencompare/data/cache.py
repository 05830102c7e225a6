"""Decoded arrays cached as `.npy` files, keyed by the source files and the decoding settings.

The cache lives in `GENCOMPARE_CACHE` (default `~/.cache/gencompare`), never in the data directory.
Delete that folder to clear it; entries are rebuilt on the next load.
"""

import hashlib
import json
import logging
import pathlib
import re

import numpy as np

from gencompare.data.locations import resolve_cache_dir
from gencompare.files import atomic_path

logger = logging.getLogger(__name__)

# Bump when decoding changes (crop, resampling, colour handling) so old entries are not reused.
FORMAT_VERSION = 2


def source_signature(paths):
    """(path, size, mtime) of each source file: a change to any file changes the cache key."""
    signature = []
    for path in sorted(pathlib.Path(p) for p in paths):
        status = path.stat()
        signature.append([str(path.resolve()), status.st_size, status.st_mtime_ns])
    return signature


def cache_path(label, source_files, **settings):
    """The cache file for one source and one set of decoding settings.

    Args:
        label: A readable prefix for the file name (the dataset name).
        source_files: The files the images are read from.
        **settings: Everything else that changes the decoded array (size, split, limit, ...).

    Returns:
        The `.npy` path inside the cache folder (it may not exist).
    """
    description = {"format_version": FORMAT_VERSION, "sources": source_signature(source_files), **settings}
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:24]
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[-40:].strip("._") or "images"
    return resolve_cache_dir() / f"{readable}-{key}.npy"


def load_cached(path):
    """The cached array, or None when absent or unreadable (a damaged entry is just rebuilt)."""
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        logger.warning("ignoring damaged cache file %s (%s); it will be rebuilt", path, error)
        return None


def save_cached(path, array):
    """Writes the array atomically (temporary file, then rename); a failure only logs a warning."""
    try:
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
    except OSError as error:
        logger.warning("could not write the cache file %s (%s); set GENCOMPARE_CACHE to a writable "
                       "folder to make the next load fast", path, error)
