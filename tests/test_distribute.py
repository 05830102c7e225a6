"""tf.distribute: one step on N replicas equals one step on one device; multi-worker workers agree.

Strategies with several devices need logical devices or `TF_CONFIG` set before TensorFlow starts,
so those runs happen in subprocesses (`tests/distributed_worker.py`); this module only checks what
they wrote.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from gencompare import distribute
from gencompare.models import base, networks
from gencompare.models.sampling import batch_normal, standard_normal

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")
REPO_ROOT = WORKER.parents[1]
CASES = ("vae", "vae_batch_norm", "gan_bce", "gan_wgan_gp", "gan_augment_r1")
WORKER_TIMEOUT = 240


def _worker_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # One intra-op thread per worker: two workers on a 2-core machine must not oversubscribe it.
    env.update(extra)
    return env


def _load(path):
    data = np.load(path)
    return json.loads(str(data["report"])), data


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """Runs the MirroredStrategy worker once (2 logical CPUs) and loads what it wrote."""
    out = tmp_path_factory.mktemp("mirrored") / "result.npz"
    completed = subprocess.run(
        [sys.executable, str(WORKER), "mirrored", str(out)],
        env=_worker_env(), capture_output=True, text=True, timeout=WORKER_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return _load(out)


def _weights(data, prefix):
    count = len([key for key in data.files if key.startswith(prefix + "/")])
    return [data[f"{prefix}/{index}"] for index in range(count)]


# -- MirroredStrategy on 2 logical CPUs vs one device ------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_mirrored_steps_give_the_single_device_weights_losses_and_counters(mirrored, case):
    report, data = mirrored
    assert report["replicas"] == 2
    single, replicated = report[case]["single"], report[case]["mirrored"]
    # Reported losses: the global-batch means, as on one device.
    assert single["logs"].keys() == replicated["logs"].keys()
    for name, value in single["logs"].items():
        assert replicated["logs"][name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    # Seed generator, optimizer and EMA counters advance once per step, not once per replica.
    for name in single:
        if name != "logs":
            assert replicated[name] == single[name], name
    initial = _weights(data, f"{case}/initial")
    single_updates = [w - w0 for w, w0 in zip(_weights(data, f"{case}/single"), initial)]
    mirrored_updates = [w - w0 for w, w0 in zip(_weights(data, f"{case}/mirrored"), initial)]
    largest = max(float(np.abs(update).max()) for update in single_updates)
    assert largest > 1e-4  # the steps did train
    # Summed-instead-of-averaged gradients would give 2x the update; the same noise on both replicas
    # changes updates by 10-100 %. Float reordering in the all-reduce stays around 1e-6 of the update.
    for index, (expected, got) in enumerate(zip(single_updates, mirrored_updates)):
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * largest, err_msg=f"weight {index}")


def test_batch_norm_is_synchronized_only_under_the_strategy(mirrored):
    report, _ = mirrored
    for case in ("vae_batch_norm", "gan_bce"):
        layers = report[case]["batch_norm_synchronized"]
        assert layers and all(entry.endswith("=True") for entry in layers), layers
    assert report["vae"]["batch_norm_synchronized"] == []
    # Built without a strategy: plain layers (the synchronized path would change one-device numerics).
    trunk = networks.build_conv_trunk((8, 8, 1), [4], batch_norm=True)
    assert trunk.get_layer("bn_0").synchronized is False
    local = networks.build_conv_trunk((8, 8, 1), [4], batch_norm="local")
    assert local.get_layer("bn_0").synchronized is False
    with pytest.raises(ValueError, match="batch_norm"):
        networks.build_conv_trunk((8, 8, 1), [4], batch_norm="global")


@pytest.mark.parametrize("split", ["even", "uneven"])
def test_each_replica_draws_its_rows_of_the_global_batch_noise(mirrored, split):
    _, data = mirrored
    single = data[f"noise/{split}/single"]
    replicas = np.concatenate([data[f"noise/{split}/replica0"], data[f"noise/{split}/replica1"]])
    np.testing.assert_array_equal(replicas, single)
    assert not np.allclose(data[f"noise/{split}/replica0"][:2], data[f"noise/{split}/replica1"][:2])
    # One draw advances the (mirrored) generator once.
    np.testing.assert_array_equal(data[f"noise/{split}/state"], [5, 1])


def test_a_float16_overflow_on_one_replica_skips_the_step_on_all(mirrored):
    report, data = mirrored
    result = report["loss_scale_disagreement"]
    assert result["compute_dtype"] == "float16"
    assert result["optimizer"] == "LossScaleOptimizer"
    assert result["scale_after"] == result["scale_before"] / 2
    assert result["iterations"] == 0
    assert result["all_finite"]
    for before, after in zip(_weights(data, "overflow/before"), _weights(data, "overflow/after")):
        np.testing.assert_array_equal(after, before)


# -- MultiWorkerMirroredStrategy: two processes on 127.0.0.1 ------------------------------------

def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            handle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            handle.bind(("127.0.0.1", 0))
            sockets.append(handle)
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def run_two_workers(tmp_path, command, **env):
    """Runs `command(index)` as the two workers of a local MultiWorkerMirroredStrategy cluster and waits;
    each worker's output goes to `tmp_path/worker<index>.log`. Skips without free local ports."""
    try:
        ports = _free_ports(2)
    except OSError as error:
        pytest.skip(f"cannot open local TCP ports for the workers: {error}")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        log = open(tmp_path / f"worker{index}.log", "w")
        workers.append((subprocess.Popen(command(index), env=_worker_env(TF_CONFIG=tf_config, **env), stdout=log,
                                         stderr=subprocess.STDOUT), log))
    try:
        for process, _ in workers:
            process.wait(timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"multi-worker training did not finish in {WORKER_TIMEOUT} s (workers killed)")
    finally:
        for process, log in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    for index, (process, _) in enumerate(workers):
        assert process.returncode == 0, (tmp_path / f"worker{index}.log").read_text()[-4000:]


