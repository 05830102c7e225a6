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

**Defaults** (`"auto"`, what `train.run` and the command line use): `recommended_precision()` picks
`mixed_bfloat16` on CPUs with bfloat16 arithmetic (AVX-512 BF16 or AMX) and on GPUs of compute
capability 8.0 or newer, `mixed_float16` on GPUs of capability 7.x (tensor cores, loss scaling) and
`float32` elsewhere; `recommended_steps_per_execution()` runs `AUTO_STEPS_PER_EXECUTION` train steps per
compiled call on one replica (Keras 3.15 cannot run more than one under several replicas). The README
("Scale and speed") has the measurements behind these choices.
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
AUTO = "auto"
PRECISION_CHOICES = (AUTO, *PRECISIONS)
# Steps per compiled call under "auto": on the 2-core CPU of the README's measurements 8 steps per call
# gave 1.0-1.2x over one (the small MNIST VAE most, the 64x64 DCGAN nothing) and 32 no clear further
# gain; on GPUs it also saves the per-call launch overhead.
AUTO_STEPS_PER_EXECUTION = 8
# CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def check_strategy_name(name):
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    return name


def check_precision(name):
    """`name` if it is one of `PRECISION_CHOICES` (`"auto"` or a precision), else `ValueError`."""
    if name not in PRECISION_CHOICES:
        raise ValueError(f"Unknown precision {name!r}; choose one of {', '.join(PRECISION_CHOICES)}.")
    return name


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (from `/proc/cpuinfo` on Linux; empty elsewhere or when unreadable)."""
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError:
        return frozenset()
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return frozenset(flags)


def hardware_line(path="/proc/cpuinfo"):
    """One line naming the CPU, its core count and any GPU (for reports)."""
    import platform

    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open(path) as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
    except OSError:
        names = []
    cpu = names[0] if names else cpu
    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    return f"{cpu}, {os.cpu_count()} cores, {'GPU: ' + ', '.join(gpus) if gpus else 'no GPU'}"


def gpu_compute_capabilities():
    """`(major, minor)` compute capability of every visible GPU (`None` where TensorFlow does not say)."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        capabilities.append(tuple(capability) if capability else None)
    return capabilities


def recommended_precision(gpus=None, flags=None):
    """The precision `"auto"` stands for on this machine (see the module docstring).

    Args:
        gpus: compute capabilities of the GPUs (default: `gpu_compute_capabilities()`); with GPUs,
            the oldest one decides, since every replica runs the same policy.
        flags: CPU feature flags (default: `cpu_flags()`), used when there is no GPU.
    """
    gpus = gpu_compute_capabilities() if gpus is None else list(gpus)
    if gpus:
        if any(capability is None for capability in gpus):
            return "float32"
        oldest = min(gpus)
        if oldest >= (8, 0):
            return "mixed_bfloat16"
        if oldest >= (7, 0):
            return "mixed_float16"
        return "float32"
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if any(flag in flags for flag in BFLOAT16_CPU_FLAGS) else "float32"


def resolve_precision(name):
    """The precision to use for the setting `name`: `recommended_precision()` for `"auto"`."""
    check_precision(name)
    return recommended_precision() if name == AUTO else name


def check_steps_per_execution(value):
    """`value` if it is `"auto"` or a positive integer, else `ValueError`."""
    if value == AUTO:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`steps_per_execution` must be 'auto' or a positive integer, got {value!r}.")
    return value


def recommended_steps_per_execution(replicas=1):
    """What `"auto"` steps per execution stands for: `AUTO_STEPS_PER_EXECUTION` on one replica, else 1."""
    return AUTO_STEPS_PER_EXECUTION if replicas == 1 else 1


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


def is_chief(tf_config=None):
    """Whether this process writes a multi-worker run's folder: the `chief` task, else worker 0 of a
    cluster without one (TensorFlow's multi-worker convention). True without `TF_CONFIG`."""
    config = tf_config if tf_config is not None else _tf_config()
    if config is None:
        return True
    task = config["task"]
    if task.get("type") == "chief":
        return True
    return "chief" not in config["cluster"] and task.get("type") == "worker" and int(task.get("index", 0)) == 0


def load_tensorflow_quietly():
    """Loads TensorFlow and probes its devices with its C++ start-up lines held back.

    Importing TensorFlow prints absl and CUDA-probing lines on stderr (on CPU-only machines a
    `cuInit` error) that `TF_CPP_MIN_LOG_LEVEL` does not silence. They are captured while TensorFlow
    loads and replayed if loading fails, so nothing that explains a failure is lost. Call it before
    the first use of TensorFlow; later messages (a run's own warnings) are not touched.
    """
    import sys
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (a notebook kernel's stream)
        return
    sys.stderr.flush()
    saved = os.dup(descriptor)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), descriptor)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, descriptor)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, descriptor)
            os.close(saved)


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


def set_precision(name):
    """Sets Keras' global dtype policy to `name` (see `PRECISION_CHOICES`); returns the policy.

    Models take the policy in force when they are **built**, so call this first. `"auto"` sets
    `recommended_precision()`.
    """
    import keras
    import tensorflow as tf

    name = resolve_precision(name)
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
