"""The Airflow steps of ingestion, called directly: the three last tasks in any order, retries, leases."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from outagecast.datasets.corrupt import corrupt_file
from outagecast.db.session import make_engine
from outagecast.pipelines import ingest
from outagecast.pipelines.ingest import ingest_once
from outagecast.settings import Settings
from tests.utils.ingestion import drop, query, read_text_csv, settings_for, visible_files

pytestmark = pytest.mark.usefixtures("gx_ready")

STEPS = {
    "save_statistics": ingest.dag_save_statistics,
    "send_alerts": ingest.dag_send_alerts,
    "split_and_save": ingest.dag_split_and_save,
}


def _run_dag_steps(settings: Settings, batch: Path, order: tuple[str, ...]) -> dict:
    drop(settings, batch)
    (claim,) = ingest.dag_read(settings)
    summary = ingest.dag_validate(settings, claim)
    assert ingest.dag_validate(settings, claim) == summary  # a retried task reuses its verdict
    for name in order:
        STEPS[name](settings, summary)
        STEPS[name](settings, summary)  # Airflow may run a task again: nothing changes
    return summary


def _assert_done_once(settings: Settings, db_url: str, batch: Path, summary: dict) -> None:
    (ledger,) = query(db_url, "SELECT * FROM ingested_files")
    assert ledger["state"] == "done" and ledger["alerted_at"] is not None
    assert len(query(db_url, "SELECT id FROM ingestion_stats")) == 1
    assert len(query(db_url, "SELECT id FROM alert_log")) == 1
    processing = settings.data_path / "processing"
    assert visible_files(processing) == [] and not list(processing.glob(".*.json"))
    good = read_text_csv(settings.folder("good_data") / batch.name)
    bad = read_text_csv(settings.folder("bad_data") / batch.name)
    source = read_text_csv(batch)
    assert Counter(good["incident_id"]) + Counter(bad["incident_id"]) == Counter(source["incident_id"])
    assert len(bad) == summary["invalid_rows"]


@pytest.mark.parametrize("order", list(itertools.permutations(STEPS)), ids="-".join)
def test_the_three_branches_complete_a_claim_in_any_order(
    tmp_path: Path, sqlite_url: str, clean_source: Path, order: tuple[str, ...]
) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    batch = corrupt_file(clean_source, tmp_path / "made" / "batch.csv", 0.2, seed=3).output_path
    summary = _run_dag_steps(settings, batch, order)
    _assert_done_once(settings, sqlite_url, batch, summary)


@pytest.mark.postgres
def test_the_branches_on_postgres(tmp_path: Path, request: pytest.FixtureRequest, clean_source: Path) -> None:
    db_url = request.getfixturevalue("_postgres_schema_url")
    settings = settings_for(tmp_path, db_url)
    batch = corrupt_file(clean_source, tmp_path / "made" / "batch.csv", 0.2, seed=3).output_path
    summary = _run_dag_steps(settings, batch, ("split_and_save", "send_alerts", "save_statistics"))
    _assert_done_once(settings, db_url, batch, summary)


def test_a_claim_under_lease_is_left_to_its_dag_run_until_the_lease_expires(
    tmp_path: Path, sqlite_url: str, clean_source: Path
) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    drop(settings, clean_source, "leased.csv")
    (claim,) = ingest.dag_read(settings)  # ... and the DAG run dies before validating

    assert ingest_once(settings).files == []  # a CLI run meanwhile leaves the claim alone
    assert visible_files(settings.data_path / "processing") == [Path(claim["path"]).name]

    engine = make_engine(sqlite_url)
    with engine.begin() as connection:  # INGEST_LEASE_SECONDS later
        connection.execute(text("UPDATE ingested_files SET lease_expires_at = '2000-01-01 00:00:00'"))
    engine.dispose()
    result = ingest_once(settings)

    assert [(f.filename, f.state, f.recovered) for f in result.files] == [("leased.csv", "done", True)]
    assert len(query(sqlite_url, "SELECT id FROM ingestion_stats")) == 1
    # The DAG run's late tasks find the claim finished and change nothing.
    summary = ingest.dag_validate(settings, claim)
    for step in STEPS.values():
        step(settings, summary)
    assert len(query(sqlite_url, "SELECT id FROM ingestion_stats")) == 1
    with pytest.raises(ingest.ClaimLost):  # a claim the ledger never heard of
        ingest.dag_validate(settings, {**claim, "claim_id": "0" * 16})


def test_duplicates_are_archived_when_claimed(tmp_path: Path, sqlite_url: str, clean_source: Path) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    drop(settings, clean_source, "a.csv")
    ingest_once(settings)
    drop(settings, clean_source, "a_again.csv")

    assert ingest.dag_read(settings) == []
    assert visible_files(settings.folder("archived_data")) == ["a_again.csv"]
