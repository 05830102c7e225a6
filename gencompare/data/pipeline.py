"""`to_dataset`: a uint8 image array becomes a shuffled, batched, scaled `tf.data.Dataset`.

The array is never turned into a graph constant (`from_tensor_slices` would embed it and hit the
2 GB protobuf limit, and copy it): the pipeline shuffles and batches *indices*, and each batch is
gathered from the NumPy array in place. Conversion to float32 and scaling happen in the pipeline,
so the array in memory stays uint8 (a quarter of the float32 size).
"""

import numpy as np
import tensorflow as tf

from gencompare.value_range import from_uint8, normalize_value_range


def _validate_images(images):
    if not isinstance(images, np.ndarray):
        raise ValueError(f"to_dataset expects a NumPy uint8 array, got {type(images).__name__}.")
    if images.dtype != np.uint8:
        raise ValueError(
            f"to_dataset expects uint8 images (0-255) as returned by load_images, got {images.dtype}; "
            "it does the float conversion and scaling itself, so pass the raw uint8 array."
        )
    if images.ndim != 4:
        hint = " (add a channel axis: images[..., None])" if images.ndim == 3 else ""
        raise ValueError(f"to_dataset expects shape (N, H, W, C), got {images.shape}{hint}.")
    if len(images) == 0:
        raise ValueError("to_dataset got an empty image array.")


def _validate_batching(count, batch_size, drop_remainder):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if drop_remainder and batch_size > count:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {count} images and drop_remainder=True would "
            "yield no batch at all: use a smaller batch_size or drop_remainder=False."
        )


def scale(batch, low):
    """uint8 tensor → float32 in [0, 1] (`low` 0) or [-1, 1] (`low` -1), endpoints exact."""
    return from_uint8(tf.cast(batch, tf.float32), (low, 1.0))


def to_dataset(images, batch_size, *, value_range=(0, 1), shuffle=True, seed=0, drop_remainder=True):
    """Builds the training input pipeline for a uint8 image array.

    Args:
        images: uint8 array of shape (N, H, W, C), e.g. from `load_images`.
        batch_size: Images per batch.
        value_range: (0, 1) or (-1, 1): the float32 range pixels are scaled to (0 and 255 map
            exactly onto the endpoints).
        shuffle: Reshuffle all N images every epoch (every new iterator).
        seed: Seed of the shuffle: the same seed gives the same order, epoch by epoch.
        drop_remainder: Drop the last partial batch (keeps batch shapes static, so XLA does not
            recompile for a smaller last batch).

    Returns:
        A `tf.data.Dataset` of float32 batches of shape (batch_size, H, W, C), prefetched.

    Raises:
        ValueError: `images` is not a non-empty uint8 rank-4 array, `value_range` is not one of the
            two allowed ranges, or `batch_size` is not a positive int (or exceeds N while
            `drop_remainder=True`).
    """
    _validate_images(images)
    low = normalize_value_range(value_range)[0]
    count = len(images)
    _validate_batching(count, batch_size, drop_remainder)

    def gather(indices):
        return images[indices]

    def load_batch(indices):
        batch = tf.numpy_function(gather, [indices], tf.uint8, stateful=False)
        batch.set_shape((batch_size if drop_remainder else None,) + images.shape[1:])
        return scale(batch, low)

    dataset = tf.data.Dataset.range(count)
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(pipeline_options())


def pipeline_options():
    """tf.data options of every training pipeline: autotuning off.

    Keras makes a new iterator every epoch, and destroying the last one with tf.data's autotuner on
    stalled the next epoch's first step by 2–50 s at random on a 2-core CPU (measured on 16 000 MNIST
    digits × 5 epochs: 0.5–19.5 s for an epoch's first step with it, 0.5 s every epoch without; a
    2-epoch MNIST VAE once took 158 s instead of 107). The stall counts as training time, so it also
    skewed the report's equal-time budgets. Without the autotuner, `AUTOTUNE` parallelism and
    prefetching fall back to fixed values that keep up with the model here: epochs are as fast.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options
