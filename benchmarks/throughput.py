"""Training throughput (images per second) of the model presets, on synthetic data.

Each case is one preset of one model kind: a compiled model and an endless dataset of one fixed
synthetic batch of the preset's image shape and value range, so the numbers measure the train step
and not JPEG decoding or disk reads. The harness runs untimed warm-up steps (tracing, XLA
compilation, allocator warm-up), then several timed windows of `--steps` steps each, and reports the
median over windows (robust to a busy neighbour stealing the CPU for one window).

    python benchmarks/throughput.py --model vae --preset mnist --steps 50 --warmup 10
    python benchmarks/throughput.py --model all --jit-compile on --json throughput.json

The `keras_io_mnist` VAE preset is the keras.io example's architecture, the baseline to compare the
`mnist` preset with. The `faces64` GAN preset is the keras.io 64×64 DCGAN (`faces64_small` is its
4× narrower CPU variant).

To add a model kind, register a `ModelKind` in `MODEL_KINDS` whose `build_case(preset, batch_size,
jit_compile, seed)` returns a `Case`.
"""

import argparse
import dataclasses
import json
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from gencompare.models.gan import GAN
from gencompare.models.vae import VAE

JIT_COMPILE_CHOICES = {"auto": "auto", "on": True, "off": False}


@dataclasses.dataclass
class Case:
    """One benchmark case: a compiled model and the batches it trains on."""

    model: keras.Model
    dataset: tf.data.Dataset
    batch_size: int


@dataclasses.dataclass(frozen=True)
class ModelKind:
    """A model family: its preset names and how to build a benchmark case for one preset."""

    preset_names: callable
    build_case: callable


def synthetic_dataset(image_shape, value_range, batch_size, seed):
    """An endless dataset repeating one uniform-random float32 batch in `value_range`."""
    low, high = value_range
    batch = np.random.default_rng(seed).uniform(low, high, (batch_size, *image_shape)).astype("float32")
    return tf.data.Dataset.from_tensors(batch).repeat()


def build_vae_case(preset_name, batch_size, jit_compile, seed):
    """A VAE preset compiled with its own optimizer settings, on synthetic data of its shape."""
    preset = VAE.preset(preset_name)
    batch_size = batch_size or preset.training["batch_size"]
    model = VAE.from_preset(preset_name, seed=seed)
    model.compile(
        optimizer=keras.optimizers.Adam(preset.training["learning_rate"], beta_1=preset.training["beta_1"]),
        jit_compile=jit_compile,
    )
    dataset = synthetic_dataset(model.image_shape, model.value_range, batch_size, seed)
    return Case(model, dataset, batch_size)


def build_gan_case(preset_name, batch_size, jit_compile, seed):
    """A GAN preset with two Adams and the loss of its training settings, on synthetic data.

    One step = one discriminator update (real + fake pass) + one generator update + the EMA update.
    `faces64` is the keras.io 64×64 DCGAN architecture.
    """
    training = GAN.preset(preset_name).training
    batch_size = batch_size or training["batch_size"]
    model = GAN.from_preset(preset_name, seed=seed)
    model.compile(
        d_optimizer=keras.optimizers.Adam(training["learning_rate"], beta_1=training["beta_1"]),
        g_optimizer=keras.optimizers.Adam(training["learning_rate"], beta_1=training["beta_1"]),
        loss=training["loss"],
        jit_compile=jit_compile,
    )
    dataset = synthetic_dataset(model.image_shape, model.value_range, batch_size, seed)
    return Case(model, dataset, batch_size)


MODEL_KINDS = {
    "vae": ModelKind(preset_names=VAE.preset_names, build_case=build_vae_case),
    "gan": ModelKind(preset_names=GAN.preset_names, build_case=build_gan_case),
}


class _EpochTimer(keras.callbacks.Callback):
    """Records the wall time of each epoch (Keras syncs with the device when an epoch ends)."""

    def __init__(self):
        super().__init__()
        self.durations = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.perf_counter() - self._start)


def time_training(case, steps, warmup, windows):
    """Trains `case.model` for `warmup` untimed steps, then `windows` timed windows of `steps` steps.

    Returns:
        A dict with `images_per_second` (median over windows), `window_images_per_second` (each
        window) and `warmup_seconds` (includes tracing and compilation).
    """
    warmup_timer, timer = _EpochTimer(), _EpochTimer()
    if warmup:
        case.model.fit(
            case.dataset, epochs=1, steps_per_epoch=warmup, callbacks=[warmup_timer], shuffle=False, verbose=0
        )
    case.model.fit(
        case.dataset, epochs=windows, steps_per_epoch=steps, callbacks=[timer], shuffle=False, verbose=0
    )
    rates = [steps * case.batch_size / seconds for seconds in timer.durations]
    return {
        "images_per_second": statistics.median(rates),
        "window_images_per_second": rates,
        "warmup_seconds": sum(warmup_timer.durations),
    }


def run_case(kind, preset_name, args):
    keras.utils.set_random_seed(args.seed)
    case = MODEL_KINDS[kind].build_case(
        preset_name, args.batch_size, JIT_COMPILE_CHOICES[args.jit_compile], args.seed
    )
    result = time_training(case, args.steps, args.warmup, args.windows)
    return {
        "model": kind,
        "preset": preset_name,
        "batch_size": case.batch_size,
        "jit_compile": args.jit_compile,
        "resolved_jit_compile": bool(case.model.jit_compile),
        "parameters": case.model.count_params(),
        **result,
    }


def selected_cases(model, preset):
    """(kind, preset) pairs for `--model` and `--preset`.

    Raises:
        ValueError: if `preset` is given but no selected kind has a preset of that name.
    """
    kinds = sorted(MODEL_KINDS) if model == "all" else [model]
    cases = [(kind, name) for kind in kinds for name in MODEL_KINDS[kind].preset_names()
             if preset is None or name == preset]
    if not cases:
        available = ", ".join(f"{kind}:{name}" for kind in kinds for name in MODEL_KINDS[kind].preset_names())
        raise ValueError(f"No preset named {preset!r} for --model {model}; available: {available}.")
    return cases


def format_table(results):
    lines = [
        "| model | preset | batch | jit_compile | parameters | images/s (median) | windows | warm-up s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        windows = ", ".join(f"{rate:.0f}" for rate in result["window_images_per_second"])
        lines.append(
            f"| {result['model']} | {result['preset']} | {result['batch_size']} | "
            f"{result['jit_compile']} ({result['resolved_jit_compile']}) | {result['parameters']:,} | "
            f"{result['images_per_second']:.1f} | {windows} | {result['warmup_seconds']:.1f} |"
        )
    return "\n".join(lines)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=[*sorted(MODEL_KINDS), "all"], default="all")
    parser.add_argument("--preset", default=None, help="one preset name (default: every preset)")
    parser.add_argument("--steps", type=_positive_int, default=20, help="train steps per timed window")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    parser.add_argument("--windows", type=_positive_int, default=5, help="timed windows (median reported)")
    parser.add_argument("--jit-compile", choices=sorted(JIT_COMPILE_CHOICES), default="auto")
    parser.add_argument("--batch-size", type=_positive_int, default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cases = selected_cases(args.model, args.preset)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results = []
    for kind, preset_name in cases:
        results.append(run_case(kind, preset_name, args))
        print(f"{kind}:{preset_name}: {results[-1]['images_per_second']:.1f} images/s", file=sys.stderr)
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
