"""Subclassed Keras generative models (VAE, GAN) and the pieces they share."""
from gencompare.models.vae import VAE
from gencompare.models.gan import GAN
from gencompare.models import priors  # noqa: F401  (registers the prior layers for loading)

__all__ = ["GAN", "VAE"]
