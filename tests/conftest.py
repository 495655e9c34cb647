"""Shared fixtures: one real warehouse built once per test session from data/sample/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from signalboard.db import connect_readonly
from signalboard.settings import Settings
from tests.paths import REPO_ROOT

SAMPLE_DIR = REPO_ROOT / "data" / "sample"


@pytest.fixture(scope="session")
def sample_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at a warehouse loaded from data/sample/ (built once per session)."""
    from etl.load import load_paths

    folder = tmp_path_factory.mktemp("sample_warehouse")
    settings = Settings(
        db_path=folder / "warehouse.duckdb",
        pseudonym_key_file=folder / "pseudonym.key",
    )
    load_paths([SAMPLE_DIR], settings=settings, progress=False)
    return settings


@pytest.fixture(scope="session")
def sample_db(sample_settings: Settings) -> Path:
    """Path of the session's sample warehouse file."""
    return sample_settings.db_path


@pytest.fixture
def sample_con(sample_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the session's sample warehouse."""
    con = connect_readonly(sample_db)
    try:
        yield con
    finally:
        con.close()


@pytest.fixture
def empty_settings(tmp_path: Path) -> Settings:
    """Settings pointing at a warehouse file that does not exist."""
    return Settings(db_path=tmp_path / "none.duckdb", pseudonym_key_file=tmp_path / "key")
