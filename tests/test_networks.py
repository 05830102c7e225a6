"""Tests for gencompare.models.networks: the shared conv builders."""

import keras
import numpy as np
import pytest

from gencompare.models import networks


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
