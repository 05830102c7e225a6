"""Training runs: a preset plus overrides in, a self-describing run folder out.

    from gencompare import train

    result = train.run("vae", "mnist", epochs=2, limit=512)
    result.run_dir          # runs/mnist-vae-20250101-120000/
    train.resume(result.run_dir, epochs=4)   # continue the same run for two more epochs

The run folder's files are described in `gencompare.runs`.

A `vae-gan` run trains a VAE, then a GAN whose generator starts from the VAE's decoder
(`GAN.from_vae`); its folder holds one complete run folder per phase, `vae/` and `gan/`.
"""

import dataclasses
import datetime
import pathlib
import platform
import shutil
import sys

import keras
import numpy as np

from gencompare import callbacks, files
from gencompare.runs import (  # noqa: F401 - RunSettings and the preset look-ups are part of this API
    CHECKPOINTS_FOLDER,
    CONFIG_FILE,
    CONFIG_FORMAT,
    HISTORY_FILE,
    JIT_COMPILE,
    LATENT_FILE,
    LOSS_CURVES_FILE,
    MODEL_FILE,
    SAMPLES_FOLDER,
    RunSettings,
    check_positive_int,
    locked,
    dataset_label,
    default_gan_preset,
    is_finished,
    read_config,
    resolve_preset,
)
from gencompare.value_range import from_uint8

