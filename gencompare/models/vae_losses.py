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
"""

from keras import ops

RECONSTRUCTION_LOSSES = ("bce", "mse", "l1")

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


_LOSS_FUNCTIONS = {"bce": binary_crossentropy, "mse": squared_error, "l1": absolute_error}


def reconstruction_loss(name, x, x_hat):
    """Reconstruction loss `name` between images `x` and reconstructions `x_hat`.

    Args:
        name: `"bce"` (binary cross-entropy; needs values in [0, 1]), `"mse"` (squared error) or
            `"l1"` (absolute error).
        x: images, shape `(batch, height, width, channels)`.
        x_hat: reconstructions of the same shape.

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

