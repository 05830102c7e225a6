"""The GAN presets: the seeds' recipes and the reference DCGANs (data only).

Each `Preset` holds the constructor arguments of a `gencompare.models.GAN` and its training settings
(two optimizers: `d_learning_rate`/`g_learning_rate` etc. override the shared keys);
`GAN.preset(name)` and `GAN.from_preset(name)` read this table.
"""

from gencompare.models.presets import FACE_SHAPE, MNIST_SHAPE, Preset, PresetRegistry, training

PRESETS = PresetRegistry("GAN")

# Latents over which the fast presets' EMA generators recompute their BatchNorm statistics
# (`GAN(ema_standing_statistics=...)`): ~2 s per refresh for a 64×64 face generator on 2 CPU cores.
STANDING_LATENTS = 2048


def _dcgan(image_shape, latent_dim, base_shape, generator_filters, discriminator_filters, **more):
    """The DCGAN of Radford et al. (2016): a BatchNorm + ReLU generator of 4×4 stride-2 transposed
    convs from a `base_shape` projection, a LeakyReLU (0.2) discriminator of 4×4 stride-2 convs without
    BatchNorm, tanh images in [-1, 1]; `more` adds model keys (the EMA schedule, say)."""
    return {
        "image_shape": image_shape,
        "latent_dim": latent_dim,
        "generator": {
            "base_shape": list(base_shape),
            "filters": list(generator_filters),
            "kernel_size": 4,
            "strides": 2,
            "batch_norm": True,
            "activation": "relu",
            "output_layer": "conv_transpose",
            "output_kernel_size": 4,
            "output_strides": 2,
            "output_activation": "tanh",
        },
        "discriminator": {
            "filters": list(discriminator_filters),
            "kernel_size": 4,
            "strides": 2,
            "activation": "leaky_relu",
            "leaky_slope": 0.2,
        },
        "value_range": (-1, 1),
        **more,
    }


def _keras_io_faces(width_divisor):
    """keras.io's 64×64 DCGAN with every layer's width divided by `width_divisor`."""
    def width(channels):
        return channels // width_divisor

    return {
        "image_shape": FACE_SHAPE,
        "latent_dim": 128,
        "generator": {
            "base_shape": [8, 8, width(128)],
            "filters": [width(128), width(256), width(512)],
            "kernel_size": 4,
            "strides": 2,
            "activation": "leaky_relu",
            "leaky_slope": 0.2,
            "dense_activation": "linear",
            "output_layer": "conv",
            "output_kernel_size": 5,
            "output_activation": "tanh",
        },
        "discriminator": {
            "filters": [width(64), width(128), width(128)],
            "kernel_size": 4,
            "strides": 2,
            "activation": "leaky_relu",
            "leaky_slope": 0.2,
            "head_dropout": 0.2,
        },
        "value_range": (-1, 1),
    }


