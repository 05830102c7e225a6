"""Nearest-neighbour upsampling followed by a convolution, computed as one transposed convolution.

Resize-convolution (Odena et al., 2016, "Deconvolution and Checkerboard Artifacts") draws no
checkerboard from uneven kernel overlap: every output pixel of `UpSampling2D(s, "nearest")` followed
by a k×k `Conv2D` sees the same k×k taps. Written that way it convolves an image s² times as large as
its input. But the map is linear in the input, and for each of the s² output phases the taps of the
kernel that fall on one repeated input pixel simply add up, so it equals a stride-s *transposed*
convolution whose kernel is the k×k kernel convolved with an s×s box of ones ((k + s − 1)² taps):

    upsample(x, s) ⋆ w  ==  conv_transpose(x, flip(w ∗ box_s), stride s), cropped to s·H × s·W

(1-D, s = 2, w = [a, b, c]: even outputs are a·x[n−1] + (b + c)·x[n], odd ones (a + b)·x[n] + c·x[n+1];
the transposed kernel is [a, a + b, b + c, c]). `NearestUpsamplingConv2D` keeps the k×k kernel as its
weight (the same shape and initialisation as the `Conv2D` it replaces) and builds the fused kernel in
every call, so the function and the gradients are those of resize-conv while the cost is that of a
transposed conv: (k + s − 1)² / s² multiply-adds per output pixel and channel pair instead of k²
(k = 3, s = 2: 4 instead of 9, the cost of DCGAN's 4×4 stride-2 transposed conv).
"""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="gencompare")
class NearestUpsamplingConv2D(layers.Layer):
    """`UpSampling2D(strides, interpolation="nearest")` then `Conv2D(filters, kernel_size, padding="same")`,
    computed as one stride-`strides` transposed convolution (see the module docstring).

    Args:
        filters: output channels.
        kernel_size: size k of the square convolution kernel applied after the upsampling.
        strides: the upsampling factor s (≥ 1; 1 is a plain 'same' convolution).
        use_bias: add a bias per output channel.
        kernel_initializer: initializer of the k×k kernel (as `Conv2D`'s, default Glorot uniform).
        **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

    Raises:
        ValueError: for a non-positive `filters`, `kernel_size` or `strides`, or inputs that are not
            4-D `(batch, height, width, channels)`.
    """

    def __init__(self, filters, kernel_size, strides=2, use_bias=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        for argument, value in (("filters", filters), ("kernel_size", kernel_size), ("strides", strides)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"NearestUpsamplingConv2D: `{argument}` must be a positive int, got {value!r}.")
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"NearestUpsamplingConv2D expects images (batch, height, width, channels), got shape {input_shape}."
            )
        size = self.kernel_size
        self.kernel = self.add_weight(
            shape=(size, size, input_shape[-1], self.filters), initializer=self.kernel_initializer, name="kernel"
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None

    def fused_kernel(self):
        """The (k + s − 1)² transposed-conv kernel, laid out for `ops.conv_transpose`:
        `(height, width, filters, input channels)`."""
        size, stride = self.kernel_size, self.strides
        kernel = ops.convert_to_tensor(self.kernel)
        fused = sum(
            ops.pad(kernel, [[row, stride - 1 - row], [column, stride - 1 - column], [0, 0], [0, 0]])
            for row in range(stride)
            for column in range(stride)
        )
        return ops.transpose(ops.flip(ops.flip(fused, axis=0), axis=1), (0, 1, 3, 2))

    def call(self, inputs):
        if self.kernel_size % 2:
            # An odd k: the transposed conv's own 'same' padding lines up with the resize-conv's.
            outputs = ops.conv_transpose(inputs, self.fused_kernel(), strides=self.strides, padding="same")
        else:
            # An even k pads 'same' convs unevenly: take the valid result, (k − 1) pixels larger than
            # s·H, and keep the part the resize-conv's padding keeps.
            height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
            outputs = ops.conv_transpose(inputs, self.fused_kernel(), strides=self.strides, padding="valid")
            start = self.kernel_size // 2
            outputs = outputs[:, start : start + height * self.strides, start : start + width * self.strides, :]
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        scale = lambda size: None if size is None else size * self.strides  # noqa: E731
        return (batch, scale(height), scale(width), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
