"""Subprocess worker for `tests/test_distribute.py`: trains tiny models under `tf.distribute` strategies.

Logical devices and `TF_CONFIG` must be set before TensorFlow initialises, so these runs cannot share
the pytest process. Each mode writes an `.npz` file that the test reads and checks.

    python tests/distributed_worker.py mirrored OUT.npz      # 2 logical CPUs: strategy vs one device
    python tests/distributed_worker.py multiworker OUT.npz   # one worker; the caller sets TF_CONFIG
    python tests/distributed_worker.py run OUT_DIR           # train.run(strategy="mirrored", ...)
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGE_SHAPE = (8, 8, 1)
GLOBAL_BATCH = 8
STEPS = 2
TINY_VAE = {
    "image_shape": IMAGE_SHAPE,
    "latent_dim": 3,
    "encoder": {"filters": [4, 8], "kernel_size": 3, "strides": 2, "dense_units": 8},
    "decoder": {"base_shape": [2, 2, 8], "filters": [4], "strides": 2, "output_strides": 2},
    "reconstruction_loss": "mse",
}
TINY_GAN = {
    "image_shape": IMAGE_SHAPE,
    "latent_dim": 5,
    "generator": {
        "base_shape": [2, 2, 8], "filters": [4], "kernel_size": 3, "strides": 2, "batch_norm": True,
        "output_layer": "conv_transpose", "output_strides": 2,
    },
    # No Dropout: Keras' Dropout masks are drawn per replica (identical on every replica), so they
    # cannot match a single device's global-batch mask. Everything else is exact.
    "discriminator": {"filters": [4, 8], "kernel_size": 3, "strides": 2, "activation": "leaky_relu"},
    "ema_decay": 0.9,
}


def configure_logical_cpus(count):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def batches(value_range, seed=0):
    import numpy as np

    low, high = value_range
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, (STEPS, GLOBAL_BATCH, *IMAGE_SHAPE)).astype("float32")


def build(case):
    """A compiled model for `case` (call it inside the strategy scope under test)."""
    import keras

    from gencompare.models.gan import GAN
    from gencompare.models.vae import VAE

    if case == "vae":
        model = VAE(**TINY_VAE)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    elif case == "vae_batch_norm":
        model = VAE(**{
            **TINY_VAE,
            "encoder": {**TINY_VAE["encoder"], "batch_norm": True},
            "decoder": {**TINY_VAE["decoder"], "batch_norm": "sync"},
        })
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    elif case == "gan_bce":
        model = GAN(**TINY_GAN)
        model.compile(
            d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
            loss="bce", label_smoothing=0.1, instance_noise=0.1,
        )
    elif case == "gan_wgan_gp":
        model = GAN(**TINY_GAN)
        model.compile(
            d_optimizer=keras.optimizers.SGD(0.01), g_optimizer=keras.optimizers.SGD(0.01),
            loss="wgan-gp", d_steps=2,
        )
    elif case == "gan_augment_r1":
        # DiffAugment's per-image draws, lazy R1 (applied on the first step, skipped on the second),
        # spectral norm (kernel and power-iteration vector assigned in the step) and the half-life
        # EMA (which needs the global batch) must match one device too.
        model = GAN(**{
            **TINY_GAN,
            "discriminator": {**TINY_GAN["discriminator"], "spectral_norm": True},
            "augment": "color,translation,cutout",
            "ema_halflife_images": 16,
            "ema_rampup": 0.5,
        })
        model.compile(
            d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05),
            loss="bce", r1_weight=1.0, r1_every=2,
        )
    else:
        raise ValueError(case)
    return model


def train(model, data, steps=STEPS):
    """Fits `model` for `steps` steps on the global batches `data`; returns the epoch's logs."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(data)
    history = model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return {name: float(values[-1]) for name, values in history.history.items()}


