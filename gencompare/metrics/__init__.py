"""Quantitative, offline-capable metrics for comparing VAEs and GANs.

Start with `evaluate(model, "mnist")`, which returns a flat dict of every metric that applies. The
pieces are importable on their own:

* `distances`: Fréchet distance, KID, precision/recall between feature sets;
* `features`: the `inception` and `mnist` feature extractors;
* `mnist_classifier`: the project's digit classifier (features and predictions);
* `coverage`: mode coverage from predicted classes;
* `swd`: sliced Wasserstein distance on Laplacian-pyramid patches (no pretrained network);
* `checkerboard`: how strongly samples carry an upsampling grid, relative to real images;
* `evaluation`: `evaluate`, the VAE bounds, and `MetricsCallback`.
"""

from gencompare.metrics.coverage import mode_coverage
from gencompare.metrics.distances import frechet_distance, kernel_inception_distance, precision_recall
from gencompare.metrics.evaluation import MetricsCallback, evaluate
from gencompare.metrics.features import get_extractor
from gencompare.metrics.swd import sliced_wasserstein_distance

__all__ = [
    "MetricsCallback",
    "evaluate",
    "frechet_distance",
    "get_extractor",
    "kernel_inception_distance",
    "mode_coverage",
    "precision_recall",
    "sliced_wasserstein_distance",
]
