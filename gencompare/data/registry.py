"""The named datasets: what each one is, where its files go and where they come from."""

import dataclasses

DEFAULT_FACE_SIZE = 64
KAGGLE_PREFIX = "kaggle:"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Everything the loaders need to know about one named dataset.

    Attributes:
        name: The registry name, also the folder name under the data directory.
        kind: "idx" (MNIST-style IDX files with an official split) or "images" (a folder or zip).
        channels: 1 for grayscale sets, 3 for colour sets.
        default_image_size: Side length when the caller passes `image_size=None`.
        keras_module: For "idx" sets, the `keras.datasets` module that can download them.
        kaggle_slug: For "images" sets, the Kaggle `owner/dataset` to download.
        member_folder: When set, only images inside a folder of this name are used (CelebA's
            Kaggle zip also holds CSV files; the comics zip holds photos beside the comics).
        description: One line for `dataset_info` and error messages.
    """

    name: str
    kind: str
    channels: int
    default_image_size: int
    keras_module: str | None = None
    kaggle_slug: str | None = None
    member_folder: str | None = None
    description: str = ""


IDX_FILE_NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

DATASETS = {
    spec.name: spec
    for spec in (
        DatasetSpec("mnist", "idx", 1, 28, keras_module="mnist",
                    description="MNIST handwritten digits, 28x28 grayscale, 60 000 train / 10 000 test"),
        DatasetSpec("fashion_mnist", "idx", 1, 28, keras_module="fashion_mnist",
                    description="Fashion-MNIST clothing, 28x28 grayscale, 60 000 train / 10 000 test"),
        DatasetSpec("cats", "images", 3, DEFAULT_FACE_SIZE,
                    kaggle_slug="spandan2/cats-faces-64x64-for-generative-models",
                    description="cat faces, 64x64 colour (15 747 files, many exact duplicates)"),
        DatasetSpec("anime", "images", 3, DEFAULT_FACE_SIZE, kaggle_slug="splcher/animefacedataset",
                    description="anime character faces (about 63 000 in the Kaggle set)"),
        DatasetSpec("celeba", "images", 3, DEFAULT_FACE_SIZE, kaggle_slug="jessicali9530/celeba-dataset",
                    member_folder="img_align_celeba",
                    description="CelebA aligned celebrity faces, 178x218, centre-cropped to a square"),
        DatasetSpec("comics", "images", 3, DEFAULT_FACE_SIZE,
                    kaggle_slug="defileroff/comic-faces-paired-synthetic-v2", member_folder="comics",
                    description="comic-style faces (Face2Comics v2, the comics half of 10 000 pairs)"),
    )
}


def unknown_name_message(name):
    """The `ValueError` message for a name that is neither registered, a path, nor `kaggle:`."""
    return (
        f"unknown dataset {name!r}. Known names: {', '.join(sorted(DATASETS))}; or a path to a folder "
        f"or .zip of images; or '{KAGGLE_PREFIX}<owner>/<dataset>' for any Kaggle dataset."
    )


def parse_kaggle_name(name):
    """Splits `kaggle:<owner>/<dataset>` into the slug.

    Args:
        name: A name starting with `kaggle:`.

    Returns:
        The slug `owner/dataset`.

    Raises:
        ValueError: The part after `kaggle:` is not `owner/dataset`.
    """
    slug = name[len(KAGGLE_PREFIX):].strip()
    parts = slug.split("/")
    if len(parts) != 2 or not all(part and part not in (".", "..") for part in parts):
        raise ValueError(f"{name!r}: expected '{KAGGLE_PREFIX}<owner>/<dataset>', e.g. "
                         f"'{KAGGLE_PREFIX}splcher/animefacedataset'.")
    return slug
