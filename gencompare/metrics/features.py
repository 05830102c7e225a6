"""Feature extractors: images → feature vectors for the Fréchet distance, KID and precision/recall.

* `inception`: `keras.applications.InceptionV3` without its top, global-average pooled (2048-d), on
  299×299 inputs — the standard FID/KID network. It needs the ImageNet weights file, which Keras
  downloads once into `~/.keras/models/`; offline, put the file there or pass its path.
* `mnist`: the penultimate layer (64-d) of the project's own MNIST classifier
  (`gencompare.metrics.mnist_classifier`), shipped with the package: classifier-FID works offline.

Every extractor takes uint8 images or floats with their `value_range`, and converts them with
`to_unit_range` first.
"""

import pathlib

import keras
from keras import layers

from gencompare.metrics import mnist_classifier
from gencompare.metrics.images import run_in_batches, to_unit_range

EXTRACTOR_NAMES = ("inception", "mnist")
INCEPTION_SIZE = 299
INCEPTION_FEATURES = 2048
INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_WEIGHTS_FILE
)
INCEPTION_WEIGHTS_HASH = "bcbd6486424b2319ff4ef7d526e38f63"


class FeatureExtractor:
    """Maps image sets to feature arrays, in batches, with a progress bar.

    Args:
        name: short name used in metric keys (`fd_<name>`, ...).
        build_network: function `(height, width, channels) -> keras.Model` taking unit-range images
            of that shape and returning `(batch, feature_dim)`; called once per input shape.
        feature_dim: size of the feature vectors.
        batch_size: default images per forward pass.
    """

    def __init__(self, name, build_network, feature_dim, batch_size=50):
        self.name = name
        self.feature_dim = feature_dim
        self.batch_size = batch_size
        self._build_network = build_network
        self._networks = {}

    def network(self, image_shape):
        """The (cached) network for unit-range images of `image_shape`."""
        image_shape = tuple(image_shape)
        if image_shape not in self._networks:
            self._networks[image_shape] = self._build_network(*image_shape)
        return self._networks[image_shape]

    def __call__(self, images, *, value_range=None, batch_size=None, progress=True):
        """Features of `images` (uint8, or floats in `value_range`): float32 `(N, feature_dim)`.

        Raises:
            ValueError: for images the extractor cannot take (shape, values).
        """
        unit = to_unit_range(images, value_range)
        network = self.network(unit.shape[1:])
        return run_in_batches(
            network.predict_on_batch, unit, batch_size=batch_size or self.batch_size,
            progress=progress, description=f"{self.name} features",
        )

    def __repr__(self):
        return f"FeatureExtractor(name={self.name!r}, feature_dim={self.feature_dim})"


# ----------------------------------------------------------------------------------------------
# InceptionV3
# ----------------------------------------------------------------------------------------------

def _missing_weights_message(detail):
    return (
        f"InceptionV3 ImageNet weights are not available ({detail}). Without network access, download "
        f"{INCEPTION_WEIGHTS_URL} elsewhere and put it at ~/.keras/models/{INCEPTION_WEIGHTS_FILE}, or "
        f"pass its path: get_extractor('inception', weights='/path/to/{INCEPTION_WEIGHTS_FILE}'). "
        "Offline metrics that need no download: the 'mnist' extractor (digits) and "
        "gencompare.metrics.swd (any images)."
    )


def inception_weights_path(cache_dir=None):
    """Path of the ImageNet no-top InceptionV3 weights, downloaded by Keras into its cache if needed.

    Args:
        cache_dir: Keras cache folder (default `~/.keras`); the file lives in its `models/`.

    Raises:
        FileNotFoundError: if the file is not cached and cannot be downloaded; the message says where
            to put it.
    """
    try:
        return keras.utils.get_file(
            INCEPTION_WEIGHTS_FILE, INCEPTION_WEIGHTS_URL, cache_subdir="models",
            file_hash=INCEPTION_WEIGHTS_HASH, cache_dir=cache_dir,
        )
    except Exception as error:  # Keras raises a bare Exception on URL failures.
        raise FileNotFoundError(_missing_weights_message(error)) from error


