"""Keras callbacks for watching and protecting a training run; usable from notebooks as well.

* `HistoryCSV` — every metric of every epoch in a CSV file, rewritten atomically after each epoch.
* `SampleGrid` — an image grid from one fixed latent every N epochs (`<prefix>_generated_plot_e050.png`).
* `RunCheckpoint` — weights every N epochs, plus a backup of the full training state after every
  epoch so that `restore_checkpoint` can continue a killed run at the next epoch.
* `LossSummary` — a one-line summary of the losses every N epochs.
* `StopOnNaN` — stops at the first NaN/Inf metric and explains what to try.
* `TrainingClock` — each epoch's training time in `timing.json` and, at chosen points, the model's
  quality in `curve.csv` (evaluation time left out of both).

Every file these callbacks write is written to a temporary name in the same folder and then renamed
(`os.replace` is atomic on POSIX and Windows), so a run killed at any moment never leaves a
half-written file behind: a reader sees either the old version or the new one.
"""

import math
import pathlib
import re
import time
import warnings

import keras
import numpy as np

from gencompare.files import atomic_path, write_json_atomic, write_text_atomic
from gencompare.models.base import seed_generators
from gencompare.runs import (
    CURVE_FILE,
    LAST_STATE,
    TIMING_FILE,
    last_checkpoint,
    read_curve,
    read_history,
    read_timing,
    rows_to_csv,
)


