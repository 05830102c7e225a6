"""The GAN: phase isolation, EMA, VAE initialisation, saving, presets, and a short real MNIST run."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gencompare.models import ema, gan_losses
from gencompare.models.gan import GAN, default_discriminator_spec, default_generator_spec
from gencompare.train import GAN_COMPILE_OPTIONS

IMAGE_SHAPE = (8, 8, 1)
LATENT_DIM = 4
# Tiny networks with BatchNorm on both sides, so that "changes no weight" covers moving statistics.
TINY_GENERATOR = {"base_shape": [2, 2, 8], "filters": [8, 4], "batch_norm": True}
TINY_DISCRIMINATOR = {"filters": [4, 8], "batch_norm": True, "dropout": 0.2, "activation": "leaky_relu"}


def tiny_gan(seed=0, **overrides):
    """A tiny GAN; weights are initialised from Keras' global seed (the project's convention), the
    model's `seed` drives the noise of its train steps."""
    keras.utils.set_random_seed(1234)
    arguments = {
        "image_shape": IMAGE_SHAPE,
        "latent_dim": LATENT_DIM,
        "generator": TINY_GENERATOR,
        "discriminator": TINY_DISCRIMINATOR,
        "seed": seed,
        **overrides,
    }
    return GAN(**arguments)


def compile_gan(gan, loss="bce", learning_rate=1e-2, **kwargs):
    """Compiles with two Adams. Tests about the maths pass `run_eagerly=True`: tracing a train
    function costs seconds, while the compiled paths have their own tests (phases, jit, real MNIST)."""
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate),
        g_optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        **kwargs,
    )
    return gan


def real_batch(count=16, seed=0, shape=IMAGE_SHAPE):
    return np.random.default_rng(seed).uniform(-1, 1, (count, *shape)).astype("float32")


def weights_of(network):
    return [weight.numpy() for weight in network.weights]


def unchanged_paths(before, network):
    return {w.path for old, w in zip(before, network.weights) if np.array_equal(old, w.numpy())}


def assert_same_weights(before, network):
    for old, new in zip(before, weights_of(network)):
        np.testing.assert_array_equal(old, new)


def changed_count(before, network):
    return sum(not np.array_equal(old, new) for old, new in zip(before, weights_of(network)))


# -- each phase updates only its own network ------------------------------------------------------

@pytest.mark.parametrize("mode, loss", [("eager", "bce"), ("graph", "bce"), ("xla", "bce"), ("graph", "wgan-gp")])
def test_discriminator_phase_changes_no_generator_weight(mode, loss):
    gan = compile_gan(tiny_gan(), loss=loss)
    step = gan.discriminator_step
    if mode != "eager":
        step = tf.function(step, jit_compile=mode == "xla")
    generator_before, ema_before = weights_of(gan.generator), weights_of(gan.ema_generator)
    discriminator_before = weights_of(gan.discriminator)
    step(tf.constant(real_batch()))
    assert_same_weights(generator_before, gan.generator)
    assert_same_weights(ema_before, gan.ema_generator)
    # Every discriminator kernel, bias, BN scale/offset and moving statistic moved, except the
    # critic's output bias under WGAN-GP: mean(fake + b) - mean(real + b) does not depend on it.
    expected_unchanged = {"logit/bias"} if loss == "wgan-gp" else set()
    assert unchanged_paths(discriminator_before, gan.discriminator) == expected_unchanged


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_generator_phase_changes_no_discriminator_weight(mode):
    gan = compile_gan(tiny_gan())
    step = gan.generator_step
    if mode != "eager":
        step = tf.function(step, jit_compile=mode == "xla")
    discriminator_before, ema_before = weights_of(gan.discriminator), weights_of(gan.ema_generator)
    generator_before = weights_of(gan.generator)
    step(16)
    assert_same_weights(discriminator_before, gan.discriminator)
    assert_same_weights(ema_before, gan.ema_generator)
    assert unchanged_paths(generator_before, gan.generator) == set()


def test_train_step_updates_each_optimizer_on_its_own_network_and_d_steps_times():
    gan = compile_gan(tiny_gan(), loss="wgan-gp", d_steps=3, run_eagerly=True)
    gan.fit(real_batch(32), batch_size=16, epochs=1, verbose=0)
    assert int(gan.d_optimizer.iterations) == 3 * 2
    assert int(gan.g_optimizer.iterations) == 2
    d_slots = {id(v) for v in gan.discriminator.trainable_variables}
    g_slots = {id(v) for v in gan.generator.trainable_variables}
    assert {id(v) for v in gan.d_optimizer._trainable_variables} == d_slots
    assert {id(v) for v in gan.g_optimizer._trainable_variables} == g_slots


