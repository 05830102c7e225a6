"""Tests for gencompare.experiments: the experiment × profile table, one run's settings, folders and state."""

import json

import pytest

from gencompare import experiments, runs, train
from gencompare.models import flops
from conftest import require_real_file


# ----------------------------------------------------------------------------------------------
# Choosing a profile
# ----------------------------------------------------------------------------------------------


def test_unknown_profile_lists_the_known_names():
    with pytest.raises(ValueError, match=r"Unknown profile 'quik'; choose one of smoke, quick, full"):
        experiments.get_profile("quik")


def test_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(experiments.ENVIRONMENT_VARIABLE, "quick")
    assert experiments.get_profile().name == "quick"
    monkeypatch.setenv(experiments.ENVIRONMENT_VARIABLE, "fast")
    with pytest.raises(ValueError, match=r"'fast' \(from GENCOMPARE_PROFILE\).*smoke, quick, full"):
        experiments.get_profile()
    monkeypatch.delenv(experiments.ENVIRONMENT_VARIABLE)
    assert experiments.get_profile().name == "smoke"


# ----------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------


def test_every_experiment_has_a_budget_with_an_existing_preset_in_every_profile():
    for experiment in experiments.EXPERIMENTS:
        assert set(experiment.budgets) == set(experiments.PROFILES), experiment.name
        model_class = train.model_class(experiment.model)
        for profile in experiments.PROFILES:
            assert experiment.budget(profile).preset in model_class.preset_names(), (experiment.name, profile)


def test_profiles_grow_from_smoke_to_full():
    for experiment in experiments.EXPERIMENTS:
        smoke, quick, full = (experiment.budget(name) for name in ("smoke", "quick", "full"))
        assert smoke.epochs <= 2 and smoke.limit <= 512, experiment.name
        # quick is sized in images seen (images × epochs): more than smoke's.
        assert (quick.limit or 60_000) * quick.epochs > smoke.limit * smoke.epochs, experiment.name
        # full is the seed's own configuration: nothing overridden.
        assert (full.limit, full.epochs, full.batch_size) == (None, None, None), experiment.name


def test_quick_uses_the_fast_presets_and_full_uses_the_seeds():
    for experiment in experiments.EXPERIMENTS:
        if experiment.name != "mnist-vae-2d":
            assert experiment.budget("quick").preset.endswith("_fast"), experiment.name
            assert not experiment.budget("full").preset.endswith("_fast"), experiment.name
    assert experiments.get_experiment("cats-gan").budget("full").preset == "cats"


def test_vae_gan_and_its_control_get_the_same_adversarial_budget():
    pretrained = experiments.get_experiment("mnist-vae-gan")
    control = experiments.get_experiment("mnist-gan-scratch")
    assert pretrained.from_vae == control.generator_like == "mnist-vae"
    for profile in experiments.PROFILES:
        assert pretrained.budget(profile) == control.budget(profile)


def test_unknown_experiment_and_dataset_are_named():
    with pytest.raises(ValueError, match="Unknown experiment 'mnist-vea'; known: mnist-vae, "):
        experiments.get_experiment("mnist-vea")
    with pytest.raises(ValueError, match="No experiment uses svhn; datasets with experiments: mnist, cats"):
        experiments.select(["mnist", "svhn"])


def test_experiments_default_to_the_datasets_present(real_data_dir):
    require_real_file(real_data_dir, "cats")
    chosen = experiments.select(data_dir=real_data_dir)
    datasets = {experiment.dataset for experiment in chosen}
    assert {"mnist", "cats"} <= datasets
    for dataset in experiments.FACE_DATASETS:
        assert (dataset in datasets) == (real_data_dir / dataset).is_dir()


def test_no_dataset_is_present_in_an_empty_folder(tmp_path):
    assert experiments.select(data_dir=tmp_path) == []


# ----------------------------------------------------------------------------------------------
# Settings and folders
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", sorted(experiments.PROFILES))
def test_every_experiment_gives_valid_run_settings(profile, tmp_path):
    for experiment in experiments.EXPERIMENTS:
        settings = experiments.Run(experiment, profile, seed=4, runs=tmp_path).settings
        budget = experiment.budget(profile)
        assert (settings.preset, settings.limit, settings.epochs) == (budget.preset, budget.limit, budget.epochs)
        assert settings.seed == 4 and settings.dataset == experiment.dataset


