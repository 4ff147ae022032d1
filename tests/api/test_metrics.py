"""``GET /metrics`` scraped from real uvicorn servers and parsed with prometheus_client's parser.

``metrics_server`` is a server of its own (one worker), so counts move only by what these tests
do; ``multi_server`` runs two uvicorn workers with ``PROMETHEUS_MULTIPROC_DIR``, where every
scrape must add up both workers whichever of them answers it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from outagecast.datasets.generate import generate_incidents
from outagecast.schema import FEATURES
from tests.utils.server import RunningServer, free_port, start_server

TEST_DATASET_ROWS = "8000"
# Low enough that a varied batch has anomalies, high enough that not every row is one.
ANOMALY_THRESHOLD = "3.0"


def _rows(count: int, seed: int) -> list[dict]:
    frame = generate_incidents(count, seed=seed)[list(FEATURES)]
    frame["start_time"] = frame["start_time"].astype(str)
    return frame.to_dict(orient="records")


def _scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of ``/metrics``: (name, labels) -> value."""
    response = httpx.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples: dict, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def _predict(url: str, rows: list[dict], source: str, **headers: str) -> list[dict]:
    response = httpx.post(
        f"{url}/predict", json={"features": rows, "source": source}, headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


@pytest.fixture(scope="module")
def metrics_server(trained_home: Path) -> Iterator[RunningServer]:
    server = start_server(
        home=trained_home,
        env={
            "DATABASE_URL": f"sqlite:///{trained_home}/metrics.db",
            "DATASET_ROWS": TEST_DATASET_ROWS,
            "ANOMALY_THRESHOLD_HOURS": ANOMALY_THRESHOLD,
            "MODEL_REFRESH_SECONDS": "0",
        },
        log_path=trained_home / "metrics-api.log",
    )
    yield server
    server.stop()


def test_counters_reflect_the_predictions_made(metrics_server: RunningServer) -> None:
    url = metrics_server.url
    before = _scrape(url)
    webapp = _predict(url, _rows(40, seed=11), "webapp")
    scheduled = _predict(url, _rows(25, seed=12), "scheduled")
    assert httpx.post(f"{url}/predict", json={"features": []}, timeout=30).status_code == 422
    after = _scrape(url)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    anomalies = {
        "webapp": sum(p["is_anomaly"] for p in webapp),
        "scheduled": sum(p["is_anomaly"] for p in scheduled),
    }
    assert 0 < anomalies["webapp"] < len(webapp)  # the anomaly count is not the prediction count
    assert delta("outagecast_predictions_total", source="webapp") == len(webapp)
    assert delta("outagecast_predictions_total", source="scheduled") == len(scheduled)
    assert delta("outagecast_anomalies_total", source="webapp") == anomalies["webapp"]
    assert delta("outagecast_anomalies_total", source="scheduled") == anomalies["scheduled"]
    # Requests by route (the template) and exact status, and their latency.
    ok = {"handler": "/predict", "method": "POST", "status": "200"}
    assert delta("http_requests_total", **ok) == 2
    assert delta("http_requests_total", handler="/predict", method="POST", status="422") == 1
    assert delta("http_request_duration_seconds_count", **ok) == 2
    assert delta("http_request_duration_seconds_sum", **ok) > 0
    # Scrapes are not counted, so watching the API does not change what it reports.
    assert _value(after, "http_requests_total", handler="/metrics") == 0


def test_a_replayed_idempotent_batch_is_not_counted_again(metrics_server: RunningServer) -> None:
    url = metrics_server.url
    rows = _rows(4, seed=13)
    before = _scrape(url)
    _predict(url, rows, "scheduled", **{"Idempotency-Key": "metrics-test-batch"})
    _predict(url, rows, "scheduled", **{"Idempotency-Key": "metrics-test-batch"})
    after = _scrape(url)
    name = "outagecast_predictions_total"
    assert _value(after, name, source="scheduled") - _value(before, name, source="scheduled") == 4


def test_model_info_names_the_served_version(metrics_server: RunningServer) -> None:
    served = httpx.get(f"{metrics_server.url}/health", timeout=30).json()["model_version"]
    samples = _scrape(metrics_server.url)
    versions = {
        dict(labels)["version"]: v for (n, labels), v in samples.items() if n == "outagecast_model_info"
    }
    assert versions == {served: 1.0}


def test_database_errors_are_counted(metrics_server: RunningServer, trained_home: Path) -> None:
    url = metrics_server.url
    before = _value(_scrape(url), "outagecast_database_errors_total")
    # Take the table away under the running server: its insert fails in the database.
    database = sqlite3.connect(trained_home / "metrics.db")
    try:
        database.execute("ALTER TABLE predictions RENAME TO predictions_away")
        database.commit()
        response = httpx.post(f"{url}/predict", json={"features": _rows(1, seed=14)}, timeout=60)
        assert response.status_code == 503
    finally:
        database.execute("ALTER TABLE predictions_away RENAME TO predictions")
        database.commit()
        database.close()
    samples = _scrape(url)
    assert _value(samples, "outagecast_database_errors_total") == before + 1
    assert _value(samples, "http_requests_total", handler="/predict", status="503") >= 1
    _predict(url, _rows(1, seed=15), "webapp")  # and the server recovers
    assert _value(_scrape(url), "outagecast_database_errors_total") == before + 1


# --- Several workers ----------------------------------------------------------------------------

WORKERS = 2


@pytest.fixture(scope="module")
def multi_server(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``uvicorn --workers 2`` with PROMETHEUS_MULTIPROC_DIR, as production runs the API."""
    multiproc = tmp_path_factory.mktemp("prometheus-multiproc")
    port = free_port()
    env = {
        **os.environ,
        "OUTAGECAST_HOME": str(trained_home),
        "DATABASE_URL": f"sqlite:///{trained_home}/multi.db",
        "DATASET_ROWS": TEST_DATASET_ROWS,
        "MODEL_REFRESH_SECONDS": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    log_path = trained_home / "multi-api.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "outagecast.cli", "serve", "--port", str(port), "--workers", str(WORKERS)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=trained_home,
        )
    server = RunningServer(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        _wait_for_workers(server, WORKERS)
        yield server.url
    finally:
        server.stop()
    # Each worker wrote its values to files of its own there.
    assert len(list(multiproc.glob("*.db"))) >= WORKERS


def _wait_for_workers(server: RunningServer, workers: int, timeout: float = 180.0) -> None:
    """Until every worker finished its startup (each logs it) and /health answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.log()}")
        if server.log().count("Application startup complete") >= workers:
            try:
                if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout} s:\n{server.log()}")


def test_every_scrape_adds_up_all_workers(multi_server: str) -> None:
    batches = 8
    for i in range(batches):
        # A new connection each time, so the kernel may hand it to either worker.
        _predict(multi_server, _rows(3, seed=100 + i), "webapp")
    for _ in range(6):
        samples = _scrape(multi_server)
        assert _value(samples, "outagecast_predictions_total", source="webapp") == 3 * batches
        assert _value(samples, "http_requests_total", handler="/predict", status="200") == batches
