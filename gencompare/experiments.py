"""Experiments: the table of experiments × profiles, and one handle per run of an experiment.

    from gencompare import experiments

    result = experiments.run("mnist-vae")       # trains runs/<profile>/mnist-vae-seed0, or reuses it
    result.model, result.metrics                # the trained VAE and its evaluation (cached)

One setting, the **profile**, chooses how much data and how many epochs every experiment gets
(`GENCOMPARE_PROFILE=quick jupyter lab notebooks/`, or `python -m gencompare report --profile quick`):

* `smoke`: a few hundred images and two epochs per experiment, so that every notebook runs under nbval
  in CI in a few minutes on 2 CPU cores. The pictures are noise-like: it checks that the code runs.
* `quick`: what a CPU user can run in about half an hour, all experiments together, on the fast
  presets (`QUICK_EPOCHS`); the README gives the measured time of `report --profile quick`.
* `full`: each seed's own hyper-parameters (its preset's batch size and epochs, all images); meant
  for a GPU.

`EXPERIMENTS` is the one table of experiments × profiles. A `Run` (experiment, profile, seed, runs
folder) works out its run folder, its `gencompare.runs.RunSettings` and whether it has finished once,
and offers `train()` and `evaluate()`. The notebooks and the report both go through it, so they train
and show the same runs: a run trained by a notebook is reused by the report and the other way round.
Runs go to `runs/<profile>/<experiment>-seed<seed>/` (git-ignored); notebooks write their figures to
`reports/<profile>/` (git-ignored), never over the committed report in `reports/README.md` and
`reports/figures/`.
"""

import dataclasses
import os
import pathlib
import shutil
import time

from gencompare import files, runs as run_files

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
        curve_points: evaluation points during each run (`gencompare.curves.schedule`), for the
            quality-against-time curves.
        curve_count: samples per curve point (fewer than `evaluation_count`: the curve is cheap).
        disposable: a run folder trained with other settings (an older version of the table) is
            deleted and retrained instead of being an error; only for runs that cost seconds.
    """

    name: str
    description: str
    evaluation_count: int
    sample_every: int
    checkpoint_every: int
    jit_compile: str
    curve_points: int = 8
    curve_count: int = 1000
    disposable: bool = False


PROFILES = {
    profile.name: profile
    for profile in (
        Profile("smoke", "a few hundred images, 2 epochs: checks that everything runs (CI, about a minute "
                         "of training); the pictures are not meant to look like anything", 200, 1, 1, "off",
                curve_points=2, curve_count=100, disposable=True),
        Profile("quick", "the fast presets, sized so that a dataset's VAE and GAN train about equally long and "
                         "the whole report takes about half an hour on a 2-core CPU (the README gives the measured time)",
                2000, 1, 5, "auto",
                curve_points=5, curve_count=500),
        Profile("full", "each seed's own hyper-parameters (preset batch size and epochs, all images): "
                        "hours on a GPU", 10_000, 5, 10, "auto", curve_points=10, curve_count=2000),
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
        learned_prior_of: for a "VAE, learned prior" row, the name of the VAE experiment whose
            trained model it shows, sampled from the Gaussian mixture fitted to its training codes
            (`LEARNED_PRIOR`) instead of N(0, I): same run folder, same model, another sampling rule.
    """

    name: str
    model: str
    dataset: str
    title: str
    budgets: dict
    from_vae: str | None = None
    generator_like: str | None = None
    learned_prior_of: str | None = None

    def budget(self, profile):
        """The `Budget` under a profile name or `Profile`."""
        return self.budgets[get_profile(profile).name]


def _budgets(smoke, quick, full):
    return {"smoke": smoke, "quick": quick, "full": full}


