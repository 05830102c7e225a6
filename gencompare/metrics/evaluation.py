"""One call that measures a trained model against a dataset's held-out test split.

`evaluate(model, "mnist")` draws samples from the model, loads the same number of test images, and
returns a flat dict of numbers (easy to print, log, or put in a table):

* per feature extractor `<e>` (`mnist` for 28×28×1 images by default; add `inception` when its
  weights are available): `fd_<e>`, `kid_<e>_mean`, `kid_<e>_std`, `precision_<e>`, `recall_<e>`;
* with the MNIST classifier: mode coverage of the samples (`classes_covered`, `class_kl_uniform`,
  `class_fraction_<c>`);
* sliced Wasserstein distance per pyramid level and mean (`swd_<resolution>`, `swd_mean`);
* for even image sizes, how strongly the samples carry an upsampling grid compared with the real
  images (`checkerboard`, 1 = as smooth on the grid's frequencies as real images; `lattice_peaks`,
  `lattice_peaks_real`; see `checkerboard`);
* for a VAE: held-out ELBO and its parts, reconstruction MSE, and optionally an importance-weighted
  bound;
* the sample counts used (`real_count`, `generated_count`, `kid_subset_size`, ...).

`MetricsCallback` runs it every N epochs during `fit` and writes chosen values into the epoch logs.

Any model works that has `image_shape`, `value_range` and `sample(n, seed=int)`; VAE metrics need
`loss_terms(x, training=False)`, `encode`, `decode`, `reconstruct` and `reconstruction_loss`.
"""

import math

import keras
import numpy as np
import scipy.special

from gencompare.metrics import checkerboard, coverage, distances, features, mnist_classifier, swd
from gencompare.metrics.images import run_in_batches, to_unit_range
from gencompare.models import vae_losses
from gencompare.value_range import from_unit

# Samples are drawn in chunks of this size with one derived seed each, so the samples for a seed do
# not depend on the batch size, and a count of 10 000 never asks the model for one huge batch.
SAMPLE_CHUNK = 1000


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------

def load_real_images(dataset, image_shape, *, count=None, data_dir=None):
    """Held-out real images for a model: the test split of a named dataset, or a given array.

    Args:
        dataset: a dataset name for `gencompare.data.load_images` (its `"test"` split is used), or an
            image array (uint8, or float in [0, 1]) that is returned as is.
        image_shape: the model's `(height, width, channels)`.
        count: how many test images to load (None: all).
        data_dir: see `gencompare.data.load_images`.

    Returns:
        The images, uint8 `(N, H, W, C)` for a dataset name.

    Raises:
        ValueError: if the images do not have the model's shape.
    """
    if isinstance(dataset, str):
        from gencompare.data import load_images

        images = load_images(dataset, "test", image_size=image_shape[0], limit=count, data_dir=data_dir)
    else:
        images = np.asarray(dataset)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"The real images have shape {images.shape[1:]} but the model makes {tuple(image_shape)} "
            "images; load the dataset with a matching image size."
        )
    return images


def generate(model, count, seed):
    """`count` samples of `model` as float32 images in [0, 1], drawn in seeded chunks.

    Raises:
        ValueError: if `count < 1` or the samples are not in the model's value range.
    """
    if count < 1:
        raise ValueError(f"`count` must be at least 1, got {count}.")
    chunk_seeds = np.random.default_rng(seed).integers(2**31 - 1, size=math.ceil(count / SAMPLE_CHUNK))
    chunks = [
        model.sample(min(SAMPLE_CHUNK, count - index * SAMPLE_CHUNK), seed=int(chunk_seed))
        for index, chunk_seed in enumerate(chunk_seeds)
    ]
    return to_unit_range(np.concatenate(chunks), model.value_range, name="generated images")


