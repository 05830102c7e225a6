"""Learned priors for a trained VAE: densities fitted to the training codes, to sample from.

A VAE trained against `N(0, I)` does not fill that prior: decoding `z ~ N(0, I)` often lands in
"holes" between the regions its training codes occupy, and gives blurry or mixed-up pictures. Two
cheap fixes fit a density to the codes *after* training and sample from it instead:

* `MixturePrior` ("mixture"): an ex-post Gaussian mixture (Ghosh et al. 2020, "From Variational to
  Deterministic Autoencoders"), fitted with scikit-learn's `GaussianMixture`.
* `TwoStagePrior` ("two_stage"): a second, small VAE trained on the codes (Dai & Wipf 2019,
  "Diagnosing and Enhancing VAE Models"); its samples, decoded by the second stage, are codes of the
  first. `LatentVAE` is that second stage: a `VAE` on code vectors, trained by the same `train_step`.

Both are Keras layers whose parameters are (non-trainable) Keras variables and whose shapes come from
a small JSON-like spec, `{"kind": ..., ...}`: `VAE(prior=spec)` rebuilds an unfitted prior of the
right shape, and `.keras` files and weight files restore its parameters. Nothing is pickled.
Sampling draws its randomness with numpy from an integer seed (same seed, same codes, on any device).

The ELBO is unchanged: training and `loss_terms` always use the standard prior.
"""

import keras
import numpy as np


KINDS = ("mixture", "two_stage")
COVARIANCE_TYPES = ("full", "diag")
CODE_SOURCES = ("mean", "sample")

# Defaults of `fit_prior`'s options (also the spec keys of each kind).
MIXTURE_DEFAULTS = {"components": 10, "covariance_type": "full"}
TWO_STAGE_DEFAULTS = {"latent_dim": None, "hidden_units": [256, 256]}
TWO_STAGE_TRAINING = {"epochs": 30, "batch_size": 256, "learning_rate": 1e-3}


def check_spec(spec, latent_dim):
    """A complete prior spec (defaults filled in) from a partial one; `ValueError` if it is invalid.

    Args:
        spec: a dict with `"kind"` (`"mixture"` or `"two_stage"`) and that kind's keys:
            mixture: `components` (int), `covariance_type` (`"full"` or `"diag"`);
            two_stage: `latent_dim` (second-stage latent size; None: the first stage's) and
            `hidden_units` (widths of the second stage's hidden layers).
        latent_dim: the first stage's latent size.
    """
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise ValueError(f"A prior spec is a dict with 'kind' one of {', '.join(KINDS)}; got {spec!r}.")
    kind = spec["kind"]
    defaults = MIXTURE_DEFAULTS if kind == "mixture" else TWO_STAGE_DEFAULTS
    unknown = sorted(set(spec) - set(defaults) - {"kind"})
    if unknown:
        raise ValueError(f"Unknown {kind} prior options {unknown}; allowed: {', '.join(sorted(defaults))}.")
    full = {"kind": kind, **defaults, **{key: value for key, value in spec.items() if key != "kind"}}
    if kind == "mixture":
        if isinstance(full["components"], bool) or not isinstance(full["components"], (int, np.integer)) \
                or full["components"] < 1:
            raise ValueError(f"`components` must be a positive integer, got {full['components']!r}.")
        full["components"] = int(full["components"])
        if full["covariance_type"] not in COVARIANCE_TYPES:
            raise ValueError(f"`covariance_type` must be one of {', '.join(COVARIANCE_TYPES)}, "
                             f"got {full['covariance_type']!r}.")
    else:
        full["latent_dim"] = int(full["latent_dim"] or latent_dim)
        full["hidden_units"] = [int(units) for units in full["hidden_units"]]
        if full["latent_dim"] < 1 or not full["hidden_units"] or min(full["hidden_units"]) < 1:
            raise ValueError(f"A two-stage prior needs latent_dim >= 1 and hidden widths >= 1, got {spec!r}.")
    return full


def build_prior(spec, latent_dim, name="prior", second_stage=None):
    """An unfitted prior layer for `spec` (see `check_spec`) over codes of size `latent_dim`.

    `second_stage` is the model class of a two-stage prior's second VAE (`vae.LatentVAE`, passed by
    the VAE so that this module does not import it back).
    """
    spec = check_spec(spec, latent_dim)
    options = {key: value for key, value in spec.items() if key != "kind"}
    if spec["kind"] == "mixture":
        return MixturePrior(code_dim=latent_dim, name=name, **options)
    return TwoStagePrior(code_dim=latent_dim, name=name, second_stage=second_stage, **options)


