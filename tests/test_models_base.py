"""Tests for gencompare.models.base: architecture and input checks, latents and seed-state saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gencompare.models import base
from gencompare.models.gan import GAN

IMAGE_SHAPE = (8, 8, 1)


def tiny_gan(seed=0):
    keras.utils.set_random_seed(7)
    # Dropout in the discriminator: its own seed generator must be saved too.
    return GAN(
        image_shape=IMAGE_SHAPE,
        latent_dim=3,
        generator={"base_shape": [2, 2, 4], "filters": [4, 4]},
        discriminator={"filters": [4], "dropout": 0.3},
        seed=seed,
    )


def test_check_image_tensor_rejects_integers_and_wrong_shapes_but_accepts_unknown_batch():
    with pytest.raises(ValueError, match="uint8.*to_dataset"):
        base.check_image_tensor(np.zeros((2, *IMAGE_SHAPE), "uint8"), IMAGE_SHAPE, "VAE.fit")
    with pytest.raises(ValueError, match=r"\(batch, 8, 8, 1\)"):
        base.check_image_tensor(np.zeros((2, 8, 8, 3), "float32"), IMAGE_SHAPE)
    with pytest.raises(ValueError, match="shape"):
        base.check_image_tensor(np.zeros((8, 8, 1), "float32"), IMAGE_SHAPE)
    base.check_image_tensor(tf.TensorSpec((None, *IMAGE_SHAPE), tf.float32), IMAGE_SHAPE)


def test_check_image_values_catches_0_255_and_non_finite_images():
    with pytest.raises(ValueError, match="0–255"):
        base.check_image_values(np.full((1, *IMAGE_SHAPE), 200.0), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        base.check_image_values(np.full((1, *IMAGE_SHAPE), 1.5), (-1.0, 1.0))
    with pytest.raises(ValueError, match="NaN"):
        base.check_image_values(np.full((1, *IMAGE_SHAPE), np.nan), (0.0, 1.0))
    # Rounding just outside the range is tolerated.
    base.check_image_values(np.full((1, *IMAGE_SHAPE), 1.0 + base.RANGE_TOLERANCE / 2), (0.0, 1.0))


def test_first_image_batch_reads_arrays_tuples_and_datasets_without_consuming_generators():
    images = np.arange(2 * 8 * 8, dtype="float32").reshape(2, *IMAGE_SHAPE)
    np.testing.assert_array_equal(base.first_image_batch(images), images)
    np.testing.assert_array_equal(base.first_image_batch((images, images + 1)), images)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(1)
    np.testing.assert_array_equal(base.first_image_batch(dataset), images[:1])
    assert base.first_image_batch(iter([images])) is None


def test_latent_normal_is_reproducible_and_standard_normal():
    first = base.latent_normal(4000, 8, seed=3)
    np.testing.assert_array_equal(first, base.latent_normal(4000, 8, seed=3))
    assert not np.array_equal(first, base.latent_normal(4000, 8, seed=4))
    assert first.dtype == np.float32 and first.shape == (4000, 8)
    # Mean and variance of 32 000 draws: standard errors 0.0056 and 0.0079.
    assert abs(first.mean()) < 0.03 and abs(first.var() - 1.0) < 0.04
    with pytest.raises(ValueError, match="count"):
        base.latent_normal(0, 8, seed=0)


def test_check_spec_copies_plain_dicts_and_names_unknown_and_missing_keys():
    spec = {"filters": [4, 8]}
    copied = base.check_spec(spec, ("filters", "kernel_size"), "encoder", required=("filters",))
    assert copied == spec and copied["filters"] is not spec["filters"]
    with pytest.raises(ValueError, match=r"Unknown `encoder` architecture keys \['units'\]"):
        base.check_spec({"filters": [4], "units": 3}, ("filters",), "encoder")
    with pytest.raises(ValueError, match=r"needs the keys \['filters'\]"):
        base.check_spec({}, ("filters",), "encoder", required=("filters",))
    with pytest.raises(ValueError, match="must be a dict"):
        base.check_spec([4], ("filters",), "encoder")


def test_gradient_loss_without_a_strategy_is_the_loss_times_the_loss_scale():
    loss = tf.constant(3.0)
    assert float(base.gradient_loss(keras.optimizers.SGD(), loss)) == 3.0
    scaled = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), initial_scale=8.0)
    assert float(base.gradient_loss(scaled, loss)) == 24.0


def test_seed_generators_finds_model_and_sub_layer_generators_once():
    gan = tiny_gan()
    generators = base.seed_generators(gan)
    assert gan.seed_generator in generators and gan.sample_seed_generator in generators
    dropout_generators = [
        generator
        for layer in gan.discriminator._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.Dropout)
        for generator in layer._seed_generators
    ]
    assert dropout_generators and all(g in generators for g in dropout_generators)
    assert len({id(g) for g in generators}) == len(generators)


def _advance_noise(gan):
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    gan.fit(np.zeros((8, *IMAGE_SHAPE), "float32"), batch_size=4, epochs=1, verbose=0)
    gan.sample(2)


def test_keras_file_keeps_every_seed_generator_state(tmp_path):
    gan = tiny_gan()
    _advance_noise(gan)
    trained_states = [g.state.numpy() for g in base.seed_generators(gan)]
    assert any(not np.array_equal(state, g.state.numpy())
               for state, g in zip(trained_states, base.seed_generators(tiny_gan())))
    path = tmp_path / "gan.keras"
    gan.save(path)
    loaded = keras.saving.load_model(path)
    for state, generator in zip(trained_states, base.seed_generators(loaded)):
        np.testing.assert_array_equal(generator.state.numpy(), state)
    # Same state, same next draws.
    np.testing.assert_array_equal(loaded.sample(3), gan.sample(3))


def test_weights_from_another_architecture_are_rejected_with_a_clear_error(tmp_path):
    gan = tiny_gan()
    path = tmp_path / "gan.weights.h5"
    gan.save_weights(path)
    other = GAN(
        image_shape=IMAGE_SHAPE,
        latent_dim=3,
        generator={"base_shape": [2, 2, 4], "filters": [4, 4]},
        discriminator={"filters": [4]},  # no dropout: one seed generator fewer
    )
    with pytest.raises(ValueError, match="seed-generator states"):
        other.load_weights(path)