def _resolve_extractors(extractors, image_shape, inception_weights):
    if extractors == "auto":
        extractors = ("mnist",) if tuple(image_shape) == mnist_classifier.IMAGE_SHAPE else ()
    resolved = []
    for extractor in extractors:
        if isinstance(extractor, features.FeatureExtractor):
            resolved.append(extractor)
        elif extractor == "inception":
            resolved.append(features.get_extractor("inception", weights=inception_weights))
        else:
            resolved.append(features.get_extractor(extractor))
    return resolved


def default_swd_min_resolution(image_shape):
    """Coarsest SWD level: 16 as in Karras et al. for 64×64 and up, 7 for 28×28 (three levels each)."""
    return min(16, max(7, min(image_shape[:2]) // 4))


# ----------------------------------------------------------------------------------------------
# Metric groups
# ----------------------------------------------------------------------------------------------

def feature_metrics(extractor, real, generated, *, kid_subsets=100, kid_subset_size=1000, k=3, seed=0,
                    progress=True):
    """FD, KID and precision/recall of one extractor's features, keys suffixed by its name.

    `real` and `generated` are unit-range images.
    """
    real_features = extractor(real, value_range=(0, 1), progress=progress)
    generated_features = extractor(generated, value_range=(0, 1), progress=progress)
    kid_mean, kid_std = distances.kernel_inception_distance(
        real_features, generated_features, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
    )
    precision, recall = distances.precision_recall(real_features, generated_features, k=k)
    name = extractor.name
    return {
        f"fd_{name}": distances.frechet_distance(real_features, generated_features),
        f"kid_{name}_mean": kid_mean,
        f"kid_{name}_std": kid_std,
        f"precision_{name}": precision,
        f"recall_{name}": recall,
    }


def mnist_mode_coverage(generated, *, classifier=None, progress=False):
    """Mode coverage of unit-range generated digits under the project's MNIST classifier."""
    classifier = classifier or mnist_classifier.load_mnist_classifier()
    predicted = mnist_classifier.predict_classes(classifier, generated, value_range=(0, 1), progress=progress)
    return coverage.mode_coverage(predicted, mnist_classifier.NUM_CLASSES)


def _model_range(vae, unit_images):
    return from_unit(unit_images, vae.value_range)


def elbo_terms(vae, unit_images, *, batch_size=250, progress=True):
    """Per-example ELBO parts on held-out images: `(reconstruction, kl)` arrays of shape `(N,)`.

    Uses `vae.loss_terms(x, training=False)`: one posterior sample per image, β not applied (a σ-VAE
    uses its running decoder variance there, so the result does not depend on `batch_size`).
    """
    def terms(batch):
        values = vae.loss_terms(keras.ops.convert_to_tensor(_model_range(vae, batch)), training=False)
        return np.stack([keras.ops.convert_to_numpy(values["reconstruction"]),
                         keras.ops.convert_to_numpy(values["kl"])], axis=1)

    stacked = run_in_batches(terms, unit_images, batch_size=batch_size, progress=progress,
                             description="ELBO")
    return stacked[:, 0].astype(np.float64), stacked[:, 1].astype(np.float64)


def reconstruction_mse(vae, unit_images, *, batch_size=250):
    """Mean squared error per pixel between images and their (posterior-mean) reconstructions, in
    [0, 1] units whatever the model's value range."""
    reconstructed = to_unit_range(
        vae.reconstruct(_model_range(vae, unit_images), batch_size=batch_size), vae.value_range,
        name="reconstructions",
    )
    return float(np.mean((reconstructed.astype(np.float64) - unit_images) ** 2))


def _log_normal(values, mean, log_variance):
    """Log density of a diagonal Gaussian, summed over the last axis."""
    return -0.5 * np.sum(
        np.log(2 * np.pi) + log_variance + (values - mean) ** 2 / np.exp(log_variance), axis=-1
    )


def _reconstruction_nll(vae, images, decoded):
    """`-log p(x|z)` per image: the VAE's own inference-time loss when it has one (a σ-VAE then uses its
    fixed decoder variance, not the batch's optimum), else its named reconstruction loss."""
    if hasattr(vae, "reconstruction_nll"):
        return vae.reconstruction_nll(images, decoded)
    return vae_losses.reconstruction_loss(vae.reconstruction_loss, images, decoded)


def importance_weighted_bound(vae, unit_images, *, samples=50, seed=0, batch_size=250, progress=True):
    """Importance-weighted bound (Burda et al. 2016) with `samples` posterior samples per image.

    `log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x)`, with `-log p(x|z)` taken as the VAE's reconstruction
    loss. It is at least the ELBO on average and tightens towards `log p(x)` as `samples` grows. It is
    a bound on a log-likelihood only when the reconstruction loss is a negative log-likelihood (`bce`:
    Bernoulli; `gaussian_learned`: Gaussian with the model's running decoder variance); for `mse`/`l1`
    it is the same objective with the normalizing constant left out.

    Returns:
        float64 array `(N,)` of per-image bounds.

    Raises:
        ValueError: if `samples < 1`.
    """
    if int(samples) < 1:
        raise ValueError(f"`samples` must be at least 1, got {samples}.")
    rng = np.random.default_rng(seed)

    def bound(batch):
        images = _model_range(vae, batch)
        z_mean, z_log_var = (keras.ops.convert_to_numpy(v).astype(np.float64) for v in vae.encode(images))
        noise = rng.standard_normal((samples, *z_mean.shape))
        latents = z_mean + np.exp(z_log_var / 2) * noise  # (samples, batch, latent_dim)
        decoded = vae.decode(keras.ops.convert_to_tensor(latents.reshape(-1, z_mean.shape[1]), "float32"))
        repeated = np.tile(images, (samples, 1, 1, 1))  # sample-major, like `latents.reshape`
        negative_log_likelihood = keras.ops.convert_to_numpy(_reconstruction_nll(vae, repeated, decoded)
                                                             ).astype(np.float64).reshape(samples, -1)
        log_weights = (-negative_log_likelihood + _log_normal(latents, 0.0, 0.0)
                       - _log_normal(latents, z_mean, z_log_var))
        return scipy.special.logsumexp(log_weights, axis=0) - np.log(samples)

    # Each batch decodes `samples` images per input image.
    return run_in_batches(bound, unit_images, batch_size=max(1, batch_size // int(samples)),
                          progress=progress, description=f"IW bound (k={samples})")


def vae_metrics(vae, unit_images, *, importance_samples=0, seed=0, batch_size=250, progress=True):
    """Held-out ELBO (`elbo`, `elbo_reconstruction`, `elbo_kl`; per image, higher ELBO is better),
    `reconstruction_mse`, and `iw_bound_k<k>` when `importance_samples > 0`."""
    reconstruction, kl = elbo_terms(vae, unit_images, batch_size=batch_size, progress=progress)
    results = {
        "elbo": float(np.mean(-(reconstruction + kl))),
        "elbo_reconstruction": float(np.mean(reconstruction)),
        "elbo_kl": float(np.mean(kl)),
        "reconstruction_mse": reconstruction_mse(vae, unit_images, batch_size=batch_size),
    }
    if importance_samples:
        bounds = importance_weighted_bound(vae, unit_images, samples=importance_samples, seed=seed,
                                           batch_size=batch_size, progress=progress)
        results[f"iw_bound_k{importance_samples}"] = float(np.mean(bounds))
    return results


def is_vae(model):
    """Whether `model` has the VAE contract (loss terms, encoder and decoder)."""
    return all(hasattr(model, name) for name in ("loss_terms", "encode", "decode", "reconstruct",
                                                  "reconstruction_loss"))


# ----------------------------------------------------------------------------------------------
# The one call
# ----------------------------------------------------------------------------------------------

def evaluate(model, dataset, *, count=10_000, seed=0, data_dir=None, extractors="auto",
             inception_weights="imagenet", include_mode_coverage=None, include_swd=True,
             include_checkerboard=None, swd_min_resolution=None, kid_subsets=100, kid_subset_size=1000,
             k=3, importance_samples=0, batch_size=250, progress=True):
    """Measures `model` against held-out real images; returns a flat dict of metrics and counts.

    Args:
        model: a trained model with `image_shape`, `value_range` and `sample(n, seed=int)` (VAE, GAN).
        dataset: a dataset name (its `"test"` split is loaded at the model's image size) or an array
            of real held-out images (uint8, or floats in [0, 1]).
        count: images per side: `count` samples against up to `count` test images (fewer if the
            split is smaller; both sides then use that number).
        seed: seeds sampling, KID subsets, SWD and the importance-weighted bound.
        data_dir: see `gencompare.data.load_images`.
        extractors: feature extractor names or `FeatureExtractor`s; `"auto"` uses `mnist` for
            28×28×1 images and none otherwise (`inception` needs weights, and is slow on a CPU).
        inception_weights: weights for a named `inception` extractor (see `features`).
        include_mode_coverage: compute MNIST mode coverage; None: for 28×28×1 images.
        include_swd: compute the sliced Wasserstein distance.
        include_checkerboard: compute `checkerboard.checkerboard_metrics`; None: for images of even
            height and width.
        swd_min_resolution: coarsest SWD level; None: `default_swd_min_resolution`.
        kid_subsets, kid_subset_size: KID subset count and size.
        k: neighbour count of precision/recall.
        importance_samples: if > 0 and the model is a VAE, also the importance-weighted bound with
            this many samples.
        batch_size: images per forward pass.
        progress: show progress bars.

    Returns:
        A flat dict `{name: float or int}` (see the module docstring).

    Raises:
        ValueError: for images that do not match the model, unknown extractor names or bad counts.
        FileNotFoundError: when weights an extractor needs are missing (the message says what to do).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise ValueError(f"`count` must be an integer of at least 2, got {count!r}.")
    image_shape = tuple(model.image_shape)
    # Extractors first: missing weights should fail before minutes of sampling.
    resolved = _resolve_extractors(extractors, image_shape, inception_weights)
    real = load_real_images(dataset, image_shape, count=count, data_dir=data_dir)[:count]
    real = to_unit_range(real, None if real.dtype == np.uint8 else (0, 1), name="real images")
    generated = generate(model, real.shape[0], seed)
    results = {"real_count": int(real.shape[0]), "generated_count": int(generated.shape[0])}

    if resolved:
        results["kid_subsets"] = int(kid_subsets)
        results["kid_subset_size"] = min(int(kid_subset_size), real.shape[0])
    for extractor in resolved:
        results.update(feature_metrics(extractor, real, generated, kid_subsets=kid_subsets,
                                       kid_subset_size=kid_subset_size, k=k, seed=seed, progress=progress))
    if include_mode_coverage is None:
        include_mode_coverage = image_shape == mnist_classifier.IMAGE_SHAPE
    if include_mode_coverage:
        results.update(mnist_mode_coverage(generated, progress=progress))
    if include_swd:
        results.update(swd.sliced_wasserstein_distance(
            real, generated, value_range=(0, 1), seed=seed, progress=progress,
            min_resolution=swd_min_resolution or default_swd_min_resolution(image_shape),
        ))
    if include_checkerboard is None:
        include_checkerboard = image_shape[0] % 2 == 0 and image_shape[1] % 2 == 0
    if include_checkerboard:
        results.update(checkerboard.checkerboard_metrics(real, generated))
    if is_vae(model):
        results.update(vae_metrics(model, real, importance_samples=importance_samples, seed=seed,
                                   batch_size=batch_size, progress=progress))
    return results


# ----------------------------------------------------------------------------------------------
# Tracking a metric during training
# ----------------------------------------------------------------------------------------------

class MetricsCallback(keras.callbacks.Callback):
    """Runs `evaluate` every `every_n_epochs` epochs and writes chosen metrics into the epoch logs.

    Because the values go into `logs`, `keras.callbacks.ModelCheckpoint(monitor=...,
    save_best_only=True)`, `EarlyStopping`, `CSVLogger` and the `History` returned by `fit` all see
    them — provided this callback comes **before** them in the `callbacks` list (Keras calls
    callbacks in list order with one shared `logs` dict; a `ModelCheckpoint` listed earlier finds no
    value, warns, and then saves *every* epoch instead of the best)::

        callbacks = [
            MetricsCallback("mnist", metric_names=["fd_mnist"], every_n_epochs=5, count=2000),
            keras.callbacks.ModelCheckpoint("best.weights.h5", monitor="fd_mnist",
                                            mode="min", save_best_only=True, save_weights_only=True),
            keras.callbacks.CSVLogger("log.csv"),
        ]

    On epochs without an evaluation the metrics are logged as NaN, so that CSVLogger's columns exist
    from the first epoch and a checkpoint is never saved on a stale value. Give `ModelCheckpoint` the
    right `mode`: `"min"` for distances (`fd_*`, `kid_*`, `swd_*`), `"max"` for `precision_*`,
    `recall_*`, `classes_covered` and `elbo`.

    Args:
        dataset: a dataset name (its test split, loaded once at the start of training) or an array of
            real images; see `evaluate`.
        metric_names: keys of `evaluate`'s result to log.
        every_n_epochs: evaluate after epochs `n, 2n, ...` (and after the last epoch of `fit`).
        prefix: prepended to the names in the logs (e.g. `"val_"`).
        **evaluate_kwargs: passed to `evaluate` (e.g. `count`, `seed`, `extractors`, `data_dir`).
            `progress` defaults to False here.

    Attributes:
        evaluations: list of `(epoch, results)` for every evaluation, with all of `evaluate`'s keys.

    Raises:
        ValueError: for an empty `metric_names` or `every_n_epochs < 1`; after the first evaluation,
            for a name `evaluate` did not return.
    """

    def __init__(self, dataset, *, metric_names, every_n_epochs=1, prefix="", **evaluate_kwargs):
        super().__init__()
        if isinstance(metric_names, str):
            metric_names = [metric_names]
        if not metric_names:
            raise ValueError("`metric_names` must name at least one key of `evaluate`'s result.")
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` must be a positive integer, got {every_n_epochs!r}.")
        self.dataset = dataset
        self.metric_names = list(metric_names)
        self.every_n_epochs = every_n_epochs
        self.prefix = prefix
        self.evaluate_kwargs = {"progress": False, **evaluate_kwargs}
        self.evaluations = []
        self._real = None

    def on_train_begin(self, logs=None):
        if self._real is None:
            self._real = load_real_images(
                self.dataset, self.model.image_shape, count=self.evaluate_kwargs.get("count", 10_000),
                data_dir=self.evaluate_kwargs.get("data_dir"),
            )

    def _due(self, epoch):
        last_epoch = self.params.get("epochs") if self.params else None
        return (epoch + 1) % self.every_n_epochs == 0 or (last_epoch is not None and epoch + 1 == last_epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if not self._due(epoch):
            for name in self.metric_names:
                logs[self.prefix + name] = float("nan")
            return
        kwargs = {key: value for key, value in self.evaluate_kwargs.items() if key != "data_dir"}
        results = evaluate(self.model, self._real, **kwargs)
        missing = [name for name in self.metric_names if name not in results]
        if missing:
            raise ValueError(
                f"MetricsCallback: evaluate() returned no {', '.join(missing)}; available: "
                f"{', '.join(sorted(results))}."
            )
        self.evaluations.append((epoch, results))
        for name in self.metric_names:
            logs[self.prefix + name] = float(results[name])