def rng_from_seed(seed):
    """A numpy generator for an int seed; `ValueError` for anything else."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer, got {seed!r}.")
    return np.random.default_rng(int(seed))


class _Prior(keras.layers.Layer):
    """Shared parts: the code size, a `fitted` flag variable, and non-trainable parameters."""

    kind = None

    def __init__(self, code_dim, **kwargs):
        super().__init__(**kwargs)
        self.code_dim = int(code_dim)
        self._fitted = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False,
                                       name="fitted")

    @property
    def fitted(self):
        return bool(float(keras.ops.convert_to_numpy(self._fitted.value)) > 0.5)

    def _check_codes(self, codes):
        codes = np.asarray(codes, dtype="float64")
        if codes.ndim != 2 or codes.shape[1] != self.code_dim:
            raise ValueError(f"Expected codes of shape (count, {self.code_dim}), got {codes.shape}.")
        if not np.all(np.isfinite(codes)):
            raise ValueError("The codes contain NaN or infinite values.")
        return codes

    def sample(self, count, seed):
        """`count` codes, float32 `(count, code_dim)`, from an integer seed."""
        if not self.fitted:
            raise ValueError(f"The {self.kind} prior has not been fitted: call `VAE.fit_prior` first.")
        return self._sample(int(count), rng_from_seed(seed)).astype("float32")

    def spec(self):
        """The spec that rebuilds this prior (see `check_spec`)."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update(code_dim=self.code_dim, **{k: v for k, v in self.spec().items() if k != "kind"})
        return config


@keras.saving.register_keras_serializable(package="gencompare")
class MixturePrior(_Prior):
    """A Gaussian mixture over codes, fitted by scikit-learn and stored as Keras variables.

    Variables: `mixture_weights` `(K,)`, `means` `(K, D)` and `scale_tril` `(K, D, D)`, the Cholesky
    factors of the component covariances (diagonal for `covariance_type="diag"`).

    Args:
        code_dim: size `D` of the codes.
        components: number of mixture components `K`.
        covariance_type: `"full"` or `"diag"` (passed to `GaussianMixture`).
    """

    kind = "mixture"

    def __init__(self, code_dim, components=10, covariance_type="full", **kwargs):
        super().__init__(code_dim, **kwargs)
        self.components = int(components)
        self.covariance_type = covariance_type
        shape_k, shape_kd = (self.components,), (self.components, self.code_dim)
        self.mixture_weights = self.add_weight(shape=shape_k, initializer="zeros", dtype="float32",
                                               trainable=False, name="mixture_weights")
        self.means = self.add_weight(shape=shape_kd, initializer="zeros", dtype="float32", trainable=False,
                                     name="means")
        self.scale_tril = self.add_weight(shape=(*shape_kd, self.code_dim), initializer="zeros",
                                          dtype="float32", trainable=False, name="scale_tril")
        self.built = True

    def spec(self):
        return {"kind": self.kind, "components": self.components, "covariance_type": self.covariance_type}

    def fit(self, codes, seed=0, max_iter=200, n_init=1, reg_covar=1e-6):
        """Fits the mixture to `codes` `(N, D)` with `sklearn.mixture.GaussianMixture`; returns it."""
        from sklearn.mixture import GaussianMixture

        codes = self._check_codes(codes)
        if codes.shape[0] < self.components:
            raise ValueError(f"{codes.shape[0]} codes cannot fit {self.components} mixture components.")
        mixture = GaussianMixture(
            n_components=self.components, covariance_type=self.covariance_type, max_iter=max_iter,
            n_init=n_init, reg_covar=reg_covar, random_state=int(seed),
        ).fit(codes)
        if self.covariance_type == "full":
            scale_tril = np.linalg.cholesky(mixture.covariances_)
        else:
            scale_tril = np.stack([np.diag(np.sqrt(variances)) for variances in mixture.covariances_])
        self.mixture_weights.assign(mixture.weights_.astype("float32"))
        self.means.assign(mixture.means_.astype("float32"))
        self.scale_tril.assign(scale_tril.astype("float32"))
        self._fitted.assign(1.0)
        return mixture

    def parameters(self):
        """`(weights, means, covariances)` as float64 numpy arrays."""
        weights, means, scale_tril = (keras.ops.convert_to_numpy(v.value).astype("float64")
                                      for v in (self.mixture_weights, self.means, self.scale_tril))
        return weights, means, scale_tril @ np.swapaxes(scale_tril, 1, 2)

    def _sample(self, count, rng):
        weights, means, scale_tril = (keras.ops.convert_to_numpy(v.value).astype("float64")
                                      for v in (self.mixture_weights, self.means, self.scale_tril))
        components = rng.choice(self.components, size=count, p=weights / weights.sum())
        noise = rng.standard_normal((count, self.code_dim))
        return means[components] + np.einsum("nij,nj->ni", scale_tril[components], noise)


