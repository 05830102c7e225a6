"""Profiles: one setting chooses how much data and how many epochs every experiment gets.

    GENCOMPARE_PROFILE=quick jupyter lab notebooks/        # or: python -m gencompare report --profile quick

* `smoke`: a few hundred images and two epochs per experiment, so that every notebook runs under nbval
  in CI in a few minutes on 2 CPU cores. The pictures are noise-like: it checks that the code runs.
* `quick`: what a CPU user can run in about an hour, all experiments together, with the CPU-friendly
  `faces64_small` GAN on faces. Measured on a 2-core AMD EPYC: the whole `report --profile quick`
  for MNIST + cats + anime took 23 minutes with the default (auto) settings, 33 in float32.
* `full`: each seed's own hyper-parameters (its preset's batch size and epochs, all images); meant
  for a GPU.

`EXPERIMENTS` is the one table of experiments × profiles. The notebooks and the report both read
it (through `run_experiment`), so they train and show the same runs: a run trained by a notebook is
reused by the report and the other way round. Runs go to `runs/<profile>/<experiment>-seed<seed>/`
(git-ignored); notebooks write their figures to `reports/<profile>/` (git-ignored), never over the
committed report in `reports/README.md` and `reports/figures/`.
"""

import dataclasses
import json
import os
import pathlib
import shutil

ENVIRONMENT_VARIABLE = "GENCOMPARE_PROFILE"
DEFAULT_PROFILE = "smoke"
FACE_DATASETS = ("cats", "anime", "celeba", "comics")


@dataclasses.dataclass(frozen=True)
class Profile:
    """How big every experiment is, and how it is measured.

    Attributes:
        name: `"smoke"`, `"quick"` or `"full"`.
        description: one line for the report and the notebooks.
        evaluation_count: generated images (and at most as many held-out test images) per metric.
        sample_every: epochs between the fixed-latent progress grids.
        checkpoint_every: epochs between checkpoints.
        jit_compile: `"auto"`, `"on"` or `"off"` (smoke turns XLA off: compiling costs more than
            its few steps gain).
        disposable: a run folder trained with other settings (an older version of the table) is
            deleted and retrained instead of being an error; only for runs that cost seconds.
    """

    name: str
    description: str
    evaluation_count: int
    sample_every: int
    checkpoint_every: int
    jit_compile: str
    disposable: bool = False


PROFILES = {
    profile.name: profile
    for profile in (
        Profile("smoke", "a few hundred images, 2 epochs: checks that everything runs (CI, about a minute "
                         "of training); the pictures are not meant to look like anything", 200, 1, 1, "off",
                disposable=True),
        Profile("quick", "subsets and a few epochs sized for about an hour on a 2-core CPU, the GAN on "
                         "faces narrowed to faces64_small", 2000, 1, 5, "auto"),
        Profile("full", "each seed's own hyper-parameters (preset batch size and epochs, all images): "
                        "hours on a GPU", 10_000, 5, 10, "auto"),
    )
}


