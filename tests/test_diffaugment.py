"""DiffAugment: policies, per-image geometry, differentiability, seeding, XLA and mixed precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gencompare.models import diffaugment


def images(count=6, shape=(16, 16, 3), seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (count, *shape)).astype("float32"))


@pytest.mark.parametrize(
    "policy, expected",
    [
        (None, ()),
        ("", ()),
        ("translation,cutout,color", ("color", "translation", "cutout")),
        (" cutout , translation ", ("translation", "cutout")),
        (["color"], ("color",)),
    ],
)
def test_parse_policy_orders_names_as_the_paper(policy, expected):
    assert diffaugment.parse_policy(policy) == expected
    assert diffaugment.policy_string(policy) == (",".join(expected) or None)


@pytest.mark.parametrize("policy, message", [("flip", "Unknown"), ("color,color", "repeat")])
def test_parse_policy_rejects_unknown_and_repeated_names(policy, message):
    with pytest.raises(ValueError, match=message):
        diffaugment.parse_policy(policy)


def test_empty_policy_returns_the_images_and_draws_nothing():
    generator = keras.random.SeedGenerator(3)
    before = generator.state.numpy().copy()
    x = images()
    assert diffaugment.diff_augment(x, None, generator) is x
    np.testing.assert_array_equal(generator.state.numpy(), before)


def test_translation_shifts_each_image_by_whole_pixels_with_zero_fill():
    # A single bright pixel per image lands at its shifted position (or leaves the image).
    x = np.zeros((32, 16, 16, 1), "float32")
    x[:, 8, 8, 0] = 1.0
    out = diffaugment.translation(tf.constant(x), keras.random.SeedGenerator(0)).numpy()
    shifts = set()
    for image in out:
        assert np.sum(image) == pytest.approx(1.0)  # |shift| ≤ 2 keeps the pixel in view
        (row, column, _), = np.argwhere(image == 1.0)
        assert abs(row - 8) <= 2 and abs(column - 8) <= 2
        shifts.add((row - 8, column - 8))
    assert len(shifts) > 5  # per-image shifts, not one shift for the batch
    # Content moved in from outside is zero.
    ones = diffaugment.translation(tf.ones((64, 16, 16, 1)), keras.random.SeedGenerator(1)).numpy()
    assert ones.min() == 0.0 and ones.max() == 1.0
    assert np.all(ones.sum(axis=(1, 2, 3)) >= 14 * 14)


def test_cutout_zeros_one_square_of_half_the_side_per_image():
    out = diffaugment.cutout(tf.ones((64, 16, 16, 1)), keras.random.SeedGenerator(0)).numpy()
    holes = out[..., 0] == 0.0
    for hole in holes:
        rows, columns = np.nonzero(hole.any(axis=1))[0], np.nonzero(hole.any(axis=0))[0]
        assert len(rows) <= 8 and len(columns) <= 8
        assert hole.sum() == len(rows) * len(columns)  # a rectangle (clipped square)
    assert holes.sum(axis=(1, 2)).max() == 64  # some squares lie fully inside
    assert len({hole.tobytes() for hole in holes}) > 10


def test_color_changes_brightness_saturation_and_contrast_per_image():
    x = images(count=8)
    out = diffaugment.color(x, keras.random.SeedGenerator(0)).numpy()
    assert out.shape == x.shape
    shifts = (out - x.numpy()).mean(axis=(1, 2, 3))
    assert np.std(shifts) > 0.05  # different per image
    gray = tf.ones((4, 8, 8, 1)) * 0.3  # one channel: saturation does nothing; flat: contrast neither
    out = diffaugment.color(gray, keras.random.SeedGenerator(0)).numpy()
    brightness = out[:, 0, 0, 0] - 0.3
    np.testing.assert_allclose(out, (0.3 + brightness)[:, None, None, None] * np.ones((4, 8, 8, 1)), atol=1e-6)
    assert np.all(np.abs(brightness) <= 0.5)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_augmentation_is_differentiable_in_the_images(policy):
    x = images()
    weights = tf.constant(np.random.default_rng(1).normal(size=x.shape).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = diffaugment.diff_augment(x, policy, keras.random.SeedGenerator(0))
        value = tf.reduce_sum(out * weights)
    gradient = tape.gradient(value, x)
    assert gradient is not None
    assert np.all(np.isfinite(gradient.numpy()))
    assert np.abs(gradient.numpy()).sum() > 0.0


def test_same_seed_state_same_output_and_each_call_draws_afresh():
    x = images()
    policy = "color,translation,cutout"
    first = diffaugment.diff_augment(x, policy, keras.random.SeedGenerator(7)).numpy()
    again = diffaugment.diff_augment(x, policy, keras.random.SeedGenerator(7)).numpy()
    np.testing.assert_array_equal(first, again)
    generator = keras.random.SeedGenerator(7)
    step_1 = diffaugment.diff_augment(x, policy, generator).numpy()
    step_2 = diffaugment.diff_augment(x, policy, generator).numpy()
    np.testing.assert_array_equal(step_1, first)
    assert not np.allclose(step_1, step_2)


def test_compiled_steps_draw_fresh_augmentations_and_match_xla():
    x = images()
    policy = "color,translation,cutout"
    outputs = {}
    for jit in (False, True):
        generator = keras.random.SeedGenerator(5)
        step = tf.function(lambda batch, g=generator: diffaugment.diff_augment(batch, policy, g), jit_compile=jit)
        outputs[jit] = [step(x).numpy(), step(x).numpy()]
    assert not np.allclose(outputs[False][0], outputs[False][1])
    for plain, xla in zip(outputs[False], outputs[True]):
        np.testing.assert_allclose(plain, xla, atol=1e-5)


def test_keeps_shape_and_dtype_under_bfloat16():
    x = tf.cast(images(shape=(28, 28, 1)), "bfloat16")
    out = diffaugment.diff_augment(x, "color,translation,cutout", keras.random.SeedGenerator(0))
    assert out.dtype == tf.bfloat16 and tuple(out.shape) == (6, 28, 28, 1)