# -- EMA ------------------------------------------------------------------------------------------

class RecordGeneratorWeights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.history = []

    def on_train_batch_end(self, batch, logs=None):
        self.history.append([w.numpy() for w in self.model.generator.weights])


@pytest.mark.parametrize("decay, warmup, eager", [(0.9, False, True), (0.999, True, False)])
def test_ema_after_k_steps_equals_analytic_ema_of_recorded_weights(decay, warmup, eager):
    gan = compile_gan(tiny_gan(ema_decay=decay, ema_warmup=warmup), run_eagerly=eager)
    average = weights_of(gan.generator)
    recorder = RecordGeneratorWeights()
    gan.fit(real_batch(64), batch_size=16, epochs=1, verbose=0, callbacks=[recorder])
    assert len(recorder.history) == 4
    trainable = [w.trainable for w in gan.generator.weights]
    for step, weights in enumerate(recorder.history):
        rate = min(decay, (1 + step) / (10 + step)) if warmup else decay
        average = [
            rate * avg + (1 - rate) * w if is_trainable else w
            for avg, w, is_trainable in zip(average, weights, trainable)
        ]
    for expected, got in zip(average, weights_of(gan.ema_generator)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # The EMA really lags the generator (it is not a copy).
    assert not np.allclose(weights_of(gan.ema_generator)[0], weights_of(gan.generator)[0])
    assert int(gan.ema_updates) == 4


def test_sample_uses_the_ema_generator_by_default():
    gan = compile_gan(tiny_gan(ema_decay=0.9, ema_warmup=False), run_eagerly=True)
    gan.fit(real_batch(32), batch_size=16, epochs=1, verbose=0)
    latents = gan.latent_grid(5, seed=3)
    ema_images = np.asarray(gan.ema_generator(latents, training=False))
    raw_images = np.asarray(gan.generator(latents, training=False))
    np.testing.assert_allclose(gan.sample(5, seed=3), ema_images, rtol=1e-6)
    np.testing.assert_allclose(gan.sample(5, seed=3, use_ema=False), raw_images, rtol=1e-6)
    assert not np.allclose(ema_images, raw_images)


def test_sample_values_shape_and_seeds():
    gan = tiny_gan()
    images = gan.sample(6, seed=1)
    assert images.shape == (6, *IMAGE_SHAPE) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, gan.sample(6, seed=1))
    assert not np.allclose(images, gan.sample(6, seed=2))
    # seed=None draws fresh latents each call without touching the training noise.
    training_state = gan.seed_generator.state.numpy()
    assert not np.allclose(gan.sample(6), gan.sample(6))
    np.testing.assert_array_equal(training_state, gan.seed_generator.state.numpy())


def test_without_ema_sampling_uses_the_generator():
    gan = tiny_gan(ema_decay=None)
    assert gan.ema_generator is None
    np.testing.assert_array_equal(gan.sample(3, seed=0), gan.generate(gan.latent_grid(3, 0), use_ema=False))
    with pytest.raises(ValueError, match="use_ema=False"):
        gan.sample(3, seed=0, use_ema=True)


# -- from_vae -------------------------------------------------------------------------------------

def tiny_vae(output_activation="sigmoid"):
    from gencompare.models.vae import VAE

    vae = VAE(
        image_shape=IMAGE_SHAPE,
        latent_dim=LATENT_DIM,
        encoder={"filters": [4, 8]},
        decoder={"base_shape": [2, 2, 8], "filters": [8, 4], "batch_norm": True,
                 "output_activation": output_activation},
        reconstruction_loss="mse",
        value_range=(0, 1) if output_activation == "sigmoid" else (-1, 1),
    )
    # Random weights everywhere, BatchNorm statistics included, so that a missed copy shows.
    rng = np.random.default_rng(5)
    for weight in vae.decoder.weights:
        values = rng.normal(scale=0.5, size=weight.shape)
        weight.assign(np.abs(values) + 0.5 if "variance" in weight.path else values)
    return vae


@pytest.mark.parametrize(
    "decoder_output, value_range",
    [("sigmoid", (-1, 1)), ("sigmoid", (0, 1)), ("tanh", (0, 1)), ("tanh", (-1, 1))],
)
def test_from_vae_generator_draws_the_decoders_images(decoder_output, value_range):
    vae = tiny_vae(decoder_output)
    gan = GAN.from_vae(vae, value_range=value_range)
    latents = np.random.default_rng(0).normal(size=(16, LATENT_DIM)).astype("float32")
    decoded = np.asarray(vae.decode(tf.constant(latents)))
    # Map the decoder's range onto the GAN's: [0, 1] -> [-1, 1] is 2x - 1, the reverse (x + 1) / 2.
    source_low = 0.0 if decoder_output == "sigmoid" else -1.0
    unit = (decoded - source_low) / (1.0 - source_low)
    expected = unit * (value_range[1] - value_range[0]) + value_range[0]
    np.testing.assert_allclose(np.asarray(gan.generator(latents)), expected, atol=1e-5)
    # The EMA copy starts from the copied weights, so default sampling draws the same images.
    np.testing.assert_allclose(gan.generate(latents), expected, atol=1e-5)
    assert gan.image_shape == vae.image_shape and gan.latent_dim == vae.latent_dim


