"""Training runs: a preset plus overrides in, a self-describing run folder out.

    from gencompare import train

    result = train.run("vae", "mnist", epochs=2, limit=512)
    result.run_dir          # runs/mnist-vae-20250101-120000/
    train.resume(result.run_dir, epochs=4)   # continue the same run for two more epochs

A run folder holds:

* `config.json` — the arguments of `run` (`config["run"]`, so `run(**config["run"])` repeats the run),
  what they resolved to (model constructor arguments, optimizer settings, image shape), and the
  library versions.
* `history.csv` — every metric of every epoch, in `keras.callbacks.CSVLogger` format.
* `checkpoints/` — weights and optimizer state every `checkpoint_every` epochs and after the last,
  plus a backup after every epoch so that `resume` loses at most the epoch a kill interrupted.
* `samples/latent.npy` and `samples/<model>_generated_plot_e050.png` — grids from one fixed latent,
  stored so that a resumed run draws the same faces.
* `model.keras`, `loss_curves.png`, `interpolation.png` and, for a VAE, `reconstructions.png` at the end.

A `vae-gan` run trains a VAE, then a GAN whose generator starts from the VAE's decoder
(`GAN.from_vae`); its folder holds one complete run folder per phase, `vae/` and `gan/`.
"""

import dataclasses
import datetime
import pathlib
import platform
import re
import shutil
import sys

import keras
import numpy as np

from gencompare import callbacks, files

MODEL_KINDS = ("vae", "gan", "vae-gan")
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.keras"
LATENT_FILE = "latent.npy"
LOSS_CURVES_FILE = "loss_curves.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
INTERPOLATION_FILE = "interpolation.png"
SAMPLE_COUNT = 64
FIGURE_COUNT = 16
CONFIG_FORMAT = 1


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the message names the epoch, batch and metric and what to try."""


# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunSettings:
    """Everything that defines a run; stored as `config["run"]` in the run's `config.json`.

    `None` means "the preset's value". See `run` for the meaning of each field.
    """

    model: str = "vae"
    preset: str | None = None
    dataset: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    latent_dim: int | None = None
    beta: float | None = None
    reconstruction_loss: str | None = None
    gan_loss: str | None = None
    limit: int | None = None
    image_size: int | None = None
    seed: int = 0
    sample_every: int = 5
    checkpoint_every: int = 10
    summary_every: int = 1
    jit_compile: str = "auto"
    strategy: str = "default"
    precision: str = "auto"
    steps_per_execution: int | str = "auto"
    tensorboard: bool = False
    from_vae: str | None = None
    gan_preset: str | None = None
    model_overrides: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.model not in MODEL_KINDS:
            raise ValueError(f"Unknown model {self.model!r}; choose one of {', '.join(MODEL_KINDS)}.")
        if self.jit_compile not in JIT_COMPILE:
            raise ValueError(f"`jit_compile` must be one of {', '.join(JIT_COMPILE)}, got {self.jit_compile!r}.")
        for name in ("epochs", "batch_size", "latent_dim", "limit", "image_size"):
            _check_positive_int(name, getattr(self, name), allow_none=True)
        for name in ("sample_every", "checkpoint_every", "summary_every"):
            _check_positive_int(name, getattr(self, name))
        from gencompare import distribute

        distribute.check_strategy_name(self.strategy)
        distribute.check_precision(self.precision)
        distribute.check_steps_per_execution(self.steps_per_execution)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {self.seed!r}.")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive, got {self.learning_rate!r}.")
        self._check_applies()
        self.model_overrides = dict(self.model_overrides or {})

    def _check_applies(self):
        vae_only = {"beta": self.beta, "reconstruction_loss": self.reconstruction_loss}
        gan_only = {"gan_loss": self.gan_loss, "from_vae": self.from_vae, "gan_preset": self.gan_preset}
        if self.model == "gan":
            _reject_settings(vae_only, "the VAE", self.model)
        if self.model == "vae":
            _reject_settings(gan_only, "the GAN", self.model)
        if self.model == "gan" and self.from_vae and self.latent_dim is not None:
            raise ValueError("`latent_dim` comes from the VAE when the GAN starts from one; drop it.")

    @classmethod
    def from_dict(cls, data):
        """Settings from a `config["run"]` dict; `ValueError` for unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown run settings {unknown}; known settings: {sorted(known)}.")
        return cls(**data)

    def to_dict(self):
        return dataclasses.asdict(self)


