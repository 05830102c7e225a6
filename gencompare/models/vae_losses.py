"""Per-example VAE loss terms: reconstruction losses and the closed-form Gaussian KL divergence.

Convention (used everywhere in this package): every term is **summed over pixels and channels**
(reconstruction) or **over latent dimensions** (KL), and returned per example with shape `(batch,)`.
Callers average over the batch. The total VAE loss is then

    loss = mean_batch(reconstruction) + beta * mean_batch(kl)

which is the negative ELBO for `beta = 1` and the "bce" loss. Dividing it by `H * W * C` gives the
"per-pixel mean" formulation (reconstruction averaged over pixels) with KL weight `beta / (H * W * C)`;
so a per-pixel formulation with KL weight `b` is `beta = b * H * W * C` here (same optimum; only the
loss scale, hence the effective step size of plain SGD, differs).

All terms are computed in float32, whatever the inputs' dtype, so mixed-precision models keep
full-precision losses.

`"gaussian_learned"` is the σ-VAE loss (Rybkin et al. 2021, "Simple and Effective VAE Training with
Calibrated Decoders"): a Gaussian decoder `N(x̂, σ² I)` with **one** variance shared by all pixels,
set per batch to its closed-form optimum `σ² = mean squared error of the batch` (`optimal_log_sigma`).
Unlike "mse" it is a true negative log-likelihood (it includes `log σ` and `½ log 2π` per pixel), so
the balance between reconstruction and KL adapts as the reconstructions improve, with no β to tune.
It is the only loss here that depends on the batch as a whole; pass `log_sigma` to evaluate it with a
fixed decoder variance instead (the VAE does so at inference, see `VAE.decoder_log_sigma`).
"""

import math

from keras import ops

RECONSTRUCTION_LOSSES = ("bce", "mse", "l1", "gaussian_learned")

# Lower bound on log σ (σ ≥ 0.0025, as the -6 of the σ-VAE code): keeps the NLL finite once
# reconstructions become almost exact. The authors' code bounds it with a softplus ("softclip"),
# which also inflates σ by a factor exp(σ_min/σ) (+2.5 % at σ = 0.1); a hard floor leaves σ exact.
MIN_LOG_SIGMA = -6.0

# Probabilities are clipped away from 0 and 1 before the logs of the binary cross-entropy. The
# decoder ends in a separate float32 sigmoid layer (shared with the GAN generator), so logits are
# not available; clipping bounds each pixel's loss by -log(1e-7) ≈ 16.1 instead of infinity.
BCE_EPSILON = 1e-7


def check_reconstruction_loss(name):
    """Returns `name` if it is one of `RECONSTRUCTION_LOSSES`.

    Raises:
        ValueError: for any other name, listing the valid ones.
    """
    if name not in RECONSTRUCTION_LOSSES:
        raise ValueError(
            f"Unknown reconstruction loss {name!r}; choose one of {', '.join(RECONSTRUCTION_LOSSES)}."
        )
    return name


def _sum_per_example(values):
    """Sums all axes but the first (batch) one."""
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def binary_crossentropy(x, x_hat):
    """Bernoulli negative log-likelihood of `x` under pixel probabilities `x_hat`, per example.

    `x` may be any value in [0, 1] (grey levels, not only 0/1); `x_hat` is clipped to
    `[BCE_EPSILON, 1 - BCE_EPSILON]` before taking logs.
    """
    x_hat = ops.clip(x_hat, BCE_EPSILON, 1.0 - BCE_EPSILON)
    return _sum_per_example(-(x * ops.log(x_hat) + (1.0 - x) * ops.log(1.0 - x_hat)))


def squared_error(x, x_hat):
    """Sum of squared pixel errors per example."""
    return _sum_per_example(ops.square(x - x_hat))


def absolute_error(x, x_hat):
    """Sum of absolute pixel errors per example."""
    return _sum_per_example(ops.abs(x - x_hat))


def clip_log_sigma(log_sigma, minimum=MIN_LOG_SIGMA):
    """`max(log_sigma, minimum)`: the lower bound on `log σ`."""
    return ops.maximum(log_sigma, minimum)


