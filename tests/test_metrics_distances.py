"""Tests of gencompare.metrics.distances: closed forms, known distributions and tiny fixed cases."""

import numpy as np
import pytest
import scipy.linalg

from gencompare.metrics import distances


def _random_covariance(rng, dims):
    factor = rng.standard_normal((dims, dims))
    return factor @ factor.T / dims + 0.1 * np.eye(dims)


# -- Fréchet distance ---------------------------------------------------------------------------

def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(0).standard_normal((500, 16))
    assert distances.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_is_symmetric():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 8))
    b = rng.standard_normal((200, 8)) * 1.5 + 0.3
    assert distances.frechet_distance(a, b) == pytest.approx(distances.frechet_distance(b, a), rel=1e-9)


def test_frechet_distance_from_statistics_matches_closed_forms():
    # Diagonal (commuting) covariances: sum of squared mean and standard-deviation differences.
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    variances_a, variances_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(variances_a) - np.sqrt(variances_b)) ** 2)
    found = distances.frechet_distance_from_statistics(
        mean_a, np.diag(variances_a), mean_b, np.diag(variances_b)
    )
    assert found == pytest.approx(expected, rel=1e-12)
    # Non-commuting, well-conditioned covariances: agrees with the general matrix square root.
    rng = np.random.default_rng(2)
    cov_a, cov_b = _random_covariance(rng, 5), _random_covariance(rng, 5)
    reference = np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    found = distances.frechet_distance_from_statistics(np.zeros(5), cov_a, np.zeros(5), cov_b)
    assert found == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("count", [2_000, 20_000])
def test_frechet_distance_of_gaussian_samples_matches_closed_form(count):
    rng = np.random.default_rng(3)
    dims = 4
    cov_a, cov_b = _random_covariance(rng, dims), _random_covariance(rng, dims)
    mean_a, mean_b = np.zeros(dims), np.full(dims, 0.5)
    exact = distances.frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b)
    a = rng.multivariate_normal(mean_a, cov_a, count)
    b = rng.multivariate_normal(mean_b, cov_b, count)
    # Sampling error: the mean-difference cross term has standard error
    # 2·sqrt(Δμᵀ(Σa+Σb)Δμ / n); the covariance part fluctuates like (Tr Σa + Tr Σb)/sqrt(n).
    # Measured over 50 seeds, this sum is about 2.5 standard deviations; allow twice it (~5σ).
    difference = mean_a - mean_b
    scale = 2 * np.sqrt(difference @ (cov_a + cov_b) @ difference / count) + (
        np.trace(cov_a) + np.trace(cov_b)
    ) / np.sqrt(count)
    assert abs(distances.frechet_distance(a, b) - exact) < 2 * scale


def test_frechet_distance_of_near_singular_covariances_is_finite_and_real():
    rng = np.random.default_rng(4)
    # Fewer samples than features, a constant feature and a duplicated feature: rank-deficient.
    a = rng.standard_normal((20, 64))
    a[:, 0] = 1.0
    a[:, 1] = a[:, 2]
    b = rng.standard_normal((20, 64)) + 0.1
    value = distances.frechet_distance(a, b)
    assert isinstance(value, float)
    assert np.isfinite(value) and value > 0
    # Still zero against itself even though the covariance is singular.
    assert distances.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_rejects_bad_input():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="at least 2"):
        distances.frechet_distance(rng.standard_normal((1, 4)), rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="different sizes"):
        distances.frechet_distance(rng.standard_normal((10, 4)), rng.standard_normal((10, 5)))
    with pytest.raises(ValueError, match="shape"):
        distances.frechet_distance(rng.standard_normal((10, 4, 1)), rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="NaN"):
        distances.frechet_distance(np.full((10, 4), np.nan), rng.standard_normal((10, 4)))


# -- KID ------------------------------------------------------------------------------------------

