"""Convolutional network builders shared by the VAE and the GAN.

Two shapes cover every architecture in the project:

* `build_conv_trunk` — image → flat features (VAE encoder body, GAN discriminator body).
* `build_deconv_generator` — latent vector → image (VAE decoder, GAN generator).

Because the VAE decoder and the GAN generator come from the *same* builder, a GAN generator can be
built with a VAE decoder's architecture and take its weights (`GAN.from_vae`).

Architectures are described by plain keyword arguments (ints, strings, lists) so that they can live in
`get_config()` and presets, and be saved and loaded with `.keras` files.
"""

import keras
from keras import layers

from gencompare.models.blur import BinomialBlur
from gencompare.models.resize_conv import NearestUpsamplingConv2D

ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "swish", "tanh", "sigmoid", "linear")
OUTPUT_LAYERS = ("conv", "conv_transpose")
# How a generator block doubles the resolution: a stride-2 transposed conv (DCGAN), or a resize
# followed by a stride-1 conv ("resize-convolution", Odena et al., 2016: no checkerboard artefacts).
UPSAMPLING_MODES = ("transpose", "nearest", "bilinear")
# Where a generator applies the fixed binomial low-pass filter (`blur.BinomialBlur`): nowhere, after
# the layer that draws the pixels, after every hidden layer that upsamples (the pixel layer stays free
# to draw fine detail), or after both (StyleGAN filters after each upsampling).
BLUR_MODES = (None, "output", "hidden", "all")
# `batch_norm` values: off, statistics over the global batch (synchronized across the replicas of a
# tf.distribute strategy; True means the same), or per-replica statistics (no all-reduce per layer).
BATCH_NORM_MODES = (False, True, "sync", "local")


def check_batch_norm(batch_norm):
    """Returns `batch_norm` if it is one of `BATCH_NORM_MODES`."""
    if not any(batch_norm is mode or (isinstance(mode, str) and batch_norm == mode) for mode in BATCH_NORM_MODES):
        raise ValueError(f"`batch_norm` must be one of {BATCH_NORM_MODES}, got {batch_norm!r}.")
    return batch_norm


def batch_norm_layer(batch_norm, name):
    """A `BatchNormalization` layer for a `batch_norm` mode other than False.

    `True`/`"sync"` compute the statistics over the **global** batch: built under a `tf.distribute`
    strategy with several replicas, the layer is `synchronized` (each replica all-reduces its sums),
    so training equals single-device training on the global batch. Built without one it is a plain
    layer (Keras' synchronized code path would compute `E[x²] - E[x]²` even on one device). `"local"`
    keeps per-replica statistics: no all-reduce per layer, but each replica normalises with its own
    slice of the batch (the classic multi-GPU behaviour; with small per-replica batches it hurts).
    """
    import tensorflow as tf

    synchronized = batch_norm != "local" and tf.distribute.get_strategy().num_replicas_in_sync > 1
    return layers.BatchNormalization(synchronized=synchronized, name=name)


def _per_layer(value, count, name):
    """Expands an int to a list of `count` ints, or checks that a list has `count` entries."""
    if isinstance(value, int):
        return [value] * count
    values = list(value)
    if len(values) != count:
        raise ValueError(f"`{name}` has {len(values)} entries but there are {count} layers: {values}.")
    return values


def _check_activation(activation, name="activation"):
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown {name} {activation!r}; choose one of {ACTIVATIONS}.")


def activation_layer(activation, *, leaky_slope=0.2, name=None, dtype=None):
    """A Keras layer for an activation name; `leaky_relu` uses `leaky_slope` as its negative slope."""
    _check_activation(activation)
    if activation == "leaky_relu":
        return layers.LeakyReLU(negative_slope=leaky_slope, name=name, dtype=dtype)
    return layers.Activation(activation, name=name, dtype=dtype)


def spectral_normalized(layer, spectral_norm):
    """`layer` wrapped in `keras.layers.SpectralNormalization` (one power iteration) if `spectral_norm`.

    In training mode the wrapper runs a power iteration and rescales the layer's kernel to spectral
    norm 1 (Miyato et al., 2018); in inference mode it uses the kernel as it is.
    """
    if not spectral_norm:
        return layer
    return layers.SpectralNormalization(layer, power_iterations=1, name=f"{layer.name}_sn")


