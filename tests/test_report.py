"""Tests for gencompare.report: the smoke report end to end (`gencompare report`), run reuse, and the
tables and sentences it writes from numbers."""

import json
import pathlib
import re

import pytest

from gencompare import cli, experiments, report

# ----------------------------------------------------------------------------------------------
# End to end (real MNIST, smoke profile)
# ----------------------------------------------------------------------------------------------


def snapshot(folder):
    """Every file under `folder` with its size and modification time."""
    return {path.relative_to(folder): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in pathlib.Path(folder).rglob("*") if path.is_file()}


def table_rows(readme, dataset):
    """The body rows of the metrics table under `## dataset`, as lists of cells."""
    section = readme.split(f"## {dataset}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return header, [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


@pytest.fixture(scope="module")
def smoke_report(real_data_dir, tmp_path_factory):
    """The smoke report on MNIST, made twice with the same runs folder."""
    folder = tmp_path_factory.mktemp("report")
    out, runs = folder / "out", folder / "runs"
    arguments = ["--profile", "smoke", "--out", str(out), "--runs", str(runs), "--datasets", "mnist",
                 "--data-dir", str(real_data_dir)]
    first_status = cli.main(["report", *arguments])
    first_readme = (out / "README.md").read_text()
    runs_after_first = snapshot(runs)
    second_status = cli.main(["report", *arguments])
    return {"out": out, "runs": runs, "statuses": (first_status, second_status), "first": first_readme,
            "second": (out / "README.md").read_text(), "runs_after_first": runs_after_first}


def test_the_report_has_a_row_with_numbers_per_model(smoke_report):
    assert smoke_report["statuses"] == (0, 0)
    header, rows = table_rows(smoke_report["first"], "mnist")
    mnist = [experiment for experiment in experiments.EXPERIMENTS if experiment.dataset == "mnist"]
    assert [row[0] for row in rows] == [experiment.title for experiment in mnist]
    # A learned-prior row shows its VAE's run folder.
    assert [row[1] for row in rows] == [f"`{experiment.learned_prior_of or experiment.name}-seed0`" for experiment in mnist]
    for name in ("classifier-FID ↓", "SWD ↓", "precision ↑", "training time (s)", "images/s"):
        column = header.index(name)
        assert all(re.fullmatch(r"-?[\d ]+(\.\d+)?", row[column]) for row in rows), (name, rows)
    elbo = header.index("ELBO ↑ (nats)")
    assert [row[elbo] != "—" for row in rows] == [experiment.model == "vae" for experiment in mnist]


def test_the_table_cites_the_numbers_of_the_runs_it_used(smoke_report):
    header, rows = table_rows(smoke_report["first"], "mnist")
    column = header.index("classifier-FID ↓")
    for row in rows:
        run_dir = smoke_report["runs"] / row[1].strip("`")
        variant = "-prior-mixture" if row[0] == "VAE, learned prior" else ""
        cached = (run_dir / f"metrics-n200-seed0{variant}.json").read_text()
        fid = float(re.search(r'"fd_mnist": ([\d.e+-]+)', cached).group(1))
        assert row[column] == f"{fid:.2f}"
    assert f"run folders under `{smoke_report['runs']}`" in smoke_report["first"]
    assert "**These are smoke-profile numbers**" in smoke_report["first"]


def test_every_linked_figure_exists(smoke_report):
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", smoke_report["first"])
    assert len(links) >= 2 + 2 * 5  # samples, class histogram, and at least losses + one more per run
    for link in links:
        assert (smoke_report["out"] / link).is_file(), link
    assert "figures/mnist-vae-2d-manifold.png" in links


def test_a_second_invocation_reuses_every_run(smoke_report):
    assert "(5 trained by it, 0 reused)" in smoke_report["first"]
    assert "(0 trained by it, 5 reused)" in smoke_report["second"]
    assert snapshot(smoke_report["runs"]) == smoke_report["runs_after_first"]
    assert table_rows(smoke_report["second"], "mnist") == table_rows(smoke_report["first"], "mnist")


# ----------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------


def test_unknown_profile_is_one_clear_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", "--profile", "fast"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("gencompare report: error: argument --profile: Unknown profile 'fast'; choose one of "
                            "smoke, quick, full.")
    assert len(error.splitlines()) == 1


def test_unknown_dataset_is_one_clear_line(capsys, tmp_path):
    assert cli.main(["report", "--datasets", "svhn", "--out", str(tmp_path), "--runs", str(tmp_path)]) == 2
    assert "No experiment uses svhn" in capsys.readouterr().err


def test_smoke_never_writes_over_the_committed_report():
    assert experiments.default_report_folder("smoke").parts[-2:] == ("reports", "smoke")
    assert experiments.default_report_folder("quick").name == "reports"


