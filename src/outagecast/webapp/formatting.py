"""How the web app writes durations, times and tables for people (pure functions, no Streamlit).

Durations are in hours everywhere; times are shown in the viewer's time zone in a readable
form ("Tue 4 Mar 2025, 14:30 CET"), never as raw ISO strings with ``T``/``Z``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from outagecast import schema

# momentjs format for st.column_config.DatetimeColumn; matches format_timestamp.
TABLE_DATETIME_FORMAT = "ddd D MMM YYYY, HH:mm"
# Timestamps in downloaded CSVs: sortable, parseable by pandas, and no ISO "T"/"Z".
CSV_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%z"
TIMESTAMP_FIELDS = ("timestamp", "start_time", "predicted_end_time")

# Readable labels for the model's inputs and the API's outputs, keyed by field name.
LABELS: dict[str, str] = {
    "id": "ID",
    "timestamp": "Predicted at",
    "source": "Source",
    "model_version": "Model version",
    "cloud_provider": "Provider",
    "service": "Service",
    "severity": "Severity",
    "start_time": "Outage start",
    "system_load_before_outage": "System load (%)",
    "system_load_imputed": "Load assumed",
    "number_of_customers_affected": "Customers affected",
    "ticket_count": "Tickets",
    "backup_system_triggered": "Backup triggered",
    "predicted_hours": "Predicted hours",
    "predicted_hours_low": "Likely from (hours)",
    "predicted_hours_high": "Likely to (hours)",
    "interval_coverage": "Interval coverage",
    "is_anomaly": "Anomaly",
    "predicted_end_time": "Predicted end",
}


def resolve_timezone(name: str | None) -> tzinfo:
    """The viewer's time zone from its IANA name (as the browser reports it); UTC if unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime from an API value (ISO 8601 string or datetime); naive means UTC."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, str):
        # Python 3.11's fromisoformat reads "Z" and offsets; the API writes both forms.
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def format_timestamp(value: Any, tz: tzinfo = UTC) -> str:
    """A readable local time: "Tue 4 Mar 2025, 14:30 CET" ("" for a missing value)."""
    ts = parse_timestamp(value)
    if ts is None:
        return ""
    local = ts.astimezone(tz)
    zone = local.tzname() or ""
    # %-d is not portable; build the day without a leading zero by hand.
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {zone}".rstrip()


def format_duration(hours: float | None) -> str:
    """Hours as hours and minutes: "2 h 35 min", "45 min", "26 h 0 min"."""
    if hours is None or (isinstance(hours, float) and math.isnan(hours)):
        return "–"
    total_minutes = round(max(float(hours), 0.0) * schema.MINUTES_PER_HOUR)
    h, m = divmod(total_minutes, int(schema.MINUTES_PER_HOUR))
    if h == 0:
        return f"{m} min" if m else "under 1 min"
    return f"{h} h {m} min"


def format_hours(hours: float | None, digits: int = 2) -> str:
    """Decimal hours with the unit: "2.58 hours"."""
    if hours is None or (isinstance(hours, float) and math.isnan(hours)):
        return "–"
    return f"{float(hours):.{digits}f} hours"


def format_percent(fraction: float | None) -> str:
    """A fraction as a percentage: 0.123 -> "12.3 %"."""
    if fraction is None or math.isnan(fraction):
        return "–"
    return f"{fraction * 100:.1f} %"


def predictions_frame(rows: Iterable[Mapping[str, Any]], tz: tzinfo = UTC) -> pd.DataFrame:
    """API prediction rows as a DataFrame: timestamps as aware datetimes in ``tz`` (so tables
    sort by time and show local times), everything else as the API sent it."""
    frame = pd.DataFrame(list(rows))
    for name in TIMESTAMP_FIELDS:
        if name in frame.columns:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601").dt.tz_convert(tz)
    return frame


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV bytes, timestamps written like "2025-03-04 14:30:00+0100"."""
    out = frame.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = out[name].dt.strftime(CSV_DATETIME_FORMAT)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def label(name: str) -> str:
    """The readable column label of a field (the field name itself if none is known)."""
    return LABELS.get(name, name.replace("_", " ").capitalize())
