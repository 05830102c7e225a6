"""Adversarial losses on discriminator **logits**, and the WGAN-GP gradient penalty.

Every loss here returns the *local-batch mean* of a per-example loss, as a float32 scalar (the
convention of `gencompare.models.base`): the `GAN` hands it to `base.gradient_loss`, which accounts
for replicas and loss scaling.

Three objectives are available by name (`get_losses`):

* `"bce"` — the original GAN objective with the **non-saturating** generator loss of Goodfellow et al.
  (2014): the discriminator minimises `softplus(-real) + softplus(fake)` (binary cross-entropy with
  targets 1 and 0), the generator minimises `softplus(-fake) = -log σ(fake)`, whose gradient does not
  vanish while the discriminator confidently rejects the fakes.
* `"hinge"` — the hinge loss of SAGAN / BigGAN: discriminator `relu(1 - real) + relu(1 + fake)`,
  generator `-fake`.
* `"wgan-gp"` — the Wasserstein critic of Gulrajani et al. (2017): critic `fake - real`, generator
  `-fake`, plus `gradient_penalty` weighted by the model's `gp_weight`.

Any of them can add the R1 penalty on real images (`r1_penalty`, Mescheder et al., 2018), weighted by
the model's `r1_weight`.

Logits are cast to float32 first, so the losses are exact under mixed-precision policies too.
"""

import dataclasses
import typing

import tensorflow as tf
from keras import ops

# Added under the square root of the squared gradient norm: the derivative of sqrt at 0 is infinite,
# and 0 · inf = NaN would poison the critic's update whenever a gradient vanishes (e.g. real == fake
# at a critic's stationary point). Small enough not to move the penalty's value measurably.
NORM_EPSILON = 1e-12


def _as_logits(logits):
    """Flattens `(batch, 1)` or `(batch,)` logits to float32 `(batch,)`."""
    return ops.reshape(ops.cast(logits, "float32"), (-1,))


# ----------------------------------------------------------------------------------------------
# Binary cross-entropy (non-saturating generator)
# ----------------------------------------------------------------------------------------------

def bce_discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """Binary cross-entropy of the discriminator: real images labelled 1, fakes labelled 0.

    Args:
        real_logits: discriminator logits on real images, shape `(batch,)` or `(batch, 1)`.
        fake_logits: discriminator logits on generated images.
        label_smoothing: one-sided label smoothing (Salimans et al., 2016): the real target becomes
            `1 - label_smoothing`; fake targets stay 0, which keeps the optimal discriminator from
            rewarding fakes.

    Returns:
        `mean(BCE(1 - ε, real)) + mean(BCE(0, fake))`, a float32 scalar.
    """
    real = _as_logits(real_logits)
    fake = _as_logits(fake_logits)
    target = 1.0 - label_smoothing
    # BCE(t, l) = t·softplus(-l) + (1 - t)·softplus(l): stable for any logit, unlike log(sigmoid).
    real_loss = target * ops.softplus(-real) + (1.0 - target) * ops.softplus(real)
    return ops.mean(real_loss) + ops.mean(ops.softplus(fake))


def bce_generator_loss(fake_logits):
    """Non-saturating generator loss `mean(-log σ(fake)) = mean(softplus(-fake))`."""
    return ops.mean(ops.softplus(-_as_logits(fake_logits)))


# ----------------------------------------------------------------------------------------------
# Hinge
# ----------------------------------------------------------------------------------------------

def hinge_discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """Hinge loss of the discriminator: `mean(relu(1 - real)) + mean(relu(1 + fake))`.

    `label_smoothing` must be 0: it is a cross-entropy notion (the argument exists so that every
    discriminator loss has the same signature).
    """
    _check_no_smoothing(label_smoothing, "hinge")
    real = _as_logits(real_logits)
    fake = _as_logits(fake_logits)
    return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))


def hinge_generator_loss(fake_logits):
    """Hinge generator loss `mean(-fake)` (the same as the Wasserstein generator's)."""
    return -ops.mean(_as_logits(fake_logits))


# ----------------------------------------------------------------------------------------------
# Wasserstein (with gradient penalty)
# ----------------------------------------------------------------------------------------------

def wasserstein_discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """Wasserstein critic loss `mean(fake) - mean(real)` (the penalty is added separately)."""
    _check_no_smoothing(label_smoothing, "wgan-gp")
    return ops.mean(_as_logits(fake_logits)) - ops.mean(_as_logits(real_logits))


def wasserstein_generator_loss(fake_logits):
    """Wasserstein generator loss `mean(-fake)`."""
    return -ops.mean(_as_logits(fake_logits))


