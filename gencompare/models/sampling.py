"""The reparameterisation trick as a Keras layer."""

import math

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="gencompare")
class Sampling(keras.layers.Layer):
    """Draws `z = z_mean + exp(z_log_var / 2) * epsilon` with `epsilon ~ N(0, I)`.

    `epsilon` comes from `batch_normal`: under a `tf.distribute` strategy each replica gets its own
    rows of the noise one device would draw for the whole global batch.

    The noise comes from a `keras.random.SeedGenerator`, so every call inside a compiled train step
    draws new noise while the whole run stays reproducible from one seed. A model usually owns that
    generator (its state is then saved with the model) and passes it at call time; a layer built with
    its own `seed` uses its own generator when none is passed.

    Args:
        seed: optional integer seed of the layer's own generator.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        z_mean: posterior means, shape `(batch, latent_dim)`.
        z_log_var: posterior log-variances, same shape.
        seed_generator: the `keras.random.SeedGenerator` to draw from (defaults to the layer's own).

    Returns:
        Latent samples of the shape and dtype of `z_mean`.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = None if seed is None else keras.random.SeedGenerator(seed)

    def call(self, z_mean, z_log_var, seed_generator=None):
        seed_generator = seed_generator or self.seed_generator
        if seed_generator is None:
            raise ValueError(
                "Sampling needs a random source: build it with `Sampling(seed=...)` or pass "
                "`seed_generator=` when calling it."
            )
        epsilon = batch_normal(ops.shape(z_mean), z_mean.dtype, seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, z_mean_shape, z_log_var_shape=None):
        return z_mean_shape

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed)
        return config


def standard_normal(shape, dtype, seed_generator):
    """Standard-normal noise drawn from `seed_generator`, identical with and without XLA.

    `keras.random.normal` (TensorFlow's stateless ops) gives different numbers for the same seed
    under XLA: XLA turns the random bits into floats its own way. So only the raw Philox bits, which
    both agree on, come from TensorFlow; the Box-Muller transform here turns them into normals. Same
    seed, same training run, whatever `jit_compile` says.
    """
    seed = seed_generator.next()
    # The generator's state is int64, but stateless ops want int32 seeds under XLA (as in Keras).
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
    bits = tf.random.stateless_uniform(
        tf.concat([[2], tf.cast(shape, tf.int32)], axis=0), seed=seed, minval=None, maxval=None,
        dtype=tf.uint32, alg="philox",
    )
    # The top 24 bits give floats exactly representable in float32, in (0, 1) so the log is finite.
    uniform = (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) * 2.0**-24
    radius = tf.sqrt(-2.0 * tf.math.log(uniform[0]))
    return tf.cast(radius * tf.cos(2.0 * math.pi * uniform[1]), dtype)


def batch_normal(shape, dtype, seed_generator):
    """Per-example standard-normal noise (`shape[0]` is the batch): this replica's share of it.

    Without a strategy (or with one replica) this is `standard_normal(shape, ...)`. Under a
    `tf.distribute` strategy the seed generator's state is mirrored, so `standard_normal` would give
    every replica the *same* noise. Instead every replica draws the noise one device would draw for the
    **global** batch and keeps its own rows: replica `r` holds examples `offset_r ... offset_r + n_r`
    of the global batch (that is how `tf.distribute` splits a batch), so it takes those rows. A step
    on N replicas then sees exactly the noise of a single-device step on the global batch. Latent and
    ε tensors are small; drawing N times as many numbers costs nothing measurable.

    With a static batch size every replica holds the same number of examples (tf.distribute splits a
    static global batch evenly), so no communication is needed; with a dynamic one (a last partial
    batch) the replicas all-gather their batch sizes to find their offsets.
    """
    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    if replicas == 1:
        return standard_normal(shape, dtype, seed_generator)
    static_local = None if tf.is_tensor(shape) else tf.get_static_value(shape[0])
    shape = tf.cast(tf.stack(shape) if isinstance(shape, (tuple, list)) else shape, tf.int32)
    local = shape[0]
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    if static_local is not None:
        offset, total = replica * static_local, static_local * replicas
    else:
        sizes = context.all_gather(tf.reshape(local, (1,)), axis=0)
        offset = tf.reduce_sum(sizes[:replica])
        total = tf.reduce_sum(sizes)
    noise = standard_normal(tf.concat([[total], shape[1:]], axis=0), dtype, seed_generator)
    return noise[offset : offset + local]
