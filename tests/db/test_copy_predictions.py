"""The bulk path of POST /predict: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outagecast.db import repository
from outagecast.db.models import Prediction


def _columns(n: int) -> dict[str, list]:
    start = datetime(2025, 6, 30, 10, 18, 8, 524480, tzinfo=timezone(timedelta(hours=2)))
    return {
        "cloud_provider": ["AWS"] * n,
        "service": ["Compute"] * n,
        "severity": ["High", "Low"] * (n // 2),
        "start_time": [start] * n,
        "system_load_before_outage": [75.0] * n,
        "system_load_imputed": [False, True] * (n // 2),
        "number_of_customers_affected": list(range(n)),
        "ticket_count": [35] * n,
        "backup_system_triggered": ["Yes"] * n,
        "predicted_hours": [1.5 + i / n for i in range(n)],
        "predicted_hours_low": [None, 1.0] * (n // 2),
        "predicted_hours_high": [2.5] * n,
        "interval_coverage": [0.8] * n,
        "is_anomaly": [False] * n,
        "model_version": ["7"] * n,
        "source": ["scheduled"] * n,
        "timestamp": [datetime.now(UTC)] * n,
        "predicted_end_time": [start + timedelta(hours=2)] * n,
    }


def test_copy_stores_every_row_with_its_values(db_session: Session) -> None:
    stored = repository.copy_predictions(db_session, columns=_columns(2_000))
    db_session.commit()
    assert stored == 2_000
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 2_000
    rows = db_session.scalars(select(Prediction).order_by(Prediction.number_of_customers_affected)).all()
    assert [r.number_of_customers_affected for r in rows] == list(range(2_000))
    first, second = rows[0], rows[1]
    assert first.start_time == datetime(2025, 6, 30, 8, 18, 8, 524480, tzinfo=UTC)
    assert first.start_time.tzinfo is not None
    assert (first.predicted_hours_low, second.predicted_hours_low) == (None, 1.0)
    assert (first.system_load_imputed, second.system_load_imputed) == (False, True)
    assert first.source == "scheduled" and first.interval_coverage == pytest.approx(0.8)


def test_copy_rolls_back_with_the_transaction(db_session: Session) -> None:
    repository.copy_predictions(db_session, columns=_columns(10))
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 0


def test_copy_refuses_unknown_or_ragged_columns(db_session: Session) -> None:
    with pytest.raises(ValueError, match="unknown"):
        repository.copy_predictions(db_session, columns={"bogus": [1]})
    with pytest.raises(ValueError, match="lengths"):
        repository.copy_predictions(db_session, columns={"ticket_count": [1, 2], "severity": ["Low"]})
    assert repository.copy_predictions(db_session, columns={}) == 0
