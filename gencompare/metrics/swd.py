"""Sliced Wasserstein distance between image sets on Laplacian-pyramid patches.

Karras et al. 2018, "Progressive Growing of GANs", appendix D: each image is split into a Laplacian
pyramid (one level per resolution from the full size down to 16×16); from every level, 128 random
7×7 neighbourhoods per image are taken as descriptors; each set's descriptors are normalized per colour
channel (mean 0, std 1); and the distance between the two sets of descriptors at a level is the
sliced Wasserstein distance over 512 random unit directions. It needs no pretrained network, which
makes it the offline metric for the face datasets: fine levels compare textures and edges, coarse
levels compare layout and colour blobs.

Papers print the values ×10³.
"""

import concurrent.futures
import os

import numpy as np
import scipy.ndimage
from tqdm.auto import tqdm

from gencompare.metrics.images import to_unit_range

# The 5-tap binomial filter of cv2.pyrDown / pyrUp, applied separably along height and width.
BINOMIAL_FILTER = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
# Images per pyramid batch: 1000 × 64×64×3 float32 is 50 MB per pyramid level.
PYRAMID_BATCH = 1000


# Memory the jobs running side by side may hold in all: 2 000 MNIST digits need ~390 MB per
# direction group, so two run in parallel; 10 000 face images need ~2 GB and run one at a time.
THREAD_MEMORY_BYTES = 1 << 30


def _threads(tasks, bytes_per_task=0):
    """Worker threads for `tasks` independent NumPy jobs: NumPy's sorts, filters and reductions
    release the GIL, so the two sets' descriptors and the direction groups run on all cores, as
    many at once as `THREAD_MEMORY_BYTES` allows. The results do not depend on it: every job's
    random draws are made before the jobs start."""
    by_memory = THREAD_MEMORY_BYTES // bytes_per_task if bytes_per_task else tasks
    return max(1, min(tasks, os.cpu_count() or 1, by_memory))


def _in_threads(function, items, bytes_per_task=0):
    """`[function(item) for item in items]`, run in `_threads` threads, results in order."""
    items = list(items)
    threads = _threads(len(items), bytes_per_task)
    if threads == 1:
        return [function(item) for item in items]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, items))


def _blur(images, scale=1.0):
    """Separable binomial blur over height and width (axes 1, 2) with mirrored borders."""
    weights = BINOMIAL_FILTER * scale
    blurred = scipy.ndimage.correlate1d(images, weights, axis=1, mode="mirror")
    return scipy.ndimage.correlate1d(blurred, weights, axis=2, mode="mirror")


def pyramid_down(images):
    """Blurs and halves height and width (like `cv2.pyrDown`)."""
    return _blur(images)[:, ::2, ::2]


def pyramid_up(images, height, width):
    """Doubles height and width by zero insertion and blurring (like `cv2.pyrUp`), cropped to size."""
    upsampled = np.zeros(
        (images.shape[0], images.shape[1] * 2, images.shape[2] * 2, images.shape[3]), images.dtype
    )
    upsampled[:, ::2, ::2] = images
    # Three of every four pixels are zeros, so the filter gains 2 per axis to keep the brightness.
    return _blur(upsampled, scale=2.0)[:, :height, :width]


def laplacian_pyramid(images, levels):
    """The Laplacian pyramid of a float batch `(N, H, W, C)`: `levels` arrays, finest first.

    Every level but the last holds the detail lost by halving the resolution; the last one is the
    blurred, downsampled image itself. Summing the levels back up reconstructs `images` exactly.
    """
    pyramid = [np.asarray(images, np.float32)]
    for _ in range(1, levels):
        smaller = pyramid_down(pyramid[-1])
        pyramid[-1] = pyramid[-1] - pyramid_up(smaller, *pyramid[-1].shape[1:3])
        pyramid.append(smaller)
    return pyramid


def pyramid_resolutions(height, width, min_resolution=16):
    """Resolutions (the smaller side) of the pyramid levels: halving from the image size down to
    `min_resolution`.

    Raises:
        ValueError: if the images are smaller than `min_resolution` or it is below the patch size 7.
    """
    if min_resolution < 7:
        raise ValueError(f"`min_resolution` must be at least 7 (the patch size), got {min_resolution}.")
    side = min(height, width)
    if side < min_resolution:
        raise ValueError(
            f"Images of {height}×{width} are smaller than `min_resolution`={min_resolution}; pass a "
            "smaller `min_resolution` (at least 7)."
        )
    resolutions = []
    while side >= min_resolution:
        resolutions.append(side)
        side //= 2
    return resolutions


def _patches(level_images, patches_per_image, patch_size, rng):
    """`patches_per_image` random `patch_size`² neighbourhoods from each image: (N·P, size, size, C)."""
    count, height, width, _ = level_images.shape
    rows = rng.integers(0, height - patch_size + 1, size=(count, patches_per_image))
    columns = rng.integers(0, width - patch_size + 1, size=(count, patches_per_image))
    offsets = np.arange(patch_size)
    image_index = np.arange(count)[:, None, None, None]
    row_index = (rows[:, :, None, None] + offsets[None, None, :, None])
    column_index = (columns[:, :, None, None] + offsets[None, None, None, :])
    patches = level_images[image_index, row_index, column_index]  # (N, P, size, size, C)
    return patches.reshape(count * patches_per_image, patch_size, patch_size, -1)


