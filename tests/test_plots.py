"""Tests for gencompare.plots: display mapping, grid files, interpolation maths and figure outputs."""

import logging
import math

import matplotlib.image
import numpy as np
import pytest
from PIL import Image

from gencompare import plots

DPI = 50  # small figures keep the suite fast; sizes below are the docstrings' formulas at this dpi
RNG = np.random.default_rng(0)


def random_images(count, height=8, width=8, channels=1, value_range=(0, 1), seed=0):
    low, high = value_range
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, (count, height, width, channels)).astype("float32")


def linear_decoder(latent_dim, height=6, width=6, seed=0):
    """A deterministic decode: a fixed linear map from latents to images (values not range-checked)."""
    weights = np.random.default_rng(seed).standard_normal((latent_dim, height * width))

    def decode(latents):
        return (np.asarray(latents, dtype=np.float64) @ weights).reshape(-1, height, width, 1)

    return decode


def sigmoid_decoder(latent_dim, seed=0):
    linear = linear_decoder(latent_dim, seed=seed)
    return lambda latents: 1.0 / (1.0 + np.exp(-linear(latents)))


def read_png(path):
    return matplotlib.image.imread(str(path))


# ----------------------------------------------------------------------------------------------
# to_display
# ----------------------------------------------------------------------------------------------

def test_to_display_maps_tanh_range_to_unit_interval():
    shown = plots.to_display(np.array([-1.0, 0.0, 1.0]), (-1, 1))
    np.testing.assert_allclose(shown, [0.0, 0.5, 1.0])
    assert shown.dtype == np.float32


def test_to_display_leaves_sigmoid_range_unchanged():
    images = random_images(3)
    shown = plots.to_display(images, (0, 1))
    np.testing.assert_array_equal(shown, images)
    assert plots.to_display(np.array([1.0]), (0, 1))[0] == 1.0


def test_to_display_clips_rounding_silently_and_warns_beyond(caplog):
    with caplog.at_level(logging.WARNING, logger="gencompare.plots"):
        rounding = plots.to_display(np.array([-0.0004, 0.5, 1.0004]), (0, 1))
    assert caplog.records == []
    np.testing.assert_array_equal(rounding, np.array([0.0, 0.5, 1.0], dtype="float32"))
    with caplog.at_level(logging.WARNING, logger="gencompare.plots"):
        clipped = plots.to_display(np.array([0.5, 3.0]), (0, 1))
    assert "outside value_range" in caplog.text
    np.testing.assert_array_equal(clipped, [0.5, 1.0])


def test_to_display_warns_when_sigmoid_outputs_are_declared_tanh(caplog):
    with caplog.at_level(logging.WARNING, logger="gencompare.plots"):
        plots.to_display(random_images(2), (-1, 1))
    assert "no value is negative" in caplog.text


@pytest.mark.parametrize("value_range", [(0, 255), (-1, 0), "tanh", None])
def test_to_display_rejects_unknown_value_range(value_range):
    with pytest.raises(ValueError, match="value_range"):
        plots.to_display(random_images(1), value_range)


def test_to_display_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        plots.to_display(np.array([0.5, np.nan]), (0, 1))


# ----------------------------------------------------------------------------------------------
# save_image_grid
# ----------------------------------------------------------------------------------------------

def test_save_image_grid_writes_exact_pixels_grayscale(tmp_path):
    images = random_images(5, height=7, width=9)
    path = plots.save_image_grid(images, tmp_path / "nested" / "grid.png", columns=3, border=1)
    pixels = np.asarray(Image.open(path))
    # 2 rows x 3 columns of 7x9 tiles with 1-pixel lines between and around them.
    assert pixels.shape == (2 * 8 + 1, 3 * 10 + 1)
    np.testing.assert_array_equal(pixels[1:8, 1:10], np.round(images[0, ..., 0] * 255))
    assert (pixels[0] == 255).all() and (pixels[:, 0] == 255).all()
    # The missing sixth tile stays white.
    assert (pixels[9:16, 21:30] == 255).all()