def test_from_vae_gan_trains_and_rejects_conflicting_arguments():
    vae = tiny_vae()
    gan = compile_gan(GAN.from_vae(vae, discriminator=TINY_DISCRIMINATOR, seed=3), run_eagerly=True)
    history = gan.fit(real_batch(16), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["g_loss"][0])
    with pytest.raises(ValueError, match="latent_dim"):
        GAN.from_vae(vae, latent_dim=8)
    with pytest.raises(ValueError, match="sigmoid or a tanh"):
        GAN.from_vae(tiny_vae("linear"))


# -- training through Keras -------------------------------------------------------------------------

@pytest.mark.parametrize("loss, eager", [("bce", True), ("hinge", True), ("wgan-gp", False)])
def test_fit_and_evaluate_report_finite_metrics_that_reset(loss, eager):
    gan = compile_gan(tiny_gan(), loss=loss, label_smoothing=0.1 if loss == "bce" else 0.0,
                      instance_noise=0.05, run_eagerly=eager)
    history = gan.fit(real_batch(32), batch_size=16, epochs=1, verbose=0,
                      validation_data=(real_batch(16, seed=1),))
    expected = {"d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy"}
    if loss == "wgan-gp":
        expected.add("gradient_penalty")
    assert set(history.history) == expected | {f"val_{name}" for name in expected}
    assert all(np.isfinite(values).all() for values in history.history.values())
    for name in ("d_real_accuracy", "d_fake_accuracy"):
        assert all(0.0 <= value <= 1.0 for value in history.history[name])
    # Validation reset the trackers: they hold its single batch, not the two training steps too.
    assert int(gan.d_loss_tracker.count) == 1 and int(gan.g_loss_tracker.count) == 1
    # evaluate changes no weight (test_step does not train)
    before = weights_of(gan)
    results = gan.evaluate(real_batch(16, seed=2), batch_size=16, verbose=0, return_dict=True)
    assert set(results) == expected
    for old, new in zip(before, weights_of(gan)):
        np.testing.assert_array_equal(old, new)


def test_jit_on_and_off_give_the_same_first_step_losses():
    # The GAN's own noise is the same with and without XLA; Keras' Dropout is not, so none here.
    data = real_batch(16)
    results = {}
    for jit in (False, True):
        gan = tiny_gan(seed=7, discriminator={**TINY_DISCRIMINATOR, "dropout": 0.0})
        compile_gan(gan, jit_compile=jit, instance_noise=0.1)
        assert gan.jit_compile is jit
        results[jit] = gan.train_on_batch(data, return_dict=True)
    for name in ("d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy"):
        assert results[True][name] == pytest.approx(results[False][name], rel=1e-4, abs=1e-5)


def test_noise_draws_match_with_and_without_xla_and_have_the_right_law():
    draws = {}
    for jit in (False, True):
        gan = tiny_gan(seed=11)
        draw = tf.function(lambda: (gan._latents(4000), gan._interpolation_weights(4000)), jit_compile=jit)
        draws[jit] = [np.asarray(value) for value in draw()]
    for eager_value, xla_value in zip(draws[False], draws[True]):
        np.testing.assert_allclose(xla_value, eager_value, rtol=1e-5, atol=1e-6)
    latents, alpha = draws[False]
    assert abs(latents.mean()) < 0.02 and abs(latents.std() - 1.0) < 0.02
    assert 0.0 < alpha.min() and alpha.max() < 1.0
    # Uniform(0, 1): deciles at 0.1, 0.2, ... within sampling error (n = 4000: σ ≈ 0.005).
    np.testing.assert_allclose(np.quantile(alpha, np.linspace(0.1, 0.9, 9)), np.linspace(0.1, 0.9, 9), atol=0.025)


