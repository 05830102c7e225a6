"""A GAN with a custom two-phase `train_step`, an EMA generator, presets, and VAE-initialised generators.

    gan = GAN.from_preset("mnist")
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-4),
        g_optimizer=keras.optimizers.Adam(1e-4),
        loss="bce",
    )
    gan.fit(to_dataset(images, 128, value_range=(-1, 1)), epochs=50)
    images = gan.sample(64, seed=0)          # drawn by the EMA generator, in gan.value_range

Each `train_step` has two phases. Phase 1 (`d_steps` times): the discriminator sees a real batch and a
fresh fake batch in **separate** passes, and only its variables are updated. Phase 2: the generator
is updated through the (fixed) discriminator, and only its variables change. Then the EMA copy of the
generator moves towards the generator. A network that is not being trained in a phase still runs in
training mode (batch statistics, dropout), but its BatchNorm moving statistics are left untouched, so
a phase changes no weight of the other network.

Training recipes, all off by default (the seed presets are unchanged), all stored in `get_config` /
`get_compile_config` so `.keras` files keep them:

* `discriminator={"spectral_norm": True, ...}`: spectral normalisation of every discriminator conv
  and of the logit layer (Miyato et al., 2018; `keras.layers.SpectralNormalization`).
* `generator={"upsampling": "nearest" | "bilinear", ...}`: resize + conv instead of transposed convs
  (Odena et al., 2016), against checkerboard artefacts.
* `generator={"blur": "all" | "hidden" | "output", ...}`: a fixed binomial low-pass filter after each
  upsampling (StyleGAN's placement), after the hidden upsamplings only, or after the pixel layer
  only (`gencompare.models.blur`): no pixel-level
  checkerboard, at the cost of one small depthwise conv per upsampling. Off in the fast presets: at
  the quick budget the discriminator wins against it or the samples collapse
  (`benchmarks/gan_tuning.md`).
* `augment="translation,cutout,color"`: DiffAugment (Zhao et al., 2020) on every image the
  discriminator sees in training, real and fake, in both phases (`gencompare.models.diffaugment`).
* `compile(r1_weight=γ, r1_every=k)`: the R1 penalty on real images (Mescheder et al., 2018), lazily
  every k discriminator updates (StyleGAN2).
* `ema_halflife_images=H, ema_rampup=r`: StyleGAN's EMA schedule, a half-life in training images
  ramped up with the images seen (`gencompare.models.ema.halflife_decay`).
* `ema_standing_statistics=N`: the EMA generator's BatchNorm statistics recomputed for its own weights
  over N fixed latents before it draws (`gencompare.models.ema.standing_statistics`), instead of the
  trained generator's copied ones.
* Two learning rates / betas (TTUR): the presets' `d_learning_rate`, `g_beta_2`, ... keys, read by
  `gencompare.train.make_optimizer`.
"""

import inspect

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from gencompare.models import base, diffaugment, ema, gan_losses, gan_presets, networks
from gencompare.models.sampling import batch_normal, standard_normal

# The generator's output activation for each value range: images come out in the data's range.
OUTPUT_ACTIVATIONS = {(0.0, 1.0): "sigmoid", (-1.0, 1.0): "tanh"}
# Factor on the last layer's kernel and bias that maps one output activation's images onto the other's
# range unchanged: 2·sigmoid(a) − 1 = tanh(a/2) and (tanh(a) + 1)/2 = sigmoid(2a).
OUTPUT_REMAPPING_SCALES = {("sigmoid", "tanh"): 0.5, ("tanh", "sigmoid"): 2.0}
# Keyword arguments of `compile` that make no sense for a model with two optimizers and its own loss.
UNSUPPORTED_COMPILE_ARGUMENTS = ("optimizer", "metrics", "weighted_metrics", "loss_weights")
SAMPLE_BATCH_SIZE = 256
# The latents of the EMA generator's standing statistics come from `seed + this`: a stream of their
# own, apart from the sample grids' seeds (0, 1, ...) and the training noise.
STANDING_STATISTICS_SEED_OFFSET = 7919


def _check_standing_statistics(count, ema_decay):
    """`ema_standing_statistics` checked: None or an int ≥ 2, and only with an EMA generator."""
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise ValueError(f"`ema_standing_statistics` must be None or a number of latents ≥ 2 (e.g. 4096), "
                         f"got {count!r}.")
    if ema_decay is None:
        raise ValueError("`ema_standing_statistics` needs an EMA generator: set `ema_decay` (e.g. 0.999) "
                         "or leave `ema_standing_statistics=None`.")
    return count


