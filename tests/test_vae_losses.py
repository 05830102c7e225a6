"""Tests for gencompare.models.vae_losses: closed forms, hand computations, conventions."""

import math

import numpy as np
import pytest
from keras import ops

from gencompare.models import vae_losses

# Two examples of 1×2×1 images, small enough to compute by hand.
IMAGES = np.array([[0.0, 1.0], [0.5, 0.25]], dtype="float32").reshape(2, 1, 2, 1)
RECONSTRUCTIONS = np.array([[0.5, 0.5], [0.25, 0.75]], dtype="float32").reshape(2, 1, 2, 1)


def _bce_pixel(x, p):
    return -(x * math.log(p) + (1 - x) * math.log(1 - p))


def _loss(name, x=IMAGES, x_hat=RECONSTRUCTIONS):
    return ops.convert_to_numpy(vae_losses.reconstruction_loss(name, x, x_hat))


def test_mse_is_summed_over_pixels_per_example():
    expected = [0.5**2 + 0.5**2, 0.25**2 + 0.5**2]
    np.testing.assert_allclose(_loss("mse"), expected, rtol=1e-6)


def test_l1_is_summed_over_pixels_per_example():
    np.testing.assert_allclose(_loss("l1"), [0.5 + 0.5, 0.25 + 0.5], rtol=1e-6)


def test_bce_matches_hand_computation_for_grey_levels():
    expected = [
        _bce_pixel(0.0, 0.5) + _bce_pixel(1.0, 0.5),
        _bce_pixel(0.5, 0.25) + _bce_pixel(0.25, 0.75),
    ]
    np.testing.assert_allclose(_loss("bce"), expected, rtol=1e-5)


def test_bce_is_finite_and_clipped_for_saturated_predictions():
    x = np.array([1.0, 0.0], dtype="float32").reshape(1, 1, 2, 1)
    x_hat = np.array([0.0, 1.0], dtype="float32").reshape(1, 1, 2, 1)
    loss = _loss("bce", x, x_hat)
    # Each pixel costs about -log(epsilon) ≈ 16 instead of infinity (float32 rounds 1 - epsilon,
    # so the two sides differ slightly).
    bound = -math.log(vae_losses.BCE_EPSILON)
    assert np.all(np.isfinite(loss))
    assert 2 * 0.98 * bound < loss[0] < 2 * 1.01 * bound


def test_perfect_reconstruction_gives_zero_mse_and_l1():
    for name in ("mse", "l1"):
        np.testing.assert_array_equal(_loss(name, IMAGES, IMAGES), [0.0, 0.0])


def test_losses_scale_with_pixel_count_not_averaged():
    tiled_x = np.tile(IMAGES, (1, 3, 1, 2))
    tiled_x_hat = np.tile(RECONSTRUCTIONS, (1, 3, 1, 2))
    for name in vae_losses.RECONSTRUCTION_LOSSES:
        np.testing.assert_allclose(_loss(name, tiled_x, tiled_x_hat), 6 * _loss(name), rtol=1e-5)


def test_losses_are_float32_for_float16_inputs():
    loss = vae_losses.reconstruction_loss("mse", IMAGES.astype("float16"), RECONSTRUCTIONS.astype("float16"))
    assert ops.convert_to_numpy(loss).dtype == np.float32
    kl = vae_losses.kl_divergence(np.zeros((2, 3), "float16"), np.zeros((2, 3), "float16"))
    assert ops.convert_to_numpy(kl).dtype == np.float32


def test_unknown_reconstruction_loss_names_the_choices():
    with pytest.raises(ValueError, match="bce, mse, l1"):
        vae_losses.reconstruction_loss("huber", IMAGES, RECONSTRUCTIONS)


def test_mismatched_shapes_raise_value_error():
    with pytest.raises(ValueError, match="differ in shape"):
        vae_losses.reconstruction_loss("mse", IMAGES, RECONSTRUCTIONS[:, :, :1])


def test_kl_is_zero_for_the_prior_itself():
    kl = vae_losses.kl_divergence(np.zeros((4, 5), "float32"), np.zeros((4, 5), "float32"))
    np.testing.assert_allclose(ops.convert_to_numpy(kl), np.zeros(4), atol=1e-7)


