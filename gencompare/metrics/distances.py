"""Distances between two sets of feature vectors: Fréchet distance, KID, and precision/recall.

All functions take two float arrays of shape `(samples, features)` (e.g. from
`gencompare.metrics.features`) and compute in float64 with numpy, so results do not depend on the
Keras backend or device.
"""

import numpy as np

# Pairwise-distance blocks are (rows × all columns); 1024 rows × 10 000 columns × 8 bytes = 80 MB.
DISTANCE_BLOCK_ROWS = 1024


def check_features(features, name="features", min_samples=1):
    """Returns `features` as a float64 `(samples, dims)` array, checking shape and values.

    Args:
        features: array-like of shape `(samples, dims)`.
        name: the argument name used in error messages.
        min_samples: the fewest rows the caller can work with.

    Returns:
        A float64 numpy array.

    Raises:
        ValueError: for a non-2-D array, fewer than `min_samples` rows, or NaN/infinite values.
    """
    values = np.asarray(features, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"`{name}` must have shape (samples, features), got shape {values.shape}.")
    if values.shape[0] < min_samples:
        raise ValueError(
            f"`{name}` has {values.shape[0]} samples but at least {min_samples} are needed."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    return values


def _check_pair(features_a, features_b, min_samples):
    a = check_features(features_a, "features_a", min_samples)
    b = check_features(features_b, "features_b", min_samples)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"The two feature sets have different sizes: {a.shape[1]} and {b.shape[1]} features. "
            "Extract both with the same extractor."
        )
    return a, b


# ----------------------------------------------------------------------------------------------
# Fréchet distance
# ----------------------------------------------------------------------------------------------

def feature_statistics(features):
    """Mean and covariance (unbiased, `ddof=1`) of a feature set.

    Args:
        features: array of shape `(samples, dims)` with at least 2 samples.

    Returns:
        `(mean, covariance)`: float64 arrays of shapes `(dims,)` and `(dims, dims)`.

    Raises:
        ValueError: for fewer than 2 samples (no covariance) or a bad shape.
    """
    values = check_features(features, min_samples=2)
    return values.mean(axis=0), np.cov(values, rowvar=False, ddof=1).reshape(values.shape[1], -1)


