"""The public entry points on the real face zips, plus name resolution and `dataset_info`.

Decoding the full cats and anime zips costs seconds, so each split is loaded once per module and
shared; the session cache (GENCOMPARE_CACHE, set by conftest/CI) makes later runs nearly free.
"""

import hashlib

import numpy as np
import pytest

from conftest import require_real_file
from gencompare.data import dataset_info, download, load_images
from gencompare.data.loading import resolve

# (zip, files, distinct files): see shared/data/SOURCES.md; cats repeats many files byte for byte.
REAL_SETS = {"cats": ("cats/cats_64.zip", 15747, 9303), "anime": ("anime/anime_faces_64.zip", 22969, 22969)}


def _image_hashes(images):
    return {hashlib.sha256(image.tobytes()).digest() for image in images}


@pytest.fixture(scope="module", params=sorted(REAL_SETS))
def real_splits(request, real_data_dir):
    name = request.param
    require_real_file(real_data_dir, REAL_SETS[name][0])
    splits = {split: load_images(name, split, data_dir=real_data_dir) for split in ("train", "test")}
    return name, real_data_dir, splits


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_face_sets_split_into_disjoint_parts_that_add_up(real_splits):
    name, _, splits = real_splits
    train, test = splits["train"], splits["test"]
    assert train.shape[1:] == test.shape[1:] == (64, 64, 3) and train.dtype == np.uint8
    assert len(train) + len(test) == REAL_SETS[name][1]
    assert 0.03 < len(test) / REAL_SETS[name][1] < 0.07
    assert not _image_hashes(train) & _image_hashes(test), "no test image may also sit in train"
    assert 60 < train.mean() < 200, "real photos, not blank arrays"


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_face_sets_distinct_images(real_splits):
    name, _, splits = real_splits
    assert len(_image_hashes(splits["train"]) | _image_hashes(splits["test"])) == REAL_SETS[name][2]


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_limit_is_a_prefix_of_the_full_split(real_splits, tmp_path, monkeypatch):
    name, data_dir, splits = real_splits
    np.testing.assert_array_equal(load_images(name, limit=100, data_dir=data_dir), splits["train"][:100])
    if name == "cats":  # A private cache forces the decode-only-what-is-needed path on real files.
        monkeypatch.setenv("GENCOMPARE_CACHE", str(tmp_path))
        np.testing.assert_array_equal(load_images(name, limit=50, data_dir=data_dir), splits["train"][:50])


@pytest.mark.shared_data
def test_dataset_info_on_real_files(real_data_dir):
    require_real_file(real_data_dir, "cats/cats_64.zip")
    info = dataset_info("cats", data_dir=real_data_dir)
    assert info["found"] == ["cats_64.zip"] and info["counts"] == {"files": 15747}
    assert info["source"] == "kaggle:spandan2/cats-faces-64x64-for-generative-models"
    require_real_file(real_data_dir, "mnist/t10k-labels-idx1-ubyte.gz")
    assert dataset_info("mnist", data_dir=real_data_dir)["counts"] == {"train": 60000, "test": 10000}


def test_dataset_info_for_missing_files_says_where_and_from_where(tmp_path, monkeypatch):
    monkeypatch.setenv("GENCOMPARE_DATA", str(tmp_path))
    info = dataset_info("celeba")
    assert info["folder"] == str(tmp_path / "celeba") and info["found"] == [] and info["counts"] == {}
    assert info["source"] == "kaggle:jessicali9530/celeba-dataset"
    mnist_info = dataset_info("mnist", data_dir=tmp_path / "elsewhere")
    assert "train-images-idx3-ubyte.gz" in mnist_info["looked_for"] and mnist_info["counts"] == {}
    assert str(tmp_path / "elsewhere" / "mnist") in mnist_info["looked_for"]


def test_data_dir_rule_argument_then_environment_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GENCOMPARE_DATA", str(tmp_path / "from_env"))
    assert resolve("anime", tmp_path / "argument")[1] == tmp_path / "argument" / "anime"
    assert resolve("anime")[1] == tmp_path / "from_env" / "anime"
    monkeypatch.delenv("GENCOMPARE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve("anime")[1] == tmp_path / "home" / ".gencompare" / "data" / "anime"


@pytest.mark.parametrize("name, message", [
    ("imagenet", "Known names: anime, cats, celeba, comics, fashion_mnist, mnist"),
    ("./no/such/folder", "no such folder"),
    ("missing.zip", "no such folder or .zip"),
    ("kaggle:only-owner", "kaggle:<owner>/<dataset>"),
    ("kaggle:owner/../x", "kaggle:<owner>/<dataset>"),
    (42, "or a path to a folder"),
])
def test_unknown_names_list_every_accepted_form(name, message):
    with pytest.raises(ValueError, match=message) as raised:
        load_images(name)
    if isinstance(name, str) and not name.startswith("kaggle:"):
        assert "kaggle:<owner>/<dataset>" in str(raised.value) and "path" in str(raised.value)


def test_download_of_a_local_path_is_refused(tmp_path):
    with pytest.raises(ValueError, match="nothing to download"):
        download(str(tmp_path))
