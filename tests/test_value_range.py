"""Tests for gencompare.value_range: the two ranges and the conversions between them."""

import numpy as np
import pytest
import tensorflow as tf

from gencompare.value_range import from_uint8, from_unit, normalize_value_range, to_unit


@pytest.mark.parametrize("value_range", [(0, 1), (-1, 1), [0.0, 1.0]])
def test_normalize_value_range_accepts_the_two_ranges(value_range):
    assert normalize_value_range(value_range) == tuple(float(v) for v in value_range)


@pytest.mark.parametrize("value_range", [(0, 255), (-1, 0), "01", None, (0, 1, 2)])
def test_normalize_value_range_rejects_others(value_range):
    with pytest.raises(ValueError, match="value_range"):
        normalize_value_range(value_range)


def test_from_uint8_maps_0_and_255_exactly_onto_the_ends_and_128_near_the_middle():
    pixels = np.array([0, 128, 255], np.uint8)
    unit, signed = from_uint8(pixels, (0, 1)), from_uint8(pixels, (-1, 1))
    assert unit.dtype == signed.dtype == np.float32
    assert (unit[0], unit[2], signed[0], signed[2]) == (0.0, 1.0, -1.0, 1.0)
    np.testing.assert_allclose([unit[1], signed[1]], [128 / 255, 128 / 127.5 - 1], atol=1e-7)


def test_from_uint8_gives_the_same_values_for_a_tensor_and_an_array():
    pixels = np.arange(256, dtype=np.uint8)
    for value_range in ((0, 1), (-1, 1)):
        tensor = from_uint8(tf.cast(pixels, tf.float32), value_range)
        np.testing.assert_array_equal(tensor.numpy(), from_uint8(pixels, value_range))


def test_to_unit_and_from_unit_are_inverse_and_to_unit_clips_rounding():
    unit = np.linspace(0, 1, 11, dtype=np.float32)
    for value_range in ((0, 1), (-1, 1)):
        np.testing.assert_allclose(to_unit(from_unit(unit, value_range), value_range), unit, atol=1e-7)
    assert from_unit(unit, (-1, 1))[0] == -1.0 and from_unit(unit, (-1, 1))[-1] == 1.0
    assert to_unit(np.array([-1.0005, 1.0005]), (-1, 1)).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="value_range"):
        to_unit(unit, (0, 255))
