"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """Where the real face photos and videos live (``../shared/data`` beside the repo)."""
    configured = os.environ.get("FACECURATOR_SHARED_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; tests that need it are skipped when it is absent."""
    path = shared_data_dir()
    if not (path / "README.md").exists():
        pytest.skip(
            f"real face data not found at {path} (set FACECURATOR_SHARED_DATA or place ../shared/data beside the repo)"
        )
    return path


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """Give each test run its own test database, so runs side by side never drop each other's."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=os.environ.get("FACECURATOR_TEST_DB_SUFFIX") or f"p{os.getpid()}")