def test_same_seed_same_step_and_each_step_draws_fresh_noise():
    # The three models start from the same weights (tiny_gan sets the global seed); only their
    # `seed`, hence their noise, differs.
    data = real_batch(16)
    first = compile_gan(tiny_gan(seed=3), learning_rate=0.0, run_eagerly=True)
    twin = compile_gan(tiny_gan(seed=3), learning_rate=0.0, run_eagerly=True)
    other = compile_gan(tiny_gan(seed=4), learning_rate=0.0, run_eagerly=True)
    logs = [model.train_on_batch(data, return_dict=True) for model in (first, twin, other)]
    assert logs[0] == logs[1]
    assert logs[0]["g_loss"] != logs[2]["g_loss"]
    # With a zero learning rate only fresh noise can change the losses from one step to the next.
    first.reset_metrics()
    assert first.train_on_batch(data, return_dict=True)["g_loss"] != logs[0]["g_loss"]


def test_compile_passes_jit_compile_on_and_keeps_auto_default():
    gan = compile_gan(tiny_gan())
    assert gan.jit_compile is False  # "auto" resolves to off on a CPU-only machine
    assert compile_gan(tiny_gan(), jit_compile=True).jit_compile is True


def test_mixed_precision_wraps_both_optimizers_in_loss_scaling():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        gan = compile_gan(tiny_gan())
        assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
        logits = gan.discriminator(real_batch(2))
        assert logits.dtype == "float32" and gan.generator(gan.latent_grid(2, 0)).dtype == "float32"
        gan.run_eagerly = True
        logs = gan.train_on_batch(real_batch(16), return_dict=True)
        assert np.isfinite(logs["d_loss"]) and np.isfinite(logs["g_loss"])
    finally:
        keras.config.set_dtype_policy(previous)


# -- saving ---------------------------------------------------------------------------------------

def test_keras_round_trip_restores_networks_ema_and_compile_state(tmp_path):
    gan = compile_gan(tiny_gan(ema_decay=0.9), loss="wgan-gp", gp_weight=5.0, d_steps=2, run_eagerly=True)
    gan.fit(real_batch(32), batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "gan.keras"
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GAN)
    np.testing.assert_array_equal(loaded.sample(8, seed=4), gan.sample(8, seed=4))
    np.testing.assert_array_equal(loaded.sample(8, seed=4, use_ema=False), gan.sample(8, seed=4, use_ema=False))
    for network in ("generator", "discriminator", "ema_generator"):
        for old, new in zip(weights_of(getattr(gan, network)), weights_of(getattr(loaded, network))):
            np.testing.assert_array_equal(old, new)
    assert int(loaded.ema_updates) == 2
    assert loaded.adversarial_loss.name == "wgan-gp" and loaded.gp_weight == 5.0 and loaded.d_steps == 2
    assert loaded.run_eagerly is True
    # Optimizer state (iterations and Adam moments) came back, so training resumes where it stopped.
    assert int(loaded.d_optimizer.iterations) == 4 and int(loaded.g_optimizer.iterations) == 2
    for old, new in zip(gan.g_optimizer.variables, loaded.g_optimizer.variables):
        np.testing.assert_array_equal(old.numpy(), new.numpy())
    loaded.fit(real_batch(16), batch_size=16, epochs=1, verbose=0)
    assert int(loaded.g_optimizer.iterations) == 3


def test_config_round_trip_builds_the_same_architecture():
    gan = tiny_gan(ema_decay=0.99, ema_warmup=False, value_range=(0, 1),
                   generator={**TINY_GENERATOR, "output_activation": "sigmoid"})
    clone = GAN.from_config(gan.get_config())
    assert clone.generator_spec == gan.generator_spec
    assert clone.discriminator_spec == gan.discriminator_spec
    assert (clone.ema_decay, clone.ema_warmup, clone.value_range) == (0.99, False, (0.0, 1.0))
    assert [w.shape for w in clone.weights] == [w.shape for w in gan.weights]


# -- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"loss": "lsgan"}, "bce, hinge, wgan-gp"),
        ({"loss": "hinge", "label_smoothing": 0.1}, "bce"),
        ({"d_steps": 0}, "d_steps"),
        ({"instance_noise": -0.1}, "instance_noise"),
        ({"optimizer": "adam"}, "d_optimizer"),
        ({"metrics": ["accuracy"]}, "built in"),
    ],
)
def test_compile_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_gan().compile(**arguments)


def test_compile_rejects_one_optimizer_for_both_networks():
    optimizer = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="same object"):
        tiny_gan().compile(d_optimizer=optimizer, g_optimizer=optimizer)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"generator": {**TINY_GENERATOR, "output_activation": "sigmoid"}}, "tanh"),
        ({"generator": {**TINY_GENERATOR, "widths": [1]}}, "Unknown `generator`"),
        ({"discriminator": {"filters": [4], "head": 1}}, "Unknown `discriminator`"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"discriminator": {"filters": [4], "head_dropout": 1.5}}, "head_dropout"),
    ],
)
def test_constructor_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_gan(**arguments)