# ----------------------------------------------------------------------------------------------
# Architectures from plain dicts
# ----------------------------------------------------------------------------------------------

def _builder_arguments(builder, reserved):
    """Keyword arguments a spec dict may give `builder` (everything but the `reserved` ones)."""
    return [name for name in inspect.signature(builder).parameters if name not in reserved]


GENERATOR_ARGUMENTS = _builder_arguments(
    networks.build_deconv_generator, ("latent_dim", "output_shape", "name")
)
DISCRIMINATOR_ARGUMENTS = _builder_arguments(networks.build_conv_trunk, ("input_shape", "name")) + [
    "head_dropout"
]


def build_discriminator(image_shape, *, head_dropout=0.0, name="discriminator", **trunk_arguments):
    """Builds `conv trunk → [Dropout] → Dense(1)`: images to one float32 **logit** per image.

    Args:
        image_shape: `(height, width, channels)`.
        head_dropout: dropout rate between the flat features and the logit (keras.io's DCGAN uses 0.2).
        name: name of the returned model.
        **trunk_arguments: arguments of `networks.build_conv_trunk` (`filters`, `kernel_size`, ...).
            With `spectral_norm=True` the logit layer is spectrally normalised too (SN-GAN).

    Returns:
        A functional `keras.Model` mapping `(batch, *image_shape)` to `(batch, 1)` float32 logits.
    """
    if not 0.0 <= head_dropout < 1.0:
        raise ValueError(f"`head_dropout` must be in [0, 1), got {head_dropout}.")
    trunk = networks.build_conv_trunk(image_shape, name=f"{name}_trunk", **trunk_arguments)
    images = keras.Input(shape=tuple(image_shape), name="images")
    features = trunk(images)
    if head_dropout:
        features = layers.Dropout(head_dropout, name="head_dropout")(features)
    # float32 even under mixed precision: the losses and the gradient penalty need the precision.
    head = layers.Dense(1, dtype="float32", name="logit")
    if trunk_arguments.get("spectral_norm"):
        # The wrapper casts its output back to its input's dtype: float32 in, float32 logits out.
        head = layers.SpectralNormalization(head, power_iterations=1, dtype="float32", name="logit_sn")
    logits = head(features)
    return keras.Model(images, logits, name=name)


def _stride_two_layers(image_shape, smallest, most):
    """How many times height and width can be halved exactly while staying at least `smallest`."""
    height, width = image_shape[:2]
    count = 0
    while count < most and height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= smallest:
        height, width, count = height // 2, width // 2, count + 1
    return count


def default_generator_spec(image_shape, value_range=(-1, 1)):
    """A DCGAN-style generator for `image_shape`: dense projection, stride-2 transposed convs, BN, ReLU.

    Starts from the smallest exact base size (at least 4 pixels, at most 3 doublings: 7×7 for MNIST,
    8×8 for 64×64) with 64·2^doublings channels (at most 256), halving the channels at each doubling.
    """
    doublings = _stride_two_layers(image_shape, smallest=4, most=3)
    height, width = image_shape[0] >> doublings, image_shape[1] >> doublings
    base_channels = min(256, 64 * 2**doublings)
    return {
        "base_shape": [height, width, base_channels],
        "filters": [max(32, base_channels >> (index + 1)) for index in range(doublings)],
        "kernel_size": 4,
        "strides": 2,
        "batch_norm": True,
        "activation": "relu",
        "output_layer": "conv",
        "output_kernel_size": 3,
        "output_activation": OUTPUT_ACTIVATIONS[base.normalize_value_range(value_range)],
    }


def default_discriminator_spec(image_shape):
    """A DCGAN-style discriminator for `image_shape`: stride-2 4×4 convs (64, 128, 256 channels) with
    LeakyReLU 0.2 down to about 8 pixels, dropout 0.3, no BatchNorm."""
    layer_count = max(1, _stride_two_layers(image_shape, smallest=4, most=4) - 1)
    return {
        "filters": [min(256, 64 * 2**index) for index in range(layer_count)],
        "kernel_size": 4,
        "strides": 2,
        "activation": "leaky_relu",
        "leaky_slope": 0.2,
        "dropout": 0.3,
    }


def _spectral_kernels(network):
    """The kernels `keras.layers.SpectralNormalization` layers of `network` rescale in training mode."""
    return [
        layer.kernel
        for layer in network._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, layers.SpectralNormalization)
    ]


