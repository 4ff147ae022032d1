"""Fixtures of the ingestion tests: clean source batches generated once, Great Expectations warmed up."""

from __future__ import annotations

from pathlib import Path

import pytest

from outagecast.datasets.generate import write_dataset
from outagecast.validation import warm_up

SOURCE_ROWS = 400


@pytest.fixture(scope="session")
def gx_ready() -> None:
    """Import Great Expectations and build its context once per session (~7 s)."""
    warm_up()


@pytest.fixture(scope="session")
def clean_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean generated batch (read-only: copy it, never change it)."""
    return write_dataset(
        tmp_path_factory.mktemp("source") / "clean.csv", SOURCE_ROWS, 20260101, progress=False
    )


@pytest.fixture(scope="session")
def other_sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four more clean batches with other seeds (disjoint incident ids)."""
    folder = tmp_path_factory.mktemp("sources")
    return [write_dataset(folder / f"src_{i}.csv", 250, 31 + i, progress=False) for i in range(4)]
