"""Image arrays for metrics: the conversion every metric applies first, and batched inference."""

import numpy as np
from tqdm.auto import tqdm

from gencompare.models.base import check_image_values
from gencompare.value_range import from_uint8, normalize_value_range, to_unit


def to_unit_range(images, value_range=None, *, name="images"):
    """Returns `images` as a float32 `(N, H, W, C)` array with values in [0, 1].

    Real images come from `gencompare.data.load_images` as uint8; generated ones come from a model's
    `sample` in the model's `value_range`. Every metric converts both through here, so a (-1, 1) GAN
    and a (0, 1) VAE are measured on the same scale.

    Args:
        images: uint8 array (0–255), or a float array in `value_range`.
        value_range: `(0, 1)` or `(-1, 1)` for float images; must be None or `(0, 255)` for uint8.
        name: the argument name used in error messages.

    Returns:
        A float32 numpy array of the same shape, values in [0, 1].

    Raises:
        ValueError: if the array is not 4-D, is empty, float images come without `value_range`, or
            values lie outside the range.
    """
    array = np.asarray(images)
    if array.ndim != 4:
        raise ValueError(
            f"`{name}` must have shape (count, height, width, channels), got shape {array.shape}."
        )
    if array.shape[0] == 0:
        raise ValueError(f"`{name}` is empty.")
    if array.dtype == np.uint8:
        if value_range is not None and tuple(value_range) != (0, 255):
            raise ValueError(f"`{name}` are uint8 (0–255) but `value_range`={value_range!r} was given.")
        return from_uint8(array, (0, 1))
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"`{name}` must be uint8 or floating point, got dtype {array.dtype}.")
    if value_range is None:
        raise ValueError(
            f"`{name}` are floats: pass their `value_range`, (0, 1) or (-1, 1) (a model's "
            "`value_range` attribute)."
        )
    low, high = normalize_value_range(value_range)
    check_image_values(array, (low, high), where=f"`{name}`")
    return to_unit(array, (low, high))


def run_in_batches(function, images, *, batch_size=100, progress=True, description="batches"):
    """Applies `function` (a batch → numpy array) to `images` in batches and concatenates the results.

    Keeps memory bounded by the batch whatever the set size (10 000 images through InceptionV3 at
    299×299 would not fit at once), and shows a tqdm progress bar on long work.

    Args:
        function: maps an array of up to `batch_size` images to an array with one row per image.
        images: array of images (already converted, e.g. by `to_unit_range`).
        batch_size: images per call.
        progress: show a progress bar.
        description: label of the progress bar.

    Returns:
        The concatenated numpy array.

    Raises:
        ValueError: if `batch_size` is not a positive integer.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    starts = range(0, len(images), batch_size)
    outputs = [
        np.asarray(function(images[start:start + batch_size]))
        for start in tqdm(starts, disable=not progress, desc=description, leave=False)
    ]
    return np.concatenate(outputs)
