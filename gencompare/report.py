"""The report: every experiment of a profile trained (or reused), measured, drawn and written up.

    python -m gencompare report                         # profile from GENCOMPARE_PROFILE, else smoke
    python -m gencompare report --profile quick         # about an hour on a 2-core CPU

It trains (or reuses the finished runs of) the experiments in `gencompare.profiles.EXPERIMENTS` for
every dataset present — VAE and GAN on MNIST and on each face set, and the VAE→GAN with its control
— evaluates each run once against the held-out test split (`gencompare.metrics.evaluate`; results
are cached in the run folder), and writes `README.md` and `figures/*.png` to the output folder. The
written comparison is generated from the numbers of this invocation's runs, never typed in.

The output folder defaults to `reports/`, except under `smoke`, whose numbers mean nothing: it
defaults to the git-ignored `reports/smoke/` so that it never overwrites the committed report.
"""

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import time

from gencompare import files, profiles

README_FILE = "README.md"
FIGURES_FOLDER = "figures"
SAMPLE_COUNT = 16
METRICS_FORMAT = 1
# Relative differences below this are reported as "about the same".
TIE_TOLERANCE = 0.05


# ----------------------------------------------------------------------------------------------
# Runs and their numbers
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One trained experiment with everything the report says about it.

    Attributes:
        experiment: the `profiles.Experiment`.
        run_dir: its run folder.
        model: the trained model.
        history: the per-epoch history rows (dicts).
        metrics: `gencompare.metrics.evaluate`'s results.
        parameters: trainable parameters (encoder + decoder, or generator + discriminator).
        sampler_parameters: parameters of the network that draws images (decoder or generator).
        training_seconds: wall time of the training epochs (None if the run was not timed).
        images_per_second: training throughput (see `profiles.training_speed`).
        reused: True if the run had finished before this invocation (nothing was trained).
    """

    experiment: profiles.Experiment
    run_dir: pathlib.Path
    model: object
    history: list
    metrics: dict
    parameters: int
    sampler_parameters: int
    training_seconds: float | None
    images_per_second: float | None
    reused: bool

    @property
    def label(self):
        return self.experiment.title

    @property
    def dataset(self):
        return self.experiment.dataset


def metrics_path(run_dir, profile, seed):
    """Where the evaluation of a run under a profile's sample count and a seed is cached."""
    return pathlib.Path(run_dir) / f"metrics-n{profile.evaluation_count}-seed{seed}.json"


def evaluate_run(model, dataset, run_dir, profile, *, seed=0, data_dir=None):
    """`gencompare.metrics.evaluate` of a trained run, computed once and cached in the run folder.

    The cache is keyed by sample count and seed, and is discarded when the model file is newer (a
    run trained further).
    """
    from gencompare import metrics

    path = metrics_path(run_dir, profile, seed)
    model_file = pathlib.Path(run_dir) / "model.keras"
    if path.is_file() and (not model_file.is_file() or path.stat().st_mtime >= model_file.stat().st_mtime):
        cached = json.loads(path.read_text())
        if cached.get("format") == METRICS_FORMAT:
            return cached["metrics"]
    results = metrics.evaluate(model, dataset, count=profile.evaluation_count, seed=seed, data_dir=data_dir,
                               progress=False)
    results = {key: (value.item() if hasattr(value, "item") else value) for key, value in results.items()}
    files.write_json_atomic(path, {"format": METRICS_FORMAT, "metrics": results})
    return results


def parameter_counts(model):
    """`(trainable parameters, parameters of the sampling network)` of a VAE or a GAN."""
    import numpy as np

    trainable = int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
    sampler = model.decoder if hasattr(model, "decoder") else model.generator
    return trainable, int(sampler.count_params())


