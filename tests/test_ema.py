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


def two_batch_norm_network(seed=0):
    """Dense → BN → ReLU → Dense → BN, with random weights and statistics far from the truth."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,), name="latent")
    x = keras.layers.Dense(5, name="dense_0")(inputs)
    x = keras.layers.BatchNormalization(name="bn_0")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Dense(4, name="dense_1")(x)
    outputs = keras.layers.BatchNormalization(name="bn_1")(x)
    network = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    for layer in network.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(rng.uniform(0.5, 2.0, size=layer.gamma.shape))
            layer.beta.assign(rng.normal(size=layer.beta.shape))
            layer.moving_mean.assign(rng.normal(size=layer.moving_mean.shape) * 3)
            layer.moving_variance.assign(rng.uniform(5.0, 9.0, size=layer.moving_variance.shape))
    return network


def test_standing_statistics_are_the_exact_statistics_of_each_layers_inputs_in_inference_mode():
    network = two_batch_norm_network()
    latents = np.random.default_rng(1).normal(size=(1000, 3)).astype("float32")
    assert ema.standing_statistics(network, latents, batch_size=128) == 2
    for name in ("bn_0", "bn_1"):
        layer = network.get_layer(name)
        # The second layer's inputs are those of the network with the first already recomputed.
        inputs = np.asarray(keras.Model(network.input, layer.input)(latents, training=False), "float64")
        np.testing.assert_allclose(layer.moving_mean.numpy(), inputs.mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), inputs.var(0), rtol=1e-4)
    # So in inference mode the output has mean beta and variance gamma² · v / (v + epsilon), exactly.
    layer = network.get_layer("bn_1")
    outputs = np.asarray(network(latents, training=False), "float64")
    variance = layer.moving_variance.numpy()
    np.testing.assert_allclose(outputs.mean(0), layer.beta.numpy(), atol=1e-4)
    expected_variance = layer.gamma.numpy() ** 2 * variance / (variance + layer.epsilon)
    np.testing.assert_allclose(outputs.var(0), expected_variance, rtol=1e-3)


def test_standing_statistics_do_not_depend_on_the_batch_size_and_touch_nothing_else():
    latents = np.random.default_rng(2).normal(size=(301, 3)).astype("float32")
    small, large = two_batch_norm_network(), two_batch_norm_network()
    trainable_before = [w.numpy() for w in small.trainable_weights]
    ema.standing_statistics(small, latents, batch_size=8)  # 38 batches, the last one of 5
    ema.standing_statistics(large, latents, batch_size=1000)
    for a, b in zip(small.weights, large.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    for before, after in zip(trainable_before, small.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_standing_statistics_leave_a_network_without_batch_norm_alone():
    network = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    before = [w.numpy() for w in network.weights]
    assert ema.standing_statistics(network, np.ones((4, 3), "float32")) == 0
    for old, new in zip(before, network.weights):
        np.testing.assert_array_equal(old, new.numpy())


@pytest.mark.parametrize("latents, batch_size", [(np.ones((1, 3)), 8), (np.ones((4, 3)), 0), (np.ones((4, 3)), 2.5)])
def test_standing_statistics_reject_bad_arguments(latents, batch_size):
    with pytest.raises(ValueError, match="standing_statistics|batch_size"):
        ema.standing_statistics(two_batch_norm_network(), latents, batch_size=batch_size)


def test_standing_statistics_under_mixed_precision_are_float32_and_close_to_float64():
    latents = np.random.default_rng(3).normal(size=(512, 3)).astype("float32")
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        network = two_batch_norm_network()
        ema.standing_statistics(network, latents)
        layer = network.get_layer("bn_0")
        inputs = np.asarray(keras.Model(network.input, layer.input)(latents, training=False), "float64")
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert layer.moving_mean.dtype == "float32" and layer.moving_variance.dtype == "float32"
    np.testing.assert_allclose(layer.moving_mean.numpy(), inputs.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.moving_variance.numpy(), inputs.var(0), rtol=1e-3)
