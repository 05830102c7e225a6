"""Tests of gencompare.metrics.evaluation: closed-form VAE bounds with a tiny fake VAE, the one-call
evaluation on real MNIST digits, and MetricsCallback with ModelCheckpoint and CSVLogger."""

import csv
import math

import keras
import numpy as np
import pytest

from conftest import require_real_file
from gencompare.metrics import evaluation
from gencompare.models import vae_losses


class LinearGaussianVAE:
    """A 1-pixel VAE whose maths is known: `-log p̃(x|z) = (x - z)²` (the `mse` loss), `p(z) = N(0, 1)`.

    The exact posterior is `N(2x/3, 1/3)` and the marginal is `p̃(x) = exp(-x²/3) / sqrt(3)`. With
    `posterior_shift=0` the encoder returns the exact posterior, so every importance weight equals
    `p̃(x)` and the importance-weighted bound is exact for any number of samples.
    """

    image_shape = (1, 1, 1)
    latent_dim = 1
    value_range = (0.0, 1.0)
    reconstruction_loss = "mse"

    def __init__(self, posterior_shift=0.0, seed=0):
        self.posterior_shift = posterior_shift
        self.rng = np.random.default_rng(seed)

    def encode(self, x):
        x = np.asarray(x, np.float32).reshape(-1, 1)
        return 2 * x / 3 + self.posterior_shift, np.full_like(x, np.log(1 / 3))

    def decode(self, z):
        return np.asarray(z, np.float32).reshape(-1, 1, 1, 1)

    def loss_terms(self, x, training=False):
        z_mean, z_log_var = self.encode(x)
        z = z_mean + np.exp(z_log_var / 2) * self.rng.standard_normal(z_mean.shape).astype(np.float32)
        return {
            "reconstruction": vae_losses.reconstruction_loss("mse", np.asarray(x), self.decode(z)),
            "kl": vae_losses.kl_divergence(z_mean, z_log_var),
        }

    def reconstruct(self, x, batch_size=None):
        return self.decode(self.encode(x)[0])

    def sample(self, n, seed):
        return np.clip(self.decode(np.random.default_rng(seed).standard_normal((n, 1))), 0, 1)


def _pixels(count, seed=0):
    return np.random.default_rng(seed).random((count, 1, 1, 1)).astype(np.float32)


def _log_marginal(pixels):
    return -0.5 * np.log(3) - pixels.reshape(-1).astype(np.float64) ** 2 / 3


def test_importance_weighted_bound_is_exact_with_the_true_posterior():
    pixels = _pixels(64)
    for samples in (1, 7):
        bounds = evaluation.importance_weighted_bound(
            LinearGaussianVAE(), pixels, samples=samples, batch_size=32, progress=False
        )
        np.testing.assert_allclose(bounds, _log_marginal(pixels), atol=1e-5)


def test_importance_weighted_bound_tightens_with_more_samples():
    pixels = _pixels(1000)
    vae = LinearGaussianVAE(posterior_shift=0.6)
    bounds = [
        float(np.mean(evaluation.importance_weighted_bound(vae, pixels, samples=k, seed=1, progress=False)))
        for k in (1, 10, 100)
    ]
    exact = float(np.mean(_log_marginal(pixels)))
    assert bounds[0] < bounds[1] < bounds[2] <= exact + 1e-3
    assert exact - bounds[2] < 0.25 * (exact - bounds[0])


def test_vae_metrics_match_the_closed_forms():
    pixels = _pixels(4000)
    results = evaluation.vae_metrics(LinearGaussianVAE(), pixels, importance_samples=3, progress=False)
    # ELBO with the exact posterior equals log p̃(x) in expectation; its single-sample estimate has
    # std below 0.61 per image (Var((x - z)²) ≤ 2/9 + 4/27), so 5 standard errors is 0.05 here.
    assert results["elbo"] == pytest.approx(np.mean(_log_marginal(pixels)), abs=0.05)
    assert results["elbo"] == pytest.approx(-(results["elbo_reconstruction"] + results["elbo_kl"]))
    expected_kl = 0.5 * (1 / 3 + np.mean((2 * pixels / 3) ** 2) - 1 - np.log(1 / 3))
    assert results["elbo_kl"] == pytest.approx(expected_kl, rel=1e-4)
    assert results["reconstruction_mse"] == pytest.approx(np.mean(pixels.astype(np.float64) ** 2) / 9, rel=1e-4)
    assert results["iw_bound_k3"] == pytest.approx(np.mean(_log_marginal(pixels)), abs=1e-5)


def test_importance_weighted_bound_rejects_zero_samples():
    with pytest.raises(ValueError, match="samples"):
        evaluation.importance_weighted_bound(LinearGaussianVAE(), _pixels(2), samples=0)


class ReplayModel:
    """Generator stand-in that replays a fixed image array (uint8) in the (-1, 1) range of a GAN."""

    value_range = (-1.0, 1.0)

    def __init__(self, images):
        self.images = images
        self.image_shape = images.shape[1:]

    def sample(self, n, seed):
        chosen = np.random.default_rng(seed).choice(len(self.images), n, replace=n > len(self.images))
        return self.images[chosen].astype(np.float32) / 127.5 - 1.0


