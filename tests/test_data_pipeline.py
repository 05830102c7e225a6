"""`to_dataset`: value ranges, batch shapes, remainder handling, seeded order, argument errors."""

import numpy as np
import pytest

from gencompare.data import to_dataset


def _identity_images(count, size=2):
    """Image i is filled with the value i, so a batch reveals which images it holds and in what order."""
    return np.repeat(np.arange(count, dtype=np.uint8), size * size).reshape(count, size, size, 1)


def _order(dataset):
    return [int(value) for batch in dataset for value in np.rint(batch.numpy()[:, 0, 0, 0] * 255)]


@pytest.mark.parametrize("value_range, expected_low, expected_high", [((0, 1), 0.0, 1.0), ((-1, 1), -1.0, 1.0)])
def test_value_range_endpoints_are_exact(value_range, expected_low, expected_high):
    images = np.zeros((4, 3, 3, 3), dtype=np.uint8)
    images[1] = 255
    images[2] = 51
    batch = next(iter(to_dataset(images, 4, value_range=value_range, shuffle=False))).numpy()
    assert batch.dtype == np.float32
    assert batch[0].min() == expected_low and batch[1].max() == expected_high
    np.testing.assert_allclose(batch[2], expected_low + (expected_high - expected_low) * 0.2, rtol=1e-6)


def test_batch_shapes_and_drop_remainder():
    images = _identity_images(10, size=3)
    dropped = [batch.shape for batch in to_dataset(images, 4)]
    assert dropped == [(4, 3, 3, 1), (4, 3, 3, 1)]
    kept = [batch.shape[0] for batch in to_dataset(images, 4, drop_remainder=False)]
    assert kept == [4, 4, 2]
    assert to_dataset(images, 4).element_spec.shape.as_list() == [4, 3, 3, 1]


def test_unshuffled_order_is_the_array_order():
    assert _order(to_dataset(_identity_images(6), 3, shuffle=False)) == list(range(6))


def test_same_seed_same_order_other_seed_other_order():
    images = _identity_images(64)
    first = _order(to_dataset(images, 8, seed=1))
    assert sorted(first) == list(range(64)), "every image appears exactly once per epoch"
    assert first == _order(to_dataset(images, 8, seed=1))
    assert first != _order(to_dataset(images, 8, seed=2))
    assert first != list(range(64))


def test_each_epoch_is_reshuffled():
    dataset = to_dataset(_identity_images(64), 8, seed=3)
    assert _order(dataset) != _order(dataset)


@pytest.mark.parametrize("bad", [
    np.zeros((4, 2, 2, 1), dtype=np.float32),
    np.zeros((4, 2, 2), dtype=np.uint8),
    np.zeros((0, 2, 2, 1), dtype=np.uint8),
    [[[[0]]]],
])
def test_bad_images_are_value_errors(bad):
    with pytest.raises(ValueError, match="to_dataset"):
        to_dataset(bad, 1)


@pytest.mark.parametrize("value_range", [(0, 255), (-1, 0), (0, 1, 2), "0-1", None])
def test_other_value_ranges_are_rejected(value_range):
    with pytest.raises(ValueError, match="value_range"):
        to_dataset(_identity_images(4), 2, value_range=value_range)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_sizes_are_rejected(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        to_dataset(_identity_images(4), batch_size)


def test_batch_larger_than_data_with_drop_remainder_is_an_error_not_an_empty_dataset():
    with pytest.raises(ValueError, match="no batch"):
        to_dataset(_identity_images(4), 8)
    assert [b.shape[0] for b in to_dataset(_identity_images(4), 8, drop_remainder=False)] == [4]


def test_batches_are_read_from_the_array_itself_not_from_an_embedded_copy():
    # from_tensor_slices would freeze a copy into the graph (and fail past 2 GB); gathering from
    # the NumPy array at iteration time sees later writes, which proves no copy was embedded.
    images = _identity_images(4)
    dataset = to_dataset(images, 4, shuffle=False)
    images[:] = 200
    assert np.all(np.rint(next(iter(dataset)).numpy() * 255) == 200)


def test_training_pipeline_runs_without_the_autotuner():
    # With tf.data's autotuner on, destroying an epoch's iterator stalled the next epoch's first step
    # by seconds at random (see `pipeline_options`); a pipeline built by `to_dataset` must not use it.
    images = np.zeros((8, 4, 4, 1), np.uint8)
    dataset = to_dataset(images, 4)
    assert dataset.options().autotune.enabled is False
    assert len(list(dataset)) == 2
