"""What the VAE and the GAN share: architecture and input checks, seeding, and distribution-aware gradients.

Conventions every custom `train_step` in this package follows (so that `tf.distribute` and mixed
precision give the same updates as one float32 device):

* A loss term is first computed **per example**, then averaged over the *local* batch: that local
  mean is what the loss trackers (`keras.metrics.Mean`) receive. Keras aggregates tracker state across
  replicas, so the reported value is the global mean.
* The value differentiated is `gradient_loss(optimizer, loss, batch_size)`: the local mean times
  `local batch / global batch` (the local sum over the global batch size; replicas' gradients are
  *summed*, so this gives the global-batch mean), then multiplied by the optimizer's loss scale (1
  unless it is a `LossScaleOptimizer`).
* `apply_gradients` hands the gradients to the optimizer, which unscales them (loss scaling) and
  all-reduces them (strategies); under a strategy the replicas first agree on whether the step is
  skipped for non-finite gradients.
* Per-example noise comes from `sampling.batch_normal`: each replica draws its rows of the global
  batch's noise.
"""

import collections.abc
import logging

import keras
import numpy as np
import tensorflow as tf

from gencompare.distribute import num_replicas
from gencompare.value_range import RANGE_TOLERANCE, normalize_value_range

logger = logging.getLogger(__name__)


