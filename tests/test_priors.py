"""Tests for gencompare.models.priors and VAE.fit_prior: fitting, seeded sampling, saving, two-stage VAE."""

import keras
import numpy as np
import pytest

from gencompare.models import priors
from gencompare.models.vae import VAE, LatentVAE

IMAGE_SHAPE = (8, 8, 1)
TINY = {
    "image_shape": IMAGE_SHAPE,
    "latent_dim": 2,
    "encoder": {"filters": [4, 8], "kernel_size": 3, "strides": 2, "dense_units": 8},
    "decoder": {"base_shape": [2, 2, 8], "filters": [4], "strides": 2, "output_strides": 2},
}
MEANS = np.array([[-4.0, 0.0], [3.0, 2.0]])
WEIGHTS = np.array([0.3, 0.7])
SCALES = np.array([[0.5, 1.0], [1.0, 0.3]])


def two_component_codes(count=4000, seed=0):
    rng = np.random.default_rng(seed)
    components = rng.choice(2, size=count, p=WEIGHTS)
    return MEANS[components] + SCALES[components] * rng.standard_normal((count, 2))


def images(count, seed=0):
    return np.random.default_rng(seed).random((count, *IMAGE_SHAPE)).astype("float32")


def sorted_by_first_mean(weights, means, covariances):
    order = np.argsort(means[:, 0])
    return weights[order], means[order], covariances[order]


# -- the mixture ------------------------------------------------------------------------------

@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_mixture_recovers_the_means_weights_and_variances_of_a_known_mixture(covariance_type):
    prior = priors.MixturePrior(code_dim=2, components=2, covariance_type=covariance_type)
    assert not prior.fitted
    prior.fit(two_component_codes(), seed=0)
    assert prior.fitted
    weights, means, covariances = sorted_by_first_mean(*prior.parameters())
    np.testing.assert_allclose(weights, WEIGHTS, atol=0.03)
    np.testing.assert_allclose(means, MEANS, atol=0.1)
    np.testing.assert_allclose(np.diagonal(covariances, axis1=1, axis2=2), SCALES**2, rtol=0.15)


def test_mixture_samples_follow_the_fitted_mixture():
    prior = priors.MixturePrior(code_dim=2, components=2)
    prior.fit(two_component_codes(), seed=0)
    samples = prior.sample(20_000, seed=1)
    assert samples.shape == (20_000, 2) and samples.dtype == np.float32
    left = samples[:, 0] < -0.5  # the components are far apart along the first axis
    assert left.mean() == pytest.approx(WEIGHTS[0], abs=0.02)
    np.testing.assert_allclose(samples[left].mean(axis=0), MEANS[0], atol=0.1)
    np.testing.assert_allclose(samples[~left].std(axis=0), SCALES[1], rtol=0.1)


def test_unfitted_prior_and_bad_specs_raise():
    with pytest.raises(ValueError, match="fit_prior"):
        priors.MixturePrior(code_dim=2, components=2).sample(3, seed=0)
    with pytest.raises(ValueError, match="kind"):
        priors.check_spec({"kind": "flow"}, 2)
    with pytest.raises(ValueError, match="components"):
        priors.check_spec({"kind": "mixture", "components": 0}, 2)
    with pytest.raises(ValueError, match="Unknown mixture prior options"):
        priors.check_spec({"kind": "mixture", "hidden_units": [4]}, 2)
    with pytest.raises(ValueError, match="shape"):
        priors.MixturePrior(code_dim=3, components=2).fit(two_component_codes())


# -- VAE.fit_prior and sampling ---------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted_vae():
    model = VAE(**TINY, seed=4)
    model.fit_prior(images(200), kind="mixture", components=3, seed=0)
    return model


def test_fit_prior_fits_the_posterior_means(fitted_vae):
    codes = fitted_vae.latent_codes(images(200))
    np.testing.assert_allclose(codes, fitted_vae.encode(images(200))[0], atol=1e-5)
    refit = priors.MixturePrior(code_dim=2, components=3)
    refit.fit(codes, seed=0)
    for mine, reference in zip(fitted_vae.prior.parameters(), refit.parameters()):
        np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-6)


def test_learned_prior_sampling_is_reproducible_per_seed_and_differs_across_seeds(fitted_vae):
    first = fitted_vae.sample(6, seed=5, prior="mixture")
    assert first.shape == (6, *IMAGE_SHAPE) and first.dtype == np.float32
    np.testing.assert_array_equal(first, fitted_vae.sample(6, seed=5, prior="mixture"))
    assert not np.allclose(first, fitted_vae.sample(6, seed=6, prior="mixture"))
    np.testing.assert_allclose(first, fitted_vae.decode(fitted_vae.prior.sample(6, seed=5)), atol=1e-6)
    # The standard prior is still the default, and differs from the learned one.
    np.testing.assert_array_equal(fitted_vae.sample(6, seed=5), fitted_vae.sample(6, seed=5, prior="standard"))
    assert not np.allclose(first, fitted_vae.sample(6, seed=5))


