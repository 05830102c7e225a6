"""Training throughput of the model presets: images/s, FLOPs, fraction of the machine's peak, pipeline.

Each case is one preset of one model kind under one setting (jit_compile, precision,
steps_per_execution, batch size): a compiled model and an endless dataset of one fixed synthetic batch
of the preset's image shape and value range, so the numbers measure the train step and not JPEG
decoding or disk reads. The harness runs untimed warm-up steps (tracing, XLA compilation, allocator
warm-up), then several timed windows of `--steps` steps each, and reports the median over windows
(robust to a busy neighbour stealing the CPU for one window).

Next to images/s it reports:

* **training GFLOP per image**, counted analytically from the built networks (multiply-adds of every
  Conv2D, Conv2DTranspose and Dense layer, × 2 FLOPs; see `training_flops_per_image` for what one
  train step runs), and the **achieved GFLOP/s**;
* the **fraction of this machine's peak**: the script first times a large float32 and a bfloat16
  matmul (`measure_peak`); float32 runs are compared with the float32 peak, mixed-precision runs
  with both;
* **images per CPU-second** of this process (user + system time): on a busy machine the wall-clock
  rate drops with the load while this one mostly does not, so it helps compare settings there (on a
  quiet machine with all cores busy it is about images/s ÷ cores);
* the **input pipeline's images/s** (`gencompare.data.to_dataset` on a uint8 array of the same shape
  and batch size), side by side, and its ratio to training (it should be ≥ 10×).

    python benchmarks/throughput.py --model vae --preset keras_io_mnist --settings baseline,recommended
    python benchmarks/throughput.py --model gan --preset faces64 --steps 4 --windows 3 --warmup 2
    python benchmarks/throughput.py --model vae --preset mnist --jit-compile off,on \
        --precision float32,mixed_bfloat16 --steps-per-execution 1,8 --batch-size 128,512

Settings: `--settings` names rows (`baseline`: float32, no XLA, one step per execution, the preset's
batch; `recommended`: the defaults `train.run` resolves "auto" to on this machine, see
`gencompare.distribute.recommended_precision`), or the option lists span a grid. The first setting of
each preset is the reference of the `speedup` column.

The `keras_io_mnist` VAE preset is the keras.io example's architecture, the baseline to compare the
`mnist` preset with. The `faces64` GAN preset is the keras.io 64×64 DCGAN (`faces64_small` is its
4× narrower CPU variant).

To add a model kind, register a `ModelKind` in `MODEL_KINDS` whose `build_case(preset, batch_size,
jit_compile, seed, precision=..., steps_per_execution=...)` returns a `Case`, and whose
`flops_per_image(model)` counts one train step.
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from gencompare import distribute
from gencompare.models.gan import GAN
from gencompare.models.vae import VAE

JIT_COMPILE_CHOICES = {"auto": "auto", "on": True, "off": False}
PRECISIONS = distribute.PRECISIONS


@dataclasses.dataclass(frozen=True)
class Setting:
    """How a case is compiled and fed. `batch_size=None` means the preset's batch size."""

    jit_compile: str = "off"
    precision: str = "float32"
    steps_per_execution: int = 1
    batch_size: int | None = None

    def label(self):
        batch = "preset" if self.batch_size is None else self.batch_size
        return f"jit={self.jit_compile} {self.precision} spe={self.steps_per_execution} batch={batch}"


# The reference setting: what a keras.io example does (float32, no XLA, one step per call).
BASELINE = Setting()


def device_kind():
    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def recommended_setting():
    """What a run uses by default on this machine: `train.run`'s "auto" settings, resolved, at the
    preset's batch size (a larger batch changes the training, so it is the user's choice, not a speed
    setting)."""
    return Setting(
        jit_compile="auto",
        precision=distribute.recommended_precision(),
        steps_per_execution=distribute.recommended_steps_per_execution(),
    )


@dataclasses.dataclass
class Case:
    """One benchmark case: a compiled model and the batches it trains on."""

    model: keras.Model
    dataset: tf.data.Dataset
    batch_size: int


@dataclasses.dataclass(frozen=True)
class ModelKind:
    """A model family: its preset names, how to build a case, and the FLOPs of one train step."""

    preset_names: callable
    build_case: callable
    flops_per_image: callable = None