def test_save_image_grid_maps_tanh_colour_images_once(tmp_path):
    images = random_images(4, height=5, width=6, channels=3, value_range=(-1, 1))
    path = plots.save_image_grid(images, tmp_path / "grid.png", value_range=(-1, 1), border=2)
    pixels = np.asarray(Image.open(path))
    assert pixels.shape == (2 * 7 + 2, 2 * 8 + 2, 3)
    np.testing.assert_allclose(pixels[2:7, 2:8], (images[0] + 1) / 2 * 255, atol=0.5 + 1e-3)


def test_save_image_grid_leaves_no_temporary_files(tmp_path):
    plots.save_image_grid(random_images(2), tmp_path / "grid.png")
    plots.save_image_grid(random_images(2, seed=1), tmp_path / "grid.png")
    assert [path.name for path in tmp_path.iterdir()] == ["grid.png"]


# ----------------------------------------------------------------------------------------------
# Interpolation maths
# ----------------------------------------------------------------------------------------------

def test_interpolate_linear_is_exactly_linear():
    start, end = RNG.standard_normal((2, 3, 4))
    points = plots.interpolate_linear(start, end, steps=5)
    assert points.shape == (3, 5, 4)
    np.testing.assert_array_equal(points[:, 0], start)
    np.testing.assert_array_equal(points[:, -1], end)
    np.testing.assert_allclose(np.diff(points, n=2, axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(points[:, 2], (start + end) / 2, rtol=1e-12)
    # Latents for Keras models stay float32.
    assert plots.interpolate_linear(start.astype("float32"), end.astype("float32"), 3).dtype == np.float32


def test_interpolate_slerp_keeps_norm_of_equal_norm_endpoints():
    start, end = RNG.standard_normal((2, 16))
    end *= np.linalg.norm(start) / np.linalg.norm(end)
    points = plots.interpolate_slerp(start.astype("float64"), end, steps=9)
    np.testing.assert_allclose(np.linalg.norm(points, axis=-1), np.linalg.norm(start), rtol=1e-12)
    np.testing.assert_array_equal(points[0], start)
    np.testing.assert_array_equal(points[-1], end)


def test_interpolate_slerp_matches_closed_form_for_orthogonal_vectors():
    first, second = np.eye(3)[:2]
    points = plots.interpolate_slerp(first, second, steps=5)
    np.testing.assert_allclose(points[2], (first + second) / math.sqrt(2), atol=1e-7)
    times = np.linspace(0, 1, 5)[:, None]
    expected = np.cos(times * np.pi / 2) * first + np.sin(times * np.pi / 2) * second
    np.testing.assert_allclose(points, expected, atol=1e-7)


@pytest.mark.parametrize(
    "end", [[2.0, 4.0], [1.0, 2.0 + 1e-12], [-1.0, -2.0], [0.0, 0.0]],
    ids=["parallel", "nearly-parallel", "antiparallel", "zero"],
)
def test_interpolate_slerp_falls_back_to_linear_without_dividing_by_zero(end):
    start = np.array([1.0, 2.0])
    with np.errstate(all="raise"):
        points = plots.interpolate_slerp(start, np.array(end), steps=4)
    np.testing.assert_allclose(points, plots.interpolate_linear(start, np.array(end), steps=4), atol=1e-9)


@pytest.mark.parametrize("steps", [1, 0, 2.5, True])
def test_interpolation_rejects_bad_steps(steps):
    with pytest.raises(ValueError, match="steps"):
        plots.interpolate_linear(np.zeros(2), np.ones(2), steps)


def test_interpolation_rejects_mismatched_endpoints():
    with pytest.raises(ValueError, match="same shape"):
        plots.interpolate_slerp(np.zeros(2), np.ones(3), 4)


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_images_start_and_end_at_decoded_endpoints(method):
    decode = linear_decoder(latent_dim=4)
    start, end = RNG.standard_normal((2, 3, 4)).astype("float32")
    images = plots.interpolation_images(decode, start, end, steps=6, method=method)
    assert images.shape == (3, 6, 6, 6, 1)
    np.testing.assert_allclose(images[:, 0], decode(start), rtol=1e-6)
    np.testing.assert_allclose(images[:, -1], decode(end), rtol=1e-6)


def test_interpolation_images_of_one_pair_is_one_row():
    decode = linear_decoder(latent_dim=2)
    images = plots.interpolation_images(decode, np.zeros(2), np.ones(2), steps=3)
    assert images.shape == (1, 3, 6, 6, 1)
    np.testing.assert_allclose(images[0, 1], decode(np.full((1, 2), 0.5))[0])


def test_interpolation_rejects_unknown_method_and_bad_decode():
    with pytest.raises(ValueError, match="method"):
        plots.interpolation_images(linear_decoder(2), np.zeros(2), np.ones(2), method="cubic")
    with pytest.raises(ValueError, match="images for"):
        plots.interpolation_images(lambda z: random_images(1), np.zeros(2), np.ones(2), steps=3)


# ----------------------------------------------------------------------------------------------
# Manifold grid
# ----------------------------------------------------------------------------------------------

def test_manifold_axis_uses_normal_quantiles():
    # Quartiles of the standard normal: the grid for 2 tiles per side.
    np.testing.assert_allclose(plots.manifold_axis(2), [-0.6744897501960817, 0.6744897501960817])
    axis = plots.manifold_axis(5)
    assert axis[2] == 0.0 and np.all(np.diff(axis) > 0)
    np.testing.assert_allclose(axis, -axis[::-1])
    np.testing.assert_allclose(plots.manifold_axis(5, prior="uniform", extent=2.0), [-2, -1, 0, 1, 2])


def test_manifold_points_read_left_to_right_top_to_bottom():
    points = plots.manifold_points(3, prior="uniform", extent=1.0)
    assert points.shape == (9, 2)
    np.testing.assert_array_equal(points[0], [-1, 1])  # top left: smallest z[0], largest z[1]
    np.testing.assert_array_equal(points[2], [1, 1])
    np.testing.assert_array_equal(points[-1], [1, -1])


@pytest.mark.parametrize(
    "kwargs", [{"grid_size": 1}, {"prior": "laplace"}, {"prior": "uniform", "extent": 0}]
)
def test_manifold_axis_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        plots.manifold_axis(**{"grid_size": 4, **kwargs})


@pytest.mark.parametrize("prior", ["normal", "uniform"])
def test_manifold_tile_coordinates_put_grid_latents_on_their_tile_centres(prior):
    grid = 5
    points = plots.manifold_points(grid, prior=prior, extent=1.5)
    tiles = plots.manifold_tile_coordinates(points, grid, prior=prior, extent=1.5)
    rows, columns = np.divmod(np.arange(grid * grid), grid)
    np.testing.assert_allclose(tiles, np.stack([columns, rows], axis=-1), atol=1e-5)


def test_mixture_ellipses_lie_at_the_mahalanobis_radius():
    weights = np.array([0.3, 0.7])
    means = np.array([[0.0, 0.0], [1.0, -2.0]])
    covariances = np.array([[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.6], [0.6, 0.5]]])
    contours = plots.mixture_ellipses(weights, means, covariances, radius=2.0, points=32)
    assert contours.shape == (2, 33, 2)
    for mean, covariance, contour in zip(means, covariances, contours):
        offsets = contour - mean
        distances = np.einsum("ti,ij,tj->t", offsets, np.linalg.inv(covariance), offsets)
        np.testing.assert_allclose(np.sqrt(distances), 2.0, rtol=1e-9)
    np.testing.assert_allclose(contours[:, 0], contours[:, -1], atol=1e-12)  # closed curves
    with pytest.raises(ValueError, match="2-D mixture"):
        plots.mixture_ellipses(weights, means[:, :1], covariances)


def test_latent_manifold_draws_one_contour_per_component_and_the_means():
    weights, means = np.array([0.5, 0.25, 0.25]), np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]])
    covariances = np.stack([np.eye(2) * 0.1] * 3)
    figure = plots.latent_manifold(sigmoid_decoder(2), grid_size=4, mixture=(weights, means, covariances))
    lines = figure.axes[0].get_lines()
    assert len(lines) == 4  # three contours and one line of mean markers
    widths = [line.get_linewidth() for line in lines[:3]]
    assert widths[0] > widths[1] == widths[2]  # heavier components are drawn thicker
    assert len(plots.latent_manifold(sigmoid_decoder(2), grid_size=4).axes[0].get_lines()) == 0