def _symmetric_sqrt(matrix):
    """Square root of a symmetric positive semi-definite matrix; round-off negatives become 0."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def _factor(covariance):
    """A matrix `F` with `F @ F.T == covariance`: Cholesky when it exists, else the symmetric root.

    Cholesky is several times faster than an eigendecomposition for 2048×2048 Inception
    covariances; it fails on singular ones (a dead feature, fewer samples than features), where the
    eigendecomposition takes over.
    """
    try:
        return np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        return _symmetric_sqrt(covariance)


def trace_sqrt_product(covariance_a, covariance_b):
    """`Tr(sqrt(A @ B))` for symmetric positive semi-definite `A` and `B`, always real.

    `A @ B` is not symmetric, and a general matrix square root of it (`scipy.linalg.sqrtm`) turns
    complex or NaN when the covariances are near-singular (fewer samples than features, dead
    features). With `A = F Fᵀ`, `A @ B = F Fᵀ B` has the same eigenvalues as the symmetric positive
    semi-definite `Fᵀ B F`, so the trace is the sum of the square roots of that matrix's (clipped,
    non-negative) eigenvalues.
    """
    factor = _factor(covariance_a)
    middle = factor.T @ covariance_b @ factor
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def frechet_distance_from_statistics(mean_a, covariance_a, mean_b, covariance_b):
    """Fréchet (2-Wasserstein) distance between the Gaussians `N(mean_a, cov_a)` and `N(mean_b, cov_b)`.

    `||mean_a - mean_b||² + Tr(cov_a + cov_b - 2 sqrt(cov_a cov_b))`; this is the *squared* distance,
    as FID reports it.

    Args:
        mean_a, mean_b: arrays of shape `(dims,)`.
        covariance_a, covariance_b: symmetric positive semi-definite arrays of shape `(dims, dims)`.

    Returns:
        A non-negative float.

    Raises:
        ValueError: if the shapes do not match.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    covariance_a = np.asarray(covariance_a, np.float64)
    covariance_b = np.asarray(covariance_b, np.float64)
    dims = mean_a.shape[0] if mean_a.ndim == 1 else -1
    for name, value, shape in (
        ("mean_b", mean_b, (dims,)),
        ("covariance_a", covariance_a, (dims, dims)),
        ("covariance_b", covariance_b, (dims, dims)),
    ):
        if dims < 0 or value.shape != shape:
            raise ValueError(
                f"Statistics do not match: mean_a has shape {mean_a.shape}, {name} has shape "
                f"{value.shape}; expected means of shape (dims,) and covariances of shape (dims, dims)."
            )
    squared_mean_difference = float(np.sum((mean_a - mean_b) ** 2))
    trace_term = (
        np.trace(covariance_a) + np.trace(covariance_b)
        - 2 * trace_sqrt_product(covariance_a, covariance_b)
    )
    # Round-off can leave a tiny negative number for identical sets; the distance is never negative.
    return max(0.0, squared_mean_difference + float(trace_term))


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two feature sets (FID with Inception features).

    Lower is better; 0 for identical statistics. The estimate is biased upwards for small sample
    counts (by roughly `Tr(cov)/samples`), so compare values computed with the same counts.

    Args:
        features_a, features_b: arrays of shape `(samples, dims)`, at least 2 samples each.

    Returns:
        The squared Fréchet distance, a non-negative float.

    Raises:
        ValueError: for bad shapes, different feature sizes, fewer than 2 samples, or NaN values.
    """
    a, b = _check_pair(features_a, features_b, min_samples=2)
    return frechet_distance_from_statistics(*feature_statistics(a), *feature_statistics(b))


# ----------------------------------------------------------------------------------------------
# Kernel Inception distance
# ----------------------------------------------------------------------------------------------

# Up to this many entries (5 000 samples in all: kernel matrices of ~200 MB in float64 at most) the
# kernels of `kernel_inception_distance` are computed once for all subsets.
KID_PRECOMPUTED_KERNEL_ENTRIES = 5_000**2


def polynomial_kernel(x, y):
    """The KID kernel `k(x, y) = (x·y / dims + 1)³` for all pairs of rows of `x` and `y`."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd_squared(x, y):
    """Unbiased estimate of the squared MMD between two equally sized samples, polynomial kernel.

    Diagonal terms `k(x_i, x_i)` are left out of the within-set averages, which removes the bias;
    the estimate can therefore be slightly negative when the distributions are equal.
    """
    count = x.shape[0]
    kernel_xx, kernel_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    within = (
        (kernel_xx.sum() - np.trace(kernel_xx)) + (kernel_yy.sum() - np.trace(kernel_yy))
    ) / (count * (count - 1))
    return float(within - 2 * polynomial_kernel(x, y).mean())


def kernel_inception_distance(features_a, features_b, *, subsets=100, subset_size=1000, seed=0):
    """Kernel Inception distance (Bińkowski et al. 2018): MMD² averaged over random subsets.

    Lower is better; unbiased, so about 0 (possibly slightly negative) for two samples of one
    distribution, at any sample count.

    Args:
        features_a, features_b: arrays of shape `(samples, dims)`.
        subsets: number of random subset pairs.
        subset_size: samples per subset, drawn without replacement; reduced to the smaller set's
            size when a set is smaller.
        seed: seed of the subset draws.

    Returns:
        `(mean, std)` of the MMD² estimates over the subsets.

    Raises:
        ValueError: for bad shapes or fewer than 2 samples in a set, or `subsets < 1`.
    """
    a, b = _check_pair(features_a, features_b, min_samples=2)
    if int(subsets) < 1 or int(subset_size) < 2:
        raise ValueError(
            f"Need `subsets >= 1` and `subset_size >= 2`, got {subsets} and {subset_size}."
        )
    size = min(int(subset_size), a.shape[0], b.shape[0])
    rng = np.random.default_rng(seed)
    draws = [(rng.choice(a.shape[0], size, replace=False), rng.choice(b.shape[0], size, replace=False))
             for _ in range(int(subsets))]
    if (a.shape[0] + b.shape[0]) ** 2 <= KID_PRECOMPUTED_KERNEL_ENTRIES:
        estimates = _subset_mmd_squared(a, b, draws)
    else:
        estimates = [unbiased_mmd_squared(a[rows_a], b[rows_b]) for rows_a, rows_b in draws]
    return float(np.mean(estimates)), float(np.std(estimates))