@pytest.mark.shared_data
def test_evaluate_tells_a_faithful_generator_from_a_collapsed_one(real_data_dir):
    from gencompare.data import load_images, load_labels

    require_real_file(real_data_dir, "mnist")
    train = load_images("mnist", "train", limit=3000, data_dir=real_data_dir)
    labels = load_labels("mnist", "train", limit=3000, data_dir=real_data_dir)
    options = dict(count=400, data_dir=real_data_dir, kid_subsets=10, kid_subset_size=200, progress=False)
    faithful = evaluation.evaluate(ReplayModel(train), "mnist", **options)
    collapsed = evaluation.evaluate(ReplayModel(train[labels == 1]), "mnist", **options)

    assert faithful["real_count"] == faithful["generated_count"] == 400
    assert faithful["classes_covered"] == 10 and collapsed["classes_covered"] == 1
    assert faithful["class_kl_uniform"] < 0.05 < np.log(10) - 0.1 < collapsed["class_kl_uniform"]
    assert faithful["fd_mnist"] * 5 < collapsed["fd_mnist"]
    assert faithful["kid_mnist_mean"] < faithful["kid_mnist_std"] * 3 < collapsed["kid_mnist_mean"]
    assert faithful["recall_mnist"] > 0.8 > 0.3 > collapsed["recall_mnist"]
    assert faithful["swd_mean"] < collapsed["swd_mean"]
    assert {"swd_28", "swd_14", "swd_7"} <= set(faithful)
    assert "elbo" not in faithful  # not a VAE


def test_evaluate_rejects_images_of_another_shape():
    model = ReplayModel(np.zeros((4, 16, 16, 1), np.uint8))
    with pytest.raises(ValueError, match="model makes"):
        evaluation.evaluate(model, np.zeros((4, 28, 28, 1), np.uint8), progress=False)
    with pytest.raises(ValueError, match="count"):
        evaluation.evaluate(model, np.zeros((4, 16, 16, 1), np.uint8), count=1, progress=False)


def test_generate_is_seeded_and_independent_of_chunking(monkeypatch):
    model = ReplayModel(np.random.default_rng(0).integers(0, 256, (50, 8, 8, 1), dtype=np.uint8))
    first = evaluation.generate(model, 30, seed=4)
    np.testing.assert_array_equal(first, evaluation.generate(model, 30, seed=4))
    assert first.min() >= 0 and first.max() <= 1 and first.shape == (30, 8, 8, 1)
    monkeypatch.setattr(evaluation, "SAMPLE_CHUNK", 7)
    assert evaluation.generate(model, 30, seed=4).shape == (30, 8, 8, 1)


# -- MetricsCallback ----------------------------------------------------------------------------

NOISE_BY_EPOCH = (0.3, 0.05, 0.2)


class NoisyCopyModel(keras.Model):
    """A trainable toy model whose samples are real images plus noise of a per-epoch level.

    `noise_level` is a (non-trainable) weight, so a checkpoint records which epoch it came from.
    """

    def __init__(self, real_images):
        super().__init__()
        self.real_images = real_images.astype(np.float32) / 255.0
        self.image_shape = real_images.shape[1:]
        self.value_range = (0.0, 1.0)
        self.dense = keras.layers.Dense(1)
        self.noise_level = self.add_weight(shape=(), initializer="zeros", trainable=False, name="noise")

    def call(self, inputs):
        return self.dense(inputs)

    def sample(self, n, seed):
        noise = np.random.default_rng(seed).standard_normal((n, *self.image_shape)).astype(np.float32)
        level = float(self.noise_level.numpy())
        return np.clip(self.real_images[:n] + level * noise, 0.0, 1.0)


class NoiseSchedule(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.model.noise_level.assign(NOISE_BY_EPOCH[epoch])


def _smooth_images(count=24, size=16):
    rng = np.random.default_rng(0)
    grid = np.linspace(0, 1, size)
    phases = rng.random((count, 1, 1))
    pattern = 0.5 + 0.4 * np.sin(6 * grid[None, :, None] + 4 * grid[None, None, :] + 6 * phases)
    return (pattern[..., None] * 255).astype(np.uint8)


def _fit_with(callbacks, epochs=3):
    real = _smooth_images()
    model = NoisyCopyModel(real)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((8, 1)), np.zeros((8, 1)), epochs=epochs, verbose=0,
              callbacks=[NoiseSchedule(), *callbacks])
    return model, real


def _metrics_callback(real, **kwargs):
    return evaluation.MetricsCallback(
        real, metric_names=["swd_mean"], count=24, swd_min_resolution=8, extractors=(), **kwargs
    )