def test_learned_prior_without_a_seed_draws_fresh_codes_from_the_sample_seed_state():
    model = VAE(**TINY, seed=2)
    model.fit_prior(images(100), kind="mixture", components=2, seed=0)
    twin = VAE.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    first = model.sample(4, prior="mixture")
    assert not np.allclose(first, model.sample(4, prior="mixture"))
    np.testing.assert_array_equal(twin.sample(4, prior="mixture"), first)  # same seed state, same draw


def test_sampling_an_unknown_or_missing_prior_raises(fitted_vae):
    with pytest.raises(ValueError, match="standard, mixture, two_stage"):
        fitted_vae.sample(2, seed=0, prior="vamp")
    with pytest.raises(ValueError, match="fit_prior"):
        fitted_vae.sample(2, seed=0, prior="two_stage")
    with pytest.raises(ValueError, match="fit_prior"):
        VAE(**TINY).sample(2, seed=0, prior="mixture")
    with pytest.raises(ValueError, match="codes"):
        VAE(**TINY).fit_prior(images(10), codes="median")


def test_fit_prior_takes_posterior_samples_and_datasets():
    import tensorflow as tf

    model = VAE(**TINY)
    x = images(64)
    sampled = model.latent_codes(x, codes="sample", seed=1)
    means = model.latent_codes(x)
    assert not np.allclose(sampled, means)
    np.testing.assert_array_equal(sampled, model.latent_codes(x, codes="sample", seed=1))
    from_dataset = model.latent_codes(tf.data.Dataset.from_tensor_slices(x).batch(16))
    np.testing.assert_allclose(from_dataset, means, atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        model.fit_prior((x * 255).astype("uint8"))


def test_refitting_replaces_the_learned_prior():
    model = VAE(**TINY)
    model.fit_prior(images(50), kind="mixture", components=2)
    model.fit_prior(images(50), kind="mixture", components=3, covariance_type="diag")
    assert model.get_config()["prior"] == {"kind": "mixture", "components": 3, "covariance_type": "diag"}
    assert [v.path for v in model.weights if v.path.startswith("prior")] == [
        "prior/fitted", "prior/mixture_weights", "prior/means", "prior/scale_tril"]
    assert model.prior.means.shape == (3, 2)


# -- saving -----------------------------------------------------------------------------------

def test_learned_prior_survives_a_keras_file(tmp_path, fitted_vae):
    path = tmp_path / "vae.keras"
    fitted_vae.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode stays on: no pickled objects
    assert loaded.get_config()["prior"] == {"kind": "mixture", "components": 3, "covariance_type": "full"}
    np.testing.assert_array_equal(loaded.sample(5, seed=3, prior="mixture"), fitted_vae.sample(5, seed=3, prior="mixture"))


def test_learned_prior_survives_a_weights_file(tmp_path, fitted_vae):
    path = tmp_path / "vae.weights.h5"
    fitted_vae.save_weights(path)
    restored = VAE.from_config(fitted_vae.get_config())
    assert not restored.prior.fitted
    restored.load_weights(path)
    assert restored.prior.fitted
    np.testing.assert_array_equal(restored.sample(5, seed=3, prior="mixture"),
                                  fitted_vae.sample(5, seed=3, prior="mixture"))


# -- the two-stage VAE ------------------------------------------------------------------------

def test_latent_vae_trains_on_codes_with_the_vae_train_step():
    codes = two_component_codes(512).astype("float32")
    second = LatentVAE(code_dim=2, latent_dim=2, hidden_units=[32, 32], seed=0)
    assert isinstance(second, VAE) and second.image_shape == (1, 1, 2)
    history = second.fit_codes(codes, epochs=8, batch_size=64, learning_rate=3e-3)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    # Unbounded outputs: no clipping to a value range.
    decoded = second.decode_codes(np.zeros((3, 2), "float32"))
    assert decoded.shape == (3, 2)


def test_two_stage_prior_samples_have_the_first_stage_latent_size_and_survive_saving(tmp_path):
    model = VAE(**{**TINY, "latent_dim": 3})
    history = model.fit_prior(images(128), kind="two_stage", seed=0, latent_dim=2, hidden_units=[16],
                              epochs=3, batch_size=32)
    assert len(history.history["loss"]) == 3
    assert model.prior.sample(7, seed=0).shape == (7, 3)
    first = model.sample(4, seed=1, prior="two_stage")
    assert first.shape == (4, *IMAGE_SHAPE)
    np.testing.assert_array_equal(first, model.sample(4, seed=1, prior="two_stage"))
    assert not np.allclose(first, model.sample(4, seed=2, prior="two_stage"))
    # The second stage does not train with the first.
    assert len(model.trainable_variables) == len(VAE(**{**TINY, "latent_dim": 3}).trainable_variables)
    path = tmp_path / "two_stage.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config()["prior"] == {"kind": "two_stage", "latent_dim": 2, "hidden_units": [16]}
    np.testing.assert_array_equal(loaded.sample(4, seed=1, prior="two_stage"), first)