def _subset_mmd_squared(a, b, draws):
    """For float64 features (as `check_features` returns them):
    `[unbiased_mmd_squared(a[rows_a], b[rows_b]) for rows_a, rows_b in draws]`, with each kernel
    entry computed once: a subset's kernel sum is `sᵀ K s` for its 0/1 indicator vector `s`, so all
    subsets' sums come from one matrix product per kernel (several times faster for 100 subsets)."""
    def indicators(draws_of_one_side, samples):
        matrix = np.zeros((len(draws_of_one_side), samples))
        for row, chosen in enumerate(draws_of_one_side):
            matrix[row, chosen] = 1.0
        return matrix

    select_a = indicators([rows_a for rows_a, _ in draws], a.shape[0])
    select_b = indicators([rows_b for _, rows_b in draws], b.shape[0])
    kernel_aa, kernel_bb, kernel_ab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    count = len(draws[0][0])
    within_a = np.sum((select_a @ kernel_aa) * select_a, axis=1) - select_a @ np.diag(kernel_aa)
    within_b = np.sum((select_b @ kernel_bb) * select_b, axis=1) - select_b @ np.diag(kernel_bb)
    across = np.sum((select_a @ kernel_ab) * select_b, axis=1) / (count * count)
    return list((within_a + within_b) / (count * (count - 1)) - 2 * across)


# ----------------------------------------------------------------------------------------------
# Precision and recall (Kynkäänniemi et al. 2019)
# ----------------------------------------------------------------------------------------------

def _squared_distances(rows, columns):
    """Squared Euclidean distances between every row of `rows` and every row of `columns`."""
    distances = (
        np.sum(rows**2, axis=1)[:, None] + np.sum(columns**2, axis=1)[None, :] - 2 * rows @ columns.T
    )
    return np.maximum(distances, 0.0)


def nearest_neighbour_radii(features, k):
    """Squared distance from each row to its `k`-th nearest other row (the k-NN manifold radius)."""
    radii = np.empty(features.shape[0])
    for start in range(0, features.shape[0], DISTANCE_BLOCK_ROWS):
        block = _squared_distances(features[start:start + DISTANCE_BLOCK_ROWS], features)
        # Position k (0-based) after partitioning skips the point itself at distance 0.
        radii[start:start + block.shape[0]] = np.partition(block, k, axis=1)[:, k]
    return radii


def manifold_coverage(manifold_points, manifold_radii, queries):
    """Fraction of `queries` inside at least one ball `(manifold_points[i], manifold_radii[i])`."""
    inside = 0
    for start in range(0, queries.shape[0], DISTANCE_BLOCK_ROWS):
        block = _squared_distances(queries[start:start + DISTANCE_BLOCK_ROWS], manifold_points)
        inside += int(np.any(block <= manifold_radii[None, :], axis=1).sum())
    return inside / queries.shape[0]


def precision_recall(real_features, generated_features, *, k=3):
    """Improved precision and recall of a generative model (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its points, each ball reaching the point's
    `k`-th nearest neighbour in the same set. Precision is the fraction of generated points inside the
    real manifold (are the samples realistic?); recall is the fraction of real points inside the
    generated manifold (is all of the data's variety produced?). Higher is better for both; 1 each
    for identical sets.

    Args:
        real_features, generated_features: arrays of shape `(samples, dims)`, each with more than `k`
            samples.
        k: neighbour defining the ball radius (the paper uses 3).

    Returns:
        `(precision, recall)`, floats in [0, 1].

    Raises:
        ValueError: for bad shapes, `k < 1`, or a set with `k` samples or fewer.
    """
    if int(k) < 1:
        raise ValueError(f"`k` must be at least 1, got {k}.")
    real, generated = _check_pair(real_features, generated_features, min_samples=int(k) + 1)
    precision = manifold_coverage(real, nearest_neighbour_radii(real, int(k)), generated)
    recall = manifold_coverage(generated, nearest_neighbour_radii(generated, int(k)), real)
    return precision, recall
