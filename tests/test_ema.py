"""Exponential moving average of weights: the decay schedule and the update against hand recursion."""

import keras
import numpy as np
import pytest

from gencompare.models import ema


def small_network(name, units=3):
    inputs = keras.Input((2,))
    x = keras.layers.Dense(units, name="dense")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, outputs, name=name)


def randomize(network, rng):
    for weight in network.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))


def test_warmup_schedule_is_min_of_decay_and_step_ratio():
    assert float(ema.effective_decay(0.999, 0)) == pytest.approx(0.1)
    assert float(ema.effective_decay(0.999, 1)) == pytest.approx(2 / 11)
    assert float(ema.effective_decay(0.999, 90)) == pytest.approx(91 / 100)
    assert float(ema.effective_decay(0.999, 100_000)) == pytest.approx(0.999)
    assert float(ema.effective_decay(0.5, 10)) == pytest.approx(0.5)
    assert ema.effective_decay(0.999, 0, warmup=False) == 0.999


def test_update_averages_trainable_weights_and_copies_statistics():
    rng = np.random.default_rng(0)
    network, average = small_network("network"), small_network("average")
    average.trainable = False  # as in the GAN: the copy is frozen, its weights are all non-trainable
    randomize(network, rng)
    ema.copy_weights(average, network)
    expected = [w.numpy() for w in network.weights]
    decays = [0.3, 0.6, 0.9]
    for decay in decays:
        randomize(network, rng)
        ema.update_average(average, network, decay)
        current = [w.numpy() for w in network.weights]
        expected = [
            decay * old + (1 - decay) * new if weight.trainable else new
            for old, new, weight in zip(expected, current, network.weights)
        ]
    for want, weight in zip(expected, average.weights):
        np.testing.assert_allclose(weight.numpy(), want, rtol=1e-6)
    moving_mean = average.get_layer("bn").moving_mean.numpy()
    np.testing.assert_array_equal(moving_mean, network.get_layer("bn").moving_mean.numpy())


def test_decay_zero_makes_the_average_a_copy():
    rng = np.random.default_rng(1)
    network, average = small_network("network"), small_network("average")
    randomize(network, rng)
    ema.update_average(average, network, 0.0)
    for a, b in zip(average.weights, network.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("decay", [1.0, -0.1, "0.9"])
def test_check_decay_rejects_values_outside_unit_interval(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        ema.check_decay(decay)


def test_check_same_architecture_names_the_mismatch():
    with pytest.raises(ValueError, match="dense/kernel"):
        ema.check_same_architecture(small_network("a", units=3), small_network("b", units=4))


def test_halflife_decay_is_stylegans_schedule():
    # Without a ramp: half the weight after `halflife` images, whatever the batch.
    assert float(ema.halflife_decay(32, 0, 3200.0)) == pytest.approx(0.5 ** 0.01)
    assert float(ema.halflife_decay(64, 0, 3200.0)) ** 50 == pytest.approx(0.5)
    # With a ramp: min(halflife, images_seen · rampup), images_seen counting this update's batch.
    assert float(ema.halflife_decay(64, 0, 10_000.0, 0.05)) == pytest.approx(0.5 ** (64 / 3.2))
    assert float(ema.halflife_decay(64, 999, 10_000.0, 0.05)) == pytest.approx(0.5 ** (64 / 3200.0))
    assert float(ema.halflife_decay(64, 10_000, 10_000.0, 0.05)) == pytest.approx(0.5 ** (64 / 10_000.0))


@pytest.mark.parametrize("halflife, rampup", [(0, None), (-5.0, 0.1), (100.0, 0.0), (100.0, 1.5), (None, 0.1)])
def test_check_halflife_rejects_bad_settings(halflife, rampup):
    with pytest.raises(ValueError):
        ema.check_halflife(halflife, rampup)
