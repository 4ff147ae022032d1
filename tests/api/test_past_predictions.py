"""GET /past-predictions against real servers (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from tests.api.test_predict import ORIGINAL_EXAMPLE


def _predict(client: httpx.Client, n: int, source: str, **change: object) -> list[dict]:
    rows = [{**ORIGINAL_EXAMPLE, **change}] * n
    response = client.post("/predict", json={"features": rows, "source": source})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_newest_first_with_source_filter(client: httpx.Client) -> None:
    marker = 900_000 + uuid.uuid4().int % 99_999  # a ticket count no other test uses
    _predict(client, 3, "webapp", ticket_count=marker)
    _predict(client, 2, "scheduled", ticket_count=marker)
    rows = client.get("/past-predictions", params={"limit": 500}).json()
    mine = [r for r in rows if r["ticket_count"] == marker]
    assert [r["source"] for r in mine] == ["scheduled"] * 2 + ["webapp"] * 3
    stamps = [datetime.fromisoformat(r["timestamp"]) for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    scheduled = client.get("/past-predictions", params={"source": "scheduled", "limit": 500}).json()
    assert scheduled and {r["source"] for r in scheduled} == {"scheduled"}
    for key in ("id", "timestamp", "model_version", "predicted_hours", "is_anomaly", "predicted_end_time"):
        assert key in rows[0]


def test_limit_offset_and_default(client: httpx.Client) -> None:
    _predict(client, 5, "webapp")
    first = client.get("/past-predictions", params={"limit": 3}).json()
    second = client.get("/past-predictions", params={"limit": 3, "offset": 3}).json()
    assert len(first) == 3 and len(second) == 3
    assert not {r["id"] for r in first} & {r["id"] for r in second}
    assert len(client.get("/past-predictions").json()) <= 100


def test_dates_are_inclusive(client: httpx.Client) -> None:
    _predict(client, 1, "webapp")
    today = datetime.now(UTC).date()
    rows = client.get("/past-predictions", params={"start_date": today, "end_date": today}).json()
    assert rows, "end_date must include the whole day"
    old = client.get("/past-predictions", params={"end_date": today - timedelta(days=1)}).json()
    assert old == []


def test_model_version_and_anomaly_filters(client: httpx.Client) -> None:
    version = client.get("/health").json()["model_version"]
    _predict(client, 2, "webapp", severity="Critical", number_of_customers_affected=10**6)
    assert client.get("/past-predictions", params={"model_version": "nope"}).json() == []
    rows = client.get("/past-predictions", params={"model_version": version}).json()
    assert rows and {r["model_version"] for r in rows} == {version}
    for flag in (True, False):
        got = client.get("/past-predictions", params={"anomaly": flag, "limit": 500}).json()
        assert all(r["is_anomaly"] is flag for r in got)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"source": "cron"}, "source"),
        ({"start_date": "2025-13-01"}, "start_date"),
        ({"anomaly": "perhaps"}, "anomaly"),
    ],
)
def test_bad_parameters_name_the_field(client: httpx.Client, params: dict, field: str) -> None:
    response = client.get("/past-predictions", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field


def test_start_after_end_is_a_422(client: httpx.Client) -> None:
    response = client.get(
        "/past-predictions", params={"start_date": date(2025, 2, 1), "end_date": date(2025, 1, 1)}
    )
    assert response.status_code == 422
    assert "start_date must not be after end_date" in response.text


@pytest.mark.parametrize("param", ["source", "model_version", "start_date", "anomaly", "limit"])
def test_sql_injection_is_just_a_value(client: httpx.Client, param: str) -> None:
    response = client.get("/past-predictions", params={param: "x' OR '1'='1'; DROP TABLE predictions;--"})
    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert response.json() == []
    assert client.get("/health").status_code == 200
