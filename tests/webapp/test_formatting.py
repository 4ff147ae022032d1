"""How durations, times and tables are written for people."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from outagecast.validation.errors import RuleKind
from outagecast.webapp.formatting import (
    RULE_WORDS,
    csv_bytes,
    driver_label,
    error_type_words,
    format_duration,
    format_hours,
    format_interval,
    format_percent,
    format_signed_hours,
    format_timestamp,
    label,
    parse_timestamp,
    predictions_frame,
    resolve_timezone,
    rule_words,
)

PARIS = resolve_timezone("Europe/Paris")


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (2.5833, "2 h 35 min"),
        (0.75, "45 min"),
        (0.004, "under 1 min"),
        (26.0, "26 h 0 min"),
        (1.9999, "2 h 0 min"),  # rounds to the minute, never "1 h 60 min"
        (-0.2, "under 1 min"),
        (None, "–"),
        (float("nan"), "–"),
    ],
)
def test_format_duration(hours: float | None, text: str) -> None:
    assert format_duration(hours) == text


def test_format_hours_and_percent() -> None:
    assert format_hours(2.583) == "2.58 hours"
    assert format_hours(None) == "–"
    assert format_percent(0.1234) == "12.3 %"
    assert format_percent(float("nan")) == "–"


@pytest.mark.parametrize(
    "value",
    [
        "2025-03-04T13:30:00Z",
        "2025-03-04T13:30:00+00:00",
        "2025-03-04T14:30:00+01:00",
        "2025-03-04 13:30:00",  # naive means UTC, as the API reads it
        datetime(2025, 3, 4, 13, 30, tzinfo=UTC),
        pd.Timestamp("2025-03-04 13:30", tz="UTC"),
    ],
)
def test_format_timestamp_is_local_and_readable(value: object) -> None:
    text = format_timestamp(value, PARIS)
    assert text == "Tue 4 Mar 2025, 14:30 CET"
    assert not re.search(r"\d{2}T\d{2}|\d{2}Z\b", text)


def test_format_timestamp_follows_daylight_saving() -> None:
    assert format_timestamp("2025-07-01T12:00:00Z", PARIS) == "Tue 1 Jul 2025, 14:00 CEST"


def test_format_timestamp_defaults_to_utc_and_tolerates_missing() -> None:
    assert format_timestamp("2025-03-04T13:30:00Z") == "Tue 4 Mar 2025, 13:30 UTC"
    assert format_timestamp(None) == ""
    assert parse_timestamp("") is None


def test_unknown_timezone_falls_back_to_utc() -> None:
    assert resolve_timezone("Mars/Olympus_Mons") is UTC
    assert resolve_timezone(None) is UTC


def test_predictions_frame_converts_timestamps_to_the_viewer_zone() -> None:
    rows = [
        {
            "timestamp": "2025-03-04T13:30:00.123456Z",
            "start_time": "2025-03-04T13:00:00+00:00",
            "predicted_end_time": "2025-03-04T15:00:00+00:00",
            "predicted_hours": 2.0,
        },
    ]
    frame = predictions_frame(rows, PARIS)
    assert isinstance(frame["timestamp"].dtype, pd.DatetimeTZDtype)
    assert frame.at[0, "start_time"].hour == 14
    assert frame.at[0, "predicted_hours"] == 2.0


def test_csv_bytes_writes_timestamps_without_iso_t_or_z() -> None:
    tz = timezone(timedelta(hours=1))
    frame = pd.DataFrame({"when": [pd.Timestamp("2025-03-04 14:30", tz=tz)], "hours": [1.5]})
    text = csv_bytes(frame).decode()
    assert text.splitlines() == ["when,hours", "2025-03-04 14:30:00+0100,1.5"]


def test_labels() -> None:
    assert label("predicted_hours") == "Predicted hours"
    assert label("something_new") == "Something new"


def test_format_interval_reads_like_a_sentence() -> None:
    assert format_interval(3.42, 2.08, 4.96) == "3.4 h, likely 2.1–5.0 h"
    assert format_interval(0.44, None, None) == "0.4 h"
    assert format_interval(None) == "–"


@pytest.mark.parametrize(
    ("hours", "text"),
    [(1.76, "+1.8 h"), (-0.94, "\u22120.9 h"), (0.04, "0.0 h"), (-0.04, "0.0 h"), (12.0, "+12.0 h")],
)
def test_format_signed_hours_uses_a_real_minus_and_no_sign_for_zero(hours: float, text: str) -> None:
    assert format_signed_hours(hours) == text


PREDICTION = {
    "cloud_provider": "GCP",
    "service": "Database",
    "severity": "Critical",
    "start_time": "2025-03-04T13:30:00Z",
    "system_load_before_outage": 50.0,
    "system_load_imputed": True,
    "number_of_customers_affected": 1200,
    "ticket_count": 1,
    "backup_system_triggered": "Yes",
}


@pytest.mark.parametrize(
    ("feature", "hours", "text"),
    [
        ("severity", 1.8, "Critical severity: +1.8 h"),
        ("backup_system_triggered", -0.9, "Backup triggered: \u22120.9 h"),
        ("cloud_provider", 0.21, "GCP cloud: +0.2 h"),
        ("service", -0.2, "Database service: \u22120.2 h"),
        ("start_time", 0.3, "Start Tue 14:30 in March: +0.3 h"),  # in the viewer's zone
        ("system_load_before_outage", -0.5, "System load 50 % (assumed): \u22120.5 h"),
        ("number_of_customers_affected", 0.7, "1,200 customers affected: +0.7 h"),
        ("ticket_count", 0.1, "1 support ticket: +0.1 h"),
    ],
)
def test_driver_labels_are_plain_words(feature: str, hours: float, text: str) -> None:
    assert driver_label(feature, hours, PREDICTION, PARIS) == text


def test_no_backup_reads_as_such() -> None:
    row = {**PREDICTION, "backup_system_triggered": "No"}
    assert driver_label("backup_system_triggered", 0.9, row) == "No backup triggered: +0.9 h"


def test_every_validation_rule_has_words() -> None:
    assert set(RULE_WORDS) == {str(kind) for kind in RuleKind}


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("plausible_max:duration_minutes", "duration_minutes: too large to be plausible"),
        ("not_null:ticket_count", "ticket_count: empty"),
        ("in_set:severity", "severity: not an allowed value"),
        ("end_after_start", "The outage ends before it starts"),
        ("made_up:rule", "made_up:rule"),  # a rule this web app does not know yet: shown as is
    ],
)
def test_rule_words(rule: str, text: str) -> None:
    assert rule_words(rule) == text


def test_error_type_words() -> None:
    assert error_type_words("missing_value") == "Missing value"
    assert error_type_words("unreadable_file") == "Unreadable file"
