"""GET /health, 503s and start-up behaviour."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from outagecast.api.app import create_app
from outagecast.settings import Settings
from tests.api.test_predict import ORIGINAL_EXAMPLE
from tests.utils.server import start_server


def test_healthy_when_model_and_database_answer(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["model_loaded"] is True
    assert body["database"] == "ok" and body["model_version"]


def test_unreachable_database_gives_503_not_500(trained_home: Path) -> None:
    # A port nothing listens on: the API starts degraded and says why.
    server = start_server(
        home=trained_home,
        env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:9/nowhere"},
        log_path=trained_home / "nodb.log",
        expect_status=503,
    )
    try:
        health = httpx.get(server.url + "/health", timeout=30)
        assert health.json()["status"] == "degraded"
        assert "database unreachable" in health.json()["problems"]
        response = httpx.post(server.url + "/predict", json={"features": [ORIGINAL_EXAMPLE]}, timeout=30)
        assert response.status_code == 503
        assert "Database unavailable" in response.json()["detail"]
        assert "Traceback" not in response.text
    finally:
        server.stop()


def test_no_model_gives_503_model_not_loaded(tmp_path: Path) -> None:
    settings = Settings(outagecast_home=tmp_path, database_url=f"sqlite:///{tmp_path}/t.db")
    with TestClient(create_app(settings, load_model=False)) as client:
        response = client.post("/predict", json={"features": [ORIGINAL_EXAMPLE]})
        assert response.status_code == 503
        assert response.json()["detail"] == "Model not loaded"
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["model_loaded"] is False and health.json()["database"] == "ok"


def test_random_future_policy(trained_home: Path, tmp_path: Path) -> None:
    settings = Settings(
        outagecast_home=trained_home,
        database_url=f"sqlite:///{tmp_path}/t.db",
        start_time_policy="random_future",
    )
    with TestClient(create_app(settings)) as client:
        rows = client.post("/predict", json={"features": [ORIGINAL_EXAMPLE] * 50}).json()["predictions"]
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    starts = [datetime.fromisoformat(r["start_time"]) for r in rows]
    assert all(now + timedelta(hours=23) <= s <= now + timedelta(days=90, minutes=1) for s in starts)
    assert len(set(starts)) > 40


def test_openapi_documents_the_contract(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/past-predictions", "/health"} <= spec["paths"].keys()
    assert client.get("/docs").status_code == 200
