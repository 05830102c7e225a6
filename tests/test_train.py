"""Tests for gencompare.train: settings, run folders, resuming, divergence, vae-gan (tiny real MNIST)."""

import json
import shutil

import keras
import numpy as np
import pytest

from gencompare import callbacks, runs, train

TINY = dict(dataset="mnist", limit=256, epochs=1, batch_size=64, seed=3)


def quiet_run(tmp_path, model="vae", preset="mnist", **settings):
    return train.run(model, preset, out=tmp_path / "runs", verbose=0, print_fn=lambda *_: None, **{**TINY, **settings})


def values(variables):
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in variables]


def assert_same_values(first, second):
    assert len(first) == len(second)
    for a, b in zip(values(first), values(second)):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------------------------
# Settings and folders (no training)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(model="vea"), "Unknown model 'vea'"),
        (dict(model="gan", beta=2.0), "beta apply to the VAE only"),
        (dict(model="vae", gan_loss="hinge"), "gan_loss apply to the GAN only"),
        (dict(epochs=0), "`epochs` must be a positive integer"),
        (dict(sample_every=2.5), "`sample_every` must be a positive integer"),
        (dict(learning_rate=-1.0), "`learning_rate` must be positive"),
        (dict(jit_compile="yes"), "`jit_compile` must be one of auto, on, off"),
        (dict(seed=-1), "`seed` must be a non-negative integer"),
        (dict(precision="bfloat16"), "Unknown precision 'bfloat16'; choose one of auto, float32"),
        (dict(steps_per_execution="fast"), "`steps_per_execution` must be 'auto' or a positive integer"),
        (dict(steps_per_execution=0), "`steps_per_execution` must be 'auto' or a positive integer"),
    ],
)
def test_bad_settings_raise_clear_value_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        train.RunSettings(**settings)


def test_settings_from_config_reject_unknown_keys():
    with pytest.raises(ValueError, match=r"Unknown run settings \['learnin_rate'\]"):
        train.RunSettings.from_dict({"model": "vae", "learnin_rate": 1e-3})


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ValueError, match="available presets: .*mnist"):
        train.resolve_preset("vae", "mnsit", None)
    with pytest.raises(ValueError, match="pick one with --preset"):
        train.resolve_preset("gan", None, "my_pictures")


def test_preset_defaults_to_the_dataset_name_and_pairs_gan_presets():
    assert train.resolve_preset("vae", None, "cats").name == "cats"
    assert train.default_gan_preset(train.resolve_preset("vae", "mnist_2d", None)).name == "mnist"


def test_run_folders_are_named_after_dataset_and_model_and_never_reused(tmp_path):
    first = train.create_run_dir(tmp_path, "/data/my faces.zip", "gan")
    second = train.create_run_dir(tmp_path, "/data/my faces.zip", "gan")
    assert first.name.startswith("my_faces-gan-")
    assert first != second and first.is_dir() and second.is_dir()


def test_run_refuses_an_existing_run_folder(tmp_path):
    with pytest.raises(ValueError, match="already exists. Continue the run in it with"):
        train.run("vae", "mnist", run_dir=tmp_path, print_fn=lambda *_: None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("jit_compile, expected", [("on", True), ("off", False), ("auto", "auto")])
def test_jit_compile_setting_reaches_keras(jit_compile, expected):
    preset = train.resolve_preset("vae", "keras_io_mnist", None)
    model = train.model_class("vae")(**preset.model)
    train.compile_model(model, "vae", preset.training, jit_compile)
    if expected == "auto":
        # Keras resolves "auto" when the train function is made: off on CPU-only machines.
        assert model.jit_compile in ("auto", False)
    else:
        assert model.jit_compile is expected


def test_run_callbacks_include_tensorboard_only_when_asked(tmp_path):
    def callback_types(**settings):
        experiment = train.Trainer(train.RunSettings(preset="mnist", **settings), tmp_path)
        _, chosen = experiment.callbacks(np.zeros((4, 16), "float32"))
        return [type(callback) for callback in chosen]

    default = callback_types()
    assert callbacks.StopOnNaN in default and callbacks.RunCheckpoint in default
    assert callbacks.HistoryCSV in default and callbacks.SampleGrid in default and callbacks.LossSummary in default
    assert keras.callbacks.TensorBoard not in default
    assert keras.callbacks.TensorBoard in callback_types(tensorboard=True)


def test_resume_of_a_folder_without_config_says_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="config.json not found"):
        train.resume(tmp_path)


def test_optimizer_settings_per_network():
    training = {"optimizer": "adam", "learning_rate": 1e-3, "beta_1": 0.5, "d_learning_rate": 4e-4}
    discriminator = train.make_optimizer(training, "d_")
    generator = train.make_optimizer(training, "g_")
    assert isinstance(discriminator, keras.optimizers.Adam)
    assert float(discriminator.learning_rate.numpy()) == pytest.approx(4e-4)
    assert float(generator.learning_rate.numpy()) == pytest.approx(1e-3)
    assert generator.beta_1 == 0.5
    with pytest.raises(ValueError, match="Cannot build optimizer 'adamm'"):
        train.make_optimizer({"optimizer": "adamm", "learning_rate": 1e-3})