def test_fit_rejects_uint8_and_unscaled_images():
    gan = compile_gan(tiny_gan())
    with pytest.raises(ValueError, match="uint8"):
        gan.fit(np.zeros((16, *IMAGE_SHAPE), "uint8"), batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="0–255"):
        gan.fit(np.full((16, *IMAGE_SHAPE), 200.0, "float32"), batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="shape"):
        gan.fit(real_batch(16, shape=(9, 9, 1)), batch_size=16, verbose=0)


def test_generate_rejects_latents_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"\(count, 4\)"):
        tiny_gan().generate(np.zeros((2, 5), "float32"))


# -- defaults and presets ---------------------------------------------------------------------------

@pytest.mark.parametrize("image_shape", [(28, 28, 1), (64, 64, 3), (32, 48, 3)])
def test_default_architectures_fit_the_image_shape(image_shape):
    gan = GAN(image_shape, 16)
    assert gan.generator.output_shape[1:] == image_shape
    assert gan.discriminator.output_shape == (None, 1)
    assert gan.generator_spec == default_generator_spec(image_shape)
    assert gan.discriminator_spec == default_discriminator_spec(image_shape)


@pytest.mark.parametrize("name", ["mnist", "cats", "faces64", "faces64_small", "mnist_fast", "cats_fast", "faces64_fast"])
def test_every_preset_builds_and_trains_one_step_on_its_dataset_shape(name):
    preset = GAN.preset(name)
    expected_shape = (28, 28, 1) if preset.dataset == "mnist" else (64, 64, 3)
    gan = GAN.from_preset(name)
    assert gan.image_shape == expected_shape and gan.value_range == (-1.0, 1.0)
    training = preset.training
    assert {"optimizer", "learning_rate", "beta_1", "batch_size", "epochs", "loss"} <= set(training)
    optimizer = lambda: keras.optimizers.Adam(training["learning_rate"], beta_1=training["beta_1"])  # noqa: E731
    options = {key: training[key] for key in GAN_COMPILE_OPTIONS if key in training}
    gan.compile(optimizer(), optimizer(), loss=training["loss"], run_eagerly=True, **options)
    generator_before = weights_of(gan.generator)
    logs = gan.train_on_batch(real_batch(2, shape=expected_shape), return_dict=True)
    assert np.isfinite(logs["d_loss"]) and np.isfinite(logs["g_loss"])
    assert changed_count(generator_before, gan.generator) > 0


def test_mnist_preset_is_the_tensorflow_tutorial_dcgan():
    gan = GAN.from_preset("mnist")
    # Parameter counts of the tutorial's models (its output layer has no bias: one parameter less).
    assert gan.generator.count_params() == 2_330_944 + 1
    assert gan.discriminator.count_params() == 212_865
    assert gan.latent_dim == 100


def test_faces64_preset_is_the_keras_io_dcgan():
    gan = GAN.from_preset("faces64")
    assert gan.discriminator.count_params() == 404_801
    assert gan.generator.count_params() == 3_979_651
    small = GAN.from_preset("faces64_small")
    assert small.discriminator.count_params() < gan.discriminator.count_params() / 10


def test_unknown_preset_lists_names():
    with pytest.raises(ValueError, match="faces64_small"):
        GAN.from_preset("celeba")


# -- real data --------------------------------------------------------------------------------------

@pytest.mark.shared_data
def test_two_epochs_on_real_mnist_change_the_samples(real_data_dir):
    from gencompare.data import load_images, to_dataset

    images = load_images("mnist", limit=2048, data_dir=real_data_dir)
    dataset = to_dataset(images, 64, value_range=(-1, 1), seed=0)
    # The mnist preset's layers, 4-8x narrower, so that the run takes seconds.
    preset = GAN.preset("mnist").model
    gan = GAN.from_preset(
        "mnist",
        generator={**preset["generator"], "base_shape": [7, 7, 32], "filters": [32, 16]},
        discriminator={**preset["discriminator"], "filters": [16, 32]},
    )
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    before = gan.sample(64, seed=0, use_ema=False)
    history = gan.fit(dataset, epochs=2, verbose=0)
    after = gan.sample(64, seed=0, use_ema=False)
    assert all(np.isfinite(values).all() for values in history.history.values())
    assert int(gan.g_optimizer.iterations) == 2 * 2048 // 64
    assert np.mean(np.abs(after - before)) > 0.02
    # MNIST is mostly black background (-1): the discriminator's first lesson pushes the
    # generator's mean pixel from ~0 towards the data's mean.
    data_mean = float(np.mean(images) / 127.5 - 1.0)
    assert abs(after.mean() - data_mean) < abs(before.mean() - data_mean)
    assert np.isfinite(gan.sample(4, seed=1)).all()


