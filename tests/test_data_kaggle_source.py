"""Kaggle downloads: credential checks without importing `kaggle`, a fake client, secret hygiene."""

import sys
import zipfile

import numpy as np
import pytest

from gencompare.data import DatasetUnavailable, download, kaggle_source, load_images
from test_data_image_sets import _distinct_files

CATS_SLUG = "spandan2/cats-faces-64x64-for-generative-models"


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """No real credentials leak in: a fresh HOME, no Kaggle variables, a private cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for variable in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GENCOMPARE_CACHE", str(tmp_path / "cache"))


class FakeKaggleClient:
    """Records each request and writes a small zip, like `dataset_download_files(unzip=False)`."""

    def __init__(self, image_count=30, error=None):
        self.requests = []
        self.image_count = image_count
        self.error = error

    def dataset_download_files(self, dataset, path=None, unzip=False, quiet=True, **unused):
        self.requests.append({"dataset": dataset, "path": path, "unzip": unzip})
        if self.error is not None:
            raise self.error
        with zipfile.ZipFile(f"{path}/{dataset.split('/')[1]}.zip", "w") as archive:
            for name, data in _distinct_files(self.image_count, seed=7).items():
                archive.writestr(f"images/{name}", data)


@pytest.fixture
def fake_client(monkeypatch):
    client = FakeKaggleClient()
    monkeypatch.setattr(kaggle_source, "make_client", lambda: client)
    return client


def test_download_through_the_fake_client_then_load_from_the_zip(tmp_path, monkeypatch, fake_client):
    monkeypatch.setenv("KAGGLE_API_TOKEN", "token-for-tests")
    images = load_images("cats", "all", data_dir=tmp_path / "data")
    assert fake_client.requests == [{"dataset": CATS_SLUG, "path": str(tmp_path / "data" / "cats"), "unzip": False}]
    assert images.shape == (30, 64, 64, 3)
    assert (tmp_path / "data" / "cats" / "cats-faces-64x64-for-generative-models.zip").is_file()
    again = load_images("cats", "all", data_dir=tmp_path / "data")
    assert len(fake_client.requests) == 1, "files already there: no second download"
    np.testing.assert_array_equal(images, again)


def test_any_kaggle_dataset_by_slug_goes_to_its_own_folder(tmp_path, monkeypatch, fake_client):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "key-for-tests")
    folder = download("kaggle:someone/pixel-faces", data_dir=tmp_path, extract=True)
    assert folder == tmp_path / "kaggle" / "someone" / "pixel-faces"
    assert fake_client.requests[0]["dataset"] == "someone/pixel-faces"
    assert len(list((folder / "pixel-faces" / "images").glob("*.png"))) == 30, "extract=True unpacks safely"
    assert load_images("kaggle:someone/pixel-faces", "all", image_size=8, data_dir=tmp_path).shape == (30, 8, 8, 3)


def test_missing_credentials_name_the_variable_and_folder_and_never_a_secret(tmp_path, monkeypatch, fake_client):
    monkeypatch.setenv("KAGGLE_KEY", "half-set-secret-value")  # a key without a user name is not usable
    monkeypatch.delitem(sys.modules, "kaggle", raising=False)
    with pytest.raises(DatasetUnavailable) as raised:
        load_images("anime", data_dir=tmp_path / "data")
    message = str(raised.value)
    assert "KAGGLE_API_TOKEN" in message and "~/.kaggle/access_token" in message
    assert str(tmp_path / "data" / "anime") in message and "splcher/animefacedataset" in message
    assert "half-set-secret-value" not in message
    assert fake_client.requests == [] and "kaggle" not in sys.modules, "kaggle is imported only with credentials"


def test_a_failing_download_is_dataset_unavailable_with_secrets_redacted(tmp_path, monkeypatch):
    secret = "kgat_0123456789abcdef"
    monkeypatch.setenv("KAGGLE_API_TOKEN", secret)
    client = FakeKaggleClient(error=RuntimeError(f"401 Unauthorized for token {secret}"))
    monkeypatch.setattr(kaggle_source, "make_client", lambda: client)
    with pytest.raises(DatasetUnavailable) as raised:
        load_images("celeba", data_dir=tmp_path)
    message = str(raised.value)
    assert secret not in message and "***" in message and "jessicali9530/celeba-dataset" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_unwritable_dataset_folder_is_reported(tmp_path, monkeypatch, fake_client):
    monkeypatch.setenv("KAGGLE_API_TOKEN", "token-for-tests")
    (tmp_path / "comics").write_text("a file where the folder should be")
    with pytest.raises(DatasetUnavailable, match="cannot write into .*comics"):
        load_images("comics", data_dir=tmp_path)
    assert fake_client.requests == []


@pytest.mark.parametrize("relative_file, variable", [
    (".kaggle/access_token", None), (".kaggle/kaggle.json", None),
    (".config/kaggle/kaggle.json", None), ("custom/kaggle.json", "KAGGLE_CONFIG_DIR"),
])
def test_credential_files_are_found_where_kaggle_looks(tmp_path, monkeypatch, relative_file, variable):
    assert kaggle_source.credentials_source() is None
    path = tmp_path / "home" / relative_file
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    if variable:
        monkeypatch.setenv(variable, str(path.parent))
    assert kaggle_source.credentials_source() == str(path)
