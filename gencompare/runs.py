"""A run folder: what its files are called, the settings that define it, and how to read its records.

Light to import (no TensorFlow): the training (`gencompare.train`), the experiment table
(`gencompare.experiments`), the report and the CLI all name and read run folders through here, so a
file name or a "has this run finished?" rule is decided once.

A run folder holds:

* `config.json` — the `RunSettings` (`config["run"]`, so `train.run(**config["run"])` repeats the
  run), what they resolved to (`config["resolved"]`: preset, image shape, model constructor
  arguments, optimizer settings, precision), and the library versions.
* `history.csv` — every metric of every epoch (`keras.callbacks.CSVLogger` format).
* `checkpoints/` — weights and optimizer state, and `last.json`, the record of the newest good epoch.
* `samples/latent.npy` and `samples/<model>_generated_plot_e050.png` — grids from one fixed latent.
* `timing.json` — wall time and images of each training epoch (runs of the experiment table).
* `model.keras`, `loss_curves.png`, `interpolation.png` and, for a VAE, `reconstructions.png` at the end.
* `metrics-n<count>-seed<seed>.json` — cached evaluations (`gencompare.experiments`).
"""

import contextlib
import csv
import dataclasses
import io
import json
import os
import pathlib
import re
import socket

from gencompare import files

MODEL_KINDS = ("vae", "gan", "vae-gan")
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}

CONFIG_FILE = "config.json"
CONFIG_FORMAT = 1
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.keras"
TIMING_FILE = "timing.json"
CURVE_FILE = "curve.csv"
CHECKPOINTS_FOLDER = "checkpoints"
LAST_STATE = "last.json"
SAMPLES_FOLDER = "samples"
LATENT_FILE = "latent.npy"
LOSS_CURVES_FILE = "loss_curves.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
INTERPOLATION_FILE = "interpolation.png"
MANIFOLD_FILE = "manifold.png"


def metrics_file(run_dir, count, seed, variant=""):
    """Where the evaluation of a run on `count` samples with `seed` (and a sampling `variant`, e.g.
    `"prior-mixture"`) is cached."""
    return pathlib.Path(run_dir) / f"metrics-n{count}-seed{seed}{'-' + variant if variant else ''}.json"


# ----------------------------------------------------------------------------------------------
# Presets by name (the preset tables are plain data: no TensorFlow)
# ----------------------------------------------------------------------------------------------


def preset_table(kind):
    """The `PresetRegistry` of `"vae"` or `"gan"`."""
    if kind == "vae":
        from gencompare.models.vae_presets import PRESETS
    elif kind == "gan":
        from gencompare.models.gan_presets import PRESETS
    else:
        raise ValueError(f"Unknown model {kind!r}; presets exist for vae and gan.")
    return PRESETS


def dataset_label(dataset):
    """A file-name-safe label for a dataset name or path (`"mnist"`, `"/data/my faces"` → `"my_faces"`)."""
    name = pathlib.PurePath(str(dataset)).name or str(dataset)
    name = re.sub(r"\.(zip|tar|gz)$", "", name)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "data"


def looks_like_path(dataset):
    """Whether a `--dataset` value names a file or folder rather than a dataset (`mnist`, `kaggle:o/n`)."""
    text = str(dataset)
    if text.startswith("kaggle:"):
        return False
    return (os.sep in text or "/" in text or text.startswith(("~", ".")) or text.endswith(".zip")
            or pathlib.Path(text).expanduser().exists())


