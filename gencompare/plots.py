"""Figures for training curves, samples, reconstructions and latent spaces.

Every figure function returns a `matplotlib.figure.Figure` built with the object-oriented API (an Agg
canvas, no pyplot state), so a long notebook or a training callback never accumulates open figures. A
notebook displays the returned figure; passing `path=` also saves it as a PNG (written atomically,
parent folders created).

**Pixel sizes.** A saved PNG is exactly `width_inches * dpi` by `height_inches * dpi` pixels (no
tight bounding box), where the size in inches is given in each function's docstring:

* image grids use `TILE_INCHES` per image and a `TITLE_INCHES` band for titles;
* loss curves use `PANEL_INCHES` per panel;
* the manifold and the latent scatter have fixed sizes (`MANIFOLD_INCHES`, `SCATTER_INCHES`).

**Image values.** Image functions take `value_range=(0, 1)` (sigmoid outputs) or `(-1, 1)` (tanh
outputs) and map images to the display range [0, 1] exactly once, in `to_display`. Grayscale images
are shown with a gray colormap and fixed limits 0 and 1, so matplotlib never rescales them again.

Model-facing functions take plain callables, `decode(z: np.ndarray) -> images`, so they work with a
VAE decoder, a GAN generator or any other function.
"""

import collections.abc
import logging
import math
import os
import pathlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter
from PIL import Image
from scipy.special import ndtr, ndtri

from gencompare import runs
from gencompare.files import atomic_path
from gencompare.value_range import RANGE_TOLERANCE, normalize_value_range, to_unit

logger = logging.getLogger(__name__)

DPI = 100
# A tile of ~100 px shows a 28x28 digit and a 64x64 face without resampling either much.
TILE_INCHES = 1.0
TITLE_INCHES = 0.5
# Very narrow grids (one or two columns) still need room for their titles.
MIN_GRID_WIDTH_INCHES = 3.0
PANEL_INCHES = (4.0, 3.0)
MANIFOLD_INCHES = (8.0, 8.0)
SCATTER_INCHES = (6.0, 5.0)
# White separates tiles on both black (MNIST) and busy (faces) backgrounds.
BORDER_VALUE = 1.0
# Below this sine of the angle, two latents are treated as parallel: slerp's weights divide by it.
PARALLEL_SINE = 1e-6

LOSS_PANELS = (
    ("loss", ("loss", "total_loss")),
    ("reconstruction loss", ("reconstruction_loss",)),
    ("KL divergence", ("kl_loss",)),
    ("GAN losses", ("d_loss", "g_loss")),
    ("discriminator accuracy", ("d_real_accuracy", "d_fake_accuracy")),
)
ACCURACY_PANEL = "discriminator accuracy"
INTERPOLATION_METHODS = ("linear", "slerp")
MANIFOLD_PRIORS = ("normal", "uniform")


# ----------------------------------------------------------------------------------------------
# Image values and layout
# ----------------------------------------------------------------------------------------------

def to_display(images, value_range):
    """Maps images from their model value range to the display range [0, 1].

    This is the only place where images are rescaled for display, so no figure rescales twice.

    Args:
        images: array of any shape with values in `value_range`.
        value_range: `(0, 1)` for sigmoid outputs (returned unchanged) or `(-1, 1)` for tanh outputs
            (mapped with `(x + 1) / 2`).

    Returns:
        A float32 array of the same shape with values in [0, 1]. Values outside `value_range` by
        more than float rounding are clipped, with a logged warning.

    Raises:
        ValueError: for a `value_range` other than (0, 1) or (-1, 1), or for NaN/infinite values.
    """
    low, high = normalize_value_range(value_range)
    values = np.asarray(images, dtype=np.float32)
    if values.size == 0:
        raise ValueError("Got an empty image array; pass at least one image.")
    if not np.all(np.isfinite(values)):
        raise ValueError("Images contain NaN or infinite values; the model may have diverged.")
    found_low, found_high = float(values.min()), float(values.max())
    if found_low < low - RANGE_TOLERANCE or found_high > high + RANGE_TOLERANCE:
        logger.warning(
            "Images lie in [%.4g, %.4g], outside value_range (%g, %g); clipping for display. Is "
            "value_range the range of the model's output activation?",
            found_low, found_high, low, high,
        )
    if low < 0 and found_low >= 0:
        logger.warning(
            "value_range is (-1, 1) but no value is negative: are these sigmoid outputs in (0, 1)? "
            "They would be shown too bright."
        )
    return to_unit(values, (low, high))


def _image_batch(images):
    """Returns images as an array `(count, height, width, channels)` with 1 or 3 channels."""
    batch = np.asarray(images)
    if batch.ndim == 3:
        batch = batch[..., np.newaxis]
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3) or batch.shape[0] == 0:
        raise ValueError(
            "Expected a non-empty image batch of shape (count, height, width), "
            f"(count, height, width, 1) or (count, height, width, 3); got shape {batch.shape}. "
            "For one image, add a batch axis: `images[None]`."
        )
    return batch


