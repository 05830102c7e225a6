"""Tests of gencompare.metrics.features: the Inception pipeline (random weights), the MNIST extractor,
and the errors for missing weights."""

import keras
import numpy as np
import pytest

from gencompare.metrics import features, mnist_classifier


@pytest.fixture(scope="module")
def random_inception():
    # Random weights: tests the pipeline (shapes, preprocessing, batching), never the feature values.
    return features.inception_extractor(weights=None, batch_size=2)


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (64, 64, 3)])
def test_inception_extractor_gives_2048_features(random_inception, image_shape):
    images = np.random.default_rng(0).integers(0, 256, (3, *image_shape), dtype=np.uint8)
    found = random_inception(images, progress=False)
    assert found.shape == (3, 2048)
    assert np.all(np.isfinite(found))
    # Batching does not change the features, and a (-1, 1) float copy gives the same ones.
    np.testing.assert_allclose(random_inception(images, batch_size=3, progress=False), found, rtol=1e-4, atol=1e-5)
    signed = images.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(
        random_inception(signed, value_range=(-1, 1), progress=False), found, rtol=1e-3, atol=1e-4
    )


def test_inception_preprocessing_makes_299_rgb_in_minus_one_to_one():
    inputs, outputs = features.inception_preprocessing(28, 28, 1)
    model = keras.Model(inputs, outputs)
    grey = np.stack([np.zeros((28, 28, 1)), np.full((28, 28, 1), 0.5), np.ones((28, 28, 1))]).astype("float32")
    result = np.asarray(model(grey))
    assert result.shape == (3, 299, 299, 3)
    np.testing.assert_allclose(result[0], -1.0, atol=1e-5)
    np.testing.assert_allclose(result[1], 0.0, atol=1e-5)
    np.testing.assert_allclose(result[2], 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="1- or 3-channel"):
        features.inception_preprocessing(28, 28, 2)


def test_missing_inception_weights_file_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        features.inception_extractor(weights=tmp_path / "missing.h5")
    message = str(error.value)
    assert "~/.keras/models/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert "weights=" in message


def test_failed_download_becomes_a_clear_error(monkeypatch, tmp_path):
    def offline_get_file(*args, **kwargs):
        # What keras.utils.get_file raises without network access.
        raise Exception("URL fetch failure on https://...: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline_get_file)
    with pytest.raises(FileNotFoundError, match="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        features.inception_extractor(weights="imagenet", cache_dir=str(tmp_path))


def test_a_file_of_other_weights_is_rejected_clearly(tmp_path):
    path = tmp_path / "not_inception.h5"
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="does not hold InceptionV3"):
        features.inception_extractor(weights=path)


def test_unknown_extractor_name_lists_the_choices():
    with pytest.raises(ValueError, match="inception, mnist"):
        features.get_extractor("vgg")


def test_mnist_extractor_gives_64_features_and_rejects_other_shapes():
    extractor = features.get_extractor("mnist")
    digits = np.random.default_rng(1).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    found = extractor(digits, progress=False)
    assert found.shape == (5, extractor.feature_dim) == (5, 64)
    # Same network as the classifier's penultimate layer.
    classifier = mnist_classifier.load_mnist_classifier()
    expected = mnist_classifier.feature_model(classifier).predict_on_batch(digits.astype("float32") / 255)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="28×28×1"):
        extractor(np.zeros((2, 64, 64, 3), np.uint8), progress=False)