def test_optimizer_beta_2_per_network():
    training = {"optimizer": "adam", "learning_rate": 1e-3, "beta_2": 0.99, "g_beta_2": 0.9}
    assert train.make_optimizer(training, "d_").beta_2 == 0.99
    assert train.make_optimizer(training, "g_").beta_2 == 0.9
    assert train.make_optimizer({"learning_rate": 1e-3}).beta_2 == 0.999  # Adam's default when unset


def test_learning_rate_override_keeps_a_gan_presets_ttur_ratio():
    from gencompare.models.presets import Preset, training

    preset = Preset("p", "mnist", "test", {}, training(1e-3, 32, 2, g_learning_rate=4e-3))
    overridden = train.training_arguments(preset, train.RunSettings(model="gan", learning_rate=2e-4))
    assert overridden["learning_rate"] == pytest.approx(2e-4)
    assert overridden["g_learning_rate"] == pytest.approx(8e-4)  # 4 × the shared rate, as in the preset
    assert "d_learning_rate" not in overridden
    assert train.make_optimizer(overridden, "d_").learning_rate.numpy() == pytest.approx(2e-4)
    assert train.make_optimizer(overridden, "g_").learning_rate.numpy() == pytest.approx(8e-4)
    unchanged = train.training_arguments(preset, train.RunSettings(model="gan"))
    assert (unchanged["learning_rate"], unchanged["g_learning_rate"]) == (1e-3, 4e-3)


# ----------------------------------------------------------------------------------------------
# Training runs on real MNIST
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vae_run(real_data_dir, tmp_path_factory):
    """A finished two-epoch VAE run (shared; tests that change it work on a copy)."""
    return quiet_run(tmp_path_factory.mktemp("vae"), epochs=2, checkpoint_every=1)


def test_default_settings_resolve_for_this_machine_and_are_recorded(vae_run):
    from gencompare import distribute

    config = train.read_config(vae_run.run_dir)
    assert config["run"]["precision"] == "auto" and config["run"]["steps_per_execution"] == "auto"
    resolved = config["resolved"]
    assert resolved["precision"] == distribute.recommended_precision()
    # "auto" is 8 steps per call, capped at the epoch's 4 steps (Keras' bar would show "8/4" otherwise).
    assert resolved["steps_per_execution"] == min(distribute.AUTO_STEPS_PER_EXECUTION, 4)
    # Keras' "auto": XLA on with a GPU, off on CPU-only machines (where it is slower).
    import tensorflow as tf

    assert resolved["jit_compile"] is bool(tf.config.list_physical_devices("GPU"))
    assert vae_run.model.dtype_policy.name == resolved["precision"]
    # An epoch of 4 steps trains 4 steps: 2 epochs, 8 updates.
    assert int(vae_run.model.optimizer.iterations.numpy()) == 8


def test_auto_precision_of_a_resumed_run_is_the_one_it_started_with(vae_run, tmp_path):
    run_dir = shutil.copytree(vae_run.run_dir, tmp_path / "copy")
    config = train.read_config(run_dir)
    # As if the run had started on a machine whose "auto" meant float16 (a GPU): the optimizer state
    # in its checkpoints has loss-scale variables, so resuming must not switch precision.
    config["resolved"]["precision"] = "mixed_float16"
    (run_dir / "config.json").write_text(json.dumps(config))
    experiment = train.Trainer(train.RunSettings.from_dict(config["run"]), run_dir)
    assert experiment.precision() == "mixed_float16"
    fixed = train.Trainer(train.RunSettings.from_dict({**config["run"], "precision": "float32"}), run_dir)
    assert fixed.precision() == "float32"


def test_resume_trains_a_finished_run_further_with_continuous_history(vae_run, tmp_path):
    run_dir = shutil.copytree(vae_run.run_dir, tmp_path / "copy")
    before = runs.read_history(run_dir / "history.csv")
    result = train.resume(run_dir, epochs=3, learning_rate=5e-5, verbose=0, print_fn=lambda *_: None)
    rows = runs.read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in rows] == [0, 1, 2]
    assert rows[:2] == before
    # The optimizer continued: 3 epochs of 256 // 64 = 4 steps each.
    assert int(result.model.optimizer.iterations.numpy()) == 12
    # A learning rate given on resume replaces the one stored in the checkpoint.
    assert float(result.model.optimizer.learning_rate.numpy()) == pytest.approx(5e-5)
    assert train.read_config(run_dir)["run"]["epochs"] == 3
    assert (run_dir / "samples" / "vae_generated_plot_e003.png").exists()


def test_finished_run_is_not_trained_again(vae_run, tmp_path):
    run_dir = shutil.copytree(vae_run.run_dir, tmp_path / "copy")
    messages = []
    train.resume(run_dir, verbose=0, print_fn=messages.append)
    assert any("has finished its 2 epochs" in message for message in messages)
    assert len(runs.read_history(run_dir / "history.csv")) == 2