# -- recipes: DiffAugment, spectral norm, resize-conv, R1, half-life EMA -------------------------------

ALL_OPTIONS = {
    "generator": {**TINY_GENERATOR, "upsampling": "bilinear", "output_upsampling": "nearest", "blur": "all"},
    "discriminator": {"filters": [4, 8], "activation": "leaky_relu", "spectral_norm": True},
    "augment": "translation,cutout,color",
    "ema_halflife_images": 40,
    "ema_rampup": 0.5,
    "ema_standing_statistics": 32,
}
PLAIN_DISCRIMINATOR = {"filters": [4, 8], "activation": "leaky_relu"}


def test_every_recipe_option_survives_a_keras_round_trip(tmp_path):
    gan = compile_gan(tiny_gan(**ALL_OPTIONS), r1_weight=2.0, r1_every=2, steps_per_execution=2)
    gan.fit(real_batch(64), batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "gan.keras"
    gan.save(path)
    loaded = keras.saving.load_model(path)
    config = loaded.get_config()
    assert config["augment"] == "color,translation,cutout"
    assert (config["ema_halflife_images"], config["ema_rampup"]) == (40.0, 0.5)
    assert config["ema_standing_statistics"] == 32
    assert config["generator"]["upsampling"] == "bilinear" and config["discriminator"]["spectral_norm"] is True
    assert config["generator"]["output_upsampling"] == "nearest" and config["generator"]["blur"] == "all"
    assert (loaded.r1_weight, loaded.r1_every) == (2.0, 2)
    assert loaded.get_compile_config()["r1_weight"] == 2.0
    np.testing.assert_array_equal(loaded.sample(8, seed=4), gan.sample(8, seed=4))
    np.testing.assert_array_equal(loaded.sample(8, seed=4, use_ema=False), gan.sample(8, seed=4, use_ema=False))
    images = real_batch(8, seed=3)
    np.testing.assert_array_equal(loaded.discriminator(images), gan.discriminator(images))
    for old, new in zip(gan.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
    # Same state, same next step (seed generator, optimizers, EMA counter and power iterations included).
    logs = [model.fit(real_batch(32, seed=5), batch_size=16, epochs=1, verbose=0, shuffle=False).history
            for model in (gan, loaded)]
    assert logs[0] == logs[1]
    np.testing.assert_array_equal(loaded.sample(8, seed=4), gan.sample(8, seed=4))


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_generator_phase_with_spectral_norm_and_augment_changes_no_discriminator_weight(mode):
    gan = compile_gan(tiny_gan(**ALL_OPTIONS), r1_weight=1.0)
    gan.discriminator_step(tf.constant(real_batch()))  # power-iteration vectors exist and moved
    step = gan.generator_step if mode == "eager" else tf.function(gan.generator_step)
    discriminator_before = weights_of(gan.discriminator)
    generator_before = weights_of(gan.generator)
    step(16)
    assert_same_weights(discriminator_before, gan.discriminator)
    assert changed_count(generator_before, gan.generator) > 0


def test_discriminator_phase_with_recipes_changes_no_generator_weight_and_renormalises():
    gan = compile_gan(tiny_gan(**ALL_OPTIONS), r1_weight=1.0, r1_every=3)
    generator_before, ema_before = weights_of(gan.generator), weights_of(gan.ema_generator)
    tf.function(gan.discriminator_step)(tf.constant(real_batch()))
    assert_same_weights(generator_before, gan.generator)
    assert_same_weights(ema_before, gan.ema_generator)
    wrapped = [layer for layer in gan.discriminator._flatten_layers() if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 3  # two convs and the logit


@pytest.mark.parametrize("r1_every", [1, 3])
def test_r1_adds_half_gamma_times_the_penalty_gradient_to_the_discriminator_update(r1_every):
    """With SGD the update is linear in the objective: the R1 run minus the plain run must be
    −lr · r1_every · γ/2 · ∇θ R1(θ₀) on the first update (index 0, which lazy R1 keeps)."""
    gamma, learning_rate = 3.0, 0.1
    images = tf.constant(real_batch())
    updates = {}
    for weight in (0.0, gamma):
        gan = tiny_gan(discriminator=PLAIN_DISCRIMINATOR)
        gan.compile(keras.optimizers.SGD(learning_rate), keras.optimizers.SGD(learning_rate),
                    r1_weight=weight, r1_every=r1_every)
        before = [v.numpy() for v in gan.discriminator.trainable_variables]
        if weight:
            with tf.GradientTape() as tape:
                penalty = gan_losses.r1_penalty(lambda x: gan.discriminator(x, training=True), images)
            variables = gan.discriminator.trainable_variables
            gradients = tape.gradient(penalty, variables)  # None for the logit bias: ∇ₓ ignores it
            expected = [-learning_rate * r1_every * gamma / 2 * (np.zeros(v.shape) if g is None else g.numpy())
                        for g, v in zip(gradients, variables)]
        gan.discriminator_step(images)
        updates[weight] = [v.numpy() - b for v, b in zip(gan.discriminator.trainable_variables, before)]
        if weight:
            assert float(gan.r1_penalty_tracker.result()) == pytest.approx(float(penalty), rel=1e-5)
    for plain, with_r1, want in zip(updates[0.0], updates[gamma], expected):
        np.testing.assert_allclose(with_r1 - plain, want, rtol=1e-3, atol=1e-6)
    assert max(np.abs(w).max() for w in expected) > 1e-4


def test_lazy_r1_is_skipped_between_multiples_of_r1_every():
    gan = compile_gan(tiny_gan(discriminator=PLAIN_DISCRIMINATOR), r1_weight=1.0, r1_every=2)
    gan.discriminator_step(tf.constant(real_batch()))  # update 0: applied
    gan.r1_penalty_tracker.reset_state()
    gan.discriminator_step(tf.constant(real_batch()))  # update 1: skipped (weight 0 in the tracker)
    assert float(gan.r1_penalty_tracker.count) == 0.0
    assert "r1_penalty" in [metric.name for metric in gan.metrics]
    assert "r1_penalty" not in [metric.name for metric in compile_gan(tiny_gan()).metrics]


def test_augment_changes_what_the_discriminator_sees_only_in_training():
    plain, augmented = compile_gan(tiny_gan()), compile_gan(tiny_gan(augment="translation,cutout"))
    images = tf.constant(real_batch())
    np.testing.assert_array_equal(plain._discriminator_input(images), images)
    seen = augmented._discriminator_input(images).numpy()
    assert not np.allclose(seen, images.numpy())
    assert np.mean(seen == 0.0) > 0.1  # cutout holes and translation fill
    np.testing.assert_array_equal(augmented._discriminator_input(images, training=False), images)
    # Different augmentations at each call (fresh draws from the model's seed generator).
    assert not np.allclose(augmented._discriminator_input(images).numpy(), seen)


def test_half_life_ema_matches_the_analytic_stylegan_schedule():
    halflife, rampup, batch = 40.0, 0.5, 16
    gan = compile_gan(tiny_gan(ema_halflife_images=halflife, ema_rampup=rampup), run_eagerly=False)
    average = weights_of(gan.generator)
    recorder = RecordGeneratorWeights()
    gan.fit(real_batch(64), batch_size=batch, epochs=1, verbose=0, callbacks=[recorder])
    trainable = [w.trainable for w in gan.generator.weights]
    for step, weights in enumerate(recorder.history):
        rate = 0.5 ** (batch / min(halflife, (step + 1) * batch * rampup))
        average = [rate * avg + (1 - rate) * w if t else w for avg, w, t in zip(average, weights, trainable)]
    for expected, got in zip(average, weights_of(gan.ema_generator)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(weights_of(gan.ema_generator)[0], weights_of(gan.generator)[0])


def test_recipes_train_under_mixed_bfloat16_with_float32_images_and_logits():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        gan = compile_gan(tiny_gan(**ALL_OPTIONS), r1_weight=1.0, r1_every=2, steps_per_execution=2)
        logs = gan.fit(real_batch(64), batch_size=16, epochs=1, verbose=0).history
        assert all(np.isfinite(values[-1]) for values in logs.values()) and "r1_penalty" in logs
        latents = np.zeros((3, LATENT_DIM), "float32")
        assert gan.generator(latents).dtype == "float32" and tuple(gan.generator(latents).shape) == (3, *IMAGE_SHAPE)
        logits = gan.discriminator(real_batch(3), training=True)
        assert logits.dtype == "float32" and tuple(logits.shape) == (3, 1)
        assert gan.sample(5, seed=0).shape == (5, *IMAGE_SHAPE)
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"augment": "flip"}, "DiffAugment"),
        ({"ema_halflife_images": -1}, "ema_halflife_images"),
        ({"ema_rampup": 0.05}, "needs `ema_halflife_images`"),
        ({"ema_halflife_images": 100, "ema_rampup": 2.0}, "ema_rampup"),
    ],
)
def test_constructor_rejects_bad_recipe_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_gan(**arguments)


