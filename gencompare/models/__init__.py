"""Subclassed Keras generative models (VAE, GAN) and the pieces they share.

`from gencompare.models import VAE, GAN` imports TensorFlow; the preset tables
(`gencompare.models.vae_presets`, `gan_presets`) are plain data and import nothing heavy. Importing
`vae` also imports `priors`, so that the learned-prior layers are registered for loading.
"""

__all__ = ["GAN", "VAE"]


def __getattr__(name):
    if name == "VAE":
        from gencompare.models.vae import VAE

        return VAE
    if name == "GAN":
        from gencompare.models.gan import GAN

        return GAN
    raise AttributeError(f"module 'gencompare.models' has no attribute {name!r}")
