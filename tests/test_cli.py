"""Tests for the command line (`python -m gencompare`): help, errors, a full run, repeat, kill and resume."""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from PIL import Image

from gencompare import cli, runs, train

# 512 real MNIST images, 2 epochs: the smoke configuration.
SMOKE = ["train", "--model", "vae", "--preset", "mnist", "--limit", "512", "--epochs", "2", "--seed", "7", "--verbose", "0"]


def run_cli(argv, capsys):
    """Runs `main(argv)` in-process; returns (exit status, stdout, stderr)."""
    try:
        status = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def only_run_dir(out):
    (run_dir,) = [path for path in out.iterdir() if path.is_dir()]
    return run_dir


# ----------------------------------------------------------------------------------------------
# Help and errors
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["train"], ["sample"], ["data"], ["report"]])
def test_help_of_every_command_has_examples(command, capsys):
    status, out, _ = run_cli(command + ["--help"], capsys)
    assert status == 0
    assert "examples:" in out and "python -m gencompare" in out


def test_console_script_entry_point_is_cli_main():
    from gencompare import __main__

    assert __main__.main is cli.main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["train", "--epochs", "x"], "invalid int value: 'x'"),
        (["train", "--jit-compile", "maybe"], "invalid choice: 'maybe'"),
        (["train", "--resume", "a", "--config", "b"], "not allowed with argument"),
        (["train", "--preset", "nope"], "Unknown VAE preset 'nope'; available presets:"),
        (["train", "--model", "gan", "--beta", "2"], "beta apply to the VAE only"),
        (["train", "--epochs", "0"], "`epochs` must be a positive integer"),
        (["train", "--resume", "{tmp}", "--beta", "2"], "only --epochs and --learning-rate may change (got --beta)"),
        (["train", "--resume", "{tmp}"], "config.json not found"),
        (["sample", "{tmp}"], "config.json not found"),
    ],
)
def test_bad_input_gives_one_line_and_exit_status_2(argv, message, capsys, tmp_path):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    status, _, err = run_cli(argv + ["--out", tmp_path / "runs"] if argv[0] == "train" else argv, capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gencompare") and "error:" in lines[0]
    assert message in lines[0]


def test_unknown_dataset_is_one_line_and_leaves_no_empty_run_folder(real_data_dir, capsys, tmp_path):
    status, _, err = run_cli(["train", "--dataset", "no_such_set", "--preset", "mnist", "--out", tmp_path], capsys)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "no_such_set" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_preset_for_another_image_size_is_one_clear_line(real_data_dir, capsys, tmp_path):
    argv = ["train", "--preset", "mnist", "--image-size", 32, "--limit", 64, "--out", tmp_path]
    status, _, err = run_cli(argv, capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "Preset 'mnist' is built for (28, 28, 1) images but the data is (32, 32, 1)" in err


def test_data_info_describes_the_files(real_data_dir, capsys):
    status, out, _ = run_cli(["data", "info", "mnist", "--data-dir", real_data_dir], capsys)
    assert status == 0
    assert f"folder: {real_data_dir / 'mnist'}" in out
    assert "train-images-idx3-ubyte.gz" in out


# ----------------------------------------------------------------------------------------------
# A full run and its artifacts
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke_run(real_data_dir, tmp_path_factory):
    """`train` on 512 MNIST images for 2 epochs; returns (run folder, stdout)."""
    out = tmp_path_factory.mktemp("cli")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = cli.main(SMOKE + ["--sample-every", "1", "--checkpoint-every", "1", "--out", str(out)])
    assert status == 0
    return only_run_dir(out), output.getvalue()


def test_train_writes_every_artifact(smoke_run):
    run_dir, output = smoke_run
    assert run_dir.name.startswith("mnist-vae-")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run"]["limit"] == 512 and config["run"]["seed"] == 7 and config["run"]["preset"] == "mnist"
    assert config["versions"]["keras"] == keras.__version__
    assert config["resolved"]["image_shape"] == [28, 28, 1] and config["resolved"]["num_images"] == 512

    rows = runs.read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in rows] == [0, 1]
    assert set(rows[0]) == {"epoch", "loss", "reconstruction_loss", "kl_loss"}

    checkpoints = run_dir / "checkpoints"
    assert (checkpoints / "epoch_0001.weights.h5").exists() and (checkpoints / "epoch_0002.weights.h5").exists()
    assert runs.last_checkpoint(checkpoints)["epoch"] == 2

    assert np.load(run_dir / "samples" / "latent.npy").shape == (64, 16)
    for name in ("samples/vae_generated_plot_e001.png", "samples/vae_generated_plot_e002.png",
                 "loss_curves.png", "reconstructions.png", "interpolation.png"):
        with Image.open(run_dir / name) as image:
            assert image.format == "PNG" and min(image.size) > 50, name

    model = keras.models.load_model(run_dir / "model.keras")
    images = model.sample(4, seed=0)
    assert images.shape == (4, 28, 28, 1) and images.min() >= 0.0 and images.max() <= 1.0
    assert "epoch 1/2: " in output and "epoch 2/2: " in output
    assert f"Run finished: {run_dir}" in output


def test_config_json_alone_repeats_the_run(smoke_run, capsys, tmp_path):
    run_dir, _ = smoke_run
    status, _, err = run_cli(["train", "--config", run_dir / "config.json", "--out", tmp_path, "--verbose", "0"], capsys)
    assert status == 0, err
    repeat = only_run_dir(tmp_path)
    assert (repeat / "history.csv").read_text() == (run_dir / "history.csv").read_text()
    np.testing.assert_array_equal(np.load(repeat / "samples/latent.npy"), np.load(run_dir / "samples/latent.npy"))


def test_sample_command_draws_a_repeatable_grid(smoke_run, capsys, tmp_path):
    run_dir, _ = smoke_run
    paths = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"]
    for path, seed in zip(paths, (2, 2, 3)):
        status, out, _ = run_cli(["sample", run_dir, "-n", 9, "--seed", seed, "--out", path], capsys)
        assert status == 0 and f"Wrote {path}" in out
    with Image.open(paths[0]) as image:
        assert image.size == (3 * 29 + 1, 3 * 29 + 1)  # 3 x 3 tiles of 28 px, 1 px borders
    pixels = [np.asarray(Image.open(path)) for path in paths]
    np.testing.assert_array_equal(pixels[0], pixels[1])
    assert not np.array_equal(pixels[0], pixels[2])


# ----------------------------------------------------------------------------------------------
# Divergence, kill and resume
# ----------------------------------------------------------------------------------------------


def test_nan_loss_exits_1_with_the_explanation(real_data_dir, capsys, tmp_path):
    argv = ["train", "--limit", 256, "--epochs", 2, "--learning-rate", 1e6, "--out", tmp_path, "--verbose", 0]
    status, _, err = run_cli(argv, capsys)
    assert status == 1
    (line,) = err.strip().splitlines()
    assert "became" in line and "at epoch 1, batch" in line
    assert "Try a lower learning rate" in line and "--resume" in line
    assert not (only_run_dir(tmp_path) / "model.keras").exists()


def wait_for_checkpoint(process, out, epochs_done, timeout=300):
    """Polls until a run folder under `out` has committed a checkpoint of `epochs_done` epochs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run_dir in out.glob("*"):
            state = runs.last_checkpoint(run_dir / "checkpoints") if run_dir.is_dir() else None
            if state and state["epoch"] >= epochs_done:
                return run_dir
        if process.poll() is not None:
            pytest.fail(f"training exited with {process.returncode} before its checkpoint")
        time.sleep(0.05)
    pytest.fail("no checkpoint within the time limit")


EPOCHS = 8


def test_killed_run_resumes_at_the_next_epoch_with_each_epoch_once(real_data_dir, capsys, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    argv = ["train", "--model", "vae", "--preset", "mnist", "--limit", "512", "--batch-size", "128",
            "--epochs", str(EPOCHS), "--learning-rate", "2e-3", "--seed", "5", "--checkpoint-every", "2",
            "--sample-every", "100", "--summary-every", "100", "--verbose", "0", "--out", str(out)]
    env = {**os.environ, "GENCOMPARE_DATA": str(real_data_dir)}
    with open(tmp_path / "log.txt", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gencompare", *argv], env=env, stdout=log, stderr=log)
        try:
            # After two epochs, so that the loss curve before the kill has a slope to continue.
            run_dir = wait_for_checkpoint(process, out, epochs_done=2)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_history = runs.read_history(run_dir / "history.csv")
    state = runs.last_checkpoint(run_dir / "checkpoints")
    done = state["epoch"]
    assert 2 <= done < EPOCHS and len(killed_history) >= done
    # Later backups replace this one; keep a copy to compare the resumed start with.
    checkpoint_copy = shutil.copy(run_dir / "checkpoints" / state["weights"], tmp_path / "saved.weights.h5")

    # Record the model as the resumed run starts training.
    started = {}
    original_restore = train.Trainer.restore

    def recording_restore(self):
        epochs_done = original_restore(self)
        started["weights"] = [w.numpy() for w in self.model.weights]
        started["iterations"] = int(self.model.optimizer.iterations.numpy())
        return epochs_done

    monkeypatch.setattr(train.Trainer, "restore", recording_restore)
    status, out_text, err = run_cli(["train", "--resume", run_dir, "--verbose", 0], capsys)
    assert status == 0, err
    assert f"Resuming {run_dir} after epoch {done}." in out_text

    # Continued from the saved weights and optimizer state, not from scratch.
    saved = train.load_run_model(run_dir)
    saved.load_weights(checkpoint_copy)
    for started_weight, saved_weight in zip(started["weights"], saved.weights):
        np.testing.assert_array_equal(started_weight, saved_weight.numpy())
    assert started["iterations"] == done * (512 // 128)

    rows = runs.read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in rows] == list(range(EPOCHS))
    assert [row["loss"] for row in rows[:done]] == [row["loss"] for row in killed_history[:done]]
    # The first resumed epoch continues the curve: nearer the last saved epoch than the fresh start.
    fresh, last_saved, resumed = rows[0]["loss"], rows[done - 1]["loss"], rows[done]["loss"]
    assert abs(resumed - last_saved) < abs(resumed - fresh)
    assert (run_dir / "model.keras").exists()


# ----------------------------------------------------------------------------------------------
# Own images, damaged files, a quiet start
# ----------------------------------------------------------------------------------------------


def test_own_folder_of_images_trains_without_a_preset(capsys, tmp_path):
    from gencompare.models.presets import OWN_IMAGES_PRESETS

    faces = tmp_path / "my_faces"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for index in range(24):
        Image.fromarray(rng.integers(0, 256, (80, 72, 3), dtype=np.uint8)).save(faces / f"face{index:02d}.jpg")
    out = tmp_path / "runs"
    argv = ["train", "--model", "gan", "--dataset", faces, "--epochs", 1, "--batch-size", 8, "--verbose", 0,
            "--out", out]
    status, _, err = run_cli(argv, capsys)
    assert status == 0, err
    run_dir = only_run_dir(out)
    assert run_dir.name.startswith("my_faces-gan-")
    resolved = json.loads((run_dir / "config.json").read_text())["resolved"]
    assert resolved["preset"] == OWN_IMAGES_PRESETS["gan"] and resolved["image_shape"] == [64, 64, 3]
    assert (run_dir / "model.keras").is_file()


def test_a_missing_dataset_path_says_no_such_file_or_folder(capsys, tmp_path):
    status, _, err = run_cli(["train", "--model", "gan", "--dataset", tmp_path / "nowhere", "--out", tmp_path], capsys)
    assert status == 2 and err.strip().splitlines() == [
        f"gencompare: error: --dataset {tmp_path / 'nowhere'}: no such file or folder."
    ]


def test_tensorflow_start_up_lines_are_held_back(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "gencompare", "sample", str(tmp_path)], capture_output=True,
                               text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"gencompare: error: {tmp_path / 'config.json'} not found: is {tmp_path} a run folder written by gencompare?"
    ]


def test_resume_skips_a_truncated_newest_checkpoint_and_keeps_every_epoch_once(smoke_run, capsys, tmp_path):
    run_dir = shutil.copytree(smoke_run[0], tmp_path / "run")
    newest = run_dir / "checkpoints" / "epoch_0002.weights.h5"
    newest.write_bytes(newest.read_bytes()[:1000])
    status, out, err = run_cli(["train", "--resume", run_dir, "--epochs", 3, "--verbose", 0], capsys)
    assert status == 0, err
    assert f"Checkpoint {newest} is damaged" in out and f"Resuming {run_dir} after epoch 1." in out
    assert [row["epoch"] for row in runs.read_history(run_dir / "history.csv")] == [0, 1, 2]
    assert runs.last_checkpoint(run_dir / "checkpoints")["epoch"] == 3


def test_all_checkpoints_damaged_and_a_damaged_model_are_one_line_each(smoke_run, capsys, tmp_path):
    run_dir = shutil.copytree(smoke_run[0], tmp_path / "run")
    (run_dir / "model.keras").write_bytes(b"PK\x03\x04 not a whole zip")
    status, _, err = run_cli(["sample", run_dir, "-n", 4], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "model.keras is damaged and cannot be loaded" in err and "Traceback" not in err
    for path in (run_dir / "checkpoints").glob("*.weights.h5"):
        path.write_bytes(b"")
    status, _, err = run_cli(["train", "--resume", run_dir, "--epochs", 3, "--verbose", 0], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "Every checkpoint in" in err and "is damaged" in err and "Traceback" not in err
