"""``POST /predict`` with ``Idempotency-Key``: a repeated key answers from the database, inserts nothing."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from outagecast.api.routes.predict import idempotency_hash
from tests.utils.server import RunningServer

ROW = {
    "cloud_provider": "AWS",
    "service": "Compute",
    "severity": "High",
    "system_load_before_outage": 75,
    "number_of_customers_affected": 1200,
    "ticket_count": 35,
    "backup_system_triggered": "Yes",
}
ROWS = [
    {**ROW, "severity": sev, "ticket_count": 10 + i, "start_time": f"2026-01-0{1 + i % 5}T10:00:00Z"}
    for i, sev in enumerate(["Low", "Medium", "High", "Critical"] * 3)
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, trained_home: Path) -> tuple[RunningServer, str]:
    """Each live server with the URL of its database."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_server"), f"sqlite:///{trained_home}/api.db"
    return request.getfixturevalue("postgres_server"), request.getfixturevalue("postgres_url")


def _count(db_url: str, key: str) -> tuple[int, int]:
    """(predictions stored with the key, prediction_requests rows of the key)."""
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            params = {"k": idempotency_hash(key)}
            rows = connection.execute(text("SELECT count(*) FROM predictions WHERE request_id = :k"), params)
            keys = connection.execute(text("SELECT count(*) FROM prediction_requests WHERE key = :k"), params)
            return rows.scalar_one(), keys.scalar_one()
    finally:
        engine.dispose()


def _post(url: str, key: str | None, rows: list[dict], **params: str) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return httpx.post(
        url + "/predict",
        json={"features": rows, "source": "scheduled"},
        headers=headers,
        params=params,
        timeout=60,
    )


def test_repeated_key_returns_the_stored_batch_and_inserts_nothing(served) -> None:
    server, db_url = served
    key = f"{uuid.uuid4().hex}:0"
    first = _post(server.url, key, ROWS)
    assert first.status_code == 200, first.text
    assert _count(db_url, key) == (len(ROWS), 1)

    again = _post(server.url, key, ROWS)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()  # same shape, same values, original order
    assert _count(db_url, key) == (len(ROWS), 1)

    explained = _post(server.url, key, ROWS, explain="true")
    assert explained.status_code == 200, explained.text
    answers = explained.json()["predictions"]
    assert [a["predicted_hours"] for a in answers] == pytest.approx(
        [a["predicted_hours"] for a in first.json()["predictions"]], rel=1e-12
    )
    assert all("explanation" in a for a in answers)
    assert _count(db_url, key) == (len(ROWS), 1)


def test_without_a_key_every_request_stores(served) -> None:
    server, _ = served
    a, b = _post(server.url, None, ROWS[:2]), _post(server.url, None, ROWS[:2])
    assert a.status_code == b.status_code == 200
    assert a.json()["predictions"][0]["severity"] == "Low"


def test_concurrent_duplicates_store_one_batch(served) -> None:
    server, db_url = served
    key = f"race-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(server.url, key, ROWS), range(8)))
    assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers if r.status_code != 200]
    hours = {tuple(p["predicted_hours"] for p in r.json()["predictions"]) for r in answers}
    assert len(hours) == 1
    assert _count(db_url, key) == (len(ROWS), 1)


def test_key_reused_for_another_batch_is_a_conflict(served) -> None:
    server, db_url = served
    key = f"reuse-{uuid.uuid4().hex}"
    assert _post(server.url, key, ROWS).status_code == 200
    conflict = _post(server.url, key, ROWS[:3])
    assert conflict.status_code == 409
    assert "Idempotency-Key" in conflict.json()["detail"]
    assert _count(db_url, key) == (len(ROWS), 1)


@pytest.mark.parametrize(("key", "status"), [("k" * 200, 200), ("k" * 201, 422)])
def test_key_length_is_bounded(sqlite_server: RunningServer, key: str, status: int) -> None:
    key = key if status == 422 else uuid.uuid4().hex + key[32:]
    assert _post(sqlite_server.url, key, ROWS[:1]).status_code == status
