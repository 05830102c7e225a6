"""Differentiable Augmentation (DiffAugment, Zhao et al., 2020) for data-efficient GAN training.

The discriminator sees augmented images only, real **and** generated, in both training phases; the
augmentations are differentiable, so the generator is trained through them. With few images (or few
steps) this keeps the discriminator from memorising the training set, without the generator learning
to draw the augmentations (they are applied to both sides).

Three policies, applied in this order whatever order they are named in:

* `"color"` — per image: brightness `+ U(-0.5, 0.5)`, saturation `(x − channel mean)·U(0, 2) + mean`
  (nothing for one channel), contrast `(x − image mean)·U(0.5, 1.5) + mean`;
* `"translation"` — per image: shifts of up to `TRANSLATION_RATIO` (1/8) of the height and width,
  whole pixels, filled with zeros;
* `"cutout"` — per image: one square of `CUTOUT_RATIO` (1/2) of the height and width, anywhere (it may
  hang over the border), set to zero.

The amounts are those of the paper's code for images in [-1, 1] (0 is mid-grey there). Every random
number comes from `sampling.batch_normal` with the model's `SeedGenerator` (turned into uniforms by
the normal CDF): fresh at every step, reproducible from the model's seed, the same with and without
XLA, and under a `tf.distribute` strategy each replica gets its rows of the global batch's draws.
"""

import math

import tensorflow as tf

from gencompare.models.sampling import batch_normal

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy):
    """The policy names in `policy` as a tuple in `POLICIES` order (empty for None or "").

    Args:
        policy: None, a comma-separated string (`"translation,cutout,color"`) or a list of names.

    Raises:
        ValueError: for unknown or repeated names.
    """
    if policy is None:
        return ()
    names = [name.strip() for name in policy.split(",")] if isinstance(policy, str) else list(policy)
    names = [name for name in names if name]
    unknown = sorted(set(names) - set(POLICIES))
    if unknown:
        raise ValueError(f"Unknown DiffAugment policies {unknown}; choose from {', '.join(POLICIES)}.")
    if len(set(names)) != len(names):
        raise ValueError(f"DiffAugment policy names repeat: {names}.")
    return tuple(name for name in POLICIES if name in names)


def policy_string(policy):
    """The canonical comma-separated form of `policy` (for configs), or None when it is empty."""
    names = parse_policy(policy)
    return ",".join(names) if names else None


def _uniform(count, columns, seed_generator):
    """`(count, columns)` float32 draws from Uniform(0, 1): Φ(n) for per-example normals n."""
    normal = batch_normal((count, columns), "float32", seed_generator)
    return 0.5 * (1.0 + tf.math.erf(normal / math.sqrt(2.0)))


def _per_image(values, dtype):
    """Per-image factors `(batch,)` as `(batch, 1, 1, 1)` in the images' dtype."""
    return tf.cast(tf.reshape(values, (-1, 1, 1, 1)), dtype)


def color(images, seed_generator):
    """Random brightness, saturation and contrast per image (see the module docstring)."""
    draws = _uniform(tf.shape(images)[0], 3, seed_generator)
    brightness = _per_image(draws[:, 0] - 0.5, images.dtype)
    saturation = _per_image(draws[:, 1] * 2.0, images.dtype)
    contrast = _per_image(draws[:, 2] + 0.5, images.dtype)
    images = images + brightness
    channel_mean = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - channel_mean) * saturation + channel_mean
    image_mean = tf.reduce_mean(images, axis=(1, 2, 3), keepdims=True)
    return (images - image_mean) * contrast + image_mean


def _integer_offsets(uniform, low, count):
    """Integers `low, ..., low + count - 1`, one per uniform draw."""
    index = tf.minimum(tf.cast(tf.floor(uniform * count), tf.int32), count - 1)
    return index + low


def _shift(images, shifts, axis):
    """Shifts each image by `shifts[b]` pixels along `axis` (1: rows, 2: columns), zero-filled.

    A gather with per-image indices: differentiable in the images, and the same under XLA.
    """
    size = images.shape[axis] or tf.shape(images)[axis]
    source = tf.range(size)[None, :] - shifts[:, None]  # (batch, size): where each output comes from
    inside = (source >= 0) & (source < size)
    shifted = tf.gather(images, tf.clip_by_value(source, 0, size - 1), axis=axis, batch_dims=1)
    mask_shape = (-1, size, 1, 1) if axis == 1 else (-1, 1, size, 1)
    return shifted * tf.reshape(tf.cast(inside, images.dtype), mask_shape)


def translation(images, seed_generator, ratio=TRANSLATION_RATIO):
    """Shifts each image by up to `ratio` of its height and width (whole pixels), zero-filled."""
    height, width = images.shape[1], images.shape[2]
    draws = _uniform(tf.shape(images)[0], 2, seed_generator)
    shift_y, shift_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    rows = _integer_offsets(draws[:, 0], -shift_y, 2 * shift_y + 1)
    columns = _integer_offsets(draws[:, 1], -shift_x, 2 * shift_x + 1)
    return _shift(_shift(images, rows, axis=1), columns, axis=2)


def cutout(images, seed_generator, ratio=CUTOUT_RATIO):
    """Sets one square of `ratio` of the height and width of each image to zero (it may overhang)."""
    height, width = images.shape[1], images.shape[2]
    draws = _uniform(tf.shape(images)[0], 2, seed_generator)
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    # Top-left corners from -size//2 to height - size//2 (the paper's code: centres anywhere).
    top = _integer_offsets(draws[:, 0], -(size_y // 2), height + (1 - size_y % 2))
    left = _integer_offsets(draws[:, 1], -(size_x // 2), width + (1 - size_x % 2))
    rows = tf.range(height)[None, :] - top[:, None]
    columns = tf.range(width)[None, :] - left[:, None]
    in_rows = (rows >= 0) & (rows < size_y)
    in_columns = (columns >= 0) & (columns < size_x)
    hole = in_rows[:, :, None] & in_columns[:, None, :]
    return images * tf.cast(~hole, images.dtype)[:, :, :, None]


AUGMENTATIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(images, policy, seed_generator):
    """Applies the augmentations of `policy` to a batch `(batch, height, width, channels)`.

    Args:
        images: float images in [-1, 1] (the paper's amounts assume that range).
        policy: see `parse_policy`; empty leaves the images unchanged (and draws nothing).
        seed_generator: the `keras.random.SeedGenerator` to draw from (the model's).

    Returns:
        The augmented images, same shape and dtype.
    """
    for name in parse_policy(policy):
        images = AUGMENTATIONS[name](images, seed_generator)
    return images