# The quick profile's budgets: the fast presets (tuned for quality per CPU-second), and per dataset
# the same training wall-clock for the VAE and the GAN on a 2-core CPU, realised as a fixed number of
# images seen (images × epochs) so that runs are reproducible. See README: Main command.
# Measured (2-core AMD EPYC with AVX-512 BF16, mixed bfloat16, report of 2026-11-26, 23:09): an MNIST
# VAE epoch 20-22 s and an MNIST GAN epoch (batch 32; `mnist_fast` has a layer more in each network)
# 45-49 s, hence 4 VAE epochs (81 s) against 2 GAN epochs (99 s; benchmark seeds reach classifier-FID
# 3.9-6.4 after 2 epochs); 5 VAE epochs of 8 000 faces 51-52 s against 3 GAN epochs 50 s (`cats_fast`,
# batch 16) and 36 s (`faces64_fast`, batch 32). In float32 on a CPU without bfloat16 (report of
# 2026-11-26, 20:26) a MNIST VAE epoch took 45-56 s, 5 face-VAE epochs 118-123 s and the face GANs
# 107-132 s.
QUICK_FACE_IMAGES = 8000
QUICK_EPOCHS = {"mnist-vae": 4, "mnist-gan": 2, "mnist-vae-2d": 1, "mnist-vae-gan": 2, "face-vae": 5, "face-gan": 3}


def _face_experiments(dataset, vae_preset, full_gan_preset, quick_vae_preset, quick_gan_preset):
    """The VAE (and its learned-prior view) and the GAN of one face set; `smoke` trains the quick GAN
    preset for a few steps (`faces64_small`, keras.io's network at quarter width, took 3.6x as long
    per smoke run: 41 s against 11.5 s, mostly its 64x64x128 last hidden layer)."""
    vae_budgets = _budgets(
        Budget(vae_preset, limit=256, epochs=2, batch_size=32),
        Budget(quick_vae_preset, limit=QUICK_FACE_IMAGES, epochs=QUICK_EPOCHS["face-vae"]),
        Budget(vae_preset),
    )
    return (
        Experiment(f"{dataset}-vae", "vae", dataset, "VAE", vae_budgets),
        Experiment(f"{dataset}-vae-prior", "vae", dataset, "VAE, learned prior", vae_budgets,
                   learned_prior_of=f"{dataset}-vae"),
        Experiment(f"{dataset}-gan", "gan", dataset, "GAN", _budgets(
            Budget(quick_gan_preset, limit=128, epochs=2, batch_size=32),
            Budget(quick_gan_preset, limit=QUICK_FACE_IMAGES, epochs=QUICK_EPOCHS["face-gan"]),
            Budget(full_gan_preset),
        )),
    )


# The VAE→GAN and its control train the same number of adversarial epochs on the same images.
_MNIST_GAN_SMOKE = Budget("mnist", limit=512, epochs=2, batch_size=64)
_MNIST_GAN_QUICK = Budget("mnist_fast", limit=20_000, epochs=QUICK_EPOCHS["mnist-vae-gan"])

_MNIST_VAE = _budgets(
    Budget("mnist", limit=512, epochs=2, batch_size=64),
    Budget("mnist_fast", epochs=QUICK_EPOCHS["mnist-vae"]),
    Budget("mnist"),
)

