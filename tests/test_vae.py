"""Tests for gencompare.models.vae (and its sampling layer): training, saving, presets, errors."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from gencompare.models import vae_losses
from gencompare.models.sampling import Sampling
from gencompare.models.vae import VAE

IMAGE_SHAPE = (8, 8, 1)
TINY = {
    "image_shape": IMAGE_SHAPE,
    "latent_dim": 3,
    "encoder": {"filters": [4, 8], "kernel_size": 3, "strides": 2, "dense_units": 8},
    "decoder": {"base_shape": [2, 2, 8], "filters": [4], "strides": 2, "output_strides": 2},
}
DATASET_SHAPES = {"mnist": (28, 28, 1), "cats": (64, 64, 3), "anime": (64, 64, 3), "celeba": (64, 64, 3),
                  "comics": (64, 64, 3)}


def tiny_vae(**overrides):
    return VAE(**{**TINY, **overrides})


def images(count, shape=IMAGE_SHAPE, seed=0):
    return np.random.default_rng(seed).random((count, *shape)).astype("float32")


def twin(model):
    """A second model with the same config and weights (and a fresh seed generator at `seed`)."""
    copy = VAE.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


# -- sampling layer ---------------------------------------------------------------------------

def test_sampling_has_the_posterior_mean_and_variance():
    count = 20_000
    z_mean = np.tile(np.array([[1.0, -2.0]], "float32"), (count, 1))
    z_log_var = np.tile(np.array([[0.0, math.log(4.0)]], "float32"), (count, 1))
    z = ops.convert_to_numpy(Sampling(seed=1)(z_mean, z_log_var))
    # Standard errors: sigma / sqrt(n) for the mean, about sigma² sqrt(2 / n) for the variance.
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=5 * 2.0 / math.sqrt(count))
    np.testing.assert_allclose(z.var(axis=0), [1.0, 4.0], rtol=5 * math.sqrt(2 / count))


def test_sampling_draws_fresh_noise_each_call_and_repeats_from_the_same_seed():
    z_mean = np.zeros((4, 2), "float32")
    first_layer, second_layer = Sampling(seed=7), Sampling(seed=7)
    first = ops.convert_to_numpy(first_layer(z_mean, z_mean))
    assert not np.allclose(first, ops.convert_to_numpy(first_layer(z_mean, z_mean)))
    np.testing.assert_array_equal(first, ops.convert_to_numpy(second_layer(z_mean, z_mean)))


def test_sampling_noise_is_the_same_with_and_without_xla():
    z_mean = np.zeros((3, 5), "float32")
    draws = []
    for jit_compile in (False, True):
        generator = keras.random.SeedGenerator(3)
        draw = tf.function(lambda: Sampling()(z_mean, z_mean, seed_generator=generator), jit_compile=jit_compile)
        draws.append(ops.convert_to_numpy(draw()))
    np.testing.assert_allclose(draws[0], draws[1], atol=1e-6)


def test_standard_normal_passes_a_normality_test():
    from scipy import stats

    from gencompare.models.sampling import standard_normal

    noise = ops.convert_to_numpy(standard_normal((20_000,), "float32", keras.random.SeedGenerator(0)))
    assert stats.kstest(noise, "norm").pvalue > 1e-3
    assert np.all(np.isfinite(noise))


def test_compiled_steps_draw_new_noise_every_step():
    model = tiny_vae(reconstruction_loss="mse")
    model.compile(optimizer="adam")
    x = images(8)
    first = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    second = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    # Same weights, same data: only the sampled z differs between the two evaluations...
    assert first["reconstruction_loss"] != second["reconstruction_loss"]
    assert first["kl_loss"] == pytest.approx(second["kl_loss"], rel=1e-6)
    # ...and a twin starting from the same seed repeats the first one.
    copy = twin(model)
    copy.compile(optimizer="adam")
    repeat = copy.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert repeat["reconstruction_loss"] == pytest.approx(first["reconstruction_loss"], rel=1e-6)


def test_sampling_without_a_random_source_raises():
    with pytest.raises(ValueError, match="seed"):
        Sampling()(np.zeros((1, 2), "float32"), np.zeros((1, 2), "float32"))


# -- construction and errors ------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"reconstruction_loss": "huber"}, "bce, mse, l1"),
        ({"beta": -1.0}, "beta"),
        ({"beta": None}, "beta"),
        ({"encoder": {**TINY["encoder"], "units": 3}}, "Unknown `encoder` architecture keys"),
        ({"decoder": {"filters": [4]}}, "base_shape"),
        ({"decoder": {**TINY["decoder"], "output_activation": "tanh"}}, "value_range"),
        ({"value_range": (-1, 1), "decoder": {**TINY["decoder"], "output_activation": "tanh"}}, "bce"),
        ({"decoder": {**TINY["decoder"], "output_strides": 1}}, "produces images of shape"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_vae(**overrides)


def test_specs_are_kept_as_given_and_decoder_spec_rebuilds_the_decoder():
    from gencompare.models import networks

    model = tiny_vae()
    assert model.encoder_spec == TINY["encoder"]
    assert model.decoder_spec == TINY["decoder"]
    rebuilt = networks.build_deconv_generator(3, IMAGE_SHAPE, **model.decoder_spec)
    rebuilt.set_weights(model.decoder.get_weights())
    z = np.ones((2, 3), "float32")
    np.testing.assert_allclose(rebuilt(z), model.decode(z), atol=1e-6)


def test_compile_rejects_a_keras_loss():
    with pytest.raises(ValueError, match="reconstruction_loss"):
        tiny_vae().compile(optimizer="adam", loss="mse")


def test_compile_passes_jit_compile_through():
    model = tiny_vae()
    model.compile(optimizer="adam", jit_compile=False)
    assert model.jit_compile is False


def test_call_rejects_wrong_image_shape():
    with pytest.raises(ValueError, match=r"\(batch, 8, 8, 1\)"):
        tiny_vae()(images(2, (8, 8, 3)))


def test_fit_rejects_wrong_shape_uint8_and_0_255_images():
    model = tiny_vae()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="expects image batches of shape"):
        model.fit(images(4, (9, 9, 1)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="uint8"):
        model.fit((images(4) * 255).astype("uint8"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="0–255"):
        model.fit(images(4) * 255, epochs=1, verbose=0)
    uint8_dataset = tf.data.Dataset.from_tensor_slices((images(4) * 255).astype("uint8")).batch(2)
    with pytest.raises(ValueError, match="uint8"):
        model.fit(uint8_dataset, epochs=1, verbose=0)


def test_unknown_preset_lists_the_names():
    with pytest.raises(ValueError, match="keras_io_mnist"):
        VAE.from_preset("mnist_3d")


# -- forward passes ---------------------------------------------------------------------------

def test_call_is_deterministic_and_decodes_the_posterior_mean():
    model = tiny_vae()
    x = images(3)
    z_mean, z_log_var = model.encode(x)
    assert tuple(z_mean.shape) == tuple(z_log_var.shape) == (3, 3)
    np.testing.assert_allclose(model(x), model(x))
    np.testing.assert_allclose(model(x), model.decode(z_mean), atol=1e-6)
    np.testing.assert_allclose(model.reconstruct(x), model(x), atol=1e-6)


def test_loss_terms_are_per_example_and_match_the_loss_functions():
    model = tiny_vae(reconstruction_loss="mse")
    x = images(5)
    terms = model.loss_terms(x)
    assert set(terms) == {"reconstruction", "kl"}
    assert tuple(terms["reconstruction"].shape) == tuple(terms["kl"].shape) == (5,)
    np.testing.assert_allclose(terms["kl"], vae_losses.kl_divergence(*model.encode(x)), rtol=1e-5)
    # The reconstruction term uses a sampled z, so it is bounded by the summed squared range.
    assert np.all(ops.convert_to_numpy(terms["reconstruction"]) <= np.prod(IMAGE_SHAPE))


def test_beta_scales_only_the_kl_term():
    x = images(8)
    reference = tiny_vae(beta=1.0)
    results = {}
    for beta in (0.0, 1.0, 3.5):
        model = VAE.from_config({**reference.get_config(), "beta": beta})
        model.set_weights(reference.get_weights())
        model.compile(optimizer="adam")
        results[beta] = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    for beta, result in results.items():
        assert result["reconstruction_loss"] == pytest.approx(results[1.0]["reconstruction_loss"], rel=1e-6)
        assert result["kl_loss"] == pytest.approx(results[1.0]["kl_loss"], rel=1e-6)
        assert result["loss"] == pytest.approx(result["reconstruction_loss"] + beta * result["kl_loss"], rel=1e-5)


def test_metrics_are_the_three_trackers():
    assert [metric.name for metric in tiny_vae().metrics] == ["loss", "reconstruction_loss", "kl_loss"]


def test_train_step_gives_the_same_loss_and_update_with_and_without_xla():
    x = images(16, seed=1)
    reference = tiny_vae(reconstruction_loss="mse")
    outcomes = []
    for jit_compile in (False, True):
        model = twin(reference)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)
        assert model.jit_compile is jit_compile
        logs = model.train_on_batch(x, return_dict=True)
        outcomes.append((logs, model.get_weights()))
    (plain_logs, plain_weights), (xla_logs, xla_weights) = outcomes
    for name in ("loss", "reconstruction_loss", "kl_loss"):
        assert xla_logs[name] == pytest.approx(plain_logs[name], rel=1e-4, abs=1e-5)
    for plain, xla in zip(plain_weights, xla_weights):
        np.testing.assert_allclose(xla, plain, rtol=1e-3, atol=1e-5)
    # The step did update the weights.
    assert any(not np.allclose(a, b) for a, b in zip(plain_weights, reference.get_weights()))


def test_sample_is_deterministic_for_an_int_seed_and_fresh_otherwise():
    model = tiny_vae()
    first = model.sample(4, seed=5)
    assert isinstance(first, np.ndarray) and first.shape == (4, *IMAGE_SHAPE)
    np.testing.assert_array_equal(first, model.sample(4, seed=5))
    np.testing.assert_allclose(first, model.decode(model.latent_grid(4, 5)), atol=1e-6)
    assert not np.allclose(model.sample(4), model.sample(4))
    assert first.min() >= 0.0 and first.max() <= 1.0
    with pytest.raises(ValueError, match="positive integer"):
        model.sample(0)


def test_linear_output_samples_are_clipped_to_the_value_range():
    model = tiny_vae(
        reconstruction_loss="mse", value_range=(-1, 1),
        decoder={**TINY["decoder"], "output_activation": "linear"},
    )
    model.decoder.get_layer("to_image").bias.assign([5.0])
    np.testing.assert_array_equal(model.sample(2, seed=0), np.ones((2, *IMAGE_SHAPE), "float32"))


# -- saving -----------------------------------------------------------------------------------

def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    x = images(16)
    model = tiny_vae(reconstruction_loss="l1", beta=0.5, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode stays on

    assert isinstance(loaded, VAE)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded(x), model(x))
    np.testing.assert_array_equal(loaded.sample(6, seed=11), model.sample(6, seed=11))
    # The optimizer and the noise streams came back too, so training resumes where it stopped.
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
    np.testing.assert_array_equal(loaded.sample(3), model.sample(3))
    assert loaded.evaluate(x, batch_size=16, verbose=0) == model.evaluate(x, batch_size=16, verbose=0)


def test_weights_file_round_trip_restores_weights_and_noise_state(tmp_path):
    model = tiny_vae()
    model.sample(2)  # advance the sampling stream
    path = tmp_path / "vae.weights.h5"
    model.save_weights(path)
    restored = tiny_vae()
    restored.load_weights(path)
    x = images(2)
    np.testing.assert_array_equal(restored(x), model(x))
    np.testing.assert_array_equal(restored.sample(2), model.sample(2))


# -- presets ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", VAE.preset_names())
def test_preset_builds_for_its_dataset_and_trains_one_step(name):
    preset = VAE.preset(name)
    shape = DATASET_SHAPES[preset.dataset]
    model = VAE.from_preset(name)
    assert model.image_shape == shape
    assert model.value_range == (0.0, 1.0)
    assert {"optimizer", "learning_rate", "batch_size", "epochs", "limit"} <= set(preset.training)
    model.compile(optimizer=keras.optimizers.Adam(preset.training["learning_rate"]), run_eagerly=True)
    logs = model.train_on_batch(images(2, shape), return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0


def test_preset_values_follow_the_issue():
    mnist = VAE.preset("mnist")
    assert (mnist.model["reconstruction_loss"], mnist.training["learning_rate"], mnist.training["batch_size"],
            mnist.training["epochs"]) == ("mse", 1e-4, 128, 30)
    cats = VAE.preset("cats")
    assert len(cats.model["encoder"]["filters"]) == 5 and cats.model["latent_dim"] == 32
    assert cats.training["batch_size"] == 64 and "batch 4" in cats.notes
    celeba = VAE.preset("celeba")
    assert celeba.model["beta"] == 0.1 and celeba.model["latent_dim"] == 256
    assert celeba.model["encoder"]["batch_norm"] and celeba.training["limit"] == 30000
    assert VAE.preset("anime").model["reconstruction_loss"] == "l1"
    assert VAE.preset("comics").model["latent_dim"] == 128
    assert VAE.preset("mnist_2d").model["latent_dim"] == 2
    keras_io = VAE.from_preset("keras_io_mnist")
    assert keras_io.count_params() == 134_165  # the keras.io example's encoder 69 076 + decoder 65 089


def test_from_preset_overrides_constructor_arguments():
    model = VAE.from_preset("mnist", latent_dim=4, seed=9)
    assert model.latent_dim == 4 and model.seed == 9


# -- real data --------------------------------------------------------------------------------

@pytest.mark.shared_data
def test_two_epochs_on_real_mnist_reduce_the_loss_and_report_validation(real_data_dir):
    from conftest import require_real_file
    from gencompare.data import load_images, to_dataset

    require_real_file(real_data_dir, "mnist")
    keras.utils.set_random_seed(0)
    train = to_dataset(load_images("mnist", limit=2048, data_dir=real_data_dir), 128, value_range=(0, 1))
    test = to_dataset(load_images("mnist", "test", limit=256, data_dir=real_data_dir), 128,
                      value_range=(0, 1), shuffle=False)
    model = VAE.from_preset("keras_io_mnist")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    # to_dataset shuffles already; Keras would only warn that its own flag does not apply.
    history = model.fit(train, epochs=2, validation_data=test, shuffle=False, verbose=0).history
    assert history["loss"][1] < history["loss"][0]
    for name in ("val_loss", "val_reconstruction_loss", "val_kl_loss"):
        assert len(history[name]) == 2 and np.isfinite(history[name][-1])
    # An untrained decoder outputs about 0.5 everywhere: 784 · ln 2 ≈ 543 nats of BCE.
    assert history["val_loss"][-1] < 543


# -- σ-VAE decoder variance -----------------------------------------------------------------------

def test_gaussian_learned_trains_and_evaluates_with_its_running_decoder_variance():
    model = tiny_vae(reconstruction_loss="gaussian_learned")
    assert float(model.decoder_log_sigma) == 0.0  # no training step yet
    x = images(32, seed=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    model.fit(x, batch_size=16, epochs=2, verbose=0)
    log_sigma = float(model.decoder_log_sigma)
    # The running σ is close to the RMS error of the reconstructions it was fitted on.
    rms = math.sqrt(float(np.mean((model.reconstruct(x) - x) ** 2)))
    assert abs(log_sigma - math.log(rms)) < 0.3
    # Inference uses that σ, not the evaluated batch's own optimum.
    z_mean, _ = model.encode(x)
    expected = vae_losses.reconstruction_loss("gaussian_learned", x, model.decode(z_mean), log_sigma=log_sigma)
    np.testing.assert_allclose(model.reconstruction_nll(x, model.decode(z_mean)), expected, rtol=1e-5)
    copy = twin(model)
    assert float(copy.decoder_log_sigma) == pytest.approx(log_sigma)  # saved with the weights
    with pytest.raises(AttributeError, match="gaussian_learned"):
        tiny_vae().decoder_log_sigma