def plain_config(value):
    """A copy of `value` made of plain dicts and lists: JSON-like for `get_config`, sharing nothing.

    Keras wraps dicts and lists assigned to a model's attributes in tracking containers, which neither
    `copy.deepcopy` nor a later `from_config` accept.
    """
    if isinstance(value, collections.abc.Mapping):
        return {key: plain_config(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(item) for item in value]
    return value


def check_spec(spec, allowed, what, required=()):
    """A plain copy (`plain_config`) of architecture dict `spec`, after checking its keys.

    Args:
        spec: the builder arguments, e.g. a VAE's `encoder` or a GAN's `generator`.
        allowed: the keys the builder takes.
        what: the argument's name, for the messages.
        required: keys that must be present.

    Raises:
        ValueError: for a non-dict, an unknown key or a missing required key.
    """
    if not isinstance(spec, collections.abc.Mapping):
        raise ValueError(f"`{what}` must be a dict of builder arguments, got {type(spec).__name__}.")
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown `{what}` architecture keys {unknown}; allowed: {', '.join(sorted(allowed))}.")
    missing = sorted(set(required) - set(spec))
    if missing:
        raise ValueError(f"The `{what}` architecture needs the keys {missing}.")
    return plain_config(spec)


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------

def check_count(count):
    """`count` as an int; `ValueError` unless it is a positive integer (the `sample` argument)."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"`count` must be a positive integer, got {count!r}.")
    return int(count)


def check_image_tensor(images, image_shape, where="model"):
    """Checks dtype and static shape of an image batch; safe to call while a step is being traced.

    Args:
        images: a tensor or array of shape `(batch, height, width, channels)`.
        image_shape: the `(height, width, channels)` the model was built for.
        where: name used in the message (e.g. "VAE.fit").

    Raises:
        ValueError: for integer images (they would train on 0–255 without any error from Keras) or
            for a shape that does not match `image_shape`.
    """
    dtype = tf.as_dtype(images.dtype)
    if dtype.is_integer or dtype.is_bool:
        raise ValueError(
            f"{where} got images of dtype {dtype.name}. Models train on floating-point images scaled to "
            f"their value range; convert with `gencompare.data.to_dataset(images, batch_size, "
            f"value_range=...)`, which scales in the tf.data pipeline."
        )
    shape = tuple(images.shape)
    expected = tuple(image_shape)
    if len(shape) != len(expected) + 1 or any(
        got is not None and got != want for got, want in zip(shape[1:], expected)
    ):
        raise ValueError(
            f"{where} expects image batches of shape (batch, {', '.join(map(str, expected))}), got "
            f"{shape}. Load the data with a matching `image_size` or build the model for this shape."
        )


def check_image_values(images, value_range, where="model"):
    """Checks eagerly that image values lie in `value_range` (catches 0–255 floats).

    Raises:
        ValueError: if any value lies outside `value_range` (beyond a small tolerance) or is not finite.
    """
    values = np.asarray(images)
    if values.size == 0:
        raise ValueError(f"{where} got an empty image batch.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where} got images with NaN or infinite values.")
    low, high = value_range
    found_low, found_high = float(values.min()), float(values.max())
    if found_low < low - RANGE_TOLERANCE or found_high > high + RANGE_TOLERANCE:
        hint = " They look like 0–255 pixel values." if found_high > 2.0 else ""
        raise ValueError(
            f"{where} expects images in [{low:g}, {high:g}] but got values in "
            f"[{found_low:.4g}, {found_high:.4g}].{hint} Scale them, e.g. with "
            f"`gencompare.data.to_dataset(images, batch_size, value_range=({low:g}, {high:g}))`."
        )
    if low < 0 and found_low >= 0:
        logger.warning(
            "%s expects images in [-1, 1] but the first batch has no negative value: was it scaled "
            "to [0, 1] instead?", where,
        )


def first_image_batch(data):
    """Returns the images of the first batch of `fit`/`evaluate` input as a numpy array, or None.

    Handles numpy arrays, tensors, `(x, y)` tuples and `tf.data.Dataset`s; other inputs (Python
    generators, `PyDataset`s) are not consumed and give None.
    """
    if isinstance(data, tf.data.Dataset):
        for element in data.take(1):
            return first_image_batch(element)
        return None
    if isinstance(data, (tuple, list)) and data:
        return first_image_batch(data[0])
    if isinstance(data, dict):
        return None
    if isinstance(data, (np.ndarray, tf.Tensor)):
        return np.asarray(data)
    return None


def image_spec_dtype(data):
    """The dtype of the images in a `tf.data.Dataset`'s element spec, or None for other inputs."""
    if not isinstance(data, tf.data.Dataset):
        return None
    spec = data.element_spec
    while isinstance(spec, (tuple, list)):
        spec = spec[0]
    return getattr(spec, "dtype", None)


# ----------------------------------------------------------------------------------------------
# Gradients under strategies and loss scaling
# ----------------------------------------------------------------------------------------------

def local_share(batch_size):
    """This replica's share of the global batch, `local examples / global examples` (1 without a strategy).

    With a static `batch_size` the split is even (tf.distribute splits a static global batch evenly),
    so the share is `1 / replicas`; with a dynamic one (a last partial batch, split unevenly) the
    replicas all-reduce their batch sizes.
    """
    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    if replicas == 1:
        return 1.0
    if batch_size is None or tf.get_static_value(batch_size) is not None:
        return 1.0 / replicas
    local = tf.cast(batch_size, tf.float32)
    return local / context.all_reduce(tf.distribute.ReduceOp.SUM, local)


def gradient_loss(optimizer, loss, batch_size=None):
    """The value to differentiate for a local-batch-mean `loss`: reduced by the global batch, loss-scaled.

    `loss · local / global` is this replica's sum of per-example losses divided by the **global** batch
    size; replicas' gradients are summed, so the update is that of the global-batch mean, as on one
    device. `batch_size` is the local batch size (needed only for batches that may split unevenly).
    Call it inside the `GradientTape`.
    """
    share = local_share(batch_size)
    if not (isinstance(share, float) and share == 1.0):
        loss = loss * tf.cast(share, loss.dtype)
    return optimizer.scale_loss(loss)


def _agree_on_finiteness(gradients):
    """Makes every replica's gradients non-finite when any replica's are.

    `LossScaleOptimizer` decides to skip a step from the gradients *before* they are all-reduced
    (Keras 3.15): replicas may disagree, and then one would apply the step and the other not (under
    MultiWorkerMirroredStrategy: one waits forever in the all-reduce), or an infinite gradient would be
    summed into the weights. One scalar all-reduce makes the decision global.
    """
    present = [gradient for gradient in gradients if gradient is not None]
    if not present:
        return gradients
    local_bad = 1.0 - tf.cast(
        tf.reduce_all([tf.reduce_all(tf.math.is_finite(gradient)) for gradient in present]), tf.float32
    )
    any_bad = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, local_bad)
    poison = tf.where(any_bad > 0.0, float("nan"), 0.0)
    return [None if gradient is None else gradient + tf.cast(poison, gradient.dtype) for gradient in gradients]