@pytest.mark.parametrize("arguments, message", [({"r1_weight": -1.0}, "r1_weight"), ({"r1_every": 0}, "r1_every")])
def test_compile_rejects_bad_r1_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tiny_gan().compile(**arguments)


# -- the EMA generator's standing BatchNorm statistics ------------------------------------------------

def batch_norm_inputs(network, latents):
    """Each BatchNorm layer's inputs over `latents`, the network in inference mode."""
    return {layer.name: np.asarray(keras.Model(network.input, layer.input)(latents, training=False), "float64")
            for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)}


def test_the_ema_generator_draws_with_its_own_statistics_recomputed_after_each_training_move():
    from gencompare.models.gan import STANDING_STATISTICS_SEED_OFFSET

    gan = compile_gan(tiny_gan(ema_standing_statistics=256), run_eagerly=True)
    gan.fit(real_batch(32), batch_size=16, epochs=1, verbose=0)
    latents = gan.latent_grid(256, gan.seed + STANDING_STATISTICS_SEED_OFFSET)
    copied = {layer.name: layer.moving_variance.numpy() for layer in gan.ema_generator.layers
              if isinstance(layer, keras.layers.BatchNormalization)}
    first = gan.sample(8, seed=0)
    for name, inputs in batch_norm_inputs(gan.ema_generator, latents).items():
        layer = gan.ema_generator.get_layer(name)
        axes = tuple(range(inputs.ndim - 1))
        np.testing.assert_allclose(layer.moving_mean.numpy(), inputs.mean(axes), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), inputs.var(axes), rtol=1e-3, atol=1e-6)
        assert not np.allclose(layer.moving_variance.numpy(), copied[name], rtol=1e-3)
    np.testing.assert_array_equal(gan.sample(8, seed=0), first)  # no training in between: same pictures
    # Training copies the generator's statistics into the average again; the next draw recomputes them.
    gan.fit(real_batch(32, seed=1), batch_size=16, epochs=1, verbose=0)
    gan.sample(8, seed=0)
    for name, inputs in batch_norm_inputs(gan.ema_generator, latents).items():
        axes = tuple(range(inputs.ndim - 1))
        np.testing.assert_allclose(gan.ema_generator.get_layer(name).moving_mean.numpy(), inputs.mean(axes),
                                   rtol=1e-4, atol=1e-5)
    # The raw generator keeps the statistics it trained with.
    raw = {layer.name: layer.moving_variance.numpy() for layer in gan.generator.layers
           if isinstance(layer, keras.layers.BatchNormalization)}
    assert all(not np.allclose(raw[name], gan.ema_generator.get_layer(name).moving_variance.numpy(), rtol=1e-3)
               for name in raw)


