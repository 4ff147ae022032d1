"""PostgreSQL stops while the API serves: 503 with a clear message, fast; recovery without a restart.

The database is a private cluster of this module (see conftest.py), never the shared server.
Recovery time (database accepting connections again -> first stored prediction) is measured and
printed; the only bound is the generous wait limit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.reliability.conftest import PrivateCluster
from tests.utils.server import RunningServer, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROW = {
    "cloud_provider": "AWS",
    "service": "Compute",
    "severity": "High",
    "system_load_before_outage": 75,
    "number_of_customers_affected": 1200,
    "ticket_count": 35,
    "backup_system_triggered": "Yes",
}
# What a client (the web app, the scheduled job) waits for an answer: API_TIMEOUT_SECONDS.
REQUEST_TIMEOUT_S = 30.0
RECOVERY_WAIT_LIMIT_S = 120.0


@pytest.fixture(scope="module")
def outage_db(private_cluster: PrivateCluster) -> str:
    return private_cluster.create_database()


@pytest.fixture(scope="module")
def outage_server(trained_home: Path, outage_db: str) -> Iterator[RunningServer]:
    server = start_server(
        home=trained_home,
        env={"DATABASE_URL": outage_db, "MODEL_REFRESH_SECONDS": "0"},
        log_path=trained_home / "outage-api.log",
    )
    yield server
    server.stop()


def _stored(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM predictions")).scalar_one())
    finally:
        engine.dispose()


def _timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    return response, time.monotonic() - started


def test_database_down_gives_503_and_recovers_without_restart(
    private_cluster: PrivateCluster, outage_server: RunningServer, outage_db: str
) -> None:
    with httpx.Client(base_url=outage_server.url, timeout=REQUEST_TIMEOUT_S) as client:
        # Warm the pool: the outage must be met by pooled connections whose server went away.
        for _ in range(3):
            assert client.post("/predict", json={"features": [ROW]}).status_code == 200
        assert client.get("/past-predictions").status_code == 200
        stored_before = _stored(outage_db)
        assert stored_before == 3

        private_cluster.stop("fast")
        try:
            timings: dict[str, float] = {}
            # httpx raises ReadTimeout if any of these hangs past the request timeout.
            for name, method, path, kwargs in (
                ("predict", "POST", "/predict", {"json": {"features": [ROW, ROW]}}),
                ("predict-again", "POST", "/predict", {"json": {"features": [ROW]}}),
                ("past-predictions", "GET", "/past-predictions", {}),
            ):
                response, timings[name] = _timed(client, method, path, **kwargs)
                assert response.status_code == 503, (name, response.status_code, response.text)
                detail = response.json()["detail"]
                assert "Database unavailable" in detail and "not stored" in detail, detail
                assert response.headers.get("retry-after") == "5"
            health, timings["health"] = _timed(client, "GET", "/health")
            assert health.status_code == 503
            assert health.json()["database"] == "unreachable"
            assert health.json()["problems"] == ["database unreachable"]
            print(f"answers while the database is down (s): { {k: round(v, 3) for k, v in timings.items()} }")
        finally:
            private_cluster.start()  # back up even if an assertion failed, for the other tests

        # Recovery: the same server process, no restart; the pool replaces its dead connections.
        back_at = time.monotonic()
        deadline = back_at + RECOVERY_WAIT_LIMIT_S
        attempts = 0
        while True:
            attempts += 1
            response = client.post("/predict", json={"features": [ROW]})
            if response.status_code == 200:
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, f"no recovery within {RECOVERY_WAIT_LIMIT_S} s"
            time.sleep(0.1)
        recovery = time.monotonic() - back_at
        print(f"recovered {recovery:.3f} s after the database accepted connections ({attempts} attempts)")
        assert client.get("/health").status_code == 200
        assert client.get("/past-predictions").status_code == 200
        assert outage_server.process.poll() is None, "the server must not have restarted"

    # The refused requests stored nothing; the recovered one stored its row.
    assert _stored(outage_db) == stored_before + 1


class _BlackHole:
    """A listener on the database's port that accepts connections and never answers.

    What a client meets when the database host hangs or a firewall swallows replies: only a
    connect timeout ends the wait.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)  # held open, never read from or written to

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def test_hanging_database_answers_503_within_the_connect_timeout(
    private_cluster: PrivateCluster, outage_server: RunningServer, outage_db: str
) -> None:
    with httpx.Client(base_url=outage_server.url, timeout=REQUEST_TIMEOUT_S) as client:
        assert client.post("/predict", json={"features": [ROW]}).status_code == 200
        stored_before = _stored(outage_db)
        private_cluster.stop("fast")
        hole = _BlackHole(private_cluster.port)
        try:
            timings: dict[str, float] = {}
            for name, method, path, kwargs in (
                ("predict", "POST", "/predict", {"json": {"features": [ROW]}}),
                ("past-predictions", "GET", "/past-predictions", {}),
                ("health", "GET", "/health", {}),
            ):
                # A hang would end in httpx.ReadTimeout after REQUEST_TIMEOUT_S: a failure.
                response, timings[name] = _timed(client, method, path, **kwargs)
                assert response.status_code == 503, (name, response.status_code, response.text)
            assert hole.accepted, "the server never tried to reach the database"
            print(f"answers while the database hangs (s): { {k: round(v, 3) for k, v in timings.items()} }")
        finally:
            hole.close()
            private_cluster.start()
        back_at = time.monotonic()
        while (response := client.post("/predict", json={"features": [ROW]})).status_code != 200:
            assert response.status_code == 503, response.text
            assert time.monotonic() - back_at < RECOVERY_WAIT_LIMIT_S, "no recovery"
            time.sleep(0.1)
        print(f"recovered {time.monotonic() - back_at:.3f} s after the database came back")
    assert _stored(outage_db) == stored_before + 1