def build_conv_trunk(
    input_shape,
    filters,
    *,
    kernel_size=3,
    strides=2,
    batch_norm=False,
    activation="relu",
    leaky_slope=0.2,
    dropout=0.0,
    spectral_norm=False,
    name="conv_trunk",
):
    """Builds a stack of `Conv2D → [BatchNorm] → activation → [Dropout]` blocks ending in `Flatten`.

    Args:
        input_shape: `(height, width, channels)` of the images.
        filters: list of output channels, one per conv layer.
        kernel_size: int, or a list with one kernel size per layer.
        strides: int, or a list with one stride per layer.
        batch_norm: whether a `BatchNormalization` follows each conv (the conv then has no bias):
            False, True (= `"sync"`: global-batch statistics under a strategy) or `"local"`
            (per-replica statistics); see `batch_norm_layer`.
        activation: one of `ACTIVATIONS`.
        leaky_slope: negative slope when `activation="leaky_relu"`.
        dropout: dropout rate after each block (0 disables it).
        spectral_norm: wrap each conv in `keras.layers.SpectralNormalization` (see
            `spectral_normalized`), e.g. for a GAN discriminator.
        name: name of the returned functional model.

    Returns:
        A functional `keras.Model` mapping images to flat feature vectors.
    """
    if not filters:
        raise ValueError("`filters` must list at least one conv layer.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout}.")
    kernel_sizes = _per_layer(kernel_size, len(filters), "kernel_size")
    strides = _per_layer(strides, len(filters), "strides")
    _check_activation(activation)
    check_batch_norm(batch_norm)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    for index, (width, kernel, stride) in enumerate(zip(filters, kernel_sizes, strides)):
        conv = layers.Conv2D(
            width, kernel, strides=stride, padding="same", use_bias=not batch_norm, name=f"conv_{index}"
        )
        x = spectral_normalized(conv, spectral_norm)(x)
        if batch_norm:
            x = batch_norm_layer(batch_norm, name=f"bn_{index}")(x)
        x = activation_layer(activation, leaky_slope=leaky_slope, name=f"act_{index}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{index}")(x)
    outputs = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, outputs, name=name)


