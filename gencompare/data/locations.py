"""Where dataset files are looked for and where decoded arrays are cached."""

import os
import pathlib

DATA_DIR_VARIABLE = "GENCOMPARE_DATA"
CACHE_DIR_VARIABLE = "GENCOMPARE_CACHE"
DEFAULT_DATA_DIR = pathlib.Path("~/.gencompare/data")
DEFAULT_CACHE_DIR = pathlib.Path("~/.cache/gencompare")


def resolve_data_dir(data_dir=None):
    """The data directory: the argument, else `GENCOMPARE_DATA`, else `~/.gencompare/data`.

    Args:
        data_dir: A folder given by the caller, or None.

    Returns:
        The absolute `pathlib.Path` of the data directory (it may not exist yet).
    """
    chosen = data_dir or os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR
    return pathlib.Path(chosen).expanduser().resolve()


def resolve_cache_dir():
    """The cache folder for decoded arrays: `GENCOMPARE_CACHE`, else `~/.cache/gencompare`.

    The cache never lives inside the data directory, which may be read-only (shared data, CI).

    Returns:
        The absolute `pathlib.Path` of the cache folder (it may not exist yet).
    """
    chosen = os.environ.get(CACHE_DIR_VARIABLE) or DEFAULT_CACHE_DIR
    return pathlib.Path(chosen).expanduser().resolve()


def ensure_writable_folder(folder):
    """Creates `folder` if needed and checks that files can be written into it.

    Args:
        folder: The folder that will receive downloaded or generated files.

    Returns:
        The folder as a `pathlib.Path`.

    Raises:
        PermissionError: The folder cannot be created or written; the message names it and says
            how to choose another one.
    """
    folder = pathlib.Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise PermissionError(
            f"cannot write into {folder} ({error.strerror or error}). Pass data_dir= or set "
            f"{DATA_DIR_VARIABLE} to a writable folder, or place the dataset files there yourself."
        ) from error
    return folder
