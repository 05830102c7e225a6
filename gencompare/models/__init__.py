"""Subclassed Keras generative models (VAE, GAN) and the pieces they share."""
from gencompare.models.vae import VAE
from gencompare.models.gan import GAN

__all__ = ["GAN", "VAE"]
