"""`NearestUpsamplingConv2D`: nearest resize + conv computed as one transposed conv (same function, same
gradients, no checkerboard, a transposed conv's cost)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gencompare.models.resize_conv import NearestUpsamplingConv2D


def explicit_resize_conv(layer, images):
    """The reference: `UpSampling2D(nearest)` then a 'same' `Conv2D` with the layer's kernel and bias."""
    upsampled = keras.layers.UpSampling2D(layer.strides, interpolation="nearest")(images)
    outputs = keras.ops.conv(upsampled, layer.kernel, strides=1, padding="same")
    return outputs + layer.bias if layer.bias is not None else outputs


def random_images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("kernel_size, strides", [(3, 2), (4, 2), (5, 2), (1, 2), (2, 2), (3, 3), (4, 3), (3, 1)])
@pytest.mark.parametrize("height, width", [(5, 5), (4, 7)])
def test_it_equals_nearest_upsampling_then_a_same_convolution(kernel_size, strides, height, width):
    keras.utils.set_random_seed(kernel_size * 10 + strides)
    layer = NearestUpsamplingConv2D(4, kernel_size, strides=strides)
    images = random_images((2, height, width, 3))
    layer.build(images.shape)
    layer.bias.assign(np.random.default_rng(1).normal(size=4))
    outputs = np.asarray(layer(images))
    assert outputs.shape == (2, height * strides, width * strides, 4)
    np.testing.assert_allclose(outputs, np.asarray(explicit_resize_conv(layer, images)), rtol=1e-4, atol=1e-4)


def test_its_gradients_are_those_of_the_explicit_resize_conv():
    keras.utils.set_random_seed(3)
    layer = NearestUpsamplingConv2D(3, 3, strides=2)
    images = tf.constant(random_images((2, 6, 6, 2)))
    target = tf.constant(random_images((2, 12, 12, 3), seed=4))
    gradients = []
    for forward in (layer, lambda x: explicit_resize_conv(layer, x)):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = tf.reduce_sum(tf.square(forward(images) - target))
        gradients.append(tape.gradient(loss, [images, layer.kernel.value, layer.bias.value]))
    for fused, explicit in zip(*gradients):
        np.testing.assert_allclose(np.asarray(fused), np.asarray(explicit), rtol=1e-4, atol=1e-4)


def test_a_constant_image_stays_constant_where_a_transposed_conv_draws_a_checkerboard():
    keras.utils.set_random_seed(5)
    constant = np.ones((1, 8, 8, 2), "float32")
    resized = np.asarray(NearestUpsamplingConv2D(1, 3, strides=2, use_bias=False)(constant))[0, 2:-2, 2:-2, 0]
    transposed = np.asarray(keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same", use_bias=False)(constant))
    transposed = transposed[0, 2:-2, 2:-2, 0]
    # Away from the zero-padded border every output pixel sums the same taps.
    assert np.ptp(resized) < 1e-5 * np.abs(resized).max()
    assert np.ptp(transposed) > 1e-2 * np.abs(transposed).max()  # the four phases use different taps


def test_the_kernel_has_the_shape_and_initialisation_of_the_conv_it_replaces():
    layer = NearestUpsamplingConv2D(6, 3, strides=2, use_bias=False)
    layer.build((None, 4, 4, 5))
    assert tuple(layer.kernel.shape) == (3, 3, 5, 6) and layer.bias is None
    assert tuple(layer.fused_kernel().shape) == (4, 4, 6, 5)
    # Glorot uniform over fan-in 3·3·5 and fan-out 3·3·6, as Conv2D's.
    limit = np.sqrt(6 / (9 * 5 + 9 * 6))
    assert np.abs(layer.kernel.numpy()).max() <= limit


def test_mixed_precision_computes_in_bfloat16_and_keeps_float32_weights():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(6)
        layer = NearestUpsamplingConv2D(4, 3, strides=2)
        images = random_images((2, 4, 4, 3))
        outputs = layer(images)
    finally:
        keras.config.set_dtype_policy(previous)
    assert outputs.dtype == "bfloat16" and layer.kernel.dtype == "float32"
    reference = np.asarray(explicit_resize_conv(layer, images))
    np.testing.assert_allclose(np.asarray(outputs, "float32"), reference, rtol=0.05, atol=0.05)


def test_the_config_rebuilds_the_same_layer():
    layer = NearestUpsamplingConv2D(5, 4, strides=3, use_bias=False, name="up")
    copy = NearestUpsamplingConv2D.from_config(layer.get_config())
    assert (copy.filters, copy.kernel_size, copy.strides, copy.use_bias, copy.name) == (5, 4, 3, False, "up")


@pytest.mark.parametrize("arguments", [{"filters": 0, "kernel_size": 3}, {"filters": 4, "kernel_size": 2.5},
                                       {"filters": 4, "kernel_size": 3, "strides": True}])
def test_bad_arguments_are_refused(arguments):
    with pytest.raises(ValueError, match="positive int"):
        NearestUpsamplingConv2D(**arguments)


def test_inputs_that_are_not_images_are_refused():
    with pytest.raises(ValueError, match="expects images"):
        NearestUpsamplingConv2D(4, 3)(np.zeros((2, 8, 3), "float32"))


def test_xla_compiles_it_to_the_same_result():
    keras.utils.set_random_seed(7)
    layer = NearestUpsamplingConv2D(3, 3, strides=2)
    images = tf.constant(random_images((2, 5, 5, 2)))
    eager = np.asarray(layer(images))
    compiled = tf.function(lambda x: layer(x), jit_compile=True)
    np.testing.assert_allclose(np.asarray(compiled(images)), eager, rtol=1e-5, atol=1e-5)