def synthetic_dataset(image_shape, value_range, batch_size, seed):
    """An endless dataset repeating one uniform-random float32 batch in `value_range`."""
    low, high = value_range
    batch = np.random.default_rng(seed).uniform(low, high, (batch_size, *image_shape)).astype("float32")
    return tf.data.Dataset.from_tensors(batch).repeat()


def build_vae_case(preset_name, batch_size, jit_compile, seed, precision="float32", steps_per_execution=1):
    """A VAE preset compiled with its own optimizer settings, on synthetic data of its shape."""
    preset = VAE.preset(preset_name)
    batch_size = batch_size or preset.training["batch_size"]
    with distribute.precision(precision):
        model = VAE.from_preset(preset_name, seed=seed)
        model.compile(
            optimizer=keras.optimizers.Adam(preset.training["learning_rate"], beta_1=preset.training["beta_1"]),
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )
    dataset = synthetic_dataset(model.image_shape, model.value_range, batch_size, seed)
    return Case(model, dataset, batch_size)


def build_gan_case(preset_name, batch_size, jit_compile, seed, precision="float32", steps_per_execution=1):
    """A GAN preset with two Adams and the loss of its training settings, on synthetic data.

    One step = one discriminator update (real + fake pass) + one generator update + the EMA update.
    `faces64` is the keras.io 64×64 DCGAN architecture.
    """
    training = GAN.preset(preset_name).training
    batch_size = batch_size or training["batch_size"]
    with distribute.precision(precision):
        model = GAN.from_preset(preset_name, seed=seed)
        model.compile(
            d_optimizer=keras.optimizers.Adam(training["learning_rate"], beta_1=training["beta_1"]),
            g_optimizer=keras.optimizers.Adam(training["learning_rate"], beta_1=training["beta_1"]),
            loss=training["loss"],
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )
    dataset = synthetic_dataset(model.image_shape, model.value_range, batch_size, seed)
    return Case(model, dataset, batch_size)


# ----------------------------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------------------------

def _shape(tensor):
    return tuple(int(d) for d in tensor.shape[1:])


