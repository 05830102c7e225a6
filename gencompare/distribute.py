"""Strategies and precisions: how a run spreads over devices and machines, and in which float type.

    from gencompare import distribute

    strategy = distribute.make_strategy("mirrored")          # every local GPU
    with distribute.precision("mixed_bfloat16"), strategy.scope():
        model = VAE.from_preset("celeba")
        model.compile(optimizer="adam")
    model.fit(dataset_with_the_global_batch_size, epochs=10)

**Strategies** (`STRATEGIES`):

* `"default"` — TensorFlow's default strategy: one device (the first GPU if there is one, else the CPU).
* `"mirrored"` — `tf.distribute.MirroredStrategy`: one replica per local GPU (or per listed device),
  weights mirrored, gradients all-reduced. The dataset's batch is the **global** batch; each replica
  trains on `batch / replicas` examples.
* `"multiworker"` — `tf.distribute.MultiWorkerMirroredStrategy`: the same over several machines
  (processes), each described by the `TF_CONFIG` environment variable. Every worker runs the same
  program with the same seeds; tf.data auto-shards the input so that worker `i` gets its part of every
  global batch.

Inside the models' train steps (see `gencompare.models.base`) losses are reduced by the global batch
size, every replica draws its own rows of the global batch's noise, BatchNorm statistics are
synchronized, and loss-scale decisions are agreed between replicas, so a step on N replicas gives the
weights and the reported losses of one step on one device (`tests/test_distribute.py` checks this).

**Precisions** (`PRECISIONS`) are Keras dtype policies: `"float32"`, `"mixed_bfloat16"` (bfloat16
compute, float32 weights; no loss scaling needed) and `"mixed_float16"` (float16 compute with dynamic
loss scaling: Keras wraps a VAE's optimizer, the GAN wraps both of its own). Image outputs, logits, the
VAE's `z_mean`/`z_log_var` heads and every loss stay float32.
"""

import contextlib
import json
import logging
import os

# TensorFlow and Keras are imported inside the functions: the command line reads STRATEGIES and
# PRECISIONS for `--help` without starting TensorFlow.

logger = logging.getLogger(__name__)

STRATEGIES = ("default", "mirrored", "multiworker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def check_strategy_name(name):
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    return name


def check_precision(name):
    if name not in PRECISIONS:
        raise ValueError(f"Unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}.")
    return name


def _tf_config():
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(
            'TF_CONFIG must look like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            f'"task": {{"type": "worker", "index": 0}}}}, got {text!r}.'
        )
    return config


def make_strategy(name="default", devices=None):
    """The `tf.distribute.Strategy` called `name` (see `STRATEGIES`).

    Args:
        name: `"default"`, `"mirrored"` or `"multiworker"`.
        devices: for `"mirrored"`, the devices to mirror over (default: every local GPU, else the CPU).

    Raises:
        ValueError: for an unknown name, `devices` with another strategy, or `"multiworker"` with a
            malformed `TF_CONFIG`.

    `"multiworker"` must be created before TensorFlow runs any op (at the start of the program) and
    blocks until every worker listed in `TF_CONFIG` has started. Without `TF_CONFIG` it runs as a
    single worker (useful to try a multi-worker script on one machine). Strategies are created once
    per process and reused.
    """
    import tensorflow as tf

    check_strategy_name(name)
    if devices is not None and name != "mirrored":
        raise ValueError("`devices` applies to the 'mirrored' strategy only.")
    if name == "default":
        return tf.distribute.get_strategy()
    key = (name, None if devices is None else tuple(devices))
    if key not in _STRATEGIES:
        _STRATEGIES[key] = _new_strategy(name, devices)
    return _STRATEGIES[key]


# One strategy per kind and process: TensorFlow allows a single MultiWorkerMirroredStrategy per
# process, and a vae-gan run's two phases must share it.
_STRATEGIES = {}


def _new_strategy(name, devices):
    import tensorflow as tf

    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices)
        if strategy.num_replicas_in_sync == 1:
            logger.warning(
                "MirroredStrategy found one device (%s): it trains like the default strategy, with "
                "extra overhead. It pays off with several GPUs.", strategy.extended.worker_devices,
            )
        return strategy
    config = _tf_config()
    if config is None:
        logger.warning("TF_CONFIG is not set: MultiWorkerMirroredStrategy runs as a single worker.")
    return tf.distribute.MultiWorkerMirroredStrategy()


def num_replicas(strategy=None):
    """Replicas in sync under `strategy` (default: the current one)."""
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    return strategy.num_replicas_in_sync


def is_chief(strategy=None):
    """Whether this process should write run folders, checkpoints and figures.

    Under `MultiWorkerMirroredStrategy` every worker computes the same weights; only the chief (the
    `chief` task, else worker 0) writes to the shared run folder. Other strategies have one process.
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "worker" and task_id == 0 and not has_chief


def global_batch_size(per_replica_batch_size, strategy=None):
    """The dataset batch size that gives each replica `per_replica_batch_size` examples."""
    return int(per_replica_batch_size) * num_replicas(strategy)


def set_precision(name):
    """Sets Keras' global dtype policy to `name` (see `PRECISIONS`); returns the policy.

    Models take the policy in force when they are **built**, so call this first.
    """
    import keras
    import tensorflow as tf

    check_precision(name)
    if name == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
        logger.warning(
            "mixed_float16 on a CPU: most CPUs have no fast float16 arithmetic (it is emulated and "
            "slower than float32). Use mixed_bfloat16 on CPUs with AVX-512 BF16 / AMX."
        )
    keras.config.set_dtype_policy(name)
    return keras.config.dtype_policy()


@contextlib.contextmanager
def precision(name):
    """Context manager: the global dtype policy is `name` inside, the previous one after."""
    import keras

    previous = keras.config.dtype_policy()
    set_precision(name)
    try:
        yield keras.config.dtype_policy()
    finally:
        keras.config.set_dtype_policy(previous)


def uses_loss_scaling(policy=None):
    """Whether models built under `policy` (default: the global one) need loss scaling (float16)."""
    import keras

    policy = keras.dtype_policies.get(policy) if policy is not None else keras.config.dtype_policy()
    return policy.compute_dtype == "float16"
