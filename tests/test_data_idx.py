"""IDX reader/writer: round trips, header-only reads, and clear errors for damaged files."""

import gzip

import numpy as np
import pytest

from gencompare.data import idx


@pytest.mark.parametrize("file_name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_round_trip_preserves_shape_and_values(tmp_path, file_name):
    array = np.random.default_rng(0).integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    path = tmp_path / file_name
    idx.write_idx(path, array)
    np.testing.assert_array_equal(idx.read_idx(path), array)
    assert idx.read_idx_shape(path) == (5, 3, 4)


def test_header_layout_matches_the_format(tmp_path):
    path = tmp_path / "labels-idx1-ubyte.gz"
    idx.write_idx(path, np.array([7, 1, 255], dtype=np.uint8))
    raw = gzip.decompress(path.read_bytes())
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 255])
    assert not list(tmp_path.glob("*.tmp")), "the temporary file must be renamed away"


def test_bad_magic_is_a_value_error(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(ValueError, match="not an IDX file"):
        idx.read_idx(path)


def test_truncated_payload_is_a_value_error(tmp_path):
    path = tmp_path / "short-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 10]) + bytes(4))
    with pytest.raises(ValueError, match="promises 10 bytes"):
        idx.read_idx(path)


def test_writer_refuses_non_uint8(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        idx.write_idx(tmp_path / "x", np.zeros(3, dtype=np.int32))