def interpolate(real_images, fake_images, alpha):
    """Points `alpha·real + (1 - alpha)·fake` on the lines between real and fake images.

    Args:
        real_images: `(batch, height, width, channels)`.
        fake_images: same shape as `real_images`.
        alpha: one mixing weight per example, shape `(batch,)` or broadcastable
            `(batch, 1, 1, 1)`; drawn from Uniform(0, 1) in training.
    """
    real = ops.cast(real_images, "float32")
    fake = ops.cast(fake_images, "float32")
    alpha = ops.reshape(ops.cast(alpha, "float32"), (-1, 1, 1, 1))
    return alpha * real + (1.0 - alpha) * fake


def gradient_penalty(critic, real_images, fake_images, alpha):
    """The WGAN-GP penalty `mean((‖∇ₓ critic(x̂)‖₂ − 1)²)` at interpolates x̂ (Gulrajani et al., 2017).

    The norm is taken per example over all pixels and channels, with `NORM_EPSILON` under the square
    root so that a zero gradient gives a penalty of 1 and finite gradients, never NaN. The penalty is
    differentiable with respect to the critic's weights (a double backward pass), so call it inside the
    discriminator's `GradientTape`.

    Args:
        critic: callable mapping images to logits, e.g. `lambda x: discriminator(x, training=True)`.
        real_images: a batch of real images.
        fake_images: a batch of generated images of the same shape.
        alpha: per-example mixing weights (see `interpolate`).

    Returns:
        The local-batch mean penalty, a float32 scalar.
    """
    interpolates = interpolate(real_images, fake_images, alpha)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = ops.sum(_as_logits(critic(interpolates)))
    gradients = ops.cast(tape.gradient(scores, interpolates), "float32")
    squared_norms = ops.sum(ops.square(gradients), axis=(1, 2, 3))
    norms = ops.sqrt(squared_norms + NORM_EPSILON)
    return ops.mean(ops.square(norms - 1.0))


def r1_penalty(critic, real_images):
    """The R1 penalty `mean(‖∇ₓ critic(x)‖²)` at real images x (Mescheder et al., 2018).

    The discriminator's objective adds `r1_weight / 2 · r1_penalty` (the paper's `γ/2`): it pushes
    the gradient on the data to zero, which makes training converge locally, without the
    interpolates and the target norm 1 of WGAN-GP. The gradient is taken in float32 with respect to
    the float32 images (the critic may compute in bfloat16 inside); call it inside the
    discriminator's `GradientTape` (a double backward pass).

    Args:
        critic: callable mapping images to logits, e.g. `lambda x: discriminator(x, training=True)`.
        real_images: a batch of real images (as the discriminator sees them, e.g. augmented).

    Returns:
        The local-batch mean of the per-example squared gradient norms, a float32 scalar.
    """
    images = ops.cast(real_images, "float32")
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = ops.sum(_as_logits(critic(images)))
    gradients = ops.cast(tape.gradient(scores, images), "float32")
    return ops.mean(ops.sum(ops.square(gradients), axis=(1, 2, 3)))


# ----------------------------------------------------------------------------------------------
# Accuracy and lookup
# ----------------------------------------------------------------------------------------------

def logit_accuracy(logits, is_real):
    """Fraction of logits on the correct side of 0: `> 0` for real images, `< 0` for fakes.

    For the Wasserstein critic the scores are not calibrated around 0, so the number only says on
    which side of 0 they fall.
    """
    logits = _as_logits(logits)
    correct = logits > 0.0 if is_real else logits < 0.0
    return ops.mean(ops.cast(correct, "float32"))


@dataclasses.dataclass(frozen=True)
class AdversarialLoss:
    """A discriminator loss, its generator counterpart, and whether it needs the gradient penalty."""

    name: str
    discriminator: typing.Callable
    generator: typing.Callable
    gradient_penalty: bool = False
    supports_label_smoothing: bool = False


LOSSES = {
    "bce": AdversarialLoss(
        "bce", bce_discriminator_loss, bce_generator_loss, supports_label_smoothing=True
    ),
    "hinge": AdversarialLoss("hinge", hinge_discriminator_loss, hinge_generator_loss),
    "wgan-gp": AdversarialLoss(
        "wgan-gp", wasserstein_discriminator_loss, wasserstein_generator_loss, gradient_penalty=True
    ),
}


def get_losses(name):
    """The `AdversarialLoss` called `name` (`"bce"`, `"hinge"` or `"wgan-gp"`).

    Raises:
        ValueError: for any other name.
    """
    if name not in LOSSES:
        raise ValueError(f"Unknown GAN loss {name!r}; choose one of {', '.join(LOSSES)}.")
    return LOSSES[name]


def _check_no_smoothing(label_smoothing, loss_name):
    if label_smoothing:
        raise ValueError(
            f"label_smoothing applies to the 'bce' loss only, not to {loss_name!r}; set it to 0."
        )