def states(model):
    """Counters that must advance once per step, whatever the number of replicas."""
    result = {"seed_state": [int(value) for value in model.seed_generator.state.numpy()]}
    if hasattr(model, "ema_updates"):
        result["ema_updates"] = int(model.ema_updates.numpy())
        result["d_iterations"] = int(model.d_optimizer.iterations.numpy())
        result["g_iterations"] = int(model.g_optimizer.iterations.numpy())
    else:
        result["iterations"] = int(model.optimizer.iterations.numpy())
    return result


def run_mirrored(out):
    """Each case: one device vs MirroredStrategy on 2 logical CPUs, same start, same global batches."""
    configure_logical_cpus(2)
    import keras
    import numpy as np
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    arrays, report = {}, {"replicas": strategy.num_replicas_in_sync}
    for case in ("vae", "vae_batch_norm", "gan_bce", "gan_wgan_gp", "gan_augment_r1"):
        keras.utils.set_random_seed(1)
        single = build(case)
        initial = single.get_weights()
        data = batches(single.value_range)
        with strategy.scope():
            mirrored = build(case)
            mirrored.set_weights(initial)
        report[case] = {
            "single": {"logs": train(single, data), **states(single)},
            "mirrored": {"logs": train(mirrored, data), **states(mirrored)},
            "batch_norm_synchronized": sorted(
                f"{layer.name}={layer.synchronized}" for layer in mirrored._flatten_layers()
                if isinstance(layer, keras.layers.BatchNormalization)
            ),
        }
        for run, weights in (("initial", initial), ("single", single.get_weights()),
                             ("mirrored", mirrored.get_weights())):
            for index, weight in enumerate(weights):
                arrays[f"{case}/{run}/{index}"] = weight

    report["loss_scale_disagreement"] = loss_scale_disagreement(strategy, arrays)
    arrays.update(replica_noise(strategy))
    np.savez(out, report=json.dumps(report), **arrays)


