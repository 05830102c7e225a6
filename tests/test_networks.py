"""Tests for gencompare.models.networks: the shared conv builders."""

import keras
import numpy as np
import pytest

from gencompare.models import networks
from gencompare.models.resize_conv import NearestUpsamplingConv2D


def test_conv_trunk_downsamples_and_flattens():
    trunk = networks.build_conv_trunk((28, 28, 1), [8, 16], kernel_size=3, strides=[2, 2])
    assert trunk.output_shape == (None, 7 * 7 * 16)
    conv_layers = [layer for layer in trunk.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in conv_layers] == [8, 16]
    assert all(layer.use_bias for layer in conv_layers)


def test_batch_norm_replaces_the_conv_bias():
    trunk = networks.build_conv_trunk((8, 8, 3), [4], batch_norm=True)
    conv = next(layer for layer in trunk.layers if isinstance(layer, keras.layers.Conv2D))
    assert not conv.use_bias
    assert any("batch_normalization" in type(layer).__name__.lower() or "bn_" in layer.name
               for layer in trunk.layers)


def test_leaky_relu_uses_the_given_slope():
    layer = networks.activation_layer("leaky_relu", leaky_slope=0.3)
    np.testing.assert_allclose(np.asarray(layer(np.array([-2.0, 1.0], "float32"))), [-0.6, 1.0])


def test_generator_produces_the_requested_shape_with_a_float32_output():
    generator = networks.build_deconv_generator(
        5, (28, 28, 1), base_shape=(7, 7, 8), filters=[8, 4], strides=2, output_activation="tanh"
    )
    images = np.asarray(generator(np.zeros((3, 5), "float32")))
    assert images.shape == (3, 28, 28, 1)
    assert generator.layers[-1].dtype_policy.compute_dtype == "float32"
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_generator_that_cannot_reach_the_shape_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"produces images of shape \(32, 32, 1\), not \(28, 28, 1\).*base_shape"):
        networks.build_deconv_generator(5, (28, 28, 1), base_shape=(8, 8, 8), filters=[8, 4], strides=2)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"filters": [4, 4], "strides": [2]}, "`strides` has 1 entries but there are 2 layers"),
        ({"filters": [4], "activation": "softplus"}, "Unknown activation 'softplus'"),
        ({"filters": []}, "at least one conv layer"),
        ({"filters": [4], "dropout": 1.0}, "dropout"),
    ],
)
def test_conv_trunk_bad_arguments_raise_value_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        networks.build_conv_trunk((8, 8, 1), **arguments)


def test_generator_rejects_an_unknown_output_layer():
    with pytest.raises(ValueError, match="output_layer"):
        networks.build_deconv_generator(2, (4, 4, 1), base_shape=(4, 4, 1), filters=[], output_layer="dense")


# -- spectral normalisation ----------------------------------------------------------------------

def _spectral_norm_layers(network):
    return [layer for layer in network._flatten_layers(include_self=False) if isinstance(layer, keras.layers.SpectralNormalization)]


def _largest_singular_value(kernel):
    matrix = np.asarray(kernel).reshape(-1, np.asarray(kernel).shape[-1])
    return float(np.linalg.svd(matrix, compute_uv=False)[0])


def test_spectral_norm_wraps_every_conv_and_drives_sigma_to_one():
    keras.utils.set_random_seed(0)
    trunk = networks.build_conv_trunk((16, 16, 3), [8, 16], kernel_size=3, spectral_norm=True)
    wrapped = _spectral_norm_layers(trunk)
    assert len(wrapped) == 2
    for layer in wrapped:  # a kernel far from norm 1
        layer.kernel.assign(np.asarray(layer.kernel) * 7.0)
    assert min(_largest_singular_value(layer.kernel) for layer in wrapped) > 2.0
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    for _ in range(30):  # each training call: one power iteration, kernel rescaled by its estimate
        trunk(images, training=True)
    for layer in wrapped:
        assert _largest_singular_value(layer.kernel) == pytest.approx(1.0, abs=0.02)


def test_spectral_norm_leaves_the_kernel_alone_in_inference():
    trunk = networks.build_conv_trunk((8, 8, 1), [4], spectral_norm=True)
    layer = _spectral_norm_layers(trunk)[0]
    before = np.asarray(layer.kernel).copy()
    trunk(np.ones((1, 8, 8, 1), "float32"), training=False)
    np.testing.assert_array_equal(np.asarray(layer.kernel), before)