def test_unbiased_mmd_matches_a_direct_double_sum():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)) + 1

    def kernel(u, v):
        return (u @ v / 3 + 1) ** 3

    within_x = sum(kernel(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
    within_y = sum(kernel(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    across = sum(kernel(x[i], y[j]) for i in range(5) for j in range(5)) / 25
    assert distances.unbiased_mmd_squared(x, y) == pytest.approx(within_x + within_y - 2 * across)


def test_kid_is_zero_within_its_std_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((1000, 16)), rng.standard_normal((1000, 16))
    mean, std = distances.kernel_inception_distance(a, b, subsets=20, subset_size=200, seed=0)
    assert std > 0
    assert abs(mean) < std
    shifted_mean, shifted_std = distances.kernel_inception_distance(
        a, b + 0.5, subsets=20, subset_size=200, seed=0
    )
    assert shifted_mean > 10 * shifted_std
    assert shifted_mean > 10 * abs(mean)


def test_kid_is_seeded_and_shrinks_subsets_to_the_smaller_set():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((30, 4)), rng.standard_normal((50, 4))
    first = distances.kernel_inception_distance(a, b, subsets=5, subset_size=1000, seed=3)
    assert first == distances.kernel_inception_distance(a, b, subsets=5, subset_size=1000, seed=3)
    with pytest.raises(ValueError, match="subsets"):
        distances.kernel_inception_distance(a, b, subsets=0)


def test_kid_from_precomputed_kernels_equals_the_per_subset_estimates(monkeypatch):
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((60, 5)), rng.standard_normal((40, 5)) * 1.3 + 0.2
    fast = distances.kernel_inception_distance(a, b, subsets=7, subset_size=25, seed=4)
    # The same subsets, drawn in the same order, measured one by one with `unbiased_mmd_squared`.
    draws = np.random.default_rng(4)
    estimates = []
    for _ in range(7):
        rows_a, rows_b = draws.choice(60, 25, replace=False), draws.choice(40, 25, replace=False)
        estimates.append(distances.unbiased_mmd_squared(a[rows_a], b[rows_b]))
    assert fast == pytest.approx((np.mean(estimates), np.std(estimates)), rel=1e-9)
    monkeypatch.setattr(distances, "KID_PRECOMPUTED_KERNEL_ENTRIES", 0)  # large sets: subset by subset
    assert distances.kernel_inception_distance(a, b, subsets=7, subset_size=25, seed=4) == pytest.approx(fast, rel=1e-9)


# -- precision and recall ----------------------------------------------------------------------

def _two_modes(rng, count_per_mode, dims=2):
    first = rng.standard_normal((count_per_mode, dims))
    second = rng.standard_normal((count_per_mode, dims)) + 20.0
    return first, second


def test_precision_recall_of_identical_sets_is_one_one():
    features = np.random.default_rng(9).standard_normal((300, 8))
    assert distances.precision_recall(features, features) == (1.0, 1.0)


def test_recall_drops_when_the_generated_set_misses_a_mode():
    rng = np.random.default_rng(10)
    real = np.concatenate(_two_modes(rng, 500))
    full = np.concatenate(_two_modes(rng, 500))
    missing_mode, _ = _two_modes(rng, 1000)
    precision_full, recall_full = distances.precision_recall(real, full)
    precision_missing, recall_missing = distances.precision_recall(real, missing_mode)
    assert precision_full > 0.9 and recall_full > 0.9
    # All generated samples are realistic, but only half of the real data is reproduced.
    assert precision_missing > 0.9
    assert recall_missing == pytest.approx(0.5, abs=0.05)


def test_nearest_neighbour_radius_skips_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert distances.nearest_neighbour_radii(points, 1).tolist() == [1.0, 1.0, 4.0, 16.0]
    assert distances.nearest_neighbour_radii(points, 2).tolist() == [9.0, 4.0, 9.0, 36.0]


def test_precision_recall_rejects_too_few_samples():
    rng = np.random.default_rng(11)
    with pytest.raises(ValueError, match="at least 4"):
        distances.precision_recall(rng.standard_normal((3, 2)), rng.standard_normal((10, 2)), k=3)


def test_trace_sqrt_product_of_singular_covariances_matches_the_closed_form():
    # An exactly singular diagonal matrix makes Cholesky fail (the eigendecomposition fallback runs);
    # its rotated copy passes Cholesky with a tiny pivot. Both must give the closed form.
    singular, commuting = np.diag([4.0, 0.0, 1.0]), np.diag([9.0, 1.0, 0.25])
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(singular)
    rotation = np.linalg.qr(np.random.default_rng(12).standard_normal((3, 3)))[0]
    for a, b in ((singular, commuting), (rotation @ singular @ rotation.T, rotation @ commuting @ rotation.T)):
        assert distances.trace_sqrt_product(a, b) == pytest.approx(6.0 + 0.0 + 0.5)
        assert distances.trace_sqrt_product(b, a) == pytest.approx(6.5)
