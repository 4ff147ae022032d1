"""The what-if choices, values and words (pure functions, no Streamlit)."""

from __future__ import annotations

from datetime import datetime

import pytest

from outagecast import schema
from outagecast.webapp import what_if
from outagecast.webapp.formatting import resolve_timezone

PARIS = resolve_timezone("Europe/Paris")
PREDICTION = {
    "start_time": "2025-03-04T13:30:00Z",  # 14:30 in Paris
    "system_load_before_outage": 50.0,
    "system_load_imputed": True,
    "number_of_customers_affected": 1200,
    "ticket_count": 35,
    "severity": "High",
    "backup_system_triggered": "No",
    "predicted_hours": 3.42,
    "predicted_hours_low": 2.08,
    "predicted_hours_high": 4.96,
}
TICKETS = what_if.CHOICES["ticket_count"]
HOUR = what_if.CHOICES[what_if.HOUR]
SEVERITY = what_if.CHOICES["severity"]


def test_every_choice_varies_a_model_input() -> None:
    assert {c.vary for c in what_if.CHOICES.values()} <= set(schema.FEATURES)
    assert HOUR.vary == "start_time"


def test_current_values_come_from_the_prediction() -> None:
    assert what_if.current_value(TICKETS, PREDICTION, PARIS) == 35
    assert what_if.current_value(HOUR, PREDICTION, PARIS) == 14
    load = what_if.CHOICES["system_load_before_outage"]
    assert what_if.current_value(load, PREDICTION, PARIS) == 50.0  # the assumed load counts


def test_default_range_holds_the_incident_and_rounds_up() -> None:
    assert what_if.default_range(TICKETS, 35) == (0, 100)
    assert what_if.default_range(TICKETS, 3) == (0, 50)
    assert what_if.default_range(what_if.CHOICES["number_of_customers_affected"], 1200) == (0, 5000)
    assert what_if.default_range(HOUR, 14) == (0, 23)
    low, high, _ = what_if.slider_bounds(TICKETS, 35)
    assert low <= 35 <= high


def test_grid_spreads_the_range_and_includes_the_incident() -> None:
    xs = what_if.grid(TICKETS, 0, 100, 35)
    assert xs[0] == 0 and xs[-1] == 100 and 35 in xs and xs == sorted(set(xs))
    assert len(xs) <= what_if.POINTS + 1
    assert 35 not in what_if.grid(TICKETS, 50, 100, 35)  # outside the range: not added
    assert what_if.grid(SEVERITY, 0, 0, "High") == list(schema.SEVERITIES)
    assert what_if.grid(HOUR, 8, 10, 14) == [8, 9, 10]


def test_hours_are_sent_as_start_times_of_the_same_day_and_minute() -> None:
    start = datetime(2025, 3, 4, 14, 30, tzinfo=PARIS)
    assert what_if.api_values(HOUR, [0, 23], start) == [
        "2025-03-04T00:30:00+01:00",
        "2025-03-04T23:30:00+01:00",
    ]
    assert what_if.tick_text(HOUR, [0, 23], start) == ["00:30", "23:30"]
    assert what_if.api_values(TICKETS, [1, 2], start) == [1, 2]


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("ticket_count", 35, "35 support tickets"),
        ("number_of_customers_affected", 1200, "1,200 customers affected"),
        ("system_load_before_outage", 75.0, "75 % system load"),
        ("severity", "Critical", "Critical severity"),
        ("backup_system_triggered", "Yes", "backup triggered"),
        ("backup_system_triggered", "No", "no backup triggered"),
        (what_if.HOUR, 9, "start at 09:30"),
    ],
)
def test_describe(key: str, value: object, text: str) -> None:
    start = datetime(2025, 3, 4, 14, 30, tzinfo=PARIS)
    assert what_if.describe(what_if.CHOICES[key], value, start) == text


def test_summary_says_where_the_prediction_goes_and_where_the_incident_is() -> None:
    xs = [0, 35, 100]
    points = [{"predicted_hours": h} for h in (2.0, 3.42, 4.5)]
    text = what_if.summary(TICKETS, xs, points, start=None, current=35, prediction=PREDICTION, coverage=0.8)
    assert text.startswith("Between 0 and 100 support tickets, the prediction goes from **2.0 h** (at 0)")
    assert "to **4.5 h** (at 100). Overall it rises as the value grows." in text
    assert "Your incident (35 support tickets) is the red diamond: 3.4 h, likely 2.1–5.0 h." in text
    assert "The shaded band shows the 80 % interval: about 8 in 10 outages" in text


def test_summary_of_an_input_that_hardly_matters() -> None:
    points = [{"predicted_hours": 3.0}, {"predicted_hours": 3.05}]
    text = what_if.summary(
        what_if.CHOICES["backup_system_triggered"],
        ["Yes", "No"],
        points,
        start=None,
        current="No",
        prediction=PREDICTION,
        coverage=None,
    )
    assert text.startswith("With and without a backup, the prediction barely moves")
    assert "Your incident (no backup triggered) is the red diamond" in text