def test_without_spectral_norm_no_layer_is_wrapped():
    assert not _spectral_norm_layers(networks.build_conv_trunk((8, 8, 1), [4, 8]))


# -- resize-convolution upsampling -----------------------------------------------------------------

@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
@pytest.mark.parametrize(
    "output_shape, spec",
    [
        ((28, 28, 1), {"base_shape": [7, 7, 32], "filters": [16], "kernel_size": 4, "strides": 2,
                       "output_layer": "conv_transpose", "output_kernel_size": 4, "output_strides": 2}),
        ((64, 64, 3), {"base_shape": [4, 4, 32], "filters": [32, 16, 8], "kernel_size": 3, "strides": 2,
                       "output_layer": "conv_transpose", "output_kernel_size": 3, "output_strides": 2}),
        ((64, 64, 3), {"base_shape": [8, 8, 16], "filters": [16, 8, 8], "strides": 2, "output_layer": "conv"}),
    ],
)
def test_resize_conv_generator_produces_the_shape_without_transposed_convs(upsampling, output_shape, spec):
    generator = networks.build_deconv_generator(8, output_shape, upsampling=upsampling, batch_norm=True, **spec)
    assert generator.output_shape == (None, *output_shape)
    assert not [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    upsamplers = [layer for layer in generator.layers if isinstance(layer, keras.layers.UpSampling2D)]
    fused = [layer for layer in generator.layers if isinstance(layer, NearestUpsamplingConv2D)]
    if upsampling == "nearest":  # each nearest resize and its conv are one fused layer
        assert fused and not upsamplers
    else:
        assert upsamplers and all(layer.interpolation == upsampling for layer in upsamplers) and not fused
    assert generator.get_layer("to_image") is not None
    images = generator(np.random.default_rng(0).normal(size=(2, 8)).astype("float32"))
    assert images.dtype == "float32" and tuple(images.shape) == (2, *output_shape)


def test_resize_conv_under_mixed_precision_keeps_a_float32_image():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        generator = networks.build_deconv_generator(
            8, (28, 28, 1), base_shape=[7, 7, 16], filters=[8], strides=2, batch_norm=True,
            output_layer="conv_transpose", output_strides=2, upsampling="bilinear",
        )
        images = generator(np.zeros((2, 8), "float32"))
        assert images.dtype == "float32" and tuple(images.shape) == (2, 28, 28, 1)
        assert generator.get_layer("conv_0").compute_dtype == "bfloat16"
    finally:
        keras.config.set_dtype_policy(previous)


def test_nearest_upsampling_makes_two_by_two_blocks_before_the_conv():
    # With a 1×1 conv after the resize, each output pixel of a 2×2 block is the same.
    generator = networks.build_deconv_generator(
        4, (8, 8, 1), base_shape=[4, 4, 2], filters=[], output_layer="conv_transpose",
        output_kernel_size=1, output_strides=2, output_activation="linear", upsampling="nearest",
    )
    images = np.asarray(generator(np.random.default_rng(1).normal(size=(1, 4)).astype("float32")))[0, :, :, 0]
    np.testing.assert_allclose(images[0::2, 0::2], images[1::2, 1::2], rtol=1e-6)
    assert np.std(images) > 0


def test_generator_rejects_an_unknown_upsampling():
    with pytest.raises(ValueError, match="upsampling"):
        networks.build_deconv_generator(4, (8, 8, 1), base_shape=[4, 4, 2], filters=[2], upsampling="cubic")


@pytest.mark.parametrize("output_upsampling", ["nearest", "bilinear"])
def test_output_upsampling_resizes_only_the_output_layer(output_upsampling):
    generator = networks.build_deconv_generator(
        8, (64, 64, 3), base_shape=[4, 4, 16], filters=[16, 8, 8], kernel_size=4, strides=2, batch_norm=True,
        output_layer="conv_transpose", output_kernel_size=4, output_strides=2, output_activation="tanh",
        output_upsampling=output_upsampling,
    )
    assert generator.output_shape == (None, 64, 64, 3)
    transposed = [layer.name for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert transposed == ["deconv_0", "deconv_1", "deconv_2"]
    upsamplers = [layer for layer in generator.layers if isinstance(layer, keras.layers.UpSampling2D)]
    to_image = generator.get_layer("to_image")
    if output_upsampling == "nearest":
        assert not upsamplers and isinstance(to_image, NearestUpsamplingConv2D)
        assert to_image.strides == 2 and to_image.input.shape[1:3] == (32, 32)
    else:
        assert [(layer.name, layer.interpolation) for layer in upsamplers] == [("upsample_to_image", output_upsampling)]
        assert isinstance(to_image, keras.layers.Conv2D) and not isinstance(to_image, keras.layers.Conv2DTranspose)
        assert to_image.strides == (1, 1) and to_image.input.shape[1:3] == (64, 64)


def test_output_upsampling_transpose_keeps_transposed_convs_after_resize_blocks():
    generator = networks.build_deconv_generator(
        8, (28, 28, 1), base_shape=[7, 7, 8], filters=[8], kernel_size=4, strides=2, upsampling="nearest",
        output_layer="conv_transpose", output_kernel_size=4, output_strides=2, output_upsampling="transpose",
    )
    assert isinstance(generator.get_layer("conv_0"), NearestUpsamplingConv2D)
    assert isinstance(generator.get_layer("to_image"), keras.layers.Conv2DTranspose)
    assert generator.output_shape == (None, 28, 28, 1)


def test_generator_rejects_an_unknown_output_upsampling():
    with pytest.raises(ValueError, match="output_upsampling"):
        networks.build_deconv_generator(4, (8, 8, 1), base_shape=[4, 4, 2], filters=[2], output_strides=2,
                                        output_layer="conv_transpose", output_upsampling="cubic")


# -- the binomial blur after upsampling --------------------------------------------------------------

FACE_SPEC = {"base_shape": [4, 4, 16], "filters": [16, 8, 8], "kernel_size": 4, "strides": 2, "batch_norm": True,
             "output_layer": "conv_transpose", "output_kernel_size": 4, "output_strides": 2, "output_activation": "tanh"}


@pytest.mark.parametrize("blur, names", [(None, []), ("output", ["blur_to_image"]),
                                         ("hidden", ["blur_0", "blur_1", "blur_2"]),
                                         ("all", ["blur_0", "blur_1", "blur_2", "blur_to_image"])])
def test_blur_follows_the_upsampling_layers_it_names(blur, names):
    generator = networks.build_deconv_generator(8, (64, 64, 3), blur=blur, **FACE_SPEC)
    assert [layer.name for layer in generator.layers if layer.name.startswith("blur")] == names
    assert generator.output_shape == (None, 64, 64, 3)
    if blur in ("hidden", "all"):  # the filter comes before the BatchNorm of its block
        order = [layer.name for layer in generator.layers]
        assert order.index("deconv_0") < order.index("blur_0") < order.index("bn_0")


def test_a_blurred_generator_cannot_draw_a_checkerboard():
    """Whatever the weights, the image before tanh is a low-passed one: its Nyquist component is ~0.

    Exactly 0 for a circular filter; the reflect padding leaks a little at the borders (the
    row-alternating sum of a blurred row keeps `(x₀ + x₁) / 4`-sized edge terms), about 1e-4 of the
    pixel scale at 64×64, against ≥ 1e-2 without the filter.
    """
    keras.utils.set_random_seed(0)
    generator = networks.build_deconv_generator(8, (64, 64, 3), blur="output", **{**FACE_SPEC, "output_activation": "linear"})
    plain = networks.build_deconv_generator(8, (64, 64, 3), **{**FACE_SPEC, "output_activation": "linear"})
    hidden = networks.build_deconv_generator(8, (64, 64, 3), blur="hidden", **{**FACE_SPEC, "output_activation": "linear"})
    rows, cols = np.indices((64, 64))
    checkerboard = np.where((rows + cols) % 2 == 0, 1.0, -1.0)

    def nyquist_share(network):
        """The checkerboard component's amplitude relative to the mean absolute pixel."""
        images = np.asarray(network(np.random.default_rng(0).normal(size=(4, 8)).astype("float32")), "float64")
        return (np.abs(np.einsum("bhwc,hw->bc", images, checkerboard)) / (64 * 64)).max() / np.abs(images).mean()

    assert nyquist_share(generator) < 1e-3
    assert nyquist_share(plain) > 1e-2
    assert nyquist_share(hidden) > 1e-2  # "hidden" leaves the pixel layer free to draw the finest detail


def test_generator_rejects_an_unknown_blur():
    with pytest.raises(ValueError, match="Unknown blur 'gaussian'"):
        networks.build_deconv_generator(8, (64, 64, 3), blur="gaussian", **FACE_SPEC)