def test_vae_gan_starts_from_its_vae_run_folder(tmp_path):
    run = experiments.Run("mnist-vae-gan", "quick", seed=2, runs=tmp_path)
    assert run.settings.from_vae == str(tmp_path / "mnist-vae-seed2")
    assert experiments.Run("mnist-vae", "quick", seed=2, runs=tmp_path).folder == tmp_path / "mnist-vae-seed2"
    assert [dependency.experiment.name for dependency in run.dependencies()] == ["mnist-vae"]
    assert run.dependencies()[0].folder == tmp_path / "mnist-vae-seed2"


def test_folders_are_per_profile_and_outside_the_committed_report(tmp_path):
    assert experiments.runs_dir("quick", root=tmp_path) == tmp_path / "runs" / "quick"
    scratch = experiments.scratch_figures_dir("smoke", root=tmp_path)
    assert scratch == tmp_path / "reports" / "smoke"
    assert scratch != tmp_path / "reports" / "figures"


def test_control_gan_has_exactly_the_vae_gans_generator_architecture():
    """The control differs from the VAE→GAN only in its generator's starting weights."""
    from gencompare.models.gan import GAN
    from gencompare.models.vae import VAE

    settings = experiments.Run("mnist-gan-scratch", "smoke").settings
    preset = GAN.preset(settings.preset)
    control = GAN(**{**preset.model, **settings.model_overrides, "latent_dim": settings.latent_dim})
    vae_preset = experiments.get_experiment("mnist-vae").budget("smoke").preset
    pretrained = GAN.from_vae(VAE.from_preset(vae_preset), discriminator=preset.model["discriminator"])
    assert [w.shape for w in control.generator.weights] == [w.shape for w in pretrained.generator.weights]
    assert control.count_params() == pretrained.count_params()


def stale_run_folder(runs, profile):
    """A run folder whose config.json says it trained for 7 epochs, unlike the table."""
    run = experiments.Run("mnist-vae", profile, runs=runs)
    folder = run.folder
    folder.mkdir(parents=True)
    stored = {**run.settings.to_dict(), "epochs": 7}
    (folder / "config.json").write_text(json.dumps({"run": stored}))
    (folder / "model.keras").write_text("an old model")
    return folder


def test_a_run_folder_trained_with_other_settings_is_not_silently_reused(tmp_path):
    folder = stale_run_folder(tmp_path, "quick")
    with pytest.raises(ValueError, match="trained with other settings \\(epochs differ.*Delete or move"):
        experiments.Run("mnist-vae", "quick", runs=tmp_path).train()
    assert (folder / "model.keras").read_text() == "an old model"


def test_a_stale_smoke_run_is_retrained(real_data_dir, tmp_path):
    folder = stale_run_folder(tmp_path, "smoke")
    run = experiments.Run("mnist-vae", "smoke", runs=tmp_path, data_dir=real_data_dir)
    assert not run.is_finished()
    messages = []
    result = run.train(print_fn=messages.append)
    assert any("trained with other settings; retraining it" in message for message in messages)
    assert train.read_config(folder)["run"]["epochs"] == experiments.get_experiment("mnist-vae").budget("smoke").epochs
    assert len(result.history) == experiments.get_experiment("mnist-vae").budget("smoke").epochs
    assert run.is_finished()


# ----------------------------------------------------------------------------------------------
# Training (tiny real MNIST)
# ----------------------------------------------------------------------------------------------


def test_vae_gan_trains_its_vae_first_and_a_finished_run_is_reused(real_data_dir, tmp_path):
    run = experiments.Run("mnist-vae-gan", "smoke", runs=tmp_path, data_dir=real_data_dir)
    result = run.train(print_fn=lambda *_: None)
    vae_folder = run.dependencies()[0].folder
    assert (vae_folder / "model.keras").is_file()
    config = train.read_config(result.run_dir)
    assert config["run"]["from_vae"] == str(vae_folder)
    epochs = experiments.get_experiment("mnist-vae-gan").budget("smoke").epochs
    timing = runs.read_timing(result.run_dir)
    assert [entry["epoch"] for entry in timing["epochs"]] == list(range(1, epochs + 1))
    # The run's compute: FLOPs per image of its own networks × the images it saw.
    assert timing["flops_per_image"] == flops.training_flops_per_image(result.model) > 0
    images = sum(entry["images"] for entry in timing["epochs"])
    assert runs.training_flops(result.run_dir) == timing["flops_per_image"] * images

    files = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*") if path.is_file()}
    again = run.train(print_fn=lambda *_: None)
    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*") if path.is_file()} == files
    assert len(again.history) == epochs


def test_budget_describe_names_preset_images_and_epochs_or_the_preset_defaults():
    assert experiments.Budget("mnist", limit=512, epochs=2).describe() == "preset mnist, 512 images, 2 epoch(s)"
    assert experiments.Budget("cats").describe() == "preset cats, all images, the preset's epochs"