def test_metrics_callback_feeds_model_checkpoint_and_csv_logger(tmp_path):
    real = _smooth_images()
    metrics = _metrics_callback(real)
    checkpoint_path = tmp_path / "best.weights.h5"
    csv_path = tmp_path / "log.csv"
    model, _ = _fit_with([
        metrics,  # must come first: it writes the value the next two read
        keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="swd_mean", mode="min",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(csv_path),
    ])
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    logged = [float(row["swd_mean"]) for row in rows]
    assert logged == pytest.approx([results["swd_mean"] for _, results in metrics.evaluations])
    # Less noise, smaller distance: epoch 1 (noise 0.05) is the best, and that is what was saved.
    assert logged[1] < logged[2] < logged[0]
    restored = NoisyCopyModel(real)
    restored(np.zeros((1, 1)))
    restored.load_weights(checkpoint_path)
    assert float(restored.noise_level.numpy()) == pytest.approx(NOISE_BY_EPOCH[1])
    assert model.history.history["swd_mean"] == pytest.approx(logged)


def test_a_checkpoint_listed_before_the_metrics_callback_saves_the_last_epoch_not_the_best(tmp_path):
    checkpoint_path = tmp_path / "best.weights.h5"
    real = _smooth_images()
    with pytest.warns(UserWarning, match="swd_mean available"):
        _fit_with([
            # Wrong order: the checkpoint reads `logs` before the metric is there. Keras then warns
            # and saves every epoch, so the file ends up holding the last epoch instead of the best.
            keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="swd_mean", mode="min",
                                            save_best_only=True, save_weights_only=True),
            _metrics_callback(real),
        ])
    restored = NoisyCopyModel(real)
    restored(np.zeros((1, 1)))
    restored.load_weights(checkpoint_path)
    assert float(restored.noise_level.numpy()) == pytest.approx(NOISE_BY_EPOCH[-1])


def test_metrics_callback_logs_nan_between_evaluations_and_evaluates_the_last_epoch(tmp_path):
    metrics = _metrics_callback(_smooth_images(), every_n_epochs=2, prefix="val_")
    model, _ = _fit_with([metrics, keras.callbacks.CSVLogger(tmp_path / "log.csv")])
    logged = model.history.history["val_swd_mean"]
    assert math.isnan(logged[0]) and not math.isnan(logged[1]) and not math.isnan(logged[2])
    assert [epoch for epoch, _ in metrics.evaluations] == [1, 2]
    with open(tmp_path / "log.csv") as handle:
        assert "val_swd_mean" in next(csv.reader(handle))


def test_metrics_callback_rejects_unknown_metric_names_and_bad_periods():
    with pytest.raises(ValueError, match="every_n_epochs"):
        evaluation.MetricsCallback("mnist", metric_names=["fd_mnist"], every_n_epochs=0)
    with pytest.raises(ValueError, match="at least one"):
        evaluation.MetricsCallback("mnist", metric_names=[])
    callback = evaluation.MetricsCallback(_smooth_images(), metric_names=["fd_inception"], count=24,
                                          swd_min_resolution=8, extractors=())
    with pytest.raises(ValueError, match="available: .*swd_mean"):
        _fit_with([callback], epochs=1)


def test_evaluate_works_with_the_real_vae():
    from gencompare.models.vae import VAE

    keras.utils.set_random_seed(0)
    vae = VAE(
        image_shape=(28, 28, 1), latent_dim=2,
        encoder={"filters": [8], "kernel_size": 3, "strides": 2},
        decoder={"base_shape": [7, 7, 8], "filters": [8, 8], "output_activation": "sigmoid"},
        reconstruction_loss="bce",
    )
    digits = np.random.default_rng(0).integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
    results = evaluation.evaluate(vae, digits, count=40, extractors=(), include_mode_coverage=False,
                                  importance_samples=4, progress=False)
    assert results["real_count"] == results["generated_count"] == 40
    assert results["elbo"] == pytest.approx(-(results["elbo_reconstruction"] + results["elbo_kl"]))
    # Untrained sigmoid decoder outputs ≈ 0.5: BCE ≈ 784·log 2 per image on random pixels, MSE ≈ 1/12.
    assert 0.8 * 784 * np.log(2) < results["elbo_reconstruction"] < 1.5 * 784 * np.log(2)
    assert 0.04 < results["reconstruction_mse"] < 0.15
    assert np.isfinite(results["iw_bound_k4"]) and np.isfinite(results["swd_mean"])


def test_evaluate_works_with_the_real_gan_in_its_signed_range():
    from gencompare.models.gan import GAN

    keras.utils.set_random_seed(0)
    gan = GAN(image_shape=(16, 16, 3), latent_dim=4)  # default DCGAN-style networks, (-1, 1) images
    faces = np.random.default_rng(0).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    results = evaluation.evaluate(gan, faces, count=12, swd_min_resolution=8, progress=False)
    assert results["real_count"] == results["generated_count"] == 12
    assert set(results) == {"real_count", "generated_count", "swd_16", "swd_8", "swd_mean",
                            "checkerboard", "lattice_peaks", "lattice_peaks_real"}
    assert results["swd_mean"] > 0
    assert results["checkerboard"] == pytest.approx(results["lattice_peaks"] / results["lattice_peaks_real"])
    without = evaluation.evaluate(gan, faces, count=12, swd_min_resolution=8, progress=False,
                                  include_checkerboard=False)
    assert "checkerboard" not in without and without["swd_mean"] == results["swd_mean"]