# ----------------------------------------------------------------------------------------------
# Tables and sentences from hand-made numbers (no training)
# ----------------------------------------------------------------------------------------------


def fake_row(name, metrics, rate=None, reused=True):
    experiment = experiments.get_experiment(name)
    return experiments.Result(experiment, pathlib.Path(f"/runs/{name}-seed0"), None, [{}] * 3, metrics, 1000, 500,
                      12.0, rate, reused)


def test_settings_line_reads_what_each_run_resolved_to(tmp_path):
    def run_folder(name, resolved, phase=""):
        folder = tmp_path / name / phase
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"run": {}, "resolved": resolved}))
        return tmp_path / name

    bf16 = {"precision": "mixed_bfloat16", "steps_per_execution": 8, "jit_compile": False}
    vae = fake_row("mnist-vae", {})
    vae.run_dir = run_folder("vae", bf16)
    both = fake_row("mnist-vae-gan", {})
    both.run_dir = run_folder("vae-gan", bf16, phase="gan")
    assert report.settings_line([vae, both]) == (
        "* **Training settings:** mixed_bfloat16, 8 train step(s) per call, XLA off (every run)."
    )
    old = fake_row("mnist-gan", {})
    old.run_dir = run_folder("old", {"model_class": "GAN"})
    line = report.settings_line([vae, old])
    assert "`mnist-vae` mixed_bfloat16, 8 train step(s) per call, XLA off" in line
    assert "`mnist-gan` not recorded" in line


def test_coverage_sentence_follows_the_numbers():
    vae = fake_row("mnist-vae", {"classes_covered": 10, "class_kl_uniform": 0.02})
    gan = fake_row("mnist-gan", {"classes_covered": 6, "class_kl_uniform": 0.41})
    sentence = report.coverage_sentence(vae, gan)
    assert sentence.startswith("The GAN's samples cover 6/10 digit classes vs 10/10 for the VAE")
    assert "0.410 vs 0.020" in sentence and "mode collapse" in sentence
    swapped = report.coverage_sentence(fake_row("mnist-vae", gan.metrics), fake_row("mnist-gan", vae.metrics))
    assert "mode collapse" not in swapped and "the VAE's samples are the less evenly spread" in swapped


def test_distance_sentence_names_the_closer_model_or_a_tie():
    vae, gan = fake_row("cats-vae", {"swd_mean": 0.9}), fake_row("cats-gan", {"swd_mean": 0.3})
    assert "the GAN is closer" in report.distance_sentence(vae, gan, "swd_mean", "SWD")
    tie = fake_row("cats-gan", {"swd_mean": 0.89})
    assert "about equally close" in report.distance_sentence(vae, tie, "swd_mean", "SWD")
    assert report.distance_sentence(vae, gan, "fd_mnist", "classifier-FID") is None


def test_precision_recall_sentence_recognises_the_trade_off():
    vae = fake_row("mnist-vae", {"precision_mnist": 0.4, "recall_mnist": 0.8})
    gan = fake_row("mnist-gan", {"precision_mnist": 0.9, "recall_mnist": 0.3})
    assert "the textbook trade-off" in report.precision_recall_sentence(vae, gan)
    both = fake_row("mnist-gan", {"precision_mnist": 0.9, "recall_mnist": 0.95})
    assert "the GAN leads on both" in report.precision_recall_sentence(vae, both)


def test_speed_sentence_gives_the_ratio():
    vae, gan = fake_row("mnist-vae", {}, rate=3000.0), fake_row("mnist-gan", {}, rate=300.0)
    assert "3000 images/s, 10.0× faster than the GAN's 300 images/s" in report.speed_sentence(vae, gan)


def test_pretraining_sentence_compares_with_the_control():
    pretrained = fake_row("mnist-vae-gan", {"fd_mnist": 20.0, "classes_covered": 10})
    control = fake_row("mnist-gan-scratch", {"fd_mnist": 60.0, "classes_covered": 7})
    sentence = report.pretraining_sentence([pretrained, control])
    assert "classifier-FID 20 vs 60" in sentence and "helped" in sentence and "did not" not in sentence
    worse = report.pretraining_sentence([fake_row("mnist-vae-gan", control.metrics),
                                         fake_row("mnist-gan-scratch", pretrained.metrics)])
    assert "did not help" in worse


def test_table_leaves_out_metrics_no_model_has():
    rows = [fake_row("cats-vae", {"swd_mean": 0.5, "elbo": -8000.0}), fake_row("cats-gan", {"swd_mean": 0.7})]
    table = report.metrics_table(rows)
    assert "classifier-FID" not in table and "SWD ↓" in table
    lines = table.splitlines()
    assert len(lines) == 4 and lines[3].startswith("| GAN | `cats-gan-seed0` | 0.700 | — |")


