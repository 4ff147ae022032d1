"""The Monitoring page's "recent" side is exactly the rows the monitor run judged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from outagecast.db.migrate import upgrade_to_head
from outagecast.db.models import MonitorRun, Prediction
from outagecast.db.session import make_engine, make_session_factory
from outagecast.monitoring import reports


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _prediction(stamp: datetime, severity: str) -> Prediction:
    return Prediction(
        timestamp=stamp,
        model_version="outage_duration/1",
        source="scheduled",
        severity=severity,
        predicted_hours=2.0,
        is_anomaly=False,
    )


def test_a_batch_sharing_one_timestamp_counts_only_the_rows_the_run_took(session: Session) -> None:
    """One bulk insert stores a whole batch at one instant; a run that took 3 of its rows shows 3."""
    stamp = datetime(2026, 12, 1, 12, tzinfo=UTC)
    older = [_prediction(stamp - timedelta(hours=1), "Low") for _ in range(4)]
    batch = [_prediction(stamp, "Critical") for _ in range(5)]
    session.add_all([*older, *batch])
    run = MonitorRun(
        status="ok", model_version="outage_duration/1", window_rows=3, window_start=stamp, window_end=stamp
    )
    session.add(run)
    session.commit()

    counts = reports.recent_category_counts(session, feature="severity", part=None, run=run, last_n=1000)
    assert counts == {"Critical": 3}

    wide = MonitorRun(
        status="ok",
        model_version="outage_duration/1",
        window_rows=9,
        window_start=stamp - timedelta(hours=1),
        window_end=stamp,
    )
    session.add(wide)
    session.commit()
    counts = reports.recent_category_counts(session, feature="severity", part=None, run=wide, last_n=1)
    assert counts == {"Critical": 5, "Low": 4}
    # Without a run: the newest last_n predictions.
    assert reports.recent_category_counts(session, feature="severity", part=None, run=None, last_n=2) == {
        "Critical": 2
    }
