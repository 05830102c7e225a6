"""Tests for gencompare.callbacks, on a tiny stand-in model (seconds, no real data)."""

import csv

import keras
import numpy as np
import pytest

from gencompare import callbacks, runs


class TinyAutoencoder(keras.Model):
    """A few-parameter model with what the callbacks rely on: `decode`, `value_range`, a seed generator."""

    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.value_range = (0.0, 1.0)
        self.encoder = keras.layers.Dense(2, name="encoder")
        self.decoder = keras.layers.Dense(16, activation="sigmoid", name="decoder")
        self.seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")

    def call(self, x):
        z = self.encoder(x)
        z = z + 0.01 * keras.random.normal(keras.ops.shape(z), seed=self.seed_generator)
        return self.decoder(z)

    def decode(self, z):
        return keras.ops.reshape(self.decoder(z), (-1, 4, 4, 1))


def tiny_model(learning_rate=1e-2, seed=0):
    keras.utils.set_random_seed(seed)
    model = TinyAutoencoder(seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    model(np.zeros((1, 16), "float32"))
    return model


@pytest.fixture
def data():
    return np.random.default_rng(0).uniform(size=(64, 16)).astype("float32")


def fit(model, data, callback_list, epochs, initial_epoch=0):
    return model.fit(
        data, data, batch_size=16, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
        callbacks=callback_list, verbose=0,
    )


def test_history_csv_has_every_metric_every_epoch(tmp_path, data):
    path = tmp_path / "history.csv"
    history = fit(tiny_model(), data, [callbacks.HistoryCSV(path)], epochs=3)
    rows = runs.read_history(path)
    assert [row["epoch"] for row in rows] == [0, 1, 2]  # 0-based, as keras.callbacks.CSVLogger
    assert [row["loss"] for row in rows] == pytest.approx(history.history["loss"], rel=1e-6)
    with path.open() as file:
        assert next(csv.reader(file))[0] == "epoch"


def test_history_csv_drops_epochs_after_the_checkpoint_on_resume(tmp_path, data):
    path = tmp_path / "history.csv"
    # A killed run finished five epochs (0–4) but its last checkpoint is after the third.
    stale = [{"epoch": e, "loss": 100.0 + e} for e in range(5)]
    path.write_text(runs.rows_to_csv(stale))
    fit(tiny_model(), data, [callbacks.HistoryCSV(path)], epochs=6, initial_epoch=3)
    rows = runs.read_history(path)
    assert [row["epoch"] for row in rows] == [0, 1, 2, 3, 4, 5]
    assert [row["loss"] for row in rows[:3]] == [100.0, 101.0, 102.0]
    assert all(row["loss"] < 100 for row in rows[3:])


def test_checkpoint_every_n_keeps_periodic_files_and_only_the_latest_backup(tmp_path, data):
    directory = tmp_path / "checkpoints"
    fit(tiny_model(), data, [callbacks.RunCheckpoint(directory, every=2)], epochs=5)
    names = sorted(p.name for p in directory.iterdir())
    # Epochs 2 and 4 by period, 5 because it is the last; no leftover backup or temporary file.
    assert names == ["epoch_0002.weights.h5", "epoch_0004.weights.h5", "epoch_0005.weights.h5", "last.json"]
    assert runs.last_checkpoint(directory)["epoch"] == 5


def test_restore_brings_back_weights_optimizer_and_seed_generator(tmp_path, data):
    directory = tmp_path / "checkpoints"
    trained = tiny_model()
    fit(trained, data, [callbacks.RunCheckpoint(directory, every=10)], epochs=3)

    fresh = tiny_model(seed=99)
    assert callbacks.restore_checkpoint(fresh, directory, (data[:16], data[:16])) == 3
    for saved, loaded in zip(trained.weights, fresh.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    for saved, loaded in zip(trained.optimizer.variables, fresh.optimizer.variables):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    assert int(fresh.optimizer.iterations.numpy()) == 3 * 4
    np.testing.assert_array_equal(trained.seed_generator.state.numpy(), fresh.seed_generator.state.numpy())


def test_restore_rejects_a_checkpoint_of_another_model(tmp_path, data):
    directory = tmp_path / "checkpoints"
    fit(tiny_model(), data, [callbacks.RunCheckpoint(directory)], epochs=1)
    other = keras.Sequential([keras.Input((16,)), keras.layers.Dense(16)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="does not fit this model"):
        callbacks.restore_checkpoint(other, directory, (data[:16], data[:16]))


def test_restore_without_checkpoint_starts_at_epoch_zero(tmp_path, data):
    assert callbacks.restore_checkpoint(tiny_model(), tmp_path, data[:16]) == 0


def test_nan_stops_training_keeps_last_good_checkpoint_and_explains(tmp_path, data):
    directory = tmp_path / "checkpoints"
    poisoned = data.copy()
    poisoned[40] = np.nan  # batch 3 of every epoch
    model = tiny_model()
    fit(model, data, [callbacks.RunCheckpoint(directory)], epochs=1)
    messages = []
    guard = callbacks.StopOnNaN(directory, print_fn=messages.append)
    history = fit(model, poisoned, [guard, callbacks.RunCheckpoint(directory)], epochs=3, initial_epoch=1)
    assert guard.triggered
    assert len(history.history["loss"]) == 1  # stopped in the first epoch it ran
    assert messages == [guard.message]
    assert "loss became nan at epoch 2, batch 3" in guard.message
    assert "last good checkpoint (epoch 1)" in guard.message
    assert "lower learning rate" in guard.message
    assert runs.last_checkpoint(directory)["epoch"] == 1
    assert not (directory / "epoch_0002.weights.h5").exists()
    assert not (directory / "backup_0002.weights.h5").exists()


def test_nan_message_without_checkpoint_says_so():
    message = callbacks.nan_message(1, 7, "d_loss", float("inf"), None)
    assert "d_loss became inf at epoch 1, batch 7" in message
    assert "nothing to resume from" in message


def test_loss_summary_prints_every_n_epochs_and_the_last(data):
    lines = []
    fit(tiny_model(), data, [callbacks.LossSummary(every=2, print_fn=lines.append)], epochs=5)
    assert [line.split(":")[0] for line in lines] == ["epoch 2/5", "epoch 4/5", "epoch 5/5"]
    assert all("loss " in line and "s/epoch" in line for line in lines)


@pytest.mark.parametrize("every", [0, -1, 1.5, "2"])
def test_periodic_callbacks_reject_bad_periods(every, tmp_path):
    with pytest.raises(ValueError, match="positive integer"):
        callbacks.RunCheckpoint(tmp_path, every=every)
    with pytest.raises(ValueError, match="positive integer"):
        callbacks.LossSummary(every=every)


def test_sample_grid_writes_pngs_from_the_fixed_latent(tmp_path, data):
    latent = np.random.default_rng(1).standard_normal((4, 2)).astype("float32")
    drawn = []

    def generate(model, z):
        drawn.append(z.copy())
        return callbacks.generate_from_latent(model, z)

    grid = callbacks.SampleGrid(latent, tmp_path, every=2, prefix="vae", generate=generate)
    fit(tiny_model(), data, [grid], epochs=3)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["vae_generated_plot_e002.png", "vae_generated_plot_e003.png"]
    assert all(np.array_equal(z, latent) for z in drawn)
    from PIL import Image

    with Image.open(tmp_path / names[0]) as image:
        assert min(image.size) >= 8


# ----------------------------------------------------------------------------------------------
# Damaged checkpoints
# ----------------------------------------------------------------------------------------------


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def test_a_truncated_newest_checkpoint_is_skipped_for_the_one_before_it(tmp_path, data):
    directory = tmp_path / "checkpoints"
    trained = tiny_model()
    fit(trained, data, [callbacks.RunCheckpoint(directory, every=1)], epochs=2)
    after_first = tiny_model()
    fit(after_first, data, [], epochs=1)
    truncate(directory / "epoch_0002.weights.h5")
    messages = []
    fresh = tiny_model(seed=99)
    assert callbacks.restore_checkpoint(fresh, directory, (data[:16], data[:16]), print_fn=messages.append) == 1
    assert len(messages) == 1 and "epoch_0002.weights.h5 is damaged" in messages[0]
    for expected, loaded in zip(after_first.weights, fresh.weights):
        np.testing.assert_allclose(expected.numpy(), loaded.numpy(), rtol=1e-6)
    assert int(fresh.optimizer.iterations.numpy()) == 4


def test_all_checkpoints_damaged_is_one_clear_error(tmp_path, data):
    directory = tmp_path / "checkpoints"
    fit(tiny_model(), data, [callbacks.RunCheckpoint(directory, every=1)], epochs=2)
    for path in directory.glob("*.weights.h5"):
        truncate(path)
    with pytest.raises(callbacks.DamagedCheckpoints, match=r"Every checkpoint in .* is damaged \(epoch_0002.weights.h5, "
                                                           r"epoch_0001.weights.h5\)"):
        callbacks.restore_checkpoint(tiny_model(), directory, (data[:16], data[:16]), print_fn=lambda *_: None)


# ----------------------------------------------------------------------------------------------
# Training time and the quality curve
# ----------------------------------------------------------------------------------------------


def slow_metric(seconds):
    """A stand-in curve metric that takes `seconds` and counts its calls."""
    import time

    calls = []

    def evaluate(model):
        time.sleep(seconds)
        calls.append(1)
        return {"fd_mnist": 100.0 / len(calls)}

    return evaluate, calls


def test_the_clock_writes_a_row_per_point_and_leaves_evaluation_time_out(tmp_path, data):
    import time

    evaluate, calls = slow_metric(1.0)
    points = [16, 64, 128, 256]
    clock = callbacks.TrainingClock(tmp_path, batch_size=16, evaluate=evaluate, points=points)
    started = time.perf_counter()
    fit(tiny_model(), data, [clock], epochs=4)  # 4 steps of 16 images per epoch: 256 images
    wall = time.perf_counter() - started
    rows = runs.read_curve(tmp_path)
    assert [row["images"] for row in rows] == points and len(calls) == 4
    seconds = [row["seconds"] for row in rows]
    assert seconds == sorted(seconds)
    # The four evaluations slept 4 s of the fit's wall time; none of it is training time.
    assert seconds[-1] <= wall - 4.0
    timing = runs.read_timing(tmp_path)["epochs"]
    assert [entry["epoch"] for entry in timing] == [1, 2, 3, 4]
    assert sum(entry["seconds"] for entry in timing) <= wall - 4.0
    assert all(entry["images"] == 64 for entry in timing)


def test_a_killed_and_resumed_run_keeps_its_points_without_duplicates(tmp_path, data):
    evaluate, _ = slow_metric(0.0)
    points = [16, 64, 128, 192, 256]
    model = tiny_model()
    fit(model, data, [callbacks.TrainingClock(tmp_path, 16, evaluate=evaluate, points=points)], epochs=3)
    # Killed after epoch 3, resumed from the checkpoint of epoch 2: epoch 3's point (192) is retrained.
    before = runs.read_curve(tmp_path)
    assert [row["images"] for row in before] == [16, 64, 128, 192]
    fit(model, data, [callbacks.TrainingClock(tmp_path, 16, evaluate=evaluate, points=points)], epochs=4,
        initial_epoch=2)
    rows = runs.read_curve(tmp_path)
    assert [row["images"] for row in rows] == points
    assert rows[:3] == before[:3]
    assert [row["seconds"] for row in rows] == sorted(row["seconds"] for row in rows)
    assert [entry["epoch"] for entry in runs.read_timing(tmp_path)["epochs"]] == [1, 2, 3, 4]


def test_the_clock_without_a_metric_only_times_epochs(tmp_path, data):
    fit(tiny_model(), data, [callbacks.TrainingClock(tmp_path, batch_size=16)], epochs=2)
    assert runs.read_curve(tmp_path) == [] and len(runs.read_timing(tmp_path)["epochs"]) == 2


def test_evaluating_the_curve_does_not_change_the_training(tmp_path, data):
    def evaluate(model):  # draws from the model's seed generator, as a VAE's ELBO does
        return {"noise": float(keras.random.normal((1,), seed=model.seed_generator).numpy()[0])}

    plain, traced = tiny_model(), tiny_model()
    fit(plain, data, [], epochs=2)
    fit(traced, data, [callbacks.TrainingClock(tmp_path, 16, evaluate=evaluate, points=[16, 48, 128])], epochs=2)
    assert len(runs.read_curve(tmp_path)) == 3
    for expected, got in zip(plain.weights, traced.weights):
        np.testing.assert_array_equal(expected.numpy(), got.numpy())
