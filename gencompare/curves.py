"""Quality against compute: when a run is evaluated, its curve file, and where two curves cross.

A run of the `quick` or `full` profile evaluates its model at a few points of its training, spaced
geometrically in images seen (`schedule`), with cheap metrics on a fixed sample count and latent seed.
Each point is one row of the run folder's `curve.csv` (`gencompare.runs.CURVE_FILE`): `images` seen,
training `seconds` so far (evaluation time left out) and the metrics. The report draws the curves of
a dataset's models on one axes and states where they cross (`crossings`); the time-to-quality
benchmark asks when a curve first reaches a threshold (`first_reaching`).

Light to import: numpy only.
"""

import math

import numpy as np

# The curve's metric per kind of dataset, and which way is better.
CURVE_METRICS = {"mnist": ("fd_mnist", "classifier-FID"), "faces": ("swd_mean", "SWD")}


def curve_metric(dataset):
    """`(metric key, label)` that a dataset's curves are drawn and compared with."""
    return CURVE_METRICS["mnist" if dataset == "mnist" else "faces"]


def schedule(total_images, points=8, first_fraction=1 / 64):
    """Image counts at which a run of `total_images` is evaluated: geometric from
    `first_fraction · total` to `total`, at most `points` distinct counts, the last one `total`.

    Args:
        total_images: images the run will have seen at its end.
        points: how many evaluation points at most.
        first_fraction: where the first point lies, as a share of the whole run.

    Raises:
        ValueError: for a non-positive total or fewer than 1 point.
    """
    if total_images < 1 or points < 1:
        raise ValueError(f"A schedule needs a positive image total and point count, got {total_images}, {points}.")
    if points == 1:
        return [int(total_images)]
    first = max(1.0, total_images * first_fraction)
    counts = np.geomspace(first, total_images, points)
    return sorted({int(round(count)) for count in counts} | {int(total_images)})


def first_reaching(rows, metric, threshold, *, better="lower"):
    """The first row (in images seen) whose `metric` is at or past `threshold`, or None.

    Args:
        rows: curve rows (dicts with `images`, `seconds` and metrics), in any order.
        metric: the metric key.
        threshold: the quality to reach.
        better: `"lower"` (a distance) or `"higher"`.
    """
    for row in sorted(rows, key=lambda row: row["images"]):
        value = row.get(metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if (value <= threshold) if better == "lower" else (value >= threshold):
            return row
    return None


def _difference(curve_a, curve_b, metric, axis):
    """`(log axis grid, a − b)` on the union of both curves' points within the range both cover, each
    curve interpolated linearly in log(axis); None when they share no range."""
    xa, ya = _points(curve_a, metric, axis)
    xb, yb = _points(curve_b, metric, axis)
    if len(xa) < 1 or len(xb) < 1:
        return None
    low, high = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if low > high:
        return None
    grid = np.unique(np.concatenate([xa, xb]))
    log_grid = np.log(grid[(grid >= low) & (grid <= high)])
    return log_grid, np.interp(log_grid, np.log(xa), ya) - np.interp(log_grid, np.log(xb), yb)


def crossings(curve_a, curve_b, metric, *, axis="seconds"):
    """Where two curves cross: the `axis` values at which `a − b` changes sign.

    Both curves are interpolated linearly in log(axis) on the union of their points, within the
    range both cover; a crossing lies where the difference changes sign between two consecutive
    points (found by linear interpolation there). A curve that only touches the other does not cross.

    Args:
        curve_a, curve_b: curve rows (dicts with `axis` and `metric`).
        metric: the metric key.
        axis: `"seconds"` or `"images"`.

    Returns:
        A list of `(axis value, "a" or "b")`: where the curves cross, and which one is lower after it.
    """
    compared = _difference(curve_a, curve_b, metric, axis)
    if compared is None:
        return []
    log_grid, difference = compared
    found = []
    previous = None
    for index, value in enumerate(difference):
        if value == 0:
            continue
        if previous is not None and np.sign(value) != np.sign(difference[previous]):
            # Linear in log(axis) between the last point of one sign and this one.
            d0, d1 = difference[previous], value
            t = d0 / (d0 - d1)
            x = float(np.exp(log_grid[previous] + t * (log_grid[index] - log_grid[previous])))
            found.append((x, "a" if value < 0 else "b"))
        previous = index
    return found


def lower_throughout(curve_a, curve_b, metric, *, axis="seconds"):
    """`"a"` or `"b"`: the curve that is lower (or touching) everywhere both cover, compared as
    `crossings` compares them (linear in log(axis) on both curves' points); None if they share no
    range, cross, or coincide."""
    compared = _difference(curve_a, curve_b, metric, axis)
    if compared is None:
        return None
    apart = compared[1][compared[1] != 0]  # touching points decide nothing
    if apart.size and (apart < 0).all():
        return "a"
    if apart.size and (apart > 0).all():
        return "b"
    return None


def _points(rows, metric, axis):
    """Sorted `(axis, metric)` arrays of the rows that have both (axis values must be positive)."""
    pairs = sorted((float(row[axis]), float(row[metric])) for row in rows
                   if row.get(metric) is not None and not math.isnan(float(row[metric])) and row.get(axis, 0) > 0)
    if not pairs:
        return np.array([]), np.array([])
    x, y = (np.array(values) for values in zip(*pairs))
    return x, y


def images_at(rows, seconds):
    """Images seen at `seconds` of training, interpolated between a curve's points (None outside them)."""
    points = sorted((row["seconds"], row["images"]) for row in rows)
    for (s0, i0), (s1, i1) in zip(points, points[1:]):
        if s0 <= seconds <= s1:
            return int(round(i0 + (i1 - i0) * (seconds - s0) / (s1 - s0 or 1)))
    return None