# ----------------------------------------------------------------------------------------------
# Figures: pixel size, and content that follows the input
# ----------------------------------------------------------------------------------------------

def vae_history(seed):
    values = np.random.default_rng(seed).random((4, 6)).tolist()
    return dict(zip(["loss", "reconstruction_loss", "kl_loss", "val_loss"], values))


def gan_history(seed):
    values = np.random.default_rng(seed).random((4, 6)).tolist()
    return dict(zip(["d_loss", "g_loss", "d_real_accuracy", "d_fake_accuracy"], values))


# Each entry: draws the figure for input variant `seed` at `path`; expected (height, width) in pixels
# from the size formula in the function's docstring at DPI.
FIGURES = {
    "sample_grid": (
        lambda seed, path: plots.sample_grid(
            random_images(6, seed=seed), columns=3, title="t", path=path, dpi=DPI
        ),
        ((2 * 1.0 + 0.5) * DPI, max(3 * 1.0, 3.0) * DPI),
    ),
    "side_by_side": (
        lambda seed, path: plots.side_by_side(
            {"VAE": random_images(4, channels=3, seed=seed),
             "GAN": random_images(4, channels=3, value_range=(-1, 1), seed=seed + 7)},
            value_range={"VAE": (0, 1), "GAN": (-1, 1)}, columns=2, path=path, dpi=DPI,
        ),
        ((2 + 0.5) * DPI, 2 * 2 * DPI),
    ),
    "reconstructions": (
        lambda seed, path: plots.reconstructions(
            random_images(3, seed=seed), random_images(3, seed=seed + 1), columns=3, path=path, dpi=DPI
        ),
        ((1 + 0.5) * DPI, 2 * 3 * DPI),
    ),
    "loss_curves_vae": (
        lambda seed, path: plots.loss_curves(vae_history(seed), path=path, dpi=DPI),
        (3 * DPI, 3 * 4 * DPI),
    ),
    "loss_curves_gan": (
        lambda seed, path: plots.loss_curves(gan_history(seed), title="GAN", path=path, dpi=DPI),
        ((3 + 0.5) * DPI, 2 * 4 * DPI),
    ),
    "interpolation": (
        lambda seed, path: plots.interpolation(
            sigmoid_decoder(3), *np.random.default_rng(seed).standard_normal((2, 2, 3)),
            steps=4, method="slerp", path=path, dpi=DPI,
        ),
        ((2 + 0.5) * DPI, 4 * DPI),
    ),
    "latent_manifold": (
        lambda seed, path: plots.latent_manifold(
            sigmoid_decoder(2, seed=seed), grid_size=4, path=path, dpi=DPI
        ),
        (8 * DPI, 8 * DPI),
    ),
    "latent_scatter": (
        lambda seed, path: plots.latent_scatter(
            np.random.default_rng(seed).standard_normal((200, 2)), np.arange(200) % 10, path=path, dpi=DPI
        ),
        (5 * DPI, 6 * DPI),
    ),
}