PRESETS.add(Preset(
    name="mnist",
    dataset="mnist",
    source="TensorFlow tutorial 'Deep Convolutional GAN' (as used by the MNIST seed)",
    model={
        "image_shape": MNIST_SHAPE,
        "latent_dim": 100,
        "generator": {
            "base_shape": [7, 7, 256],
            "filters": [128, 64],
            "kernel_size": 5,
            "strides": [1, 2],
            "batch_norm": True,
            "activation": "leaky_relu",
            "leaky_slope": 0.3,
            "output_layer": "conv_transpose",
            "output_kernel_size": 5,
            "output_strides": 2,
            "output_activation": "tanh",
        },
        "discriminator": {
            "filters": [64, 128],
            "kernel_size": 5,
            "strides": 2,
            "activation": "leaky_relu",
            "leaky_slope": 0.3,
            "dropout": 0.3,
        },
        "value_range": (-1, 1),
    },
    training=training(1e-4, 128, 50, beta_1=0.9, loss="bce"),
    notes="Layers as in the tutorial, including Keras 2's default LeakyReLU slope 0.3. The tutorial "
          "uses batch 256; the seed trained with 32-128, we use 128. The output transposed conv has "
          "a bias here (the tutorial's has none: one bias per channel, immaterial).",
))
PRESETS.add(Preset(
    name="cats",
    dataset="cats",
    source="seed: cat-faces GAN (latent 196, tanh, Adam 2e-4 β₁ 0.5); layers: DCGAN (Radford et al., 2016)",
    model=_dcgan(FACE_SHAPE, 196, [4, 4, 512], [256, 128, 64], [64, 128, 256, 512]),
    training=training(2e-4, 64, 50, beta_1=0.5, loss="bce"),
    notes="The seed fixes latent 196, tanh output and Adam 2e-4 β₁ 0.5; the layers are the DCGAN "
          "paper's 64×64 ones (4×4×512 projection, 4×4 stride-2 convs, BatchNorm in the generator). "
          "No BatchNorm in the discriminator (simpler with separate real/fake passes). Batch 64 and "
          "50 epochs are our choices.",
))
PRESETS.add(Preset(
    name="faces64",
    dataset="anime",
    source="keras.io example 'DCGAN to generate face images' (exact layers)",
    model=_keras_io_faces(1),
    training=training(1e-4, 32, 100, beta_1=0.9, loss="bce"),
    notes="Output: tanh with data in [-1, 1] (the DCGAN convention) instead of keras.io's sigmoid "
          "and [0, 1]. keras.io trains on CelebA (not obtainable here: anime faces are the default "
          "data) for 1 epoch as a demo, suggesting ~100; it also adds uniform noise (0-0.05) to the "
          "labels, which we leave to `compile(label_smoothing=...)`. Trains at ~7 img/s on 2 CPU cores.",
))
PRESETS.add(Preset(
    name="faces64_small",
    dataset="anime",
    source="faces64 with every layer 4× narrower (CPU variant)",
    model=_keras_io_faces(4),
    training=training(1e-4, 32, 100, beta_1=0.9, loss="bce"),
    notes="Same depth, kernels and training as faces64; widths ÷4 (about 16× fewer multiply-adds) so "
          "that it trains on a laptop CPU.",
))


# ----------------------------------------------------------------------------------------------
# Fast presets: tuned on a 2-core CPU for sample quality per CPU-second (benchmarks/gan_tuning.md)
# ----------------------------------------------------------------------------------------------

def _mnist_fast_model():
    """The half-width MNIST DCGAN of `mnist_fast`: one more generator layer at 28×28 (16 channels, then a
    3×3 conv draws the pixels) and one more discriminator layer at 7×7 (a 3×3 stride-1 conv, 64 channels)."""
    model = _dcgan(MNIST_SHAPE, 8, [7, 7, 64], [32, 16], [32, 64, 64], ema_standing_statistics=STANDING_LATENTS)
    model["generator"].update(output_layer="conv", output_kernel_size=3, output_strides=1)
    model["discriminator"].update(kernel_size=[4, 4, 3], strides=[2, 2, 1])
    return model


PRESETS.add(Preset(
    name="mnist_fast",
    dataset="mnist",
    source="DCGAN (Radford et al., 2016) at half width with a layer more in each network, 8-D latent, TTUR "
           "(Heusel et al., 2017), hinge loss (Lim & Ye, 2017), EMA with standing statistics (Brock et al., "
           "2019); tuned in benchmarks/gan_tuning.md",
    model=_mnist_fast_model(),
    training=training(1e-3, 32, 3, beta_1=0.5, loss="hinge", g_learning_rate=4e-3),
    notes="The plain DCGAN of issue #13 (BN+ReLU generator with 4×4 stride-2 transposed convs, LeakyReLU "
          "discriminator without dropout, Adam β₁ 0.5) at half width, with changes measured on the test "
          "split (benchmarks/gan_tuning.md): batch 32 (twice the steps per CPU-second of batch 64), an 8-D "
          "latent (100-D: classifier-FID 38 after 3 760 steps; 16-D: 32/29; 8-D: 27/22; 4-D drops to recall "
          "0.15), a generator learning rate 4× the discriminator's (1e-3 both: 27/22; G 4e-3: 13/17), the "
          "hinge loss and the EMA generator's standing BatchNorm statistics. Then depth, which the width "
          "trials had missed: a generator layer at 28×28 (7×7×64 → 14×14×32 → 28×28×16, a 3×3 conv to the "
          "pixels) and a 3×3 stride-1 discriminator layer at 7×7 (32 → 64 → 64) take the EMA generator from "
          "14.8/14.8/14.1 to 3.4/4.4/3.2 after 5 624 steps and to 4.5/6.4/3.9 after 3 744 (seeds 0/1/2, mixed "
          "bfloat16), at about twice the seconds per step; either layer alone: 8.6/8.2/9.2 (generator) and "
          "9.6/11.5/12.3 (discriminator). The default EMA (0.999 with warmup) is worth 3-6 points (raw "
          "generator 9.3/7.1/6.7). "
          "`--learning-rate` scales both networks' rates.",
))