def _grid_shape(count, columns):
    """`(rows, columns)` of a grid for `count` images; `columns=None` gives a near-square grid."""
    if columns is None:
        columns = math.ceil(math.sqrt(count))
    if int(columns) != columns or columns < 1:
        raise ValueError(f"`columns` must be a positive integer, got {columns!r}.")
    columns = min(int(columns), count)
    return math.ceil(count / columns), columns


def tile_images(display_images, columns=None, border=1):
    """Lays out display-range images as one image: a grid with `border`-pixel white lines.

    Args:
        display_images: array `(count, height, width, channels)` with values in [0, 1]
            (see `to_display`).
        columns: images per row; `None` gives a near-square grid. Missing tiles in the last row are
            left white.
        border: width in pixels of the lines between tiles and around the grid.

    Returns:
        A float32 array `(rows * (height + border) + border, columns * (width + border) + border,
        channels)`.
    """
    if int(border) != border or border < 0:
        raise ValueError(f"`border` must be a non-negative integer, got {border!r}.")
    count, height, width, channels = display_images.shape
    rows, columns = _grid_shape(count, columns)
    grid = np.full(
        (rows * (height + border) + border, columns * (width + border) + border, channels),
        BORDER_VALUE,
        dtype=np.float32,
    )
    for index, image in enumerate(display_images):
        top = border + (index // columns) * (height + border)
        left = border + (index % columns) * (width + border)
        grid[top:top + height, left:left + width] = image
    return grid


def _display_grid(images, value_range, columns):
    """Checks, maps and tiles an image batch: returns `(grid, rows, columns)`."""
    batch = _image_batch(images)
    rows, columns = _grid_shape(len(batch), columns)
    return tile_images(to_display(batch, value_range), columns), rows, columns


def _show_image(axes, image, title=None):
    """Draws a display-range image without axes; a single channel is drawn in gray from 0 to 1."""
    if image.shape[-1] == 1:
        axes.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axes.imshow(image, interpolation="nearest")
    axes.set_axis_off()
    if title:
        axes.set_title(title)


# ----------------------------------------------------------------------------------------------
# Figures and files
# ----------------------------------------------------------------------------------------------

def _new_figure(size_inches, dpi):
    """A Figure with its own Agg canvas, independent of pyplot's global state."""
    if not isinstance(dpi, (int, float)) or dpi <= 0:
        raise ValueError(f"`dpi` must be a positive number, got {dpi!r}.")
    figure = Figure(figsize=size_inches, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _grid_inches(rows, columns, panels=1):
    """Size of a figure of `panels` grids side by side, each `rows` x `columns` tiles, with titles."""
    width = max(panels * columns * TILE_INCHES, MIN_GRID_WIDTH_INCHES)
    return (width, rows * TILE_INCHES + TITLE_INCHES)


def _finish(figure, path):
    """Saves `figure` as a PNG at `path` (if given) at its own dpi, and returns it."""
    if path is not None:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=figure.dpi)
    return figure


# ----------------------------------------------------------------------------------------------
# Image grids
# ----------------------------------------------------------------------------------------------

def save_image_grid(images, path, value_range=(0, 1), columns=None, border=1):
    """Writes the bare grid of images as a PNG: one pixel per image pixel, no axes or margins.

    Used by training callbacks for files like `samples/vae_generated_plot_e050.png`. Grayscale
    images are written as an 8-bit grayscale PNG, colour images as RGB.

    Args:
        images: batch `(count, height, width[, channels])` with 1 or 3 channels.
        path: where to write the PNG (parent folders are created; the write is atomic).
        value_range: `(0, 1)` or `(-1, 1)`, the range of `images`.
        columns: images per row; `None` gives a near-square grid.
        border: white line width in pixels between and around tiles.

    Returns:
        The `pathlib.Path` written. The PNG is `rows * (height + border) + border` pixels high and
        `columns * (width + border) + border` pixels wide.

    Raises:
        ValueError: for a bad `value_range`, image shape, `columns` or `border`.
    """
    batch = _image_batch(images)
    _, columns = _grid_shape(len(batch), columns)
    grid = tile_images(to_display(batch, value_range), columns, border)
    pixels = np.round(grid * 255.0).astype(np.uint8)
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    with atomic_path(path) as temporary:
        picture.save(temporary, format="PNG")
    return pathlib.Path(path)


def sample_grid(images, value_range=(0, 1), columns=None, title=None, path=None, dpi=DPI):
    """A grid of images, e.g. generated samples.

    Args:
        images: batch `(count, height, width[, channels])` with 1 or 3 channels.
        value_range: `(0, 1)` or `(-1, 1)`, the range of `images`.
        columns: images per row; `None` gives a near-square grid.
        title: figure title.
        path: if given, the figure is also saved there as a PNG.
        dpi: pixels per inch of the saved PNG.

    Returns:
        The Figure, `max(columns * TILE_INCHES, MIN_GRID_WIDTH_INCHES)` by
        `rows * TILE_INCHES + TITLE_INCHES` inches.
    """
    grid, rows, columns = _display_grid(images, value_range, columns)
    figure = _new_figure(_grid_inches(rows, columns), dpi)
    _show_image(figure.add_subplot(), grid, title)
    return _finish(figure, path)


def side_by_side(panels, value_range=(0, 1), columns=None, title=None, path=None, dpi=DPI):
    """Image batches side by side on the same grid layout, e.g. VAE vs GAN samples.

    Args:
        panels: mapping from panel title to an image batch; every batch has the same count.
        value_range: one range for every panel, or a mapping from panel title to its range (a VAE
            with sigmoid outputs next to a GAN with tanh outputs).
        columns: images per row in each panel; `None` gives near-square grids.
        title: figure title above the panels.
        path: if given, the figure is also saved there as a PNG.
        dpi: pixels per inch of the saved PNG.

    Returns:
        The Figure, `max(len(panels) * columns * TILE_INCHES, MIN_GRID_WIDTH_INCHES)` by
        `rows * TILE_INCHES + TITLE_INCHES` inches.

    Raises:
        ValueError: if there is no panel, the batches differ in count, or a range is missing.
    """
    if not isinstance(panels, collections.abc.Mapping) or not panels:
        raise ValueError("`panels` must be a non-empty mapping such as {'VAE': images, 'GAN': images}.")
    counts = {name: len(_image_batch(images)) for name, images in panels.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"Every panel needs the same number of images for one layout; got {counts}.")
    ranges = _panel_ranges(list(panels), value_range)
    grids = [_display_grid(images, ranges[name], columns) for name, images in panels.items()]
    _, rows, columns = grids[0]
    figure = _new_figure(_grid_inches(rows, columns, panels=len(panels)), dpi)
    for axes, name, (grid, _, _) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, grids):
        _show_image(axes, grid, name)
    if title:
        figure.suptitle(title)
    return _finish(figure, path)


