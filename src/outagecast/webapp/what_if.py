"""What-if: which inputs of a prediction can be varied, over which values, and what it means.

Pure functions (no Streamlit, no HTTP): the Predict page picks a ``Choice``, builds the values
with ``grid`` and ``api_values``, sends them in ONE ``POST /what-if`` call, and describes the
answer with ``summary``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from outagecast import schema
from outagecast.webapp.formatting import format_interval, parse_timestamp

Kind = Literal["int", "float", "category", "hour"]
HOUR = "start_hour"  # not an API field: varies the hour of start_time, the day kept
POINTS = 25  # points on a numeric range: smooth enough, one small batch
FLOAT_POINTS = 21  # 0-100 % load in steps of 5


@dataclass(frozen=True, slots=True)
class Choice:
    """One input the what-if can vary."""

    key: str  # the API field, or HOUR
    title: str  # in the selector and on the chart's axis
    kind: Kind
    noun: str = ""  # "support tickets": how the summary speaks of its values
    across: str = ""  # categories: how the summary speaks of trying them all

    @property
    def vary(self) -> str:
        """The API field sent as ``vary``."""
        return "start_time" if self.kind == "hour" else self.key

    @property
    def categorical(self) -> bool:
        return self.kind == "category"


CHOICES: dict[str, Choice] = {
    c.key: c
    for c in (
        Choice("ticket_count", "Support tickets", "int", "support tickets"),
        Choice("system_load_before_outage", "System load before the outage (%)", "float", "system load"),
        Choice("number_of_customers_affected", "Customers affected", "int", "customers affected"),
        Choice("severity", "Severity", "category", "severity", "Across severities"),
        Choice(
            "backup_system_triggered",
            "Backup system triggered",
            "category",
            "backup",
            "With and without a backup",
        ),
        Choice(HOUR, "Hour of the outage start", "hour", "start hour"),
    )
}


def categories(choice: Choice) -> tuple[str, ...]:
    """The values a categorical choice takes, in the schema's order."""
    return schema.categories_of(choice.key)


def local_start(prediction: Mapping[str, Any], tz: tzinfo) -> datetime | None:
    """The prediction's outage start in the viewer's zone."""
    start = parse_timestamp(prediction.get("start_time"))
    return start.astimezone(tz) if start is not None else None


def current_value(choice: Choice, prediction: Mapping[str, Any], tz: tzinfo) -> Any:
    """The value the incident as entered has (the API's echo, so an assumed load counts too)."""
    if choice.kind == "hour":
        start = local_start(prediction, tz)
        return start.hour if start is not None else None
    value = prediction.get(choice.key)
    if value is None:
        return None
    if choice.kind == "int":
        return int(value)
    if choice.kind == "float":
        return float(value)
    return value


def slider_bounds(choice: Choice, current: Any) -> tuple[float, float, float]:
    """(minimum, maximum, step) of the range slider for a numeric choice."""
    cur = float(current or 0)
    if choice.kind == "hour":
        return 0, 23, 1
    if choice.key == "system_load_before_outage":
        low, high = schema.bounds_of(choice.key)
        return float(low or 0), float(high or 100), 1.0
    if choice.key == "ticket_count":
        return 0, _nice_ceiling(max(100.0, 4 * cur)), 1
    return 0, _nice_ceiling(max(10_000.0, 4 * cur)), 100  # customers


def default_range(choice: Choice, current: Any) -> tuple[float, float]:
    """The range first shown: wide enough to see the trend, with the incident inside it."""
    cur = float(current or 0)
    if choice.kind == "hour" or choice.key == "system_load_before_outage":
        low, high, _ = slider_bounds(choice, current)
        return low, high
    if choice.key == "ticket_count":
        return 0, _nice_ceiling(max(50.0, 2 * cur))
    return 0, _nice_ceiling(max(5_000.0, 2 * cur))


def grid(choice: Choice, low: float, high: float, current: Any) -> list[Any]:
    """The x values to predict: evenly spread over [low, high], the incident's own value included
    when it lies inside (so the marked point sits on the curve); categories: all of them."""
    if choice.categorical:
        return list(categories(choice))
    if choice.kind == "hour":
        values: set[Any] = set(range(int(low), int(high) + 1))
    else:
        n = (POINTS if choice.kind == "int" else FLOAT_POINTS) if high > low else 1
        steps = [low + (high - low) * i / max(n - 1, 1) for i in range(n)]
        values = {int(round(v)) for v in steps} if choice.kind == "int" else {round(v, 2) for v in steps}
    if current is not None and low <= current <= high:
        values.add(current)
    return sorted(values)


