"""The report's words: metrics tables, sentences generated from the numbers, and the README text.

    python -m gencompare report                         # profile from GENCOMPARE_PROFILE, else smoke
    python -m gencompare report --profile quick         # mnist, cats, anime; README gives its measured time

`gencompare.experiments.make_report` trains (or reuses) and evaluates the runs of the experiment table
and draws the figures; this module turns those results into Markdown. Every number and sentence is
computed from the results of one invocation, never typed in. It imports nothing that trains: each
function takes `gencompare.experiments.Result`s (anything with `experiment`, `run_dir`, `metrics`,
`history`, `label`, `dataset`, `training_seconds`, `images_per_second`, `parameters`,
`sampler_parameters` and `reused`).
"""

import dataclasses
import datetime
import os
import pathlib

from gencompare import curves, runs as run_files

README_FILE = "README.md"
FIGURES_FOLDER = "figures"
# Relative differences below this are reported as "about the same".
TIE_TOLERANCE = 0.05


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
    Column("classes covered ↑", lambda row: None if (covered := row.metrics.get("classes_covered")) is None
           else f"{int(covered)}/10", 0, "higher"),
    Column("class KL ↓", _metric("class_kl_uniform"), 3, "lower"),
    Column("precision ↑", _metric("precision_mnist"), 2, "higher"),
    Column("recall ↑", _metric("recall_mnist"), 2, "higher"),
    Column("SWD ↓", _metric("swd_mean"), 3, "lower"),
    Column("grid (real = 1)", _metric("checkerboard"), 2),
    Column("ELBO ↑ (nats)", _metric("elbo"), 1, "higher"),
    Column("recon. MSE ↓", _metric("reconstruction_mse"), 4, "lower"),
    Column("training", lambda row: training_summary(row.run_dir)),
    Column("parameters", lambda row: row.parameters, 0),
    Column("decoder/generator parameters", lambda row: row.sampler_parameters, 0),
    Column("training time (s)", lambda row: row.training_seconds, 0),
    Column("training TFLOP", lambda row: None if (flops := run_files.training_flops(row.run_dir)) is None else flops / 1e12, 1),
    Column("images/s", lambda row: row.images_per_second, 0),
)


def training_summary(run_dir):
    """The preset, images and epochs recorded in a run's `config.json` (None without a record)."""
    if not (resolved := run_files.resolved_config(run_dir)):
        return None
    return f"{resolved['preset']}: {resolved['num_images']} images × {resolved.get('training', {}).get('epochs')} epochs"


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


def _format_seconds(seconds):
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def crossover_sentence(vae, gan, dataset, name="the VAE"):
    """When the GAN's curve metric drops below the VAE's on the quality-against-time curves.

    Compares the two runs' `curve.csv` rows (`row.curve`) with `gencompare.curves.crossings` on
    training seconds; states each crossing in order, or that the curves did not cross.
    """
    if vae is None or gan is None or not getattr(vae, "curve", None) or not getattr(gan, "curve", None):
        return None
    metric, what = curves.curve_metric(dataset)
    found = curves.crossings(vae.curve, gan.curve, metric, axis="seconds")
    budget = min(max(row["seconds"] for row in vae.curve), max(row["seconds"] for row in gan.curve))
    if not found:
        leader = curves.lower_throughout(vae.curve, gan.curve, metric)  # the figure's lines, as `crossings` reads them
        if leader is None:
            return None
        ahead = f"{name}'s" if leader == "a" else "the GAN's"
        return (f"Quality against training time ({name} and the GAN): the curves do not cross within the {_format_seconds(budget)} both "
                f"runs cover; {ahead} {what} is lower throughout.")
    parts = []
    for seconds, lower in found:
        images = curves.images_at(gan.curve if lower == "b" else vae.curve, seconds)
        who = "the GAN's" if lower == "b" else f"{name}'s"
        parts.append(f"{who} {what} drops below the other's after {_format_seconds(seconds)}"
                     + (f" (about {images:,} images)".replace(",", " ") if images else ""))
    return f"Quality against training time ({name} and the GAN): " + "; then ".join(parts) + "."


def prior_sentence(vae, learned, gan, dataset):
    """What the learned prior changes: one VAE sampled from N(0, I) and from its mixture, and the GAN."""
    metric, what = curves.curve_metric(dataset)
    standard, mixture, adversarial = _value(vae, metric), _value(learned, metric), _value(gan, metric)
    if standard is None or mixture is None:
        return None
    versus = "" if adversarial is None else f"; the GAN scores {adversarial:.3g}"
    return (f"Sampled from the mixture fitted to its training codes instead of N(0, I), the same VAE scores "
            f"{what} {mixture:.3g} instead of {standard:.3g}{versus} (lower is better).")