def _panel_ranges(names, value_range):
    """Expands one value range, or checks a mapping of them, to `{panel name: range}`."""
    if not isinstance(value_range, collections.abc.Mapping):
        return {name: value_range for name in names}
    missing = [name for name in names if name not in value_range]
    if missing:
        raise ValueError(f"`value_range` has no entry for panels {missing}; give one range per panel.")
    return dict(value_range)


def reconstructions(originals, reconstructed, value_range=(0, 1), columns=None, path=None, dpi=DPI):
    """Original images next to their reconstructions, tile for tile on the same layout.

    Args:
        originals: batch `(count, height, width[, channels])`.
        reconstructed: the model's reconstructions of `originals`, same shape.
        value_range: `(0, 1)` or `(-1, 1)`, the range of both batches.
        columns: images per row in each panel; `None` gives near-square grids.
        path: if given, the figure is also saved there as a PNG.
        dpi: pixels per inch of the saved PNG.

    Returns:
        The Figure, sized as in `side_by_side` with two panels.

    Raises:
        ValueError: if the two batches differ in shape.
    """
    if np.shape(originals) != np.shape(reconstructed):
        raise ValueError(
            f"`originals` {np.shape(originals)} and `reconstructed` {np.shape(reconstructed)} must "
            "have the same shape: one reconstruction per original."
        )
    return side_by_side(
        {"original": originals, "reconstruction": reconstructed},
        value_range=value_range, columns=columns, path=path, dpi=dpi,
    )


# ----------------------------------------------------------------------------------------------
# Loss curves
# ----------------------------------------------------------------------------------------------

def _read_history_csv(path):
    """A history CSV (`gencompare.runs.read_history`) as `{metric: values}`, NaN where an epoch lacks a
    metric, with 1-based epochs under `"epoch"`."""
    rows = runs.read_history(path)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    history = {key: [row.get(key, math.nan) for row in rows] for key in keys}
    if "epoch" in history:
        history["epoch"] = [epoch + 1 for epoch in history["epoch"]]
    return history


def _history_series(history):
    """Returns `(epochs, {metric: values})` from a dict, a Keras `History`, or a CSV path."""
    if hasattr(history, "history"):
        history = history.history
    if isinstance(history, (str, os.PathLike)):
        history = _read_history_csv(history)
    if not isinstance(history, collections.abc.Mapping):
        raise ValueError(
            "`history` must be a dict of lists (`model.fit(...).history`) or the path of a "
            f"`keras.callbacks.CSVLogger` file; got {type(history).__name__}."
        )
    series = {key: np.asarray(values, dtype=np.float64) for key, values in history.items() if key != "epoch"}
    length = max((len(values) for values in series.values()), default=0)
    if length == 0:
        raise ValueError("`history` is empty: train for at least one epoch before plotting losses.")
    epochs = np.asarray(history.get("epoch", np.arange(1, length + 1)), dtype=np.float64)
    return epochs, series