def collect(profile=None, *, runs=None, datasets=None, seed=0, data_dir=None, print_fn=print, failures=None):
    """Trains or reuses every experiment of the profile and measures it.

    Args:
        profile: a profile name or `Profile` (None: `GENCOMPARE_PROFILE`).
        runs: folder of the run folders (default `profiles.runs_dir(profile)`).
        datasets: dataset names (default: every dataset with experiments whose files are present).
        seed: the one seed of training and evaluation.
        data_dir: the datasets' folder (default `GENCOMPARE_DATA`).
        print_fn: where progress lines go.
        failures: if a list, a run that diverges (`gencompare.train.TrainingDiverged`) is appended to
            it as `(experiment name, message)` and left out, and the others go on; if None, it raises.

    Returns:
        A list of `Row`, in the order of the experiment table.
    """
    profile = profiles.get_profile(profile)
    chosen = profiles.experiments(datasets, data_dir=data_dir)
    if not chosen:
        raise ValueError("No dataset is present: put MNIST (and any face set) under GENCOMPARE_DATA; "
                         "`python -m gencompare data info mnist` says where it is looked for.")
    from gencompare.train import TrainingDiverged

    rows = []
    for index, experiment in enumerate(chosen, start=1):
        try:
            rows.append(collect_one(experiment, profile, runs=runs, seed=seed, data_dir=data_dir,
                                    print_fn=print_fn, step=f"[{index}/{len(chosen)}]"))
        except TrainingDiverged as error:
            if failures is None:
                raise
            print_fn(f"{experiment.name}: diverged, left out of the report: {error}")
            failures.append((experiment.name, " ".join(str(error).split())))
    return rows


def collect_one(experiment, profile=None, *, runs=None, seed=0, data_dir=None, print_fn=print, step=""):
    """Trains or reuses one experiment (see `profiles.run_experiment`) and measures it.

    Args:
        experiment: an experiment name (e.g. `"mnist-gan"`) or `profiles.Experiment`.
        profile, runs, seed, data_dir, print_fn: as for `collect`.
        step: prefix of the progress lines, e.g. `"[2/9]"`.

    Returns:
        A `Row`.
    """
    experiment = experiment if isinstance(experiment, profiles.Experiment) else profiles.get_experiment(experiment)
    profile = profiles.get_profile(profile)
    folder = profiles.run_folder(experiment, profile, seed=seed, runs=runs)
    reused = profiles.is_finished(experiment, profile, seed=seed, runs=runs)
    budget = experiment.budget(profile)
    action = "reusing finished run" if reused else f"training ({budget.describe()})"
    step = f"{step} " if step else ""
    print_fn(f"{step}{experiment.name}: {action} in {folder}")
    result = profiles.run_experiment(experiment, profile, seed=seed, runs=runs, data_dir=data_dir,
                                     print_fn=print_fn if not reused else (lambda *_: None))
    print_fn(f"{step}{experiment.name}: evaluating on {profile.evaluation_count} samples")
    metrics = evaluate_run(result.model, experiment.dataset, folder, profile, seed=seed, data_dir=data_dir)
    seconds, rate = profiles.training_speed(folder)
    trainable, sampler = parameter_counts(result.model)
    return Row(experiment, folder, result.model, result.history, metrics, trainable, sampler, seconds, rate,
               reused)


# ----------------------------------------------------------------------------------------------
# The metrics table
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of the metrics table: a header, how to read the value from a row, and its format."""

    header: str
    value: callable
    digits: int = 2
    better: str = ""  # "lower", "higher" or "" (not a quality measure)


def _metric(name):
    return lambda row: row.metrics.get(name)


COLUMNS = (
    Column("classifier-FID ↓", _metric("fd_mnist"), 2, "lower"),
    Column("classes covered ↑", lambda row: _out_of_ten(row.metrics.get("classes_covered")), 0, "higher"),
    Column("class KL ↓", _metric("class_kl_uniform"), 3, "lower"),
    Column("precision ↑", _metric("precision_mnist"), 2, "higher"),
    Column("recall ↑", _metric("recall_mnist"), 2, "higher"),
    Column("SWD ↓", _metric("swd_mean"), 3, "lower"),
    Column("ELBO ↑ (nats)", _metric("elbo"), 1, "higher"),
    Column("recon. MSE ↓", _metric("reconstruction_mse"), 4, "lower"),
    Column("training", lambda row: training_summary(row.run_dir)),
    Column("parameters", lambda row: row.parameters, 0),
    Column("decoder/generator parameters", lambda row: row.sampler_parameters, 0),
    Column("training time (s)", lambda row: row.training_seconds, 0),
    Column("images/s", lambda row: row.images_per_second, 0),
)


def resolved_config(run_dir):
    """What a run's settings resolved to: the `"resolved"` section of its `config.json` ({} if none).

    A `vae-gan` run folder has no section of its own; its GAN phase's (`gan/`) stands for it.
    """
    for folder in (pathlib.Path(run_dir), pathlib.Path(run_dir) / "gan"):
        path = folder / "config.json"
        if path.is_file():
            resolved = files.read_json(path).get("resolved", {})
            if resolved:
                return resolved
    return {}


def training_summary(run_dir):
    """The preset, images and epochs recorded in a run's `config.json` (None without a record)."""
    resolved = resolved_config(run_dir)
    if not resolved:
        return None
    training = resolved.get("training", {})
    return f"{resolved['preset']}: {resolved['num_images']} images × {training.get('epochs')} epochs"