@dataclasses.dataclass(frozen=True)
class Budget:
    """What one experiment gets under one profile; None means the preset's own value.

    Attributes:
        preset: the preset the model is built from.
        limit: training images (a deterministic prefix of the training split); None: all.
        epochs: epochs; None: the preset's.
        batch_size: batch size; None: the preset's.
    """

    preset: str
    limit: int | None = None
    epochs: int | None = None
    batch_size: int | None = None

    def describe(self):
        """One line for progress messages and notebooks, e.g. "preset mnist, 512 images, 2 epoch(s)"."""
        images = "all images" if self.limit is None else f"{self.limit} images"
        epochs = "the preset's epochs" if self.epochs is None else f"{self.epochs} epoch(s)"
        return f"preset {self.preset}, {images}, {epochs}"


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One row of the experiment table.

    Attributes:
        name: e.g. `"mnist-vae"`; also the run folder's name.
        model: `"vae"` or `"gan"`.
        dataset: the dataset it trains on.
        title: how tables and figures label it, e.g. `"VAE"`.
        budgets: `{profile name: Budget}`.
        from_vae: for a VAE→GAN, the name of the VAE experiment whose trained decoder becomes the
            generator.
        generator_like: for a GAN from scratch that is the VAE→GAN's control, the name of the VAE
            experiment whose decoder *architecture* (not weights) the generator copies.
    """

    name: str
    model: str
    dataset: str
    title: str
    budgets: dict
    from_vae: str | None = None
    generator_like: str | None = None

    def budget(self, profile):
        """The `Budget` under a profile name or `Profile`."""
        return self.budgets[get_profile(profile).name]


def _budgets(smoke, quick, full):
    return {"smoke": smoke, "quick": quick, "full": full}


def _face_experiments(dataset, vae_preset, full_gan_preset, quick_limit):
    """The VAE and the GAN of one face set (the GAN is faces64_small except under `full`)."""
    return (
        Experiment(f"{dataset}-vae", "vae", dataset, "VAE", _budgets(
            Budget(vae_preset, limit=256, epochs=2, batch_size=32),
            Budget(vae_preset, limit=quick_limit, epochs=8),
            Budget(vae_preset),
        )),
        Experiment(f"{dataset}-gan", "gan", dataset, "GAN", _budgets(
            Budget("faces64_small", limit=128, epochs=2, batch_size=32),
            Budget("faces64_small", limit=quick_limit, epochs=5),
            Budget(full_gan_preset),
        )),
    )


# The VAE→GAN and its control train the same number of adversarial epochs on the same images.
_MNIST_GAN_SMOKE = Budget("mnist", limit=512, epochs=2, batch_size=64)
_MNIST_GAN_QUICK = Budget("mnist", limit=20_000, epochs=6)

EXPERIMENTS = (
    Experiment("mnist-vae", "vae", "mnist", "VAE", _budgets(
        Budget("mnist", limit=512, epochs=2, batch_size=64),
        Budget("mnist", epochs=6),
        Budget("mnist"),
    )),
    Experiment("mnist-vae-2d", "vae", "mnist", "VAE, 2-D latent", _budgets(
        Budget("mnist_2d", limit=512, epochs=2, batch_size=64),
        Budget("mnist_2d", epochs=6),
        Budget("mnist_2d"),
    )),
    Experiment("mnist-gan", "gan", "mnist", "GAN", _budgets(
        _MNIST_GAN_SMOKE, _MNIST_GAN_QUICK, Budget("mnist"),
    )),
    Experiment("mnist-vae-gan", "gan", "mnist", "VAE→GAN", _budgets(
        _MNIST_GAN_SMOKE, _MNIST_GAN_QUICK, Budget("mnist"),
    ), from_vae="mnist-vae"),
    Experiment("mnist-gan-scratch", "gan", "mnist", "GAN from scratch, same generator", _budgets(
        _MNIST_GAN_SMOKE, _MNIST_GAN_QUICK, Budget("mnist"),
    ), generator_like="mnist-vae"),
    *_face_experiments("cats", "cats", "cats", 8000),
    *_face_experiments("anime", "anime", "faces64", 8000),
    *_face_experiments("celeba", "celeba", "faces64", 8000),
    *_face_experiments("comics", "comics", "faces64", 8000),
)


# ----------------------------------------------------------------------------------------------
# Looking things up
# ----------------------------------------------------------------------------------------------

def get_profile(name=None):
    """The `Profile` called `name`; None reads `GENCOMPARE_PROFILE` (default `smoke`).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(name, Profile):
        return name
    if name is None:
        name = os.environ.get(ENVIRONMENT_VARIABLE, "").strip() or DEFAULT_PROFILE
    if name not in PROFILES:
        source = f" (from {ENVIRONMENT_VARIABLE})" if name == os.environ.get(ENVIRONMENT_VARIABLE, "").strip() else ""
        raise ValueError(f"Unknown profile {name!r}{source}; choose one of {', '.join(PROFILES)}.")
    return PROFILES[name]


def get_experiment(name):
    """The `Experiment` called `name`.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    for experiment in EXPERIMENTS:
        if experiment.name == name:
            return experiment
    raise ValueError(f"Unknown experiment {name!r}; known: {', '.join(e.name for e in EXPERIMENTS)}.")


def dataset_present(dataset, data_dir=None):
    """Whether a dataset's files are on disk (cheap: never decodes, never downloads)."""
    from gencompare import data

    info = data.dataset_info(dataset, data_dir)
    return bool(info["found"])


