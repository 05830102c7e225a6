"""Tunes fast VAE presets for sample quality per CPU-second, with the standard and learned priors.

One run: build a VAE (a preset plus JSON overrides), train it for a number of epochs under bf16 with
8 steps per execution (no XLA), fit the learned priors to the training codes (posterior means), then
`gencompare.metrics.evaluate` the test split with each prior for several seeds. One JSON line per
run is appended to `--out`, and sample grids are written next to it.

    python benchmarks/vae_tuning.py --preset mnist_fast --tag base --seeds 0,1
    python benchmarks/vae_tuning.py --preset mnist_fast --model '{"beta": 0.5}' --training '{"epochs": 6}'

Environment: `GENCOMPARE_DATA` (datasets), `GENCOMPARE_CACHE`.
"""

import argparse
import json
import os
import resource
import time

import keras
import numpy as np

from gencompare.models import priors


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        log(f"epoch {epoch + 1}: loss {logs['loss']:.3f}, cpu {cpu_seconds():.0f} s")


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mnist_fast")
    parser.add_argument("--model", default="{}", help="JSON overrides of the constructor arguments")
    parser.add_argument("--training", default="{}", help="JSON overrides of the training settings")
    parser.add_argument("--priors", default="mixture", help="learned priors to fit: mixture,two_stage")
    parser.add_argument("--components", type=int, default=10)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--precision", default="float32", help="float32: bf16 is emulated (10x slower) on CPUs without avx512_bf16")
    parser.add_argument("--tag", default="")
    parser.add_argument("--out", default="/tmp/gc-vae-tuning/results.jsonl")
    args = parser.parse_args()

    from gencompare import distribute, plots
    from gencompare.data import load_images, to_dataset
    from gencompare.metrics import evaluate
    from gencompare.models import VAE

    preset = VAE.preset(args.preset)
    model_args = {**preset.model, **json.loads(args.model)}
    training = {**preset.training, **json.loads(args.training)}
    out_dir = os.path.dirname(args.out)
    os.makedirs(out_dir, exist_ok=True)
    tag = args.tag or f"{args.preset}-{int(time.time())}"

    keras.utils.set_random_seed(0)
    images = load_images(preset.dataset, "train", limit=training.get("limit"))
    dataset = to_dataset(images, training["batch_size"], value_range=model_args.get("value_range", (0, 1)))
    with distribute.precision(args.precision):
        model = VAE(**model_args)
        model.compile(
            optimizer=keras.optimizers.Adam(training["learning_rate"], beta_1=training.get("beta_1", 0.9)),
            jit_compile=False, steps_per_execution=8,
        )
    start_wall, start_cpu = time.time(), cpu_seconds()
    log(f"training {tag}")
    history = model.fit(dataset, epochs=training["epochs"], verbose=0, callbacks=[EpochTimer()]).history
    train_wall, train_cpu = time.time() - start_wall, cpu_seconds() - start_cpu

    unit = images.astype("float32") / 255.0
    low, high = model.value_range
    scaled = unit * (high - low) + low
    seeds = [int(s) for s in args.seeds.split(",")]
    log(f"trained in {train_wall:.0f} s wall, {train_cpu:.0f} s CPU")
    results = {"standard": [evaluate(model, preset.dataset, count=args.count, seed=seed, progress=False)
                            for seed in seeds]}
    log("evaluated the standard prior")
    plots.save_image_grid(model.sample(64, seed=0), f"{out_dir}/{tag}-standard.png", value_range=model.value_range)
    prior_seconds = {}
    for kind in [name for name in args.priors.split(",") if name]:
        # fit_prior keeps one learned prior at a time: fit each kind and evaluate it right away.
        options = {"components": args.components} if kind == "mixture" else {}
        start = time.time()
        model.fit_prior(scaled, kind=kind, seed=0, **options)
        prior_seconds[kind] = round(time.time() - start, 1)
        log(f"fitted the {kind} prior in {prior_seconds[kind]} s")
        view = priors.WithPrior(model, kind)
        results[kind] = [evaluate(view, preset.dataset, count=args.count, seed=seed, progress=False)
                         for seed in seeds]
        plots.save_image_grid(model.sample(64, seed=0, prior=kind), f"{out_dir}/{tag}-{kind}.png",
                              value_range=model.value_range)

    keys = ("fd_mnist", "precision_mnist", "recall_mnist", "classes_covered", "swd_mean", "elbo",
            "reconstruction_mse")
    summary = {
        "tag": tag, "preset": args.preset, "model": json.loads(args.model), "training": json.loads(args.training),
        "epochs": training["epochs"], "batch_size": training["batch_size"], "train_wall_s": round(train_wall, 1),
        "train_cpu_s": round(train_cpu, 1), "prior_fit_s": prior_seconds, "seeds": seeds,
        "final_loss": round(float(history["loss"][-1]), 3),
        "metrics": {
            prior: {key: [round(float(r[key]), 4) for r in runs] for key in keys if key in runs[0]}
            for prior, runs in results.items()
        },
    }
    if model.reconstruction_loss == "gaussian_learned":
        summary["decoder_sigma"] = round(float(np.exp(keras.ops.convert_to_numpy(model.decoder_log_sigma))), 4)
    print(json.dumps(summary))
    with open(args.out, "a") as handle:
        handle.write(json.dumps(summary) + "\n")
    model.save(f"{out_dir}/{tag}.keras")


if __name__ == "__main__":
    main()