def _out_of_ten(value):
    return None if value is None else f"{int(value)}/10"


def format_value(value, digits):
    """A table cell: "—" for a missing value, numbers rounded to `digits` (integers with separators)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if digits == 0:
        return f"{int(round(value)):,}".replace(",", " ")
    return f"{value:.{digits}f}"


def metrics_table(rows):
    """A Markdown table with a row per model, leaving out metrics that no row has."""
    columns = [column for column in COLUMNS if any(column.value(row) is not None for row in rows)]
    header = ["model", "run folder", *(column.header for column in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.label, f"`{row.run_dir.name}`", *(format_value(column.value(row), column.digits)
                                                       for column in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Sentences from numbers
# ----------------------------------------------------------------------------------------------


def compare(first_name, first, second_name, second, better):
    """Which of two values is better, as a phrase ("the GAN", "about the same"), or None if missing.

    Args:
        first_name, second_name: how to call each side.
        first, second: the values.
        better: "lower" or "higher".
    """
    if first is None or second is None:
        return None
    scale = max(abs(first), abs(second))
    if scale == 0 or abs(first - second) / scale < TIE_TOLERANCE:
        return "about the same"
    first_wins = first < second if better == "lower" else first > second
    return first_name if first_wins else second_name


def _find(rows, dataset, title):
    return next((row for row in rows if row.dataset == dataset and row.label == title), None)


def _value(row, name):
    return None if row is None else row.metrics.get(name)


def coverage_sentence(vae, gan):
    """Mode coverage of the GAN vs the VAE on MNIST."""
    covered_vae, covered_gan = _value(vae, "classes_covered"), _value(gan, "classes_covered")
    kl_vae, kl_gan = _value(vae, "class_kl_uniform"), _value(gan, "class_kl_uniform")
    if None in (covered_vae, covered_gan, kl_vae, kl_gan):
        return None
    evener = compare("the VAE", kl_vae, "the GAN", kl_gan, "lower")
    verdict = {
        "about the same": "both spread their samples about as evenly over the digits",
        "the VAE": "the GAN's samples are less evenly spread over the digits: the signature of (partial) "
                   "mode collapse",
        "the GAN": "here the VAE's samples are the less evenly spread",
    }[evener]
    return (f"The GAN's samples cover {covered_gan}/10 digit classes vs {covered_vae}/10 for the VAE; the "
            f"class histogram's KL divergence from uniform is {kl_gan:.3f} vs {kl_vae:.3f} nats, so {verdict}.")


def distance_sentence(vae, gan, name, what):
    """Which model is closer to the test images by a distance (lower is better)."""
    value_vae, value_gan = _value(vae, name), _value(gan, name)
    closer = compare("the VAE", value_vae, "the GAN", value_gan, "lower")
    if closer is None:
        return None
    if closer == "about the same":
        return f"By {what} the two are about equally close to the test images ({value_vae:.3g} VAE, {value_gan:.3g} GAN)."
    return (f"By {what}, {closer} is closer to the test images ({value_vae:.3g} VAE vs {value_gan:.3g} GAN; "
            "lower is better).")


def precision_recall_sentence(vae, gan):
    """Precision (fidelity) and recall (coverage) of both models, and the trade-off they show."""
    numbers = [_value(row, name) for row in (vae, gan) for name in ("precision_mnist", "recall_mnist")]
    if None in numbers:
        return None
    precision_vae, recall_vae, precision_gan, recall_gan = numbers
    sharper = compare("the VAE", precision_vae, "the GAN", precision_gan, "higher")
    wider = compare("the VAE", recall_vae, "the GAN", recall_gan, "higher")
    if sharper == "the GAN" and wider == "the VAE":
        pattern = ("the textbook trade-off: the GAN's samples lie more often among real digits, while the "
                   "VAE's cover more of the real digits")
    elif sharper == wider and sharper != "about the same":
        pattern = f"{sharper} leads on both"
    elif sharper == wider:
        pattern = "the two are about level on both"
    else:
        pattern = f"precision: {_lead(sharper)}; recall: {_lead(wider)}"
    return (f"Precision (share of samples that land among real digits) is {precision_gan:.2f} for the GAN vs "
            f"{precision_vae:.2f} for the VAE; recall (share of real digits the samples reach) is "
            f"{recall_gan:.2f} vs {recall_vae:.2f}: {pattern}.")


def _lead(winner):
    return "about level" if winner == "about the same" else f"{winner} leads"


def vae_only_sentence(vae):
    """What only the VAE offers: a held-out likelihood bound and reconstructions."""
    elbo, mse = _value(vae, "elbo"), _value(vae, "reconstruction_mse")
    if elbo is None or mse is None:
        return None
    return (f"Only the VAE can encode: its held-out ELBO is {elbo:.1f} nats per image (with its own "
            f"reconstruction loss) and it reconstructs test images with a per-pixel MSE of {mse:.4f}; the GAN "
            "has neither a likelihood bound nor an encoder.")


def speed_sentence(vae, gan):
    """Training throughput of the two models."""
    rate_vae = None if vae is None else vae.images_per_second
    rate_gan = None if gan is None else gan.images_per_second
    if not rate_vae or not rate_gan:
        return None
    ratio = rate_vae / rate_gan
    faster = "faster" if ratio >= 1 else "slower"
    factor = ratio if ratio >= 1 else 1 / ratio
    return (f"The VAE trained at {rate_vae:.0f} images/s, {factor:.1f}× {faster} than the GAN's {rate_gan:.0f} "
            "images/s on this machine.")


def pretraining_sentence(rows):
    """The VAE→GAN against the same GAN trained from scratch with the same adversarial budget."""
    pretrained = next((row for row in rows if row.experiment.from_vae), None)
    control = next((row for row in rows if row.experiment.generator_like), None)
    if pretrained is None or control is None:
        return None
    parts = []
    for name, what, better in (("fd_mnist", "classifier-FID", "lower"), ("swd_mean", "SWD", "lower"),
                               ("classes_covered", "classes covered", "higher")):
        value_pretrained, value_control = _value(pretrained, name), _value(control, name)
        if value_pretrained is not None and value_control is not None:
            parts.append(f"{what} {value_pretrained:.3g} vs {value_control:.3g}")
    if not parts:
        return None
    key = "fd_mnist" if _value(pretrained, "fd_mnist") is not None else "swd_mean"
    winner = compare("pretrained", _value(pretrained, key), "scratch", _value(control, key), "lower")
    verdict = {"pretrained": "starting from the VAE's decoder helped",
               "scratch": "starting from the VAE's decoder did not help",
               "about the same": "starting from the VAE's decoder made little difference"}[winner]
    epochs = len(pretrained.history)
    return (f"With the same generator architecture and {epochs} adversarial epoch(s) each, the GAN whose "
            f"generator started as the trained VAE decoder scores {', '.join(parts)} against the GAN trained "
            f"from scratch: by {'classifier-FID' if key == 'fd_mnist' else 'SWD'}, {verdict}.")


def dataset_conclusions(rows, dataset):
    """The sentences comparing the models on one dataset (only those its numbers allow).

    VAE vs GAN: mode coverage, classifier-FID, precision/recall, SWD, what only the VAE has, speed;
    and the VAE→GAN vs its control where the dataset has them.
    """
    vae, gan = _find(rows, dataset, "VAE"), _find(rows, dataset, "GAN")
    sentences = [
        coverage_sentence(vae, gan),
        distance_sentence(vae, gan, "fd_mnist", "classifier-FID"),
        precision_recall_sentence(vae, gan),
        distance_sentence(vae, gan, "swd_mean", "sliced Wasserstein distance on image patches"),
        vae_only_sentence(vae),
        speed_sentence(vae, gan),
        pretraining_sentence([row for row in rows if row.dataset == dataset]),
    ]
    return [sentence for sentence in sentences if sentence]


def profile_caveat(profile):
    """A warning for profiles too small to draw conclusions from."""
    if profile.name == "smoke":
        return ("**These are smoke-profile numbers** (two epochs on a few hundred images): they show that the "
                "pipeline runs, not how the models compare. Regenerate with `--profile quick` or `full`.")
    return None


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def _close(figure):
    import matplotlib.pyplot as plt

    plt.close(figure)


def _test_images(row, count, data_dir):
    """`count` held-out images of the row's dataset in the model's value range."""
    from gencompare import data

    images = data.load_images(row.dataset, "test", image_size=row.model.image_shape[0], limit=count,
                              data_dir=data_dir)
    low, high = row.model.value_range
    return (images.astype("float32") / 255.0 * (high - low) + low).astype("float32")


def samples_figure(rows, path=None, *, seed=0, title=None):
    """The rows' models side by side, each drawing `SAMPLE_COUNT` images from latents of one seed."""
    from gencompare import plots

    panels = {row.label: row.model.sample(SAMPLE_COUNT, seed=seed) for row in rows}
    ranges = {row.label: row.model.value_range for row in rows}
    return plots.side_by_side(panels, value_range=ranges, columns=4, path=path,
                              title=title or f"{rows[0].dataset}: samples (latent seed {seed})")