@keras.saving.register_keras_serializable(package="gencompare")
class TwoStagePrior(_Prior):
    """A second VAE on the first stage's codes: sample `u ~ N(0, I)`, decode it to a code.

    The second stage is trained by `fit` on its own compiled copy; this layer keeps an uncompiled
    `LatentVAE` with the trained weights (so saving the first stage does not also save a second
    optimizer), and its variables are not trainable (training the first stage leaves it alone).

    Args:
        code_dim: size `D` of the first stage's codes.
        latent_dim: second-stage latent size (None: `code_dim`, as in Dai & Wipf).
        hidden_units: widths of the second stage's hidden layers.
        second_stage: the second VAE's class (`gencompare.models.vae.LatentVAE`).
    """

    kind = "two_stage"

    def __init__(self, code_dim, latent_dim=None, hidden_units=(256, 256), second_stage=None, **kwargs):
        if second_stage is None:
            raise ValueError("A two-stage prior needs its second-stage class (`second_stage=vae.LatentVAE`); "
                             "build it with `VAE(prior=...)` or `VAE.fit_prior(kind='two_stage')`.")
        super().__init__(code_dim, **kwargs)
        self.second_stage = second_stage
        self.second_latent_dim = int(latent_dim or code_dim)
        self.hidden_units = [int(units) for units in hidden_units]
        self.network = second_stage(code_dim=self.code_dim, latent_dim=self.second_latent_dim,
                                 hidden_units=self.hidden_units, name="second_stage")
        self.trainable = False
        self.built = True

    def spec(self):
        return {"kind": self.kind, "latent_dim": self.second_latent_dim, "hidden_units": list(self.hidden_units)}

    def fit(self, codes, seed=0, epochs=TWO_STAGE_TRAINING["epochs"], batch_size=TWO_STAGE_TRAINING["batch_size"],
            learning_rate=TWO_STAGE_TRAINING["learning_rate"], verbose=0):
        """Trains a second-stage VAE on `codes` `(N, D)` and keeps its weights; returns its `History`."""
        codes = self._check_codes(codes).astype("float32")
        keras.utils.set_random_seed(int(seed))  # the second stage's initial weights
        trainer = self.second_stage(code_dim=self.code_dim, latent_dim=self.second_latent_dim,
                            hidden_units=self.hidden_units, seed=int(seed), name="second_stage")
        history = trainer.fit_codes(codes, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                    seed=seed, verbose=verbose)
        self.network.set_weights(trainer.get_weights())
        self._fitted.assign(1.0)
        return history

    def _sample(self, count, rng):
        latents = rng.standard_normal((count, self.second_latent_dim)).astype("float32")
        return self.network.decode_codes(latents).astype("float64")


# ----------------------------------------------------------------------------------------------
# A VAE seen through another prior (for metrics and figures that call `sample(count, seed=...)`)
# ----------------------------------------------------------------------------------------------


class WithPrior:
    """A VAE whose `sample(count, seed)` draws from its learned prior `kind`; everything else is the VAE's.

    `gencompare.metrics.evaluate` and the figures call `model.sample(count, seed=...)`; this view makes
    them measure and draw the same trained model under its learned prior.
    """

    def __init__(self, model, kind):
        self.model, self.kind = model, kind

    def sample(self, count, seed=None, **options):
        return self.model.sample(count, seed=seed, prior=self.kind, **options)

    def __getattr__(self, name):
        return getattr(self.model, name)


class DecodedFrom(WithPrior):
    """A VAE whose `sample(count, seed)` decodes codes drawn by a prior that is not part of the model
    (a mixture fitted to the codes at one point of training, for the quality curve)."""

    def __init__(self, model, prior):
        super().__init__(model, prior.kind)
        self.prior = prior

    def sample(self, count, seed=0, **_):
        codes = self.prior.sample(int(count), 0 if seed is None else int(seed))
        low, high = self.model.value_range
        return np.clip(np.asarray(self.model.decode(codes), dtype=np.float32), low, high)