def test_sample_run_writes_a_grid_and_falls_back_to_the_checkpoint(vae_run, tmp_path):
    from PIL import Image

    path = train.sample_run(vae_run.run_dir, 4, seed=1, path=tmp_path / "grid.png")
    with Image.open(path) as image:
        # 2 x 2 tiles of 28 pixels with 1-pixel borders.
        assert image.size == (2 * 29 + 1, 2 * 29 + 1)
    unfinished = shutil.copytree(vae_run.run_dir, tmp_path / "unfinished")
    (unfinished / "model.keras").unlink()
    from_checkpoint = train.load_run_model(unfinished)
    assert_same_values(from_checkpoint.weights, vae_run.model.weights)
    with pytest.raises(ValueError, match="`count` must be a positive integer"):
        train.sample_run(vae_run.run_dir, 0)


def test_gan_checkpoint_restores_weights_ema_optimizers_and_seed_generators(real_data_dir, tmp_path):
    result = quiet_run(tmp_path, "gan", "mnist")
    settings = train.RunSettings.from_dict(train.read_config(result.run_dir)["run"])
    experiment = train.Trainer(settings, result.run_dir, verbose=0, print_fn=lambda *_: None)
    experiment.load_data()
    fresh = experiment.build_model()
    # A freshly built model differs (e.g. its EMA step counter and seed generators are at 0) ...
    assert int(fresh.ema_updates.numpy()) == 0
    assert experiment.restore() == 1
    trained = result.model
    # ... and the checkpoint brings every piece of state back.
    assert int(fresh.ema_updates.numpy()) == int(trained.ema_updates.numpy()) == 4
    assert_same_values(fresh.ema_generator.weights, trained.ema_generator.weights)
    assert_same_values(fresh.weights, trained.weights)
    assert_same_values(fresh.d_optimizer.variables, trained.d_optimizer.variables)
    assert_same_values(fresh.g_optimizer.variables, trained.g_optimizer.variables)
    assert_same_values(
        [g.state for g in callbacks.seed_generators(fresh)], [g.state for g in callbacks.seed_generators(trained)]
    )


class Destabilise(keras.callbacks.Callback):
    """Sets an absurd learning rate after the first epoch, so that the second one diverges."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.optimizer.learning_rate = 1e9


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(real_data_dir, tmp_path):
    with pytest.raises(train.TrainingDiverged) as caught:
        quiet_run(tmp_path, epochs=3, extra_callbacks=[Destabilise()])
    (run_dir,) = (tmp_path / "runs").iterdir()
    message = str(caught.value)
    assert "became" in message and "at epoch 2, batch" in message
    assert "last good checkpoint (epoch 1)" in message
    assert "lower learning rate" in message and f"--resume {run_dir} --learning-rate 1e-05" in message
    assert runs.last_checkpoint(run_dir / "checkpoints")["epoch"] == 1
    assert not (run_dir / "model.keras").exists()
    # The kept checkpoint is the good one: finite weights.
    model = train.load_run_model(run_dir)
    assert all(np.all(np.isfinite(v)) for v in values(model.weights))
    assert (run_dir / "loss_curves.png").exists()


def test_vae_gan_generator_starts_from_the_vae_decoder(real_data_dir, tmp_path, monkeypatch):
    starts = {}
    original_build = train.Trainer.build_model

    def recording_build(self):
        model = original_build(self)
        if self.kind == "gan":
            latent = model.latent_grid(8, seed=0)
            starts["gan"] = keras.ops.convert_to_numpy(model.generator(latent, training=False))
            starts["vae"] = keras.ops.convert_to_numpy(self.vae.decoder(latent, training=False))
        return model

    monkeypatch.setattr(train.Trainer, "build_model", recording_build)
    result = quiet_run(tmp_path, "vae-gan", "mnist")
    assert set(result.phases) == {"vae", "gan"}
    assert result.phases["vae"].model is not None
    # The GAN draws in [-1, 1] what the decoder draws in [0, 1]: 2 * sigmoid(a) - 1 == tanh(a / 2).
    np.testing.assert_allclose(starts["gan"], 2.0 * starts["vae"] - 1.0, atol=1e-5)
    for phase in ("vae", "gan"):
        folder = result.run_dir / phase
        assert (folder / "model.keras").exists() and (folder / "history.csv").exists()
    assert train.read_config(result.run_dir / "gan")["run"]["from_vae"] == str(result.run_dir / "vae")
    assert type(train.load_run_model(result.run_dir)).__name__ == "GAN"


def test_a_saved_model_loads_in_a_fresh_process_that_imported_no_model(tmp_path):
    """`load_model_file` registers the model classes itself (`gencompare.models` is lazy)."""
    import subprocess
    import sys

    from gencompare.models.vae import VAE

    VAE.from_preset("mnist", seed=0).save(tmp_path / "model.keras")
    code = "import sys; from gencompare import train; print(type(train.load_model_file(sys.argv[1])).__name__)"
    completed = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.keras")], capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "VAE"
