"""The VAE presets: one per seed experiment plus keras.io's reference VAE (data only).

Each `Preset` holds the constructor arguments of a `gencompare.models.VAE` and its training settings;
`VAE.preset(name)` and `VAE.from_preset(name)` read this table.
"""

from gencompare.models.presets import FACE_SHAPE, MNIST_SHAPE, Preset, PresetRegistry, training

PRESETS = PresetRegistry("VAE")


def _face_architecture(filters, batch_norm, latent_dim):
    """Four or five 3×3 stride-2 convs 64→4 (or 2) px, mirrored by stride-2 transposed convs."""
    side = FACE_SHAPE[0] // 2 ** len(filters)
    return {
        "image_shape": FACE_SHAPE,
        "latent_dim": latent_dim,
        "encoder": {"filters": list(filters), "kernel_size": 3, "strides": 2, "batch_norm": batch_norm},
        "decoder": {
            "base_shape": [side, side, filters[-1]],
            "filters": list(reversed(filters[:-1])),
            "kernel_size": 3,
            "strides": 2,
            "batch_norm": batch_norm,
            "output_strides": 2,
            "output_activation": "sigmoid",
        },
        "value_range": (0, 1),
    }


_MNIST_CONV = {
    "image_shape": MNIST_SHAPE,
    "encoder": {"filters": [32, 64, 64], "kernel_size": 3, "strides": [2, 2, 1], "dense_units": 128},
    "decoder": {
        "base_shape": [7, 7, 64],
        "filters": [64, 32],
        "kernel_size": 3,
        "strides": 2,
        "output_activation": "sigmoid",
    },
    "value_range": (0, 1),
}

PRESETS.add(Preset(
    name="mnist",
    dataset="mnist",
    source="seed: MNIST VAE report",
    model={**_MNIST_CONV, "latent_dim": 16, "reconstruction_loss": "mse", "beta": 1.0},
    training=training(1e-4, 128, 30, limit=None),
    notes="Conv widths 32/64/64 (strides 2, 2, 1), hidden dense 128, latent 16 and beta 1 are our "
          "choices: the report fixes only 3 convs + dense, 3 transposed convs, MSE + beta*KL.",
))
PRESETS.add(Preset(
    name="mnist_2d",
    dataset="mnist",
    source="keras.io-style latent manifold",
    model={**_MNIST_CONV, "latent_dim": 2, "reconstruction_loss": "bce", "beta": 1.0},
    training=training(1e-3, 128, 30, limit=None),
    notes="The mnist preset's convs with a 2-D latent for the latent-manifold figure; BCE and "
          "Adam 1e-3 as in the keras.io example.",
))
PRESETS.add(Preset(
    name="keras_io_mnist",
    dataset="mnist",
    source="keras.io example 'Variational AutoEncoder' (exact architecture)",
    model={
        "image_shape": MNIST_SHAPE,
        "latent_dim": 2,
        "encoder": {"filters": [32, 64], "kernel_size": 3, "strides": 2, "dense_units": 16},
        "decoder": {
            "base_shape": [7, 7, 64],
            "filters": [64, 32],
            "kernel_size": 3,
            "strides": 2,
            "output_activation": "sigmoid",
        },
        "reconstruction_loss": "bce",
        "beta": 1.0,
        "value_range": (0, 1),
    },
    training=training(1e-3, 128, 30, limit=None),
    notes="Baseline for the benchmark comparison; Adam's default learning rate.",
))
PRESETS.add(Preset(
    name="cats",
    dataset="cats",
    source="seed: cat-faces VAE",
    model={**_face_architecture([32, 64, 128, 256, 512], False, 32), "reconstruction_loss": "bce", "beta": 1.0},
    training=training(1e-3, 64, 50, limit=None),
    notes="The seed trained with batch 4; we use 64 for throughput (Adam 1e-3 is stable there). "
          "Widths 32..512 and the mirrored decoder are our choice.",
))
PRESETS.add(Preset(
    name="celeba",
    dataset="celeba",
    source="seed: CelebA beta-VAE",
    model={**_face_architecture([32, 64, 128, 256], True, 256), "reconstruction_loss": "bce", "beta": 0.1},
    training=training(5e-4, 64, 60, limit=30000),
    notes="Trains on the first 30 000 images, as the seed did. Mirrored decoder is our choice.",
))
PRESETS.add(Preset(
    name="anime",
    dataset="anime",
    source="seed: anime-faces VAE",
    model={**_face_architecture([32, 64, 128, 256], True, 128), "reconstruction_loss": "l1", "beta": 1.0},
    training=training(5e-4, 64, 50, limit=None),
    notes="The seed found L1 trained most consistently. Widths 32..256 with batch-norm, latent 128, "
          "Adam 5e-4, batch 64 and 50 epochs are our choices for 64x64x3.",
))
PRESETS.add(Preset(
    name="comics",
    dataset="comics",
    source="seed: comic-faces VAE",
    model={**_face_architecture([32, 64, 128, 256], False, 128), "reconstruction_loss": "mse", "beta": 1.0},
    training=training(1e-3, 128, 40, limit=None),
    notes="No batch-norm and 40 epochs are our choices (the seed does not say).",
))

# -- fast presets: sample quality per CPU-second (tuned in benchmarks/vae_tuning.md) -------------
# Tuned with 8 steps per execution, no XLA, float32 (what precision "auto" gives on this CPU without
# avx512_bf16: bf16 is emulated there and ~10x slower) on a shared 2-core CPU. Sample them with the
# learned prior: `VAE.fit_prior(train_images, kind="mixture", components=10)`, then
# `sample(count, seed, prior="mixture")`; the standard prior's samples are much worse (see the notes).

PRESETS.add(Preset(
    name="mnist_fast",
    dataset="mnist",
    source="issue #14: fast MNIST VAE (benchmarks/vae_tuning.md)",
    model={**_MNIST_CONV, "latent_dim": 16, "reconstruction_loss": "bce", "beta": 1.0},
    training=training(1e-3, 128, 2, limit=None),
    notes="The mnist preset's network with BCE and Adam 1e-3 for 2 epochs (~195 CPU-s). Test split, "
          "2000 samples, seeds 0/1: classifier-FD 87/86 with the standard prior, 27.6/27.3 with a "
          "10-component mixture prior (recall 0.31/0.33, 10/10 classes).",
))

_FACES_FAST = {**_face_architecture([32, 64, 128, 256], False, 64), "reconstruction_loss": "gaussian_learned",
               "beta": 1.0}

PRESETS.add(Preset(
    name="cats_fast",
    dataset="cats",
    source="issue #14: fast 64x64 face VAE (benchmarks/vae_tuning.md)",
    model=_FACES_FAST,
    training=training(1e-3, 64, 2, limit=None),
    notes="Narrow 4-conv 64x64 VAE (32..256, no batch-norm, latent 64) with the sigma-VAE loss, "
          "2 epochs (~195 CPU-s). Test split, 2000 samples, seeds 0/1: SWD 0.144/0.139 with the "
          "standard prior, 0.069/0.068 with a 10-component mixture prior.",
))
PRESETS.add(Preset(
    name="anime_fast",
    dataset="anime",
    source="issue #14: fast 64x64 face VAE (benchmarks/vae_tuning.md)",
    model=_FACES_FAST,
    training=training(1e-3, 64, 1, limit=None),
    notes="cats_fast's network for 1 epoch of the larger anime set (~153 CPU-s). Test split, 2000 "
          "samples, seeds 0/1: SWD 0.108/0.104 with the standard prior, 0.102/0.099 with a "
          "10-component mixture prior.",
))