EXPERIMENTS = (
    Experiment("mnist-vae", "vae", "mnist", "VAE", _MNIST_VAE),
    Experiment("mnist-vae-prior", "vae", "mnist", "VAE, learned prior", _MNIST_VAE, learned_prior_of="mnist-vae"),
    Experiment("mnist-vae-2d", "vae", "mnist", "VAE, 2-D latent", _budgets(
        Budget("mnist_2d", limit=512, epochs=2, batch_size=64),
        Budget("mnist_2d", epochs=QUICK_EPOCHS["mnist-vae-2d"]),
        Budget("mnist_2d"),
    )),
    Experiment("mnist-gan", "gan", "mnist", "GAN", _budgets(
        _MNIST_GAN_SMOKE, Budget("mnist_fast", epochs=QUICK_EPOCHS["mnist-gan"]), Budget("mnist"),
    )),
    Experiment("mnist-vae-gan", "gan", "mnist", "VAE→GAN", _budgets(
        _MNIST_GAN_SMOKE, _MNIST_GAN_QUICK, Budget("mnist"),
    ), from_vae="mnist-vae"),
    Experiment("mnist-gan-scratch", "gan", "mnist", "GAN from scratch, same generator", _budgets(
        _MNIST_GAN_SMOKE, _MNIST_GAN_QUICK, Budget("mnist"),
    ), generator_like="mnist-vae"),
    *_face_experiments("cats", "cats", "cats", "cats_fast", "cats_fast"),
    *_face_experiments("anime", "anime", "faces64", "anime_fast", "faces64_fast"),
    *_face_experiments("celeba", "celeba", "faces64", "anime_fast", "faces64_fast"),
    *_face_experiments("comics", "comics", "faces64", "anime_fast", "faces64_fast"),
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


def select(datasets=None, *, data_dir=None):
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


def _as_experiment(experiment):
    return experiment if isinstance(experiment, Experiment) else get_experiment(experiment)


# ----------------------------------------------------------------------------------------------
# One run of an experiment
# ----------------------------------------------------------------------------------------------

# 2: `evaluate` also returns the checkerboard metrics (older cached files are recomputed).
METRICS_FORMAT = 2


def generator_spec_of(vae_preset, value_range=(-1, 1)):
    """The generator spec of a VAE preset's decoder, with the output activation of `value_range`."""
    spec = dict(run_files.preset_table("vae").get(vae_preset).model["decoder"])
    spec["output_activation"] = "tanh" if tuple(value_range) == (-1, 1) else "sigmoid"
    return spec


# The learned prior of every VAE run (`VAE.fit_prior`): an ex-post Gaussian mixture on posterior means
# (Ghosh et al. 2020), fitted to the codes of at most `PRIOR_FIT_IMAGES` training images (sklearn's
# fit time grows with the count; 10 000 codes pin down 10 components well). Quality-curve points fit
# one to `CURVE_PRIOR_IMAGES` codes.
LEARNED_PRIOR = {"kind": "mixture", "components": 10}
PRIOR_FIT_IMAGES = 10_000
CURVE_PRIOR_IMAGES = 4_000

CURVE_METRIC_NAMES = ("fd_mnist", "classes_covered", "precision_mnist", "recall_mnist", "swd_mean", "elbo")


def curve_metrics(model, dataset, *, count, seed=0, data_dir=None):
    """The cheap metrics of a quality-curve point (`gencompare.curves`): on MNIST classifier-FID,
    classes covered, precision and recall; on faces SWD; for a VAE also the held-out ELBO. A fixed
    sample count and latent seed, so that the points of a run differ only by training."""
    from gencompare import metrics

    results = metrics.evaluate(model, dataset, count=count, seed=seed, data_dir=data_dir, kid_subsets=2,
                               kid_subset_size=min(100, count), progress=False)
    return {name: float(results[name]) for name in CURVE_METRIC_NAMES if name in results}


class Run:
    """One run of an experiment: its folder, settings and state, worked out once.

    Args:
        experiment: an `Experiment` or its name.
        profile: a profile name or `Profile`; None reads `GENCOMPARE_PROFILE`.
        seed: the one seed of the run (weights, noise, shuffling, sample latents, metric subsets).
        runs: the folder holding the run folders; default `runs_dir(profile)`.
        data_dir: the datasets' folder (default `GENCOMPARE_DATA`).

    Attributes:
        folder: `<runs>/<experiment>-seed<seed>`.
        settings: the `gencompare.runs.RunSettings` the table gives this run.
    """

    def __init__(self, experiment, profile=None, *, seed=0, runs=None, data_dir=None):
        self.experiment = _as_experiment(experiment)
        self.profile = get_profile(profile)
        self.seed = seed
        self.runs = pathlib.Path(runs) if runs is not None else runs_dir(self.profile)
        self.data_dir = data_dir
        self._training_images = {}  # limit -> uint8 images (see training_images)
        # A learned-prior row shows its VAE experiment's run: same folder, settings and model.
        self.source = self.sibling(self.experiment.learned_prior_of) if self.experiment.learned_prior_of else None
        self.folder = self.source.folder if self.source else self.runs / f"{self.experiment.name}-seed{seed}"
        self.settings = self.source.settings if self.source else run_files.RunSettings(**self._settings())

    def _settings(self):
        """The settings as a dict: the budget, the profile's cadence, and a VAE→GAN's or control's links."""
        budget = self.experiment.budget(self.profile)
        settings = {
            "model": self.experiment.model, "preset": budget.preset, "dataset": self.experiment.dataset,
            "epochs": budget.epochs, "batch_size": budget.batch_size, "limit": budget.limit, "seed": self.seed,
            "sample_every": self.profile.sample_every, "checkpoint_every": self.profile.checkpoint_every,
            "jit_compile": self.profile.jit_compile,
        }
        if self.experiment.from_vae:
            settings["from_vae"] = str(self.sibling(self.experiment.from_vae).folder)
        if self.experiment.generator_like:
            vae_preset = get_experiment(self.experiment.generator_like).budget(self.profile).preset
            settings["model_overrides"] = {"generator": generator_spec_of(vae_preset)}
            settings["latent_dim"] = run_files.preset_table("vae").get(vae_preset).model["latent_dim"]
        return settings

    def sibling(self, experiment):
        """The run of another experiment with this run's profile, seed and folders."""
        return Run(experiment, self.profile, seed=self.seed, runs=self.runs, data_dir=self.data_dir)

    def dependencies(self):
        """The runs that must finish before this one (its VAE, for a VAE→GAN)."""
        return [self.sibling(self.experiment.from_vae)] if self.experiment.from_vae else []

    def differing_settings(self):
        """Names of the settings in which the folder's `config.json` differs from the table's ([] if none)."""
        return run_files.differing_settings(self.folder, self.settings)

    def is_finished(self):
        """Whether the folder holds a model trained to the end with the table's current settings."""
        if not (self.folder / run_files.CONFIG_FILE).is_file():
            return False
        config = run_files.read_config(self.folder)  # read once for both checks
        if run_files.differing_settings(self.folder, self.settings, config):
            return False
        epochs = config.get("resolved", {}).get("training", {}).get("epochs")
        return epochs is not None and run_files.is_finished(self.folder, epochs)

    def train(self, *, verbose=0, print_fn=print):
        """Trains the run into its folder, or reuses it if it has finished; returns a `train.RunResult`.

        An unfinished run (killed midway) resumes from its last checkpoint; a VAE→GAN first makes
        sure its VAE has been trained.

        Raises:
            ValueError: if the folder exists but was trained with other settings (the message says
                which, and what to do).
        """
        from gencompare import train

        if self.source is not None:
            return self.source.train(verbose=verbose, print_fn=print_fn)
        for dependency in self.dependencies():
            if not dependency.is_finished():
                dependency.train(verbose=verbose, print_fn=print_fn)
        different = self.differing_settings()
        if different and self.profile.disposable:
            print_fn(f"{self.folder} was trained with other settings; retraining it "
                     f"({self.profile.name} runs are disposable).")
            shutil.rmtree(self.folder)
        elif different:
            raise ValueError(
                f"{self.folder} was trained with other settings ({', '.join(different)} differ from the profile "
                f"table). Delete or move that folder to retrain it, or choose another runs folder."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        trainer = train.Trainer(self.settings, self.folder, data_dir=self.data_dir, verbose=verbose,
                                print_fn=print_fn, evaluate=self.curve_metrics, curve_points=self.profile.curve_points)
        result = trainer.train()
        if self.experiment.model == "vae":
            self.fit_learned_prior(result.model, print_fn)
        return result

    def training_images(self, count):
        """Up to `count` of the run's training images (a prefix of its training set), as stored (uint8);
        loaded once per count (every curve point of a VAE fits its mixture to the same images)."""
        from gencompare import data

        limit = min(count, self.settings.limit or count)
        if limit not in self._training_images:
            self._training_images[limit] = data.load_images(
                self.experiment.dataset, "train", image_size=self.settings.image_size, limit=limit,
                data_dir=self.data_dir)
        return self._training_images[limit]

    def fit_learned_prior(self, model, print_fn=print):
        """Fits `LEARNED_PRIOR` to the codes of the run's training images and saves it with the model
        (`model.keras`), unless the model already holds a fitted one."""
        from gencompare import train
        from gencompare.value_range import from_uint8

        if model.prior is not None and model.prior.fitted:
            return
        started = time.perf_counter()
        images = from_uint8(self.training_images(PRIOR_FIT_IMAGES), model.value_range)
        model.fit_prior(images, seed=self.seed, **LEARNED_PRIOR)
        with run_files.locked(self.folder):
            train.save_model_file(model, self.folder / run_files.MODEL_FILE)
        print_fn(f"{self.experiment.name}: learned prior ({LEARNED_PRIOR['kind']}, {LEARNED_PRIOR['components']} "
                 f"components) fitted to {len(images)} training codes in {time.perf_counter() - started:.0f} s")

    def curve_metrics(self, model):
        """The metrics of one quality-curve point (`curve_metrics`) on this profile's sample count; for a
        VAE also its curve metric with a mixture fitted to the codes of `CURVE_PRIOR_IMAGES` training
        images at that point (key suffix `_prior`), the learned-prior row's curve."""
        values = curve_metrics(model, self.experiment.dataset, count=self.profile.curve_count, seed=self.seed,
                               data_dir=self.data_dir)
        if self.experiment.model == "vae":
            from gencompare import curves, metrics
            from gencompare.models import priors
            from gencompare.value_range import from_uint8

            images = from_uint8(self.training_images(CURVE_PRIOR_IMAGES), model.value_range)
            prior = priors.MixturePrior(model.latent_dim, **{k: v for k, v in LEARNED_PRIOR.items() if k != "kind"})
            prior.fit(model.latent_codes(images), seed=self.seed)
            metric, _ = curves.curve_metric(self.experiment.dataset)
            drawn = metrics.evaluate(priors.DecodedFrom(model, prior), self.experiment.dataset,
                                     count=self.profile.curve_count, seed=self.seed, data_dir=self.data_dir,
                                     kid_subsets=2, kid_subset_size=min(100, self.profile.curve_count),
                                     include_mode_coverage=False, progress=False)
            values[f"{metric}_prior"] = float(drawn[metric])
        return values

    def evaluate(self, model):
        """`gencompare.metrics.evaluate` of the trained model, computed once and cached in the folder.

        The cache is keyed by sample count, seed and (for a learned-prior row) the prior, and is
        discarded when `model.keras` is newer (a run trained further). A learned-prior row measures
        `model` as `sample(..., prior=...)` draws it.
        """
        from gencompare import metrics
        from gencompare.models import priors

        variant = ""
        if self.source is not None:
            model, variant = priors.WithPrior(model, LEARNED_PRIOR["kind"]), f"prior-{LEARNED_PRIOR['kind']}"
        path = run_files.metrics_file(self.folder, self.profile.evaluation_count, self.seed, variant)
        model_file = self.folder / run_files.MODEL_FILE
        if path.is_file() and (not model_file.is_file() or path.stat().st_mtime >= model_file.stat().st_mtime):
            cached = files.read_json(path)
            if cached.get("format") == METRICS_FORMAT:
                return cached["metrics"]
        results = metrics.evaluate(model, self.experiment.dataset, count=self.profile.evaluation_count,
                                   seed=self.seed, data_dir=self.data_dir, progress=False)
        results = {key: (value.item() if hasattr(value, "item") else value) for key, value in results.items()}
        files.write_json_atomic(path, {"format": METRICS_FORMAT, "metrics": results})
        return results

    def result(self, *, print_fn=print, step=""):
        """Trains or reuses the run, evaluates it, and returns a `Result`.

        Args:
            print_fn: where the progress lines go.
            step: prefix of the progress lines, e.g. `"[2/9]"`.
        """
        reused = self.is_finished()
        action = "reusing finished run" if reused else f"training ({self.experiment.budget(self.profile).describe()})"
        step = f"{step} " if step else ""
        print_fn(f"{step}{self.experiment.name}: {action} in {self.folder}")
        trained = self.train(print_fn=print_fn if not reused else (lambda *_: None))
        print_fn(f"{step}{self.experiment.name}: evaluating on {self.profile.evaluation_count} samples")
        metrics = self.evaluate(trained.model)
        seconds, rate = run_files.training_speed(self.folder)
        trainable, sampler = parameter_counts(trained.model)
        model, curve = trained.model, run_files.read_curve(self.folder)
        if self.source is not None:
            from gencompare import curves
            from gencompare.models import priors

            model = priors.WithPrior(model, LEARNED_PRIOR["kind"])
            metric, _ = curves.curve_metric(self.experiment.dataset)
            curve = [{"images": row["images"], "seconds": row["seconds"], metric: row[f"{metric}_prior"]}
                     for row in curve if f"{metric}_prior" in row]
        return Result(self.experiment, self.folder, model, trained.history, metrics, trainable, sampler,
                      seconds, rate, reused, curve)


@dataclasses.dataclass
class Result:
    """One trained and evaluated run, with everything the report and the notebooks show of it.

    Attributes:
        experiment: the `Experiment`.
        run_dir: its run folder.
        model: the trained model.
        history: the per-epoch history rows (dicts).
        metrics: `gencompare.metrics.evaluate`'s results.
        parameters: trainable parameters (encoder + decoder, or generator + discriminator).
        sampler_parameters: parameters of the network that draws images (decoder or generator).
        training_seconds: wall time of the training epochs (None if the run was not timed).
        images_per_second: training throughput (see `gencompare.runs.training_speed`).
        reused: True if the run had finished before (nothing was trained).
        curve: the quality curve's rows (`gencompare.runs.read_curve`; [] if none was recorded).
    """

    experiment: Experiment
    run_dir: pathlib.Path
    model: object
    history: list
    metrics: dict
    parameters: int
    sampler_parameters: int
    training_seconds: float | None
    images_per_second: float | None
    reused: bool
    curve: list = dataclasses.field(default_factory=list)

    @property
    def label(self):
        return self.experiment.title

    @property
    def dataset(self):
        return self.experiment.dataset


def parameter_counts(model):
    """`(trainable parameters, parameters of the sampling network)` of a VAE or a GAN."""
    import numpy as np

    trainable = int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
    sampler = model.decoder if hasattr(model, "decoder") else model.generator
    return trainable, int(sampler.count_params())


def run(experiment, profile=None, *, seed=0, runs=None, data_dir=None, print_fn=print, step=""):
    """Trains (or reuses) and evaluates one experiment: `Run(...).result(...)`.

    Args:
        experiment: an experiment name (e.g. `"mnist-gan"`) or `Experiment`.
        profile, seed, runs, data_dir: as for `Run`.
        print_fn, step: as for `Run.result`.

    Returns:
        A `Result`.
    """
    return Run(experiment, profile, seed=seed, runs=runs, data_dir=data_dir).result(print_fn=print_fn, step=step)


def run_all(profile=None, *, runs=None, datasets=None, seed=0, data_dir=None, print_fn=print, failures=None):
    """Trains or reuses, and evaluates, every experiment of the profile on the chosen datasets.

    Args:
        profile, runs, seed, data_dir: as for `Run`.
        datasets: dataset names (default: every dataset with experiments whose files are present).
        print_fn: where progress lines go.
        failures: if a list, a run that diverges (`gencompare.train.TrainingDiverged`) is appended to
            it as `(experiment name, message)` and left out, and the others go on; if None, it raises.

    Returns:
        A list of `Result`, in the order of the experiment table.
    """
    chosen = select(datasets, data_dir=data_dir)
    if not chosen:
        raise ValueError("No dataset is present: put MNIST (and any face set) under GENCOMPARE_DATA; "
                         "`python -m gencompare data info mnist` says where it is looked for.")
    from gencompare.train import TrainingDiverged

    results = []
    for index, experiment in enumerate(chosen, start=1):
        try:
            results.append(run(experiment, profile, runs=runs, seed=seed, data_dir=data_dir, print_fn=print_fn,
                               step=f"[{index}/{len(chosen)}]"))
        except TrainingDiverged as error:
            if failures is None:
                raise
            print_fn(f"{experiment.name}: diverged, left out of the report: {error}")
            failures.append((experiment.name, " ".join(str(error).split())))
    return results


# ----------------------------------------------------------------------------------------------
# The report: figures and README of a set of results
# ----------------------------------------------------------------------------------------------

SAMPLE_COUNT = 16


def write_figures(results, folder, *, seed=0, data_dir=None, print_fn=print):
    """Writes every figure of the report into `folder`; returns `{dataset: {name: path, "rows": ...}}`."""
    from gencompare import data, plots
    from gencompare.value_range import from_uint8

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for dataset in dict.fromkeys(result.dataset for result in results):
        print_fn(f"figures: {dataset}")
        chosen = [result for result in results if result.dataset == dataset]
        entry = written.setdefault(dataset, {"samples": folder / f"{dataset}-samples.png", "rows": {}})
        plots.model_samples({result.label: result.model for result in chosen}, count=SAMPLE_COUNT, seed=seed,
                            title=f"{dataset}: samples (latent seed {seed})", path=entry["samples"])
        traced = {result.label: result.curve for result in chosen if result.curve}
        if traced:
            from gencompare import curves

            metric, label = curves.curve_metric(dataset)
            entry["curves"] = folder / f"{dataset}-quality-vs-time.png"
            plots.quality_curves(traced, metric, label=f"{label} (lower is better)",
                                 title=f"{dataset}: quality against training time", path=entry["curves"])
        measured = {result.label: result.metrics for result in chosen}
        if any("class_fraction_0" in metrics for metrics in measured.values()):
            entry["classes"] = folder / f"{dataset}-classes.png"
            plots.class_histogram(measured, path=entry["classes"])
    for result in results:
        name, model = result.experiment.name, result.model
        if result.experiment.learned_prior_of:
            # The same model as its VAE row (whose figures are written); its samples are in the panel.
            written[result.dataset]["rows"][name] = {}
            continue
        row_figures = {"losses": folder / f"{name}-losses.png"}
        plots.loss_curves(result.run_dir / run_files.HISTORY_FILE, title=f"{result.label} on {result.dataset}",
                          path=row_figures["losses"])
        originals = None
        if result.experiment.model == "vae":
            images = data.load_images(result.dataset, "test", image_size=model.image_shape[0], limit=16,
                                      data_dir=data_dir)
            originals = from_uint8(images, model.value_range)
        mixture = None
        if result.experiment.model == "vae" and model.latent_dim == 2:
            mixture = two_dimensional_mixture(model, result.dataset, seed=seed, data_dir=data_dir)
        row_figures.update(plots.model_figures(model, folder, originals=originals, latents=model.latent_grid(8, seed),
                                               prefix=f"{name}-", title=f"{result.label} on {result.dataset}",
                                               mixture=mixture))
        written[result.dataset]["rows"][name] = row_figures
    return written


def two_dimensional_mixture(model, dataset, *, seed=0, data_dir=None):
    """`LEARNED_PRIOR`'s mixture fitted to a 2-D VAE's codes of `PRIOR_FIT_IMAGES` training images, as
    `(weights, means, covariances)` for the manifold figure (the model's own fitted mixture if it has one)."""
    from gencompare import data
    from gencompare.models import priors
    from gencompare.value_range import from_uint8

    if isinstance(model.prior, priors.MixturePrior) and model.prior.fitted:
        return model.prior.parameters()
    images = data.load_images(dataset, "train", image_size=model.image_shape[0], limit=PRIOR_FIT_IMAGES,
                              data_dir=data_dir)
    prior = priors.MixturePrior(2, **{key: value for key, value in LEARNED_PRIOR.items() if key != "kind"})
    prior.fit(model.latent_codes(from_uint8(images, model.value_range)), seed=seed)
    return prior.parameters()


def default_report_folder(profile):
    """`reports/` (the committed report), or the git-ignored `reports/smoke/` for the smoke profile."""
    root = project_root() / "reports"
    return root / "smoke" if get_profile(profile).name == "smoke" else root


def make_report(profile=None, *, out=None, runs=None, datasets=None, seed=0, data_dir=None, print_fn=print):
    """Trains or reuses the runs, evaluates them, writes `out/README.md` and `out/figures/`.

    Returns:
        `(readme path, results)`.
    """
    from gencompare import distribute, report, train

    started = time.perf_counter()
    profile = get_profile(profile)
    out = pathlib.Path(out) if out is not None else default_report_folder(profile)
    runs = pathlib.Path(runs) if runs is not None else runs_dir(profile)
    failures = []
    results = run_all(profile, runs=runs, datasets=datasets, seed=seed, data_dir=data_dir, print_fn=print_fn,
                      failures=failures)
    if not results:
        raise ValueError("Every run diverged; nothing to report. See the messages above.")
    figures = write_figures(results, out / report.FIGURES_FOLDER, seed=seed, data_dir=data_dir, print_fn=print_fn)
    present = {result.dataset for result in results}
    text = report.readme_text(
        results, figures, out, profile=profile, seed=seed, runs=runs, failures=failures,
        wall_seconds=time.perf_counter() - started, hardware=distribute.hardware_line(),
        versions=train.library_versions(), missing=[name for name in FACE_DATASETS if name not in present],
    )
    readme = out / report.README_FILE
    files.write_text_atomic(readme, text)
    print_fn(f"Wrote {readme} ({len(results)} runs, {time.perf_counter() - started:.0f} s).")
    return readme, results
