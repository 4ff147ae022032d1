"""Actual durations reach ``incident_outcomes`` through ingestion, and incident ids reach the API."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from outagecast import schema
from outagecast.datasets.corrupt import corrupt_file
from outagecast.db import repository
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory
from outagecast.pipelines.ingest import ingest_once
from outagecast.pipelines.predict_new import _read_rows
from tests.pipelines.conftest import clean_source, gx_ready  # noqa: F401 - fixtures
from tests.utils.ingestion import drop, query, read_text_csv, settings_for


def _outcomes(db_url: str) -> pd.DataFrame:
    rows = query(db_url, "SELECT incident_id, actual_hours, filename FROM incident_outcomes")
    return pd.DataFrame(rows, columns=["incident_id", "actual_hours", "filename"]).set_index("incident_id")


def _hours(frame: pd.DataFrame) -> pd.Series:
    start = pd.to_datetime(frame["start_time"], format="ISO8601")
    end = pd.to_datetime(frame["end_time"], format="ISO8601")
    return pd.Series(((end - start).dt.total_seconds() / 3600).to_numpy(), index=frame[schema.ID_COLUMN])


def test_ingested_good_rows_record_their_actual_duration_once(
    tmp_path: Path,
    db_url: str,
    clean_source: Path,  # noqa: F811
    gx_ready: None,  # noqa: F811
) -> None:
    upgrade_to_head(db_url)
    settings = settings_for(tmp_path, db_url)
    source = read_text_csv(clean_source)
    mixed = corrupt_file(clean_source, tmp_path / "made" / "mixed.csv", 0.15, seed=3).output_path
    drop(settings, mixed)

    first = ingest_once(settings)

    assert first.status == "ok", first.as_dict()
    good = read_text_csv(settings.folder("good_data") / "mixed.csv")
    recorded = _outcomes(db_url)
    expected = _hours(good).groupby(level=0).first()  # the corruptor may duplicate rows
    assert 0 < len(recorded) == len(expected) < len(source)  # the good rows only
    assert set(recorded["filename"]) == {"mixed.csv"}
    pd.testing.assert_series_equal(
        recorded["actual_hours"].sort_index(), expected.sort_index(), check_names=False, rtol=1e-9
    )
    # Same incidents again in another file (the whole clean batch): no failure, nothing duplicated,
    # the new incidents added, the known ones kept from the first file.
    drop(settings, clean_source)
    second = ingest_once(settings)

    assert second.status == "ok" and [f.state for f in second.files] == ["done"], second.as_dict()
    again = _outcomes(db_url)
    assert len(again) == source[schema.ID_COLUMN].nunique()
    assert (again.loc[recorded.index, "filename"] == "mixed.csv").all()
    assert again["actual_hours"].to_numpy() == pytest.approx(_hours(source).loc[again.index].to_numpy())


def test_recording_the_same_outcomes_twice_is_harmless(db_url: str) -> None:
    upgrade_to_head(db_url)
    rows = [{"incident_id": f"i{i}", "actual_hours": float(i)} for i in range(5)]
    engine = make_engine(db_url)
    try:
        for batch in (rows, rows[2:] + [{"incident_id": "i9", "actual_hours": 9.0}]):
            with make_session_factory(engine)() as session, session.begin():
                repository.insert_incident_outcomes(session, rows=batch)
    finally:
        engine.dispose()
    assert query(db_url, "SELECT COUNT(*) AS n FROM incident_outcomes") == [{"n": 6}]


def test_scheduled_predictions_send_each_rows_incident_id(clean_source: Path) -> None:  # noqa: F811
    rows = _read_rows(clean_source)
    source = read_text_csv(clean_source)
    assert [r[schema.ID_COLUMN] for r in rows] == source[schema.ID_COLUMN].tolist()
    assert set(rows[0]) == {*schema.FEATURES, schema.ID_COLUMN}
