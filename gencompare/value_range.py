"""The two image value ranges the project works in, checked and converted in one place (no TensorFlow).

Sigmoid-output models (and data scaled by `/ 255`) live in (0, 1); tanh-output models in (-1, 1).
The data pipeline, the models, the metrics and the plots all accept exactly these two, and convert
between uint8 pixels, [0, 1] and a model's range with `from_uint8`, `to_unit` and `from_unit`.
"""

import numpy as np

VALUE_RANGES = ((0.0, 1.0), (-1.0, 1.0))
# Float rounding in a scaling pipeline may step just outside the nominal range.
RANGE_TOLERANCE = 1e-3


def normalize_value_range(value_range):
    """Returns `value_range` as a tuple of floats, checking that it is (0, 1) or (-1, 1).

    Raises:
        ValueError: for any other range (a string such as "01" included).
    """
    if isinstance(value_range, (str, bytes)):
        raise ValueError(f"`value_range` must be (0, 1) or (-1, 1), got {value_range!r}.")
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"`value_range` must be (0, 1) or (-1, 1), got {value_range!r}.") from None
    if (low, high) not in VALUE_RANGES:
        raise ValueError(f"`value_range` must be (0, 1) or (-1, 1), got {value_range!r}.")
    return (low, high)


# ----------------------------------------------------------------------------------------------
# Conversions (the only place a value range is turned into arithmetic)
# ----------------------------------------------------------------------------------------------


def from_uint8(pixels, value_range):
    """Pixels 0–255 → float32 in `value_range`: `/ 255` for (0, 1), `/ 127.5 − 1` for (-1, 1).

    0 and 255 map exactly onto the range's ends. `pixels` is a numpy array (any integer or float
    dtype, cast to float32 here) or a float32 tensor (the data pipeline casts before calling).
    """
    low, _ = normalize_value_range(value_range)
    if isinstance(pixels, np.ndarray) or np.isscalar(pixels):
        pixels = np.asarray(pixels, dtype=np.float32)
    return pixels / 255.0 if low == 0.0 else pixels / 127.5 - 1.0


def to_unit(images, value_range):
    """Float images in `value_range` → float32 in [0, 1] (clipped: float rounding stays in range)."""
    low, high = normalize_value_range(value_range)
    return np.clip((np.asarray(images, np.float32) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def from_unit(images, value_range):
    """Float images in [0, 1] → float32 in `value_range`."""
    low, high = normalize_value_range(value_range)
    return (np.asarray(images, np.float32) * (high - low) + low).astype(np.float32)
