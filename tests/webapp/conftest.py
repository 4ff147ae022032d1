"""A real API on loopback for the web-app tests, and AppTest instances pointed at it (or at nothing)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from outagecast.settings import get_settings
from outagecast.webapp.launch import ENTRYPOINT
from tests.utils.server import RunningServer, free_port, start_server

TEST_DATASET_ROWS = "8000"  # small: the cold start trains a model in seconds
# AppTest's per-run limit: generous, because the first prediction may wait on the model.
RUN_TIMEOUT = 60.0
VIEWER_TIMEZONE = "Europe/Paris"  # not UTC, so that time-zone mistakes show


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``outagecast serve`` with its own home, database and freshly trained model."""
    home = tmp_path_factory.mktemp("webapp-api")
    server = start_server(
        home=home,
        env={"DATASET_ROWS": TEST_DATASET_ROWS, "DATABASE_URL": f"sqlite:///{home}/webapp.db"},
        log_path=home / "api.log",
        timeout=300,
    )
    yield server
    server.stop()


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