def loss_curves(history, title=None, path=None, dpi=DPI):
    """Training curves, one panel per group of metrics found in `history`.

    Panels (each drawn when any of its metrics is present): VAE `loss` (or `total_loss`),
    `reconstruction_loss`, `kl_loss`; GAN `d_loss`/`g_loss` together, and
    `d_real_accuracy`/`d_fake_accuracy` together on a 0–1 axis. A `val_` counterpart is drawn
    dashed in the same colour. Epochs are counted from 1, as Keras prints them.

    Args:
        history: a dict of per-epoch lists like `keras.callbacks.History.history`, a `History`
            object, or the path of a `history.csv` written by `keras.callbacks.CSVLogger`.
        title: figure title.
        path: if given, the figure is also saved there as a PNG.
        dpi: pixels per inch of the saved PNG.

    Returns:
        The Figure, `panels * PANEL_INCHES[0]` by `PANEL_INCHES[1]` inches (plus `TITLE_INCHES` in
        height when `title` is given).

    Raises:
        ValueError: if `history` is empty or has none of the metrics above.
    """
    epochs, series = _history_series(history)
    panels = [
        (name, [key for key in keys if key in series or f"val_{key}" in series])
        for name, keys in LOSS_PANELS
    ]
    panels = [(name, keys) for name, keys in panels if keys]
    if not panels:
        known = [key for _, keys in LOSS_PANELS for key in keys]
        raise ValueError(f"`history` has none of the metrics {known}; it has {sorted(series)}.")
    width, height = PANEL_INCHES
    figure = _new_figure((width * len(panels), height + (TITLE_INCHES if title else 0.0)), dpi)
    for axes, (name, keys) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        _plot_panel(axes, name, keys, epochs, series)
    if title:
        figure.suptitle(title)
    return _finish(figure, path)