def resolve_preset(kind, preset, dataset, image_size=None):
    """The `Preset` of model `kind`: `preset` by name; else for a folder or zip of one's own images
    `presets.OWN_IMAGES_PRESETS` (64×64 RGB); else the one named after `dataset`; else mnist.

    Raises:
        ValueError: for an unknown preset, a path that does not exist, or own images at a size no
            preset is built for.
    """
    table = preset_table(kind)
    if preset is None and dataset and looks_like_path(dataset):
        from gencompare.models.presets import FACE_SHAPE, OWN_IMAGES_PRESETS

        if not pathlib.Path(str(dataset)).expanduser().exists():
            raise ValueError(f"--dataset {dataset}: no such file or folder.")
        if image_size not in (None, FACE_SHAPE[0]):
            raise ValueError(
                f"Own images train with the {FACE_SHAPE[0]}×{FACE_SHAPE[0]} preset {OWN_IMAGES_PRESETS[kind]!r}; "
                f"for {image_size}×{image_size} images pick a preset built for that size with --preset."
            )
        preset = OWN_IMAGES_PRESETS[kind]
    if preset is None:
        name = dataset_label(dataset) if dataset else "mnist"
        if name not in table.names():
            raise ValueError(
                f"No {kind.upper()} preset is named {name!r}; pick one with --preset ({', '.join(table.names())})."
            )
        preset = name
    return table.get(preset)


def default_gan_preset(vae_preset):
    """The GAN preset paired with a VAE preset: same name, else the first on the same dataset."""
    table = preset_table("gan")
    names = table.names()
    if vae_preset.name in names:
        return table.get(vae_preset.name)
    for name in names:
        if table.get(name).dataset == vae_preset.dataset:
            return table.get(name)
    raise ValueError(
        f"No GAN preset trains on {vae_preset.dataset!r}; pick one with --gan-preset ({', '.join(names)})."
    )


# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunSettings:
    """Everything that defines a run; stored as `config["run"]` in the run's `config.json`.

    `None` means "the preset's value". See `gencompare.train.run` for the meaning of each field.
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
            check_positive_int(name, getattr(self, name), allow_none=True)
        for name in ("sample_every", "checkpoint_every", "summary_every"):
            check_positive_int(name, getattr(self, name))
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

    def model_preset(self):
        """The `Preset` the model is built from (for `vae-gan`, the VAE phase's)."""
        if self.model == "gan":
            return resolve_preset("gan", self.gan_preset or self.preset, self.dataset, self.image_size)
        return resolve_preset("vae", self.preset, self.dataset, self.image_size)

    def dataset_name(self):
        """The dataset the run trains on: the setting, else its preset's dataset (decided only here)."""
        return self.dataset or self.model_preset().dataset

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


def check_positive_int(name, value, allow_none=False):
    """`ValueError` unless `value` is a positive integer (or None, with `allow_none`)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _reject_settings(settings, owner, model):
    given = [name for name, value in settings.items() if value is not None]
    if given:
        raise ValueError(f"{', '.join(given)} apply to {owner} only, not to a {model} run.")


# ----------------------------------------------------------------------------------------------
# Reading a run folder
# ----------------------------------------------------------------------------------------------


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


def resolved_config(run_dir):
    """What a run's settings resolved to: the `"resolved"` section of its `config.json` ({} if none).

    A `vae-gan` run folder has no section of its own; its GAN phase's (`gan/`) stands for it.
    """
    for folder in (pathlib.Path(run_dir), pathlib.Path(run_dir) / "gan"):
        path = folder / CONFIG_FILE
        if path.is_file():
            resolved = files.read_json(path).get("resolved", {})
            if resolved:
                return resolved
    return {}


def differing_settings(run_dir, settings, config=None):
    """Names of the settings in which a run folder's `config.json` (or the already read `config`)
    differs from `settings` ([] if the folder has none)."""
    path = pathlib.Path(run_dir) / CONFIG_FILE
    if config is None and not path.is_file():
        return []
    stored = (config or read_config(path))["run"]
    wanted = json.loads(json.dumps(settings.to_dict()))  # tuples as lists, as stored
    return sorted(key for key in set(stored) | set(wanted) if stored.get(key) != wanted.get(key))


def last_checkpoint(checkpoint_dir):
    """The commit record (`epoch`, `weights`, `seed_generators`) of a checkpoint folder, or None."""
    path = pathlib.Path(checkpoint_dir) / LAST_STATE
    return files.read_json(path) if path.exists() else None


def is_finished(run_dir, epochs):
    """Whether a run folder has trained `epochs` epochs and saved its model (the one finished-check)."""
    run_dir = pathlib.Path(run_dir)
    state = last_checkpoint(run_dir / CHECKPOINTS_FOLDER)
    return state is not None and state["epoch"] >= epochs and (run_dir / MODEL_FILE).is_file()


def read_rows(path, integer_keys=("epoch",)):
    """A CSV of numbers as a list of dicts (`integer_keys` as int, the rest as float); [] if missing.

    Empty cells and `NA` (what `keras.callbacks.CSVLogger` writes for a metric missing in an epoch)
    are left out of their row.
    """
    path = pathlib.Path(path)
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [
        {key: int(value) if key in integer_keys else float(value) for key, value in row.items()
         if value not in ("", "NA")}
        for row in rows
    ]


def read_history(path):
    """A history CSV (`history.csv`): one dict per epoch, `epoch` 0-based as Keras counts."""
    return read_rows(path, ("epoch",))


def read_curve(run_dir):
    """A run's quality curve (`curve.csv`, see `gencompare.curves`): one dict per evaluation point."""
    return read_rows(pathlib.Path(run_dir) / CURVE_FILE, ("images",))


def rows_to_csv(rows, first="epoch"):
    """CSV text for rows of numbers, column `first` first; floats in `repr` form so that equal runs
    give equal files."""
    columns = [first]
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: repr(value) if isinstance(value, float) else value for key, value in row.items()})
    return buffer.getvalue()