@pytest.mark.parametrize("name", FIGURES)
def test_figure_png_has_documented_size_and_follows_input(name, tmp_path):
    draw, expected_size = FIGURES[name]
    first, second = tmp_path / "sub" / "first.png", tmp_path / "second.png"
    draw(0, first)
    draw(1, second)
    first_pixels, second_pixels = read_png(first), read_png(second)
    assert first_pixels.shape[:2] == tuple(int(size) for size in expected_size)
    assert first_pixels.shape == second_pixels.shape
    assert not np.array_equal(first_pixels, second_pixels)


def test_figures_do_not_touch_pyplot_state():
    import matplotlib.pyplot as pyplot

    before = pyplot.get_fignums()
    figure = plots.sample_grid(random_images(2), dpi=DPI)
    assert pyplot.get_fignums() == before
    assert figure.canvas.get_renderer() is not None


def test_grayscale_grid_shows_true_values_with_gray_colormap():
    images = np.zeros((1, 4, 4, 1), dtype="float32")
    images[0, :2] = 1.0
    axes = plots.sample_grid(images, dpi=DPI).axes[0]
    shown = axes.get_images()[0]
    assert shown.get_cmap().name == "gray"
    # Fixed limits: an all-dark image is not stretched to full contrast.
    assert shown.get_clim() == (0.0, 1.0)
    np.testing.assert_array_equal(shown.get_array()[1:5, 1:5], images[0, ..., 0])