def test_without_standing_statistics_the_ema_generator_keeps_the_copied_ones():
    gan = compile_gan(tiny_gan(), run_eagerly=True)
    gan.fit(real_batch(32), batch_size=16, epochs=1, verbose=0)
    gan.sample(8, seed=0)
    for average, weight in zip(gan.ema_generator.weights, gan.generator.weights):
        if not weight.trainable:
            np.testing.assert_array_equal(average.numpy(), weight.numpy())
    with pytest.raises(ValueError, match="ema_standing_statistics=None"):
        gan.refresh_ema_statistics()


@pytest.mark.parametrize("count, ema_decay, message", [
    (1, 0.999, "≥ 2"), (True, 0.999, "≥ 2"), (100.0, 0.999, "≥ 2"), (64, None, "needs an EMA generator"),
])
def test_bad_standing_statistics_settings_are_refused(count, ema_decay, message):
    with pytest.raises(ValueError, match=message):
        tiny_gan(ema_standing_statistics=count, ema_decay=ema_decay)


def test_loading_or_resetting_weights_recomputes_the_standing_statistics(tmp_path):
    gan = compile_gan(tiny_gan(ema_standing_statistics=64), run_eagerly=True)
    gan.fit(real_batch(32), batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "trained.weights.h5"
    gan.save_weights(path)  # before any draw: the file holds the copied statistics
    trained = gan.sample(8, seed=0)
    # Other data, the same update count (and the same seed, so the same standing-statistics latents).
    other = compile_gan(tiny_gan(ema_standing_statistics=64), run_eagerly=True)
    other.fit(real_batch(32, seed=2), batch_size=16, epochs=1, verbose=0)
    other.sample(8, seed=0)
    other.load_weights(path)
    np.testing.assert_allclose(other.sample(8, seed=0), trained, rtol=1e-5, atol=1e-5)
    # A reset EMA copies the generator's statistics; the next draw recomputes them for the copy.
    gan.reset_ema()
    gan.sample(8, seed=0)
    assert gan._standing_statistics_at == 0
    reference = tiny_gan(ema_standing_statistics=64)
    ema.copy_weights(reference.ema_generator, gan.generator)
    reference.refresh_ema_statistics()
    np.testing.assert_allclose(gan.sample(8, seed=0), reference.sample(8, seed=0), rtol=1e-5, atol=1e-5)
