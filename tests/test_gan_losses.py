"""Adversarial losses against closed forms, and the gradient penalty against analytic values."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gencompare.models import gan_losses

REAL = np.array([-2.0, 0.0, 3.0, 0.5], dtype="float32")
FAKE = np.array([1.0, -1.0, 0.5, -4.0], dtype="float32")


def _log_sigmoid(x):
    return -np.log1p(np.exp(-np.asarray(x, dtype="float64")))


def _value(tensor):
    return float(np.asarray(tensor))


# -- binary cross-entropy ------------------------------------------------------------------------

def test_bce_at_zero_logits_is_two_log_two():
    zeros = np.zeros(5, "float32")
    assert _value(gan_losses.bce_discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2), rel=1e-6)
    assert _value(gan_losses.bce_generator_loss(zeros)) == pytest.approx(math.log(2), rel=1e-6)


def test_bce_discriminator_loss_matches_closed_form():
    expected = -np.mean(_log_sigmoid(REAL)) - np.mean(np.log1p(-np.exp(_log_sigmoid(FAKE))))
    assert _value(gan_losses.bce_discriminator_loss(REAL, FAKE)) == pytest.approx(expected, rel=1e-5)


def test_bce_label_smoothing_changes_only_the_real_target():
    smoothing = 0.1
    target = 1.0 - smoothing
    real_term = -(target * _log_sigmoid(REAL) + (1 - target) * _log_sigmoid(-REAL))
    expected = np.mean(real_term) - np.mean(_log_sigmoid(-FAKE))
    got = gan_losses.bce_discriminator_loss(REAL, FAKE, label_smoothing=smoothing)
    assert _value(got) == pytest.approx(expected, rel=1e-5)


def test_non_saturating_generator_loss_is_minus_log_sigmoid():
    assert _value(gan_losses.bce_generator_loss(FAKE)) == pytest.approx(-np.mean(_log_sigmoid(FAKE)), rel=1e-5)


def test_bce_is_finite_for_extreme_logits():
    confident = gan_losses.bce_discriminator_loss(np.array([100.0]), np.array([-100.0]))
    assert _value(confident) == pytest.approx(0.0, abs=1e-6)
    # The non-saturating loss keeps growing (and its gradient stays near -1) while D rejects fakes.
    assert _value(gan_losses.bce_generator_loss(np.array([-100.0]))) == pytest.approx(100.0, rel=1e-6)
    logits = tf.constant([-100.0])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = gan_losses.bce_generator_loss(logits)
    assert float(tape.gradient(loss, logits)[0]) == pytest.approx(-1.0, rel=1e-6)


def test_column_and_flat_logits_give_the_same_loss():
    flat = gan_losses.bce_discriminator_loss(REAL, FAKE)
    column = gan_losses.bce_discriminator_loss(REAL[:, None], FAKE[:, None])
    assert _value(flat) == _value(column)


# -- hinge and Wasserstein ------------------------------------------------------------------------

def test_hinge_losses_match_closed_form():
    expected_d = np.mean(np.maximum(0, 1 - REAL)) + np.mean(np.maximum(0, 1 + FAKE))
    assert _value(gan_losses.hinge_discriminator_loss(REAL, FAKE)) == pytest.approx(expected_d, rel=1e-6)
    assert _value(gan_losses.hinge_generator_loss(FAKE)) == pytest.approx(-np.mean(FAKE), rel=1e-6)
    # Beyond the margins the discriminator loss is exactly 0.
    assert _value(gan_losses.hinge_discriminator_loss(np.array([1.5]), np.array([-2.0]))) == 0.0


def test_wasserstein_losses_match_closed_form():
    expected = np.mean(FAKE) - np.mean(REAL)
    assert _value(gan_losses.wasserstein_discriminator_loss(REAL, FAKE)) == pytest.approx(expected, rel=1e-6)
    assert _value(gan_losses.wasserstein_generator_loss(FAKE)) == pytest.approx(-np.mean(FAKE), rel=1e-6)


@pytest.mark.parametrize("name", ["hinge", "wgan-gp"])
def test_label_smoothing_is_rejected_outside_bce(name):
    with pytest.raises(ValueError, match="bce"):
        gan_losses.get_losses(name).discriminator(REAL, FAKE, 0.1)


def test_unknown_loss_name_lists_the_choices():
    with pytest.raises(ValueError, match="bce, hinge, wgan-gp"):
        gan_losses.get_losses("lsgan")


def test_logit_accuracy_counts_the_correct_side_of_zero():
    assert _value(gan_losses.logit_accuracy(REAL, is_real=True)) == pytest.approx(0.5)
    assert _value(gan_losses.logit_accuracy(FAKE, is_real=False)) == pytest.approx(0.5)


# -- gradient penalty -----------------------------------------------------------------------------

def _images(seed, shape=(3, 4, 4, 2)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("scale", [0.05, 0.3])
def test_gradient_penalty_of_linear_critic_is_analytic(scale):
    # critic(x) = <w, x> + b has gradient w everywhere: the penalty is (‖w‖ − 1)² for any α.
    weights = tf.constant(_images(0, (1, 4, 4, 2)) * scale)
    critic = lambda x: tf.reduce_sum(x * weights, axis=(1, 2, 3)) + 0.7  # noqa: E731
    alpha = np.array([0.0, 0.25, 1.0], "float32")
    penalty = gan_losses.gradient_penalty(critic, _images(1), _images(2), alpha)
    expected = (np.linalg.norm(np.asarray(weights, "float64")) - 1.0) ** 2
    assert _value(penalty) == pytest.approx(expected, rel=1e-5)


def test_interpolate_mixes_per_example():
    real, fake = _images(1), _images(2)
    alpha = np.array([0.0, 0.5, 1.0], "float32")
    mixed = np.asarray(gan_losses.interpolate(real, fake, alpha))
    np.testing.assert_allclose(mixed[0], fake[0])
    np.testing.assert_allclose(mixed[1], (real[1] + fake[1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(mixed[2], real[2])


def test_gradient_penalty_has_no_nan_when_the_gradient_vanishes():
    # real == fake == 0 sits at the minimum of c·Σx²: the input gradient is exactly 0. A plain
    # sqrt would give d‖g‖/dg = 0/0 = NaN in the critic's update; the safe norm gives penalty 1.
    c = tf.Variable(0.5)
    critic = lambda x: c * tf.reduce_sum(tf.square(x), axis=(1, 2, 3))  # noqa: E731
    zeros = np.zeros((2, 4, 4, 1), "float32")
    with tf.GradientTape() as tape:
        penalty = gan_losses.gradient_penalty(critic, zeros, zeros, np.array([0.3, 0.9], "float32"))
    gradient = tape.gradient(penalty, c)
    # (√ε − 1)² with ε = NORM_EPSILON: 1 up to 2·10⁻⁶.
    assert _value(penalty) == pytest.approx(1.0, abs=1e-5)
    assert np.isfinite(float(gradient))


def test_gradient_penalty_is_finite_and_differentiable_when_real_equals_fake():
    critic = keras.Sequential([
        keras.Input((4, 4, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1),
    ])
    images = _images(3)
    with tf.GradientTape() as tape:
        penalty = gan_losses.gradient_penalty(critic, images, images, np.full(3, 0.5, "float32"))
    # The last bias does not move the input gradient: its gradient is None, the others are arrays.
    gradients = [g for g in tape.gradient(penalty, critic.trainable_variables) if g is not None]
    assert np.isfinite(_value(penalty))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in gradients)
    assert any(np.any(np.asarray(g) != 0) for g in gradients)


# -- R1 -------------------------------------------------------------------------------------------

def test_r1_of_a_linear_critic_is_the_squared_weight_norm():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(4, 4, 2)).astype("float32")
    images = rng.normal(size=(5, 4, 4, 2)).astype("float32")

    def critic(x):
        return tf.reduce_sum(x * weights, axis=(1, 2, 3))[:, None] + 3.0

    value = float(gan_losses.r1_penalty(critic, images))
    assert value == pytest.approx(float(np.sum(weights**2)), rel=1e-5)


def test_r1_equals_a_hand_computed_gradient_norm_on_a_tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((3, 3, 1)), keras.layers.Conv2D(2, 2, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(1)
    ])
    images = np.random.default_rng(1).normal(size=(4, 3, 3, 1)).astype("float32")
    value = float(gan_losses.r1_penalty(model, images))
    # Central finite differences of each image's logit, pixel by pixel, in float64.
    epsilon = 1e-3
    squared_norms = []
    for image in images:
        gradient = np.zeros(image.size)
        for index in range(image.size):
            step = np.zeros(image.size, "float32")
            step[index] = epsilon
            up = model(tf.constant((image.ravel() + step).reshape(1, 3, 3, 1)))
            down = model(tf.constant((image.ravel() - step).reshape(1, 3, 3, 1)))
            gradient[index] = (float(up[0, 0]) - float(down[0, 0])) / (2 * epsilon)
        squared_norms.append(np.sum(gradient**2))
    assert value == pytest.approx(float(np.mean(squared_norms)), rel=2e-2)


def test_r1_is_differentiable_in_the_critic_weights():
    layer = keras.layers.Dense(1)
    images = np.random.default_rng(2).normal(size=(3, 2, 2, 1)).astype("float32")

    def critic(x):
        return layer(tf.tanh(tf.reshape(x, (-1, 4))))

    critic(images)
    with tf.GradientTape() as tape:
        value = gan_losses.r1_penalty(critic, images)
    gradients = tape.gradient(value, layer.trainable_variables)
    assert gradients[0] is not None and np.abs(gradients[0].numpy()).sum() > 0


def test_r1_under_bfloat16_is_float32_and_close_to_float32():
    images = np.random.default_rng(3).normal(size=(4, 6, 6, 1)).astype("float32")
    values = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, activation="relu", dtype=policy),
            keras.layers.Flatten(dtype=policy), keras.layers.Dense(1, dtype="float32"),
        ])
        value = gan_losses.r1_penalty(model, images)
        assert value.dtype == "float32"
        values[policy] = float(value)
    assert values["mixed_bfloat16"] == pytest.approx(values["float32"], rel=0.05)