def _call_keeping_state(network, inputs):
    """Runs `network` in training mode (batch statistics, dropout) without changing its weights.

    BatchNorm in training mode also moves its moving statistics, and spectral normalisation rescales
    its kernels and moves its power-iteration vectors; the other phase's network must not change, so
    those are restored afterwards. Inside a `tf.function` the reads and writes of a variable run in
    program order, so the snapshot is taken before the layer's update.
    """
    state = network.non_trainable_weights + _spectral_kernels(network)
    snapshot = [ops.copy(weight.value) for weight in state]
    outputs = network(inputs, training=True)
    for weight, value in zip(state, snapshot):
        weight.assign(value)
    return outputs


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="gencompare")
class GAN(base.GenerativeModel):
    """A generative adversarial network with a discriminator on logits and an EMA generator.

    Args:
        image_shape: `(height, width, channels)` of the images.
        latent_dim: size of the latent vector; the latent prior is N(0, I).
        generator: dict of `networks.build_deconv_generator` arguments (without `latent_dim`,
            `output_shape`, `name`). `output_activation` defaults to the one matching
            `value_range` (tanh for (-1, 1), sigmoid for (0, 1)). None: `default_generator_spec`.
        discriminator: dict of `networks.build_conv_trunk` arguments (without `input_shape`, `name`)
            plus `head_dropout`. None: `default_discriminator_spec`.
        value_range: `(-1, 1)` (default, the DCGAN convention) or `(0, 1)`.
        seed: seed of the model's `SeedGenerator`, the source of every latent, interpolation weight
            and instance-noise draw in training.
        ema_decay: decay of the exponential moving average of the generator's weights (e.g. 0.999),
            or None for no EMA copy.
        ema_warmup: use the decay `min(ema_decay, (1 + t) / (10 + t))` at update `t` (see
            `gencompare.models.ema`), so that short runs do not average in the random initial weights.
        ema_halflife_images: instead of `ema_decay`'s schedule, StyleGAN's: the average's half-life
            is this many training images (e.g. 10 000), so `decay = 0.5 ** (batch / half-life)`;
            `ema_decay` then only says that there is an EMA copy (any value in [0, 1)).
        ema_rampup: with `ema_halflife_images`, ramp the half-life up as this fraction of the images
            seen so far, `min(ema_halflife_images, images_seen · ema_rampup)` (StyleGAN2 uses 0.05):
            early, the average follows the fast-changing generator closely. None: no ramp.
        ema_standing_statistics: None (default: the EMA generator keeps the BatchNorm statistics
            copied from the trained generator) or a number of latents, e.g. 4096: before the EMA
            generator draws after training moved it, its BatchNorm statistics are recomputed for its
            own weights over that many fixed latents (drawn from `seed`; "standing statistics", see
            `gencompare.models.ema.standing_statistics`). A no-op for generators without BatchNorm.
        augment: DiffAugment policies applied to every image the discriminator sees in training,
            real and generated, in both phases (see `gencompare.models.diffaugment`): None (default)
            or e.g. `"translation,cutout,color"` / `["translation", "cutout"]`.
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Raises:
        ValueError: for unknown architecture arguments, a generator output activation that does not
            match `value_range`, or an `ema_decay` outside [0, 1).
    """

    PRESETS = gan_presets.PRESETS

    def __init__(
        self,
        image_shape,
        latent_dim,
        generator=None,
        discriminator=None,
        value_range=(-1, 1),
        seed=0,
        ema_decay=0.999,
        ema_warmup=True,
        ema_halflife_images=None,
        ema_rampup=None,
        ema_standing_statistics=None,
        augment=None,
        **kwargs,
    ):
        super().__init__(image_shape, latent_dim, value_range=value_range, seed=seed, **kwargs)
        self.generator_spec = self._generator_spec(generator)
        self.discriminator_spec = base.check_spec(
            default_discriminator_spec(self.image_shape) if discriminator is None else discriminator,
            DISCRIMINATOR_ARGUMENTS,
            "discriminator",
        )
        self.generator = self._build_generator("generator")
        self.discriminator = build_discriminator(
            self.image_shape, name="discriminator", **self.discriminator_spec
        )
        self.ema_decay = None if ema_decay is None else ema.check_decay(ema_decay)
        self.ema_warmup = bool(ema_warmup)
        self.ema_halflife_images, self.ema_rampup = ema.check_halflife(ema_halflife_images, ema_rampup)
        self.ema_standing_statistics = _check_standing_statistics(ema_standing_statistics, ema_decay)
        # The `ema_updates` count at which the EMA generator's statistics were last recomputed.
        self._standing_statistics_at = None
        self.augment = diffaugment.policy_string(augment)
        self.ema_generator = None
        if self.ema_decay is not None:
            self.ema_generator = self._build_generator("ema_generator")
            # Averaged, never trained: keep its weights out of `trainable_variables`.
            self.ema_generator.trainable = False
            ema.check_same_architecture(self.ema_generator, self.generator)
            ema.copy_weights(self.ema_generator, self.generator)
        self.ema_updates = self.add_weight(
            shape=(),
            initializer="zeros",
            dtype="int64",
            trainable=False,
            name="ema_updates",
            aggregation="only_first_replica",
        )
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_accuracy_tracker = keras.metrics.Mean(name="d_real_accuracy")
        self.d_fake_accuracy_tracker = keras.metrics.Mean(name="d_fake_accuracy")
        self.gradient_penalty_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.r1_penalty_tracker = keras.metrics.Mean(name="r1_penalty")
        self.adversarial_loss = None
        self.sample_seed_generator = keras.random.SeedGenerator(self.seed + 1, name="sample_seed_generator")
        # Both networks are built functional models: nothing is left to build on the first batch.
        self.built = True

    def _generator_spec(self, generator):
        spec = base.check_spec(
            default_generator_spec(self.image_shape, self.value_range) if generator is None else generator,
            GENERATOR_ARGUMENTS,
            "generator",
        )
        expected = OUTPUT_ACTIVATIONS[self.value_range]
        activation = spec.setdefault("output_activation", expected)
        if activation != expected:
            raise ValueError(
                f"A GAN with value_range={self.value_range} needs a generator with "
                f"output_activation={expected!r} (got {activation!r}) so that its images lie in the "
                f"data's range. Change `output_activation` or `value_range`."
            )
        return spec

    def _build_generator(self, name):
        return networks.build_deconv_generator(
            self.latent_dim, self.image_shape, name=name, **self.generator_spec
        )

    # -- compile -------------------------------------------------------------------------------

    def compile(
        self,
        d_optimizer="adam",
        g_optimizer="adam",
        loss="bce",
        *,
        gp_weight=10.0,
        d_steps=1,
        label_smoothing=0.0,
        instance_noise=0.0,
        r1_weight=0.0,
        r1_every=1,
        **kwargs,
    ):
        """Configures training: one optimizer per network, the adversarial loss and its options.

        Args:
            d_optimizer: optimizer (instance, name or config) of the discriminator.
            g_optimizer: optimizer of the generator; must be a different instance.
            loss: `"bce"` (non-saturating), `"hinge"` or `"wgan-gp"` (see `gan_losses`).
            gp_weight: weight of the gradient penalty (`"wgan-gp"` only; 10 in Gulrajani et al.).
            d_steps: discriminator updates per generator update (5 is usual for WGAN-GP). Each one
                uses the step's real batch with fresh fakes.
            label_smoothing: one-sided label smoothing of the real targets (`"bce"` only).
            instance_noise: standard deviation of Gaussian noise added to every image the
                discriminator sees, real or fake (Sønderby et al., 2016); 0 disables it.
            r1_weight: γ of the R1 penalty on real images (Mescheder et al., 2018): the
                discriminator minimises `d_loss + γ/2 · mean ‖∇ₓ D(x)‖²` (`gan_losses.r1_penalty`, on
                the real images as the discriminator sees them, augmented if `augment` is set);
                0 (default) disables it. Works with every loss.
            r1_every: lazy regularisation (StyleGAN2): the penalty is computed only on
                discriminator updates whose index is a multiple of `r1_every`, weighted by
                `r1_every · γ/2` so that its average pull stays the same.
            **kwargs: passed to `keras.Model.compile`: `jit_compile` ("auto" by default, which turns
                XLA off on CPU-only machines), `steps_per_execution`, `run_eagerly`.

        Raises:
            ValueError: for an unknown loss, option values out of range, options that do not apply
                to the loss, one optimizer instance shared by both networks, or Keras arguments a
                GAN cannot use (`optimizer`, `metrics`, ...).
        """
        unsupported = sorted(set(kwargs) & set(UNSUPPORTED_COMPILE_ARGUMENTS))
        if unsupported:
            raise ValueError(
                f"GAN.compile does not take {unsupported}: pass `d_optimizer` and `g_optimizer`; the "
                f"metrics (d_loss, g_loss, d_real_accuracy, d_fake_accuracy) are built in."
            )
        adversarial_loss = gan_losses.get_losses(loss)
        self._check_compile_options(adversarial_loss, gp_weight, d_steps, label_smoothing, instance_noise)
        if r1_weight < 0.0:
            raise ValueError(f"`r1_weight` must be >= 0, got {r1_weight}.")
        if not isinstance(r1_every, int) or r1_every < 1:
            raise ValueError(f"`r1_every` must be a positive integer, got {r1_every!r}.")
        d_optimizer = keras.optimizers.get(d_optimizer)
        g_optimizer = keras.optimizers.get(g_optimizer)
        if d_optimizer is g_optimizer:
            raise ValueError(
                "`d_optimizer` and `g_optimizer` are the same object; an optimizer keeps per-variable "
                "state, so give each network its own, e.g. two `keras.optimizers.Adam(...)`."
            )
        # Keras wraps only `self.optimizer` for float16 policies; a GAN has two optimizers.
        self.d_optimizer = base.with_loss_scaling(d_optimizer, self.dtype_policy)
        self.g_optimizer = base.with_loss_scaling(g_optimizer, self.dtype_policy)
        self.adversarial_loss = adversarial_loss
        self.gp_weight = float(gp_weight)
        self.d_steps = int(d_steps)
        self.label_smoothing = float(label_smoothing)
        self.instance_noise = float(instance_noise)
        self.r1_weight = float(r1_weight)
        self.r1_every = int(r1_every)
        self._keras_compile_arguments = dict(kwargs)
        # optimizer=None: Keras would otherwise create an unused RMSprop and build it on all variables.
        super().compile(optimizer=None, **kwargs)
        self._build_optimizers()

    def _build_optimizers(self):
        """Creates the optimizer slots now, each for its own network's variables.

        Keras builds `self.optimizer` before the first step; built lazily inside a distributed train
        function, slot variables would be created per replica inside a `cond` and fail. Building here
        (under the strategy scope the model was compiled in) also lets a loaded model restore the
        optimizer state.
        """
        for optimizer, network in ((self.d_optimizer, self.discriminator), (self.g_optimizer, self.generator)):
            if not optimizer.built:
                optimizer.build(network.trainable_variables)

    @staticmethod
    def _check_compile_options(adversarial_loss, gp_weight, d_steps, label_smoothing, instance_noise):
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(f"`d_steps` must be a positive integer, got {d_steps!r}.")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing}.")
        if label_smoothing and not adversarial_loss.supports_label_smoothing:
            raise ValueError(
                f"`label_smoothing` applies to the 'bce' loss only, not {adversarial_loss.name!r}."
            )
        if instance_noise < 0.0:
            raise ValueError(f"`instance_noise` must be >= 0, got {instance_noise}.")
        if gp_weight < 0.0:
            raise ValueError(f"`gp_weight` must be >= 0, got {gp_weight}.")

    def get_compile_config(self):
        """Both optimizers, the loss and its options, and the Keras compile arguments (for `.keras`)."""
        if not self.compiled:
            return {}
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
            "loss": self.adversarial_loss.name,
            "gp_weight": self.gp_weight,
            "d_steps": self.d_steps,
            "label_smoothing": self.label_smoothing,
            "instance_noise": self.instance_noise,
            "r1_weight": self.r1_weight,
            "r1_every": self.r1_every,
            **self._keras_compile_arguments,
        }

    def compile_from_config(self, config):
        """Compiles from `get_compile_config()`; `compile` builds both optimizers, so their state loads."""
        config = dict(config)
        for key in ("d_optimizer", "g_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)

    # -- training ------------------------------------------------------------------------------

    @property
    def metrics(self):
        """The trackers Keras resets at each epoch (`gradient_penalty` only for `"wgan-gp"`,
        `r1_penalty` only with `r1_weight > 0`)."""
        trackers = [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.d_real_accuracy_tracker,
            self.d_fake_accuracy_tracker,
        ]
        if self.adversarial_loss is not None and self.adversarial_loss.gradient_penalty:
            trackers.append(self.gradient_penalty_tracker)
        if getattr(self, "r1_weight", 0.0):
            trackers.append(self.r1_penalty_tracker)
        return trackers

    def call(self, latents, training=False):
        """Images drawn by the (raw, trained) generator from `latents` of shape `(batch, latent_dim)`."""
        return self.generator(latents, training=training)

    # Every draw below goes through `sampling.batch_normal` (`standard_normal` underneath), which
    # gives the same numbers with and without XLA (keras.random does not), so one `seed` fixes a run
    # whatever `jit_compile` says (Keras' Dropout layers excepted: they draw with keras.random). Under
    # a tf.distribute strategy each replica takes its rows of the global batch's noise, so N replicas
    # see the noise one device would see (Dropout masks excepted: they repeat on every replica).

    def _latents(self, count):
        """`count` latent vectors from N(0, I), fresh at every step (drawn from `seed_generator`)."""
        return batch_normal((count, self.latent_dim), "float32", self.seed_generator)

    def _interpolation_weights(self, count):
        """Per-example α ~ Uniform(0, 1) for the gradient penalty: Φ(n) for n ~ N(0, 1)."""
        normal = batch_normal((count,), "float32", self.seed_generator)
        return 0.5 * (1.0 + ops.erf(normal / np.sqrt(2.0)))

    def _discriminator_input(self, images, training=True):
        """What the discriminator sees: DiffAugment (in training, if configured), then instance noise."""
        if training and self.augment:
            images = diffaugment.diff_augment(images, self.augment, self.seed_generator)
        if not self.instance_noise:
            return images
        noise = batch_normal(ops.shape(images), images.dtype, self.seed_generator)
        return images + self.instance_noise * noise

    def _images(self, data, where):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        base.check_image_tensor(images, self.image_shape, where)
        return images

    def _discriminator_losses(self, images, fakes, training):
        """Discriminator loss, penalty (or None), real inputs as seen and logits on a real and a fake batch."""
        real_inputs = self._discriminator_input(images, training)
        real_logits = self.discriminator(real_inputs, training=training)
        fake_logits = self.discriminator(self._discriminator_input(fakes, training), training=training)
        d_loss = self.adversarial_loss.discriminator(real_logits, fake_logits, self.label_smoothing)
        penalty = None
        if self.adversarial_loss.gradient_penalty:
            alpha = self._interpolation_weights(ops.shape(images)[0])
            penalty = gan_losses.gradient_penalty(
                lambda x: self.discriminator(x, training=training), images, fakes, alpha
            )
        return d_loss, penalty, real_inputs, real_logits, fake_logits

    def _r1_penalty(self, real_inputs):
        """`(penalty, applied)`: the R1 penalty on `real_inputs` and 1.0, or 0.0 and 0.0 on the
        discriminator updates lazy regularisation (`r1_every`) skips."""
        def penalty():
            return gan_losses.r1_penalty(lambda x: self.discriminator(x, training=True), real_inputs)

        if self.r1_every == 1:
            return penalty(), 1.0
        applied = ops.equal(self.d_optimizer.iterations % self.r1_every, 0)
        value = tf.cond(applied, penalty, lambda: tf.constant(0.0, "float32"))
        return value, ops.cast(applied, "float32")

    def _track_discriminator(self, d_loss, penalty, real_logits, fake_logits):
        self.d_loss_tracker.update_state(d_loss)
        self.d_real_accuracy_tracker.update_state(gan_losses.logit_accuracy(real_logits, is_real=True))
        self.d_fake_accuracy_tracker.update_state(gan_losses.logit_accuracy(fake_logits, is_real=False))
        if penalty is not None:
            self.gradient_penalty_tracker.update_state(penalty)

    def discriminator_step(self, images):
        """One discriminator update on a real batch and a fresh fake batch (phase 1 of `train_step`).

        Only the discriminator's variables change. `d_loss` is the adversarial term; the optimised
        objective adds `gp_weight · gradient_penalty` for WGAN-GP and `r1_every · r1_weight / 2 ·
        r1_penalty` with R1 (on the updates lazy regularisation keeps).
        """
        self._check_compiled()
        fakes = _call_keeping_state(self.generator, self._latents(ops.shape(images)[0]))
        with tf.GradientTape() as tape:
            d_loss, penalty, real_inputs, real_logits, fake_logits = self._discriminator_losses(
                images, fakes, training=True
            )
            objective = d_loss if penalty is None else d_loss + self.gp_weight * penalty
            if self.r1_weight:
                r1, r1_applied = self._r1_penalty(real_inputs)
                objective = objective + (0.5 * self.r1_weight * self.r1_every) * r1
            scaled = base.gradient_loss(self.d_optimizer, objective, ops.shape(images)[0])
        base.apply_gradients(self.d_optimizer, tape, scaled, self.discriminator.trainable_variables)
        self._track_discriminator(d_loss, penalty, real_logits, fake_logits)
        if self.r1_weight:
            self.r1_penalty_tracker.update_state(r1, sample_weight=r1_applied)

    def generator_step(self, batch_size):
        """One generator update on `batch_size` fresh latents (phase 2 of `train_step`).

        Only the generator's variables change: the discriminator runs in training mode, as in phase 1,
        but its BatchNorm statistics are restored.
        """
        self._check_compiled()
        latents = self._latents(batch_size)
        with tf.GradientTape() as tape:
            fakes = self.generator(latents, training=True)
            fake_logits = _call_keeping_state(self.discriminator, self._discriminator_input(fakes, training=True))
            g_loss = self.adversarial_loss.generator(fake_logits)
            scaled = base.gradient_loss(self.g_optimizer, g_loss, batch_size)
        base.apply_gradients(self.g_optimizer, tape, scaled, self.generator.trainable_variables)
        self.g_loss_tracker.update_state(g_loss)

    def update_ema(self, batch_size=None):
        """Moves the EMA generator one step towards the generator (no-op without EMA).

        Args:
            batch_size: this step's (local) batch size; needed with `ema_halflife_images`, whose
                decay depends on the images per step (the global batch under a strategy).
        """
        if self.ema_generator is None:
            return
        if self.ema_halflife_images is None:
            decay = ema.effective_decay(self.ema_decay, self.ema_updates, self.ema_warmup)
        else:
            if batch_size is None:
                raise ValueError("update_ema(batch_size) needs the batch size with `ema_halflife_images`.")
            global_batch = ops.cast(batch_size, "float32") / base.local_share(batch_size)
            decay = ema.halflife_decay(global_batch, self.ema_updates, self.ema_halflife_images, self.ema_rampup)
        ema.update_average(self.ema_generator, self.generator, decay)
        self.ema_updates.assign_add(1)

    def reset_ema(self):
        """Restarts the EMA from the generator's current weights (e.g. after loading new weights)."""
        if self.ema_generator is not None:
            ema.copy_weights(self.ema_generator, self.generator)
            self.ema_updates.assign(0)
            self._standing_statistics_at = None

    def load_own_variables(self, store):
        # Loaded weights (a `.keras` file, `load_weights`, a resumed checkpoint) may carry the same
        # update count as the statistics last recomputed here: recompute them before the next draw.
        super().load_own_variables(store)
        self._standing_statistics_at = None

    def train_step(self, data):
        images = self._images(data, "GAN.fit")
        for _ in range(self.d_steps):
            self.discriminator_step(images)
        self.generator_step(ops.shape(images)[0])
        self.update_ema(ops.shape(images)[0])
        return base.metric_logs(self.metrics)

    def test_step(self, data):
        """The discriminator's loss and accuracy on held-out real images and fresh fakes."""
        images = self._images(data, "GAN.evaluate")
        fakes = self.generator(self._latents(ops.shape(images)[0]), training=False)
        d_loss, penalty, _, real_logits, fake_logits = self._discriminator_losses(
            images, fakes, training=False
        )
        self._track_discriminator(d_loss, penalty, real_logits, fake_logits)
        self.g_loss_tracker.update_state(self.adversarial_loss.generator(fake_logits))
        return base.metric_logs(self.metrics)

    def _check_compiled(self):
        if self.adversarial_loss is None:
            raise ValueError(
                "Call `gan.compile(d_optimizer=..., g_optimizer=..., loss=...)` before training."
            )

    # -- sampling ------------------------------------------------------------------------------

    def refresh_ema_statistics(self):
        """Recomputes the EMA generator's BatchNorm statistics for its own weights (see
        `ema_standing_statistics`) over `ema_standing_statistics` fixed latents; sampling does this by
        itself whenever training moved the average since the last time.

        Raises:
            ValueError: for a GAN without `ema_standing_statistics`.
        """
        if self.ema_standing_statistics is None:
            raise ValueError("This GAN was built with ema_standing_statistics=None: pass a number of "
                             "latents (e.g. 4096) to the constructor to recompute the EMA statistics.")
        latents = self.latent_grid(self.ema_standing_statistics, self.seed + STANDING_STATISTICS_SEED_OFFSET)
        ema.standing_statistics(self.ema_generator, latents, batch_size=SAMPLE_BATCH_SIZE)
        self._standing_statistics_at = int(ops.convert_to_numpy(self.ema_updates))

    def _sampling_network(self, use_ema):
        if use_ema is None:
            use_ema = self.ema_generator is not None
        if use_ema and self.ema_generator is None:
            raise ValueError("This GAN has no EMA generator (ema_decay=None); pass use_ema=False.")
        if use_ema and self.ema_standing_statistics is not None:
            if self._standing_statistics_at != int(ops.convert_to_numpy(self.ema_updates)):
                self.refresh_ema_statistics()
        return self.ema_generator if use_ema else self.generator

    def generate(self, latents, use_ema=None, batch_size=SAMPLE_BATCH_SIZE):
        """Images (numpy, float32, in `value_range`) drawn from given latents, in inference mode.

        Args:
            latents: array of shape `(count, latent_dim)`.
            use_ema: draw with the EMA generator (default when there is one) or the raw generator.
            batch_size: latents per forward pass.
        """
        latents = np.asarray(latents, dtype="float32")
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ValueError(
                f"`latents` must have shape (count, {self.latent_dim}), got {latents.shape}."
            )
        network = self._sampling_network(use_ema)
        batches = [
            np.asarray(network(latents[start : start + batch_size], training=False))
            for start in range(0, len(latents), batch_size)
        ]
        low, high = self.value_range
        # tanh/sigmoid outputs are in range; the clip only removes float rounding at the ends.
        return np.clip(np.concatenate(batches), low, high).astype("float32")

    def sample(self, count, seed=None, use_ema=None):
        """Draws `count` images from the N(0, I) latent prior.

        Args:
            count: number of images.
            seed: an int gives the fixed latents `self.latent_grid(count, seed)` (the same pictures on
                every device); None draws fresh latents from the model's sampling seed generator,
                which is separate from the training one, so sampling between epochs does not change
                the training noise.
            use_ema: see `generate`.

        Returns:
            A float32 numpy array `(count, *image_shape)` in `value_range`.
        """
        count = base.check_count(count)
        if seed is None:
            latents = ops.convert_to_numpy(
                standard_normal((count, self.latent_dim), "float32", self.sample_seed_generator)
            )
        else:
            latents = self.latent_grid(count, int(seed))
        return self.generate(latents, use_ema)

    # -- construction from other models ---------------------------------------------------------

    @classmethod
    def from_vae(cls, vae, discriminator=None, **overrides):
        """A GAN whose generator is a copy of `vae`'s decoder: same architecture, same weights.

        The output activation is switched to the one of the GAN's value range without changing what
        the network draws. For the usual sigmoid decoder (images in [0, 1]) and the default range
        (-1, 1): `2·sigmoid(a) − 1 = tanh(a / 2)`, so a tanh output with the last layer's kernel and
        bias halved draws exactly the decoder's images, mapped to [-1, 1]. (A tanh decoder going to
        (0, 1) gets them doubled: `(tanh(a) + 1) / 2 = sigmoid(2a)`.) The latent prior stays the VAE's
        N(0, I). The EMA generator starts from the copied weights.

        Args:
            vae: a `gencompare.models.VAE` (needs `decoder`, `decoder_spec`, `image_shape`,
                `latent_dim`).
            discriminator: discriminator spec; None gives `default_discriminator_spec`.
            **overrides: other constructor arguments (`value_range`, `seed`, `ema_decay`, ...).

        Raises:
            ValueError: if `overrides` tries to set the generator, image shape or latent size, or the
                decoder ends in neither a sigmoid nor a tanh.
        """
        fixed = sorted({"generator", "image_shape", "latent_dim"} & set(overrides))
        if fixed:
            raise ValueError(f"GAN.from_vae takes {fixed} from the VAE; do not pass them.")
        spec = base.plain_config(vae.decoder_spec)
        source_activation = spec.get("output_activation", "sigmoid")
        if source_activation not in OUTPUT_ACTIVATIONS.values():
            raise ValueError(
                f"GAN.from_vae needs a decoder ending in a sigmoid or a tanh (images in a bounded "
                f"range), got output_activation={source_activation!r}."
            )
        value_range = base.normalize_value_range(overrides.pop("value_range", (-1, 1)))
        spec["output_activation"] = OUTPUT_ACTIVATIONS[value_range]
        gan = cls(
            image_shape=vae.image_shape,
            latent_dim=vae.latent_dim,
            generator=spec,
            discriminator=discriminator,
            value_range=value_range,
            **overrides,
        )
        ema.check_same_architecture(gan.generator, vae.decoder)
        ema.copy_weights(gan.generator, vae.decoder)
        scale = OUTPUT_REMAPPING_SCALES.get((source_activation, spec["output_activation"]), 1.0)
        for weight in gan.generator.get_layer("to_image").weights:
            weight.assign(weight * scale)
        gan.reset_ema()
        return gan

    # -- serialization -------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=base.plain_config(self.generator_spec),
            discriminator=base.plain_config(self.discriminator_spec),
            ema_decay=self.ema_decay,
            ema_warmup=self.ema_warmup,
            ema_halflife_images=self.ema_halflife_images,
            ema_rampup=self.ema_rampup,
            ema_standing_statistics=self.ema_standing_statistics,
            augment=self.augment,
        )
        return config