# ----------------------------------------------------------------------------------------------
# Loss curves: panels and inputs
# ----------------------------------------------------------------------------------------------

def test_loss_curves_draws_validation_dashed_in_the_same_colour():
    figure = plots.loss_curves(vae_history(0), dpi=DPI)
    assert [axes.get_title() for axes in figure.axes] == ["loss", "reconstruction loss", "KL divergence"]
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert lines["loss"].get_linestyle() == "-" and lines["val_loss"].get_linestyle() == "--"
    assert lines["loss"].get_color() == lines["val_loss"].get_color()
    np.testing.assert_array_equal(lines["loss"].get_xdata(), [1, 2, 3, 4, 5, 6])


def test_loss_curves_mark_a_single_epoch_so_it_shows():
    one_epoch = plots.loss_curves({"loss": [2.0], "val_loss": [2.5]}, dpi=DPI)
    lines = {line.get_label(): line for line in one_epoch.axes[0].get_lines()}
    assert lines["loss"].get_marker() == "o" and lines["val_loss"].get_marker() == "o"
    several = plots.loss_curves(vae_history(0), dpi=DPI)
    assert all(line.get_marker() in (None, "None", "") for line in several.axes[0].get_lines())


def test_loss_curves_groups_gan_metrics_and_bounds_accuracy():
    figure = plots.loss_curves(gan_history(0), dpi=DPI)
    losses, accuracy = figure.axes
    assert {line.get_label() for line in losses.get_lines()} == {"d_loss", "g_loss"}
    assert {line.get_label() for line in accuracy.get_lines()} == {"d_real_accuracy", "d_fake_accuracy"}
    assert accuracy.get_ylim() == pytest.approx((-0.02, 1.02))


def test_loss_curves_reads_csv_logger_file(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,d_loss,g_loss,val_d_loss\n0,0.7,1.5,0.8\n1,0.6,1.4,NA\n2,0.5,1.3,0.6\n")
    figure = plots.loss_curves(path, dpi=DPI)
    assert len(figure.axes) == 1
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    np.testing.assert_array_equal(lines["g_loss"].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines["g_loss"].get_ydata(), [1.5, 1.4, 1.3])
    assert np.isnan(lines["val_d_loss"].get_ydata()[1])


@pytest.mark.parametrize(
    "history, message",
    [({}, "empty"), ({"loss": []}, "empty"), ({"mae": [1.0]}, "none of the metrics"), ([1.0, 2.0], "dict")],
)
def test_loss_curves_rejects_unusable_history(history, message):
    with pytest.raises(ValueError, match=message):
        plots.loss_curves(history)


# ----------------------------------------------------------------------------------------------
# Bad arguments to image figures
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "images", [np.zeros((4, 4)), np.zeros((1, 4, 4, 2)), np.zeros((1, 1, 4, 4, 1)), np.zeros((0, 4, 4, 1))],
    ids=["one-image-2d", "two-channels", "rank-5", "empty"],
)
def test_image_figures_reject_wrong_image_shape(images, tmp_path):
    with pytest.raises(ValueError, match="image batch"):
        plots.sample_grid(images)
    with pytest.raises(ValueError, match="image batch"):
        plots.save_image_grid(images, tmp_path / "grid.png")


def test_image_figures_reject_bad_arguments():
    with pytest.raises(ValueError, match="value_range"):
        plots.sample_grid(random_images(2), value_range=(0, 255))
    with pytest.raises(ValueError, match="columns"):
        plots.sample_grid(random_images(2), columns=0)
    with pytest.raises(ValueError, match="same number"):
        plots.side_by_side({"VAE": random_images(2), "GAN": random_images(3)})
    with pytest.raises(ValueError, match="no entry"):
        plots.side_by_side({"VAE": random_images(2), "GAN": random_images(2)}, value_range={"VAE": (0, 1)})
    with pytest.raises(ValueError, match="same shape"):
        plots.reconstructions(random_images(2), random_images(3))
    with pytest.raises(ValueError, match=r"\(count, 2\)"):
        plots.latent_scatter(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="labels"):
        plots.latent_scatter(np.zeros((5, 2)), labels=np.zeros(4))
