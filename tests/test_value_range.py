"""Tests for gencompare.value_range."""

import pytest

from gencompare.value_range import normalize_value_range


@pytest.mark.parametrize("value_range", [(0, 1), (-1, 1), [0.0, 1.0]])
def test_normalize_value_range_accepts_the_two_ranges(value_range):
    assert normalize_value_range(value_range) == tuple(float(v) for v in value_range)


@pytest.mark.parametrize("value_range", [(0, 255), (-1, 0), "01", None, (0, 1, 2)])
def test_normalize_value_range_rejects_others(value_range):
    with pytest.raises(ValueError, match="value_range"):
        normalize_value_range(value_range)
