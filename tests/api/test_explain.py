"""Intervals and explanations through POST /predict."""

from __future__ import annotations

import httpx
import pytest

from outagecast import schema
from tests.api.test_predict import ORIGINAL_EXAMPLE

ROWS = [
    {**ORIGINAL_EXAMPLE, "severity": sev, "backup_system_triggered": b, "ticket_count": t}
    for sev in schema.SEVERITIES
    for b in schema.YES_NO
    for t in (0, 40)
]


def test_every_prediction_has_an_interval(client: httpx.Client) -> None:
    got = client.post("/predict", json={"features": ROWS}).json()["predictions"]
    for row in got:
        assert row["interval_coverage"] == pytest.approx(0.8)
        assert 0 <= row["predicted_hours_low"] <= row["predicted_hours"] <= row["predicted_hours_high"]
        assert "explanation" not in row  # only computed when asked for


def test_higher_coverage_gives_wider_intervals(client: httpx.Client) -> None:
    narrow = client.post("/predict", json={"features": ROWS}).json()["predictions"]
    wide = client.post("/predict", params={"coverage": 0.95}, json={"features": ROWS}).json()["predictions"]
    for n, w in zip(narrow, wide, strict=True):
        assert w["interval_coverage"] == pytest.approx(0.95)
        assert (
            w["predicted_hours_high"] - w["predicted_hours_low"]
            > n["predicted_hours_high"] - n["predicted_hours_low"]
        )


@pytest.mark.parametrize("coverage", [0.2, 1.0, "most"])
def test_bad_coverage_is_a_422(client: httpx.Client, coverage: object) -> None:
    response = client.post("/predict", params={"coverage": coverage}, json={"features": ROWS[:1]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "coverage"]


def test_explanations_add_up_to_the_prediction(client: httpx.Client) -> None:
    got = client.post("/predict", params={"explain": "true"}, json={"features": ROWS}).json()["predictions"]
    for row in got:
        explanation = row["explanation"]
        assert set(explanation["contributions"]) == set(schema.FEATURES)
        total = explanation["base_hours"] + sum(explanation["contributions"].values())
        assert total == pytest.approx(row["predicted_hours"], abs=1e-6)
    # Severity matters to this model: Critical adds more than Low, all else equal.
    by_sev = {r["severity"]: r["explanation"]["contributions"]["severity"] for r in got}
    assert by_sev["Critical"] > by_sev["Low"]


def test_intervals_are_stored(client: httpx.Client) -> None:
    marker = 777_001
    client.post("/predict", json={"features": [{**ORIGINAL_EXAMPLE, "ticket_count": marker}]})
    stored = [
        r
        for r in client.get("/past-predictions", params={"limit": 500}).json()
        if r["ticket_count"] == marker
    ]
    assert stored and stored[0]["predicted_hours_low"] <= stored[0]["predicted_hours_high"]
    assert stored[0]["interval_coverage"] == pytest.approx(0.8)


@pytest.mark.parametrize("explain", [False, True])
def test_a_batch_where_only_some_rows_carry_an_incident_id(client: httpx.Client, explain: bool) -> None:
    """Found by schemathesis: the explained answer once carried NaN for the missing ids (a 500)."""
    rows = [{**ROWS[0], "incident_id": "INC-1"}, ROWS[1]]
    response = client.post("/predict", params={"explain": explain}, json={"features": rows})
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    assert [p["incident_id"] for p in got] == ["INC-1", None]
    assert ("explanation" in got[1]) is explain
