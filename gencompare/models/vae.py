"""A convolutional variational autoencoder with a custom `train_step`, and its presets.

Loss convention (see `vae_losses`): the reconstruction loss is **summed over pixels and channels**
and the KL divergence **summed over latent dimensions**, both **averaged over the batch**:

    loss = mean_batch(reconstruction) + beta * mean_batch(kl)

Dividing this loss by `H * W * C` gives the "per-pixel mean" formulation (reconstruction averaged over
pixels) with KL weight `beta / (H * W * C)`: a per-pixel formulation with KL weight `b` is
`beta = b * H * W * C` here.

With `reconstruction_loss="gaussian_learned"` (σ-VAE) the decoder variance is set per training batch
to its closed-form optimum, and the model keeps a running (bias-corrected exponential) average of it,
`decoder_log_sigma`, which evaluation (`training=False`: `test_step`, held-out ELBO) uses instead, so
a held-out likelihood does not depend on the test batch.

A learned prior (`fit_prior`, module `priors`) is fitted after training to the training codes and
only changes `sample(..., prior=...)`; the ELBO always uses the standard prior.
"""

import inspect

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from gencompare.models import base, networks, priors, vae_losses, vae_presets
from gencompare.models.sampling import Sampling

# The decoder spec is passed verbatim to `networks.build_deconv_generator` (so that `GAN.from_vae`
# can rebuild the same architecture); the encoder spec goes to `networks.build_conv_trunk`, plus the
# width of the optional hidden dense layer of the encoder head.
_DECODER_KEYS = frozenset(inspect.signature(networks.build_deconv_generator).parameters) - {
    "latent_dim", "output_shape", "name",
}
_TRUNK_KEYS = frozenset(inspect.signature(networks.build_conv_trunk).parameters) - {"input_shape", "name"}
_ENCODER_KEYS = _TRUNK_KEYS | {"dense_units"}

# Which image range each decoder output activation can produce; "linear" outputs are clipped to the
# model's value range when images are returned to the user.
_OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "linear": None}
_PREDICT_BATCH_SIZE = 256
PRIORS = ("standard", "mixture", "two_stage")
# Per-step decay of the σ-VAE decoder variance's running average (about the last 100 steps).
DECODER_VARIANCE_DECAY = 0.99


def build_encoder(image_shape, latent_dim, spec, name="encoder"):
    """Builds the encoder: conv trunk → [hidden Dense] → (z_mean, z_log_var).

    Args:
        image_shape: `(height, width, channels)`.
        latent_dim: size of the latent vector.
        spec: keyword arguments of `networks.build_conv_trunk`, plus `dense_units` (width of an
            optional hidden dense layer using the trunk's activation; 0 or None for none).
        name: name of the returned model.

    Returns:
        A functional `keras.Model` mapping images to `[z_mean, z_log_var]`, both float32.
    """
    trunk_kwargs = {key: value for key, value in spec.items() if key != "dense_units"}
    trunk = networks.build_conv_trunk(image_shape, name=f"{name}_trunk", **trunk_kwargs)
    images = keras.Input(shape=tuple(image_shape), name="images")
    features = trunk(images)
    dense_units = spec.get("dense_units") or 0
    if dense_units:
        features = layers.Dense(int(dense_units), name="hidden")(features)
        features = networks.activation_layer(
            spec.get("activation", "relu"), leaky_slope=spec.get("leaky_slope", 0.2), name="hidden_act"
        )(features)
    # float32 heads: under mixed precision the KL's exp(log σ²) must not overflow float16.
    z_mean = layers.Dense(latent_dim, dtype="float32", name="z_mean")(features)
    z_log_var = layers.Dense(latent_dim, dtype="float32", name="z_log_var")(features)
    return keras.Model(images, [z_mean, z_log_var], name=name)