def vae_figures(row, figures, data_dir):
    """Reconstructions of test images and interpolations between their encodings."""
    import keras

    from gencompare import plots

    originals = _test_images(row, 16, data_dir)
    written = {"reconstructions": figures / f"{row.experiment.name}-reconstructions.png",
               "interpolation": figures / f"{row.experiment.name}-interpolation.png"}
    _close(plots.reconstructions(originals, row.model.reconstruct(originals), value_range=row.model.value_range,
                                 path=written["reconstructions"]))
    z_mean = keras.ops.convert_to_numpy(row.model.encode(originals[:8])[0])
    decode = lambda z: keras.ops.convert_to_numpy(row.model.decode(z))  # noqa: E731
    _close(plots.interpolation(decode, z_mean[:4], z_mean[4:8], steps=8, value_range=row.model.value_range,
                               title=f"{row.label} on {row.dataset}: between encoded test images",
                               path=written["interpolation"]))
    if row.model.latent_dim == 2:
        written["manifold"] = figures / f"{row.experiment.name}-manifold.png"
        _close(plots.latent_manifold(decode, grid_size=15, value_range=row.model.value_range,
                                     title=f"{row.label}: the decoded latent plane", path=written["manifold"]))
    return written


def gan_figures(row, figures, seed):
    """Interpolations on great circles between prior latents."""
    from gencompare import plots

    latents = row.model.latent_grid(8, seed)
    path = figures / f"{row.experiment.name}-interpolation.png"
    _close(plots.interpolation(row.model.generate, latents[:4], latents[4:8], steps=8, method="slerp",
                               value_range=row.model.value_range,
                               title=f"{row.label} on {row.dataset}: slerp between prior latents", path=path))
    return {"interpolation": path}


