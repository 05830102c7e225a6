"""Presets: named configurations of a model, and what the VAE and GAN preset tables share.

A preset is data (constructor arguments plus training settings); the tables live in
`vae_presets.py` and `gan_presets.py`, one entry per seed experiment or reference recipe, and the
model classes read them through `VAE.preset(name)` / `GAN.preset(name)`.
"""

import dataclasses

MNIST_SHAPE = (28, 28, 1)
FACE_SHAPE = (64, 64, 3)

# The presets a folder or zip of one's own images trains with when no preset is named
# (`train --dataset ~/my_faces`): images are decoded to 64×64 RGB, the face presets' shape.
OWN_IMAGES_PRESETS = {"vae": "anime", "gan": "faces64_small"}


def training(learning_rate, batch_size, epochs, *, beta_1=0.9, optimizer="adam", **more):
    """A preset's training settings: Adam (by default) with `learning_rate` and `beta_1`, the batch
    size, the epochs, and any further keys (`limit`, `loss`, `d_learning_rate`, ...)."""
    return {
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "beta_1": beta_1,
        "batch_size": batch_size,
        "epochs": epochs,
        **more,
    }


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration reproducing one seed's experiment.

    Attributes:
        name: preset name, e.g. `"mnist"`.
        dataset: the dataset name it trains on (`gencompare.data.load_images`).
        source: where the configuration comes from (shown in the README table).
        model: constructor keyword arguments of the model.
        training: optimizer and loop settings (`optimizer`, `learning_rate`, `beta_1`, `batch_size`,
            `epochs`, `limit`, ...), used by `gencompare.train`.
        notes: deviations from the source and why.
    """

    name: str
    dataset: str
    source: str
    model: dict
    training: dict
    notes: str = ""


class PresetRegistry:
    """Named presets of one model class."""

    def __init__(self, model_name):
        self.model_name = model_name
        self._presets = {}

    def add(self, preset):
        if preset.name in self._presets:
            raise ValueError(f"{self.model_name} preset {preset.name!r} is defined twice.")
        self._presets[preset.name] = preset
        return preset

    def names(self):
        return sorted(self._presets)

    def get(self, name):
        if name not in self._presets:
            raise ValueError(
                f"Unknown {self.model_name} preset {name!r}; available presets: {', '.join(self.names())}."
            )
        return self._presets[name]
