"""Tests for gencompare.runs: run-folder files, settings, readers, the finished-check and the lock."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gencompare import runs

HOLD_LOCK = """
import sys, time
from gencompare import runs
with runs.locked(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(folder, seconds):
    """A child process that takes the folder's lock and holds it for `seconds`."""
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder), str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_process_cannot_take_a_held_lock_and_is_told_who_holds_it(tmp_path):
    holder = hold_lock(tmp_path, 2)
    try:
        started = time.perf_counter()
        with pytest.raises(runs.RunFolderBusy, match=rf"{tmp_path} is being trained by pid {holder.pid} on "):
            with runs.locked(tmp_path):
                pass
        assert time.perf_counter() - started < 2  # fails at once, does not wait
        assert holder.wait(timeout=60) == 0  # the holder finishes normally
    finally:
        holder.kill()
    with runs.locked(tmp_path):  # released at the holder's exit
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = hold_lock(tmp_path, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with runs.locked(tmp_path):
        assert (tmp_path / runs.LOCK_FILE).read_text() == f"pid {os.getpid()} on {os.uname().nodename}"


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with runs.locked(tmp_path):
        with runs.locked(tmp_path):
            pass
        holder = subprocess.run([sys.executable, "-c", HOLD_LOCK, str(tmp_path), "0"], capture_output=True, text=True)
        assert holder.returncode == 1 and "RunFolderBusy" in holder.stderr  # still held by the outer block


def test_train_resume_of_a_folder_in_training_exits_2_with_one_line(tmp_path):
    (tmp_path / runs.CONFIG_FILE).write_text(json.dumps({"run": runs.RunSettings(preset="mnist").to_dict()}))
    holder = hold_lock(tmp_path, 60)
    try:
        completed = subprocess.run([sys.executable, "-m", "gencompare", "train", "--resume", str(tmp_path), "--epochs", "3"],
                                   capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"gencompare: error: {tmp_path} is being trained by pid {holder.pid} on {os.uname().nodename}; wait for it "
        "to finish (or stop it), then run this again."
    ]
    assert json.loads((tmp_path / runs.CONFIG_FILE).read_text())["run"]["epochs"] is None  # nothing written


# ----------------------------------------------------------------------------------------------
# Presets and settings
# ----------------------------------------------------------------------------------------------


def test_own_images_without_a_preset_get_the_own_images_presets(tmp_path):
    from gencompare.models.presets import OWN_IMAGES_PRESETS

    assert runs.resolve_preset("gan", None, str(tmp_path)).name == OWN_IMAGES_PRESETS["gan"]
    assert runs.RunSettings(model="vae", dataset=str(tmp_path)).model_preset().name == OWN_IMAGES_PRESETS["vae"]
    with pytest.raises(ValueError, match="no such file or folder"):
        runs.resolve_preset("gan", None, str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="for 32×32 images pick a preset"):
        runs.resolve_preset("vae", None, str(tmp_path), image_size=32)
    with pytest.raises(ValueError, match="No GAN preset is named 'svhn'"):
        runs.resolve_preset("gan", None, "svhn")
    assert runs.resolve_preset("vae", None, "cats").name == "cats"
    assert not runs.looks_like_path("kaggle:owner/name") and runs.looks_like_path("faces.zip")


def test_dataset_name_is_the_setting_else_the_presets():
    assert runs.RunSettings(model="gan", preset="faces64_small").dataset_name() == "anime"
    assert runs.RunSettings(model="vae", preset="mnist", dataset="fashion_mnist").dataset_name() == "fashion_mnist"
    assert runs.RunSettings(model="vae-gan", preset="cats").dataset_name() == "cats"


def test_differing_settings_name_what_changed(tmp_path):
    settings = runs.RunSettings(preset="mnist", epochs=2)
    assert runs.differing_settings(tmp_path, settings) == []  # no config yet
    (tmp_path / runs.CONFIG_FILE).write_text(json.dumps({"run": {**settings.to_dict(), "epochs": 7}}))
    assert runs.differing_settings(tmp_path, settings) == ["epochs"]


# ----------------------------------------------------------------------------------------------
# Readers and the finished-check
# ----------------------------------------------------------------------------------------------


def test_rows_round_trip_and_missing_cells_are_left_out(tmp_path):
    rows = [{"images": 64, "seconds": 1.5, "fd_mnist": 90.25}, {"images": 128, "seconds": 3.0}]
    (tmp_path / runs.CURVE_FILE).write_text(runs.rows_to_csv(rows, first="images"))
    assert runs.read_curve(tmp_path) == rows
    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n0,1.5,NA\n1,1.25,2.0\n")
    assert runs.read_history(tmp_path / "history.csv") == [{"epoch": 0, "loss": 1.5}, {"epoch": 1, "loss": 1.25, "val_loss": 2.0}]
    assert runs.read_history(tmp_path / "missing.csv") == []


def test_is_finished_needs_the_epochs_and_the_model_file(tmp_path):
    checkpoints = tmp_path / runs.CHECKPOINTS_FOLDER
    checkpoints.mkdir()
    assert not runs.is_finished(tmp_path, 2)
    (checkpoints / runs.LAST_STATE).write_text(json.dumps({"epoch": 2, "weights": "epoch_0002.weights.h5"}))
    assert not runs.is_finished(tmp_path, 2)  # no model.keras yet
    (tmp_path / runs.MODEL_FILE).write_text("model")
    assert runs.is_finished(tmp_path, 2) and not runs.is_finished(tmp_path, 3)


def test_training_speed_leaves_out_the_first_epoch_when_there_are_more(tmp_path):
    timing = {"epochs": [{"epoch": 1, "seconds": 10.0, "images": 100},
                         {"epoch": 2, "seconds": 2.0, "images": 100},
                         {"epoch": 3, "seconds": 3.0, "images": 100}]}
    (tmp_path / runs.TIMING_FILE).write_text(json.dumps(timing))
    seconds, rate = runs.training_speed(tmp_path)
    assert seconds == pytest.approx(15.0)
    assert rate == pytest.approx(200 / 5.0)


def test_training_speed_of_an_untimed_run_is_unknown(tmp_path):
    assert runs.training_speed(tmp_path) == (None, None)
    assert runs.training_flops(tmp_path) is None


def test_training_flops_multiply_the_images_seen_by_the_flops_per_image(tmp_path):
    epochs = [{"epoch": 1, "seconds": 1.0, "images": 100}, {"epoch": 2, "seconds": 1.0, "images": 60}]
    (tmp_path / runs.TIMING_FILE).write_text(json.dumps({"epochs": epochs}))
    assert runs.training_flops(tmp_path) is None  # timed before FLOPs were recorded
    (tmp_path / runs.TIMING_FILE).write_text(json.dumps({"epochs": epochs, "flops_per_image": 1.5e6}))
    assert runs.training_flops(tmp_path) == pytest.approx(160 * 1.5e6)