SAMPLE_COUNT = 64
FIGURE_COUNT = 16


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the message names the epoch, batch and metric and what to try."""


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
    """The preset's training settings with the run's overrides applied.

    A `learning_rate` override sets the shared rate; a GAN preset's own per-network rates
    (`d_learning_rate`, `g_learning_rate`) are scaled by the same factor, so that their ratio (the
    preset's TTUR) is kept and `--learning-rate` changes every optimizer, never only some of them.
    """
    training = dict(preset.training)
    if settings.learning_rate is not None:
        factor = float(settings.learning_rate) / float(training["learning_rate"])
        for name in ("d_learning_rate", "g_learning_rate"):
            if name in training:
                training[name] = float(training[name]) * factor
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


def fixed_latent(run_dir, latent_dim, seed):
    """The run's fixed sample latent: read from `samples/latent.npy`, or drawn once and stored."""
    from gencompare.models import base

    path = pathlib.Path(run_dir) / SAMPLES_FOLDER / LATENT_FILE
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
# The trainer
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    """What a finished run leaves: its folder, the trained model and the history rows."""

    run_dir: pathlib.Path
    model: keras.Model
    history: list
    phases: dict = dataclasses.field(default_factory=dict)


class Trainer:
    """Trains one VAE or GAN in one run folder (a `vae-gan` run uses one per phase).

    Args:
        settings: the `RunSettings`.
        run_dir: the run folder (exists; holds `config.json` when resuming).
        data_dir: where the datasets live (default `GENCOMPARE_DATA`); not part of the settings,
            since it differs between machines.
        verbose: Keras progress-bar mode for `fit` (0 silent, 1 bar, 2 one line per epoch).
        vae: for a GAN that starts from a VAE, the trained VAE (else `settings.from_vae` is loaded).
        print_fn: where one-line summaries and messages go.
        extra_callbacks: more Keras callbacks for `fit` (after the run's own).
        evaluate: `model → {metric: value}`, measured at `curve_points` points of the run spaced
            geometrically in images seen (`gencompare.curves.schedule`) and written to `curve.csv`;
            None: no curve. Evaluation time is not counted as training time.
        curve_points: how many evaluation points.
    """

    def __init__(self, settings, run_dir, *, data_dir=None, verbose=1, vae=None, print_fn=print, extra_callbacks=(),
                 evaluate=None, curve_points=0):
        if settings.model == "vae-gan":
            raise ValueError("A Trainer trains one model; use `run(model='vae-gan', ...)` for both phases.")
        self.settings = settings
        self.run_dir = pathlib.Path(run_dir)
        self.data_dir = data_dir
        self.verbose = verbose
        self.vae = vae
        self.print_fn = print_fn
        self.extra_callbacks = list(extra_callbacks)
        self.evaluate = evaluate
        self.curve_points = curve_points
        self.kind = settings.model
        self.preset = settings.model_preset()
        self.dataset = settings.dataset_name()
        self.training = training_arguments(self.preset, settings)
        self.images = None
        self.model = None
        self.strategy = None

    @property
    def checkpoint_dir(self):
        return self.run_dir / CHECKPOINTS_FOLDER

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
        MirroredStrategy ("You must feed a value for placeholder tensor", keras-team/keras#19246).
        Never more than the steps of one epoch (Keras' progress bar would show "8/4" and a negative ETA)."""
        from gencompare import distribute

        steps = self.settings.steps_per_execution
        replicas = self.distribution().num_replicas_in_sync
        if steps == distribute.AUTO:
            steps = distribute.recommended_steps_per_execution(replicas)
        elif steps > 1 and replicas > 1:
            self.print_fn(
                f"steps_per_execution={steps} is not supported by Keras with several replicas "
                "(keras-team/keras#19246); training with 1."
            )
            steps = 1
        return max(1, min(steps, self.steps_per_epoch()))

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
            callbacks.SampleGrid(latent, self.run_dir / SAMPLES_FOLDER, every=self.settings.sample_every, prefix=self.kind),
            callbacks.LossSummary(every=self.settings.summary_every, print_fn=self.print_fn),
            callbacks.TrainingClock(self.run_dir, self.training["batch_size"], evaluate=self.evaluate,
                                    points=self.curve_schedule()),
        ]
        if self.settings.tensorboard:
            chosen.append(keras.callbacks.TensorBoard(log_dir=str(self.run_dir / "tensorboard")))
        return guard, chosen + self.extra_callbacks

    def steps_per_epoch(self):
        return len(self.images) // self.training["batch_size"]

    def curve_schedule(self):
        """The image counts at which the quality curve is measured ([] without `evaluate`)."""
        if self.evaluate is None or self.curve_points < 1:
            return []
        from gencompare import curves

        total = self.training["epochs"] * self.steps_per_epoch() * self.training["batch_size"]
        return curves.schedule(total, self.curve_points)

    # -- training ------------------------------------------------------------------------------

    def train(self):
        """Trains from the last checkpoint (or from scratch) to `epochs`, then writes the figures.

        Raises:
            TrainingDiverged: if a loss became NaN or Inf.
        """
        epochs = self.training["epochs"]
        if self.finished():
            self.print_fn(f"{self.run_dir} has finished its {epochs} epochs; pass more epochs to train further.")
            self.model = load_model_file(self.run_dir / MODEL_FILE)
            return self.result()
        with locked(self.run_dir):
            return self._train(epochs)

    def _train(self, epochs):
        # A MultiWorkerMirroredStrategy must exist before TensorFlow runs its first op.
        self.distribution()
        self.load_data()
        self.build_model()
        if not (self.run_dir / HISTORY_FILE).exists():
            self.print_fn(f"Run folder: {self.run_dir}")
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
        """Whether the run has trained all its epochs and saved its model (`gencompare.runs.is_finished`)."""
        return is_finished(self.run_dir, self.training["epochs"])

    def result(self):
        return RunResult(self.run_dir, self.model, callbacks.read_history(self.history_path))

    def restore(self):
        """Loads the last checkpoint, if any; returns the number of epochs already done."""
        if callbacks.last_checkpoint(self.checkpoint_dir) is None:
            return 0
        batch = next(iter(self.dataset_pipeline(0)))
        with self.distribution().scope():
            done = callbacks.restore_checkpoint(self.model, self.checkpoint_dir, batch, print_fn=self.print_fn)
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
        """Saves the model and writes the end-of-run figures (`gencompare.plots.model_figures`)."""
        from gencompare import plots

        save_model_file(self.model, self.run_dir / MODEL_FILE)
        self.write_loss_curves()
        originals = self.figure_images() if self.kind == "vae" else None
        plots.model_figures(self.model, self.run_dir, originals=originals, latents=latent[:8])

    def write_loss_curves(self):
        from gencompare import plots

        if callbacks.read_history(self.history_path):
            plots.loss_curves(self.history_path, title=self.run_dir.name, path=self.run_dir / LOSS_CURVES_FILE)

    def figure_images(self):
        """`FIGURE_COUNT` held-out images (test split) in the model's range, for figures."""
        from gencompare import data

        images = data.load_images(self.dataset, "test", image_size=self.settings.image_size,
                                  limit=FIGURE_COUNT, data_dir=self.data_dir)
        return from_uint8(images, self.model.value_range)


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


def save_model_file(model, path):
    """Saves `model` as a `.keras` file atomically (a kill leaves the old file or the new one)."""
    with files.atomic_path(path) as temporary:
        model.save(temporary)


def load_model_file(path):
    """A saved `model.keras` (Keras' safe mode on); a damaged or unreadable file gives one clear error.

    Raises:
        ValueError: if the file is missing, damaged (a partial copy, a full disk) or not a Keras model.
    """
    import zipfile

    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found: train the run to its end first.")
    for kind in ("vae", "gan"):
        model_class(kind)  # imports the module, which registers the class (and its layers) for loading
    try:
        with zipfile.ZipFile(path) as archive:  # a .keras file is a zip: check it whole before Keras reads it
            bad = archive.testzip()
        if bad is not None:
            raise zipfile.BadZipFile(f"member {bad} fails its CRC check")
        return keras.models.load_model(path)
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{path} is damaged and cannot be loaded ({type(error).__name__}: {error}). Retrain the run, or resume "
            f"it from its checkpoints after deleting the damaged file: python -m gencompare train --resume {path.parent}"
        ) from None


def load_vae(run_dir):
    """The trained VAE of a finished VAE run folder (`model.keras`, loaded in safe mode)."""
    path = pathlib.Path(run_dir) / MODEL_FILE
    if not path.is_file():
        raise ValueError(f"{path} not found: --from-vae needs the folder of a finished VAE run.")
    model = load_model_file(path)
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
    options = dict(data_dir=data_dir, verbose=verbose, print_fn=print_fn, extra_callbacks=extra_callbacks)
    if settings.strategy == "multiworker":
        from gencompare import distribute

        if not distribute.is_chief():
            return _train_in_scratch_folder(settings, **options)
    run_dir = create_run_dir(out, settings.dataset_name(), settings.model) if run_dir is None else claim_run_dir(run_dir)
    write_config(run_dir, settings)
    try:
        return _train(settings, run_dir, **options)
    except Exception:
        _remove_if_untrained(run_dir)
        raise


def _train_in_scratch_folder(settings, **options):
    """A multi-worker run's non-chief worker: trains in step with the chief in a scratch folder that is
    deleted afterwards, so only the chief writes the run folder (TensorFlow's multi-worker convention)."""
    import tempfile

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="gencompare-worker-"))
    try:
        run_dir = claim_run_dir(scratch / "run")
        write_config(run_dir, settings)
        return _train(settings, run_dir, **options)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
    with locked(run_dir):
        if changes:
            settings = dataclasses.replace(settings, **changes)
            write_config(run_dir, settings)
        return _train(settings, run_dir, data_dir=data_dir, verbose=verbose, print_fn=print_fn,
                      extra_callbacks=extra_callbacks)