def level_descriptors(images, level, levels, *, patches_per_image=128, patch_size=7, seed=0,
                      progress=False):
    """Normalized patch descriptors of one pyramid level for a unit-range image set.

    Returns:
        float32 array `(N·patches_per_image, patch_size²·C)`, each channel at mean 0 and std 1.
    """
    rng = np.random.default_rng(seed)
    batches = []
    for start in tqdm(range(0, images.shape[0], PYRAMID_BATCH), disable=not progress,
                      desc=f"SWD level {level}", leave=False):
        pyramid = laplacian_pyramid(images[start:start + PYRAMID_BATCH], levels)
        batches.append(_patches(pyramid[level], patches_per_image, patch_size, rng))
    patches = np.concatenate(batches)
    patches -= patches.mean(axis=(0, 1, 2), keepdims=True)
    # A flat channel (e.g. a constant image set) has std 0; leave it at 0 instead of dividing by 0.
    std = patches.std(axis=(0, 1, 2), keepdims=True)
    patches /= np.where(std > 0, std, 1.0)
    return patches.reshape(patches.shape[0], -1)


def sliced_wasserstein(descriptors_a, descriptors_b, *, projections=512, repeats=4, seed=0):
    """Sliced Wasserstein-1 distance between two equally sized point sets.

    Points are projected onto random unit directions; in one dimension the Wasserstein distance is the
    mean absolute difference of the sorted projections. `projections` directions are drawn in
    `repeats` groups (to bound memory) and all the 1-D distances are averaged.
    """
    if descriptors_a.shape != descriptors_b.shape:
        raise ValueError(
            f"Descriptor sets must have the same shape, got {descriptors_a.shape} and {descriptors_b.shape}."
        )
    if projections % repeats:
        raise ValueError(f"`projections` ({projections}) must be a multiple of `repeats` ({repeats}).")
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(repeats):
        directions = rng.standard_normal((descriptors_a.shape[1], projections // repeats))
        groups.append((directions / np.linalg.norm(directions, axis=0, keepdims=True)).astype(np.float32))

    def group_distance(directions):
        # (directions, points) layout: each row is sorted contiguously, several times faster than
        # sorting the columns of (points, directions).
        projected_a = np.sort(directions.T @ descriptors_a.T, axis=1)
        projected_b = np.sort(directions.T @ descriptors_b.T, axis=1)
        return np.abs(projected_a - projected_b).mean(dtype=np.float64)

    # Each group holds both sets' sorted projections (float32) and their difference.
    group_bytes = 3 * 4 * (projections // repeats) * descriptors_a.shape[0]
    return float(np.mean(_in_threads(group_distance, groups, group_bytes)))


def sliced_wasserstein_distance(images_a, images_b, *, value_range=None, value_range_b=None,
                                min_resolution=16, patches_per_image=128, patch_size=7,
                                projections=512, repeats=4, seed=0, progress=True):
    """Sliced Wasserstein distance between two image sets, per Laplacian-pyramid level and mean.

    Lower is better; 0 for identical sets. When the sets differ in size, the larger one is randomly
    subsampled (seeded) to the smaller one's size, since the 1-D distances compare sorted samples.

    Args:
        images_a, images_b: image arrays `(N, H, W, C)` of one shape: uint8 (0–255) or floats in their
            value range.
        value_range: value range of float `images_a` ((0, 1) or (-1, 1)); ignored for uint8.
        value_range_b: value range of float `images_b`; defaults to `value_range`.
        min_resolution: coarsest pyramid level (smaller image side); Karras et al. use 16.
        patches_per_image: random neighbourhoods per image per level (128 in the paper).
        patch_size: side of a neighbourhood (7 in the paper).
        projections: random directions per level (512 in the paper).
        repeats: groups the directions are drawn in (4 × 128 in the reference code).
        seed: seeds subsampling, patch positions and directions.
        progress: show tqdm progress bars.

    Returns:
        A dict `{"swd_<resolution>": value for each level, ..., "swd_mean": mean over levels}`.

    Raises:
        ValueError: for images of different shapes, out-of-range values, or images smaller than
            `min_resolution`.
    """
    a = to_unit_range(images_a, value_range, name="images_a")
    b = to_unit_range(images_b, value_range_b if value_range_b is not None else value_range,
                      name="images_b")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"Image sets differ in shape: {a.shape[1:]} and {b.shape[1:]}.")
    rng = np.random.default_rng(seed)
    count = min(a.shape[0], b.shape[0])
    a = a[np.sort(rng.choice(a.shape[0], count, replace=False))] if a.shape[0] > count else a
    b = b[np.sort(rng.choice(b.shape[0], count, replace=False))] if b.shape[0] > count else b
    resolutions = pyramid_resolutions(a.shape[1], a.shape[2], min_resolution)
    results = {}
    # One level at a time: 10 000 64×64×3 images give 1.3 M descriptors of 147 floats (750 MB) per
    # set per level; holding every level at once would triple that.
    for level, resolution in enumerate(resolutions):
        level_seed, projection_seed = rng.integers(2**31, size=2)
        descriptors = _in_threads(
            lambda images: level_descriptors(images, level, len(resolutions), patches_per_image=patches_per_image,
                                             patch_size=patch_size, seed=level_seed, progress=progress),
            [a, b],
        )
        results[f"swd_{resolution}"] = sliced_wasserstein(
            *descriptors, projections=projections, repeats=repeats, seed=projection_seed
        )
    results["swd_mean"] = float(np.mean(list(results.values())))
    return results
