"""Atomic file writes: a reader, or a run killed at any moment, sees the old file or the new one.

Every file the project writes (checkpoints, history, configs, figures, cached arrays, IDX files)
goes through `atomic_path`: the content is written to a temporary name in the same folder, synced,
then renamed over the target (`os.replace` is atomic on POSIX and Windows).
"""

import contextlib
import json
import os
import pathlib
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it to `path` when the block succeeds.

    The temporary name keeps the suffix of `path` (Keras insists on `.keras` and `.weights.h5`,
    matplotlib picks the image format from it). If the block raises, the temporary file is removed
    and `path` is left untouched.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".tmp"
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem.split('.')[0]}-", suffix=suffix, dir=path.parent)
    os.close(handle)
    # Some writers (h5py, Keras) refuse to overwrite or append to an existing file.
    os.unlink(temporary)
    try:
        yield pathlib.Path(temporary)
        _fsync_file(temporary)
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _fsync_file(path):
    # Without fsync, a power loss after the rename could leave an empty file under the new name.
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _fsync_directory(path):
    if os.name != "posix":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_text_atomic(path, text):
    """Writes `text` to `path` atomically (UTF-8)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json_atomic(path, data):
    """Writes `data` as indented JSON to `path` atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path):
    """Reads a JSON file written by `write_json_atomic`."""
    return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