def _check_beta(beta):
    """`beta` as a float, if it is a finite non-negative number."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value < float("inf"):
        raise ValueError(f"`beta` must be a finite non-negative number, got {beta!r}.")
    return value


def _check_output_activation(decoder_spec, reconstruction_loss, value_range):
    activation = decoder_spec.get("output_activation", "sigmoid")
    if activation not in _OUTPUT_RANGES:
        raise ValueError(
            f"The VAE decoder's output_activation must be one of {', '.join(_OUTPUT_RANGES)}, got {activation!r}."
        )
    produced = _OUTPUT_RANGES[activation]
    if produced is not None and produced != value_range:
        raise ValueError(
            f"output_activation={activation!r} produces images in {produced}, but value_range is "
            f"{value_range}. Use 'sigmoid' for (0, 1) and 'tanh' for (-1, 1)."
        )
    if reconstruction_loss == "bce" and (value_range != (0.0, 1.0) or activation != "sigmoid"):
        raise ValueError(
            "reconstruction_loss='bce' treats pixels as probabilities: it needs value_range=(0, 1) "
            "and output_activation='sigmoid'. Use 'mse' or 'l1' for other ranges."
        )


@keras.saving.register_keras_serializable(package="gencompare")
class VAE(base.GenerativeModel):
    """Convolutional variational autoencoder with a Gaussian posterior and a standard-normal prior.

    Training minimises `mean(reconstruction) + beta * mean(kl)` over the batch, where the
    reconstruction loss is summed over pixels and channels and the closed-form KL divergence is summed
    over latent dimensions (`beta = 1` with `"bce"` is the negative ELBO). In "per-pixel mean"
    terms (reconstruction averaged over pixels) this is a KL weight of `beta / (H * W * C)`.

    `call(x)` is deterministic: it decodes the posterior mean, so `predict`, saving and reloading give
    repeatable outputs. `train_step` and `test_step` both evaluate the stochastic single-sample ELBO
    estimate (z drawn with the model's seed generator), so `val_` metrics are comparable to the
    training metrics; `test_step` runs batch-norm in inference mode.

    Weight initialisation follows Keras' global seed (`keras.utils.set_random_seed`); `seed` drives
    the sampling noise.

    Example:

    ```python
    vae = VAE(
        image_shape=(28, 28, 1), latent_dim=2,
        encoder={"filters": [32, 64], "kernel_size": 3, "strides": 2, "dense_units": 16},
        decoder={"base_shape": [7, 7, 64], "filters": [64, 32], "output_activation": "sigmoid"},
        reconstruction_loss="bce",
    )
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(train_dataset, epochs=30, validation_data=test_dataset)
    images = vae.sample(16, seed=0)
    ```

    Args:
        image_shape: `(height, width, channels)` of the images.
        latent_dim: size of the latent vector.
        encoder: dict of keyword arguments for `networks.build_conv_trunk` (`filters`, `kernel_size`,
            `strides`, `batch_norm`, `activation`, `leaky_slope`, `dropout`) plus `dense_units`, the
            width of an optional hidden dense layer before the `z_mean`/`z_log_var` heads.
        decoder: dict of keyword arguments for `networks.build_deconv_generator` (`base_shape`,
            `filters`, `kernel_size`, `strides`, `batch_norm`, `output_activation`, ...).
        reconstruction_loss: `"bce"`, `"mse"`, `"l1"` or `"gaussian_learned"` (σ-VAE, see `vae_losses`).
        beta: weight of the KL term (non-negative).
        value_range: `(0, 1)` or `(-1, 1)`, the range of the training images.
        seed: integer seed of the sampling noise.
        prior: None, or the spec of a learned prior (`priors.check_spec`, e.g. `{"kind": "mixture",
            "components": 10}`). `fit_prior` sets it; it is given here only when rebuilding a model
            from its config (the prior is then unfitted until its weights are loaded).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Raises:
        ValueError: for unknown architecture keys or loss names, a negative `beta`, an output
            activation that does not produce `value_range`, or a decoder that does not produce
            `image_shape`.
    """

    PRESETS = vae_presets.PRESETS

    def __init__(
        self,
        image_shape,
        latent_dim,
        encoder,
        decoder,
        reconstruction_loss="bce",
        beta=1.0,
        value_range=(0, 1),
        seed=0,
        prior=None,
        **kwargs,
    ):
        super().__init__(image_shape=image_shape, latent_dim=latent_dim, value_range=value_range, seed=seed, **kwargs)
        self.encoder_spec = base.check_spec(encoder, _ENCODER_KEYS, "encoder", required=("filters",))
        self.decoder_spec = base.check_spec(decoder, _DECODER_KEYS, "decoder", required=("base_shape", "filters"))
        self.reconstruction_loss = vae_losses.check_reconstruction_loss(reconstruction_loss)
        self.beta = _check_beta(beta)
        _check_output_activation(self.decoder_spec, self.reconstruction_loss, self.value_range)

        self.encoder = build_encoder(self.image_shape, self.latent_dim, self.encoder_spec)
        self.decoder = networks.build_deconv_generator(
            self.latent_dim, self.image_shape, name="decoder", **self.decoder_spec
        )
        self.sampling = Sampling(name="sampling")
        # A second generator for `sample(seed=None)`, so drawing pictures between epochs does not
        # shift the training noise stream.
        self.sample_seed_generator = keras.random.SeedGenerator(self.seed + 1, name="sample_seed_generator")
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        if self.reconstruction_loss == "gaussian_learned":
            # Bias-corrected running average of the batches' optimal σ² (Adam-style: sum / weight).
            # "mean" aggregation: under a strategy each replica's update is averaged.
            self.decoder_variance_sum, self.decoder_variance_weight = (
                self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False,
                                aggregation="mean", name=name)
                for name in ("decoder_variance_sum", "decoder_variance_weight")
            )
        self.prior = None
        if prior is not None:
            self.prior = priors.build_prior(prior, self.latent_dim, second_stage=LatentVAE)
        # Every weight exists now (functional sub-models), so saving and loading need no build step.
        self.built = True

    # -- Keras plumbing ------------------------------------------------------------------------

    @property
    def metrics(self):
        # Listed here so that Keras resets them at the start of every epoch and of `evaluate`.
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def compile(self, optimizer="adam", loss=None, metrics=None, loss_weights=None, weighted_metrics=None, **kwargs):
        """Configures the optimizer; other keyword arguments (e.g. `jit_compile`) go to Keras.

        Raises:
            ValueError: if a `loss` or metrics are given: the VAE computes its own loss terms (set
                `reconstruction_loss` and `beta` in the constructor) and reports them as metrics.
        """
        for name, value in (("loss", loss), ("metrics", metrics), ("loss_weights", loss_weights),
                            ("weighted_metrics", weighted_metrics)):
            if value is not None:
                raise ValueError(
                    f"VAE.compile got `{name}`, but the VAE computes its own loss and metrics "
                    f"(reconstruction_loss, kl_loss, loss). Choose the loss with "
                    f"`VAE(reconstruction_loss=..., beta=...)`."
                )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # Keras skips re-compiling models whose `compile` is overridden; ours takes the saved config
        # as is, so a loaded model resumes training with its optimizer state.
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=base.plain_config(self.encoder_spec),
            decoder=base.plain_config(self.decoder_spec),
            reconstruction_loss=self.reconstruction_loss,
            beta=self.beta,
            prior=None if self.prior is None else self.prior.spec(),
        )
        return config

    # -- forward passes ------------------------------------------------------------------------

    def call(self, inputs, training=False):
        """Reconstructs `inputs` by decoding the posterior mean (deterministic)."""
        base.check_image_tensor(inputs, self.image_shape, "VAE")
        z_mean, _ = self.encoder(inputs, training=training)
        return self.decoder(z_mean, training=training)

    def loss_terms(self, x, training=False):
        """Per-example loss terms of a single-sample ELBO estimate, `beta` not applied.

        Args:
            x: images in the model's value range, shape `(batch, *image_shape)`.
            training: whether batch-norm and dropout run in training mode.

        Returns:
            A dict with float32 tensors of shape `(batch,)`: `"reconstruction"` (summed over
            pixels and channels) and `"kl"` (summed over latent dimensions).
        """
        base.check_image_tensor(x, self.image_shape, "VAE.loss_terms")
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling(z_mean, z_log_var, seed_generator=self.seed_generator)
        reconstruction = self.decoder(z, training=training)
        if self.reconstruction_loss == "gaussian_learned" and training:
            # σ-VAE: the batch's closed-form σ, and its running average for evaluation.
            log_sigma = vae_losses.optimal_log_sigma(x, reconstruction)
            self._track_decoder_variance(ops.exp(2.0 * ops.stop_gradient(log_sigma)))
            reconstruction_terms = vae_losses.reconstruction_loss(self.reconstruction_loss, x, reconstruction,
                                                                  log_sigma=log_sigma)
        else:
            reconstruction_terms = self.reconstruction_nll(x, reconstruction)
        return {"reconstruction": reconstruction_terms, "kl": vae_losses.kl_divergence(z_mean, z_log_var)}

    def reconstruction_nll(self, x, x_hat):
        """Per-example reconstruction loss of images `x` given decoder outputs `x_hat`, at inference.

        For `"gaussian_learned"` this uses the model's `decoder_log_sigma` (not the batch's optimum),
        so held-out ELBOs and importance-weighted bounds are likelihoods of one fixed model.
        """
        log_sigma = self.decoder_log_sigma if self.reconstruction_loss == "gaussian_learned" else None
        return vae_losses.reconstruction_loss(self.reconstruction_loss, x, x_hat, log_sigma=log_sigma)

    def _track_decoder_variance(self, variance):
        decay = DECODER_VARIANCE_DECAY
        self.decoder_variance_sum.assign(decay * self.decoder_variance_sum + (1.0 - decay) * variance)
        self.decoder_variance_weight.assign(decay * self.decoder_variance_weight + (1.0 - decay))

    @property
    def decoder_log_sigma(self):
        """σ-VAE only: `log σ` of the running-average decoder variance (0 before any training step)."""
        if self.reconstruction_loss != "gaussian_learned":
            raise AttributeError(f"decoder_log_sigma exists only for reconstruction_loss='gaussian_learned', "
                                 f"not {self.reconstruction_loss!r}.")
        weight = ops.convert_to_tensor(self.decoder_variance_weight)
        variance = ops.convert_to_tensor(self.decoder_variance_sum) / ops.maximum(weight, 1e-12)
        return ops.where(weight > 0.0, 0.5 * ops.log(ops.maximum(variance, 1e-12)), 0.0)

    def _batch_losses(self, images, training):
        """Batch means of the loss terms and the total loss `reconstruction + beta * kl`."""
        terms = self.loss_terms(images, training=training)
        reconstruction = ops.mean(terms["reconstruction"])
        kl = ops.mean(terms["kl"])
        return reconstruction, kl, reconstruction + self.beta * kl

    def _update_trackers(self, reconstruction, kl, total):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return base.metric_logs(self.metrics)

    def train_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        base.check_image_tensor(images, self.image_shape, "VAE.fit")
        with tf.GradientTape() as tape:
            reconstruction, kl, total = self._batch_losses(images, training=True)
            scaled_loss = base.gradient_loss(self.optimizer, total, ops.shape(images)[0])
        base.apply_gradients(self.optimizer, tape, scaled_loss, self.trainable_variables)
        return self._update_trackers(reconstruction, kl, total)

    def test_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        base.check_image_tensor(images, self.image_shape, "VAE.evaluate")
        return self._update_trackers(*self._batch_losses(images, training=False))

    # -- user-facing helpers -------------------------------------------------------------------

    def encode(self, x):
        """Posterior parameters `(z_mean, z_log_var)` of images `x` (tensors, inference mode)."""
        base.check_image_tensor(x, self.image_shape, "VAE.encode")
        z_mean, z_log_var = self.encoder(x, training=False)
        return z_mean, z_log_var

    def decode(self, z):
        """Decodes latent vectors `z` of shape `(batch, latent_dim)` to an image tensor."""
        shape = tuple(z.shape)
        if len(shape) != 2 or shape[1] != self.latent_dim:
            raise ValueError(f"VAE.decode expects latents of shape (batch, {self.latent_dim}), got {shape}.")
        return self.decoder(z, training=False)

    def reconstruct(self, x, batch_size=_PREDICT_BATCH_SIZE):
        """Deterministic reconstructions (posterior mean decoded) of images `x`, as a numpy array.

        Raises:
            ValueError: for images of the wrong shape, dtype or value range.
        """
        base.check_image_tensor(x, self.image_shape, "VAE.reconstruct")
        base.check_image_values(x, self.value_range, "VAE.reconstruct")
        return self._to_value_range(self.predict(x, batch_size=batch_size, verbose=0))

    def sample(self, count, seed=None, batch_size=_PREDICT_BATCH_SIZE, prior="standard"):
        """Draws `count` images from a prior, as a float32 numpy array in `value_range`.

        Args:
            count: number of images.
            seed: an int gives fixed latents (for the standard prior `self.latent_grid(count, seed)`):
                the same pictures on every device; None draws fresh latents from the model's sampling
                seed generator.
            batch_size: decoding batch size.
            prior: `"standard"` (`N(0, I)`, the default) or the kind of the learned prior fitted by
                `fit_prior` (`"mixture"` or `"two_stage"`).

        Raises:
            ValueError: for a bad `count`, an unknown prior, or a learned prior that was not fitted.
        """
        count = base.check_count(count)
        if prior == "standard":
            if seed is None:
                latents = ops.convert_to_numpy(
                    keras.random.normal((count, self.latent_dim), seed=self.sample_seed_generator)
                )
            else:
                latents = self.latent_grid(count, int(seed))
        else:
            latents = self._learned_prior(prior).sample(count, self._numpy_seed(seed))
        return self._to_value_range(self.decoder.predict(latents, batch_size=batch_size, verbose=0))

    def _learned_prior(self, kind):
        if kind not in PRIORS:
            raise ValueError(f"Unknown prior {kind!r}; choose one of {', '.join(PRIORS)}.")
        if self.prior is None or self.prior.kind != kind:
            have = "no learned prior" if self.prior is None else f"a {self.prior.kind} prior"
            raise ValueError(f"This VAE has {have}: call `fit_prior(images, kind={kind!r})` first.")
        return self.prior

    def _numpy_seed(self, seed):
        """`seed`, or for None a fresh int drawn from the sampling seed generator (saved with the model)."""
        if seed is not None:
            return int(seed)
        return int(ops.convert_to_numpy(
            keras.random.randint((), 0, 2**31 - 1, seed=self.sample_seed_generator)
        ))

    def fit_prior(self, images, kind="mixture", *, seed=0, codes="mean", verbose=0, **options):
        """Fits a learned prior to the codes of `images` (after training) and keeps it in the model.

        The prior replaces any previous learned prior; it becomes part of the config (its spec) and of
        the weights (its parameters), so `.keras` and weight files keep it. Sample from it with
        `sample(count, seed, prior=kind)`.

        Args:
            images: training images in the model's value range: an array, or a `tf.data.Dataset` of
                image batches (or `(images, ...)` tuples).
            kind: `"mixture"` (ex-post Gaussian mixture, Ghosh et al. 2020) or `"two_stage"` (a second
                VAE on the codes, Dai & Wipf 2019).
            seed: seeds the fit (mixture initialisation; second-stage weights and shuffling, through
                Keras' global seed) and `codes="sample"`.
            codes: `"mean"` (posterior means) or `"sample"` (one posterior sample per image).
            verbose: Keras verbosity of the second stage's training.
            **options: the prior's spec keys (mixture: `components`, `covariance_type`; two_stage:
                `latent_dim`, `hidden_units`; see `priors.check_spec`) and fitting options (mixture:
                `max_iter`, `n_init`, `reg_covar`; two_stage: `epochs`, `batch_size`, `learning_rate`).

        Returns:
            The fitted `sklearn.mixture.GaussianMixture`, or the second stage's Keras `History`.
        """
        if kind not in priors.KINDS:
            raise ValueError(f"Unknown prior kind {kind!r}; choose one of {', '.join(priors.KINDS)}.")
        spec_keys = priors.MIXTURE_DEFAULTS if kind == "mixture" else priors.TWO_STAGE_DEFAULTS
        spec = {"kind": kind, **{key: value for key, value in options.items() if key in spec_keys}}
        fit_options = {key: value for key, value in options.items() if key not in spec_keys}
        if kind == "two_stage":
            fit_options["verbose"] = verbose
        latent_codes = self.latent_codes(images, codes=codes, seed=seed)
        prior = priors.build_prior(spec, self.latent_dim, second_stage=LatentVAE)
        result = prior.fit(latent_codes, seed=seed, **fit_options)
        if self.prior is not None:
            # Keras keeps a replaced sub-layer in the model's layer list (and weights) unless untracked.
            self._tracker.untrack(self.prior)
        self.prior = prior
        return result

    def latent_codes(self, images, codes="mean", seed=0, batch_size=_PREDICT_BATCH_SIZE):
        """Codes of `images` (array or dataset, see `fit_prior`): posterior means or one sample each.

        Returns:
            float32 numpy array `(N, latent_dim)`.
        """
        import tensorflow as tf

        if codes not in priors.CODE_SOURCES:
            raise ValueError(f"`codes` must be one of {', '.join(priors.CODE_SOURCES)}, got {codes!r}.")
        if isinstance(images, tf.data.Dataset):
            self._validate_input(images, "VAE.fit_prior")
            parts = [[], []]
            for batch in images:
                batch = batch[0] if isinstance(batch, (tuple, list)) else batch
                for part, value in zip(parts, self.encode(batch)):
                    part.append(ops.convert_to_numpy(value))
            z_mean, z_log_var = (np.concatenate(part) for part in parts)
        else:
            base.check_image_tensor(images, self.image_shape, "VAE.fit_prior")
            self._validate_input(images, "VAE.fit_prior")
            z_mean, z_log_var = self.encoder.predict(images, batch_size=batch_size, verbose=0)
        z_mean, z_log_var = np.asarray(z_mean, "float32"), np.asarray(z_log_var, "float32")
        if codes == "mean":
            return z_mean
        noise = priors.rng_from_seed(seed).standard_normal(z_mean.shape).astype("float32")
        return z_mean + np.exp(0.5 * z_log_var) * noise

    def _to_value_range(self, images):
        low, high = self.value_range
        return np.clip(np.asarray(images, dtype="float32"), low, high)


@keras.saving.register_keras_serializable(package="gencompare")
class LatentVAE(VAE):
    """The second stage of a two-stage VAE: a small dense `VAE` whose "images" are code vectors.

    A code vector of size `D` is held as a `1 × 1 × D` image, so that the whole `VAE` machinery
    (`train_step`, loss terms, saving) applies unchanged: 1×1 convolutions on a 1×1 image are dense
    layers. Codes are unbounded, so there is no value-range check or clipping; the reconstruction loss
    is the σ-VAE Gaussian NLL (Dai & Wipf learn the decoder variance too). `encode_codes`,
    `decode_codes` and `fit_codes` take and return `(count, D)` arrays.

    Args:
        code_dim: size `D` of the first stage's codes.
        latent_dim: size of this stage's latent vector.
        hidden_units: widths of the hidden layers (encoder and, reversed, decoder).
        seed: sampling-noise seed.
        **kwargs: other `VAE` arguments (from a saved config) or `keras.Model` arguments.
    """

    def __init__(self, code_dim=None, latent_dim=None, hidden_units=(256, 256), seed=0, **kwargs):
        if code_dim is not None:  # built from its own arguments (not from a saved `VAE` config)
            hidden_units = [int(units) for units in hidden_units]
            kwargs.update(
                image_shape=(1, 1, int(code_dim)),
                encoder={"filters": hidden_units, "kernel_size": 1, "strides": 1},
                decoder={"base_shape": [1, 1, hidden_units[-1]], "filters": hidden_units[-2::-1],
                         "kernel_size": 1, "strides": 1, "output_layer": "conv", "output_kernel_size": 1,
                         "output_activation": "linear"},
                reconstruction_loss="gaussian_learned",
                value_range=(-1, 1),
            )
        super().__init__(latent_dim=latent_dim, seed=seed, **kwargs)

    @property
    def code_dim(self):
        return self.image_shape[-1]

    def _validate_input(self, data, where):
        """Only shapes and dtypes: codes are unbounded, so there is no value range to check."""

    def _to_value_range(self, images):
        return np.asarray(images, dtype="float32")

    def as_images(self, codes):
        return np.asarray(codes, dtype="float32").reshape(-1, *self.image_shape)

    def fit_codes(self, codes, *, epochs, batch_size, learning_rate, seed=0, verbose=0):
        """Compiles with Adam and trains on codes `(N, D)`; returns the Keras `History`."""
        import tensorflow as tf

        images = self.as_images(codes)
        dataset = (tf.data.Dataset.from_tensor_slices(images)
                   .shuffle(len(images), seed=int(seed), reshuffle_each_iteration=True)
                   .batch(int(batch_size)).prefetch(2))
        self.compile(optimizer=keras.optimizers.Adam(float(learning_rate)), jit_compile=False)
        return self.fit(dataset, epochs=int(epochs), verbose=verbose)

    def decode_codes(self, latents, batch_size=1024):
        """First-stage codes `(count, D)` decoded from this stage's latents `(count, latent_dim)`."""
        decoded = self.decoder.predict(np.asarray(latents, dtype="float32"), batch_size=batch_size, verbose=0)
        return np.asarray(decoded, dtype="float32").reshape(-1, self.code_dim)
