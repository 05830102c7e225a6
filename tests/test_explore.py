"""Tests for gencompare.explore: the functions behind the notebooks' sliders, and the widgets."""

import numpy as np
import pytest

from gencompare import explore, plots
from gencompare.models.gan import GAN
from gencompare.models.vae import VAE

TINY_VAE = dict(
    image_shape=(8, 8, 1), latent_dim=2,
    encoder={"filters": [4], "kernel_size": 3, "strides": 2},
    decoder={"base_shape": [4, 4, 4], "filters": [], "kernel_size": 3, "strides": 2, "output_strides": 2,
             "output_activation": "sigmoid"},
)


@pytest.fixture(scope="module")
def vae():
    return VAE(**TINY_VAE, seed=3)


@pytest.fixture(scope="module")
def gan():
    return GAN.from_vae(VAE(**{**TINY_VAE, "latent_dim": 4}, seed=1), discriminator={"filters": [4]})


def test_the_plane_slider_shows_the_decoded_point(vae):
    image = explore.latent_plane_image(vae, 0.7, -1.2)
    expected = np.asarray(vae.decode(np.array([[0.7, -1.2]], np.float32)))[0]
    assert image.shape == (8, 8, 1) and image.dtype == np.float32
    np.testing.assert_allclose(image, expected, atol=1e-6)
    assert not np.allclose(image, explore.latent_plane_image(vae, -2.0, 2.0))


def test_the_plane_explorer_needs_a_2d_latent(gan):
    with pytest.raises(ValueError, match="2-D latent space; this model's has 4"):
        explore.latent_plane_image(gan, 0.0, 0.0)


def test_the_interpolation_slider_walks_the_great_circle(gan):
    z = gan.latent_grid(2, seed=5)
    path = explore.interpolation_path(z[0], z[1], steps=11)
    np.testing.assert_allclose(path, plots.interpolate_slerp(z[0], z[1], 11), atol=1e-6)
    for index in (0, 4, 10):
        np.testing.assert_allclose(explore.interpolation_image(gan, path, index), gan.generate(path[index:index + 1])[0],
                                   atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 10\]"):
        explore.interpolation_image(gan, path, 11)


def test_the_widgets_build_without_a_front_end(vae, gan):
    widget = explore.latent_plane_explorer(vae)
    assert [child.description for child in widget.children[:2]] == ["z₁", "z₂"]
    z = gan.latent_grid(2, seed=0)
    slider = explore.interpolation_explorer(gan, z[0], z[1], steps=5).children[0]
    assert (slider.min, slider.max) == (0, 4)
