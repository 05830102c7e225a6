"""Datasets as uint8 arrays and as `tf.data` pipelines.

    images = load_images("mnist", limit=2048)           # (2048, 28, 28, 1) uint8
    dataset = to_dataset(images, 64, value_range=(-1, 1))
"""

from gencompare.data.errors import DatasetUnavailable
from gencompare.data.loading import dataset_info, download, load_images, load_labels
from gencompare.data.pipeline import to_dataset
from gencompare.data.registry import DATASETS

__all__ = ["DATASETS", "DatasetUnavailable", "dataset_info", "download", "load_images", "load_labels",
           "to_dataset"]
