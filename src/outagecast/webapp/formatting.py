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

MINUS = "\u2212"  # a real minus sign: "−0.9 h" reads better than "-0.9 h"

# What each validation rule kind (outagecast.validation.errors.RuleKind; a test keeps the two in
# step) means for a row, in words: "{column}: {words}".
RULE_WORDS: dict[str, str] = {
    "column_exists": "column missing from the file",
    "not_null": "empty",
    "number_format": "not a number",
    "timestamp_format": "not a date and time",
    "in_set": "not an allowed value",
    "between": "out of range",
    "plausible_max": "too large to be plausible",
    "end_after_start": "the outage ends before it starts",
    "unique_id": "incident ID seen before (duplicate row)",
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


def format_interval(hours: float | None, low: float | None = None, high: float | None = None) -> str:
    """A prediction and its interval, briefly: "3.4 h, likely 2.1–5.0 h" ("3.4 h" without one)."""
    if hours is None or math.isnan(float(hours)):
        return "–"
    text = f"{float(hours):.1f} h"
    if low is not None and high is not None and not (math.isnan(float(low)) or math.isnan(float(high))):
        text += f", likely {float(low):.1f}–{float(high):.1f} h"
    return text


def format_signed_hours(hours: float, digits: int = 1) -> str:
    """A contribution in hours with its sign: "+1.8 h", "−0.9 h" (a true minus sign)."""
    size = round(abs(float(hours)), digits)
    if size == 0:  # rounds to zero: no sign
        return f"{0:.{digits}f} h"
    return ("+" if hours > 0 else MINUS) + f"{size:.{digits}f} h"


def driver_phrase(feature: str, prediction: Mapping[str, Any], tz: tzinfo = UTC) -> str:
    """What one input of a prediction was, in words: "Critical severity", "backup triggered"."""
    value = prediction.get(feature)
    if feature == "cloud_provider":
        return f"{value} cloud"
    if feature == "service":
        return f"{value} service"
    if feature == "severity":
        return f"{value} severity"
    if feature == "start_time":
        start = parse_timestamp(value)
        if start is None:
            return "start time"
        local = start.astimezone(tz)
        return f"start {local:%a %H:%M} in {local:%B}"
    if feature == "system_load_before_outage":
        assumed = " (assumed)" if prediction.get("system_load_imputed") else ""
        return f"system load {float(value):g} %{assumed}" if value is not None else "system load"
    if feature == "number_of_customers_affected":
        return f"{int(value):,} customers affected" if value is not None else "customers affected"
    if feature == "ticket_count":
        if value is None:
            return "support tickets"
        return f"{int(value):,} support ticket{'' if int(value) == 1 else 's'}"
    if feature == "backup_system_triggered":
        return "backup triggered" if value == "Yes" else "no backup triggered"
    return label(feature)


def driver_label(feature: str, hours: float, prediction: Mapping[str, Any], tz: tzinfo = UTC) -> str:
    """One bar of the drivers chart: "Critical severity: +1.8 h"."""
    phrase = driver_phrase(feature, prediction, tz)
    return f"{phrase[:1].upper()}{phrase[1:]}: {format_signed_hours(hours)}"


def rule_words(rule: str) -> str:
    """A broken validation rule in words: "plausible_max:duration_minutes" ->
    "duration_minutes: too large to be plausible" (unknown rules are shown as they are)."""
    kind, _, column = rule.partition(":")
    words = RULE_WORDS.get(kind)
    if words is None:
        return rule
    return f"{column}: {words}" if column else words[:1].upper() + words[1:]


def error_type_words(error_type: str) -> str:
    """An ingestion error type for people: "missing_value" -> "Missing value"."""
    return error_type.replace("_", " ").capitalize()


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