def replica_noise(strategy):
    """Noise drawn per replica with `batch_normal` next to one device's draw for the global batch.

    Two cases: even static per-replica batches (4 + 4 of 8) and uneven dynamic ones (3 + 2 of 5, as
    in a last partial batch; offsets found by all-gathering the batch sizes).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from gencompare.models.sampling import batch_normal, standard_normal

    arrays = {}
    for name, sizes in (("even", (4, 4)), ("uneven", (3, 2))):
        single = standard_normal((sum(sizes), 3), "float32", keras.random.SeedGenerator(5))
        with strategy.scope():
            generator = keras.random.SeedGenerator(5)
        examples = strategy.experimental_distribute_values_from_function(
            lambda context: tf.zeros((sizes[context.replica_id_in_sync_group], 3))
        )
        static = name == "even"

        def draw(x):
            if not static:
                # boolean_mask hides the batch size from the tracer: a dynamic batch dimension.
                x = tf.boolean_mask(x, x[:, 0] == 0.0)
                assert x.shape[0] is None
            return batch_normal(tuple(x.shape) if static else tf.shape(x), "float32", generator)

        @tf.function
        def step(x):
            return strategy.run(draw, args=(x,))

        local = strategy.experimental_local_results(step(examples))
        arrays[f"noise/{name}/single"] = np.asarray(single)
        for replica, values in enumerate(local):
            arrays[f"noise/{name}/replica{replica}"] = np.asarray(values)
        arrays[f"noise/{name}/state"] = np.asarray(generator.state.numpy())
    return arrays


def loss_scale_disagreement(strategy, arrays):
    """mixed_float16 VAE on 2 replicas where only replica 1's half of the batch overflows at 2^15.

    Without agreement, Keras' LossScaleOptimizer would look at replica 0's (finite) gradients, apply
    the step, and sum replica 1's infinities into the weights. The step must be skipped everywhere.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    keras.config.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(2)
        with strategy.scope():
            model = build("vae")
        before = model.get_weights()
        scale_before = float(model.optimizer.initial_scale)
        data = batches((0, 1), seed=3)[:1]
        # Replica 1 gets examples 4..7: values of 1000 make its scaled float16 gradients overflow.
        data[:, GLOBAL_BATCH // 2 :] = 1000.0
        # keras.Model.fit skips GenerativeModel.fit's value-range check (these images are out of range
        # on purpose); Keras still splits the global batch across the replicas.
        keras.Model.fit(model, tf.data.Dataset.from_tensor_slices(data), epochs=1, steps_per_epoch=1, verbose=0)
        after = model.get_weights()
        for index, weight in enumerate(after):
            arrays[f"overflow/before/{index}"] = before[index]
            arrays[f"overflow/after/{index}"] = weight
        return {
            "compute_dtype": model.decoder.get_layer("to_image").compute_dtype,
            "optimizer": type(model.optimizer).__name__,
            "scale_before": scale_before,
            "scale_after": float(model.optimizer.dynamic_scale.numpy()),
            "iterations": int(model.optimizer.iterations.numpy()),
            "all_finite": bool(all(np.all(np.isfinite(weight)) for weight in after)),
        }
    finally:
        keras.config.set_dtype_policy("float32")


def run_multiworker(out):
    """One worker of a MultiWorkerMirroredStrategy run (TF_CONFIG from the caller): a few VAE steps.

    The data goes through `gencompare.data.to_dataset` (the real input pipeline, with its
    `numpy_function` gather) so that the dataset's auto-sharding is exercised too.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from gencompare.data import to_dataset

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    keras.utils.set_random_seed(1)
    images = np.random.default_rng(0).integers(0, 256, (64, *IMAGE_SHAPE), dtype="uint8")
    with strategy.scope():
        model = build("vae")
    initial = model.get_weights()
    dataset = to_dataset(images, GLOBAL_BATCH, value_range=(0, 1), seed=0)
    # What this worker's replica sees of the first two global batches (auto-sharded by tf.distribute).
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    seen = [np.concatenate(strategy.experimental_local_results(next(iterator))) for _ in range(2)]
    # The same pipeline without a strategy (same global seed, hence the same shuffle): the global batches.
    expected = [np.asarray(batch) for batch in to_dataset(images, GLOBAL_BATCH, value_range=(0, 1), seed=0).take(2)]
    history = model.fit(dataset, epochs=2, steps_per_epoch=3, verbose=0)
    report = {
        "task": task,
        "replicas": strategy.num_replicas_in_sync,
        "logs": {name: [float(value) for value in values] for name, values in history.history.items()},
        **states(model),
    }
    arrays = {f"initial/{index}": weight for index, weight in enumerate(initial)}
    arrays.update({f"seen/{index}": batch for index, batch in enumerate(seen)})
    arrays.update({f"expected/{index}": batch for index, batch in enumerate(expected)})
    arrays.update({f"final/{index}": weight for index, weight in enumerate(model.get_weights())})
    np.savez(out, report=json.dumps(report), **arrays)


def run_training(out):
    """`train.run` of a GAN and a VAE with strategy="mirrored" on 2 logical CPUs and mixed_bfloat16.

    `out` is a folder: the run folders go under it, and `result.json` says what the runs reported.
    """
    configure_logical_cpus(2)
    from gencompare import train

    results = {}
    # The GAN is the quick profile's `mnist_fast`: the TensorFlow tutorial's `mnist` preset trains ~10×
    # slower here (bfloat16 is emulated on CPUs without avx512_bf16) and tests nothing more.
    for model, preset in (("gan", "mnist_fast"), ("vae", "mnist")):
        result = train.run(
            model, preset, out=os.path.join(out, "runs"), verbose=0, print_fn=lambda *_: None,
            dataset="mnist", limit=256, epochs=2, batch_size=64, seed=3, strategy="mirrored",
            precision="mixed_bfloat16", steps_per_execution=2, sample_every=1, checkpoint_every=1,
        )
        results[model] = {
            "run_dir": str(result.run_dir),
            "history": result.history,
            "replicas": result.model.distribute_strategy.num_replicas_in_sync,
            "compute_dtype": result.model.dtype_policy.compute_dtype,
        }
    with open(os.path.join(out, "result.json"), "w") as handle:
        json.dump(results, handle, default=str)


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    {"mirrored": run_mirrored, "multiworker": run_multiworker, "run": run_training}[mode](out)