def experiments(datasets=None, *, data_dir=None):
    """The experiments to run: all of `datasets` (default: every dataset in the table that is present).

    Raises:
        ValueError: for a dataset name with no experiment.
    """
    known = list(dict.fromkeys(experiment.dataset for experiment in EXPERIMENTS))
    if datasets is None:
        datasets = [name for name in known if dataset_present(name, data_dir)]
    unknown = sorted(set(datasets) - set(known))
    if unknown:
        raise ValueError(f"No experiment uses {', '.join(unknown)}; datasets with experiments: {', '.join(known)}.")
    return [experiment for experiment in EXPERIMENTS if experiment.dataset in datasets]


# ----------------------------------------------------------------------------------------------
# Folders
# ----------------------------------------------------------------------------------------------

def project_root():
    """The repository root when the package runs from a checkout, else the current folder."""
    root = pathlib.Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else pathlib.Path.cwd()


def runs_dir(profile=None, root=None):
    """Where the runs of a profile live: `<root>/runs/<profile>` (root: `project_root()`)."""
    return pathlib.Path(root or project_root()) / "runs" / get_profile(profile).name


def scratch_figures_dir(profile=None, root=None):
    """Where notebooks save figures: `<root>/reports/<profile>/` (git-ignored, never the real report)."""
    return pathlib.Path(root or project_root()) / "reports" / get_profile(profile).name


def run_folder(experiment, profile=None, *, seed=0, runs=None):
    """The run folder of an experiment: `<runs>/<experiment>-seed<seed>` (runs: `runs_dir(profile)`)."""
    experiment = _as_experiment(experiment)
    return pathlib.Path(runs or runs_dir(profile)) / f"{experiment.name}-seed{seed}"


def _as_experiment(experiment):
    return experiment if isinstance(experiment, Experiment) else get_experiment(experiment)


# ----------------------------------------------------------------------------------------------
# Settings and training
# ----------------------------------------------------------------------------------------------

def generator_spec_of(vae_preset, value_range=(-1, 1)):
    """The generator spec of a VAE preset's decoder, with the output activation of `value_range`."""
    from gencompare.models.vae import VAE

    spec = dict(VAE.preset(vae_preset).model["decoder"])
    spec["output_activation"] = "tanh" if tuple(value_range) == (-1, 1) else "sigmoid"
    return spec


def run_settings(experiment, profile=None, *, seed=0, runs=None):
    """The `gencompare.train.run` settings of an experiment under a profile, as a plain dict.

    A VAE→GAN's `from_vae` points at its VAE experiment's run folder; a control GAN gets the VAE's
    decoder architecture and latent size through `model_overrides` and `latent_dim`.
    """
    experiment, profile = _as_experiment(experiment), get_profile(profile)
    budget = experiment.budget(profile)
    settings = {
        "model": experiment.model, "preset": budget.preset, "dataset": experiment.dataset,
        "epochs": budget.epochs, "batch_size": budget.batch_size, "limit": budget.limit, "seed": seed,
        "sample_every": profile.sample_every, "checkpoint_every": profile.checkpoint_every,
        "jit_compile": profile.jit_compile,
    }
    if experiment.from_vae:
        settings["from_vae"] = str(run_folder(experiment.from_vae, profile, seed=seed, runs=runs))
    if experiment.generator_like:
        from gencompare.models.vae import VAE

        vae_preset = get_experiment(experiment.generator_like).budget(profile).preset
        settings["model_overrides"] = {"generator": generator_spec_of(vae_preset)}
        settings["latent_dim"] = VAE.preset(vae_preset).model["latent_dim"]
    return settings


def dependencies(experiment):
    """Names of the experiments that must finish before this one (its VAE, for a VAE→GAN)."""
    experiment = _as_experiment(experiment)
    return [experiment.from_vae] if experiment.from_vae else []


def _plain_json(value):
    return json.loads(json.dumps(value))