def _train(settings, run_dir, **options):
    """Trains a run folder, holding its lock (`gencompare.runs.locked`): one trainer per folder."""
    with locked(run_dir):
        if settings.model != "vae-gan":
            return Trainer(settings, run_dir, **options).train()
        return _train_vae_gan(settings, run_dir, **options)


def _train_vae_gan(settings, run_dir, **options):
    """The VAE phase in `run_dir/vae`, then the GAN phase in `run_dir/gan` from the VAE's decoder."""
    vae_preset = resolve_preset("vae", settings.preset, settings.dataset, settings.image_size)
    gan_preset = resolve_preset("gan", settings.gan_preset, None) if settings.gan_preset else default_gan_preset(vae_preset)
    dataset = settings.dataset_name()
    phases = {}
    if settings.from_vae is None:
        vae_settings = dataclasses.replace(
            settings, model="vae", preset=vae_preset.name, dataset=dataset, gan_loss=None, gan_preset=None,
        )
        phases["vae"] = _phase(vae_settings, run_dir / "vae", **options)
        vae, from_vae = phases["vae"].model, str(run_dir / "vae")
    else:
        vae, from_vae = None, settings.from_vae
    gan_settings = dataclasses.replace(
        settings, model="gan", preset=gan_preset.name, dataset=dataset, from_vae=from_vae, gan_preset=None,
        latent_dim=None, beta=None, reconstruction_loss=None, model_overrides={},
    )
    phases["gan"] = _phase(gan_settings, run_dir / "gan", vae=vae, **options)
    gan = phases["gan"]
    return RunResult(run_dir, gan.model, gan.history, phases=phases)


def _phase(settings, run_dir, **options):
    """One phase of a `vae-gan` run, in its own complete run folder (resumed if it exists)."""
    run_dir.mkdir(exist_ok=True)
    if not (run_dir / CONFIG_FILE).exists():
        write_config(run_dir, settings)
    return Trainer(settings, run_dir, **options).train()


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
        return load_model_file(path)
    state = callbacks.last_checkpoint(run_dir / CHECKPOINTS_FOLDER)
    model_config = config.get("resolved", {}).get("model_config")
    if state is None or model_config is None:
        raise ValueError(f"{run_dir} has no model.keras and no checkpoint yet: train it for an epoch first.")
    model = model_class(config["run"]["model"]).from_config(model_config)
    # The checkpoint also holds optimizer state; an uncompiled model has no optimizer to load it into.
    model.load_weights(run_dir / CHECKPOINTS_FOLDER / state["weights"])
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

    check_positive_int("count", count)
    model = load_run_model(run_dir)
    if path is None:
        path = pathlib.Path(run_dir) / SAMPLES_FOLDER / f"sample_n{count}_seed{seed}.png"
    return plots.save_image_grid(model.sample(count, seed=seed), path, value_range=model.value_range)
