"""gencompare: Variational autoencoders and GANs in Keras 3, compared on MNIST and 64x64 faces."""

__version__ = "0.1.0"