def run_experiment(experiment, profile=None, *, seed=0, runs=None, data_dir=None, verbose=0, print_fn=print):
    """Trains an experiment into its run folder, or reuses the run if it has finished.

    An unfinished run (killed midway) resumes from its last checkpoint. A VAE→GAN first makes sure
    its VAE has been trained.

    Args:
        experiment: an `Experiment` or its name.
        profile: a profile name or `Profile`; None reads `GENCOMPARE_PROFILE`.
        seed: the one seed of the run (weights, noise, shuffling, sample latents).
        runs: the folder holding the run folders; default `runs_dir(profile)`.
        data_dir: the datasets' folder (default `GENCOMPARE_DATA`).
        verbose: Keras progress mode for training (0 silent, 1 bar, 2 a line per epoch).
        print_fn: where the one-line messages go.

    Returns:
        The `gencompare.train.RunResult` (run folder, trained model, history rows).

    Raises:
        ValueError: if the run folder exists but was trained with other settings (the message says
            which, and what to do).
    """
    from gencompare import train

    experiment, profile = _as_experiment(experiment), get_profile(profile)
    for dependency in dependencies(experiment):
        if not is_finished(dependency, profile, seed=seed, runs=runs):
            run_experiment(dependency, profile, seed=seed, runs=runs, data_dir=data_dir, verbose=verbose,
                           print_fn=print_fn)
    settings = train.RunSettings(**run_settings(experiment, profile, seed=seed, runs=runs))
    folder = run_folder(experiment, profile, seed=seed, runs=runs)
    different = _differing_settings(folder, settings)
    if different and profile.disposable:
        print_fn(f"{folder} was trained with other settings; retraining it ({profile.name} runs are disposable).")
        shutil.rmtree(folder)
    elif different:
        raise ValueError(
            f"{folder} was trained with other settings ({', '.join(different)} differ from the profile "
            f"table). Delete or move that folder to retrain it, or choose another runs folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    run = train.Experiment(settings, folder, data_dir=data_dir, verbose=verbose, print_fn=print_fn)
    run.extra_callbacks.append(epoch_timer(folder / TIMING_FILE, run.training["batch_size"]))
    return run.train()


def is_finished(experiment, profile=None, *, seed=0, runs=None):
    """Whether the experiment's run folder holds a model trained with the table's current settings."""
    from gencompare import train

    experiment, profile = _as_experiment(experiment), get_profile(profile)
    folder = run_folder(experiment, profile, seed=seed, runs=runs)
    settings = train.RunSettings(**run_settings(experiment, profile, seed=seed, runs=runs))
    return (folder / "model.keras").is_file() and not _differing_settings(folder, settings)


def _differing_settings(folder, settings):
    """Names of the settings in which a run folder's `config.json` differs from `settings`."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        return []
    stored = json.loads(config_path.read_text())["run"]
    wanted = _plain_json(settings.to_dict())
    return sorted(key for key in set(stored) | set(wanted) if stored.get(key) != wanted.get(key))


# ----------------------------------------------------------------------------------------------
# Training time
# ----------------------------------------------------------------------------------------------

TIMING_FILE = "timing.json"


def read_timing(run_dir):
    """A run's training time: `{"epochs": [{"epoch", "seconds", "images"}, ...]}` ({} if not timed)."""
    path = pathlib.Path(run_dir) / TIMING_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def training_speed(run_dir):
    """`(seconds, images per second)` of a run's training epochs, or `(None, None)` if not timed.

    The first epoch includes tracing and compilation; with more than one epoch the rate is taken
    over the later ones, which is the rate a longer run would see.
    """
    epochs = read_timing(run_dir).get("epochs", [])
    if not epochs:
        return None, None
    seconds = sum(entry["seconds"] for entry in epochs)
    steady = epochs[1:] or epochs
    steady_seconds = sum(entry["seconds"] for entry in steady)
    rate = sum(entry["images"] for entry in steady) / steady_seconds if steady_seconds > 0 else None
    return seconds, rate


def epoch_timer(path, batch_size):
    """A Keras callback that records each epoch's wall time and image count in `path` (JSON).

    Epochs run again after a resume replace their old entries. (Built by a function so that importing
    this module does not import TensorFlow.)
    """
    import time

    import keras

    from gencompare import files

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            entry = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self.started, 3),
                     "images": int((self.params or {}).get("steps") or 0) * int(batch_size)}
            timing = read_timing(path.parent) or {"epochs": []}
            timing["epochs"] = [old for old in timing["epochs"] if old["epoch"] != entry["epoch"]] + [entry]
            files.write_json_atomic(path, timing)

    return EpochTimer()
