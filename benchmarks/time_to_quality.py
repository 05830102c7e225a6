"""Time to quality: training seconds (and images) until a model first reaches a quality threshold.

    python benchmarks/time_to_quality.py --dataset mnist --models gan:mnist_fast gan:mnist vae:keras_io_mnist \
        --images 256000 --thresholds 50 30 --seeds 0 1 --cap 600

Each model is trained with the library (`gencompare.train.Trainer`, the default precision and steps
per call of this machine) on the dataset's training split and evaluated on the test split at
`--points` points spaced geometrically in images seen (`gencompare.curves.schedule`), with the cheap
curve metrics (`gencompare.experiments.curve_metrics`: classifier-FID on MNIST, SWD on faces) on
`--count` samples. Evaluation time is not training time. For every threshold the first point at or
below it is found (`gencompare.curves.first_reaching`); a run that has not reached it within
`--images` images (rounded to whole epochs) or `--cap` training seconds reports "> cap". The table gives the median over seeds
of each model's seconds and images, side by side, from one invocation (so on one machine state).

Thresholds: MNIST classifier-FID 50 and 30 (for scale: a σ = 1 px blur of real digits scores 55, real
train vs test digits 1.9); faces SWD 0.10 (the quick-profile VAEs reached 0.08–0.10).
"""

import argparse
import json
import os
import pathlib
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gencompare import curves, experiments, runs, train  # noqa: E402

DEFAULT_THRESHOLDS = {"mnist": (50.0, 30.0), "faces": (0.10,)}


def train_with_curve(kind, preset, dataset, *, images, seed, points, count, cap, data_dir=None, folder=None):
    """Trains `kind:preset` for about `images` images (whole epochs of the preset's batch), recording a
    curve; stops early once `cap` training seconds are spent. Returns the curve rows."""
    table = runs.preset_table(kind)
    batch_size = table.get(preset).training["batch_size"]
    limit = None if dataset != "mnist" else 60_000
    settings = runs.RunSettings(model=kind, preset=preset, dataset=dataset, seed=seed, limit=limit,
                                sample_every=10_000, checkpoint_every=10_000, summary_every=10_000)
    run_dir = pathlib.Path(folder or tempfile.mkdtemp(prefix="time-to-quality-")) / f"{kind}-{preset}-seed{seed}"
    run_dir.mkdir(parents=True)
    spent = {"evaluating": 0.0}

    def evaluate(model):
        started = time.perf_counter()
        values = experiments.curve_metrics(model, dataset, count=count, seed=seed, data_dir=data_dir)
        spent["evaluating"] += time.perf_counter() - started
        return values

    trainer = train.Trainer(settings, run_dir, data_dir=data_dir, verbose=0, print_fn=lambda *_: None,
                            evaluate=evaluate, curve_points=points)
    trainer.load_data()
    steps = trainer.steps_per_epoch()
    epochs = max(1, round(images / (steps * batch_size)))  # whole epochs: the curve's schedule needs its end
    trainer.training["epochs"] = epochs
    trainer.extra_callbacks.append(cap_callback(cap, spent))
    trainer.train()
    return runs.read_curve(run_dir)


def cap_callback(cap, spent):
    """A Keras callback that stops training once `cap` seconds of training have passed: wall time since
    `fit` began minus `spent["evaluating"]` (the curve points' evaluations, as the run's clock counts)."""
    import keras

    class Cap(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter() - spent["evaluating"]

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() - self.started - spent["evaluating"] >= cap:
                self.model.stop_training = True

    return Cap()


def describe(row, rows, cap):
    """The time to a threshold, or what bounds it when the run never got there: the cap if training
    was stopped by it, else the run's end ("> 137 s (end of run)")."""
    if row is not None:
        return f"{row['seconds']:.0f} s / {row['images']:,} img".replace(",", " ")
    seconds = max((r["seconds"] for r in rows), default=0.0)
    return f"> {cap:.0f} s (cap)" if seconds >= 0.9 * cap else f"> {seconds:.0f} s (end of run)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--models", nargs="+", required=True, metavar="KIND:PRESET",
                        help="e.g. gan:mnist_fast gan:mnist vae:keras_io_mnist")
    parser.add_argument("--images", type=int, default=256_000, help="training images per run at most")
    parser.add_argument("--cap", type=float, default=600.0, help="training seconds per run at most")
    parser.add_argument("--thresholds", type=float, nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--points", type=int, default=12, help="evaluation points per run")
    parser.add_argument("--count", type=int, default=1000, help="samples per evaluation")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="append every run's curve to this JSON-lines file")
    arguments = parser.parse_args(argv)
    metric, label = curves.curve_metric(arguments.dataset)
    thresholds = arguments.thresholds or DEFAULT_THRESHOLDS["mnist" if arguments.dataset == "mnist" else "faces"]
    print(f"time to {label} ≤ {', '.join(f'{t:g}' for t in thresholds)} on {arguments.dataset}; "
          f"cap {arguments.cap:.0f} s or {arguments.images} images; seeds {arguments.seeds}")
    table = {}
    started = time.perf_counter()
    for seed in arguments.seeds:
        for model in arguments.models:
            kind, preset = model.split(":")
            rows = train_with_curve(kind, preset, arguments.dataset, images=arguments.images, seed=seed,
                                    points=arguments.points, count=arguments.count, cap=arguments.cap,
                                    data_dir=arguments.data_dir)
            if arguments.json:
                with open(arguments.json, "a") as file:
                    file.write(json.dumps({"model": model, "seed": seed, "curve": rows}) + "\n")
            for threshold in thresholds:
                row = curves.first_reaching(rows, metric, threshold)
                table.setdefault((model, threshold), []).append(row)
                print(f"  seed {seed} {model:24} {label} ≤ {threshold:g}: {describe(row, rows, arguments.cap)}; "
                      f"best {min(r[metric] for r in rows):.3g} after {rows[-1]['seconds']:.0f} s", flush=True)
    print("\n| model | " + " | ".join(f"{label} ≤ {t:g} (median s / images)" for t in thresholds) + " |")
    print("|---|" + "---|" * len(thresholds))
    for model in arguments.models:
        cells = []
        for threshold in thresholds:
            reached = table[(model, threshold)]
            if sum(row is not None for row in reached) * 2 <= len(reached):
                cells.append(f"not reached by the median seed ({sum(r is not None for r in reached)}/{len(reached)} "
                             f"seeds reached it; cap {arguments.cap:.0f} s, {arguments.images} images)")
                continue
            seconds = statistics.median(row["seconds"] if row else arguments.cap for row in reached)
            images = statistics.median(row["images"] if row else 0 for row in reached)
            cells.append(f"{seconds:.0f} s / {images:,.0f}".replace(",", " "))
        print(f"| {model} | " + " | ".join(cells) + " |")
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
