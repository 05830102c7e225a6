"""The project's MNIST classifier: features for classifier-FID and predictions for mode coverage.

A small CNN trained by the project on the MNIST train split (about 99.2 % test accuracy after 3
epochs). Its weights ship in `gencompare/assets/mnist_classifier.weights.h5` (about 0.5 MB); they were
made with::

    python -m gencompare.metrics.mnist_classifier --out gencompare/assets/mnist_classifier.weights.h5

Loading is safe: the architecture is built in code and only the weights are read from the file (no
pickles, no deserialized Keras objects).
"""

import argparse
import pathlib
import warnings

import keras
import numpy as np
from keras import layers

from gencompare.metrics.images import run_in_batches, to_unit_range

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
FEATURE_LAYER = "features"
DEFAULT_WEIGHTS = pathlib.Path(__file__).resolve().parents[1] / "assets" / "mnist_classifier.weights.h5"
TRAIN_COMMAND = "python -m gencompare.metrics.mnist_classifier --out gencompare/assets/mnist_classifier.weights.h5"


def build_mnist_classifier():
    """The classifier's architecture: two conv blocks, a 64-unit feature layer, 10 logits.

    Takes 28×28×1 images in [0, 1]. The `features` layer (after ReLU, before dropout) is the
    penultimate representation used for classifier-FID.
    """
    inputs = keras.Input(IMAGE_SHAPE, name="images")
    x = inputs
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.25)(x)
    features = layers.Dense(64, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(0.3)(features)
    logits = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, logits, name="mnist_classifier")


def train_mnist_classifier(*, epochs=3, batch_size=128, learning_rate=1e-3, seed=0, data_dir=None):
    """Trains the classifier on the MNIST train split (seeded) and reports test accuracy.

    Args:
        epochs: passes over the 60 000 training images.
        batch_size: images per step.
        learning_rate: Adam learning rate.
        seed: seeds weight initialization, dropout and shuffling (`keras.utils.set_random_seed`).
        data_dir: where the MNIST files are (see `gencompare.data.load_images`).

    Returns:
        `(classifier, test_accuracy)`.
    """
    from gencompare.data import load_images, load_labels

    keras.utils.set_random_seed(seed)
    classifier = build_mnist_classifier()
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    train_images = to_unit_range(load_images("mnist", "train", data_dir=data_dir))
    train_labels = load_labels("mnist", "train", data_dir=data_dir)
    classifier.fit(train_images, train_labels, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=2)
    test_images = load_images("mnist", "test", data_dir=data_dir)
    test_labels = load_labels("mnist", "test", data_dir=data_dir)
    accuracy = float(np.mean(predict_classes(classifier, test_images) == test_labels))
    return classifier, accuracy


def load_mnist_classifier(weights_path=None):
    """Builds the classifier and loads its weights (weights only: safe with any file).

    Args:
        weights_path: a `.weights.h5` file; defaults to the weights shipped with the package.

    Returns:
        The classifier (a `keras.Model` giving logits).

    Raises:
        FileNotFoundError: if the weights file does not exist; the message says how to make it.
        ValueError: if the file does not hold this architecture's weights.
    """
    path = pathlib.Path(weights_path) if weights_path is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST classifier weights not found at {path}. Train them (a few minutes on a CPU) with:\n"
            f"    {TRAIN_COMMAND}"
        )
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"Expected a Keras `.weights.h5` file for the MNIST classifier, got {path}.")
    classifier = build_mnist_classifier()
    try:
        with warnings.catch_warnings():
            # Keras only warns when some layers find no weights in the file and keep their random
            # initialization; for a metric network that is an error.
            warnings.simplefilter("error", UserWarning)
            classifier.load_weights(path)
    except Exception as error:  # Keras raises several types for a file of another architecture.
        raise ValueError(
            f"{path} does not hold MNIST classifier weights ({error}). Retrain with:\n    {TRAIN_COMMAND}"
        ) from error
    return classifier


def _check_digit_images(images, value_range):
    unit = to_unit_range(images, value_range)
    if unit.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"The MNIST classifier takes 28×28×1 images, got {unit.shape[1:]}. It is only meaningful "
            "for MNIST-like digits; use the `inception` extractor or SWD for other images."
        )
    return unit


def predict_classes(classifier, images, *, value_range=None, batch_size=500, progress=False):
    """Predicted digit (0–9) of each image.

    Args:
        classifier: from `load_mnist_classifier` or `build_mnist_classifier`.
        images: uint8 images, or floats in `value_range`, of shape `(N, 28, 28, 1)`.
        value_range: value range of float images.
        batch_size: images per forward pass.
        progress: show a progress bar.

    Returns:
        int array `(N,)`.

    Raises:
        ValueError: for images of another shape or out of range.
    """
    unit = _check_digit_images(images, value_range)
    logits = run_in_batches(classifier.predict_on_batch, unit, batch_size=batch_size,
                            progress=progress, description="classifying digits")
    return np.argmax(logits, axis=1)


def feature_model(classifier):
    """A model sharing `classifier`'s weights that outputs the 64-d penultimate `features` layer."""
    return keras.Model(classifier.inputs, classifier.get_layer(FEATURE_LAYER).output,
                       name="mnist_classifier_features")


def save_classifier_weights(classifier, path):
    """Writes only the classifier's weights to `path` (`.weights.h5`), without optimizer state.

    Saving the compiled model would also store Adam's two moment estimates per weight, tripling the
    file; a fresh uncompiled copy holds just what `load_mnist_classifier` reads.
    """
    inference_copy = build_mnist_classifier()
    inference_copy.set_weights(classifier.get_weights())
    inference_copy.save_weights(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the MNIST classifier used by the metrics.")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_WEIGHTS,
                        help="where to write the .weights.h5 file")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/ (default: GENCOMPARE_DATA)")
    args = parser.parse_args(argv)
    if not args.out.name.endswith(".weights.h5"):
        parser.error("--out must end with .weights.h5")
    classifier, accuracy = train_mnist_classifier(epochs=args.epochs, seed=args.seed, data_dir=args.data_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_classifier_weights(classifier, args.out)
    print(f"test accuracy {accuracy:.4f}; weights written to {args.out}")


if __name__ == "__main__":
    main()