def test_multiworker_workers_train_on_disjoint_halves_and_end_identical(tmp_path):
    run_two_workers(tmp_path, lambda index: [sys.executable, str(WORKER), "multiworker",
                                             str(tmp_path / f"worker{index}.npz")])

    (first, first_data), (second, second_data) = (_load(tmp_path / f"worker{i}.npz") for i in range(2))
    assert first["replicas"] == second["replicas"] == 2
    assert first["iterations"] == second["iterations"] == 6
    assert first["seed_state"] == second["seed_state"]
    assert first["logs"] == second["logs"]
    assert all(np.isfinite(value) for values in first["logs"].values() for value in values)
    # The real input pipeline (numpy_function gather) is auto-sharded: worker i gets the i-th half
    # of every global batch, exactly the batch one process would see.
    for index in range(2):
        np.testing.assert_array_equal(
            np.concatenate([first_data[f"seen/{index}"], second_data[f"seen/{index}"]]),
            first_data[f"expected/{index}"],
        )
    final_first, final_second = _weights(first_data, "final"), _weights(second_data, "final")
    for got, expected in zip(final_second, final_first):
        np.testing.assert_array_equal(got, expected)
    assert any(not np.allclose(w, w0) for w, w0 in zip(final_first, _weights(first_data, "initial")))


# -- train.run / the command line under a strategy ---------------------------------------------

