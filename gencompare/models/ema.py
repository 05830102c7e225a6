"""Exponential moving average (EMA) of a network's weights, kept in a second copy of the network.

GAN generators oscillate from step to step; the average of their recent weights draws visibly cleaner
and more stable samples (Yazıcı et al., 2019; Karras et al., 2018). After every training step:

    average ← d · average + (1 − d) · weights          (trainable weights)
    average ← weights                                  (non-trainable weights: BatchNorm statistics)

Non-trainable weights are copied rather than averaged: BatchNorm's moving statistics are already
averages, and copying keeps them those of the network that is being trained.

With `warmup=True` the decay at update `t` (counting from 0) is `min(d, (1 + t) / (10 + t))`, the
schedule of `tf.train.ExponentialMovingAverage(num_updates=...)`: a decay of 0.999 would otherwise
keep the random initial weights in the average for thousands of steps, and short runs (a few MNIST
epochs) would sample from an untrained network.

Copied statistics belong to the trained network's weights, not to the average's: the averaged kernels
feed each BatchNorm layer activations of another mean and scale (measured on the quick report's cats
GAN: variances 0.82× the copied ones). `standing_statistics` recomputes them for the average's own
weights over a fixed set of latents ("standing statistics", Brock et al., 2019), so that in inference
mode every BatchNorm layer normalises exactly the activations the average produces.

`halflife_decay` is StyleGAN's schedule instead (Karras et al., 2019/2020): the average's half-life
is a number of training *images* `H`, ramped up as a fraction `r` of the images seen so far,

    H_t = min(H, images_seen · r),    decay = 0.5 ** (batch / H_t),

so the decay does not depend on the batch size, and early in a run (when the generator changes fast
and old weights are bad) the average forgets quickly.
"""

import keras
import numpy as np
from keras import ops


def check_decay(decay):
    """Checks that `decay` is a float in [0, 1).

    Raises:
        ValueError: otherwise (a decay of 1 would never move the average).
    """
    if not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
        raise ValueError(f"`ema_decay` must be a number in [0, 1) (e.g. 0.999) or None, got {decay!r}.")
    return float(decay)


def effective_decay(decay, update_index, warmup=True):
    """The decay used for update number `update_index` (0 for the first update).

    Works on Python numbers and on tensors (inside a compiled train step).
    """
    if not warmup:
        return decay
    step = ops.cast(update_index, "float32")
    return ops.minimum(decay, (1.0 + step) / (10.0 + step))


def check_halflife(halflife_images, rampup):
    """Checks StyleGAN-style EMA settings: a positive half-life in images (or None) and a rampup
    fraction in (0, 1] (or None); returns them as floats (or None).

    Raises:
        ValueError: for values out of range, or a rampup without a half-life.
    """
    if halflife_images is None:
        if rampup is not None:
            raise ValueError("`ema_rampup` needs `ema_halflife_images`.")
        return None, None
    if not isinstance(halflife_images, (int, float)) or halflife_images <= 0:
        raise ValueError(f"`ema_halflife_images` must be a positive number, got {halflife_images!r}.")
    if rampup is not None and (not isinstance(rampup, (int, float)) or not 0.0 < rampup <= 1.0):
        raise ValueError(f"`ema_rampup` must be in (0, 1] or None, got {rampup!r}.")
    return float(halflife_images), None if rampup is None else float(rampup)


def halflife_decay(batch_size, update_index, halflife_images, rampup=None):
    """The decay of update number `update_index` (from 0) with a half-life of `halflife_images` images.

    `images_seen` counts this update's batch: `(update_index + 1) · batch_size`. Works on Python numbers
    and tensors.
    """
    batch = ops.cast(batch_size, "float32")
    halflife = ops.convert_to_tensor(halflife_images, "float32")
    if rampup is not None:
        images_seen = (ops.cast(update_index, "float32") + 1.0) * batch
        halflife = ops.minimum(halflife, images_seen * rampup)
    return ops.power(0.5, batch / ops.maximum(halflife, 1e-8))


def check_same_architecture(average, network):
    """Checks that two networks have weights of the same shapes, in the same order.

    Raises:
        ValueError: if they differ, naming the first mismatch.
    """
    average_weights, weights = average.weights, network.weights
    if len(average_weights) != len(weights):
        raise ValueError(
            f"EMA copy {average.name!r} has {len(average_weights)} weights but {network.name!r} has "
            f"{len(weights)}: they must be built from the same architecture."
        )
    for average_weight, weight in zip(average_weights, weights):
        if tuple(average_weight.shape) != tuple(weight.shape):
            raise ValueError(
                f"EMA copy weight {average_weight.path} has shape {tuple(average_weight.shape)} but "
                f"{weight.path} has {tuple(weight.shape)}: the architectures differ."
            )


def copy_weights(average, network):
    """Sets every weight of `average` to the matching weight of `network` (restarts the average)."""
    for average_weight, weight in zip(average.weights, network.weights):
        average_weight.assign(weight)


def update_average(average, network, decay):
    """One EMA update of `average`'s weights towards `network`'s (see the module docstring).

    Weights are paired by position, and whether one is averaged or copied follows the *network's*
    weight: the EMA copy itself is usually frozen (`trainable = False`), which marks all its weights
    non-trainable.

    Args:
        average: the EMA copy (a network with the same architecture as `network`).
        network: the network being trained.
        decay: the decay for this update (a float or a scalar tensor, e.g. from `effective_decay`).
    """
    for average_weight, weight in zip(average.weights, network.weights):
        if weight.trainable:
            rate = ops.cast(decay, average_weight.dtype)
            average_weight.assign(rate * average_weight + (1.0 - rate) * ops.cast(weight, average_weight.dtype))
        else:
            average_weight.assign(weight)


def standing_statistics(network, inputs, batch_size=512):
    """Sets every BatchNormalization layer's moving mean and variance to its inputs' statistics.

    Layers are visited in the network's (topological) order, each measured with the layers before it
    already recomputed and in inference mode, so that afterwards `network(inputs, training=False)`
    normalises every BatchNorm input to zero mean and unit variance over `inputs` (up to the layer's
    epsilon): the statistics are the network's own, not those of the weights it was averaged from.
    Means and (population) variances are accumulated in float64, whatever the compute dtype.

    Args:
        network: a functional Keras model (e.g. an EMA generator).
        inputs: a float array of network inputs (e.g. latents), at least 2 of them.
        batch_size: inputs per forward pass.

    Returns:
        The number of BatchNorm layers recomputed (0 for a network without BatchNorm: nothing changes).

    Raises:
        ValueError: for fewer than 2 inputs or a non-positive batch size.
    """
    inputs = np.asarray(inputs, dtype="float32")
    if inputs.ndim < 1 or len(inputs) < 2:
        raise ValueError(f"standing_statistics needs at least 2 inputs, got shape {inputs.shape}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
    layers = [layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        prefix = keras.Model(network.input, layer.input)
        axis = layer.axis % len(prefix.output.shape)
        total = total_squares = 0.0
        count = 0
        for start in range(0, len(inputs), batch_size):
            values = ops.convert_to_numpy(prefix(inputs[start : start + batch_size], training=False))
            values = np.moveaxis(values, axis, -1).astype("float64")
            values = values.reshape(-1, values.shape[-1])  # one row per position, one column per channel
            count += values.shape[0]
            total = total + values.sum(axis=0)
            total_squares = total_squares + np.square(values).sum(axis=0)
        mean = total / count
        variance = np.maximum(total_squares / count - np.square(mean), 0.0)
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    return len(layers)
