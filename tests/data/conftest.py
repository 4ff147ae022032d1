"""Fixtures for the data-validation tests: a clean batch generated once per session, as text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from outagecast.datasets.generate import write_dataset
from outagecast.validation import read_incident_csv, warm_up

CLEAN_ROWS = 300
CLEAN_SEED = 7


@pytest.fixture(scope="session")
def clean_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean generated batch written as CSV (read-only: copy it before changing it)."""
    return write_dataset(
        tmp_path_factory.mktemp("clean") / "clean.csv", CLEAN_ROWS, CLEAN_SEED, progress=False
    )


@pytest.fixture(scope="session")
def _clean_text_frame(clean_csv: Path) -> pd.DataFrame:
    result = read_incident_csv(clean_csv)
    assert result.ok, result.reason
    return result.frame


@pytest.fixture
def clean_frame(_clean_text_frame: pd.DataFrame) -> pd.DataFrame:
    """The clean batch as the reader returns it (all text), a fresh copy per test."""
    return _clean_text_frame.copy()


@pytest.fixture(scope="session")
def gx_ready() -> None:
    """Import Great Expectations and build the data context once for the session (~7 s)."""
    warm_up()
