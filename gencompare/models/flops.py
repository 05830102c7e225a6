"""Floating-point operations of the models' networks: the compute a run spent, independent of hardware.

Convention (the one papers use for "training FLOPs"): a multiply-add counts as **2 FLOPs**; only
`Dense`, `Conv2D`, `Conv2DTranspose` and `NearestUpsamplingConv2D` (as the transposed conv it is
computed as) layers are counted (they are all but a few percent of the work; normalisation,
activations, resizing, fixed blurs and the loss are left out), and a backward pass costs
**twice** its forward pass (gradients with respect to the inputs and to the weights). So training
an image through a network costs 3 × its forward FLOPs. Per training image:

* VAE: 3 × (encoder + decoder).
* GAN (one discriminator and one generator update per step; an image of the batch is one real and
  one generated image): discriminator phase = generator forward + 2 × 3 × discriminator (real and
  fake); generator phase = 3 × generator + 3 × discriminator (the gradient flows through it). In all
  4 × generator + 9 × discriminator. An R1 penalty or an EMA copy is not counted.

`training_flops_per_image(model)` gives the number a run multiplies by its images seen
(`gencompare.runs.training_flops`).
"""

import math

import keras

COUNTED_LAYERS = ("Dense", "Conv2D", "Conv2DTranspose", "NearestUpsamplingConv2D")


def _shape(tensor):
    return tuple(int(size) for size in tensor.shape[1:])


def layer_forward_flops(layer, input_shape, output_shape):
    """Forward FLOPs of one layer for one example (2 per multiply-add; 0 for uncounted layers).

    Args:
        layer: a Keras layer (a `SpectralNormalization` wrapper counts as the layer it wraps).
        input_shape, output_shape: the per-example shapes (without the batch axis).
    """
    inner = getattr(layer, "layer", layer)  # keras.layers.SpectralNormalization and other wrappers
    kind = type(inner).__name__
    if kind == "Dense":
        return 2 * math.prod(input_shape) * int(inner.units)
    if kind == "Conv2D":
        kernel = math.prod(inner.kernel_size)
        channels_in = input_shape[-1] // int(getattr(inner, "groups", 1))
        return 2 * math.prod(output_shape) * kernel * channels_in
    if kind == "Conv2DTranspose":
        # Every input position scatters a kernel-sized patch into every output channel.
        return 2 * math.prod(input_shape) * math.prod(inner.kernel_size) * output_shape[-1]
    if kind == "NearestUpsamplingConv2D":
        # A transposed conv with a (k + s − 1)² kernel (gencompare.models.resize_conv), counted as one.
        taps = (int(inner.kernel_size) + int(inner.strides) - 1) ** 2
        return 2 * math.prod(input_shape) * taps * output_shape[-1]
    return 0


def forward_flops(network):
    """Forward FLOPs of a functional `keras.Model` for one example (nested models included).

    Raises:
        ValueError: for anything that is not a built functional `keras.Model` (a bare layer, say).
    """
    if not isinstance(network, keras.Model):
        raise ValueError(f"forward_flops needs a functional keras.Model, got {type(network).__name__}.")
    total = 0
    for layer in network.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
            continue
        inputs = layer.input
        if isinstance(inputs, (list, tuple)):
            continue  # merge layers (Add, Concatenate): not counted
        total += layer_forward_flops(layer, _shape(inputs), _shape(layer.output))
    return total


def training_flops_per_image(model):
    """Training FLOPs per image seen of a `VAE` (encoder and decoder) or a `GAN` (generator and
    discriminator), by the convention of the module docstring.

    Raises:
        ValueError: for a model that is neither, or whose networks are not functional models.
    """
    if hasattr(model, "encoder") and hasattr(model, "decoder"):
        return 3 * (forward_flops(model.encoder) + forward_flops(model.decoder))
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        return 4 * forward_flops(model.generator) + 9 * forward_flops(model.discriminator)
    raise ValueError(f"training_flops_per_image needs a VAE or a GAN, got {type(model).__name__}.")