def _check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _reject_settings(settings, owner, model):
    given = [name for name, value in settings.items() if value is not None]
    if given:
        raise ValueError(f"{', '.join(given)} apply to {owner} only, not to a {model} run.")


# ----------------------------------------------------------------------------------------------
# Presets and model construction
# ----------------------------------------------------------------------------------------------


def model_class(kind):
    """The model class of `"vae"` or `"gan"` (imported lazily: each pulls in TensorFlow graphs)."""
    if kind == "vae":
        from gencompare.models.vae import VAE

        return VAE
    from gencompare.models.gan import GAN

    return GAN


def resolve_preset(kind, preset, dataset):
    """The `Preset` of model `kind`: `preset` by name, else the one named after `dataset`, else mnist."""
    cls = model_class(kind)
    if preset is None:
        name = dataset_label(dataset) if dataset else "mnist"
        if name not in cls.preset_names():
            raise ValueError(
                f"No {kind.upper()} preset is named {name!r}; pick one with --preset "
                f"({', '.join(cls.preset_names())})."
            )
        preset = name
    return cls.preset(preset)


def default_gan_preset(vae_preset):
    """The GAN preset paired with a VAE preset: same name, else the first on the same dataset."""
    gan_class = model_class("gan")
    names = gan_class.preset_names()
    if vae_preset.name in names:
        return gan_class.preset(vae_preset.name)
    for name in names:
        if gan_class.preset(name).dataset == vae_preset.dataset:
            return gan_class.preset(name)
    raise ValueError(
        f"No GAN preset trains on {vae_preset.dataset!r}; pick one with --gan-preset ({', '.join(names)})."
    )


def model_arguments(preset, settings, image_shape):
    """Constructor arguments: the preset's, then the overrides, the seed and the data's image shape."""
    arguments = {**preset.model, **settings.model_overrides, "seed": settings.seed}
    for name, value in (
        ("latent_dim", settings.latent_dim),
        ("beta", settings.beta),
        ("reconstruction_loss", settings.reconstruction_loss),
    ):
        if value is not None:
            arguments[name] = value
    arguments["image_shape"] = list(image_shape)
    return arguments


def training_arguments(preset, settings):
    """The preset's training settings with the run's overrides applied."""
    training = dict(preset.training)
    for name in ("epochs", "batch_size", "learning_rate", "limit"):
        value = getattr(settings, name)
        if value is not None:
            training[name] = value
    if settings.gan_loss is not None:
        training["loss"] = settings.gan_loss
    return training


def make_optimizer(training, prefix=""):
    """An optimizer from training settings, e.g. `optimizer`, `learning_rate`, `beta_1`, `beta_2`.

    With `prefix="d_"` or `"g_"`, `d_learning_rate` etc. take precedence over the shared keys
    (GAN presets may give the two networks different settings).
    """

    def setting(name, default=None):
        return training.get(prefix + name, training.get(name, default))

    config = {"learning_rate": float(setting("learning_rate", 1e-3))}
    if setting("beta_1") is not None:
        config["beta_1"] = float(setting("beta_1"))
    if setting("beta_2") is not None:
        config["beta_2"] = float(setting("beta_2"))
    name = setting("optimizer", "adam")
    try:
        return keras.optimizers.get({"class_name": name, "config": config})
    except (ValueError, TypeError) as error:
        raise ValueError(f"Cannot build optimizer {name!r} with {config}: {error}") from None


def set_learning_rates(model, kind, training):
    """Sets the learning rate of each optimizer of a compiled model from training settings."""
    pairs = [(model.optimizer, "")] if kind == "vae" else [(model.d_optimizer, "d_"), (model.g_optimizer, "g_")]
    for optimizer, prefix in pairs:
        optimizer.learning_rate = float(training.get(prefix + "learning_rate", training["learning_rate"]))


GAN_COMPILE_OPTIONS = ("gp_weight", "d_steps", "label_smoothing", "instance_noise", "r1_weight", "r1_every")