def _quarter_width_dcgan_faces(dataset, name, batch_size, tuning):
    """The 64×64 DCGAN of issue #13 at quarter width with a resize-conv generator, a 32-D latent, the
    generator at twice the discriminator's learning rate and a StyleGAN-style EMA with standing
    statistics: the face recipe that learned fastest per CPU-second here (benchmarks/gan_tuning.md);
    `batch_size` and the `tuning` sentence are per data set."""
    model = _dcgan(FACE_SHAPE, 32, [4, 4, 128], [64, 32, 16], [16, 32, 64, 128],
                   ema_halflife_images=10_000, ema_rampup=0.05, ema_standing_statistics=STANDING_LATENTS)
    # Nearest ×2 then a 3×3 conv in every upsampling layer, computed as one 4×4 transposed conv
    # (`resize_conv.NearestUpsamplingConv2D`): DCGAN's cost, no checkerboard.
    model["generator"].update(upsampling="nearest", kernel_size=3, output_kernel_size=3)
    return Preset(
        name=name,
        dataset=dataset,
        source="DCGAN (Radford et al., 2016) at quarter width; resize-conv upsampling (Odena et al., 2016); "
               "TTUR (Heusel et al., 2017); EMA half-life (Karras et al.) with standing statistics (Brock et "
               "al., 2019); tuned in benchmarks/gan_tuning.md",
        model=model,
        training=training(5e-4, batch_size, 10, beta_1=0.5, loss="bce", g_learning_rate=1e-3),
        notes=f"Quarter-width DCGAN (generator 4×4×128→64→32→16→3, discriminator 16→32→64→128 with 4×4 "
              f"stride-2 convs), latent 32, Adam β₁ 0.5 at 5e-4 for the discriminator and 1e-3 for the "
              f"generator, batch {batch_size}, EMA half-life 10 000 images whose BatchNorm statistics are "
              f"recomputed for its own weights ({STANDING_LATENTS} latents). Every upsampling is nearest ×2 "
              "then a 3×3 conv (resize-conv), computed as one 4×4 transposed conv, so it costs what "
              "DCGAN's 4×4 stride-2 transposed convs cost; with those, every sample carried a fine grid "
              "(the report's `grid` metric 2.9 for cats and 3.4 for anime: lattice peaks three times the "
              "real images') and SWD was 60-80 % higher "
              f"at the same budget. {tuning} A binomial blur after the upsamplings (`blur`) removed the "
              "grid of the transposed-conv generator but let the discriminator win or the samples "
              "collapse (looked at); it is off.",
    )


PRESETS.add(_quarter_width_dcgan_faces(
    "cats", "cats_fast", 16,
    "On cat faces (8 000 training images, test split, 500 samples, seeds 0/1), EMA SWD after 1 488 "
    "steps of batch 16: 0.047/0.042 (transposed convs: 0.075/0.056; at batch 32 after 744 steps "
    "0.094/0.071), cat faces with eyes, nose and fur colours in nearly every sample.",
))
PRESETS.add(_quarter_width_dcgan_faces(
    "anime", "faces64_fast", 32,
    "On anime faces (8 000 training images, test split, 500 samples, seeds 0/1), EMA SWD after 744 "
    "steps of batch 32: 0.035/0.035 (transposed convs: 0.062/0.063; at batch 16 0.079/0.077, nearly "
    "one face shape everywhere), faces with eyes and varied hair colours.",
))