def layer_macs(layer):
    """Multiply-adds of one forward pass of `layer` for one example (0 for layers without a matmul).

    Conv2D: `out_h·out_w·k_h·k_w·(c_in/groups)·c_out`. Conv2DTranspose: every *input* pixel scatters a
    `k_h·k_w·c_out` patch: `in_h·in_w·k_h·k_w·c_in·c_out`. Dense: `positions·in·out`. Biases,
    activations, BatchNorm and the optimizer update are O(activations) and left out.
    """
    if isinstance(layer, keras.layers.Conv2DTranspose):
        in_h, in_w, c_in = _shape(layer.input)
        k_h, k_w = layer.kernel_size
        return in_h * in_w * k_h * k_w * c_in * layer.filters
    if isinstance(layer, keras.layers.Conv2D):
        out_h, out_w, c_out = _shape(layer.output)
        k_h, k_w = layer.kernel_size
        c_in = _shape(layer.input)[-1]
        return out_h * out_w * k_h * k_w * (c_in // layer.groups) * c_out
    if isinstance(layer, keras.layers.Dense):
        input_shape = _shape(layer.input)
        return int(np.prod(input_shape[:-1], dtype=np.int64)) * input_shape[-1] * layer.units
    return 0


def forward_flops(network):
    """FLOPs (2 per multiply-add) of one forward pass of `network` for one example."""
    return 2 * sum(
        layer_macs(layer) for layer in network._flatten_layers(include_self=False, recursive=True)
        if not isinstance(layer, keras.Model)
    )


def vae_flops_per_image(model):
    """One VAE train step: encoder and decoder forward and backward, ≈ 3 × forward."""
    return 3 * (forward_flops(model.encoder) + forward_flops(model.decoder))


def gan_flops_per_image(model):
    """What one GAN `train_step` runs, per image of the batch.

    Per discriminator step (`d_steps` of them): G forward for the fakes (1·G), D forward and backward
    on the real batch and on the fake batch (3·D each). Generator step: G forward and backward (3·G),
    D forward and backward to its input but not to its weights (2·D).
    """
    g, d = forward_flops(model.generator), forward_flops(model.discriminator)
    return model.d_steps * (g + 6 * d) + 3 * g + 2 * d


MODEL_KINDS = {
    "vae": ModelKind(preset_names=VAE.preset_names, build_case=build_vae_case, flops_per_image=vae_flops_per_image),
    "gan": ModelKind(preset_names=GAN.preset_names, build_case=build_gan_case, flops_per_image=gan_flops_per_image),
}


# ----------------------------------------------------------------------------------------------
# Peak and pipeline
# ----------------------------------------------------------------------------------------------

def measure_peak(dtype="float32", size=2048, repeats=8, windows=5):
    """Median GFLOP/s of `size`×`size` matmuls in `dtype` (`repeats` chained per call)."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size)) / np.sqrt(size), dtype=dtype)
    b = tf.constant(rng.standard_normal((size, size)) / np.sqrt(size), dtype=dtype)

    @tf.function
    def chain(x):
        for _ in range(repeats):
            x = tf.matmul(x, b)
        return tf.reduce_sum(tf.cast(x[:1, :1], tf.float32))

    chain(a).numpy()
    rates = []
    for _ in range(windows):
        start = time.perf_counter()
        chain(a).numpy()
        rates.append(2.0 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def pipeline_images_per_second(image_shape, value_range, batch_size, batches=50, windows=3, seed=0):
    """Median images/s of `gencompare.data.to_dataset` on a random uint8 array of `image_shape`."""
    from gencompare.data import to_dataset

    count = max(8 * batch_size, 2048)
    images = np.random.default_rng(seed).integers(0, 256, (count, *image_shape), dtype=np.uint8)
    iterator = iter(to_dataset(images, batch_size, value_range=value_range, seed=seed).repeat())
    for _ in range(3):
        next(iterator)
    rates = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        rates.append(batches * batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


# ----------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------

class _EpochTimer(keras.callbacks.Callback):
    """Records the wall time of each epoch (Keras syncs with the device when an epoch ends)."""

    def __init__(self):
        super().__init__()
        self.durations = []
        self.cpu_durations = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.perf_counter() - self._start)
        self.cpu_durations.append(time.process_time() - self._cpu_start)


def time_interleaved(cases, steps, warmup, windows):
    """Times the train step of each case: `warmup` untimed steps, then `windows` timed windows of `steps`.

    The windows of the cases run in turn (case 1, 2, ..., 1, 2, ...): on a shared machine the load
    drifts, and interleaving spreads the drift over every case, so their ratios (the speedups) stay
    meaningful even when the absolute numbers do not. With `steps_per_execution` k, `steps` and
    `warmup` are rounded up to multiples of k.

    Returns:
        One dict per case: `images_per_second` (median over windows), `window_images_per_second`
        (each window), `images_per_cpu_second`, `warmup_seconds` (includes tracing and compilation)
        and `steps_per_window`.
    """
    plans = []
    for case in cases:
        per_call = int(getattr(case.model, "steps_per_execution", 1) or 1)
        plan = {"steps": -(-steps // per_call) * per_call, "timer": _EpochTimer(), "warmup": _EpochTimer()}
        rounded_warmup = -(-warmup // per_call) * per_call
        if rounded_warmup:
            case.model.fit(case.dataset, epochs=1, steps_per_epoch=rounded_warmup,
                           callbacks=[plan["warmup"]], shuffle=False, verbose=0)
        plans.append(plan)
    for _ in range(windows):
        for case, plan in zip(cases, plans):
            case.model.fit(case.dataset, epochs=1, steps_per_epoch=plan["steps"],
                           callbacks=[plan["timer"]], shuffle=False, verbose=0)
    results = []
    for case, plan in zip(cases, plans):
        rates = [plan["steps"] * case.batch_size / seconds for seconds in plan["timer"].durations]
        results.append({
            "images_per_second": statistics.median(rates),
            "window_images_per_second": rates,
            "images_per_cpu_second": statistics.median(
                plan["steps"] * case.batch_size / seconds for seconds in plan["timer"].cpu_durations
            ),
            "warmup_seconds": sum(plan["warmup"].durations),
            "steps_per_window": plan["steps"],
        })
    return results


def build_setting_case(kind, preset_name, setting, seed):
    keras.utils.set_random_seed(seed)
    return MODEL_KINDS[kind].build_case(
        preset_name, setting.batch_size, JIT_COMPILE_CHOICES[setting.jit_compile], seed,
        precision=setting.precision, steps_per_execution=setting.steps_per_execution,
    )


def result_row(kind, preset_name, setting, case, timing, peaks=None, pipeline=True):
    """A result row: throughput, FLOPs, achieved GFLOP/s, fraction of peak and pipeline rate."""
    row = {
        "model": kind,
        "preset": preset_name,
        "batch_size": case.batch_size,
        "jit_compile": setting.jit_compile,
        "resolved_jit_compile": bool(case.model.jit_compile),
        "precision": setting.precision,
        "steps_per_execution": setting.steps_per_execution,
        "parameters": case.model.count_params(),
        **timing,
    }
    flops = MODEL_KINDS[kind].flops_per_image
    if flops is not None:
        row["train_gflop_per_image"] = flops(case.model) / 1e9
        row["gflops"] = row["train_gflop_per_image"] * row["images_per_second"]
        for name, peak in (peaks or {}).items():
            row[f"fraction_of_{name}_peak"] = row["gflops"] / peak
    if pipeline:
        rate = pipeline_images_per_second(case.model.image_shape, case.model.value_range, case.batch_size)
        row["pipeline_images_per_second"] = rate
        row["pipeline_ratio"] = rate / row["images_per_second"]
    return row


def run_preset(kind, preset_name, args, settings, peaks=None):
    """Times the settings of one preset together, interleaved (`time_interleaved`); returns result rows."""
    cases = [build_setting_case(kind, preset_name, setting, args.seed) for setting in settings]
    timings = time_interleaved(cases, args.steps, args.warmup, args.windows)
    return [
        result_row(kind, preset_name, setting, case, timing, peaks, args.pipeline)
        for setting, case, timing in zip(settings, cases, timings)
    ]


# ----------------------------------------------------------------------------------------------
# Selection, table, command line
# ----------------------------------------------------------------------------------------------

def selected_cases(model, preset):
    """(kind, preset) pairs for `--model` and `--preset` (comma-separated names allowed).

    Raises:
        ValueError: if `preset` is given but no selected kind has a preset of that name.
    """
    kinds = sorted(MODEL_KINDS) if model == "all" else [model]
    wanted = None if preset is None else set(preset.split(","))
    cases = [(kind, name) for kind in kinds for name in MODEL_KINDS[kind].preset_names()
             if wanted is None or name in wanted]
    if not cases:
        available = ", ".join(f"{kind}:{name}" for kind in kinds for name in MODEL_KINDS[kind].preset_names())
        raise ValueError(f"No preset named {preset!r} for --model {model}; available: {available}.")
    return cases


def settings_for(kind, preset_name, args):
    """The settings to time for one preset: named rows (`--settings`) or the grid of option lists."""
    if args.settings:
        named = {"baseline": BASELINE, "recommended": recommended_setting()}
        return [named[name] for name in args.settings]
    return [
        Setting(jit, precision, spe, batch)
        for batch in args.batch_size_list
        for precision in args.precision
        for spe in args.steps_per_execution
        for jit in args.jit_compile_list
    ]


def format_table(results, peaks=None):
    peak_names = list(peaks or {})
    header = ["model", "preset", "batch", "jit_compile", "precision", "spe", "images/s (median)", "speedup",
              "windows", "img per CPU-s", "train GFLOP/img", "GFLOP/s", *[f"% {name} peak" for name in peak_names],
              "pipeline img/s", "pipeline ÷ train"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reference = {}
    for result in results:
        key = (result["model"], result["preset"])
        reference.setdefault(key, result["images_per_second"])
        windows = ", ".join(f"{rate:.3g}" for rate in result["window_images_per_second"])
        cells = [
            result["model"], result["preset"], str(result["batch_size"]),
            f"{result['jit_compile']} ({'on' if result['resolved_jit_compile'] else 'off'})",
            result.get("precision", "float32"), str(result.get("steps_per_execution", 1)),
            f"{result['images_per_second']:.4g}", f"{result['images_per_second'] / reference[key]:.2f}×", windows,
            f"{result['images_per_cpu_second']:.4g}" if "images_per_cpu_second" in result else "",
            f"{result['train_gflop_per_image']:.4g}" if "train_gflop_per_image" in result else "",
            f"{result['gflops']:.1f}" if "gflops" in result else "",
            *[f"{100 * result[f'fraction_of_{name}_peak']:.0f} %" if f"fraction_of_{name}_peak" in result else ""
              for name in peak_names],
            f"{result['pipeline_images_per_second']:.3g}" if "pipeline_images_per_second" in result else "",
            f"{result['pipeline_ratio']:.0f}×" if "pipeline_ratio" in result else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _list_of(convert, choices=None):
    def parse(text):
        values = [convert(item) for item in text.split(",") if item]
        if not values:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        if choices is not None:
            unknown = [value for value in values if value not in choices]
            if unknown:
                raise argparse.ArgumentTypeError(f"{unknown} not in {sorted(choices)}")
        return values
    return parse


def _batch_size(text):
    return None if text == "preset" else _positive_int(text)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=[*sorted(MODEL_KINDS), "all"], default="all")
    parser.add_argument("--preset", default=None, help="preset name(s), comma-separated (default: every preset)")
    parser.add_argument("--steps", type=_positive_int, default=20, help="train steps per timed window")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    parser.add_argument("--windows", type=_positive_int, default=5, help="timed windows (median reported)")
    parser.add_argument("--settings", type=_list_of(str, {"baseline", "recommended"}), default=None,
                        help="named settings, e.g. baseline,recommended (instead of the option grid)")
    parser.add_argument("--jit-compile", type=_list_of(str, set(JIT_COMPILE_CHOICES)), default=["off"],
                        dest="jit_compile_list", help="auto, on, off (comma-separated list)")
    parser.add_argument("--precision", type=_list_of(str, set(PRECISIONS)), default=["float32"],
                        help=f"{', '.join(PRECISIONS)} (comma-separated list)")
    parser.add_argument("--steps-per-execution", type=_list_of(_positive_int), default=[1],
                        help="train steps per tf.function call (comma-separated list)")
    parser.add_argument("--batch-size", type=_list_of(_batch_size), default=[None], dest="batch_size_list",
                        help="batch sizes, or 'preset' (comma-separated list; default: the preset's)")
    parser.add_argument("--no-peak", action="store_false", dest="peak", help="skip the matmul peak measurement")
    parser.add_argument("--no-interleave", action="store_false", dest="interleave",
                        help="time each setting's windows in one block instead of in turn")
    parser.add_argument("--no-pipeline", action="store_false", dest="pipeline", help="skip the pipeline rate")
    parser.add_argument("--intra-op-threads", type=int, default=None, help="TensorFlow intra-op threads")
    parser.add_argument("--inter-op-threads", type=int, default=None, help="TensorFlow inter-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


def machine_description():
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "cpus": os.cpu_count(),
        "device": device_kind(),
        "load_1min": load,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cases = selected_cases(args.model, args.preset)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.intra_op_threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    if args.inter_op_threads is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    machine = machine_description()
    print(f"machine: {machine}", file=sys.stderr)
    peaks = {}
    if args.peak:
        peaks = {"float32": measure_peak("float32"), "bfloat16": measure_peak("bfloat16")}
        print("peak (matmul 2048²): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()), file=sys.stderr)
    results = []
    for kind, preset_name in cases:
        settings = settings_for(kind, preset_name, args)
        if args.interleave:
            rows = run_preset(kind, preset_name, args, settings, peaks)
        else:  # one setting at a time: one model in memory, its windows in one block
            rows = [row for setting in settings for row in run_preset(kind, preset_name, args, [setting], peaks)]
        for setting, row in zip(settings, rows):
            print(f"{kind}:{preset_name} [{setting.label()}]: {row['images_per_second']:.1f} images/s",
                  file=sys.stderr)
        results.extend(rows)
    machine["load_1min_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {machine['cpus']} CPUs ({machine['device']}), TF {machine['tensorflow']}, "
          f"load {machine['load_1min']:.2f} → {machine['load_1min_after']:.2f}; peaks "
          + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()))
    print(format_table(results, peaks))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "peaks": peaks, "results": results}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