def test_kl_matches_one_dimensional_closed_form_and_sums_over_dims():
    # KL(N(1, e^{-1}) || N(0, 1)) = (e^{-1} + 1 - 1 - (-1)) / 2 = (e^{-1} + 1) / 2 per dimension.
    z_mean = np.ones((1, 3), "float32")
    z_log_var = -np.ones((1, 3), "float32")
    kl = ops.convert_to_numpy(vae_losses.kl_divergence(z_mean, z_log_var))
    np.testing.assert_allclose(kl, [3 * (math.exp(-1) + 1) / 2], rtol=1e-6)


def test_kl_equals_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    z_mean = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]], "float32")
    z_log_var = np.array([[0.0, -1.5, 0.7], [1.0, -0.2, 0.0]], "float32")
    closed_form = ops.convert_to_numpy(vae_losses.kl_divergence(z_mean, z_log_var))

    samples = 200_000
    sigma = np.exp(0.5 * z_log_var.astype("float64"))
    z = z_mean + sigma * rng.standard_normal((samples, *z_mean.shape))
    # log q(z) - log p(z), summed over latent dims; the 2π terms cancel.
    log_ratio = np.sum(
        -0.5 * ((z - z_mean) / sigma) ** 2 - np.log(sigma) + 0.5 * z**2, axis=-1
    )
    estimate = log_ratio.mean(axis=0)
    standard_error = log_ratio.std(axis=0) / math.sqrt(samples)
    assert np.all(np.abs(estimate - closed_form) < 5 * standard_error), (estimate, closed_form, standard_error)


# -- σ-VAE: Gaussian NLL with the batch's closed-form σ -------------------------------------------

def _gaussian_nll_by_hand(x, x_hat, sigma):
    per_pixel = 0.5 * ((x - x_hat) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
    return per_pixel.reshape(len(x), -1).sum(axis=1)


def test_optimal_sigma_is_the_rms_error_of_the_whole_batch():
    errors = (IMAGES - RECONSTRUCTIONS).astype("float64")
    rms = math.sqrt(np.mean(errors**2))  # over both examples and all pixels: (0.25+0.25+0.0625+0.25)/4
    assert rms == pytest.approx(math.sqrt(0.203125))
    log_sigma = float(ops.convert_to_numpy(vae_losses.optimal_log_sigma(IMAGES, RECONSTRUCTIONS)))
    assert math.exp(log_sigma) == pytest.approx(rms, rel=1e-6)


def test_gaussian_learned_equals_the_gaussian_nll_by_hand_with_the_batch_sigma():
    rms = math.sqrt(0.203125)
    expected = _gaussian_nll_by_hand(IMAGES.astype("float64"), RECONSTRUCTIONS.astype("float64"), rms)
    # Per pixel at the optimum: ½ (e/σ)² + log σ + ½ log 2π; the batch mean of ½ (e/σ)² is exactly ½.
    np.testing.assert_allclose(_loss("gaussian_learned"), expected, rtol=1e-5)
    assert float(np.sum(_loss("gaussian_learned"))) == pytest.approx(
        4 * (0.5 + math.log(rms) + 0.5 * math.log(2 * math.pi)), rel=1e-5)


def test_gaussian_learned_with_a_fixed_sigma_and_the_optimum_minimises_the_nll():
    fixed = ops.convert_to_numpy(vae_losses.reconstruction_loss("gaussian_learned", IMAGES, RECONSTRUCTIONS,
                                                                 log_sigma=math.log(0.3)))
    np.testing.assert_allclose(fixed, _gaussian_nll_by_hand(IMAGES, RECONSTRUCTIONS, 0.3), rtol=1e-5)
    optimum = _loss("gaussian_learned").sum()
    for sigma in (0.3, 0.4, 0.5, 0.6):
        other = vae_losses.reconstruction_loss("gaussian_learned", IMAGES, RECONSTRUCTIONS,
                                               log_sigma=math.log(sigma))
        assert optimum <= float(np.sum(ops.convert_to_numpy(other))) + 1e-6


def test_gaussian_learned_clips_sigma_below_for_perfect_reconstructions():
    loss = _loss("gaussian_learned", IMAGES, IMAGES)
    assert np.all(np.isfinite(loss))
    # log σ is held at MIN_LOG_SIGMA: each of the 2 pixels costs -6 + ½ log 2π.
    np.testing.assert_allclose(loss, 2 * (vae_losses.MIN_LOG_SIGMA + 0.5 * math.log(2 * math.pi)), rtol=1e-5)


def test_log_sigma_is_rejected_for_other_losses():
    with pytest.raises(ValueError, match="gaussian_learned"):
        vae_losses.reconstruction_loss("mse", IMAGES, RECONSTRUCTIONS, log_sigma=0.0)
