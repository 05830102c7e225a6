"""Downloading a Kaggle dataset with the `kaggle` package, after checking for credentials ourselves.

The `kaggle` package authenticates as soon as it is imported (kaggle 2.x prints an authentication
banner and creates a config folder even then), so it is imported only once credentials are known to
exist. Credential values are never printed, logged, or put into error messages.
"""

import logging
import os
import pathlib

from gencompare.data.archives import zip_files_in
from gencompare.data.errors import DatasetUnavailable
from gencompare.data.locations import ensure_writable_folder

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "KAGGLE_API_TOKEN"
SECRET_VARIABLES = ("KAGGLE_API_TOKEN", "KAGGLE_KEY")


def config_folders():
    """Folders where the `kaggle` package looks for `kaggle.json`, `access_token` and OAuth files."""
    configured = os.environ.get("KAGGLE_CONFIG_DIR")
    if configured:
        return [pathlib.Path(configured).expanduser()]
    home = pathlib.Path("~").expanduser()
    xdg = pathlib.Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [home / ".kaggle", xdg / "kaggle"]


def credentials_source():
    """Where Kaggle credentials were found, as a description safe to show; None when there are none."""
    if os.environ.get(TOKEN_VARIABLE):
        return f"the {TOKEN_VARIABLE} environment variable"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "the KAGGLE_USERNAME and KAGGLE_KEY environment variables"
    for folder in config_folders():
        for file_name in ("access_token", "access_token.txt", "kaggle.json", "credentials.json"):
            if (folder / file_name).is_file():
                return str(folder / file_name)
    return None


def credentials_help(slug, folder):
    """How to make `slug` available: set up credentials, or place the zip by hand."""
    return (
        f"Kaggle dataset {slug!r} is not in {folder} and no Kaggle credentials were found. Either "
        f"(1) create an API token at https://www.kaggle.com/settings/api and set the {TOKEN_VARIABLE} "
        f"environment variable to it, or save it as ~/.kaggle/access_token (older kaggle versions: "
        f"~/.kaggle/kaggle.json, or KAGGLE_USERNAME and KAGGLE_KEY); or (2) download "
        f"https://www.kaggle.com/datasets/{slug} yourself and put the .zip (or the extracted images) "
        f"into {folder}."
    )


def redact(text):
    """`text` with the value of every secret Kaggle variable replaced by `***`."""
    for variable in SECRET_VARIABLES:
        secret = os.environ.get(variable)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def make_client():
    """An authenticated Kaggle API client (tests replace this factory with a fake)."""
    import kaggle  # Deferred: importing it authenticates, prints and creates a config folder.

    return kaggle.api


def download_dataset(slug, folder):
    """Downloads a Kaggle dataset's zip into `folder` (not extracted).

    Args:
        slug: "owner/dataset".
        folder: Destination folder, created if needed.

    Returns:
        The list of .zip files now in `folder`.

    Raises:
        DatasetUnavailable: No credentials, the folder is not writable, or the download failed.
    """
    folder = pathlib.Path(folder)
    source = credentials_source()
    if source is None:
        raise DatasetUnavailable(credentials_help(slug, folder))
    try:
        ensure_writable_folder(folder)
    except PermissionError as error:
        raise DatasetUnavailable(f"cannot download {slug!r}: {error}") from error
    logger.info("downloading Kaggle dataset %s into %s (credentials from %s)", slug, folder, source)
    try:
        make_client().dataset_download_files(slug, path=str(folder), unzip=False, quiet=False)
    except (Exception, SystemExit) as error:  # kaggle exits on bad credentials; HTTP and network errors
        raise DatasetUnavailable(redact(
            f"downloading Kaggle dataset {slug!r} into {folder} failed ({type(error).__name__}: {error}). "
            f"Check the slug, your network and that you accepted the dataset's terms on kaggle.com; "
            f"or put the .zip into {folder} yourself.")) from None
    zips = zip_files_in(folder)
    if not zips:
        raise DatasetUnavailable(f"the Kaggle download of {slug!r} left no .zip file in {folder}.")
    return zips