def build_inception_base(weights="imagenet", cache_dir=None):
    """InceptionV3 without its top, average-pooled to 2048 features, on 299×299×3 inputs in [-1, 1].

    Args:
        weights: `"imagenet"` (Keras cache or download), a path to a `.h5` weights file, or None for
            random weights (pipeline tests; the features are then meaningless).
        cache_dir: Keras cache folder for `"imagenet"`.

    Raises:
        FileNotFoundError: if the weights are missing (message says where to put them).
        ValueError: if the file does not hold InceptionV3 no-top weights.
    """
    if weights is None:
        path = None
    elif isinstance(weights, str) and weights == "imagenet":
        path = inception_weights_path(cache_dir)
    else:
        path = pathlib.Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(_missing_weights_message(f"no file at {path}"))
    base = keras.applications.InceptionV3(
        include_top=False, weights=None, pooling="avg", input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3)
    )
    if path is not None:
        try:
            base.load_weights(str(path))
        except Exception as error:  # h5py and Keras raise several types for a foreign file.
            raise ValueError(
                f"{path} does not hold InceptionV3 no-top weights ({error})."
            ) from error
    return base


def inception_preprocessing(height, width, channels):
    """Layers taking unit-range images to what InceptionV3 expects: 299×299×3 in [-1, 1].

    Grey images are repeated to 3 channels; resizing is bilinear (antialiased when shrinking).
    """
    if channels not in (1, 3):
        raise ValueError(f"The inception extractor takes 1- or 3-channel images, got {channels} channels.")
    inputs = keras.Input((height, width, channels), name="unit_range_images")
    x = layers.Resizing(INCEPTION_SIZE, INCEPTION_SIZE, interpolation="bilinear", antialias=True)(inputs)
    if channels == 1:
        x = layers.Concatenate()([x, x, x])
    # keras.applications.inception_v3.preprocess_input maps 0–255 to [-1, 1]; ours start in [0, 1].
    x = layers.Rescaling(2.0, offset=-1.0)(x)
    return inputs, x


def inception_extractor(weights="imagenet", cache_dir=None, batch_size=50):
    """The `inception` feature extractor (2048-d pool features, the FID/KID standard).

    Args:
        weights: see `build_inception_base`.
        cache_dir: Keras cache folder for `"imagenet"`.
        batch_size: default images per forward pass.

    Raises:
        FileNotFoundError, ValueError: see `build_inception_base`.
    """
    base = build_inception_base(weights, cache_dir)

    def build_network(height, width, channels):
        inputs, preprocessed = inception_preprocessing(height, width, channels)
        return keras.Model(inputs, base(preprocessed), name="inception_features")

    return FeatureExtractor("inception", build_network, INCEPTION_FEATURES, batch_size)


# ----------------------------------------------------------------------------------------------
# The project's MNIST classifier
# ----------------------------------------------------------------------------------------------

def mnist_extractor(weights_path=None, batch_size=500):
    """The `mnist` extractor: 64-d penultimate features of the project's MNIST classifier.

    Args:
        weights_path: classifier weights; default the shipped ones.
        batch_size: default images per forward pass.

    Raises:
        FileNotFoundError, ValueError: see `mnist_classifier.load_mnist_classifier`.
    """
    features = mnist_classifier.feature_model(mnist_classifier.load_mnist_classifier(weights_path))

    def build_network(height, width, channels):
        if (height, width, channels) != mnist_classifier.IMAGE_SHAPE:
            raise ValueError(
                f"The mnist extractor takes 28×28×1 digit images, got {(height, width, channels)}; use "
                "the inception extractor or SWD for other images."
            )
        return features

    return FeatureExtractor("mnist", build_network, features.output.shape[-1], batch_size)


def get_extractor(name, **kwargs):
    """The feature extractor called `name` (`"inception"` or `"mnist"`).

    Args:
        name: extractor name.
        **kwargs: passed to `inception_extractor` (`weights`, `cache_dir`, `batch_size`) or
            `mnist_extractor` (`weights_path`, `batch_size`).

    Raises:
        ValueError: for an unknown name.
    """
    builders = {"inception": inception_extractor, "mnist": mnist_extractor}
    if name not in builders:
        raise ValueError(f"Unknown feature extractor {name!r}; choose one of {', '.join(EXTRACTOR_NAMES)}.")
    return builders[name](**kwargs)