def _plot_panel(axes, name, keys, epochs, series):
    """Draws each metric solid and its `val_` counterpart dashed in the same colour."""
    for key in keys:
        color = None
        for label, style in ((key, "-"), (f"val_{key}", "--")):
            if label in series:
                values = series[label]
                # A line needs two points: a one-epoch history gets markers so it is visible at all.
                marker = "o" if len(values) < 2 else None
                (line,) = axes.plot(epochs[:len(values)], values, style, color=color, label=label, marker=marker)
                color = line.get_color()
    axes.set_title(name)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if name == ACCURACY_PANEL:
        axes.set_ylim(-0.02, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")


# ----------------------------------------------------------------------------------------------
# Latent interpolation
# ----------------------------------------------------------------------------------------------

def _endpoints(z_start, z_end):
    """Checks two latents, or two batches of latents (one row per pair), of the same shape."""
    start, end = np.asarray(z_start), np.asarray(z_end)
    if start.shape != end.shape or start.ndim not in (1, 2) or start.shape[-1] == 0:
        raise ValueError(
            "`z_start` and `z_end` must have the same shape, (latent_dim,) or (pairs, latent_dim); "
            f"got {start.shape} and {end.shape}."
        )
    dtype = np.result_type(start.dtype, end.dtype, np.float32)
    return start.astype(np.float64), end.astype(np.float64), dtype


def _interpolation_times(steps):
    """`steps` evenly spaced times from 0 to 1, as a column for broadcasting."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"`steps` must be an integer of at least 2 (both endpoints), got {steps!r}.")
    return np.linspace(0.0, 1.0, int(steps))[:, np.newaxis]


def interpolate_linear(z_start, z_end, steps):
    """Points on the straight line from `z_start` to `z_end`.

    Args:
        z_start: latent `(latent_dim,)` or batch of latents `(pairs, latent_dim)`.
        z_end: same shape as `z_start`.
        steps: number of points, endpoints included (at least 2).

    Returns:
        Array `(steps, latent_dim)`, or `(pairs, steps, latent_dim)` for batches: point `i` is
        `(1 - t) * z_start + t * z_end` with `t = i / (steps - 1)`. Float32 unless an input is float64.

    Raises:
        ValueError: for mismatched shapes or `steps < 2`.
    """
    start, end, dtype = _endpoints(z_start, z_end)
    times = _interpolation_times(steps)
    return _lerp(start, end, times).astype(dtype)


def _lerp(start, end, times):
    return (1.0 - times) * start[..., np.newaxis, :] + times * end[..., np.newaxis, :]


def interpolate_slerp(z_start, z_end, steps):
    """Points on the great circle from `z_start` to `z_end` (spherical linear interpolation).

    For Gaussian latents, slerp keeps intermediate points at the typical norm (about
    `sqrt(latent_dim)`), whereas the straight line passes through the low-norm region near the
    origin that the model rarely saw in training (White, 2016, "Sampling Generative Networks").
    For endpoints of equal norm every point keeps that norm. When the endpoints are (nearly)
    parallel or antiparallel the great circle is undefined and the points are linear instead.

    Args:
        z_start: latent `(latent_dim,)` or batch of latents `(pairs, latent_dim)`.
        z_end: same shape as `z_start`.
        steps: number of points, endpoints included (at least 2).

    Returns:
        Array like `interpolate_linear`: point `i` is
        `sin((1 - t) w) / sin(w) * z_start + sin(t w) / sin(w) * z_end`, with `w` the angle between
        the endpoints and `t = i / (steps - 1)`. The first and last points are exactly the endpoints.

    Raises:
        ValueError: for mismatched shapes or `steps < 2`.
    """
    start, end, dtype = _endpoints(z_start, z_end)
    times = _interpolation_times(steps)
    norms = np.linalg.norm(start, axis=-1, keepdims=True) * np.linalg.norm(end, axis=-1, keepdims=True)
    cosine = np.sum(start * end, axis=-1, keepdims=True) / np.where(norms > 0, norms, 1.0)
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))[..., np.newaxis, :]
    sine = np.sin(angle)
    parallel = (sine < PARALLEL_SINE) | (norms[..., np.newaxis, :] == 0)
    safe_sine = np.where(parallel, 1.0, sine)
    spherical = (
        np.sin((1.0 - times) * angle) / safe_sine * start[..., np.newaxis, :]
        + np.sin(times * angle) / safe_sine * end[..., np.newaxis, :]
    )
    points = np.where(parallel, _lerp(start, end, times), spherical)
    # sin(w) / sin(w) may round away from 1: pin the endpoints so the first and last frames are
    # exactly the decoded endpoints.
    points[..., 0, :], points[..., -1, :] = start, end
    return points.astype(dtype)


def _decode_batch(decode, latents):
    """Calls `decode` on a latent batch and checks it returns one image per latent."""
    if not callable(decode):
        raise ValueError(f"`decode` must be a function from latents to images, got {type(decode).__name__}.")
    images = _image_batch(np.asarray(decode(latents)))
    if len(images) != len(latents):
        raise ValueError(f"`decode` returned {len(images)} images for {len(latents)} latents.")
    return images


def interpolation_images(decode, z_start, z_end, steps=8, method="linear"):
    """Decodes the interpolation between latent pairs.

    Args:
        decode: function from latents `(count, latent_dim)` (numpy) to images
            `(count, height, width[, channels])` (numpy).
        z_start: latent `(latent_dim,)` or batch of latents `(pairs, latent_dim)`.
        z_end: same shape as `z_start`.
        steps: images per pair, endpoints included (at least 2).
        method: `"linear"`, or `"slerp"` for Gaussian latents (see `interpolate_slerp`).

    Returns:
        Images `(pairs, steps, height, width, channels)`; one pair for single latents.

    Raises:
        ValueError: for an unknown `method`, bad shapes or `steps`, or a `decode` that does not
            return one image per latent.
    """
    interpolators = {"linear": interpolate_linear, "slerp": interpolate_slerp}
    if method not in interpolators:
        raise ValueError(f"Unknown interpolation `method` {method!r}; choose one of {INTERPOLATION_METHODS}.")
    points = interpolators[method](z_start, z_end, steps)
    pairs = points.reshape(-1, points.shape[-2], points.shape[-1])
    images = _decode_batch(decode, pairs.reshape(-1, pairs.shape[-1]))
    return images.reshape(pairs.shape[0], pairs.shape[1], *images.shape[1:])


def interpolation(
    decode, z_start, z_end, steps=8, method="linear", value_range=(0, 1), title=None, path=None, dpi=DPI
):
    """Decoded latent interpolations: one row per pair, from `z_start` (left) to `z_end` (right).

    Args:
        decode: function from a latent batch (numpy) to an image batch (numpy).
        z_start: latent `(latent_dim,)` or batch of latents `(pairs, latent_dim)`.
        z_end: same shape as `z_start`.
        steps: images per row, endpoints included (at least 2).
        method: `"linear"` or `"slerp"` (for Gaussian latents).
        value_range: `(0, 1)` or `(-1, 1)`, the range of the decoded images.
        title: figure title; defaults to the method and step count.
        path: if given, the figure is also saved there as a PNG.
        dpi: pixels per inch of the saved PNG.

    Returns:
        The Figure, sized as `sample_grid` with `steps` columns and one row per pair.
    """
    images = interpolation_images(decode, z_start, z_end, steps, method)
    pairs, steps = images.shape[:2]
    return sample_grid(
        images.reshape(pairs * steps, *images.shape[2:]),
        value_range=value_range,
        columns=steps,
        title=title or f"{method} interpolation, {steps} steps",
        path=path,
        dpi=dpi,
    )


# ----------------------------------------------------------------------------------------------
# Two-dimensional latent spaces
# ----------------------------------------------------------------------------------------------

def manifold_axis(grid_size, prior="normal", extent=2.0):
    """Latent coordinates along one axis of the manifold grid, in increasing order.

    For a standard normal prior the coordinates are the inverse normal CDF of the evenly spaced
    quantiles `(i + 0.5) / grid_size` (Kingma & Welling, 2014): each tile stands for an equal share
    of the prior's probability, so the grid covers where the decoder was trained instead of
    spending tiles on the far tails. For `"uniform"` they are evenly spaced in `[-extent, extent]`
    (keras.io's VAE example uses this with extent 1; useful for GANs with uniform latents).

    Args:
        grid_size: number of coordinates (at least 2).
        prior: `"normal"` or `"uniform"`.
        extent: half-width of the uniform range (ignored for `"normal"`).

    Returns:
        A float64 array of `grid_size` coordinates.

    Raises:
        ValueError: for an unknown `prior`, `grid_size < 2` or a non-positive `extent`.
    """
    if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) or grid_size < 2:
        raise ValueError(f"`grid_size` must be an integer of at least 2, got {grid_size!r}.")
    if prior == "normal":
        return ndtri((np.arange(grid_size) + 0.5) / grid_size)
    if prior == "uniform":
        if not extent > 0:
            raise ValueError(f"`extent` must be positive, got {extent!r}.")
        return np.linspace(-extent, extent, grid_size)
    raise ValueError(f"Unknown `prior` {prior!r}; choose one of {MANIFOLD_PRIORS}.")


def manifold_points(grid_size, prior="normal", extent=2.0):
    """The 2-D latents of the manifold grid in reading order (rows top to bottom).

    Columns go left to right with increasing `z[0]`; rows go top to bottom with *decreasing*
    `z[1]`, so the picture has `z[1]` pointing up like a scatter plot.

    Returns:
        Float32 array `(grid_size * grid_size, 2)`; see `manifold_axis` for the arguments.
    """
    axis = manifold_axis(grid_size, prior, extent)
    horizontal, vertical = np.meshgrid(axis, axis[::-1])
    return np.stack([horizontal.ravel(), vertical.ravel()], axis=-1).astype(np.float32)


def manifold_tile_coordinates(latents, grid_size, prior="normal", extent=2.0):
    """Where 2-D latents fall on the manifold grid, in tile units: `(column, row)` per latent.

    Tile `i`'s centre is at coordinate `i` (columns left to right with `z[0]`, rows top to bottom
    with decreasing `z[1]`, as in `manifold_points`); between centres the map follows the grid's
    spacing: the normal CDF for `"normal"` (so the axes are not linear in z), linear for `"uniform"`.

    Returns:
        Float64 array `(count, 2)`.
    """
    points = np.asarray(latents, dtype=np.float64).reshape(-1, 2)
    if prior == "normal":
        position = ndtr(points) * grid_size - 0.5
    else:
        manifold_axis(grid_size, prior, extent)  # validates the arguments
        position = (points + extent) / (2 * extent) * (grid_size - 1)
    return np.stack([position[:, 0], grid_size - 1 - position[:, 1]], axis=-1)


def mixture_ellipses(weights, means, covariances, radius=2.0, points=64):
    """The `radius`-σ contour of each component of a 2-D Gaussian mixture.

    Args:
        weights: `(K,)` mixture weights; means: `(K, 2)`; covariances: `(K, 2, 2)`.
        radius: Mahalanobis radius of the contour (2: about 86 % of a component's mass inside).
        points: points per contour (the first is repeated at the end, closing the curve).

    Returns:
        Float64 array `(K, points + 1, 2)` of latent coordinates.

    Raises:
        ValueError: if the shapes are not those of a 2-D mixture.
    """
    weights, means, covariances = (np.asarray(v, dtype=np.float64) for v in (weights, means, covariances))
    count = len(weights)
    if means.shape != (count, 2) or covariances.shape != (count, 2, 2):
        raise ValueError(f"A 2-D mixture needs weights (K,), means (K, 2) and covariances (K, 2, 2); got "
                         f"{weights.shape}, {means.shape}, {covariances.shape}.")
    angles = np.linspace(0.0, 2 * np.pi, points + 1)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    scale = np.linalg.cholesky(covariances)
    return means[:, None, :] + radius * np.einsum("kij,tj->kti", scale, circle)


def latent_manifold(
    decode, grid_size=15, value_range=(0, 1), prior="normal", extent=2.0, title=None, path=None, dpi=DPI,
    mixture=None,
):
    """The decoded latent plane of a model with a 2-D latent space (keras.io style).

    Args:
        decode: function from a latent batch `(count, 2)` (numpy) to an image batch (numpy).
        grid_size: tiles per side.
        value_range: `(0, 1)` or `(-1, 1)`, the range of the decoded images.
        prior: `"normal"` (inverse-CDF spacing) or `"uniform"`; see `manifold_axis`.
        extent: half-width of the uniform grid.
        title: figure title.
        path: if given, the figure is also saved there as a PNG.
        dpi: pixels per inch of the saved PNG.
        mixture: optional `(weights, means, covariances)` of a 2-D Gaussian mixture (e.g. a fitted
            learned prior's `parameters()`): each component's 2σ contour and its mean are drawn over the
            tiles (line width grows with the component's weight), showing where the mixture puts its
            mass compared with N(0, I), whose quantiles the tiles are.

    Returns:
        The Figure, `MANIFOLD_INCHES` in size, with tick labels giving the latent coordinates.
    """
    axis = manifold_axis(grid_size, prior, extent)
    images = _decode_batch(decode, manifold_points(grid_size, prior, extent))
    grid = tile_images(to_display(images, value_range), columns=grid_size)
    figure = _new_figure(MANIFOLD_INCHES, dpi)
    axes = figure.add_subplot()
    _show_image(axes, grid, title)
    axes.set_axis_on()
    height, width = images.shape[1:3]
    # Label at most ~10 ticks so the numbers stay readable on large grids.
    shown = np.arange(0, grid_size, max(1, math.ceil(grid_size / 10)))
    # Tick at the centre of each labelled tile (one border pixel before every tile).
    axes.set_xticks(1 + shown * (width + 1) + (width - 1) / 2, [f"{v:.2g}" for v in axis[shown]])
    axes.set_yticks(1 + shown * (height + 1) + (height - 1) / 2, [f"{v:.2g}" for v in axis[::-1][shown]])
    axes.set_xlabel("z[0]")
    axes.set_ylabel("z[1]")
    if mixture is not None:
        _draw_mixture(axes, mixture, grid_size, prior, extent, (height, width))
    return _finish(figure, path)


def _draw_mixture(axes, mixture, grid_size, prior, extent, tile_shape):
    """Draws `mixture_ellipses` and the means on a manifold's axes (pixel coordinates)."""
    weights, means, _ = (np.asarray(v, dtype=np.float64) for v in mixture)
    height, width = tile_shape

    def to_pixels(latents):
        tiles = manifold_tile_coordinates(latents, grid_size, prior, extent)
        return 1 + tiles[:, 0] * (width + 1) + (width - 1) / 2, 1 + tiles[:, 1] * (height + 1) + (height - 1) / 2

    limits = axes.get_xlim(), axes.get_ylim()
    for weight, contour in zip(weights, mixture_ellipses(*mixture)):
        axes.plot(*to_pixels(contour), color="tab:orange", linewidth=0.5 + 12 * weight / weights.max() / len(weights))
    axes.plot(*to_pixels(means), linestyle="none", marker="+", color="tab:orange", markersize=8)
    axes.set_xlim(*limits[0])
    axes.set_ylim(*limits[1])


def latent_scatter(latents, labels=None, title=None, path=None, dpi=DPI):
    """Encoded 2-D latents as points, coloured by label (a legend for up to 10 classes).

    Args:
        latents: array `(count, 2)`, e.g. the encoder means of a test set.
        labels: optional array `(count,)` of class labels; more than 10 distinct labels get a
            colour bar instead of a legend.
        title: figure title.
        path: if given, the figure is also saved there as a PNG.
        dpi: pixels per inch of the saved PNG.

    Returns:
        The Figure, `SCATTER_INCHES` in size.

    Raises:
        ValueError: if `latents` is not `(count, 2)` or `labels` has another length.
    """
    points = np.asarray(latents, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(
            f"`latents` must have shape (count, 2), got {points.shape}. For a larger latent space, "
            "project to two dimensions first (e.g. PCA)."
        )
    figure = _new_figure(SCATTER_INCHES, dpi)
    axes = figure.add_subplot()
    # Many small translucent points show density; rasterized keeps 60 000 points cheap to save.
    style = dict(s=3, alpha=0.6, linewidths=0, rasterized=True)
    if labels is None:
        axes.scatter(points[:, 0], points[:, 1], **style)
    else:
        _scatter_by_label(figure, axes, points, np.asarray(labels), style)
    # Both axes are in the same latent units: equal scales keep the prior's circle round.
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xlabel("z[0]")
    axes.set_ylabel("z[1]")
    axes.set_title(title or "latent space")
    return _finish(figure, path)


def _scatter_by_label(figure, axes, points, labels, style):
    if labels.shape != (len(points),):
        raise ValueError(f"`labels` must have shape ({len(points)},) like `latents`, got {labels.shape}.")
    classes = np.unique(labels)
    if len(classes) <= 10:
        for index, label in enumerate(classes):
            chosen = labels == label
            axes.scatter(points[chosen, 0], points[chosen, 1], color=f"C{index}", label=str(label), **style)
        axes.legend(title="label", markerscale=3, fontsize="small")
    else:
        collection = axes.scatter(points[:, 0], points[:, 1], c=labels, cmap="viridis", **style)
        figure.colorbar(collection, ax=axes, label="label")


# ----------------------------------------------------------------------------------------------
# Figures of trained models (written at the end of a run, and by the report)
# ----------------------------------------------------------------------------------------------

def model_samples(models, count=16, seed=0, columns=4, title=None, path=None, dpi=DPI):
    """Trained models side by side, each drawing `count` images from the latents of one seed.

    Args:
        models: mapping from panel title to a trained VAE or GAN (anything with `sample(count, seed=)`
            and `value_range`).
        count, seed: images per model and the seed of their latents.
        columns, title, path, dpi: as for `side_by_side`.

    Returns:
        The Figure.
    """
    panels = {label: model.sample(count, seed=seed) for label, model in models.items()}
    ranges = {label: model.value_range for label, model in models.items()}
    return side_by_side(panels, value_range=ranges, columns=columns, title=title, path=path, dpi=dpi)


def model_figures(model, folder, *, originals=None, latents=None, prefix="", title=None, mixture=None):
    """Writes the figures of a trained model into `folder`; returns `{name: path}`.

    * A VAE (a model with `encode`): `reconstructions.png` of `originals` (held-out images in the
      model's range), `interpolation.png` between the encodings of up to four pairs of them, and for
      a 2-D latent `manifold.png`, the decoded latent plane.
    * A GAN: `interpolation.png`, great-circle (slerp) paths from `latents[:4]` to `latents[4:8]`.

    Args:
        model: the trained model.
        folder: where the PNGs go (created if needed).
        originals: a VAE's held-out images.
        latents: at least 8 prior latents, for a GAN.
        prefix: prepended to the file names (the report writes `mnist-vae-reconstructions.png`).
        title: what the titles start with, e.g. `"VAE on mnist"`; None: no titles.
        mixture: for a 2-D VAE, a fitted mixture's `(weights, means, covariances)` to draw over the
            manifold (see `latent_manifold`).
    """
    folder = pathlib.Path(folder)
    paths = {}

    def path(name, file_name):
        paths[name] = folder / f"{prefix}{file_name}"
        return paths[name]

    def titled(text):
        return f"{title}: {text}" if title else None

    value_range = model.value_range
    if hasattr(model, "encode"):
        reconstructions(originals, model.reconstruct(originals), value_range=value_range,
                        path=path("reconstructions", runs.RECONSTRUCTIONS_FILE))
        decode = lambda z: np.asarray(model.decode(z))  # noqa: E731
        pairs = min(4, len(originals) // 2)
        if pairs:
            codes = np.asarray(model.encode(originals[: 2 * pairs])[0])
            interpolation(decode, codes[:pairs], codes[pairs:], steps=8, value_range=value_range,
                          title=titled("between encoded test images"),
                          path=path("interpolation", runs.INTERPOLATION_FILE))
        if model.latent_dim == 2:
            text = "the decoded latent plane" + (" and the fitted mixture's 2σ contours" if mixture is not None else "")
            latent_manifold(decode, grid_size=15, value_range=value_range, title=titled(text),
                            path=path("manifold", runs.MANIFOLD_FILE), mixture=mixture)
    else:
        interpolation(model.generate, latents[:4], latents[4:8], steps=8, method="slerp", value_range=value_range,
                      title=titled("slerp between prior latents"), path=path("interpolation", runs.INTERPOLATION_FILE))
    return paths


def class_histogram(metrics_by_label, title="MNIST: which digits each model draws", path=None, dpi=DPI):
    """Share of samples the MNIST classifier puts in each digit class, one bar group per model.

    Args:
        metrics_by_label: `{label: gencompare.metrics.evaluate results}`; entries without class
            fractions (`class_fraction_0` ...) are skipped.
        title: the axes title.
        path: if given, the PNG is written there too.
        dpi: pixels per inch of the saved PNG.

    Returns:
        The Figure, 10 × 3.5 inches.
    """
    chosen = {label: metrics for label, metrics in metrics_by_label.items() if "class_fraction_0" in metrics}
    figure = _new_figure((10, 3.5), dpi)
    axes = figure.add_subplot()
    width = 0.8 / max(len(chosen), 1)
    for index, (label, metrics) in enumerate(chosen.items()):
        fractions = [metrics[f"class_fraction_{digit}"] for digit in range(10)]
        axes.bar(np.arange(10) + index * width - 0.4 + width / 2, fractions, width, label=label)
    axes.axhline(0.1, color="black", linestyle="--", linewidth=1, label="uniform")
    axes.set(xticks=range(10), xlabel="digit predicted by the classifier", ylabel="share of samples", title=title)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(figure, path)


def quality_curves(curves, metric, label=None, title=None, path=None, dpi=DPI):
    """Each model's quality against its training time, all on one axes (log-log).

    Args:
        curves: `{model label: curve rows}`, rows as in `gencompare.runs.read_curve` (`seconds`,
            `images` and metrics); models without a point of `metric` are left out.
        metric: the metric key, e.g. `"fd_mnist"` or `"swd_mean"`.
        label: the y-axis label (default: `metric`).
        title: the axes title.
        path: if given, the PNG is written there too.
        dpi: pixels per inch of the saved PNG.

    Returns:
        The Figure, 7 × 4 inches.

    Raises:
        ValueError: if no model has a point of `metric`.
    """
    series = {}
    for name, rows in curves.items():
        points = sorted((row["seconds"], row[metric]) for row in rows
                        if row.get(metric) is not None and row.get("seconds", 0) > 0 and np.isfinite(row[metric]))
        if points:
            series[name] = np.asarray(points)
    if not series:
        raise ValueError(f"No curve has a point of {metric!r}: the runs recorded no quality curve.")
    figure = _new_figure((7, 4), dpi)
    axes = figure.add_subplot()
    for name, points in series.items():
        axes.plot(points[:, 0], points[:, 1], marker="o", markersize=4, label=name)
    axes.set_xscale("log")
    if all(points[:, 1].min() > 0 for points in series.values()):
        axes.set_yscale("log")
    for axis in (axes.xaxis, axes.yaxis):  # plain numbers, not 2×10¹
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    axes.set(xlabel="training time (s, evaluation excluded)", ylabel=label or metric, title=title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    return _finish(figure, path)