def apply_gradients(optimizer, tape, scaled_loss, variables):
    """Differentiates `scaled_loss` (from `gradient_loss`) and applies the update to `variables`."""
    gradients = tape.gradient(scaled_loss, variables)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) and num_replicas() > 1:
        gradients = _agree_on_finiteness(gradients)
    optimizer.apply_gradients(zip(gradients, variables))


def _multi_worker(strategy):
    """Whether `strategy` is a MultiWorkerMirroredStrategy spanning several workers (Keras' own test)."""
    in_multi_worker_mode = getattr(strategy.extended, "_in_multi_worker_mode", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        in_multi_worker_mode and in_multi_worker_mode()
    )


def metric_logs(metrics):
    """`{name: result}` of `metrics`: what a `train_step`/`test_step` returns.

    Under a multi-worker `MultiWorkerMirroredStrategy`, Keras 3 reduces each step output with
    `strategy.reduce("MEAN", value, axis=0)`, which fails for scalars ("Invalid reduction dimension 0
    for input with 0 dimensions", tensorflow/tensorflow#72388). There the results are returned with
    shape `(1,)`, which that reduction turns into the same scalar. Epoch logs are read from the
    metrics themselves (summed over replicas), so they are global means either way.
    """
    logs = {metric.name: metric.result() for metric in metrics}
    if _multi_worker(tf.distribute.get_strategy()):
        logs = {name: tf.reshape(value, (1,)) for name, value in logs.items()}
    return logs


def with_loss_scaling(optimizer, dtype_policy=None):
    """Wraps `optimizer` in a `LossScaleOptimizer` when the policy computes in float16.

    Keras does this itself for models compiled with one optimizer; models with several optimizers
    (the GAN) must do it for each.
    """
    policy = keras.dtype_policies.get(dtype_policy) if dtype_policy else keras.config.dtype_policy()
    if policy.compute_dtype == "float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


# ----------------------------------------------------------------------------------------------
# Seed generators
# ----------------------------------------------------------------------------------------------

SEED_STATE_PREFIX = "seed_generator_state:"


def seed_generators(model):
    """Every `keras.random.SeedGenerator` of `model` and its sub-layers, in a stable order.

    Their states are *not* part of Keras weight files (a `SeedGenerator` is not a saveable object):
    without them a reloaded model, or a resumed run, would draw its first epoch's noise again.
    """
    generators = []
    seen = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", []):
            if id(generator) not in seen:
                seen.add(id(generator))
                generators.append(generator)
    return generators


# ----------------------------------------------------------------------------------------------
# Latents
# ----------------------------------------------------------------------------------------------

def latent_normal(count, latent_dim, seed):
    """`count` standard-normal latent vectors from a fixed integer seed (float32 numpy array).

    Drawn with numpy so that the same seed gives the same latents on every device and backend: the
    fixed latent grid of a run is the same picture on a laptop and on a GPU server.
    """
    if count < 1:
        raise ValueError(f"`count` must be at least 1, got {count}.")
    return np.random.default_rng(seed).standard_normal((count, latent_dim)).astype("float32")


# ----------------------------------------------------------------------------------------------
# The shared model base
# ----------------------------------------------------------------------------------------------