def class_histogram_figure(metrics_by_label, path=None):
    """Share of samples the MNIST classifier puts in each digit class, one bar group per model.

    Args:
        metrics_by_label: `{label: evaluate() results}`; entries without class fractions are skipped.
        path: if given, the PNG is written there too.

    Returns:
        The Figure.
    """
    import matplotlib.figure
    import numpy as np

    chosen = {label: metrics for label, metrics in metrics_by_label.items() if "class_fraction_0" in metrics}
    figure = matplotlib.figure.Figure(figsize=(10, 3.5), dpi=100)
    axes = figure.add_subplot()
    width = 0.8 / max(len(chosen), 1)
    for index, (label, metrics) in enumerate(chosen.items()):
        fractions = [metrics[f"class_fraction_{digit}"] for digit in range(10)]
        axes.bar(np.arange(10) + index * width - 0.4 + width / 2, fractions, width, label=label)
    axes.axhline(0.1, color="black", linestyle="--", linewidth=1, label="uniform")
    axes.set(xticks=range(10), xlabel="digit predicted by the classifier", ylabel="share of samples",
             title="MNIST: which digits each model draws")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    if path is not None:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    return figure


def write_figures(rows, figures, *, seed=0, data_dir=None, print_fn=print):
    """Writes every figure of the report; returns `{dataset: {name: path}}` (plus per-row figures)."""
    from gencompare import plots

    figures.mkdir(parents=True, exist_ok=True)
    written = {}
    for dataset in dict.fromkeys(row.dataset for row in rows):
        print_fn(f"figures: {dataset}")
        entry = written.setdefault(dataset, {"samples": figures / f"{dataset}-samples.png", "rows": {}})
        _close(samples_figure([row for row in rows if row.dataset == dataset], entry["samples"], seed=seed))
        measured = {row.label: row.metrics for row in rows if row.dataset == dataset}
        if any("class_fraction_0" in metrics for metrics in measured.values()):
            entry["classes"] = figures / f"{dataset}-classes.png"
            _close(class_histogram_figure(measured, entry["classes"]))
    for row in rows:
        row_figures = {"losses": figures / f"{row.experiment.name}-losses.png"}
        _close(plots.loss_curves(row.run_dir / "history.csv", title=f"{row.label} on {row.dataset}",
                                 path=row_figures["losses"]))
        row_figures.update(vae_figures(row, figures, data_dir) if row.experiment.model == "vae"
                           else gan_figures(row, figures, seed))
        written[row.dataset]["rows"][row.experiment.name] = row_figures
    return written


