"""Interactive explorers for the notebooks: sliders over a trained model's latent space (ipywidgets).

    from gencompare import explore

    explore.latent_plane_explorer(vae_2d)                   # two sliders: the decoded digit at (x, y)
    explore.interpolation_explorer(gan, z_start, z_end)     # one slider: walk from one sample to another

Each explorer is a plain function that computes the picture (`latent_plane_image`,
`interpolation_image`: tested without a front end) and a widget that calls it when a slider moves.
Without a notebook front end (nbval, a script) the widget is still built and drawn once, so the cell
runs and its printed output can be checked.
"""

import numpy as np

from gencompare import plots

PLANE_EXTENT = 3.0
PLANE_STEP = 0.05
INTERPOLATION_STEPS = 41


def latent_plane_image(model, x, y):
    """The image a model with a 2-D latent space decodes at `(x, y)`: `(height, width, channels)`,
    float32 in the model's value range (a VAE's `decode`, or a GAN's `generate`)."""
    if model.latent_dim != 2:
        raise ValueError(f"The latent-plane explorer needs a 2-D latent space; this model's has {model.latent_dim}.")
    point = np.array([[x, y]], dtype=np.float32)
    return _draw(model, point)[0]


def interpolation_path(z_start, z_end, steps=INTERPOLATION_STEPS):
    """The great-circle path (`plots.interpolate_slerp`) the interpolation slider walks along."""
    return plots.interpolate_slerp(np.asarray(z_start, np.float32), np.asarray(z_end, np.float32), steps)


def interpolation_image(model, path, index):
    """The image at point `index` of an `interpolation_path`: float32 in the model's value range."""
    if not 0 <= index < len(path):
        raise ValueError(f"`index` must be in [0, {len(path) - 1}], got {index}.")
    return _draw(model, path[index : index + 1])[0]


def _draw(model, latents):
    draw = getattr(model, "generate", None) or model.decode
    images = np.asarray(draw(latents), dtype=np.float32)
    low, high = model.value_range
    return np.clip(images, low, high)


def _figure(image, model, title):
    return plots.sample_grid(image[None], value_range=model.value_range, columns=1, title=title)


def latent_plane_explorer(model, extent=PLANE_EXTENT, step=PLANE_STEP):
    """Two sliders over a 2-D latent plane and the decoded image at the chosen point.

    Args:
        model: a trained model with `latent_dim == 2` (e.g. the `mnist_2d` VAE).
        extent: the sliders run over `[-extent, extent]` (the prior's ±3σ by default).
        step: slider resolution.

    Returns:
        The `ipywidgets` widget (display it, or let the notebook show it as the cell's value).
    """
    import ipywidgets as widgets
    from IPython.display import display

    def show(x, y):
        display(_figure(latent_plane_image(model, x, y), model, f"z = ({x:+.2f}, {y:+.2f})"))

    slider = dict(min=-extent, max=extent, step=step, value=0.0, continuous_update=False)
    return widgets.interactive(show, x=widgets.FloatSlider(description="z₁", **slider),
                               y=widgets.FloatSlider(description="z₂", **slider))


def interpolation_explorer(model, z_start, z_end, steps=INTERPOLATION_STEPS):
    """One slider that walks the great circle from `z_start` to `z_end` and shows the image there.

    Args:
        model: a trained GAN (or VAE).
        z_start, z_end: latent vectors `(latent_dim,)`, e.g. two rows of `model.latent_grid(2, seed)`.
        steps: positions of the slider, endpoints included.

    Returns:
        The `ipywidgets` widget.
    """
    import ipywidgets as widgets
    from IPython.display import display

    path = interpolation_path(z_start, z_end, steps)

    def show(position):
        display(_figure(interpolation_image(model, path, position), model, f"step {position} of {steps - 1}"))

    return widgets.interactive(show, position=widgets.IntSlider(min=0, max=steps - 1, value=0,
                                                                 continuous_update=False, description="t"))
