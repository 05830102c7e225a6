"""Trains one GAN (or VAE) preset for a number of images and prints the project's metrics and seconds.

Straight through the library, without `gencompare.train`'s run folders: `data.load_images` (train
split) → `data.to_dataset` → `Model.from_preset` → `compile` (the preset's training settings, through
`train.make_optimizer` / `train.GAN_COMPILE_OPTIONS`, as a run would) → `fit`, then
`metrics.evaluate` on the **test** split. For a GAN with an EMA generator both the EMA and the raw
generator are measured, and (unless the preset sets `ema_standing_statistics`) the EMA generator with
standing BatchNorm statistics too ("ema_standing").

    python benchmarks/train_preset.py --preset mnist_fast --images 256000 --seed 0
    python benchmarks/train_preset.py --preset cats_fast --images 128000 --grid /tmp/cats.png
    python benchmarks/train_preset.py --preset mnist_fast --images 64000 \
        --set model.augment='"translation"' --set training.r1_weight=0.2

`--set section.key=JSON` overrides one constructor (`model.`) or training (`training.`) setting;
nested keys use dots (`model.discriminator.spectral_norm=true`). The tuning results measured with this
script are in `benchmarks/gan_tuning.md`.
"""

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# Latents of the EMA generator's standing BatchNorm statistics, measured beside the copied ones
# ("ema_standing") when the preset does not set `ema_standing_statistics` itself.
STANDING_STATISTICS = 4096


def parse_override(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set takes section.key=JSON, got {text!r}")
    key, value = text.split("=", 1)
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        value = value  # a bare string
    path = key.split(".")
    if path[0] not in ("model", "training") or len(path) < 2:
        raise argparse.ArgumentTypeError(f"--set keys start with model. or training., got {key!r}")
    return path, value


def apply_override(preset_model, preset_training, path, value):
    target = {"model": preset_model, "training": preset_training}[path[0]]
    for name in path[1:-1]:
        target = target.setdefault(name, {})
    if value is None:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


class RawGenerator:
    """What `metrics.evaluate` needs of a model, drawing with a GAN's raw (non-EMA) generator."""

    def __init__(self, gan):
        self.gan, self.image_shape, self.value_range = gan, gan.image_shape, gan.value_range

    def sample(self, count, seed=None):
        return self.gan.sample(count, seed=seed, use_ema=False)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("gan", "vae"), default="gan")
    parser.add_argument("--preset", required=True)
    parser.add_argument("--images", type=int, required=True, help="training images seen (steps × batch)")
    parser.add_argument("--seed", type=int, default=0, help="model seed and data shuffle seed")
    parser.add_argument("--precision", default="auto", help="auto: distribute.recommended_precision() (float32 without bf16 hardware)")
    parser.add_argument("--steps-per-execution", type=int, default=8)
    parser.add_argument("--set", dest="overrides", type=parse_override, action="append", default=[])
    parser.add_argument("--limit", type=int, default=None, help="training images loaded (default: all)")
    parser.add_argument("--eval-count", type=int, default=2000)
    parser.add_argument("--eval-seed", type=int, default=123)
    parser.add_argument("--grid", default=None, help="write 64 EMA (or VAE) samples to this PNG")
    parser.add_argument("--json", default=None, help="append the result as one JSON line to this file")
    parser.add_argument("--eval-at", default=None,
                        help="comma-separated image counts at which to evaluate too (e.g. 64000,128000); "
                             "the evaluation time is not counted as training time")
    args = parser.parse_args(argv)

    import copy

    import keras

    from gencompare import data, distribute, metrics, train
    from gencompare.models.gan import GAN
    from gencompare.models.vae import VAE

    model_class = GAN if args.kind == "gan" else VAE
    preset = model_class.preset(args.preset)
    model_settings, training = copy.deepcopy(preset.model), copy.deepcopy(preset.training)
    for path, value in args.overrides:
        apply_override(model_settings, training, path, value)
    model_settings["seed"] = args.seed
    batch_size = int(training["batch_size"])
    steps = max(args.steps_per_execution, args.images // batch_size)
    steps -= steps % args.steps_per_execution

    keras.utils.set_random_seed(args.seed)
    distribute.set_precision(args.precision)
    model = model_class(**model_settings)
    train.compile_model(model, args.kind, training, jit_compile="off", steps_per_execution=args.steps_per_execution)
    images = data.load_images(preset.dataset, "train", limit=args.limit or training.get("limit"))
    dataset = data.to_dataset(images, batch_size, value_range=model.value_range, seed=args.seed).repeat()

    def measure(sampler):
        # KID is not reported here: 2 small subsets instead of evaluate's default 100 (most of its time).
        result = metrics.evaluate(sampler, preset.dataset, count=args.eval_count, seed=args.eval_seed, progress=False,
                                  kid_subsets=2, kid_subset_size=100)
        keys = ("fd_mnist", "recall_mnist", "precision_mnist", "classes_covered", "class_kl_uniform", "swd_mean")
        return {key: round(float(result[key]), 4) for key in keys if key in result}

    def measure_both():
        if args.kind == "gan" and model.ema_generator is not None:
            results = {"ema": measure(model), "raw": measure(RawGenerator(model))}
            if model.ema_standing_statistics is None:
                # Also the EMA generator with its own BatchNorm statistics, then the copied ones back.
                model.ema_standing_statistics = STANDING_STATISTICS
                results["ema_standing"] = measure(model)
                model.ema_standing_statistics, model._standing_statistics_at = None, None
                for average, weight in zip(model.ema_generator.weights, model.generator.weights):
                    if not weight.trainable:
                        average.assign(weight)
            return results
        return {"metrics": measure(model)}

    # Evaluation points: fit in chunks of `chunk` steps (one Keras "epoch" each, one iterator throughout).
    points = sorted({int(images) // batch_size for images in (args.eval_at or "").split(",") if images.strip()})
    points = [point - point % args.steps_per_execution for point in points if 0 < point < steps]
    curve, seconds, cpu, done = [], 0.0, 0.0, 0
    for point in points + [steps]:
        start_wall, start_cpu = time.perf_counter(), cpu_seconds()
        history = model.fit(dataset, steps_per_epoch=point - done, epochs=1, verbose=0)
        seconds, cpu = seconds + time.perf_counter() - start_wall, cpu + cpu_seconds() - start_cpu
        done = point
        if point != steps:
            row = {"steps": point, "images": point * batch_size, "train_seconds": round(seconds, 1), **measure_both()}
            curve.append(row)
            print(json.dumps(row), flush=True)
    logs = {name: round(float(values[-1]), 4) for name, values in history.history.items()}

    result = {
        "preset": args.preset, "overrides": [[".".join(p), v] for p, v in args.overrides], "seed": args.seed,
        "images": steps * batch_size, "steps": steps, "precision": args.precision,
        "train_seconds": round(seconds, 1), "train_cpu_seconds": round(cpu, 1), "logs": logs,
        **measure_both(), "curve": curve,
    }
    print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "a") as handle:
            handle.write(json.dumps(result) + "\n")
    if args.grid:
        from gencompare.plots import save_image_grid

        save_image_grid(model.sample(64, seed=0), args.grid, value_range=model.value_range)
        if args.kind == "gan" and model.ema_generator is not None:
            root, ext = os.path.splitext(args.grid)
            save_image_grid(model.sample(64, seed=0, use_ema=False), f"{root}_raw{ext}", value_range=model.value_range)
    return 0


if __name__ == "__main__":
    sys.exit(main())
