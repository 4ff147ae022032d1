"""The window of served predictions a monitor run judges, loaded from the ``predictions`` table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from outagecast.db import repository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from outagecast.settings import Settings


@dataclass(frozen=True, slots=True)
class Window:
    """Served predictions (newest first) and the instants of the oldest and newest one."""

    frame: pd.DataFrame
    start: datetime | None
    end: datetime | None

    @property
    def rows(self) -> int:
        """How many predictions the window holds."""
        return len(self.frame)


def _instant(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


def load_window(session: Session, settings: Settings, *, now: datetime | None = None) -> Window:
    """The predictions to judge: the last ``MONITOR_WINDOW_HOURS`` when set, else the most recent
    ``MONITOR_WINDOW_ROWS``; only ``MONITOR_SOURCE`` when set.

    The default is a row count rather than a period so that a fresh burst of traffic is what
    gets judged, whatever the traffic rate.
    """
    since = None
    limit: int | None = settings.monitor_window_rows
    if settings.monitor_window_hours is not None:
        since = (now or datetime.now(UTC)) - timedelta(hours=settings.monitor_window_hours)
        limit = None
    names, rows = repository.monitor_window(session, limit=limit, since=since, source=settings.monitor_source)
    frame = pd.DataFrame.from_records(rows, columns=names)
    if frame.empty:
        return Window(frame, None, None)
    return Window(frame, _instant(frame["timestamp"].min()), _instant(frame["timestamp"].max()))
