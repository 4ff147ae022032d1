"""POST /what-if: one batched call, nothing stored."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_predict import ORIGINAL_EXAMPLE


def test_varying_tickets_moves_the_prediction(client: httpx.Client) -> None:
    values = [*range(0, 101, 10), 987_651]  # the last one marks what must not be stored
    response = client.post(
        "/what-if", json={"incident": ORIGINAL_EXAMPLE, "vary": "ticket_count", "values": values}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["value"] for p in body["points"]] == values
    assert body["interval_coverage"] == pytest.approx(0.8)
    for point in body["points"]:
        assert point["predicted_hours_low"] <= point["predicted_hours"] <= point["predicted_hours_high"]
    assert len({round(p["predicted_hours"], 6) for p in body["points"]}) > 1
    # Each point equals what /predict says for that incident.
    probe = {**ORIGINAL_EXAMPLE, "ticket_count": 30, "start_time": "2025-05-05T05:00:00Z"}
    single = client.post("/predict", json={"features": [probe]}).json()["predictions"][0]
    curve = client.post(
        "/what-if", json={"incident": {**probe, "ticket_count": 0}, "vary": "ticket_count", "values": [30]}
    ).json()
    assert curve["points"][0]["predicted_hours"] == pytest.approx(single["predicted_hours"], rel=1e-9)
    stored = client.get("/past-predictions", params={"limit": 500}).json()
    assert not [r for r in stored if r["ticket_count"] == 987_651]


def test_varying_a_category(client: httpx.Client) -> None:
    body = client.post(
        "/what-if", json={"incident": ORIGINAL_EXAMPLE, "vary": "severity", "values": ["Low", "Critical"]}
    ).json()
    low, critical = (p["predicted_hours"] for p in body["points"])
    assert critical > low


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"vary": "ticket_count", "values": [1, -5]}, ["body", "values", 1]),
        ({"vary": "severity", "values": ["Apocalyptic"]}, ["body", "values", 0]),
        ({"vary": "end_time", "values": [1]}, ["body", "vary"]),
        ({"vary": "ticket_count", "values": []}, ["body", "values"]),
    ],
)
def test_bad_what_if_names_the_value(client: httpx.Client, body: dict, loc: list) -> None:
    response = client.post("/what-if", json={"incident": ORIGINAL_EXAMPLE, **body})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
