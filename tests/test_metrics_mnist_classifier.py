"""Tests of gencompare.metrics.mnist_classifier: the committed weights on the real MNIST test set,
safe loading, and mode coverage of real digit sets."""

import numpy as np
import pytest

from conftest import require_real_file
from gencompare.metrics import mnist_classifier
from gencompare.metrics.coverage import mode_coverage


@pytest.fixture(scope="module")
def classifier():
    return mnist_classifier.load_mnist_classifier()


@pytest.fixture(scope="module")
def mnist_test(real_data_dir):
    from gencompare.data import load_images, load_labels

    require_real_file(real_data_dir, "mnist")
    return load_images("mnist", "test", data_dir=real_data_dir), load_labels("mnist", "test", data_dir=real_data_dir)


def test_committed_weights_are_small():
    assert mnist_classifier.DEFAULT_WEIGHTS.stat().st_size < 1_000_000


@pytest.mark.shared_data
def test_classifier_reaches_99_percent_on_the_real_test_set(classifier, mnist_test):
    images, labels = mnist_test
    predicted = mnist_classifier.predict_classes(classifier, images)
    assert np.mean(predicted == labels) >= 0.99


@pytest.mark.shared_data
def test_mode_coverage_of_real_digits(classifier, mnist_test):
    images, labels = mnist_test
    everything = mode_coverage(mnist_classifier.predict_classes(classifier, images))
    assert everything["classes_covered"] == 10
    # The test split is not exactly balanced (892 to 1135 per digit): KL ≈ 0.002 nats.
    assert everything["class_kl_uniform"] < 0.01
    ones = mode_coverage(mnist_classifier.predict_classes(classifier, images[labels == 1]))
    assert ones["classes_covered"] == 1
    assert ones["class_fraction_1"] > 0.98


def test_predictions_do_not_depend_on_the_value_range(classifier):
    digits = np.random.default_rng(0).integers(0, 256, (6, 28, 28, 1), dtype=np.uint8)
    signed = digits.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(
        mnist_classifier.predict_classes(classifier, digits),
        mnist_classifier.predict_classes(classifier, signed, value_range=(-1, 1)),
    )
    with pytest.raises(ValueError, match="28×28×1"):
        mnist_classifier.predict_classes(classifier, np.zeros((2, 32, 32, 1), np.uint8))


def test_missing_or_foreign_weights_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m gencompare.metrics.mnist_classifier"):
        mnist_classifier.load_mnist_classifier(tmp_path / "missing.weights.h5")
    pickle_like = tmp_path / "classifier.pkl"
    pickle_like.write_bytes(b"not weights")
    with pytest.raises(ValueError, match=".weights.h5"):
        mnist_classifier.load_mnist_classifier(pickle_like)
    foreign = tmp_path / "other.weights.h5"
    import keras

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(foreign)
    with pytest.raises(ValueError, match="does not hold MNIST classifier weights"):
        mnist_classifier.load_mnist_classifier(foreign)


def test_saved_weights_hold_no_optimizer_state_and_reload_identically(tmp_path):
    import keras

    model = mnist_classifier.build_mnist_classifier()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.zeros((4, 28, 28, 1), np.float32), np.zeros(4), verbose=0)
    path = tmp_path / "c.weights.h5"
    mnist_classifier.save_classifier_weights(model, path)
    reloaded = mnist_classifier.load_mnist_classifier(path)
    for saved, original in zip(reloaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(saved, original)
