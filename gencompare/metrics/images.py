"""The one conversion every metric applies first: images to float32 in [0, 1]."""

import numpy as np

from gencompare.models.base import check_image_values, normalize_value_range


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
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"`{name}` must be uint8 or floating point, got dtype {array.dtype}.")
    if value_range is None:
        raise ValueError(
            f"`{name}` are floats: pass their `value_range`, (0, 1) or (-1, 1) (a model's "
            "`value_range` attribute)."
        )
    low, high = normalize_value_range(value_range)
    check_image_values(array, (low, high), where=f"`{name}`")
    return np.clip((array.astype(np.float32) - low) / (high - low), 0.0, 1.0)
