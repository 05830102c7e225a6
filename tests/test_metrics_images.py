"""Tests of gencompare.metrics.images.to_unit_range."""

import numpy as np
import pytest

from gencompare.metrics.images import to_unit_range


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