def test_run_trains_under_mirrored_strategy_with_mixed_bfloat16(real_data_dir, tmp_path):
    completed = subprocess.run(
        [sys.executable, str(WORKER), "run", str(tmp_path)],
        env=_worker_env(GENCOMPARE_DATA=str(real_data_dir)), capture_output=True, text=True,
        timeout=WORKER_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads((tmp_path / "result.json").read_text())
    for model in ("gan", "vae"):
        result = results[model]
        assert result["replicas"] == 2 and result["compute_dtype"] == "bfloat16"
        assert [row["epoch"] for row in result["history"]] == [0, 1]
        assert all(np.isfinite(value) for row in result["history"] for value in row.values())
        config = json.loads((pathlib.Path(result["run_dir"]) / "config.json").read_text())
        assert config["run"]["strategy"] == "mirrored"
        assert config["run"]["precision"] == "mixed_bfloat16"
        assert (pathlib.Path(result["run_dir"]) / "model.keras").is_file()


def test_cli_passes_strategy_precision_and_steps_per_execution():
    from gencompare import cli

    parser = cli.build_parser()
    arguments = parser.parse_args(
        ["train", "--strategy", "mirrored", "--precision", "mixed_bfloat16", "--steps-per-execution", "4"]
    )
    assert cli.given_settings(arguments) == {
        "strategy": "mirrored", "precision": "mixed_bfloat16", "steps_per_execution": 4,
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--precision", "float64"])


def test_cli_takes_auto_and_rejects_non_positive_steps_per_execution():
    from gencompare import cli

    parser = cli.build_parser()
    arguments = parser.parse_args(["train", "--precision", "auto", "--steps-per-execution", "auto"])
    assert cli.given_settings(arguments) == {"precision": "auto", "steps_per_execution": "auto"}
    for bad in ("0", "-2", "eight"):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", "--steps-per-execution", bad])


# -- what "auto" resolves to ----------------------------------------------------------------------

@pytest.mark.parametrize("gpus, flags, expected", [
    ([], {"avx2", "avx512f", "avx512_bf16"}, "mixed_bfloat16"),   # this machine's kind (AMD EPYC)
    ([], {"avx2", "amx_bf16", "amx_tile"}, "mixed_bfloat16"),     # Sapphire Rapids
    ([], {"avx2", "avx512f"}, "float32"),                         # no native bfloat16: emulated, slower
    ([(8, 6)], set(), "mixed_bfloat16"),                          # Ampere
    ([(9, 0), (9, 0)], set(), "mixed_bfloat16"),
    ([(7, 5)], {"avx512_bf16"}, "mixed_float16"),                 # Turing: the GPU decides, not the CPU
    ([(8, 0), (7, 0)], set(), "mixed_float16"),                   # the oldest GPU decides for all replicas
    ([(6, 1)], set(), "float32"),                                 # Pascal: no tensor cores
    ([None], set(), "float32"),                                   # capability unknown: the safe choice
])
def test_recommended_precision_per_device(gpus, flags, expected):
    assert distribute.recommended_precision(gpus=gpus, flags=flags) == expected


def test_cpu_flags_read_the_flags_line_only(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\nvmx flags\t: amx_bf16\nbugs\t\t: spectre_v1\n"
        "processor\t: 1\nflags\t\t: fpu avx2 avx512_bf16\n"
    )
    assert distribute.cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_bf16"}
    assert distribute.cpu_flags(tmp_path / "missing") == frozenset()


def test_auto_resolves_to_the_recommendation_and_sets_that_policy():
    assert distribute.resolve_precision("auto") == distribute.recommended_precision()
    assert distribute.resolve_precision("float32") == "float32"
    with distribute.precision("auto") as policy:
        assert policy.name == distribute.recommended_precision()
    assert distribute.recommended_steps_per_execution(1) == distribute.AUTO_STEPS_PER_EXECUTION > 1
    assert distribute.recommended_steps_per_execution(2) == 1
    for bad in (0, True, "8", 2.0):
        with pytest.raises(ValueError, match="steps_per_execution"):
            distribute.check_steps_per_execution(bad)


def test_run_settings_reject_unknown_strategy_and_precision():
    from gencompare.train import RunSettings

    with pytest.raises(ValueError, match="strategy"):
        RunSettings(strategy="tpu")
    with pytest.raises(ValueError, match="precision"):
        RunSettings(precision="float16")
    with pytest.raises(ValueError, match="steps_per_execution"):
        RunSettings(steps_per_execution=0)


# -- in-process helpers (one device) --------------------------------------------------------------

def test_without_a_strategy_the_helpers_change_nothing():
    first, second = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    np.testing.assert_array_equal(
        batch_normal((4, 2), "float32", first), standard_normal((4, 2), "float32", second)
    )
    assert base.local_share(8) == 1.0
    assert base.metric_logs([]) == {}
    assert distribute.num_replicas(tf.distribute.get_strategy()) == 1


def test_multiworker_train_writes_one_run_folder_from_the_chief(real_data_dir, tmp_path):
    """Two `train --strategy multiworker` processes: only worker 0 writes its run folder."""
    out = tmp_path / "runs"
    argv = ["train", "--strategy", "multiworker", "--model", "vae", "--preset", "mnist", "--limit", "64",
            "--epochs", "1", "--batch-size", "16", "--verbose", "0", "--out", str(out)]
    run_two_workers(tmp_path, lambda index: [sys.executable, "-m", "gencompare", *argv],
                    GENCOMPARE_DATA=str(real_data_dir))
    (run_dir,) = list(out.iterdir())
    assert (run_dir / "model.keras").is_file() and (run_dir / "config.json").is_file()
    assert f"Run finished: {run_dir}" in (tmp_path / "worker0.log").read_text()


@pytest.mark.parametrize("task, cluster, chief", [
    ({"type": "worker", "index": 0}, {"worker": ["a:1", "b:2"]}, True),
    ({"type": "worker", "index": 1}, {"worker": ["a:1", "b:2"]}, False),
    ({"type": "chief", "index": 0}, {"chief": ["a:1"], "worker": ["b:2"]}, True),
    ({"type": "worker", "index": 0}, {"chief": ["a:1"], "worker": ["b:2"]}, False),
])
def test_is_chief_follows_tensorflows_convention(task, cluster, chief):
    from gencompare import distribute

    assert distribute.is_chief({"task": task, "cluster": cluster}) is chief


def test_without_tf_config_the_process_is_the_chief(monkeypatch):
    from gencompare import distribute

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.is_chief()