# ----------------------------------------------------------------------------------------------
# The README
# ----------------------------------------------------------------------------------------------


def hardware():
    """One line naming the CPU, its core count and any GPU."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    import tensorflow as tf

    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    return f"{cpu}, {os.cpu_count()} cores, {'GPU: ' + ', '.join(gpus) if gpus else 'no GPU'}"


def _versions_line():
    from gencompare import train

    versions = train.library_versions()
    return ", ".join(f"{name} {versions[name]}" for name in ("gencompare", "python", "tensorflow", "keras", "numpy"))


def _shown_path(path):
    """`path` relative to the working directory when it lies inside it (no home folders in reports)."""
    path = pathlib.Path(path).resolve()
    try:
        return path.relative_to(pathlib.Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def _relative(path, out):
    return pathlib.Path(os.path.relpath(path, out)).as_posix()


def _image(path, out, alt):
    return f"![{alt}]({_relative(path, out)})"


def missing_datasets_note(rows):
    """A sentence naming the face sets with experiments that are not present."""
    present = {row.dataset for row in rows}
    missing = [name for name in profiles.FACE_DATASETS if name not in present]
    if not missing:
        return None
    return (f"Not in this report (files not present): {', '.join(missing)}. `python -m gencompare data "
            "download NAME` fetches one (Kaggle credentials needed), then rerun this command.")


def failures_note(failures):
    """Lines naming the runs that diverged and were left out."""
    if not failures:
        return None
    lines = ["**Runs that diverged and are left out** (their last good checkpoint is kept):", ""]
    return "\n".join(lines + [f"* `{name}`: {message}" for name, message in failures])


def settings_line(rows):
    """How the runs trained — precision, train steps per call, XLA — read from their `config.json`."""
    described = {}
    for row in rows:
        resolved = resolved_config(row.run_dir)
        described[row.experiment.name] = (
            f"{resolved['precision']}, {resolved['steps_per_execution']} train step(s) per call, "
            f"XLA {'on' if resolved['jit_compile'] else 'off'}" if "precision" in resolved else "not recorded"
        )
    if not described:
        return None
    kinds = set(described.values())
    if len(kinds) == 1:
        return f"* **Training settings:** {kinds.pop()} (every run)."
    return "* **Training settings:** " + "; ".join(f"`{name}` {text}" for name, text in described.items()) + "."


def readme_text(rows, figures, out, *, profile, seed, wall_seconds, runs, failures=()):
    """The whole `README.md` of the report."""
    trained = sum(not row.reused for row in rows)
    lines = [
        "# VAE or GAN? The generated report",
        "",
        f"Generated by `python -m gencompare report --profile {profile.name}` on "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}. Every number and sentence below is computed from the run "
        f"folders under `{_shown_path(runs)}` used by that invocation ({trained} trained by it, {len(rows) - trained} "
        "reused); nothing is typed in by hand.",
        "",
        f"* **Profile:** `{profile.name}` — {profile.description}.",
        f"* **Hardware:** {hardware()}.",
        *filter(None, [settings_line(rows)]),
        f"* **Libraries:** {_versions_line()}.",
        f"* **Wall time of this invocation:** {wall_seconds:.0f} s.",
        f"* **Seed:** {seed} (weights, noise, shuffling, sample latents and metric subsets).",
        f"* **Metrics:** {profile.evaluation_count} samples against up to as many held-out test images.",
        "",
    ]
    for note in (profile_caveat(profile), missing_datasets_note(rows), failures_note(failures)):
        if note:
            lines += [note, ""]
    for dataset, entry in figures.items():
        lines += _dataset_section(rows, dataset, entry, out)
    lines += _metric_notes()
    return "\n".join(lines) + "\n"


def _dataset_section(rows, dataset, entry, out):
    chosen = [row for row in rows if row.dataset == dataset]
    lines = [f"## {dataset}", "", metrics_table(chosen), ""]
    lines += [f"* {sentence}" for sentence in dataset_conclusions(rows, dataset)]
    lines += ["", _image(entry["samples"], out, f"{dataset} samples"), ""]
    if "classes" in entry:
        lines += [_image(entry["classes"], out, f"{dataset} class histogram"), ""]
    for row in chosen:
        row_figures = entry["rows"][row.experiment.name]
        lines += [f"### {row.label} ({row.experiment.name})", ""]
        lines += [_image(path, out, f"{row.experiment.name} {name}") for name, path in row_figures.items()]
        lines.append("")
    return lines


def _metric_notes():
    return [
        "## Reading the numbers",
        "",
        "* **classifier-FID**: Fréchet distance between features of the project's MNIST classifier on samples "
        "and on test digits (lower is better). **precision / recall**: share of samples among the k=3 nearest-"
        "neighbour balls of real digits, and the reverse. **classes covered / class KL**: the classifier's "
        "class histogram of the samples (a collapsed GAN covers few classes).",
        "* **SWD**: sliced Wasserstein distance between 7×7 neighbourhoods of the Laplacian-pyramid levels of "
        "samples and test images, averaged over levels (Karras et al. 2018; papers print it ×10³, this table "
        "does not; lower is better). It needs no pretrained network, so it is the one sample metric for faces "
        "here: Inception-based FID needs ImageNet weights that are not shipped.",
        "* **ELBO**: held-out evidence lower bound per image with the VAE's own reconstruction loss (higher is "
        "better; comparable only between VAEs with the same loss).",
        "* **training time / images/s**: wall time of the training epochs; the rate leaves out the first epoch "
        "(tracing and compilation) when there are more.",
        "* **Where the numbers come from**: each run folder's `metrics-n<count>-seed<seed>.json` (computed once "
        "per trained model, recomputed when `model.keras` is newer), `timing.json` (epoch wall times) and "
        "`config.json` (preset, images, epochs, library versions).",
        "",
    ]


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------


def default_out(profile):
    """`reports/` (the committed report), or the git-ignored `reports/smoke/` for the smoke profile."""
    root = profiles.project_root() / "reports"
    return root / "smoke" if profile.name == "smoke" else root


def make_report(profile=None, *, out=None, runs=None, datasets=None, seed=0, data_dir=None, print_fn=print):
    """Trains or reuses the runs, evaluates them, writes `out/README.md` and `out/figures/`.

    Returns:
        `(readme path, rows)`.
    """
    started = time.perf_counter()
    profile = profiles.get_profile(profile)
    out = pathlib.Path(out) if out is not None else default_out(profile)
    runs = pathlib.Path(runs) if runs is not None else profiles.runs_dir(profile)
    failures = []
    rows = collect(profile, runs=runs, datasets=datasets, seed=seed, data_dir=data_dir, print_fn=print_fn,
                   failures=failures)
    if not rows:
        raise ValueError("Every run diverged; nothing to report. See the messages above.")
    figures = write_figures(rows, out / FIGURES_FOLDER, seed=seed, data_dir=data_dir, print_fn=print_fn)
    text = readme_text(rows, figures, out, profile=profile, seed=seed, runs=runs, failures=failures,
                       wall_seconds=time.perf_counter() - started)
    readme = out / README_FILE
    files.write_text_atomic(readme, text)
    print_fn(f"Wrote {readme} ({len(rows)} runs, {time.perf_counter() - started:.0f} s).")
    return readme, rows


REPORT_EXAMPLES = """\
examples:
  python -m gencompare report                       # profile from GENCOMPARE_PROFILE (default smoke)
  python -m gencompare report --profile quick       # about an hour on a 2-core CPU; writes reports/
  python -m gencompare report --profile quick --datasets mnist cats --out /tmp/report
