"""A fixed binomial low-pass filter: the anti-aliasing blur that follows an upsampling layer.

A stride-2 transposed convolution (or a nearest resize) can draw a pattern that alternates from one
pixel to the next — the checkerboard or "speckle" of DCGAN samples (Odena et al., 2016). StyleGAN
(Karras et al., 2019/2020) follows every upsampling with a fixed FIR low-pass filter; Zhang (2019),
"Making Convolutional Networks Shift-Invariant Again", uses the same binomial filters. The 3×3
binomial `[1, 2, 1]ᵀ[1, 2, 1] / 16` has a response of exactly 0 at the Nyquist frequency (a pattern
of period 2 vanishes) and of 1 at frequency 0 (flat regions keep their value), so the network can no
longer draw a pixel-level checkerboard, for ~9 multiply-adds per value.
"""

import keras
import numpy as np

BINOMIAL_TAPS = (1.0, 2.0, 1.0)


def binomial_kernel(taps=BINOMIAL_TAPS):
    """The separable 2-D kernel `outer(taps, taps)`, normalised to sum 1, as a NumPy array."""
    taps = np.asarray(taps, dtype="float64")
    if taps.ndim != 1 or taps.size % 2 == 0 or np.any(taps < 0) or taps.sum() <= 0:
        raise ValueError(f"`taps` must be an odd number of non-negative weights, got {taps.tolist()}.")
    kernel = np.outer(taps, taps)
    return kernel / kernel.sum()


@keras.saving.register_keras_serializable(package="gencompare")
class BinomialBlur(keras.layers.Layer):
    """Filters every channel with the fixed kernel `binomial_kernel(taps)`; no weights.

    The borders are padded by reflection (zero padding would darken them), so the output has the
    input's shape. The kernel is cast to the layer's compute dtype (bfloat16/float16 under mixed
    precision).

    Args:
        taps: the 1-D filter, an odd number of non-negative weights (default `[1, 2, 1]`).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).
    """

    def __init__(self, taps=BINOMIAL_TAPS, **kwargs):
        super().__init__(**kwargs)
        self._kernel = binomial_kernel(taps)
        self.taps = tuple(float(tap) for tap in taps)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"BinomialBlur needs (batch, height, width, channels) inputs, got shape {input_shape}.")
        radius = len(self.taps) // 2
        if any(size is not None and size <= radius for size in input_shape[1:3]):
            raise ValueError(
                f"BinomialBlur with {len(self.taps)} taps reflects {radius} pixel(s) at each border, so height "
                f"and width must exceed {radius}; got shape {input_shape}. Blur after a larger layer or use "
                f"fewer taps."
            )
        super().build(input_shape)

    def call(self, inputs):
        radius = len(self.taps) // 2
        channels = inputs.shape[-1]
        padded = keras.ops.pad(inputs, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="reflect")
        kernel = np.repeat(self._kernel[:, :, None, None], channels, axis=2)
        kernel = keras.ops.cast(kernel, inputs.dtype)
        return keras.ops.depthwise_conv(padded, kernel, strides=1, padding="valid")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "taps": list(self.taps)}
