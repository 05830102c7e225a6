"""Reader and writer for the IDX format of the original MNIST files (optionally gzip-compressed).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the raw values in C order.
"""

import gzip
import pathlib

import numpy as np

from gencompare.files import atomic_path

UNSIGNED_BYTE_TYPE = 0x08
_HEADER_DIMENSION_BYTES = 4


def _open(path):
    path = pathlib.Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _parse_header(handle, path):
    magic = handle.read(4)
    if len(magic) != 4 or magic[0] != 0 or magic[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number {magic!r}).")
    if magic[2] != UNSIGNED_BYTE_TYPE:
        raise ValueError(f"{path}: only unsigned-byte IDX files are supported (type 0x{magic[2]:02x}).")
    rank = magic[3]
    dimensions = handle.read(_HEADER_DIMENSION_BYTES * rank)
    if len(dimensions) != _HEADER_DIMENSION_BYTES * rank:
        raise ValueError(f"{path}: IDX header is truncated.")
    return tuple(int(d) for d in np.frombuffer(dimensions, dtype=">u4"))


def read_idx_shape(path):
    """Reads only the header of an IDX file: cheap even for the 60 000-image file.

    Args:
        path: An `.idx*-ubyte` file, optionally ending in `.gz`.

    Returns:
        The array shape as a tuple of ints.

    Raises:
        ValueError: The file is not an unsigned-byte IDX file.
    """
    with _open(path) as handle:
        return _parse_header(handle, path)


def read_idx(path):
    """Reads a whole unsigned-byte IDX file.

    Args:
        path: An `.idx*-ubyte` file, optionally ending in `.gz`.

    Returns:
        A uint8 `np.ndarray` with the shape stored in the header.

    Raises:
        ValueError: The file is not an unsigned-byte IDX file, or its data is shorter or longer
            than the header says.
    """
    with _open(path) as handle:
        shape = _parse_header(handle, path)
        payload = handle.read()
    expected = int(np.prod(shape, dtype=np.int64))
    if len(payload) != expected:
        raise ValueError(f"{path}: header promises {expected} bytes of data, file holds {len(payload)}.")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape).copy()


def write_idx(path, array):
    """Writes a uint8 array as an IDX file (gzip-compressed when `path` ends in `.gz`), atomically.

    Args:
        path: Destination file.
        array: A uint8 array of rank 1 to 255.

    Raises:
        ValueError: The array is not uint8.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_idx stores uint8 arrays only, got {array.dtype}.")
    path = pathlib.Path(path)
    header = bytes([0, 0, UNSIGNED_BYTE_TYPE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    with atomic_path(path) as temporary, open(temporary, "wb") as raw:
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed:
                compressed.write(header + np.ascontiguousarray(array).tobytes())
        else:
            raw.write(header + np.ascontiguousarray(array).tobytes())
