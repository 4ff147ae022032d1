"""Repository functions on both backends: bulk insert, filters, paging, ingestion stats."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from outagecast.db import repository
from outagecast.db.models import Prediction
from outagecast.db.session import make_session_factory


def _row(i: int = 0, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model_version": "1",
        "source": "webapp",
        "cloud_provider": "AWS",
        "service": "Compute",
        "severity": "High",
        "start_time": datetime(2025, 6, 30, 10, 0, tzinfo=UTC),
        "system_load_before_outage": 50.0,
        "number_of_customers_affected": 100,
        "ticket_count": i,
        "backup_system_triggered": "No",
        "predicted_hours": 2.5,
        "is_anomaly": False,
        "predicted_end_time": datetime(2025, 6, 30, 12, 30, tzinfo=UTC),
    }
    row.update(overrides)
    return row


def _at(day: int, hour: int = 12, minute: int = 0, **kw: Any) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC, **kw)


# ---------------------------------------------------------------- insert_predictions


def test_bulk_insert_returns_ids_in_row_order(db_engine: Engine, db_session: Session) -> None:
    n = 10_000
    # A shuffled ticket_count makes any reordering of ids visible. Some rows leave defaults
    # out and some carry None: both must neither lose their place nor split the batch.
    order = np.random.default_rng(0).permutation(n).tolist()
    rows = [_row(k, source="scheduled", incident_id=f"inc-{k}") if k % 3 else _row(k) for k in order]
    for row in rows[::7]:
        del row["source"], row["start_time"]
    statements = []
    event.listen(db_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    started = time.perf_counter()
    ids = repository.insert_predictions(db_session, rows=rows)
    db_session.commit()
    elapsed = time.perf_counter() - started
    print(f"\n{db_engine.dialect.name}: {n} predictions in {elapsed:.3f} s, {len(statements)} statements")
    if db_engine.dialect.name == "postgresql":
        # Pages of 1,000 rows. (SQLite gives RETURNING no order, so SQLAlchemy runs it row by
        # row inside the one executemany call: in-process and about as fast.)
        assert len(statements) <= 25

    assert len(ids) == n
    assert len(set(ids)) == n
    with make_session_factory(db_engine)() as session:
        stored = dict(session.execute(select(Prediction.id, Prediction.ticket_count)).all())
    assert len(stored) == n
    assert [stored[i] for i in ids] == order
    with make_session_factory(db_engine)() as session:
        defaulted = session.scalars(select(Prediction).where(Prediction.id == ids[7])).one()
    assert (defaulted.source, defaulted.start_time) == ("webapp", None)
    assert "timestamp" not in rows[0]  # the caller's dicts are not modified


def test_bulk_insert_fills_defaults_and_keeps_given_values(db_engine: Engine, db_session: Session) -> None:
    given = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    minimal = {"model_version": "2", "predicted_hours": 1.0, "is_anomaly": False}
    ids = repository.insert_predictions(db_session, rows=[minimal, {**minimal, "timestamp": given}])
    db_session.commit()
    with make_session_factory(db_engine)() as session:
        first, second = (session.get_one(Prediction, i) for i in ids)
    assert first.source == "webapp" and first.system_load_imputed is False
    assert first.timestamp.tzinfo is UTC and abs(first.timestamp - datetime.now(UTC)) < timedelta(minutes=5)
    assert second.timestamp == given


def test_bulk_insert_of_nothing_returns_no_ids(db_session: Session) -> None:
    assert repository.insert_predictions(db_session, rows=[]) == []


def test_bulk_insert_rejects_unknown_fields(db_session: Session) -> None:
    with pytest.raises(ValueError, match="predicted_hour"):
        repository.insert_predictions(db_session, rows=[_row(), {**_row(), "predicted_hour": 1.0}])


# ---------------------------------------------------------------- list_predictions


@pytest.fixture
def stored(db_session: Session) -> dict[str, int]:
    """A small, known set of predictions; name -> id."""
    specs = {
        "mar1_start": _row(timestamp=_at(1, 0, 0)),
        "mar1_end": _row(timestamp=_at(1, 23, 59, second=59, microsecond=999_999), source="scheduled"),
        # 01:00 on Mar 3 at +02:00 is 23:00 UTC on Mar 2.
        "mar2_late": _row(timestamp=datetime(2025, 3, 3, 1, 0, tzinfo=timezone(timedelta(hours=2)))),
        "mar2_noon": _row(timestamp=_at(2), model_version="2", is_anomaly=True),
        "mar3_start": _row(timestamp=_at(3, 0, 0), source="scheduled", is_anomaly=True),
        "mar4": _row(timestamp=_at(4), model_version="2"),
    }
    ids = repository.insert_predictions(db_session, rows=list(specs.values()))
    db_session.commit()
    return dict(zip(specs, ids, strict=True))


def _names(stored: dict[str, int], predictions: list[Prediction]) -> list[str]:
    by_id = {v: k for k, v in stored.items()}
    return [by_id[p.id] for p in predictions]


NEWEST_FIRST = ["mar4", "mar3_start", "mar2_late", "mar2_noon", "mar1_end", "mar1_start"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, NEWEST_FIRST),
        ({"start_date": date(2025, 3, 2)}, ["mar4", "mar3_start", "mar2_late", "mar2_noon"]),
        ({"end_date": date(2025, 3, 2)}, ["mar2_late", "mar2_noon", "mar1_end", "mar1_start"]),
        ({"start_date": date(2025, 3, 1), "end_date": date(2025, 3, 1)}, ["mar1_end", "mar1_start"]),
        ({"start_date": date(2025, 3, 3), "end_date": date(2025, 3, 3)}, ["mar3_start"]),
        ({"start_date": date(2025, 3, 5)}, []),
        ({"source": "all"}, NEWEST_FIRST),
        ({"source": "scheduled"}, ["mar3_start", "mar1_end"]),
        ({"source": "webapp"}, ["mar4", "mar2_late", "mar2_noon", "mar1_start"]),
        ({"model_version": "2"}, ["mar4", "mar2_noon"]),
        ({"model_version": "3"}, []),
        ({"anomaly": True}, ["mar3_start", "mar2_noon"]),
        ({"anomaly": False}, ["mar4", "mar2_late", "mar1_end", "mar1_start"]),
        ({"limit": 2}, NEWEST_FIRST[:2]),
        ({"limit": 2, "offset": 2}, NEWEST_FIRST[2:4]),
        ({"limit": 10, "offset": 5}, NEWEST_FIRST[5:]),
        ({"limit": 0}, []),
        (
            {
                "start_date": date(2025, 3, 2),
                "end_date": date(2025, 3, 4),
                "source": "webapp",
                "anomaly": False,
            },
            ["mar4", "mar2_late"],
        ),
    ],
)
def test_list_predictions_filters(
    db_session: Session, stored: dict[str, int], filters: dict[str, Any], expected: list[str]
) -> None:
    filters.setdefault("limit", 100)
    assert _names(stored, repository.list_predictions(db_session, **filters)) == expected


def test_list_predictions_breaks_timestamp_ties_by_newest_id(db_session: Session) -> None:
    same = _at(5)
    ids = repository.insert_predictions(db_session, rows=[_row(timestamp=same) for _ in range(3)])
    db_session.commit()
    assert [p.id for p in repository.list_predictions(db_session, limit=10)] == ids[::-1]


def test_list_predictions_returns_inputs_and_outputs(db_session: Session, stored: dict[str, int]) -> None:
    (newest,) = repository.list_predictions(db_session, limit=1)
    assert newest.id == stored["mar4"]
    assert newest.timestamp == _at(4)
    assert newest.start_time == datetime(2025, 6, 30, 10, 0, tzinfo=UTC)
    assert (newest.cloud_provider, newest.backup_system_triggered, newest.predicted_hours) == (
        "AWS",
        "No",
        2.5,
    )


@pytest.mark.parametrize("bad", [{"source": "cli"}, {"limit": -1}, {"offset": -1}])
def test_list_predictions_rejects_bad_arguments(db_session: Session, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        repository.list_predictions(db_session, **{"limit": 10, **bad})


# ---------------------------------------------------------------- ingestion stats


def test_ingestion_stats_round_trip(db_engine: Engine, db_session: Session) -> None:
    counts = {"nulls": np.int64(3), "outliers": 1}  # numpy counts, as pandas produces them
    first = repository.insert_ingestion_stat(
        db_session,
        filename="batch_001.csv",
        total_rows=10,
        valid_rows=6,
        invalid_rows=4,
        criticality="medium",
        error_types=counts,
        data_docs_url="/data-docs/index.html",
        timestamp=_at(1),
    )
    second = repository.insert_ingestion_stat(
        db_session, filename="batch_002.csv", total_rows=5, valid_rows=5, invalid_rows=0, criticality="none"
    )
    db_session.commit()

    with make_session_factory(db_engine)() as session:
        newest, older = repository.list_ingestion_stats(session, limit=10)
    assert (newest.id, older.id) == (second, first)
    assert older.error_types == {"nulls": 3, "outliers": 1}
    assert older.timestamp == _at(1) and older.data_docs_url == "/data-docs/index.html"
    assert (older.total_rows, older.valid_rows, older.invalid_rows, older.criticality) == (10, 6, 4, "medium")
    assert newest.error_types == {} and newest.timestamp.tzinfo is UTC


def test_list_ingestion_stats_filters_and_pages(db_session: Session) -> None:
    ids = [
        repository.insert_ingestion_stat(
            db_session,
            filename=f"batch_{day:03d}.csv",
            total_rows=1,
            valid_rows=1,
            invalid_rows=0,
            criticality="none",
            timestamp=_at(day, 23, 59),
        )
        for day in (1, 2, 3, 4)
    ]
    db_session.commit()

    def listed(**kw: Any) -> list[int]:
        return [s.id for s in repository.list_ingestion_stats(db_session, **{"limit": 10, **kw})]

    assert listed() == ids[::-1]
    assert listed(start_date=date(2025, 3, 2), end_date=date(2025, 3, 3)) == [ids[2], ids[1]]
    assert listed(limit=1, offset=1) == [ids[2]]
    assert db_session.scalar(select(func.count()).select_from(Prediction)) == 0


def test_insert_ingestion_stat_rejects_unknown_criticality(db_session: Session) -> None:
    with pytest.raises(ValueError, match="criticality"):
        repository.insert_ingestion_stat(
            db_session, filename="x.csv", total_rows=0, valid_rows=0, invalid_rows=0, criticality="severe"
        )
