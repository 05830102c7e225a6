"""The checkerboard metric: lattice peaks of the average power spectrum, against closed forms."""

import numpy as np
import pytest

from gencompare.metrics import checkerboard


def white_noise(count, size=16, channels=1, seed=0):
    return np.random.default_rng(seed).normal(size=(count, size, size, channels))


def alternating(size=16):
    rows, columns = np.indices((size, size))
    return ((-1.0) ** (rows + columns))[None, :, :, None]


@pytest.mark.parametrize("shape, period", [((64, 64), 8), ((28, 28), 4), ((32, 48), 8), ((6, 10), 2), ((16, 16), 8)])
def test_the_period_is_the_largest_power_of_two_up_to_eight_dividing_both_sides(shape, period):
    assert checkerboard.lattice_period(shape) == period


def test_odd_sizes_have_no_lattice():
    with pytest.raises(ValueError, match="even height and width"):
        checkerboard.lattice_period((27, 28))


def test_white_noise_has_no_lattice_peaks():
    assert checkerboard.lattice_peak_ratio(white_noise(2000), period=4) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("amplitude", [0.1, 0.3])
def test_a_faint_checkerboard_on_white_noise_matches_the_closed_form(amplitude):
    # 16×16, period 4: lattice frequencies at multiples of 4, L = 4·4 − 1 = 15 besides (0, 0).
    images = white_noise(2000, seed=1) + amplitude * alternating()
    expected = 1 + amplitude**2 * 16 * 16 / 15
    assert checkerboard.lattice_peak_ratio(images, period=4) == pytest.approx(expected, rel=0.03)


def test_a_coarser_grid_shows_only_with_a_long_enough_period():
    # A pattern of period 4 (x mod 4 < 2) peaks at frequency W/4, on the period-4 lattice but not
    # on the period-2 one (which only has W/2).
    columns = np.indices((16, 16))[1]
    pattern = np.where(columns % 4 < 2, 1.0, -1.0)[None, :, :, None]
    images = white_noise(500, seed=2) + 0.3 * pattern
    assert checkerboard.lattice_peak_ratio(images, period=4) > 2.0
    assert checkerboard.lattice_peak_ratio(images, period=2) == pytest.approx(1.0, abs=0.1)


def test_the_ratio_ignores_scale_offset_and_colour_channels_that_agree():
    images = white_noise(300, seed=3) + 0.2 * alternating()
    grey = checkerboard.lattice_peak_ratio(images, period=4)
    assert checkerboard.lattice_peak_ratio(5.0 * images + 7.0, period=4) == pytest.approx(grey, rel=1e-9)
    assert checkerboard.lattice_peak_ratio(np.repeat(images, 3, axis=-1), period=4) == pytest.approx(grey, rel=1e-9)


def test_metrics_divide_by_the_real_images_ratio():
    real = white_noise(500, seed=4)
    generated = white_noise(500, seed=5) + 0.3 * alternating()
    results = checkerboard.checkerboard_metrics(real, generated, period=4)
    assert results["checkerboard"] == pytest.approx(results["lattice_peaks"] / results["lattice_peaks_real"])
    assert results["checkerboard"] > 1.5
    assert checkerboard.checkerboard_metrics(real, real, period=4)["checkerboard"] == pytest.approx(1.0)


@pytest.mark.parametrize("images, period, message", [
    (np.zeros((0, 8, 8, 1)), None, "non-empty batch"),
    (np.zeros((8, 8, 1)), None, "non-empty batch"),
    (np.zeros((2, 16, 16, 1)), 6, "even divisor"),
    (np.zeros((2, 16, 16, 1)), 32, "even divisor"),
])
def test_bad_inputs_are_refused(images, period, message):
    with pytest.raises(ValueError, match=message):
        checkerboard.lattice_peak_ratio(images, period)


def test_sets_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="differ in size"):
        checkerboard.checkerboard_metrics(np.zeros((2, 16, 16, 1)), np.zeros((2, 8, 8, 1)))