class GenerativeModel(keras.Model):
    """Base of `VAE` and `GAN`: image shape, latent size, value range, seed and input validation.

    Subclasses define `PRESETS` (a `PresetRegistry`) and their own `train_step`/`test_step`.

    Args:
        image_shape: `(height, width, channels)` of the images the model trains on and draws.
        latent_dim: size of the latent vector.
        value_range: `(0, 1)` or `(-1, 1)`: the range of images the model expects and produces.
        seed: integer seed of the model's `keras.random.SeedGenerator` (noise inside train steps).
        **kwargs: passed to `keras.Model` (e.g. `name`, `dtype`).
    """

    PRESETS = None

    def __init__(self, image_shape, latent_dim, value_range=(0, 1), seed=0, **kwargs):
        super().__init__(**kwargs)
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"`image_shape` must be (height, width, channels), got {image_shape}.")
        if int(latent_dim) < 1:
            raise ValueError(f"`latent_dim` must be a positive integer, got {latent_dim}.")
        self.image_shape = image_shape
        self.latent_dim = int(latent_dim)
        self.value_range = normalize_value_range(value_range)
        self.seed = int(seed)
        # Attached to the model so that every compiled step draws fresh noise, and so that the
        # generator's state is saved and restored with the weights.
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="seed_generator")

    # -- presets -------------------------------------------------------------------------------

    @classmethod
    def preset(cls, name):
        """The `Preset` called `name`; `ValueError` listing the available names otherwise."""
        return cls.PRESETS.get(name)

    @classmethod
    def preset_names(cls):
        return cls.PRESETS.names()

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds the model of preset `name`; keyword arguments override its constructor arguments."""
        preset = cls.preset(name)
        return cls(**{**preset.model, **overrides})

    # -- validation ----------------------------------------------------------------------------

    def _validate_input(self, data, where):
        dtype = image_spec_dtype(data)
        if dtype is not None and (dtype.is_integer or dtype.is_bool):
            raise ValueError(
                f"{where} got a dataset of {dtype.name} images. Scale them in the pipeline with "
                f"`gencompare.data.to_dataset(images, batch_size, value_range={self.value_range})`."
            )
        batch = first_image_batch(data)
        if batch is None:
            return
        check_image_tensor(batch, self.image_shape, where)
        check_image_values(batch, self.value_range, where)

    def fit(self, x=None, y=None, **kwargs):
        """`keras.Model.fit`, after checking the first batch of `x` (and of `validation_data`).

        Raises:
            ValueError: for integer (e.g. uint8) images, images outside the model's value range
                (e.g. 0–255 floats), or images of the wrong shape.
        """
        self._validate_input(x, f"{type(self).__name__}.fit")
        validation_data = kwargs.get("validation_data")
        if validation_data is not None:
            self._validate_input(validation_data, f"{type(self).__name__}.fit(validation_data=...)")
        if isinstance(x, tf.data.Dataset):
            # A dataset shuffles itself (`to_dataset` does); Keras' default shuffle=True would only
            # add a "shuffle=True will be ignored" warning to every fit.
            kwargs.setdefault("shuffle", False)
        return super().fit(x, y, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """`keras.Model.evaluate`, after the same checks as `fit`."""
        self._validate_input(x, f"{type(self).__name__}.evaluate")
        return super().evaluate(x, y, **kwargs)

    # -- sampling helpers ----------------------------------------------------------------------

    def latent_grid(self, count, seed):
        """`count` fixed latent vectors for `seed` (see `latent_normal`)."""
        return latent_normal(count, self.latent_dim, seed)

    # -- serialization -------------------------------------------------------------------------

    def save_own_variables(self, store):
        # Keras leaves seed-generator states out of `.keras` and `.weights.h5` files; storing them
        # here lets a loaded model or a resumed run continue its noise stream instead of repeating it.
        super().save_own_variables(store)
        for index, generator in enumerate(seed_generators(self)):
            store[f"{SEED_STATE_PREFIX}{index}"] = keras.ops.convert_to_numpy(generator.state.value)

    def load_own_variables(self, store):
        keys = list(store.keys())
        weights = {key: store[key] for key in keys if not key.startswith(SEED_STATE_PREFIX)}
        super().load_own_variables(weights)
        saved = sorted(key for key in keys if key.startswith(SEED_STATE_PREFIX))
        generators = seed_generators(self)
        if not saved:
            return  # a file written without seed states: keep the fresh ones
        if len(saved) != len(generators):
            raise ValueError(
                f"The file holds {len(saved)} seed-generator states but this {type(self).__name__} has "
                f"{len(generators)}: it was saved from a different architecture."
            )
        for index, generator in enumerate(generators):
            generator.state.assign(np.asarray(store[f"{SEED_STATE_PREFIX}{index}"], dtype=generator.state.dtype))

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=list(self.image_shape),
            latent_dim=self.latent_dim,
            value_range=list(self.value_range),
            seed=self.seed,
        )
        return config