def is_finite_number(value):
    """True for finite numbers (and anything that is not a number, e.g. strings in logs)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def should_run(epoch, every, total_epochs):
    """Whether a periodic callback acts after 0-based `epoch`: every `every` epochs, and at the end."""
    done = epoch + 1
    return (every > 0 and done % every == 0) or (total_epochs is not None and done == total_epochs)


def _check_every(every, name):
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"`{name}` must be a positive integer number of epochs, got {every!r}.")
    return every


# ----------------------------------------------------------------------------------------------
# History
# ----------------------------------------------------------------------------------------------


class HistoryCSV(keras.callbacks.Callback):
    """Writes every metric of every epoch to a CSV file, keeping it whole at every moment.

    The format is that of `keras.callbacks.CSVLogger` (column `epoch` is 0-based, as Keras
    counts; file names of samples and checkpoints use 1-based epoch numbers, as the progress bar
    prints them), so `gencompare.plots.loss_curves` and other CSVLogger readers take it as is.

    Unlike `CSVLogger(append=True)`, it survives kills and resumes: after each epoch the whole
    file is rewritten through a temporary file and a rename, so a kill leaves the previous
    complete version; and when a run resumes (`fit(initial_epoch=k)`), rows for epoch `k` and
    later — epochs the killed run finished after its last checkpoint — are dropped first, so every
    epoch appears exactly once.

    Args:
        path: the CSV file (created, or continued when resuming).
    """

    def __init__(self, path):
        super().__init__()
        self.path = pathlib.Path(path)
        self.rows = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            self.rows = [row for row in read_history(self.path) if row["epoch"] < epoch]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch}
        row.update({key: float(value) for key, value in (logs or {}).items()})
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        write_text_atomic(self.path, rows_to_csv(self.rows))


# ----------------------------------------------------------------------------------------------
# Samples from a fixed latent
# ----------------------------------------------------------------------------------------------


def generate_from_latent(model, latent):
    """Images (numpy, in the model's value range) for the latent vectors `latent`.

    Uses `model.generate(z)` when the model has one (the GAN: its EMA generator), else
    `model.decode(z)` (the VAE).
    """
    for name in ("generate", "decode"):
        method = getattr(model, name, None)
        if callable(method):
            return keras.ops.convert_to_numpy(method(latent))
    raise ValueError(f"{type(model).__name__} has neither `generate(z)` nor `decode(z)`: cannot draw samples.")


def sample_file_name(prefix, epoch):
    """`<prefix>_generated_plot_e050.png` for 1-based `epoch` 50."""
    return f"{prefix}_generated_plot_e{epoch:03d}.png"


class SampleGrid(keras.callbacks.Callback):
    """Saves a grid of images generated from one fixed latent every `every` epochs and at the end.

    Because the latent never changes, the grids of successive epochs show the same "people"
    improving, rather than new random draws.

    Args:
        latent: float array `(count, latent_dim)`, e.g. `model.latent_grid(64, seed)`.
        directory: folder of the PNG files.
        every: epochs between grids.
        prefix: file-name prefix, usually the model kind (`"vae"`, `"gan"`).
        value_range: the model's image range; defaults to `model.value_range`.
        generate: optional `generate(model, latent) -> images`; defaults to `generate_from_latent`.
    """

    def __init__(self, latent, directory, every=1, prefix="model", value_range=None, generate=None):
        super().__init__()
        self.latent = np.asarray(latent, dtype="float32")
        if self.latent.ndim != 2:
            raise ValueError(f"`latent` must have shape (count, latent_dim), got {self.latent.shape}.")
        self.directory = pathlib.Path(directory)
        self.every = _check_every(every, "every")
        self.prefix = prefix
        self.value_range = value_range
        self.generate = generate or generate_from_latent
        self.written = []

    def on_epoch_end(self, epoch, logs=None):
        if not should_run(epoch, self.every, self.params.get("epochs")):
            return
        if not all(is_finite_number(value) for value in (logs or {}).values()):
            return
        from gencompare import plots

        images = self.generate(self.model, self.latent)
        value_range = self.value_range or self.model.value_range
        # `save_image_grid` writes atomically itself.
        path = plots.save_image_grid(images, self.directory / sample_file_name(self.prefix, epoch + 1), value_range)
        self.written.append(path)


# ----------------------------------------------------------------------------------------------
# Checkpoints and restoring
# ----------------------------------------------------------------------------------------------



def seed_generator_states(model):
    """`{variable path: state as a list of ints}` for every seed generator of `model`.

    `VAE` and `GAN` weight files carry these states themselves (`GenerativeModel.save_own_variables`);
    the copy in `last.json` lets a checkpoint resume any Keras model with the same noise stream.
    """
    states = {}
    for index, generator in enumerate(seed_generators(model)):
        key = f"{index}:{generator.state.path}"
        states[key] = np.asarray(keras.ops.convert_to_numpy(generator.state.value)).tolist()
    return states


def set_seed_generator_states(model, states):
    """Restores states saved by `seed_generator_states`; `ValueError` if the model differs."""
    generators = seed_generators(model)
    if len(generators) != len(states):
        raise ValueError(
            f"The checkpoint holds {len(states)} seed-generator states but the model has "
            f"{len(generators)}: it was written by a different model configuration."
        )
    for generator, (key, value) in zip(generators, states.items()):
        generator.state.assign(np.asarray(value, dtype=generator.state.dtype))


def checkpoint_file_name(epoch):
    return f"epoch_{epoch:04d}.weights.h5"


class RunCheckpoint(keras.callbacks.Callback):
    """Saves weights every `every` epochs and a resumable backup of the training state every epoch.

    In `directory`:

    * `epoch_0010.weights.h5` — kept every `every` epochs (and after the last epoch). A Keras
      weights file holds the model's weights *and* its optimizers' state (Adam moments, step).
    * `last.json` — the commit record of the latest good epoch: its number, the weights file that
      belongs to it, and the models' seed-generator states. Between periodic checkpoints the
      weights of the latest epoch go to `backup_0007.weights.h5`, which is deleted once a newer
      backup is committed.

    The weights file is complete before `last.json` names it, and `last.json` is replaced
    atomically, so a kill at any moment leaves a consistent pair. An epoch whose logs hold a
    NaN/Inf is never saved: the last good checkpoint stays the newest one.

    Args:
        directory: the checkpoint folder.
        every: epochs between kept checkpoints.
    """

    def __init__(self, directory, every=10):
        super().__init__()
        self.directory = pathlib.Path(directory)
        self.every = _check_every(every, "every")
        self.last_good_epoch = None

    def on_train_begin(self, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        state = last_checkpoint(self.directory)
        self.last_good_epoch = state["epoch"] if state else None

    def on_epoch_end(self, epoch, logs=None):
        if not all(is_finite_number(value) for value in (logs or {}).values()):
            return
        done = epoch + 1
        keep = should_run(epoch, self.every, self.params.get("epochs"))
        name = checkpoint_file_name(done) if keep else f"backup_{done:04d}.weights.h5"
        with atomic_path(self.directory / name) as temporary:
            self.model.save_weights(temporary)
        previous = last_checkpoint(self.directory)
        write_json_atomic(
            self.directory / LAST_STATE,
            {"epoch": done, "weights": name, "seed_generators": seed_generator_states(self.model)},
        )
        self.last_good_epoch = done
        if previous and previous["weights"].startswith("backup_") and previous["weights"] != name:
            (self.directory / previous["weights"]).unlink(missing_ok=True)


def build_training_state(model, batch):
    """Creates every variable a checkpoint holds, so that loading fills them instead of skipping them.

    Keras builds optimizer variables lazily at the first update and, when loading weights into an
    optimizer that has none yet, only *warns* and skips them. A single optimizer over all
    trainable variables is built directly. For other models whose optimizers are still unbuilt
    (which variables each one updates is the model's business), one real train step on `batch`
    creates everything; the loaded checkpoint then overwrites all of it (weights, optimizer
    moments and step counters).
    """
    optimizers = model_optimizers(model)
    if optimizers == [model.optimizer] and not model.optimizer.built:
        # One optimizer over all trainable variables (the VAE): build it without a step.
        model.optimizer.build(model.trainable_variables)
    if all(optimizer.built for optimizer in optimizers) and model.built:
        return
    if isinstance(batch, tuple):
        model.train_on_batch(*batch)
    else:
        model.train_on_batch(batch)


def model_optimizers(model):
    """The optimizers a compiled model updates with (one for the VAE, two for the GAN)."""
    found = []
    for name in ("optimizer", "d_optimizer", "g_optimizer"):
        optimizer = getattr(model, name, None)
        if isinstance(optimizer, keras.optimizers.Optimizer) and all(optimizer is not o for o in found):
            found.append(optimizer)
    return found


class DamagedCheckpoints(ValueError):
    """No checkpoint of a run folder can be read (all are truncated or otherwise damaged)."""


def checkpoint_candidates(directory):
    """The checkpoints of a folder to try, newest first: `(epoch, file name, seed states or None)`.

    The record in `last.json` comes first; then every kept or backup weights file of an earlier epoch
    (each weights file carries its model's seed-generator states too), so a damaged newest file can
    be skipped.
    """
    directory = pathlib.Path(directory)
    state = last_checkpoint(directory)
    if state is None:
        return []
    candidates = [(int(state["epoch"]), state["weights"], state.get("seed_generators"))]
    for path in directory.glob("*.weights.h5"):
        match = re.fullmatch(r"(?:epoch|backup)_(\d+)\.weights\.h5", path.name)
        if match and int(match.group(1)) < candidates[0][0]:
            candidates.append((int(match.group(1)), path.name, None))
    return candidates[:1] + sorted(candidates[1:], key=lambda candidate: -candidate[0])


def restore_checkpoint(model, directory, batch, print_fn=print):
    """Loads the latest good checkpoint of `directory` into the compiled `model`.

    A checkpoint file that cannot be read (truncated by a partial copy, a full disk ...) is skipped
    with one line naming it, and the newest earlier checkpoint is loaded instead.

    Args:
        model: the model, compiled as in the run that wrote the checkpoint.
        directory: a `RunCheckpoint` folder.
        batch: one training batch, `x` or `(x, y)` (used to create optimizer variables before loading).
        print_fn: where the line about a damaged checkpoint goes.

    Returns:
        The number of epochs the loaded checkpoint had completed (pass it to
        `fit(initial_epoch=...)`), or 0 when the folder holds no checkpoint.

    Raises:
        ValueError: if the checkpoint does not fit the model (e.g. a different preset).
        DamagedCheckpoints: if no checkpoint can be read.
    """
    candidates = checkpoint_candidates(directory)
    if not candidates:
        return 0
    build_training_state(model, batch)
    damaged = []
    for epoch, name, seed_states in candidates:
        try:
            _load_checkpoint(model, pathlib.Path(directory) / name, directory)
        except OSError as error:
            damaged.append(name)
            print_fn(f"Checkpoint {pathlib.Path(directory) / name} is damaged ({_first_line(error)}); "
                     "trying the one before it.")
            continue
        if seed_states is not None:
            set_seed_generator_states(model, seed_states)
        return epoch
    raise DamagedCheckpoints(
        f"Every checkpoint in {directory} is damaged ({', '.join(damaged)}): restore them from a copy, or delete "
        f"{pathlib.Path(directory).parent} to train the run again from the start."
    )


def _load_checkpoint(model, path, directory):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except ValueError as error:
            raise ValueError(f"The checkpoint in {directory} does not fit this model: {error}") from None
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    if skipped:
        raise ValueError(f"The checkpoint in {directory} does not fit this model: {skipped[0]}")


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# ----------------------------------------------------------------------------------------------
# Progress and divergence
# ----------------------------------------------------------------------------------------------


def format_logs(logs):
    """`loss 1.234, kl_loss 0.5678` — four significant digits, in the order Keras reports them."""
    return ", ".join(f"{key} {float(value):.4g}" for key, value in logs.items())


class LossSummary(keras.callbacks.Callback):
    """Prints one line with every metric every `every` epochs (and after the last epoch).

    Args:
        every: epochs between lines.
        print_fn: where lines go (default `print`); e.g. `logging.info`.
    """

    def __init__(self, every=1, print_fn=print):
        super().__init__()
        self.every = _check_every(every, "every")
        self.print_fn = print_fn
        self._started = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._started is None:
            self._started = (epoch, time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        total = self.params.get("epochs")
        if not should_run(epoch, self.every, total):
            return
        first_epoch, started = self._started
        per_epoch = (time.perf_counter() - started) / (epoch + 1 - first_epoch)
        self.print_fn(f"epoch {epoch + 1}/{total}: {format_logs(logs or {})} ({per_epoch:.1f} s/epoch)")


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first batch whose metrics hold a NaN or Inf, and explains what to try.

    After the stop, `message` names the epoch, the batch and the metric, and the last good
    checkpoint when a `RunCheckpoint` folder is given. `fit` itself returns normally; callers
    (such as `gencompare.train.run`) check `triggered` and report `message`.

    Args:
        checkpoint_dir: optional `RunCheckpoint` folder, to name the last good checkpoint.
        print_fn: where the message goes when training stops (default `print`; None for silence).
    """

    def __init__(self, checkpoint_dir=None, print_fn=print):
        super().__init__()
        self.checkpoint_dir = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)
        self.print_fn = print_fn
        self.triggered = False
        self.message = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.triggered:
            return
        for name, value in (logs or {}).items():
            if not is_finite_number(value):
                self._stop(batch, name, float(value))
                return

    def _stop(self, batch, metric, value):
        self.triggered = True
        self.model.stop_training = True
        self.message = nan_message(self._epoch + 1, batch + 1, metric, value, self._last_good())
        if self.print_fn is not None:
            self.print_fn(self.message)

    def _last_good(self):
        if self.checkpoint_dir is None:
            return None
        state = last_checkpoint(self.checkpoint_dir)
        if state is None:
            return None
        return state["epoch"], self.checkpoint_dir / state["weights"]


def nan_message(epoch, batch, metric, value, last_good):
    """The explanation shown when a metric becomes NaN/Inf (1-based `epoch` and `batch`)."""
    if last_good is None:
        kept = "No checkpoint was written before it, so there is nothing to resume from."
    else:
        kept = f"The last good checkpoint (epoch {last_good[0]}) is kept: {last_good[1]}."
    return (
        f"Training stopped: {metric} became {value} at epoch {epoch}, batch {batch}. {kept} "
        "Try a lower learning rate (e.g. --learning-rate divided by 10), another loss "
        "(--recon-loss for the VAE, --gan-loss for the GAN), and check that the images are in the "
        "model's value range."
    )


# ----------------------------------------------------------------------------------------------
# Training time
# ----------------------------------------------------------------------------------------------


class TrainingClock(keras.callbacks.Callback):
    """Training time of a run (`timing.json`) and, optionally, its quality curve (`curve.csv`).

    Each epoch's wall time and image count go to `timing.json`, with the model's training FLOPs per
    image (`gencompare.models.flops`). With `evaluate` and `points`, the
    model is also evaluated whenever the images seen reach the next count of `points`
    (`gencompare.curves.schedule`): the row `{images, seconds, **evaluate(model)}` goes to
    `curve.csv`. Time spent evaluating is measured and left out of both files, so `seconds` is
    training time only, and the model's seed-generator states are restored after each evaluation, so
    the curve does not change the training. A resumed run (`fit(initial_epoch=k)`) keeps the rows of the first `k`
    epochs and continues its clock from their total, so a killed run loses no point and repeats none.

    Args:
        run_dir: the run folder.
        batch_size: images per training step (the global batch).
        evaluate: `model → {metric: value}`; None records no curve.
        points: image counts to evaluate at.
    """

    def __init__(self, run_dir, batch_size, evaluate=None, points=()):
        super().__init__()
        self.run_dir = pathlib.Path(run_dir)
        self.batch_size = int(batch_size)
        self.evaluate = evaluate
        self.points = sorted(int(point) for point in points) if evaluate is not None else []
        self.epochs = []
        self.curve = []
        self.base_seconds = 0.0
        self.steps_per_epoch = 0
        self.epoch = 0
        self.started = None
        self.evaluating = 0.0
        self.flops_per_image = None

    # -- state ---------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        from gencompare.models.flops import training_flops_per_image

        self.steps_per_epoch = int((self.params or {}).get("steps") or 0)
        self.epochs = read_timing(self.run_dir).get("epochs", [])
        self.curve = read_curve(self.run_dir)
        try:
            self.flops_per_image = training_flops_per_image(self.model)
        except ValueError:  # a model that is neither a VAE nor a GAN: no FLOP count in timing.json
            self.flops_per_image = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        # Epochs from `epoch` on are being (re)trained: forget what a killed run wrote for them.
        self.epochs = [entry for entry in self.epochs if entry["epoch"] <= epoch]
        done = epoch * self.steps_per_epoch * self.batch_size
        self.curve = [row for row in self.curve if row["images"] <= done]
        self.base_seconds = sum(entry["seconds"] for entry in self.epochs)
        self.evaluating = 0.0
        self.started = time.perf_counter()

    def seconds(self):
        """Training seconds of the run so far (evaluation excluded)."""
        return self.base_seconds + time.perf_counter() - self.started - self.evaluating

    # -- progress ------------------------------------------------------------------------------

    def on_train_batch_end(self, batch, logs=None):
        if not self.points:
            return
        images = (self.epoch * self.steps_per_epoch + batch + 1) * self.batch_size
        last = self.curve[-1]["images"] if self.curve else 0
        if any(last < point <= images for point in self.points):
            self.record_point(images)

    def record_point(self, images):
        seconds = self.seconds()
        started = time.perf_counter()
        # Evaluating may draw from the model's seed generators (a VAE's posterior samples): their
        # states are put back, so a run with a curve trains exactly as one without.
        states = seed_generator_states(self.model)
        values = self.evaluate(self.model)
        set_seed_generator_states(self.model, states)
        self.evaluating += time.perf_counter() - started
        self.curve.append({"images": images, "seconds": round(seconds, 3), **values})
        write_text_atomic(self.run_dir / CURVE_FILE, rows_to_csv(self.curve, first="images"))

    def on_epoch_end(self, epoch, logs=None):
        entry = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self.started - self.evaluating, 3),
                 "images": self.steps_per_epoch * self.batch_size}
        self.epochs = [old for old in self.epochs if old["epoch"] != entry["epoch"]] + [entry]
        timing = {"epochs": self.epochs}
        if self.flops_per_image is not None:
            timing["flops_per_image"] = self.flops_per_image
        write_json_atomic(self.run_dir / TIMING_FILE, timing)