def read_timing(run_dir):
    """A run's training time: `{"epochs": [{"epoch", "seconds", "images"}, ...], "flops_per_image": F}`
    ({} if not timed)."""
    path = pathlib.Path(run_dir) / TIMING_FILE
    return files.read_json(path) if path.is_file() else {}


def training_flops(run_dir):
    """A run's training FLOPs (images seen × `flops_per_image` of `timing.json`; see
    `gencompare.models.flops` for what is counted), or None if not recorded."""
    timing = read_timing(run_dir)
    if timing.get("flops_per_image") is None:
        return None
    return timing["flops_per_image"] * sum(entry["images"] for entry in timing.get("epochs", []))


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


# ----------------------------------------------------------------------------------------------
# One trainer per run folder
# ----------------------------------------------------------------------------------------------

LOCK_FILE = ".lock"
_held_locks = {}


class RunFolderBusy(ValueError):
    """Another process is training the run folder (its lock is held)."""


@contextlib.contextmanager
def locked(run_dir):
    """Holds the run folder's lock while the block writes into it: one trainer per folder.

    An advisory lock (`fcntl.flock` on `<run_dir>/.lock`; `msvcrt.locking` on Windows) held by an
    open file: the operating system releases it when the process ends, killed or not, so a crash
    never leaves a stale lock. The holder's pid and host are written into the file for the message
    the next process gets. Re-entrant within one process (a `vae-gan` run and its phases). Reading a
    finished run needs no lock.

    Raises:
        RunFolderBusy: if another process holds the lock (the message names the folder and the holder).
    """
    run_dir = pathlib.Path(run_dir)
    key = str(run_dir.resolve())
    if key in _held_locks:
        _held_locks[key][1] += 1
        try:
            yield
        finally:
            _held_locks[key][1] -= 1
        return
    handle = open(run_dir / LOCK_FILE, "a+", encoding="utf-8")
    try:
        _try_lock(handle)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunFolderBusy(
            f"{run_dir} is being trained by {holder}; wait for it to finish (or stop it), then run this again."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
    handle.flush()
    _held_locks[key] = [handle, 1]
    try:
        yield
    finally:
        _held_locks.pop(key)
        handle.close()  # closing releases the lock


def _try_lock(handle):
    """Takes an exclusive non-blocking lock on an open file; `OSError` if another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
