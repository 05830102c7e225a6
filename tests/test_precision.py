"""Mixed precision: bfloat16 and float16 steps train; float16 loss scales adapt and skip overflowing steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gencompare import distribute
from gencompare.models.gan import GAN
from gencompare.models.vae import VAE

IMAGE_SHAPE = (8, 8, 1)
TINY_VAE = {
    "image_shape": IMAGE_SHAPE,
    "latent_dim": 3,
    "encoder": {"filters": [4, 8], "kernel_size": 3, "strides": 2, "dense_units": 8, "batch_norm": True},
    "decoder": {"base_shape": [2, 2, 8], "filters": [4], "strides": 2, "output_strides": 2},
    "reconstruction_loss": "mse",
}
TINY_GAN = {
    "image_shape": IMAGE_SHAPE,
    "latent_dim": 5,
    "generator": {"base_shape": [2, 2, 8], "filters": [4], "kernel_size": 3, "strides": 2, "batch_norm": True,
                  "output_layer": "conv_transpose", "output_strides": 2},
    "discriminator": {"filters": [4, 8], "kernel_size": 3, "strides": 2, "activation": "leaky_relu"},
    "ema_decay": 0.9,
}
INITIAL_SCALE = 2.0**15


def images(count, value_range=(0, 1), seed=0):
    low, high = value_range
    return np.random.default_rng(seed).uniform(low, high, (count, *IMAGE_SHAPE)).astype("float32")


def dataset(batches):
    return tf.data.Dataset.from_tensor_slices(batches)


@pytest.fixture(autouse=True)
def restore_policy():
    yield
    keras.config.set_dtype_policy("float32")


def test_precision_names_are_checked_and_the_context_restores_the_policy():
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        distribute.set_precision("bfloat16")
    with distribute.precision("mixed_bfloat16") as policy:
        assert policy.compute_dtype == "bfloat16" and policy.variable_dtype == "float32"
        assert not distribute.uses_loss_scaling()
    assert keras.config.dtype_policy().name == "float32"
    assert distribute.uses_loss_scaling("mixed_float16")


@pytest.mark.parametrize("precision, compute", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_vae_trains_with_finite_float32_losses_and_outputs(precision, compute):
    keras.utils.set_random_seed(0)
    with distribute.precision(precision):
        vae = VAE(**TINY_VAE)
        vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert vae.encoder.get_layer("encoder_trunk").get_layer("conv_0").compute_dtype == compute
    assert {weight.dtype for weight in vae.weights} == {"float32"}
    history = vae.fit(dataset(images(16).reshape(2, 8, *IMAGE_SHAPE)), epochs=1, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())
    # Loss scaling exactly for float16 (Keras wraps the VAE's single optimizer itself).
    assert isinstance(vae.optimizer, keras.optimizers.LossScaleOptimizer) == (compute == "float16")
    batch = images(4)
    z_mean, z_log_var = vae.encode(batch)
    assert z_mean.dtype == z_log_var.dtype == "float32"
    assert vae(batch).dtype == "float32"
    terms = vae.loss_terms(batch)
    assert terms["reconstruction"].dtype == terms["kl"].dtype == "float32"


@pytest.mark.parametrize("precision, compute", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
@pytest.mark.parametrize("loss", ["bce", "wgan-gp"])
def test_gan_trains_with_finite_float32_losses_logits_and_ema(precision, compute, loss):
    keras.utils.set_random_seed(0)
    with distribute.precision(precision):
        gan = GAN(**TINY_GAN)
        gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    scaled = compute == "float16"
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer) == scaled
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) == scaled
    assert gan.generator.get_layer("deconv_0").compute_dtype == compute
    history = gan.fit(dataset(images(16, (-1, 1)).reshape(2, 8, *IMAGE_SHAPE)), epochs=1, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())
    latents = np.zeros((2, 5), "float32")
    assert gan.generator(latents).dtype == "float32"
    assert gan.discriminator(images(2, (-1, 1))).dtype == "float32"
    assert {weight.dtype for weight in gan.ema_generator.weights} == {"float32"}
    assert all(np.all(np.isfinite(weight)) for weight in gan.get_weights())


def test_float16_vae_overflow_lowers_the_scale_and_skips_the_step():
    keras.utils.set_random_seed(0)
    with distribute.precision("mixed_float16"):
        vae = VAE(**{**TINY_VAE, "encoder": {**TINY_VAE["encoder"], "batch_norm": False}})
        vae.compile(optimizer=keras.optimizers.SGD(0.01))
    vae.optimizer.build(vae.trainable_variables)
    assert float(vae.optimizer.dynamic_scale.numpy()) == INITIAL_SCALE
    before = [weight.numpy().copy() for weight in vae.trainable_variables]
    # Pixels of 1000 (train_step does not check the range, fit would): the squared error's gradient
    # times 2^15 exceeds float16's 65504 in the decoder's last conv.
    vae.train_step(tf.constant(np.full((8, *IMAGE_SHAPE), 1000.0, "float32")))
    assert float(vae.optimizer.dynamic_scale.numpy()) == INITIAL_SCALE / 2
    assert int(vae.optimizer.iterations.numpy()) == 0
    for weight, old in zip(vae.trainable_variables, before):
        np.testing.assert_array_equal(weight.numpy(), old)
    # A normal batch at the lowered scale trains.
    vae.train_step(tf.constant(images(8)))
    assert float(vae.optimizer.dynamic_scale.numpy()) == INITIAL_SCALE / 2
    assert int(vae.optimizer.iterations.numpy()) == 1
    assert any(not np.array_equal(weight.numpy(), old) for weight, old in zip(vae.trainable_variables, before))
    assert all(np.all(np.isfinite(weight.numpy())) for weight in vae.trainable_variables)


def test_float16_gan_overflow_lowers_both_scales_and_skips_both_updates():
    keras.utils.set_random_seed(0)
    with distribute.precision("mixed_float16"):
        gan = GAN(**TINY_GAN)
        gan.compile(d_optimizer=keras.optimizers.SGD(0.01), g_optimizer=keras.optimizers.SGD(0.01), loss="hinge")
    logit = gan.discriminator.get_layer("logit")
    normal_kernel = logit.kernel.numpy().copy()
    # A float32 logit layer with a 10^4 kernel: the scaled hinge gradients reaching the float16 trunk
    # (discriminator phase) and, through it, the float16 generator (generator phase) overflow.
    logit.kernel.assign(normal_kernel * 1e4)
    d_before = [weight.numpy().copy() for weight in gan.discriminator.trainable_variables]
    g_before = [weight.numpy().copy() for weight in gan.generator.trainable_variables]
    gan.train_step(tf.constant(images(8, (-1, 1))))
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        assert float(optimizer.dynamic_scale.numpy()) == INITIAL_SCALE / 2
        assert int(optimizer.iterations.numpy()) == 0
    for weight, old in zip(gan.discriminator.trainable_variables, d_before):
        np.testing.assert_array_equal(weight.numpy(), old)
    for weight, old in zip(gan.generator.trainable_variables, g_before):
        np.testing.assert_array_equal(weight.numpy(), old)
    # Back to a sane discriminator: both networks train, at the lowered scales.
    logit.kernel.assign(normal_kernel)
    gan.train_step(tf.constant(images(8, (-1, 1))))
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        assert float(optimizer.dynamic_scale.numpy()) == INITIAL_SCALE / 2
        assert int(optimizer.iterations.numpy()) == 1
    assert all(np.all(np.isfinite(weight)) for weight in gan.get_weights())
