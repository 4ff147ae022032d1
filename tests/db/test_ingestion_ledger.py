"""The ingestion ledger and alert log (revision 0004): uniqueness, conditional updates, listings."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outagecast.db import repository
from outagecast.db.models import IngestionStat
from outagecast.db.session import make_session_factory

STAT = {"filename": "b.csv", "total_rows": 10, "valid_rows": 8, "invalid_rows": 2, "criticality": "medium"}


def _claim(session: Session, claim_id: str, sha: str, **extra: object) -> int:
    values = {"claim_id": claim_id, "filename": "b.csv", "content_sha256": sha, "size_bytes": 1}
    return repository.insert_ingested_file(
        session, **{**values, "content_key": sha, "state": "claimed", **extra}
    ).id


def test_a_content_has_one_owner(db_session: Session) -> None:
    with db_session.begin():
        _claim(db_session, "a" * 16, "f" * 64)
        # A duplicate row of the same content is fine: it owns nothing.
        _claim(db_session, "b" * 16, "f" * 64, content_key=None, state="duplicate")
    with pytest.raises(IntegrityError), db_session.begin():
        _claim(db_session, "c" * 16, "f" * 64)
    assert repository.content_owner(db_session, sha256="f" * 64).claim_id == "a" * 16
    with pytest.raises(ValueError):
        repository.insert_ingested_file(db_session, state="lost")


def test_a_stats_row_is_attached_once_even_when_two_writers_race(db_engine: Engine) -> None:
    factory = make_session_factory(db_engine)
    with factory() as session, session.begin():
        ledger_id = _claim(session, "a" * 16, "e" * 64)
    barrier = threading.Barrier(2)

    def attach() -> int | None:
        with factory() as session, session.begin():
            barrier.wait()
            # The row lock comes first, as in the pipeline's _record: the second writer waits.
            repository.update_ingested_file(
                session, ledger_id=ledger_id, where={"state": "claimed"}, valid_rows=8
            )
            if repository.get_ingested_file(session, ledger_id=ledger_id).ingestion_stat_id is not None:
                return None
            return repository.attach_ingestion_stat(session, ledger_id=ledger_id, values=STAT)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(attach) for _ in range(2)]]

    assert sorted(results, key=lambda r: r is None)[1] is None and any(results)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(IngestionStat)) == 1


def test_completion_needs_statistics_and_outputs(db_session: Session) -> None:
    now = datetime.now(UTC)
    with db_session.begin():
        ledger_id = _claim(db_session, "a" * 16, "d" * 64)
        assert not repository.complete_ingested_file(
            db_session, ledger_id=ledger_id, state="done", finished_at=now
        )
        repository.attach_ingestion_stat(db_session, ledger_id=ledger_id, values=STAT)
        assert not repository.complete_ingested_file(
            db_session, ledger_id=ledger_id, state="done", finished_at=now
        )
        repository.update_ingested_file(db_session, ledger_id=ledger_id, outputs_written_at=now)
        assert repository.complete_ingested_file(
            db_session, ledger_id=ledger_id, state="done", finished_at=now
        )
        assert not repository.complete_ingested_file(
            db_session, ledger_id=ledger_id, state="done", finished_at=now
        )
    with pytest.raises(ValueError):
        repository.complete_ingested_file(db_session, ledger_id=ledger_id, state="claimed", finished_at=now)


def test_ingestion_records_filter_and_join_their_ledger(db_session: Session) -> None:
    with db_session.begin():
        ledger_id = _claim(db_session, "a" * 16, "c" * 64, reason="why")
        attached = repository.attach_ingestion_stat(db_session, ledger_id=ledger_id, values=STAT)
        old = repository.insert_ingestion_stat(
            db_session, **{**STAT, "criticality": "none"}, timestamp=datetime(2020, 1, 1, tzinfo=UTC)
        )
    records = repository.list_ingestion_records(db_session)
    assert [(s.id, bool(f)) for s, f in records] == [(attached, True), (old, False)]
    assert [s.id for s, _ in repository.list_ingestion_records(db_session, criticality="none")] == [old]
    assert [s.id for s, _ in repository.list_ingestion_records(db_session, end_date=date(2020, 1, 1))] == [
        old
    ]
    assert repository.get_ingestion_record(db_session, stat_id=attached)[1].reason == "why"
    assert repository.get_ingestion_record(db_session, stat_id=10**9) is None
    with pytest.raises(ValueError):
        repository.list_ingestion_records(db_session, criticality="severe")


def test_alert_log_throttle_queries(db_session: Session) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    with db_session.begin():
        sent = repository.insert_alert(
            db_session, kind="ingestion", title="a", status="sent", facts={}, timestamp=t0
        )
        for i in range(3):
            repository.insert_alert(
                db_session,
                kind="ingestion",
                title=f"s{i}",
                status="suppressed",
                facts={},
                timestamp=t0 + timedelta(minutes=i + 1),
            )
        repository.insert_alert(db_session, kind="monitor", title="m", status="suppressed", facts={})
    assert repository.last_emitted_alert(db_session, kind="ingestion").id == sent.id
    count, since = repository.suppressed_alerts_since(db_session, kind="ingestion", after_id=sent.id)
    assert count == 3 and abs(since - (t0 + timedelta(minutes=1))) < timedelta(seconds=1)
    assert repository.last_emitted_alert(db_session, kind="monitor") is None
    assert [a.title for a in repository.list_alerts(db_session, kind="ingestion", limit=2)] == ["s2", "s1"]
