"""Tests for gencompare.models.presets and the two preset tables."""

import pytest

from gencompare.models import gan_presets, presets, vae_presets
from gencompare.models.gan import GAN
from gencompare.models.vae import VAE


def test_preset_registry_lists_names_and_rejects_unknown_and_duplicate_presets():
    registry = presets.PresetRegistry("Toy")
    preset = presets.Preset(name="small", dataset="mnist", source="test", model={}, training={})
    registry.add(preset)
    assert registry.get("small") is preset and registry.names() == ["small"]
    with pytest.raises(ValueError, match="Unknown Toy preset 'large'; available presets: small"):
        registry.get("large")
    with pytest.raises(ValueError, match="twice"):
        registry.add(preset)


def test_training_settings_default_to_adam_and_keep_extra_keys():
    settings = presets.training(2e-4, 64, 5, beta_1=0.5, loss="hinge", d_learning_rate=4e-4)
    assert settings == {"optimizer": "adam", "learning_rate": 2e-4, "beta_1": 0.5, "batch_size": 64,
                        "epochs": 5, "loss": "hinge", "d_learning_rate": 4e-4}


@pytest.mark.parametrize("model_class, table", [(VAE, vae_presets.PRESETS), (GAN, gan_presets.PRESETS)])
def test_each_model_reads_its_own_table_and_every_preset_has_a_known_image_shape(model_class, table):
    assert model_class.PRESETS is table and model_class.preset_names() == table.names()
    for name in table.names():
        preset = table.get(name)
        assert tuple(preset.model["image_shape"]) in (presets.MNIST_SHAPE, presets.FACE_SHAPE)
        assert preset.training["batch_size"] > 0 and preset.training["epochs"] > 0