def test_profile_caveat_only_for_smoke():
    assert report.profile_caveat(experiments.get_profile("smoke"))
    assert report.profile_caveat(experiments.get_profile("quick")) is None


def test_a_diverged_run_is_left_out_and_named(monkeypatch):
    from gencompare.train import TrainingDiverged

    def fake_run(experiment, profile, **_):
        if experiment.name == "mnist-gan":
            raise TrainingDiverged("d_loss became NaN in epoch 3.")
        return fake_row(experiment.name, {})

    monkeypatch.setattr(experiments, "run", fake_run)
    failures = []
    rows = experiments.run_all("smoke", datasets=["mnist"], failures=failures, print_fn=lambda *_: None)
    mnist = [experiment for experiment in experiments.EXPERIMENTS if experiment.dataset == "mnist"]
    assert "mnist-gan" not in [row.experiment.name for row in rows] and len(rows) == len(mnist) - 1
    assert failures == [("mnist-gan", "d_loss became NaN in epoch 3.")]
    assert "* `mnist-gan`: d_loss became NaN in epoch 3." in report.failures_note(failures)
    with pytest.raises(TrainingDiverged):
        experiments.run_all("smoke", datasets=["mnist"], print_fn=lambda *_: None)


def curve_rows(points, metric="fd_mnist"):
    return [{"images": int(1000 * seconds), "seconds": float(seconds), metric: float(value)} for seconds, value in points]


def with_curve(row, points, metric="fd_mnist"):
    row.curve = curve_rows(points, metric)
    return row


def test_crossover_sentence_states_when_the_gan_overtakes():
    vae = with_curve(fake_row("mnist-vae", {}), [(10, 90), (100, 60), (1000, 50)])
    gan = with_curve(fake_row("mnist-gan", {}), [(10, 300), (100, 80), (1000, 12)])
    sentence = report.crossover_sentence(vae, gan, "mnist")
    assert sentence.startswith("Quality against training time (the VAE and the GAN): the GAN's classifier-FID drops "
                               "below the other's after")
    seconds = float(re.search(r"after ([\d.]+) s", sentence).group(1))
    assert 100 < seconds < 1000 and "then" not in sentence


def test_crossover_sentence_when_the_curves_never_cross_or_cross_twice():
    vae = with_curve(fake_row("cats-vae", {}), [(10, 0.10), (100, 0.09)], "swd_mean")
    gan = with_curve(fake_row("cats-gan", {}), [(10, 0.30), (100, 0.20)], "swd_mean")
    assert report.crossover_sentence(vae, gan, "cats") == (
        "Quality against training time (the VAE and the GAN): the curves do not cross within the 100 s both runs "
        "cover; the VAE's SWD is lower throughout."
    )
    gan = with_curve(fake_row("cats-gan", {}), [(10, 0.30), (30, 0.05), (100, 0.12)], "swd_mean")
    sentence = report.crossover_sentence(vae, gan, "cats")
    assert "the GAN's SWD drops below the other's after" in sentence
    assert "; then the VAE's SWD drops below the other's after" in sentence


def test_the_leader_of_curves_that_do_not_cross_is_read_from_their_lines():
    # The GAN's last point before 80 s (19 at 35 s) is above the VAE's 17.7 at 80 s, but its line
    # (to 9.4 at 98 s) is below the VAE's at every point both cover, as the figure draws them.
    vae = with_curve(fake_row("mnist-vae", {}), [(4.1, 363), (13.5, 230), (30.2, 38.6), (80.7, 17.7)])
    gan = with_curve(fake_row("mnist-gan", {}), [(3.7, 127), (13.5, 94.8), (35.0, 19.3), (98.4, 9.35)])
    assert report.crossover_sentence(vae, gan, "mnist") == (
        "Quality against training time (the VAE and the GAN): the curves do not cross within the 81 s both runs "
        "cover; the GAN's classifier-FID is lower throughout."
    )


def test_no_crossover_sentence_without_curves():
    assert report.crossover_sentence(fake_row("mnist-vae", {}), fake_row("mnist-gan", {}), "mnist") is None


def test_prior_sentence_compares_one_vae_under_two_priors_and_the_gan():
    vae = fake_row("mnist-vae", {"fd_mnist": 90.0})
    learned = fake_row("mnist-vae-prior", {"fd_mnist": 30.0})
    gan = fake_row("mnist-gan", {"fd_mnist": 60.0})
    assert report.prior_sentence(vae, learned, gan, "mnist") == (
        "Sampled from the mixture fitted to its training codes instead of N(0, I), the same VAE scores "
        "classifier-FID 30 instead of 90; the GAN scores 60 (lower is better)."
    )
    assert report.prior_sentence(vae, None, gan, "mnist") is None
