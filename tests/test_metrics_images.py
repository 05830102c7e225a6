"""Tests of gencompare.metrics.images: range conversion and batched inference."""

import numpy as np
import pytest

from gencompare.metrics.images import run_in_batches, to_unit_range
from gencompare.value_range import from_unit


def test_uint8_and_both_float_ranges_map_to_the_same_unit_images():
    pixels = np.array([0, 51, 255], np.uint8).reshape(1, 1, 3, 1)
    expected = np.array([0.0, 0.2, 1.0], np.float32).reshape(1, 1, 3, 1)
    np.testing.assert_allclose(to_unit_range(pixels), expected, atol=1e-7)
    np.testing.assert_allclose(to_unit_range(expected, (0, 1)), expected, atol=1e-7)
    np.testing.assert_allclose(to_unit_range(expected * 2 - 1, (-1, 1)), expected, atol=1e-6)
    assert to_unit_range(pixels).dtype == np.float32


def test_bad_images_get_clear_errors():
    with pytest.raises(ValueError, match="value_range"):
        to_unit_range(np.zeros((1, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match="0–255"):
        to_unit_range(np.full((1, 2, 2, 1), 200.0, np.float32), (0, 1))
    with pytest.raises(ValueError, match="shape"):
        to_unit_range(np.zeros((2, 2, 1), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        to_unit_range(np.zeros((0, 2, 2, 1), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        to_unit_range(np.zeros((1, 2, 2, 1), np.uint8), (-1, 1))


def test_value_range_from_unit_inverts_to_unit_range():
    unit = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 2, 2, 1)
    for value_range in ((0, 1), (-1, 1)):
        np.testing.assert_allclose(to_unit_range(from_unit(unit, value_range), value_range), unit, atol=1e-6)
    assert from_unit(unit, (-1, 1)).min() == -1.0


def test_run_in_batches_keeps_order_and_bounds_the_batch():
    seen = []

    def row_sums(batch):
        seen.append(len(batch))
        return batch.reshape(len(batch), -1).sum(axis=1)

    images = np.arange(7 * 2, dtype=np.float32).reshape(7, 1, 2, 1)
    result = run_in_batches(row_sums, images, batch_size=3, progress=False)
    np.testing.assert_array_equal(result, images.reshape(7, -1).sum(axis=1))
    assert seen == [3, 3, 1]
    with pytest.raises(ValueError, match="batch_size"):
        run_in_batches(row_sums, images, batch_size=0)
