"""The training_runs table and its repository functions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from outagecast.db import repository
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory


@pytest.fixture
def session_factory(db_url: str):
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_insert_and_list_newest_first(session_factory) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with session_factory() as session, session.begin():
        first = repository.insert_training_run(
            session,
            model_version="outage_duration/1",
            decision="promoted",
            reason="first model",
            trigger="cold_start",
            run_id="a" * 32,
            family="lgbm",
            n_train=np.int64(6400),
            # numpy numbers and NaN, as training produces them: stored as JSON numbers and null.
            metrics={"rmse": np.float64(1.5), "oracle_rmse": float("nan"), "family": "lgbm"},
            reference_rmse=1.6,
            latency_ms_per_row=np.float64(0.02),
            timestamp=start,
        )
        second = repository.insert_training_run(
            session,
            model_version="outage_duration/2",
            decision="rejected",
            reason="worse",
            trigger="retrain",
            champion_version_before="outage_duration/1",
            rmse_diff=0.05,
            ci_low=0.03,
            ci_high=0.07,
            timestamp=start + timedelta(hours=1),
        )
    with session_factory() as session:
        rows = repository.list_training_runs(session)
        assert [r.id for r in rows] == [second, first]
        newest, oldest = rows
        assert (newest.decision, newest.trigger, newest.ci_high) == ("rejected", "retrain", 0.07)
        assert newest.metrics == {} and newest.timestamp == start + timedelta(hours=1)
        assert oldest.metrics == {"rmse": 1.5, "oracle_rmse": None, "family": "lgbm"}
        assert oldest.n_train == 6400 and oldest.latency_ms_per_row == pytest.approx(0.02)
        only = repository.list_training_runs(session, model_version="outage_duration/1")
        assert [r.id for r in only] == [first]
        assert [r.id for r in repository.list_training_runs(session, limit=1, offset=1)] == [first]


@pytest.mark.parametrize(("field", "value"), [("decision", "maybe"), ("trigger", "cron")])
def test_unknown_decision_or_trigger_is_refused(session_factory, field: str, value: str) -> None:
    values = {"decision": "promoted", "trigger": "cli", field: value}
    with session_factory() as session, pytest.raises(ValueError, match=field):
        repository.insert_training_run(session, model_version="m/1", reason="r", **values)
    # The database refuses it too (a row written by other means).
    with session_factory() as session, pytest.raises(IntegrityError), session.begin():
        session.execute(
            text(
                "INSERT INTO training_runs (model_version, metrics, decision, reason, trigger) "
                "VALUES ('m/1', '{}', :decision, 'r', :trigger)"
            ),
            values,
        )
