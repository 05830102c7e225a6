"""Subclassed Keras generative models (VAE, GAN) and the pieces they share."""
