"""benchmarks/throughput.py and layer_throughput.py: FLOP counts, the settings grid, the layer table (no timing here)."""

import importlib.util
import pathlib
import sys

import pytest

from gencompare.models.gan import GAN
from gencompare.models.vae import VAE

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def throughput():
    spec = importlib.util.spec_from_file_location("throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keras_io_vae_flops_match_a_hand_count(throughput):
    vae = VAE.from_preset("keras_io_mnist")
    encoder = 14 * 14 * 9 * 1 * 32 + 7 * 7 * 9 * 32 * 64 + 3136 * 16 + 2 * 16 * 2
    # Transposed convs: every input pixel scatters a k×k×c_out patch.
    decoder = 2 * 3136 + 7 * 7 * 9 * 64 * 64 + 14 * 14 * 9 * 64 * 32 + 28 * 28 * 9 * 32 * 1
    assert throughput.forward_flops(vae.encoder) == 2 * encoder
    assert throughput.forward_flops(vae.decoder) == 2 * decoder
    assert throughput.vae_flops_per_image(vae) == 3 * 2 * (encoder + decoder)


def test_gan_step_counts_both_phases(throughput):
    gan = GAN.from_preset("faces64")
    gan.compile(d_optimizer="adam", g_optimizer="adam", d_steps=2)
    g, d = throughput.forward_flops(gan.generator), throughput.forward_flops(gan.discriminator)
    generator = 128 * 8 * 8 * 128 + 8 * 8 * 16 * 128 * 128 + 16 * 16 * 16 * 128 * 256 + 32 * 32 * 16 * 256 * 512 \
        + 64 * 64 * 25 * 512 * 3
    discriminator = 32 * 32 * 16 * 3 * 64 + 16 * 16 * 16 * 64 * 128 + 8 * 8 * 16 * 128 * 128 + 8 * 8 * 128
    assert (g, d) == (2 * generator, 2 * discriminator)
    # Per D step: G forward + D fwd/bwd on real and on fake; G step: G fwd/bwd + D fwd and input grads.
    assert throughput.gan_flops_per_image(gan) == 2 * (g + 6 * d) + 3 * g + 2 * d


def test_settings_grid_and_named_settings(throughput):
    args = throughput.parse_args(["--precision", "float32,mixed_bfloat16", "--steps-per-execution", "1,8",
                                  "--batch-size", "preset,256"])
    grid = throughput.settings_for("vae", "mnist", args)
    assert len(grid) == 8 and grid[0] == throughput.BASELINE
    named = throughput.settings_for("vae", "mnist", throughput.parse_args(["--settings", "baseline,recommended"]))
    assert named[0] == throughput.BASELINE
    assert named[1] == throughput.recommended_setting()
    with pytest.raises(SystemExit):
        throughput.parse_args(["--precision", "float64"])


@pytest.fixture(scope="module")
def layer_throughput(throughput):
    sys.modules.setdefault("throughput", throughput)
    path = SCRIPT.with_name("layer_throughput.py")
    spec = importlib.util.spec_from_file_location("layer_throughput", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layer_table_covers_every_matmul_layer_with_its_share_of_flops(layer_throughput, monkeypatch):
    # Timing is replaced by 1 ms per layer: this checks the accounting, not the machine.
    monkeypatch.setattr(layer_throughput, "time_layer", lambda layer, batch_size: 1e-3)
    batch_size, rows = layer_throughput.measure("vae", "keras_io_mnist", None, "float32")
    assert batch_size == 128
    assert [row["layer"] for row in rows] == [
        "conv_0", "conv_1", "hidden", "z_mean", "z_log_var", "project", "deconv_0", "deconv_1", "to_image"
    ]
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    deconv_1 = next(row for row in rows if row["layer"] == "deconv_1")
    # 14·14 input pixels, 3×3 kernel, 64 → 32 channels; ×2 FLOPs ×3 passes, 128 images in 1 ms.
    assert deconv_1["gflops"] == pytest.approx(6 * 14 * 14 * 9 * 64 * 32 * 128 / 1e-3 / 1e9)
