"""The two image value ranges the project works in, checked in one place (imports no TensorFlow).

Sigmoid-output models (and data scaled by `/ 255`) live in (0, 1); tanh-output models in (-1, 1).
The data pipeline, the models, the metrics and the plots all accept exactly these two.
"""

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