def build_deconv_generator(
    latent_dim,
    output_shape,
    *,
    base_shape,
    filters,
    kernel_size=3,
    strides=2,
    batch_norm=False,
    activation="relu",
    leaky_slope=0.2,
    dense_batch_norm=None,
    dense_activation=None,
    output_layer="conv_transpose",
    output_kernel_size=3,
    output_strides=1,
    output_activation="sigmoid",
    upsampling="transpose",
    output_upsampling=None,
    blur=None,
    name="generator",
):
    """Builds `Dense → Reshape(base_shape) → upsampling blocks → output conv → activation`.

    The output activation is a separate float32 layer, so images come out in float32 under mixed
    precision policies.

    Args:
        latent_dim: size of the latent vector.
        output_shape: `(height, width, channels)` the network must produce; checked at build time.
        base_shape: `(height, width, channels)` the dense projection is reshaped to.
        filters: output channels of each `Conv2DTranspose` block (may be empty).
        kernel_size: int or per-layer list for the transposed convs.
        strides: int or per-layer list for the transposed convs.
        batch_norm: whether a `BatchNormalization` follows each transposed conv (and the dense layer,
            unless `dense_batch_norm` says otherwise): False, True/`"sync"` or `"local"` (see
            `batch_norm_layer`).
        activation: hidden activation, one of `ACTIVATIONS`.
        leaky_slope: negative slope when `activation="leaky_relu"`.
        dense_batch_norm: batch-norm after the dense projection; defaults to `batch_norm`.
        dense_activation: activation after the dense projection; defaults to `activation`.
            `"linear"` leaves the projection unactivated (keras.io's 64×64 DCGAN generator).
        output_layer: `"conv_transpose"` or `"conv"` for the layer producing the image channels.
        output_kernel_size: kernel size of the output layer.
        output_strides: stride of the output layer (`"conv_transpose"` only).
        output_activation: `"sigmoid"` for images in [0, 1], `"tanh"` for [-1, 1], or `"linear"`.
        upsampling: how a block (and a `"conv_transpose"` output layer) with stride s > 1 upsamples:
            `"transpose"` (default): a stride-s `Conv2DTranspose`; `"nearest"` or `"bilinear"`:
            `UpSampling2D(s)` with that interpolation, then a stride-1 `Conv2D` of the same kernel
            size (no checkerboard pattern from uneven kernel overlap). `"nearest"` is computed as
            one `resize_conv.NearestUpsamplingConv2D` (the same function at the cost of a transposed
            conv: with kernel_size 3 that of DCGAN's 4×4 stride-2 one). Blocks with stride 1 are a
            stride-1 `Conv2DTranspose` or `Conv2D` respectively. The layers keep their weight
            shapes' roles but not their names: resize blocks are `conv_i` (`upsample_i` + `conv_i`
            for bilinear).
        output_upsampling: the same choice for the `"conv_transpose"` output layer alone; None
            (default): as `upsampling`. With transposed-conv blocks, `"nearest"` here puts a
            resize-conv only in the layer that draws the pixels, where few output channels keep
            the full-resolution conv cheap.
        blur: where a fixed `[1, 2, 1]` binomial low-pass filter (`blur.BinomialBlur`, no weights)
            follows a layer: None (nowhere, default), `"output"` (after the layer that draws the
            image, before the output activation: no pixel-level checkerboard can survive it),
            `"hidden"` (after every block with stride > 1, before its BatchNorm, but not after the
            pixel layer: the coarse grids of the inner layers go, the finest detail stays drawable)
            or `"all"` (both; as StyleGAN filters after each upsampling).
        name: name of the returned functional model.

    Returns:
        A functional `keras.Model` mapping `(batch, latent_dim)` to `(batch, *output_shape)`.

    Raises:
        ValueError: if the layers do not produce `output_shape`.
    """
    if output_layer not in OUTPUT_LAYERS:
        raise ValueError(f"Unknown output_layer {output_layer!r}; choose one of {OUTPUT_LAYERS}.")
    if output_layer == "conv" and output_strides != 1:
        raise ValueError("`output_strides` applies only to output_layer='conv_transpose'.")
    _check_activation(output_activation, "output_activation")
    output_upsampling = upsampling if output_upsampling is None else output_upsampling
    for argument, mode in (("upsampling", upsampling), ("output_upsampling", output_upsampling)):
        if mode not in UPSAMPLING_MODES:
            raise ValueError(f"Unknown {argument} {mode!r}; choose one of {UPSAMPLING_MODES}.")
    if blur not in BLUR_MODES:
        raise ValueError(f"Unknown blur {blur!r}; choose one of {BLUR_MODES}.")
    kernel_sizes = _per_layer(kernel_size, len(filters), "kernel_size")
    strides = _per_layer(strides, len(filters), "strides")
    check_batch_norm(batch_norm)
    dense_batch_norm = batch_norm if dense_batch_norm is None else check_batch_norm(dense_batch_norm)
    dense_activation = activation if dense_activation is None else dense_activation
    base_shape = tuple(base_shape)
    output_shape = tuple(output_shape)

    inputs = keras.Input(shape=(latent_dim,), name="latent")
    units = base_shape[0] * base_shape[1] * base_shape[2]
    x = layers.Dense(units, use_bias=not dense_batch_norm, name="project")(inputs)
    if dense_batch_norm:
        x = batch_norm_layer(dense_batch_norm, name="project_bn")(x)
    x = activation_layer(dense_activation, leaky_slope=leaky_slope, name="project_act")(x)
    x = layers.Reshape(base_shape, name="reshape")(x)
    for index, (width, kernel, stride) in enumerate(zip(filters, kernel_sizes, strides)):
        if upsampling == "transpose":
            x = layers.Conv2DTranspose(
                width, kernel, strides=stride, padding="same", use_bias=not batch_norm, name=f"deconv_{index}"
            )(x)
        else:
            x = _resize_conv(x, width, kernel, stride, upsampling, use_bias=not batch_norm, name=f"conv_{index}",
                             upsample_name=f"upsample_{index}")
        if blur in ("hidden", "all") and stride != 1:
            x = BinomialBlur(name=f"blur_{index}")(x)
        if batch_norm:
            x = batch_norm_layer(batch_norm, name=f"bn_{index}")(x)
        x = activation_layer(activation, leaky_slope=leaky_slope, name=f"act_{index}")(x)
    channels = output_shape[-1]
    if output_layer == "conv_transpose" and output_upsampling == "transpose":
        x = layers.Conv2DTranspose(
            channels, output_kernel_size, strides=output_strides, padding="same", name="to_image"
        )(x)
    elif output_layer == "conv_transpose":
        x = _resize_conv(x, channels, output_kernel_size, output_strides, output_upsampling, use_bias=True,
                         name="to_image", upsample_name="upsample_to_image")
    else:
        x = layers.Conv2D(channels, output_kernel_size, padding="same", name="to_image")(x)
    if blur in ("output", "all"):
        x = BinomialBlur(name="blur_to_image")(x)
    outputs = layers.Activation(output_activation, dtype="float32", name="image")(x)

    built_shape = tuple(outputs.shape[1:])
    if built_shape != output_shape:
        raise ValueError(
            f"This generator architecture produces images of shape {built_shape}, not {output_shape}: "
            f"starting from base_shape {base_shape}, each stride-2 layer doubles height and width. "
            f"Adjust `base_shape` or the strides."
        )
    return keras.Model(inputs, outputs, name=name)


def _resize_conv(x, width, kernel, stride, interpolation, *, use_bias, name, upsample_name):
    """`UpSampling2D(stride, interpolation)` (if stride > 1) then a stride-1 `Conv2D`; the nearest
    resize and its conv are one `NearestUpsamplingConv2D` (the same function at a transposed conv's cost)."""
    if stride != 1 and interpolation == "nearest":
        return NearestUpsamplingConv2D(width, kernel, strides=stride, use_bias=use_bias, name=name)(x)
    if stride != 1:
        x = layers.UpSampling2D(stride, interpolation=interpolation, name=upsample_name)(x)
    return layers.Conv2D(width, kernel, padding="same", use_bias=use_bias, name=name)(x)