"""


def _profile_name(text):
    """argparse type of `--profile`: checked at once, before anything heavy is imported."""
    try:
        return profiles.get_profile(text).name
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer, got {text!r}.")
    return value


def add_report_arguments(parser):
    """The options of `gencompare report`."""
    parser.add_argument("--profile", type=_profile_name, default=None, help=f"one of {', '.join(profiles.PROFILES)} "
                        f"(default: ${profiles.ENVIRONMENT_VARIABLE}, else {profiles.DEFAULT_PROFILE})")
    parser.add_argument("--out", default=None, help="output folder (default: reports/; reports/smoke/ for smoke)")
    parser.add_argument("--runs", default=None, help="folder of the run folders (default: runs/PROFILE)")
    parser.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                        help="datasets to include (default: every dataset whose files are present)")
    parser.add_argument("--seed", type=_seed, default=0, help="the one seed of every run and metric (default 0)")
    parser.add_argument("--data-dir", default=None, help="datasets folder (default: $GENCOMPARE_DATA)")
    return parser


def add_report_command(subparsers):
    """Adds `report` to the `gencompare` command line (see `gencompare.cli.COMMANDS`)."""
    parser = subparsers.add_parser(
        "report", help="train or reuse every experiment, measure them, write reports/README.md",
        description=__doc__.split("\n\n")[0], epilog=REPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_report_arguments(parser)
    parser.set_defaults(handler=report_command)
    return parser


def report_command(arguments):
    """Runs `make_report` from parsed arguments; returns the exit status."""
    make_report(arguments.profile, out=arguments.out, runs=arguments.runs, datasets=arguments.datasets,
                seed=arguments.seed, data_dir=arguments.data_dir)
    return 0


def main(argv=None):
    """`gencompare report` on its own (until it is wired into `gencompare.cli`); returns the exit status."""
    from gencompare import cli

    parser = add_report_arguments(cli.ArgumentParser(prog=f"{cli.PROGRAM} report", epilog=REPORT_EXAMPLES,
                                                     formatter_class=argparse.RawDescriptionHelpFormatter))
    arguments = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return report_command(arguments)
    except Exception as error:  # noqa: BLE001 - `report_error` re-raises what the user cannot fix
        return cli.report_error(error)


if __name__ == "__main__":
    raise SystemExit(main())
