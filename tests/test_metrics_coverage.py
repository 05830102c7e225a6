"""Tests of gencompare.metrics.coverage.mode_coverage on fixed label sets."""

import numpy as np
import pytest

from gencompare.metrics.coverage import mode_coverage


def test_uniform_labels_cover_every_class_with_zero_kl():
    result = mode_coverage(np.repeat(np.arange(10), 7))
    assert result["classes_covered"] == 10
    assert result["class_kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert [result[f"class_fraction_{c}"] for c in range(10)] == [0.1] * 10


def test_a_single_class_covers_one_with_kl_log_k():
    result = mode_coverage(np.full(50, 1), num_classes=10)
    assert result["classes_covered"] == 1
    assert result["class_kl_uniform"] == pytest.approx(np.log(10))
    assert result["class_fraction_1"] == 1.0


def test_a_few_strays_do_not_count_as_covered_classes():
    labels = np.array([0] * 500 + [1] * 495 + [2] * 5)  # 5 of 1000 is 1.5 % of a fair share of 333
    result = mode_coverage(labels, num_classes=3)
    assert result["classes_covered"] == 2
    expected_kl = sum(p * np.log(p * 3) for p in (0.5, 0.495, 0.005))
    assert result["class_kl_uniform"] == pytest.approx(expected_kl)


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="in \\[0, 10\\)"):
        mode_coverage(np.array([0, 10]))
    with pytest.raises(ValueError, match="non-empty"):
        mode_coverage(np.array([], dtype=int))
    with pytest.raises(ValueError, match="integers"):
        mode_coverage(np.array([0.5, 1.0]))
