"""Tests for gencompare.models.blur: the fixed binomial low-pass filter."""

import keras
import numpy as np
import pytest

from gencompare.models.blur import BinomialBlur, binomial_kernel


def test_the_kernel_is_the_normalised_outer_product_of_the_taps():
    np.testing.assert_allclose(binomial_kernel(), np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    np.testing.assert_allclose(binomial_kernel([1, 4, 6, 4, 1]).sum(), 1.0)


@pytest.mark.parametrize("taps", [[1, 1], [1, -2, 1], [[1, 2, 1]], [0, 0, 0]])
def test_bad_taps_raise_value_error(taps):
    with pytest.raises(ValueError, match="odd number of non-negative"):
        BinomialBlur(taps)


def test_a_checkerboard_vanishes_everywhere_and_a_constant_stays():
    """Period 2 is the Nyquist frequency, where (1 + cos π)/2 = 0; frequency 0 keeps gain 1. Reflect
    padding keeps both true at the borders too."""
    rows, cols = np.indices((8, 10))
    checkerboard = np.where((rows + cols) % 2 == 0, 1.0, -1.0)
    images = np.stack([checkerboard, np.full((8, 10), 0.7)], axis=-1)[None].astype("float32")
    filtered = np.asarray(BinomialBlur()(images))
    assert filtered.shape == images.shape
    np.testing.assert_allclose(filtered[..., 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(filtered[..., 1], 0.7, atol=1e-6)


@pytest.mark.parametrize("period", [4, 8, 16])
def test_a_cosine_is_scaled_by_the_filters_frequency_response(period):
    """[1, 2, 1]/4 multiplies cos(ωx) by (1 + cos ω)/2 = cos²(ω/2); along the other axis the image is
    constant (gain 1). Checked away from the reflected borders."""
    omega = 2 * np.pi / period
    column = np.cos(omega * np.arange(32))
    image = np.tile(column[None, :], (6, 1))[None, :, :, None].astype("float32")
    filtered = np.asarray(BinomialBlur()(image))[0, :, 1:-1, 0]
    np.testing.assert_allclose(filtered, np.cos(omega / 2) ** 2 * image[0, :, 1:-1, 0], atol=1e-5)


def test_channels_are_filtered_separately():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 9, 9, 3)).astype("float32")
    together = np.asarray(BinomialBlur()(images))
    for channel in range(3):
        alone = np.asarray(BinomialBlur()(images[..., channel:channel + 1]))
        np.testing.assert_allclose(together[..., channel:channel + 1], alone, atol=1e-6)


def test_the_layer_runs_in_the_mixed_precision_compute_dtype_and_has_no_weights():
    layer = BinomialBlur(dtype="mixed_bfloat16")
    output = layer(np.ones((1, 4, 4, 2), "float32"))
    assert output.dtype == "bfloat16" and not layer.weights
    np.testing.assert_allclose(np.asarray(keras.ops.cast(output, "float32")), 1.0)


def test_the_taps_survive_the_config():
    layer = BinomialBlur([1, 4, 6, 4, 1], name="wide")
    clone = BinomialBlur.from_config(layer.get_config())
    assert clone.taps == (1.0, 4.0, 6.0, 4.0, 1.0) and clone.name == "wide"
    images = np.random.default_rng(1).normal(size=(1, 7, 7, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(clone(images)), np.asarray(layer(images)))


@pytest.mark.parametrize("shape, message", [((1, 8, 8), "height, width, channels"), ((1, 1, 8, 2), "must exceed 1")])
def test_inputs_it_cannot_filter_raise_value_error(shape, message):
    with pytest.raises(ValueError, match=message):
        BinomialBlur()(np.zeros(shape, "float32"))