def optimal_log_sigma(x, x_hat):
    """The closed-form maximum-likelihood `log σ` of one shared decoder variance over the whole batch.

    `σ² = mean over the batch, pixels and channels of (x - x̂)²`: σ is the RMS error of the batch.
    Returned *without* the lower bound `MIN_LOG_SIGMA` (`gaussian_nll` applies it). Gradients flow through it as in the
    σ-VAE code; at the optimum `∂NLL/∂σ = 0`, so they equal those of a stop-gradient σ.
    """
    return 0.5 * ops.log(ops.mean(ops.square(ops.cast(x, "float32") - ops.cast(x_hat, "float32"))))


def gaussian_nll(x, x_hat, log_sigma):
    """Gaussian negative log-likelihood `Σ_pixels [½((x - x̂)/σ)² + log σ + ½ log 2π]`, per example.

    `log_sigma` is a scalar (one variance shared by every pixel), clipped below at `MIN_LOG_SIGMA`.
    """
    log_sigma = clip_log_sigma(ops.cast(log_sigma, "float32"))
    per_pixel = (0.5 * ops.square(x - x_hat) * ops.exp(-2.0 * log_sigma) + log_sigma
                 + 0.5 * math.log(2.0 * math.pi))
    return _sum_per_example(per_pixel)


def gaussian_learned(x, x_hat, log_sigma=None):
    """σ-VAE loss: `gaussian_nll` with `log_sigma`, or by default the batch's `optimal_log_sigma`."""
    if log_sigma is None:
        log_sigma = optimal_log_sigma(x, x_hat)
    return gaussian_nll(x, x_hat, log_sigma)


_LOSS_FUNCTIONS = {"bce": binary_crossentropy, "mse": squared_error, "l1": absolute_error,
                   "gaussian_learned": gaussian_learned}


def reconstruction_loss(name, x, x_hat, log_sigma=None):
    """Reconstruction loss `name` between images `x` and reconstructions `x_hat`.

    Args:
        name: `"bce"` (binary cross-entropy; needs values in [0, 1]), `"mse"` (squared error),
            `"l1"` (absolute error) or `"gaussian_learned"` (σ-VAE: Gaussian NLL with one shared σ,
            by default the batch's closed-form optimum).
        x: images, shape `(batch, height, width, channels)`.
        x_hat: reconstructions of the same shape.
        log_sigma: `"gaussian_learned"` only: a fixed scalar `log σ` to use instead of the batch's
            optimum (e.g. the model's running estimate, for held-out likelihoods).

    Returns:
        A float32 tensor of shape `(batch,)`: the loss summed over pixels and channels.

    Raises:
        ValueError: for an unknown `name` or mismatched shapes.
    """
    function = _LOSS_FUNCTIONS[check_reconstruction_loss(name)]
    x = ops.cast(x, "float32")
    x_hat = ops.cast(x_hat, "float32")
    if tuple(x.shape) != tuple(x_hat.shape) and None not in tuple(x.shape) + tuple(x_hat.shape):
        raise ValueError(f"Images and reconstructions differ in shape: {tuple(x.shape)} vs {tuple(x_hat.shape)}.")
    if name == "gaussian_learned":
        return function(x, x_hat, log_sigma)
    if log_sigma is not None:
        raise ValueError(f"`log_sigma` applies only to the 'gaussian_learned' loss, not {name!r}.")
    return function(x, x_hat)


def kl_divergence(z_mean, z_log_var):
    """KL divergence from `N(z_mean, exp(z_log_var))` to `N(0, I)`, in closed form, per example.

    `KL = -1/2 * sum_j (1 + log σ_j² - μ_j² - σ_j²)`, summed over the latent dimensions.

    Args:
        z_mean: posterior means, shape `(batch, latent_dim)`.
        z_log_var: posterior log-variances `log σ²`, same shape.

    Returns:
        A float32 tensor of shape `(batch,)`.
    """
    z_mean = ops.cast(z_mean, "float32")
    z_log_var = ops.cast(z_log_var, "float32")
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)