def compile_model(model, kind, training, jit_compile, steps_per_execution=1):
    """Compiles a VAE (one optimizer) or a GAN (two optimizers, a loss and its options)."""
    jit = JIT_COMPILE[jit_compile]
    if kind == "vae":
        model.compile(optimizer=make_optimizer(training), jit_compile=jit, steps_per_execution=steps_per_execution)
        return
    options = {name: training[name] for name in GAN_COMPILE_OPTIONS if training.get(name) is not None}
    model.compile(
        d_optimizer=make_optimizer(training, "d_"),
        g_optimizer=make_optimizer(training, "g_"),
        loss=training.get("loss", "bce"),
        jit_compile=jit,
        steps_per_execution=steps_per_execution,
        **options,
    )


# ----------------------------------------------------------------------------------------------
# Run folders
# ----------------------------------------------------------------------------------------------


def dataset_label(dataset):
    """A file-name-safe label for a dataset name or path (`"mnist"`, `"/data/my faces"` → `"my_faces"`)."""
    name = pathlib.PurePath(str(dataset)).name or str(dataset)
    name = re.sub(r"\.(zip|tar|gz)$", "", name)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "data"


def create_run_dir(out, dataset, kind):
    """Creates `out/<dataset>-<kind>-<timestamp>/`, adding `-2`, `-3`, ... if the name is taken."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{dataset_label(dataset)}-{kind}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    for attempt in range(1, 1000):
        candidate = out / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise ValueError(f"Too many runs named {stem} in {out}.")


def library_versions():
    """Versions of the libraries that decide the numbers a run produces."""
    import tensorflow as tf

    import gencompare

    return {
        "gencompare": gencompare.__version__,
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "backend": keras.backend.backend(),
        "platform": platform.platform(),
    }


def write_config(run_dir, settings, resolved=None):
    """Writes `config.json`: the run settings, what they resolved to, and library versions."""
    path = pathlib.Path(run_dir) / CONFIG_FILE
    previous = files.read_json(path) if path.exists() else {}
    config = {
        "format": CONFIG_FORMAT,
        "run": settings.to_dict(),
        "resolved": resolved if resolved is not None else previous.get("resolved", {}),
        "versions": library_versions(),
        "created": previous.get("created", datetime.datetime.now().isoformat(timespec="seconds")),
        "command": previous.get("command", sys.argv),
    }
    files.write_json_atomic(path, config)
    return config


def read_config(path_or_run_dir):
    """Reads a run's `config.json` (given the file or its run folder)."""
    path = pathlib.Path(path_or_run_dir)
    if path.is_dir():
        path = path / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{path} not found: is {path.parent} a run folder written by gencompare?")
    config = files.read_json(path)
    if not isinstance(config, dict) or "run" not in config:
        raise ValueError(f"{path} is not a gencompare run configuration (it has no 'run' section).")
    return config


def fixed_latent(run_dir, latent_dim, seed):
    """The run's fixed sample latent: read from `samples/latent.npy`, or drawn once and stored."""
    from gencompare.models import base

    path = pathlib.Path(run_dir) / "samples" / LATENT_FILE
    if path.exists():
        latent = np.load(path, allow_pickle=False)
        if latent.shape[1:] != (latent_dim,):
            raise ValueError(f"{path} holds latents of size {latent.shape[1:]}, but the model's is {latent_dim}.")
        return latent
    latent = base.latent_normal(SAMPLE_COUNT, latent_dim, seed)
    with files.atomic_path(path) as temporary:
        with open(temporary, "wb") as file:
            np.save(file, latent, allow_pickle=False)
    return latent


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    """What a finished run leaves: its folder, the trained model and the history rows."""

    run_dir: pathlib.Path
    model: keras.Model
    history: list
    phases: dict = dataclasses.field(default_factory=dict)


