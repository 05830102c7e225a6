"""FLOP counts of the networks (gencompare.models.flops): closed forms on tiny layers and models."""

import keras
import pytest

from gencompare.models import flops
from gencompare.models.gan import GAN
from gencompare.models.vae import VAE


def functional(input_shape, *layers):
    inputs = keras.Input(input_shape)
    outputs = inputs
    for layer in layers:
        outputs = layer(outputs)
    return keras.Model(inputs, outputs)


def test_dense_counts_two_flops_per_multiply_add():
    assert flops.forward_flops(functional((3,), keras.layers.Dense(5))) == 2 * 3 * 5


def test_conv_counts_every_output_position_times_the_kernel_and_input_channels():
    model = functional((4, 4, 2), keras.layers.Conv2D(5, 3, padding="same"), keras.layers.Conv2D(7, 2, strides=2))
    # 4×4×5 outputs × 3×3×2 taps, then 2×2×7 outputs × 2×2×5 taps.
    assert flops.forward_flops(model) == 2 * (16 * 5 * 9 * 2) + 2 * (4 * 7 * 4 * 5)


def test_transposed_conv_counts_every_input_position_times_the_kernel_and_output_channels():
    model = functional((2, 2, 3), keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same"))
    assert flops.forward_flops(model) == 2 * (4 * 3) * 16 * 4


def test_a_fused_nearest_resize_conv_counts_as_its_transposed_conv():
    from gencompare.models.resize_conv import NearestUpsamplingConv2D

    # k = 3, s = 2: a 4×4 transposed conv, the cost of DCGAN's; the explicit resize + 3×3 conv would
    # count 2 · (4·4 positions · 2² upsampled) · 9 · 3 · 5, 2.25 times as much.
    model = functional((4, 4, 3), NearestUpsamplingConv2D(5, 3, strides=2))
    assert flops.forward_flops(model) == 2 * (16 * 3) * 16 * 5


def test_uncounted_layers_add_nothing_and_wrappers_count_as_their_layer():
    plain = functional((8,), keras.layers.Dense(6), keras.layers.BatchNormalization(), keras.layers.ReLU())
    wrapped = functional((8,), keras.layers.SpectralNormalization(keras.layers.Dense(6)))
    assert flops.forward_flops(plain) == flops.forward_flops(wrapped) == 2 * 8 * 6


def test_nested_models_are_counted_once():
    inner = functional((3,), keras.layers.Dense(4))
    outer = functional((3,), inner, keras.layers.Dense(2))
    assert flops.forward_flops(outer) == 2 * 3 * 4 + 2 * 4 * 2


def test_the_mnist_dcgan_by_hand():
    gan = GAN.from_preset("mnist_fast", seed=0)
    latent = gan.latent_dim
    # Dense latent → 7×7×base, 4×4 stride-2 transposed convs to 14×14×base/2 and 28×28×base/4 (counted
    # per input pixel: each spreads k² taps), then a 3×3 conv to one channel (counted per output pixel).
    base = gan.generator.get_layer(index=1).units // 49
    generator = (2 * latent * 49 * base + 2 * 49 * base * 16 * (base // 2) + 2 * 196 * (base // 2) * 16 * (base // 4)
                 + 2 * 784 * 9 * (base // 4) * 1)
    assert flops.forward_flops(gan.generator) == generator


def test_training_flops_per_image_follow_the_documented_convention():
    gan = GAN.from_preset("mnist_fast", seed=0)
    generator, discriminator = flops.forward_flops(gan.generator), flops.forward_flops(gan.discriminator)
    assert flops.training_flops_per_image(gan) == 4 * generator + 9 * discriminator
    vae = VAE.from_preset("mnist_fast", seed=0)
    expected = 3 * (flops.forward_flops(vae.encoder) + flops.forward_flops(vae.decoder))
    assert flops.training_flops_per_image(vae) == expected > 0
    with pytest.raises(ValueError, match="needs a VAE or a GAN"):
        flops.training_flops_per_image(functional((3,), keras.layers.Dense(1)))


def test_parts_that_are_not_functional_models_are_refused_with_a_value_error():
    class LayersOnly:
        encoder, decoder = keras.layers.Dense(2), keras.layers.Dense(3)

    with pytest.raises(ValueError, match="functional keras.Model"):
        flops.training_flops_per_image(LayersOnly())
