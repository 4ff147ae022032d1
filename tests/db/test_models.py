"""Column behaviour on both backends: UTC timestamps, defaults and constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outagecast.db.models import IngestionStat, Prediction
from outagecast.db.session import make_session_factory

PLUS_TWO = timezone(timedelta(hours=2))


def _prediction(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "model_version": "1",
        "cloud_provider": "AWS",
        "service": "Compute",
        "severity": "High",
        "number_of_customers_affected": 100,
        "ticket_count": 3,
        "backup_system_triggered": "No",
        "system_load_before_outage": 50.0,
        "predicted_hours": 2.5,
        "is_anomaly": False,
    }
    row.update(overrides)
    return row


def _read_back(engine: Engine, prediction_id: int) -> Prediction:
    # A new session, so the values come from the database and not the identity map.
    with make_session_factory(engine)() as session:
        return session.get_one(Prediction, prediction_id)


def test_aware_datetimes_come_back_as_the_same_instant_in_utc(db_engine: Engine, db_session: Session) -> None:
    local = datetime(2025, 6, 30, 12, 18, 8, 524480, tzinfo=PLUS_TWO)
    db_session.add(Prediction(**_prediction(timestamp=local, start_time=local, predicted_end_time=local)))
    db_session.commit()
    stored = db_session.scalars(select(Prediction.id)).one()

    row = _read_back(db_engine, stored)
    for value in (row.timestamp, row.start_time, row.predicted_end_time):
        assert value == local
        assert value.utcoffset() == timedelta(0)
        assert value.replace(tzinfo=None) == datetime(2025, 6, 30, 10, 18, 8, 524480)


def test_naive_datetimes_are_taken_as_utc(db_engine: Engine, db_session: Session) -> None:
    naive = datetime(2025, 6, 30, 10, 18, 8, 524480)
    db_session.add(Prediction(**_prediction(start_time=naive)))
    db_session.commit()
    row = _read_back(db_engine, db_session.scalars(select(Prediction.id)).one())
    assert row.start_time == naive.replace(tzinfo=UTC)
    assert row.start_time.tzinfo is UTC


def test_defaults_fill_timestamp_source_and_imputed_flag(db_engine: Engine, db_session: Session) -> None:
    before = datetime.now(UTC)
    db_session.add(Prediction(**_prediction()))
    db_session.commit()
    row = _read_back(db_engine, db_session.scalars(select(Prediction.id)).one())
    assert before <= row.timestamp <= datetime.now(UTC)
    assert row.timestamp.tzinfo is UTC
    assert row.source == "webapp"
    assert row.system_load_imputed is False


def test_server_defaults_apply_to_raw_sql_inserts(db_engine: Engine) -> None:
    # Rows written outside the ORM (SQL consoles, other tools) still get a UTC timestamp.
    with db_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO predictions (model_version, predicted_hours, is_anomaly)"
                " VALUES ('1', 1.0, false)"
            )
        )
    with make_session_factory(db_engine)() as session:
        row = session.scalars(select(Prediction)).one()
    assert row.source == "webapp"
    assert row.system_load_imputed is False
    assert row.timestamp.tzinfo is UTC
    assert abs(row.timestamp - datetime.now(UTC)) < timedelta(minutes=5)


def test_source_outside_webapp_and_scheduled_is_rejected(db_session: Session) -> None:
    with pytest.raises(IntegrityError):
        db_session.execute(insert(Prediction).values(_prediction(source="cli")))


def test_unknown_criticality_is_rejected_by_the_database(db_session: Session) -> None:
    values = {
        "filename": "b.csv",
        "total_rows": 1,
        "valid_rows": 1,
        "invalid_rows": 0,
        "criticality": "severe",
    }
    with pytest.raises(IntegrityError):
        db_session.execute(insert(IngestionStat).values(values))


def test_required_prediction_outputs_are_not_null(db_session: Session) -> None:
    with pytest.raises(IntegrityError):
        db_session.execute(insert(Prediction).values(_prediction(predicted_hours=None)))