def dataset_conclusions(rows, dataset):
    """The sentences comparing the models on one dataset (only those its numbers allow).

    VAE vs GAN: mode coverage, classifier-FID, precision/recall, SWD, what only the VAE has, speed;
    and the VAE→GAN vs its control where the dataset has them.
    """
    vae, gan = _find(rows, dataset, "VAE"), _find(rows, dataset, "GAN")
    learned = _find(rows, dataset, "VAE, learned prior")
    sentences = [
        coverage_sentence(vae, gan),
        distance_sentence(vae, gan, "fd_mnist", "classifier-FID"),
        precision_recall_sentence(vae, gan),
        distance_sentence(vae, gan, "swd_mean", "sliced Wasserstein distance on image patches"),
        vae_only_sentence(vae),
        speed_sentence(vae, gan),
        prior_sentence(vae, learned, gan, dataset),
        crossover_sentence(vae, gan, dataset),
        crossover_sentence(learned, gan, dataset, name="the learned-prior VAE"),
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
# The README
# ----------------------------------------------------------------------------------------------


def versions_line(versions):
    """The library versions that decide the numbers (from `gencompare.train.library_versions()`)."""
    return ", ".join(f"{name} {versions[name]}" for name in ("gencompare", "python", "tensorflow", "keras", "numpy")
                     if name in versions)


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


def missing_datasets_note(missing):
    """A sentence naming the face sets with experiments that are not in the report."""
    if not missing:
        return None
    return (f"Not in this report (files not present, or not chosen with `--datasets`): {', '.join(missing)}. "
            "`python -m gencompare data download NAME` fetches one (Kaggle credentials needed).")


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
        resolved = run_files.resolved_config(row.run_dir)
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


def readme_text(rows, figures, out, *, profile, seed, wall_seconds, runs, hardware, versions, failures=(),
                missing=()):
    """The whole `README.md` of the report.

    Args:
        rows: the `gencompare.experiments.Result`s, in table order.
        figures: `gencompare.experiments.write_figures`' `{dataset: {name: path, "rows": ...}}`.
        out: the report folder (links are relative to it).
        profile: the `gencompare.experiments.Profile`.
        seed, wall_seconds, runs: the invocation's seed, wall time and runs folder.
        hardware: one line naming the machine (`gencompare.distribute.hardware_line()`).
        versions: `gencompare.train.library_versions()`.
        failures: `(experiment name, message)` of the runs that diverged.
        missing: face sets with experiments whose files are not present.
    """
    owners = [row for row in rows if not row.experiment.learned_prior_of]  # a learned-prior row shares a run
    trained = sum(not row.reused for row in owners)
    lines = [
        "# VAE or GAN? The generated report",
        "",
        f"Generated by `python -m gencompare report --profile {profile.name}` on "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}. Every number and sentence below is computed from the run "
        f"folders under `{_shown_path(runs)}` used by that invocation ({trained} trained by it, {len(owners) - trained} "
        "reused); nothing is typed in by hand.",
        "",
        f"* **Profile:** `{profile.name}` — {profile.description}.",
        f"* **Hardware:** {hardware}.",
        *filter(None, [settings_line(rows)]),
        f"* **Libraries:** {versions_line(versions)}.",
        f"* **Wall time of this invocation:** {wall_seconds:.0f} s.",
        f"* **Seed:** {seed} (weights, noise, shuffling, sample latents and metric subsets).",
        f"* **Metrics:** {profile.evaluation_count} samples against up to as many held-out test images.",
        "",
    ]
    for note in (profile_caveat(profile), missing_datasets_note(missing), failures_note(failures)):
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
    if "curves" in entry:
        lines += [_image(entry["curves"], out, f"{dataset} quality against training time"), ""]
    if "classes" in entry:
        lines += [_image(entry["classes"], out, f"{dataset} class histogram"), ""]
    for row in chosen:
        row_figures = entry["rows"][row.experiment.name]
        if not row_figures:
            continue
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
        "* **grid**: the samples' power-spectrum peaks where stride-2 upsampling draws a checkerboard (periods "
        "2–8 px; `metrics/checkerboard.py`) over the test images' (1: as smooth there as real images).",
        "* **ELBO**: held-out evidence lower bound per image with the VAE's own reconstruction loss (higher is "
        "better; comparable only between VAEs with the same loss).",
        "* **training time / images/s**: wall time of the training epochs; the rate leaves out the first epoch "
        "(tracing and compilation) when there are more. **Training TFLOP**: images seen × FLOPs per image of "
        "the dense and convolution layers, backward = 2 × forward (`gencompare/models/flops.py`): the compute "
        "of a run on any hardware.",
        "* **Where the numbers come from**: each run folder's `metrics-n<count>-seed<seed>.json` (computed once "
        "per trained model, recomputed when `model.keras` is newer), `timing.json` (epoch wall times) and "
        "`config.json` (preset, images, epochs, library versions).",
        "",
    ]
