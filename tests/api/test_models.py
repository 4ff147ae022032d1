"""GET /models, POST /reload-model and the periodic champion check, against a real registry.

The module has its own home (registry and database), so that moving the champion here never
changes what the other API tests' servers serve.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from outagecast import schema
from outagecast.api.app import create_app
from outagecast.ml import registry
from outagecast.ml.bootstrap import ensure_model, promote_manually, train_and_register
from outagecast.settings import Settings
from tests.api.conftest import TEST_DATASET_ROWS
from tests.api.test_predict import ORIGINAL_EXAMPLE
from tests.utils.server import RunningServer, start_server

REFERENCE_ROWS = "5000"


def _settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "outagecast_home": home,
        "dataset_rows": int(TEST_DATASET_ROWS),
        "reference_rows": int(REFERENCE_ROWS),
        "database_url": f"sqlite:///{home}/api.db",
        "mlflow_tracking_uri": None,
        "api_key": None,
    }
    return Settings(**(values | overrides))


@pytest.fixture(scope="module")
def models_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose registry holds one champion, trained by a cold start."""
    home = tmp_path_factory.mktemp("models-home")
    ensure_model(_settings(home))
    return home


@pytest.fixture(scope="module")
def models_server(models_home: Path) -> Iterator[RunningServer]:
    # No periodic check here: the reload test must see the swap POST /reload-model makes.
    server = start_server(
        home=models_home,
        env={
            "DATABASE_URL": f"sqlite:///{models_home}/api.db",
            "DATASET_ROWS": TEST_DATASET_ROWS,
            "REFERENCE_ROWS": REFERENCE_ROWS,
            "MODEL_REFRESH_SECONDS": "0",
            "MLFLOW_TRACKING_URI": "",
            "API_KEY": "",
        },
        log_path=models_home / "models-api.log",
    )
    yield server
    server.stop()


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def _served(url: str) -> str:
    return httpx.get(url + "/health", timeout=30).json()["model_version"]


def test_models_lists_versions_metrics_and_champion(models_server: RunningServer, models_home: Path) -> None:
    body = httpx.get(models_server.url + "/models", timeout=30).json()
    champion = registry.champion_version(_settings(models_home))
    assert body["registered_model"] == "outage_duration"
    assert body["champion"] == body["serving"] == champion == _served(models_server.url)
    (entry,) = [v for v in body["versions"] if v["is_champion"]]
    assert entry["version"] == champion and "champion" in entry["aliases"]
    assert {"rmse", "mae", "r2", "oracle_rmse", "reference_rmse", "inference_ms_per_row"} <= entry[
        "metrics"
    ].keys()
    assert set(entry["feature_importances"]) == set(schema.FEATURES)
    assert entry["decision"] == "promoted" and entry["reason"]
    runs = body["runs"]
    assert runs and runs[0]["model_version"] == champion
    assert {r["trigger"] for r in runs} >= {"cold_start"}
    assert httpx.get(models_server.url + "/models", params={"limit": 0}, timeout=30).status_code == 422


@pytest.mark.slow
def test_reload_swaps_the_model_while_requests_keep_succeeding(
    models_server: RunningServer, models_home: Path
) -> None:
    settings = _settings(models_home)
    before = _served(models_server.url)
    # Same data and seed: the gate sees a model no worse than the champion and promotes it.
    _, decision = train_and_register(settings, trigger="retrain")
    assert decision.promoted, decision.reason
    after = decision.candidate_version
    assert _served(models_server.url) == before  # nothing changes until asked

    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=models_server.url, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/predict", json={"features": [ORIGINAL_EXAMPLE]})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    versions.append(response.json()["predictions"][0]["model_version"])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: len(versions) >= 10)
        reload = httpx.post(models_server.url + "/reload-model", timeout=60)
        time.sleep(0.2)  # requests that took the old model before the swap have finished by now
        tail = len(versions)
        _wait_for(lambda: len(versions) >= tail + 10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert reload.status_code == 200, reload.text
    assert reload.json() | {"seconds": 0} == {
        "previous_version": before,
        "version": after,
        "champion": after,
        "changed": True,
        "seconds": 0,
    }
    assert statuses and set(statuses) == {200}, f"non-200 answers during the swap: {set(statuses)}"
    assert set(versions) == {before, after}
    assert set(versions[tail:]) == {after}  # once swapped, only the new model answers
    assert _served(models_server.url) == after
    stored = httpx.get(models_server.url + "/past-predictions", params={"limit": 1}, timeout=30).json()
    assert stored[0]["model_version"] == after
    again = httpx.post(models_server.url + "/reload-model", timeout=60).json()
    assert again["changed"] is False and again["version"] == after


def test_periodic_check_picks_up_a_new_champion(models_home: Path) -> None:
    settings = _settings(models_home, model_refresh_seconds=0.2)
    champion = registry.champion_version(settings)
    other = next(v.version for v in registry.list_versions(settings) if v.version != champion)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["model_version"] == champion
        promote_manually(settings, other, reason="refresh test")
        try:
            deadline = time.monotonic() + 20
            while client.get("/health").json()["model_version"] != other and time.monotonic() < deadline:
                time.sleep(0.1)
            assert client.get("/health").json()["model_version"] == other
            response = client.post("/predict", json={"features": [ORIGINAL_EXAMPLE]})
            assert response.json()["predictions"][0]["model_version"] == other
        finally:
            promote_manually(settings, champion, reason="restore")


def test_reload_needs_the_api_key_when_one_is_set(models_home: Path) -> None:
    settings = _settings(models_home, api_key="s3cret", model_refresh_seconds=0)
    with TestClient(create_app(settings)) as client:
        assert client.post("/reload-model").status_code == 401
        assert client.post("/reload-model", headers={"X-API-Key": "wrong"}).status_code == 401
        response = client.post("/reload-model", headers={"X-API-Key": "s3cret"}, params={"force": True})
        assert response.status_code == 200
        assert response.json()["version"] == registry.champion_version(settings)
        assert client.get("/models").status_code == 200  # reading needs no key


def test_openapi_documents_the_model_endpoints(models_server: RunningServer) -> None:
    paths = httpx.get(models_server.url + "/openapi.json", timeout=30).json()["paths"]
    assert {"/models", "/reload-model"} <= paths.keys()
    assert "post" in paths["/reload-model"] and "get" in paths["/models"]
