"""Shared test configuration: where the real data lives, and a private cache per test session."""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SIBLING_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _real_data_dir():
    """The folder holding real dataset files: GENCOMPARE_DATA, else ../shared/data beside the clone."""
    configured = os.environ.get("GENCOMPARE_DATA")
    if configured:
        return pathlib.Path(configured).resolve()
    if SIBLING_SHARED_DATA.is_dir():
        return SIBLING_SHARED_DATA
    return None


def pytest_configure(config):
    # Decoded-array caches from tests must never land in the user's real cache folder.
    if "GENCOMPARE_CACHE" not in os.environ:
        cache = pathlib.Path(config.rootpath) / ".pytest_gencompare_cache"
        os.environ["GENCOMPARE_CACHE"] = str(cache)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def real_data_dir():
    """Path to the real data files; skips the test with the reason when they are not there."""
    path = _real_data_dir()
    if path is None or not path.is_dir():
        pytest.skip(
            "real data files not found: set GENCOMPARE_DATA to a folder holding mnist/, cats/, anime/ "
            "(CI uses ../shared/data beside the clone)"
        )
    return path


def require_real_file(data_dir, relative):
    """Skips unless `data_dir/relative` exists (one dataset may be present without the others)."""
    path = pathlib.Path(data_dir) / relative
    if not path.exists():
        pytest.skip(f"{relative} not found under {data_dir}")
    return path
