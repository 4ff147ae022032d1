"""A real API on loopback for the web-app tests, and AppTest instances pointed at it (or at nothing)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from outagecast.settings import Settings, get_settings
from outagecast.webapp.launch import ENTRYPOINT
from tests.utils.server import RunningServer, free_port, start_server

TEST_DATASET_ROWS = "8000"  # small: the cold start trains a model in seconds
# AppTest's per-run limit: generous, because the first prediction may wait on the model.
RUN_TIMEOUT = 60.0
VIEWER_TIMEZONE = "Europe/Paris"  # not UTC, so that time-zone mistakes show


@pytest.fixture(scope="session")
def api_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUTAGECAST_HOME of the test API (its data folders, database, registry, Data Docs)."""
    return tmp_path_factory.mktemp("webapp-api")


def _database_url(home: Path) -> str:
    return f"sqlite:///{home}/webapp.db"


@pytest.fixture(scope="session")
def api_server(api_home: Path) -> Iterator[RunningServer]:
    """``outagecast serve`` with its own home, database and freshly trained model."""
    server = start_server(
        home=api_home,
        env={"DATASET_ROWS": TEST_DATASET_ROWS, "DATABASE_URL": _database_url(api_home)},
        log_path=api_home / "api.log",
        timeout=300,
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_settings(api_home: Path, api_server: RunningServer) -> Settings:
    """Settings that see what the test API sees (same home and database), for jobs run in the
    test process; files are ingested as soon as they are written."""
    return Settings(
        outagecast_home=api_home,
        database_url=_database_url(api_home),
        api_url=api_server.url,
        dataset_rows=int(TEST_DATASET_ROWS),
        ingest_settle_seconds=0,
        alert_webhook_url=None,
    )


def ingest(settings: Settings, files: Mapping[str, bytes]) -> list[dict]:
    """Drop ``files`` into the API's ``raw_data/`` (oldest first, in the order given) and run
    the ingestion job once in this process; its per-file outcomes."""
    from outagecast.pipelines.ingest import ingest_once  # imports Great Expectations on first use

    raw = settings.folder("raw_data")
    raw.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for i, (name, content) in enumerate(files.items()):
        path = raw / name
        path.write_bytes(content)
        os.utime(path, (now - 60 + i, now - 60 + i))  # the job claims oldest first
    result = ingest_once(settings, lock_timeout=60)
    assert result.status == "ok", result.as_dict()
    return [f.as_dict() for f in result.files]


def corrupted_csv(tmp_dir: Path, *, rows: int, seed: int, probability: float = 0.2) -> bytes:
    """A generated batch in the 40-column format with the corruptor's errors injected."""
    from outagecast.datasets.corrupt import corrupt_file
    from outagecast.datasets.generate import generate_incidents

    clean = tmp_dir / f"clean_{seed}.csv"
    generate_incidents(rows, seed=seed).to_csv(clean, index=False)
    out = tmp_dir / f"corrupt_{seed}.csv"  # its ground truth lands beside it, not in raw_data/
    corrupt_file(clean, out, probability, seed=seed)
    return out.read_bytes()


# Seeded once for the Data quality tests, oldest first: a clean batch, a file that is not CSV,
# and a corrupted batch (so the newest file has bad rows).
CLEAN_FILE, UNREADABLE_FILE, CORRUPT_FILE = "webapp_clean.csv", "webapp_unreadable.csv", "webapp_corrupt.csv"


@pytest.fixture(scope="session")
def ingested(api_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Three files ingested into the test API; their outcomes by file name."""
    from outagecast.datasets.generate import generate_incidents

    tmp = tmp_path_factory.mktemp("ingest-seed")
    outcomes = ingest(
        api_settings,
        {
            CLEAN_FILE: generate_incidents(30, seed=5).to_csv(index=False).encode(),
            UNREADABLE_FILE: b"\x00\x01\x02\xff not a csv at all",
            CORRUPT_FILE: corrupted_csv(tmp, rows=60, seed=7),
        },
    )
    return {o["filename"]: o for o in outcomes}


@pytest.fixture(scope="session")
def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused at once)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def silent_url() -> Iterator[str]:
    """A loopback URL that accepts connections but never answers (a hung API)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # the kernel completes handshakes; nobody ever reads or writes
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    sock.close()


def make_app(monkeypatch: pytest.MonkeyPatch, api_url: str, **env: str) -> AppTest:
    """An AppTest of the real entrypoint whose settings point at ``api_url``."""
    monkeypatch.setenv("API_URL", api_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    # Cached answers and clients of an earlier test must not leak into this one.
    st.cache_data.clear()
    st.cache_resource.clear()
    app = AppTest.from_file(str(ENTRYPOINT), default_timeout=RUN_TIMEOUT)
    app.context["timezone"] = VIEWER_TIMEZONE
    return app


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, api_server: RunningServer) -> AppTest:
    """The web app against the real API."""
    return make_app(monkeypatch, api_server.url)


@pytest.fixture
def down_app(monkeypatch: pytest.MonkeyPatch, dead_url: str) -> AppTest:
    """The web app with no API to talk to."""
    return make_app(monkeypatch, dead_url)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
