"""Real API servers on loopback: one on SQLite, one on PostgreSQL, sharing one trained model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from outagecast.ml.bootstrap import ensure_model
from outagecast.settings import Settings
from tests.utils.server import RunningServer, start_server

TEST_DATASET_ROWS = "8000"


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home folder with a generated dataset and a trained model (small, for speed)."""
    home = tmp_path_factory.mktemp("home")
    ensure_model(Settings(outagecast_home=home, dataset_rows=int(TEST_DATASET_ROWS)))
    return home


def _serve(home: Path, database_url: str, name: str, **extra: str) -> RunningServer:
    return start_server(
        home=home,
        env={"DATABASE_URL": database_url, "DATASET_ROWS": TEST_DATASET_ROWS, **extra},
        log_path=home / f"{name}.log",
    )


@pytest.fixture(scope="session")
def sqlite_server(trained_home: Path) -> Iterator[RunningServer]:
    server = _serve(trained_home, f"sqlite:///{trained_home}/api.db", "sqlite-api")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(trained_home: Path, postgres_url: str) -> Iterator[RunningServer]:
    server = _serve(trained_home, postgres_url, "postgres-api")
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def api_server(request: pytest.FixtureRequest) -> RunningServer:
    """The API on each backend in turn."""
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
def client(api_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=60) as c:
        yield c
