"""Tests of gencompare.metrics.swd: pyramid, descriptors, the 1-D distance, and real cat faces."""

import numpy as np
import pytest

from gencompare.metrics import swd
from conftest import require_real_file

# Small settings keep the synthetic tests fast; the maths does not depend on the counts.
FAST = dict(patches_per_image=16, projections=64, repeats=2, progress=False)


def test_laplacian_pyramid_sums_back_to_the_image():
    images = np.random.default_rng(0).random((3, 28, 20, 2)).astype(np.float32)
    pyramid = swd.laplacian_pyramid(images, 3)
    assert [level.shape[1:3] for level in pyramid] == [(28, 20), (14, 10), (7, 5)]
    reconstructed = pyramid[-1]
    for level in reversed(pyramid[:-1]):
        reconstructed = level + swd.pyramid_up(reconstructed, *level.shape[1:3])
    np.testing.assert_allclose(reconstructed, images, atol=1e-5)


def test_pyramid_of_a_constant_image_has_no_detail():
    pyramid = swd.laplacian_pyramid(np.full((1, 16, 16, 1), 0.7, np.float32), 2)
    np.testing.assert_allclose(pyramid[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(pyramid[1], 0.7, atol=1e-6)


def test_pyramid_resolutions_halve_down_to_the_minimum():
    assert swd.pyramid_resolutions(64, 64) == [64, 32, 16]
    assert swd.pyramid_resolutions(28, 28, min_resolution=7) == [28, 14, 7]
    with pytest.raises(ValueError, match="min_resolution"):
        swd.pyramid_resolutions(8, 8)
    with pytest.raises(ValueError, match="at least 7"):
        swd.pyramid_resolutions(64, 64, min_resolution=4)


def test_sliced_wasserstein_of_one_dimensional_shift_is_the_shift():
    points = np.random.default_rng(1).standard_normal((500, 1)).astype(np.float32)
    # In 1-D every unit direction is ±1, and W1 between a set and its shift is the shift.
    assert swd.sliced_wasserstein(points, points + 0.3, projections=8, repeats=2) == pytest.approx(0.3, rel=1e-5)
    assert swd.sliced_wasserstein(points, points) == 0.0


def test_level_descriptors_are_normalized_per_channel():
    images = np.random.default_rng(2).random((10, 16, 16, 3)).astype(np.float32)
    images[..., 2] *= 5.0
    descriptors = swd.level_descriptors(images, 0, 2, patches_per_image=8)
    assert descriptors.shape == (80, 7 * 7 * 3)
    per_channel = descriptors.reshape(80, 7, 7, 3)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(axis=(0, 1, 2)), 1.0, atol=1e-4)


def test_swd_is_zero_for_identical_sets_and_seeded():
    images = np.random.default_rng(3).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    result = swd.sliced_wasserstein_distance(images, images, **FAST)
    assert result == {"swd_32": 0.0, "swd_16": 0.0, "swd_mean": 0.0}
    other = np.random.default_rng(4).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8) // 2
    first = swd.sliced_wasserstein_distance(images, other, seed=5, **FAST)
    assert first == swd.sliced_wasserstein_distance(images, other, seed=5, **FAST)
    assert first["swd_mean"] > 0


def test_swd_is_the_same_on_one_thread_and_on_several(monkeypatch):
    # The direction groups and the two sets' descriptors run in threads; every random draw is made
    # before they start, so the distance must not depend on the number of cores.
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    settings = dict(FAST, repeats=4, min_resolution=8, seed=5)
    results = {}
    for cores in (1, 2, 4):
        monkeypatch.setattr(swd.os, "cpu_count", lambda cores=cores: cores)
        results[cores] = swd.sliced_wasserstein_distance(a, b, **settings)
    monkeypatch.setattr(swd, "THREAD_MEMORY_BYTES", 1)  # memory allows one group at a time
    results["memory-bound"] = swd.sliced_wasserstein_distance(a, b, **settings)
    assert results[1]["swd_mean"] > 0
    assert results[1] == results[2] == results[4] == results["memory-bound"]


def test_threads_are_bounded_by_cores_tasks_and_memory(monkeypatch):
    monkeypatch.setattr(swd.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(swd, "THREAD_MEMORY_BYTES", 1000)
    assert swd._threads(4) == 4
    assert swd._threads(16) == 8
    assert swd._threads(4, bytes_per_task=300) == 3
    assert swd._threads(4, bytes_per_task=5000) == 1


def test_swd_accepts_each_sets_own_value_range():
    images = np.random.default_rng(6).integers(0, 256, (8, 16, 16, 1), dtype=np.uint8)
    as_signed = images.astype(np.float32) / 127.5 - 1.0
    result = swd.sliced_wasserstein_distance(images, as_signed, value_range_b=(-1, 1), **FAST)
    assert result["swd_mean"] == pytest.approx(0.0, abs=1e-5)


def test_swd_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        swd.sliced_wasserstein_distance(
            np.zeros((4, 16, 16, 3), np.uint8), np.zeros((4, 16, 16, 1), np.uint8), **FAST
        )


@pytest.mark.shared_data
def test_swd_grows_monotonically_with_noise_on_real_cat_faces(real_data_dir):
    from gencompare.data import load_images

    require_real_file(real_data_dir, "cats/cats_64.zip")
    cats = load_images("cats", "test", limit=64, data_dir=real_data_dir)
    unit = cats.astype(np.float32) / 255.0
    noise = np.random.default_rng(7).standard_normal(unit.shape).astype(np.float32)
    distances = [
        swd.sliced_wasserstein_distance(
            cats, np.clip(unit + scale * noise, 0.0, 1.0), value_range_b=(0, 1), progress=False
        )["swd_mean"]
        for scale in (0.0, 0.03, 0.1, 0.3)
    ]
    assert distances[0] == 0.0
    assert all(lower < higher for lower, higher in zip(distances, distances[1:])), distances
