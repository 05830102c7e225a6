"""How strongly images carry the regular grid that strided upsampling draws ("checkerboard artifacts").

A stack of stride-2 upsampling layers whose kernels overlap unevenly (transposed convolutions; Odena
et al., 2016) adds a pattern that repeats every 2, 4, …, P pixels. In the average power spectrum of
many samples it shows up as peaks on the lattice of frequencies (k·H/P, l·W/P), the way GAN spectra
are inspected in Durall et al. (2020). `lattice_peak_ratio` is the mean, over those lattice
frequencies except (0, 0), of the power there divided by the mean power of its 8 neighbours: about 1
for images whose spectrum is smooth there, larger for a grid. Real photos are not exactly 1 (the
image border puts a cross on the axes of the spectrum), so `checkerboard_metrics` also measures the
real images and reports the ratio of the two: **`checkerboard` = 1 means as smooth on the lattice as
real images**; 2 means the lattice peaks are twice as strong.

For white noise of variance σ² plus a pattern a·(−1)^(x+y) on H×W images, the expected ratio is
1 + a²·H·W / (σ²·L) with L lattice frequencies besides (0, 0) (the pattern's power (a·H·W)² sits at
(H/2, W/2); the noise's H·W·σ² is the same in every bin): the tests check that closed form.
"""

import numpy as np

# The finest grid measured is 2 pixels; the coarsest `LARGEST_PERIOD` (three stride-2 layers' patterns).
LARGEST_PERIOD = 8


def lattice_period(image_shape, largest=LARGEST_PERIOD):
    """The largest power of two ≤ `largest` dividing both height and width (28×28: 4, 64×64: 8).

    Raises:
        ValueError: if height or width is odd (no period-2 lattice to measure).
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    if height % 2 or width % 2:
        raise ValueError(f"Checkerboard metrics need an even height and width, got {height}×{width}.")
    period = 2
    while period * 2 <= largest and height % (period * 2) == 0 and width % (period * 2) == 0:
        period *= 2
    return period


def _check_images(images, name):
    """`images` as an array (no copy), checked to be a non-empty 4-D batch."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] < 1:
        raise ValueError(
            f"{name} must be a non-empty batch (count, height, width, channels), got shape {images.shape}."
        )
    return images


def average_power_spectrum(images):
    """Mean over images of |FFT2|² of each image's channel mean, after removing each image's mean."""
    # The channel mean is taken in float64 directly: no float64 copy of the whole batch.
    grey = _check_images(images, "images").mean(axis=-1, dtype="float64")
    grey -= grey.mean(axis=(1, 2), keepdims=True)
    return np.mean(np.abs(np.fft.fft2(grey)) ** 2, axis=0)


def lattice_peak_ratio(images, period=None):
    """Mean over the lattice frequencies (k·H/period, l·W/period) ≠ (0, 0) of the average power there
    divided by the mean power of its 8 (circular) neighbours.

    Args:
        images: array `(count, height, width, channels)`, any value range (the ratio is scale-free).
        period: the longest grid period measured; None: `lattice_period(images.shape[1:3])`.

    Raises:
        ValueError: for a bad batch shape, or a period that is not an even divisor of height and width.
    """
    images = _check_images(images, "images")
    height, width = images.shape[1:3]
    period = lattice_period((height, width)) if period is None else int(period)
    if period < 2 or period % 2 or height % period or width % period:
        raise ValueError(f"`period` must be an even divisor of the image size {height}×{width}, got {period}.")
    power = average_power_spectrum(images)
    ratios = []
    for row in range(0, height, height // period):
        for column in range(0, width, width // period):
            if row == 0 and column == 0:
                continue
            neighbours = [power[(row + dr) % height, (column + dc) % width]
                          for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
            ratios.append(power[row, column] / max(float(np.mean(neighbours)), np.finfo("float64").tiny))
    return float(np.mean(ratios))


def checkerboard_metrics(real, generated, period=None):
    """`lattice_peak_ratio` of both sets and their quotient.

    Returns:
        `{"checkerboard": generated / real, "lattice_peaks": generated, "lattice_peaks_real": real}`.

    Raises:
        ValueError: for batches of different image sizes (and see `lattice_peak_ratio`).
    """
    real, generated = _check_images(real, "real images"), _check_images(generated, "generated images")
    if real.shape[1:3] != generated.shape[1:3]:
        raise ValueError(f"Real {real.shape[1:3]} and generated {generated.shape[1:3]} images differ in size.")
    real_ratio, generated_ratio = lattice_peak_ratio(real, period), lattice_peak_ratio(generated, period)
    return {"checkerboard": generated_ratio / real_ratio, "lattice_peaks": generated_ratio,
            "lattice_peaks_real": real_ratio}