class Experiment:
    """One training run of a VAE or a GAN in one run folder (a `vae-gan` run has two).

    Args:
        settings: the `RunSettings`.
        run_dir: the run folder (exists; holds `config.json` when resuming).
        data_dir: where the datasets live (default `GENCOMPARE_DATA`); not part of the settings,
            since it differs between machines.
        verbose: Keras progress-bar mode for `fit` (0 silent, 1 bar, 2 one line per epoch).
        vae: for a GAN that starts from a VAE, the trained VAE (else `settings.from_vae` is loaded).
        print_fn: where one-line summaries and messages go.
        extra_callbacks: more Keras callbacks for `fit` (after the run's own).
    """

    def __init__(self, settings, run_dir, *, data_dir=None, verbose=1, vae=None, print_fn=print, extra_callbacks=()):
        if settings.model == "vae-gan":
            raise ValueError("An Experiment trains one model; use `run(model='vae-gan', ...)` for both phases.")
        self.settings = settings
        self.run_dir = pathlib.Path(run_dir)
        self.data_dir = data_dir
        self.verbose = verbose
        self.vae = vae
        self.print_fn = print_fn
        self.extra_callbacks = list(extra_callbacks)
        self.kind = settings.model
        self.preset = resolve_preset(self.kind, self._preset_name(), settings.dataset)
        self.dataset = settings.dataset or self.preset.dataset
        self.training = training_arguments(self.preset, settings)
        self.images = None
        self.model = None
        self.strategy = None

    def _preset_name(self):
        if self.kind == "gan" and self.settings.gan_preset is not None:
            return self.settings.gan_preset
        return self.settings.preset

    @property
    def checkpoint_dir(self):
        return self.run_dir / "checkpoints"

    @property
    def history_path(self):
        return self.run_dir / HISTORY_FILE

    # -- set-up --------------------------------------------------------------------------------

    def load_data(self):
        from gencompare import data

        self.images = data.load_images(
            self.dataset, "train", image_size=self.settings.image_size,
            limit=self.training.get("limit"), data_dir=self.data_dir,
        )
        return self.images

    def build_model(self):
        """Seeds every random source, then builds and compiles the model.

        The model is built and compiled under the run's precision policy and inside its
        `tf.distribute` strategy's scope (`gencompare.distribute`); `batch_size` is the global batch.
        """
        from gencompare import distribute

        keras.utils.set_random_seed(self.settings.seed)
        arguments = model_arguments(self.preset, self.settings, self.images.shape[1:])
        precision = self.precision()
        with distribute.precision(precision), self.distribution().scope():
            if self.kind == "gan" and self._starts_from_vae():
                vae = self.vae or load_vae(self.settings.from_vae)
                fixed = ("generator", "image_shape", "latent_dim")
                overrides = {key: value for key, value in arguments.items() if key not in fixed}
                self.model = model_class("gan").from_vae(vae, **overrides)
            else:
                self.model = self._construct(arguments)
            compile_model(self.model, self.kind, self.training, self.settings.jit_compile,
                          self._steps_per_execution())
        self.print_fn(
            f"Precision {precision}, XLA {'on' if self.model.jit_compile else 'off'}, "
            f"{self.model.steps_per_execution} train step(s) per call"
            + (" (defaults chosen for this machine; see README: Scale and speed)." if self._uses_auto() else ".")
        )
        return self.model

    def _uses_auto(self):
        from gencompare import distribute

        settings = self.settings
        return distribute.AUTO in (settings.precision, settings.steps_per_execution, settings.jit_compile)

    def precision(self):
        """The run's precision: the setting, or for `"auto"` the one this run started with (so a resumed
        run keeps its optimizer's loss-scaling state), else `distribute.recommended_precision()`."""
        from gencompare import distribute

        if self.settings.precision != distribute.AUTO:
            return self.settings.precision
        config_path = self.run_dir / CONFIG_FILE
        started = read_config(config_path).get("resolved", {}).get("precision") if config_path.exists() else None
        return started or distribute.recommended_precision()

    def _steps_per_execution(self):
        """The setting, or 1 with several replicas: Keras 3.15 cannot run several steps per call under
        MirroredStrategy ("You must feed a value for placeholder tensor", keras-team/keras#19246)."""
        from gencompare import distribute

        steps = self.settings.steps_per_execution
        replicas = self.distribution().num_replicas_in_sync
        if steps == distribute.AUTO:
            return distribute.recommended_steps_per_execution(replicas)
        if steps > 1 and replicas > 1:
            self.print_fn(
                f"steps_per_execution={steps} is not supported by Keras with several replicas "
                "(keras-team/keras#19246); training with 1."
            )
            return 1
        return steps

    def distribution(self):
        """The run's `tf.distribute` strategy (created once; see `gencompare.distribute.make_strategy`)."""
        if self.strategy is None:
            from gencompare import distribute

            self.strategy = distribute.make_strategy(self.settings.strategy)
        return self.strategy

    def _construct(self, arguments):
        """The model; a shape error names the preset's image shape and the data's."""
        try:
            return model_class(self.kind)(**arguments)
        except ValueError as error:
            preset_shape = tuple(self.preset.model.get("image_shape", ()))
            if preset_shape and preset_shape != self.images.shape[1:]:
                raise ValueError(
                    f"Preset {self.preset.name!r} is built for {preset_shape} images but the data is "
                    f"{self.images.shape[1:]} (from --dataset/--image-size); pick a preset for this size. "
                    f"Details: {error}"
                ) from None
            raise

    def _starts_from_vae(self):
        return self.vae is not None or self.settings.from_vae is not None

    def dataset_pipeline(self, initial_epoch):
        from gencompare import data

        # A resumed run shuffles with another seed so it does not replay the first epochs' order.
        return data.to_dataset(
            self.images, self.training["batch_size"], value_range=self.model.value_range,
            seed=self.settings.seed + initial_epoch,
        )

    def resolved(self):
        return {
            "model_class": type(self.model).__name__,
            "preset": self.preset.name,
            "dataset": str(self.dataset),
            "num_images": int(len(self.images)),
            "image_shape": list(self.images.shape[1:]),
            "model_config": _json_safe(self.model.get_config()),
            "training": _json_safe(self.training),
            "from_vae": None if not self._starts_from_vae() else str(self.settings.from_vae or "the vae phase"),
            "precision": self.model.dtype_policy.name,
            "jit_compile": bool(self.model.jit_compile),
            "steps_per_execution": int(self.model.steps_per_execution),
        }

    def callbacks(self, latent):
        # Silent: `train` raises `TrainingDiverged` with the message (printing it too would repeat it).
        guard = callbacks.StopOnNaN(self.checkpoint_dir, print_fn=None)
        chosen = [
            guard,
            callbacks.HistoryCSV(self.history_path),
            callbacks.RunCheckpoint(self.checkpoint_dir, every=self.settings.checkpoint_every),
            callbacks.SampleGrid(latent, self.run_dir / "samples", every=self.settings.sample_every, prefix=self.kind),
            callbacks.LossSummary(every=self.settings.summary_every, print_fn=self.print_fn),
        ]
        if self.settings.tensorboard:
            chosen.append(keras.callbacks.TensorBoard(log_dir=str(self.run_dir / "tensorboard")))
        return guard, chosen + self.extra_callbacks

    # -- training ------------------------------------------------------------------------------

    def train(self):
        """Trains from the last checkpoint (or from scratch) to `epochs`, then writes the figures.

        Raises:
            TrainingDiverged: if a loss became NaN or Inf.
        """
        epochs = self.training["epochs"]
        if self.finished():
            self.print_fn(f"{self.run_dir} has finished its {epochs} epochs; pass more epochs to train further.")
            self.model = keras.models.load_model(self.run_dir / MODEL_FILE)
            return self.result()
        # A MultiWorkerMirroredStrategy must exist before TensorFlow runs its first op.
        self.distribution()
        self.load_data()
        self.build_model()
        write_config(self.run_dir, self.settings, self.resolved())
        latent = fixed_latent(self.run_dir, self.model.latent_dim, self.settings.seed)
        initial_epoch = self.restore()
        if initial_epoch < epochs:
            guard, callback_list = self.callbacks(latent)
            # The pipeline shuffles with its own seed; `shuffle=False` silences Keras' notice.
            self.model.fit(
                self.dataset_pipeline(initial_epoch), epochs=epochs, initial_epoch=initial_epoch,
                callbacks=callback_list, verbose=self.verbose, shuffle=False,
            )
            if guard.triggered:
                self.write_loss_curves()
                raise TrainingDiverged(f"{guard.message} {self.resume_hint()}")
        self.finish(latent)
        return self.result()

    def finished(self):
        """Whether the run has trained all its epochs and saved its model."""
        state = callbacks.last_checkpoint(self.checkpoint_dir)
        done = state is not None and state["epoch"] >= self.training["epochs"]
        return done and (self.run_dir / MODEL_FILE).exists()

    def result(self):
        return RunResult(self.run_dir, self.model, callbacks.read_history(self.history_path))

    def restore(self):
        """Loads the last checkpoint, if any; returns the number of epochs already done."""
        if callbacks.last_checkpoint(self.checkpoint_dir) is None:
            return 0
        batch = next(iter(self.dataset_pipeline(0)))
        with self.distribution().scope():
            done = callbacks.restore_checkpoint(self.model, self.checkpoint_dir, batch)
        # The checkpoint brought back the old learning rates with the optimizer state; the settings
        # win, so that a run that diverged can continue from its last good epoch more gently.
        set_learning_rates(self.model, self.kind, self.training)
        self.print_fn(f"Resuming {self.run_dir} after epoch {done}.")
        return done

    def resume_hint(self):
        lower = f"{float(self.training['learning_rate']) / 10:g}"
        return (
            f"To continue from the last good checkpoint (or restart, if there is none) with a lower learning "
            f"rate: python -m gencompare train --resume {self.run_dir} --learning-rate {lower}"
        )

    def finish(self, latent):
        """Saves the model and writes the end-of-run figures."""
        with files.atomic_path(self.run_dir / MODEL_FILE) as temporary:
            self.model.save(temporary)
        self.write_loss_curves()
        if self.kind == "vae":
            self.write_vae_figures()
        else:
            self.write_interpolation(self.model.generate, latent[:4], latent[4:8], method="slerp")

    def write_loss_curves(self):
        from gencompare import plots

        if callbacks.read_history(self.history_path):
            _close(plots.loss_curves(self.history_path, title=self.run_dir.name,
                                     path=self.run_dir / LOSS_CURVES_FILE))

    def write_vae_figures(self):
        """Originals next to reconstructions, and interpolations between encoded originals."""
        from gencompare import plots

        originals = self.figure_images()
        model = self.model
        _close(plots.reconstructions(originals, model.reconstruct(originals), value_range=model.value_range,
                                     path=self.run_dir / RECONSTRUCTIONS_FILE))
        # Up to four pairs of held-out images (a small folder dataset may hold out fewer).
        pairs = min(4, len(originals) // 2)
        if pairs:
            z_mean = keras.ops.convert_to_numpy(model.encode(originals[: 2 * pairs])[0])
            decode = lambda z: keras.ops.convert_to_numpy(model.decode(z))  # noqa: E731
            self.write_interpolation(decode, z_mean[:pairs], z_mean[pairs:])

    def write_interpolation(self, decode, z_start, z_end, method="linear"):
        from gencompare import plots

        _close(plots.interpolation(decode, z_start, z_end, steps=8, method=method,
                                   value_range=self.model.value_range, path=self.run_dir / INTERPOLATION_FILE))

    def figure_images(self):
        """`FIGURE_COUNT` held-out images (test split) scaled to the model's range, for figures."""
        from gencompare import data

        images = data.load_images(self.dataset, "test", image_size=self.settings.image_size,
                                  limit=FIGURE_COUNT, data_dir=self.data_dir)
        low, high = self.model.value_range
        return (images.astype("float32") / 255.0 * (high - low) + low).astype("float32")


def _close(figure):
    import matplotlib.pyplot as plt

    plt.close(figure)


def _json_safe(value):
    """Tuples to lists and numpy scalars to Python numbers, so the value survives JSON."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def load_vae(run_dir):
    """The trained VAE of a finished VAE run folder (`model.keras`, loaded in safe mode)."""
    path = pathlib.Path(run_dir) / MODEL_FILE
    if not path.is_file():
        raise ValueError(f"{path} not found: --from-vae needs the folder of a finished VAE run.")
    model = keras.models.load_model(path)
    if type(model).__name__ != "VAE":
        raise ValueError(f"{path} holds a {type(model).__name__}, not a VAE.")
    return model


# ----------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------


def run(model="vae", preset=None, *, out="runs", run_dir=None, data_dir=None, verbose=1, print_fn=print,
        extra_callbacks=(), **settings):
    """Trains a model from a preset and overrides, writing a run folder under `out`.

    Args:
        model: `"vae"`, `"gan"` or `"vae-gan"` (a VAE, then a GAN initialised from its decoder).
        preset: preset name (`VAE.preset_names()` / `GAN.preset_names()`); default: the preset named
            after `dataset`, else `"mnist"`. For `vae-gan` it names the VAE preset.
        out: folder under which the run folder `<dataset>-<model>-<timestamp>` is created.
        run_dir: the run folder itself instead (it must not exist yet), e.g. a fixed name that
            notebooks and reports share.
        data_dir: dataset folder (default: `GENCOMPARE_DATA`, see `gencompare.data`).
        verbose: Keras progress-bar mode (0, 1 or 2).
        print_fn: where the one-line summaries and messages go.
        extra_callbacks: more Keras callbacks for `fit` (e.g. `keras.callbacks.EarlyStopping`).
        **settings: `RunSettings` fields — `dataset` (name or path; default: the preset's),
            `epochs`, `batch_size`, `learning_rate`, `limit` (training overrides); `latent_dim`,
            `beta`, `reconstruction_loss`, `model_overrides` (a dict of constructor arguments);
            `gan_loss`, `gan_preset`, `from_vae` (a finished VAE run folder); `image_size`;
            `seed` (drives weights, noise, shuffling and the sample latent); `sample_every`,
            `checkpoint_every`, `summary_every` (epochs); `jit_compile` (`"auto"`, `"on"`, `"off"`);
            `strategy` (`"default"`, `"mirrored"`, `"multiworker"`: `batch_size` is then the global
            batch, split over the replicas), `precision` (`"auto"`, `"float32"`, `"mixed_float16"`,
            `"mixed_bfloat16"`), `steps_per_execution` (train steps per compiled call, or `"auto"`);
            `tensorboard`. The `"auto"` defaults pick the fastest settings for this machine
            (`gencompare.distribute`); `config.json` records what they resolved to under `"resolved"`.

    Returns:
        A `RunResult`.

    Raises:
        ValueError: bad settings, unknown presets or datasets.
        gencompare.data.DatasetUnavailable: the dataset's files are missing.
        TrainingDiverged: a loss became NaN or Inf (the last good checkpoint is kept).
    """
    settings = RunSettings(model=model, preset=preset, **settings)
    dataset = settings.dataset or resolve_preset(
        "vae" if settings.model == "vae-gan" else settings.model, settings.preset, None
    ).dataset
    run_dir = create_run_dir(out, dataset, settings.model) if run_dir is None else claim_run_dir(run_dir)
    write_config(run_dir, settings)
    print_fn(f"Run folder: {run_dir}")
    try:
        return _train(settings, run_dir, data_dir=data_dir, verbose=verbose, print_fn=print_fn,
                      extra_callbacks=extra_callbacks)
    except Exception:
        _remove_if_untrained(run_dir)
        raise


def claim_run_dir(run_dir):
    """Creates the chosen run folder; `ValueError` if it exists (a run must not overwrite another)."""
    run_dir = pathlib.Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_dir.mkdir()
    except FileExistsError:
        raise ValueError(
            f"{run_dir} already exists. Continue the run in it with `train.resume({str(run_dir)!r})` "
            "(CLI: --resume), or choose another folder."
        ) from None
    return run_dir


def _remove_if_untrained(run_dir):
    """Removes a run folder that failed before its first epoch (bad data, bad architecture)."""
    if not any(pathlib.Path(run_dir).rglob(HISTORY_FILE)):
        shutil.rmtree(run_dir, ignore_errors=True)


def resume(run_dir, *, epochs=None, learning_rate=None, data_dir=None, verbose=1, print_fn=print,
           extra_callbacks=()):
    """Continues a run folder at the epoch after its last checkpoint.

    Args:
        run_dir: a folder written by `run`.
        epochs: a new total number of epochs, to train a finished run further.
        learning_rate: a new learning rate, e.g. lower after the run diverged (the checkpoint's
            optimizer state is kept; only the rate changes).
        data_dir, verbose, print_fn, extra_callbacks: as for `run`.

    Returns:
        A `RunResult`; history rows are continuous (every epoch once).
    """
    run_dir = pathlib.Path(run_dir)
    settings = RunSettings.from_dict(read_config(run_dir)["run"])
    changes = {name: value for name, value in (("epochs", epochs), ("learning_rate", learning_rate)) if value is not None}
    if changes:
        settings = dataclasses.replace(settings, **changes)
        write_config(run_dir, settings)
    return _train(settings, run_dir, data_dir=data_dir, verbose=verbose, print_fn=print_fn,
                  extra_callbacks=extra_callbacks)


def _train(settings, run_dir, **options):
    if settings.model != "vae-gan":
        return Experiment(settings, run_dir, **options).train()
    return _train_vae_gan(settings, run_dir, **options)


def _train_vae_gan(settings, run_dir, **options):
    """The VAE phase in `run_dir/vae`, then the GAN phase in `run_dir/gan` from the VAE's decoder."""
    vae_preset = resolve_preset("vae", settings.preset, settings.dataset)
    gan_preset = model_class("gan").preset(settings.gan_preset) if settings.gan_preset else default_gan_preset(vae_preset)
    shared = dict(
        dataset=settings.dataset or vae_preset.dataset, epochs=settings.epochs, batch_size=settings.batch_size,
        learning_rate=settings.learning_rate, limit=settings.limit, image_size=settings.image_size,
        seed=settings.seed, sample_every=settings.sample_every, checkpoint_every=settings.checkpoint_every,
        summary_every=settings.summary_every, jit_compile=settings.jit_compile, tensorboard=settings.tensorboard,
        strategy=settings.strategy, precision=settings.precision, steps_per_execution=settings.steps_per_execution,
    )
    phases = {}
    if settings.from_vae is None:
        vae_settings = RunSettings(
            model="vae", preset=vae_preset.name, latent_dim=settings.latent_dim, beta=settings.beta,
            reconstruction_loss=settings.reconstruction_loss, model_overrides=settings.model_overrides, **shared,
        )
        phases["vae"] = _phase(vae_settings, run_dir / "vae", **options)
        vae, from_vae = phases["vae"].model, str(run_dir / "vae")
    else:
        vae, from_vae = None, settings.from_vae
    gan_settings = RunSettings(
        model="gan", preset=gan_preset.name, gan_loss=settings.gan_loss, from_vae=from_vae, **shared
    )
    phases["gan"] = _phase(gan_settings, run_dir / "gan", vae=vae, **options)
    gan = phases["gan"]
    return RunResult(run_dir, gan.model, gan.history, phases=phases)


def _phase(settings, run_dir, **options):
    """One phase of a `vae-gan` run, in its own complete run folder (resumed if it exists)."""
    run_dir.mkdir(exist_ok=True)
    if not (run_dir / CONFIG_FILE).exists():
        write_config(run_dir, settings)
    return Experiment(settings, run_dir, **options).train()


# ----------------------------------------------------------------------------------------------
# Using a run's model
# ----------------------------------------------------------------------------------------------


def load_run_model(run_dir):
    """The model of a run folder: `model.keras`, else the last checkpoint of an unfinished run.

    A `vae-gan` run folder gives its GAN. Loading keeps Keras' safe mode on.

    Raises:
        ValueError: if the folder is not a run folder or holds no trained weights yet.
    """
    run_dir = pathlib.Path(run_dir)
    config = read_config(run_dir)
    if config["run"]["model"] == "vae-gan":
        return load_run_model(run_dir / "gan")
    path = run_dir / MODEL_FILE
    if path.is_file():
        return keras.models.load_model(path)
    state = callbacks.last_checkpoint(run_dir / "checkpoints")
    model_config = config.get("resolved", {}).get("model_config")
    if state is None or model_config is None:
        raise ValueError(f"{run_dir} has no model.keras and no checkpoint yet: train it for an epoch first.")
    model = model_class(config["run"]["model"]).from_config(model_config)
    # The checkpoint also holds optimizer state; an uncompiled model has no optimizer to load it into.
    model.load_weights(run_dir / "checkpoints" / state["weights"])
    return model


def sample_run(run_dir, count, *, seed=0, path=None):
    """Draws `count` images from a run's model with latent seed `seed` and writes one PNG grid.

    Args:
        run_dir: a run folder.
        count: number of images.
        seed: seed of the latent vectors (`model.latent_grid`).
        path: the PNG to write; default `RUN_DIR/samples/sample_n<count>_seed<seed>.png`.

    Returns:
        The path written.
    """
    from gencompare import plots

    _check_positive_int("count", count)
    model = load_run_model(run_dir)
    if path is None:
        path = pathlib.Path(run_dir) / "samples" / f"sample_n{count}_seed{seed}.png"
    return plots.save_image_grid(model.sample(count, seed=seed), path, value_range=model.value_range)
