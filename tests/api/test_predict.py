"""POST /predict against real servers (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from outagecast import schema
from outagecast.ml.registry import load_version
from outagecast.settings import Settings

ORIGINAL_EXAMPLE = {
    "cloud_provider": "AWS",
    "service": "Compute",
    "severity": "High",
    "system_load_before_outage": 75,
    "number_of_customers_affected": 1200,
    "ticket_count": 35,
    "backup_system_triggered": "Yes",
}
RESPONSE_FIELDS = {
    *schema.FEATURES,
    "predicted_hours",
    "is_anomaly",
    "model_version",
    "predicted_end_time",
    "system_load_imputed",
}


def _parse(ts: str) -> datetime:
    value = datetime.fromisoformat(ts)
    assert value.utcoffset() is not None, f"{ts} has no offset"
    return value


def test_original_example_returns_every_field(client: httpx.Client) -> None:
    before = datetime.now(UTC)
    response = client.post("/predict", json={"features": [ORIGINAL_EXAMPLE]})
    assert response.status_code == 200, response.text
    (row,) = response.json()["predictions"]
    assert row.keys() >= RESPONSE_FIELDS
    assert row["predicted_hours"] > 0
    assert row["model_version"] == client.get("/health").json()["model_version"]
    start, end = _parse(row["start_time"]), _parse(row["predicted_end_time"])
    assert before - timedelta(seconds=5) <= start <= datetime.now(UTC) + timedelta(seconds=5)
    assert end - start == pytest.approx(timedelta(hours=row["predicted_hours"]), abs=timedelta(seconds=1))
    assert row["is_anomaly"] == (row["predicted_hours"] > 5.0)
    assert row["system_load_imputed"] is False


def test_predictions_match_the_served_registry_version(client: httpx.Client, trained_home) -> None:
    rows = [
        {
            **ORIGINAL_EXAMPLE,
            "severity": sev,
            "backup_system_triggered": b,
            "start_time": "2025-03-04T02:30:00Z",
        }
        for sev in schema.SEVERITIES
        for b in schema.YES_NO
    ]
    got = client.post("/predict", json={"features": rows}).json()["predictions"]
    (served,) = {g["model_version"] for g in got}
    model = load_version(Settings(outagecast_home=trained_home), served)
    frame = pd.DataFrame(rows).assign(start_time=pd.Timestamp("2025-03-04T02:30:00Z"))
    expected = model.predict(frame)
    assert [g["predicted_hours"] for g in got] == pytest.approx(list(expected), rel=1e-9)
    # The model really uses its inputs: severity and backup move the prediction.
    assert len({round(g["predicted_hours"], 6) for g in got}) > 4


def test_batch_keeps_order_and_echoes_inputs(client: httpx.Client) -> None:
    rows = [
        {**ORIGINAL_EXAMPLE, "ticket_count": i, "start_time": "2025-01-01T10:00:00+02:00"} for i in range(100)
    ]
    got = client.post("/predict", json={"features": rows, "source": "scheduled"}).json()["predictions"]
    assert [g["ticket_count"] for g in got] == list(range(100))
    assert {_parse(g["start_time"]) for g in got} == {datetime(2025, 1, 1, 8, tzinfo=UTC)}


def test_missing_load_is_imputed_and_flagged(client: httpx.Client) -> None:
    row = {k: v for k, v in ORIGINAL_EXAMPLE.items() if k != "system_load_before_outage"}
    (got,) = client.post("/predict", json={"features": [row]}).json()["predictions"]
    assert got["system_load_before_outage"] == schema.DEFAULT_SYSTEM_LOAD
    assert got["system_load_imputed"] is True


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"cloud_provider": "INVALID_CLOUD"}, "cloud_provider", "'AWS'"),
        ({"ticket_count": -1}, "ticket_count", "greater than or equal to 0"),
        ({"number_of_customers_affected": "many"}, "number_of_customers_affected", "integer"),
        ({"system_load_before_outage": 150}, "system_load_before_outage", "less than or equal to 100"),
        ({"backup_system_triggered": "Maybe"}, "backup_system_triggered", "'Yes'"),
        ({"start_time": "yesterday-ish"}, "start_time", "datetime"),
        ({"severity": None}, "severity", "'Critical'"),
    ],
)
def test_bad_rows_name_the_field(client: httpx.Client, change: dict, field: str, words: str) -> None:
    row = {**ORIGINAL_EXAMPLE, **change}
    response = client.post("/predict", json={"features": [ORIGINAL_EXAMPLE, row]})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "features", 1, field]
    assert words in error["msg"]


def test_missing_field_is_named(client: httpx.Client) -> None:
    row = {k: v for k, v in ORIGINAL_EXAMPLE.items() if k != "ticket_count"}
    response = client.post("/predict", json={"features": [row]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "features", 0, "ticket_count"]
    assert response.json()["detail"][0]["type"] == "missing"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"features": []}, ["body", "features"]),
        ({}, ["body", "features"]),
        ({"features": [ORIGINAL_EXAMPLE], "source": "cron"}, ["body", "source"]),
        ({"features": [{**ORIGINAL_EXAMPLE, "unknown": 1}]}, ["body", "features", 0, "unknown"]),
    ],
)
def test_bad_bodies_are_rejected(client: httpx.Client, body: dict, loc: list) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize("raw", [b"not json", b'{"features": [', b"\xff\xfe", b"[]"])
def test_malformed_json_is_a_422(client: httpx.Client, raw: bytes) -> None:
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_oversized_batch_is_a_413(client: httpx.Client) -> None:
    rows = [ORIGINAL_EXAMPLE] * 10_001
    response = client.post("/predict", json={"features": rows})
    assert response.status_code == 413
    assert "10000" in response.json()["detail"]


def test_incident_id_is_optional_echoed_and_stored(client: httpx.Client) -> None:
    marker = f"INC-{datetime.now(UTC).timestamp():.6f}"
    rows = [{**ORIGINAL_EXAMPLE, "incident_id": f"{marker}-{i}"} for i in range(3)] + [ORIGINAL_EXAMPLE]
    response = client.post("/predict", json={"features": rows, "source": "scheduled"})
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    assert [g["incident_id"] for g in got] == [f"{marker}-0", f"{marker}-1", f"{marker}-2", None]
    assert len({g["predicted_hours"] for g in got}) == 1  # an identifier, not a model input
    stored = client.get("/past-predictions", params={"source": "scheduled", "limit": 500}).json()
    ids = {p["incident_id"] for p in stored if (p["incident_id"] or "").startswith(marker)}
    assert ids == {f"{marker}-{i}" for i in range(3)}
    bad = client.post("/predict", json={"features": [{**ORIGINAL_EXAMPLE, "incident_id": ""}]})
    assert bad.status_code == 422 and "incident_id" in str(bad.json()["detail"])
