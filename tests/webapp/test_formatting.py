"""How durations, times and tables are written for people."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from outagecast.webapp.formatting import (
    csv_bytes,
    format_duration,
    format_hours,
    format_percent,
    format_timestamp,
    label,
    parse_timestamp,
    predictions_frame,
    resolve_timezone,
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