def api_values(choice: Choice, xs: Sequence[Any], start: datetime | None) -> list[Any]:
    """What to send as ``values`` for the x values: the hours become start times (ISO 8601, in
    the viewer's zone, same day and minutes as the incident)."""
    if choice.kind != "hour":
        return list(xs)
    if start is None:
        raise ValueError("the hour can only be varied when the start time is known")
    return [start.replace(hour=int(h)).isoformat() for h in xs]


def tick_text(choice: Choice, xs: Sequence[Any], start: datetime | None) -> list[str]:
    """How each x value is written on the chart and in the summary."""
    if choice.kind == "hour":
        minute = start.minute if start is not None else 0
        return [f"{int(h):02d}:{minute:02d}" for h in xs]
    if choice.kind == "int":
        return [f"{int(x):,}" for x in xs]
    if choice.kind == "float":
        return [f"{float(x):g} %" for x in xs]
    return [str(x) for x in xs]


def describe(choice: Choice, value: Any, start: datetime | None) -> str:
    """One value in words: "35 support tickets", "75 % system load", "Critical severity",
    "backup triggered", "start at 14:30"."""
    if value is None:
        return "unknown"
    shown = tick_text(choice, [value], start)[0]
    if choice.kind == "hour":
        return f"start at {shown}"
    if choice.key == "backup_system_triggered":
        return "backup triggered" if value == "Yes" else "no backup triggered"
    return f"{shown} {choice.noun}"


def summary(
    choice: Choice,
    xs: Sequence[Any],
    points: Sequence[Mapping[str, Any]],
    *,
    start: datetime | None,
    current: Any,
    prediction: Mapping[str, Any],
    coverage: float | None,
) -> str:
    """The chart in plain words (Markdown): the spread, where the extremes are, the incident."""
    hours = [float(p["predicted_hours"]) for p in points]
    shown = tick_text(choice, xs, start)
    lo_i = min(range(len(hours)), key=hours.__getitem__)
    hi_i = max(range(len(hours)), key=hours.__getitem__)

    def at(i: int) -> str:
        return describe(choice, xs[i], start) if choice.categorical else f"at {shown[i]}"

    if choice.categorical:
        across = choice.across
    elif choice.kind == "hour":
        across = f"For a start between {shown[0]} and {shown[-1]} the same day"
    else:
        across = f"Between {shown[0]} and {shown[-1]} {choice.noun}"
    if hours[hi_i] - hours[lo_i] < 0.1:
        trend = f"{across}, the prediction barely moves (less than 0.1 h): here, this input hardly matters."
    else:
        trend = (
            f"{across}, the prediction goes from **{hours[lo_i]:.1f} h** ({at(lo_i)}) "
            f"to **{hours[hi_i]:.1f} h** ({at(hi_i)})."
        )
        if choice.kind in ("int", "float") and len(hours) > 2 and abs(hours[-1] - hours[0]) >= 0.1:
            trend += " Overall it " + ("rises" if hours[-1] > hours[0] else "falls") + " as the value grows."
    interval = format_interval(
        prediction.get("predicted_hours"),
        prediction.get("predicted_hours_low"),
        prediction.get("predicted_hours_high"),
    )
    where = "is the red diamond" if current is not None and current in xs else "lies outside this range"
    yours = f"Your incident ({describe(choice, current, start)}) {where}: {interval}."
    band = ""
    if coverage:
        what = "The bars show" if choice.categorical else "The shaded band shows"
        band = (
            f" {what} the {coverage * 100:g} % interval: about {round(coverage * 10)} in 10 outages "
            "like this one end inside it."
        )
    return f"{trend} {yours}{band} Every other input stays as you entered it; nothing is stored."


def _nice_ceiling(value: float) -> float:
    """Round up to 1, 2 or 5 times a power of ten: 73 -> 100, 2400 -> 5000."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * power:
            return factor * power
    return 10 * power
