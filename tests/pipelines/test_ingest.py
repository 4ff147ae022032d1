"""Ingestion: routing, attribution against the corruptor's ground truth, quarantine, duplicates, failures."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outagecast.datasets.corrupt import corrupt_file, read_ground_truth
from outagecast.pipelines import ingest
from outagecast.pipelines.ingest import ERRORS_COLUMN, ROW_COLUMN, ingest_once, pending_files, requeue
from outagecast.pipelines.locking import job_lock
from outagecast.validation import criticality, error_type_of_rule
from tests.utils.ingestion import drop, query, read_text_csv, settings_for, visible_files

pytestmark = pytest.mark.usefixtures("gx_ready")


def _truth_by_row(truth: pd.DataFrame, n_rows: int) -> tuple[dict[int, set[str]], bool]:
    """{output row: injected error types}, and whether the file-level missing column was injected."""
    file_level = bool((truth["row"].isna() & (truth["error_type"] == "missing_column")).any())
    rows: dict[int, set[str]] = {}
    for row, error_type in truth.dropna(subset=["row"])[["row", "error_type"]].itertuples(index=False):
        rows.setdefault(int(row), set()).add(error_type)
    if file_level:
        for row in range(n_rows):
            rows.setdefault(row, set()).add("missing_column")
    return rows, file_level


@pytest.mark.parametrize(("probability", "seed"), [(0.05, 5), (0.1, 10), (0.4, 3), (0.4, 4)])
def test_every_injected_error_is_found_and_attributed(
    tmp_path: Path, sqlite_url: str, clean_source: Path, probability: float, seed: int
) -> None:
    batch = tmp_path / "made" / f"batch_p{probability}.csv"
    report = corrupt_file(clean_source, batch, probability, seed=seed)
    settings = settings_for(tmp_path, sqlite_url)
    drop(settings, batch)

    result = ingest_once(settings)

    assert result.status == "ok", result.errors
    (outcome,) = result.files
    source = read_text_csv(batch)
    expected, file_level = _truth_by_row(read_ground_truth(report.ground_truth_path), len(source))
    bad = read_text_csv(settings.folder("bad_data") / batch.name)
    found = {
        int(row): {error_type_of_rule(rule) for rule in rules.split(";")}
        for row, rules in zip(bad[ROW_COLUMN], bad[ERRORS_COLUMN], strict=True)
    }
    assert found == expected  # same rows, and each with exactly the injected error types
    # The bad file repeats the source rows cell for cell, beside the annotations.
    rows = bad[ROW_COLUMN].astype(int).to_numpy()
    pd.testing.assert_frame_equal(
        bad.drop(columns=[ROW_COLUMN, ERRORS_COLUMN]), source.iloc[rows].reset_index(drop=True)
    )
    good_rows = np.setdiff1d(np.arange(len(source)), rows)
    good_path = settings.folder("good_data") / batch.name
    if len(good_rows):
        pd.testing.assert_frame_equal(read_text_csv(good_path), source.iloc[good_rows].reset_index(drop=True))
    else:
        assert not good_path.exists()
    # Counts: stats row == ledger == what the files hold, per error type as the truth says.
    (stat,) = query(sqlite_url, "SELECT * FROM ingestion_stats")
    assert (stat["total_rows"], stat["valid_rows"], stat["invalid_rows"]) == (
        len(source),
        len(good_rows),
        len(rows),
    )
    truth_counts = Counter(t for types in expected.values() for t in types)
    assert outcome.error_types == dict(truth_counts)
    assert outcome.criticality == criticality(len(source), len(rows), schema_error=file_level)
    assert visible_files(settings.folder("raw_data")) == []
    assert visible_files(settings.data_path / "processing") == []


def test_clean_batch_passes_untouched(tmp_path: Path, db_url: str, clean_source: Path) -> None:
    settings = settings_for(tmp_path, db_url)
    drop(settings, clean_source, "batch_001.csv")

    result = ingest_once(settings)

    assert result.status == "ok" and result.exit_code == 0
    good = settings.folder("good_data") / "batch_001.csv"
    assert good.read_bytes() == clean_source.read_bytes()
    assert visible_files(settings.folder("bad_data")) == []
    (stat,) = query(db_url, "SELECT * FROM ingestion_stats")
    assert stat["filename"] == "batch_001.csv"
    assert (stat["valid_rows"], stat["invalid_rows"], stat["criticality"]) == (400, 0, "none")
    assert stat["data_docs_url"].startswith("/data-docs/validations/")
    page = settings.data_docs_path / stat["data_docs_url"].removeprefix("/data-docs/")
    assert page.is_file()
    (ledger,) = query(db_url, "SELECT * FROM ingested_files")
    assert ledger["state"] == "done" and ledger["ingestion_stat_id"] == stat["id"]


def _ragged(path: Path, clean: Path) -> None:
    lines = clean.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:5]) + lines[5].rstrip("\n") + ",extra,fields\n" + "".join(lines[6:]))


UNREADABLE = {
    "empty.csv": ("empty_file", lambda p, c: p.write_bytes(b"")),
    "header_only.csv": ("header_only", lambda p, c: p.write_text(c.read_text().splitlines()[0] + "\n")),
    "binary.csv": ("binary_content", lambda p, c: p.write_bytes(bytes(range(256)) * 40)),
    "latin1.csv": (
        "bad_encoding",
        lambda p, c: p.write_bytes(c.read_text().replace("Runbook", "Überprüfung", 1).encode("latin-1")),
    ),
    "semicolons.csv": ("wrong_delimiter", lambda p, c: p.write_text(c.read_text().replace(",", ";"))),
    "ragged.csv": ("parser_error", _ragged),
}


def test_unreadable_files_are_quarantined_with_reasons_and_never_block(
    tmp_path: Path, db_url: str, clean_source: Path
) -> None:
    settings = settings_for(tmp_path, db_url)
    made = tmp_path / "made"
    made.mkdir()
    for name, (_, write) in UNREADABLE.items():
        write(made / name, clean_source)
        drop(settings, made / name)
    drop(settings, clean_source, "zz_good_after.csv")  # processed after every broken one

    result = ingest_once(settings)

    assert result.status == "ok", result.errors
    states = {f.filename: f.state for f in result.files}
    assert states == {**{name: "quarantined" for name in UNREADABLE}, "zz_good_after.csv": "done"}
    bad = settings.folder("bad_data")
    for name, (code, _) in UNREADABLE.items():
        assert (bad / name).read_bytes() == (made / name).read_bytes()  # quarantined whole, unchanged
        assert f"reason_code: {code}" in (bad / f"{name}.reason.txt").read_text()
    stats = {row["filename"]: row for row in query(db_url, "SELECT * FROM ingestion_stats")}
    assert len(stats) == len(UNREADABLE) + 1
    for name in UNREADABLE:
        assert stats[name]["criticality"] == "high"
        assert stats[name]["error_types"] in ({"unreadable_file": 1}, '{"unreadable_file": 1}')
    reasons = {r["filename"]: r["reason"] for r in query(db_url, "SELECT * FROM ingested_files")}
    assert "semicolons" in reasons["semicolons.csv"]
    assert (settings.folder("good_data") / "zz_good_after.csv").read_bytes() == clean_source.read_bytes()


def test_schema_error_makes_every_row_bad(tmp_path: Path, sqlite_url: str, clean_source: Path) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    frame = read_text_csv(clean_source).drop(columns=["severity"])
    frame.to_csv(tmp_path / "no_severity.csv", index=False)
    drop(settings, tmp_path / "no_severity.csv")

    (outcome,) = ingest_once(settings).files

    assert (outcome.state, outcome.criticality, outcome.valid_rows) == ("done", "high", 0)
    assert outcome.error_types == {"missing_column": 400}
    bad = read_text_csv(settings.folder("bad_data") / "no_severity.csv")
    assert len(bad) == 400 and bad[ERRORS_COLUMN].str.contains("column_exists:severity").all()
    assert not (settings.folder("good_data") / "no_severity.csv").exists()


def test_same_content_dropped_again_is_not_counted_twice(
    tmp_path: Path, db_url: str, clean_source: Path
) -> None:
    settings = settings_for(tmp_path, db_url)
    drop(settings, clean_source, "batch_001.csv")
    assert ingest_once(settings).status == "ok"
    drop(settings, clean_source, "batch_001.csv")  # redelivered under the same name
    drop(settings, clean_source, "copy_of_batch_001.csv")  # and under another

    result = ingest_once(settings)

    assert result.status == "ok"
    assert {f.filename: f.state for f in result.files} == {
        "batch_001.csv": "duplicate",
        "copy_of_batch_001.csv": "duplicate",
    }
    assert len(query(db_url, "SELECT id FROM ingestion_stats")) == 1
    states = Counter(r["state"] for r in query(db_url, "SELECT state FROM ingested_files"))
    assert states == {"done": 1, "duplicate": 2}
    assert visible_files(settings.folder("archived_data")) == ["batch_001.csv", "copy_of_batch_001.csv"]
    assert visible_files(settings.folder("good_data")) == ["batch_001.csv"]


def test_a_name_collision_gets_a_suffix_and_both_are_kept(
    tmp_path: Path, sqlite_url: str, clean_source: Path, other_sources: list[Path]
) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    drop(settings, clean_source, "batch.csv")
    ingest_once(settings)
    drop(settings, other_sources[0], "batch.csv")  # new content, same name

    (outcome,) = ingest_once(settings).files

    good = visible_files(settings.folder("good_data"))
    assert len(good) == 2 and "batch.csv" in good
    (suffixed,) = set(good) - {"batch.csv"}
    assert suffixed.startswith("batch__") and suffixed.endswith(".csv")
    assert (settings.folder("good_data") / suffixed).read_bytes() == other_sources[0].read_bytes()
    assert outcome.good_path.endswith(suffixed)


def test_files_being_written_hidden_files_and_ground_truth_are_left_alone(
    tmp_path: Path, sqlite_url: str, clean_source: Path
) -> None:
    settings = settings_for(tmp_path, sqlite_url, ingest_settle_seconds=60)
    raw = settings.folder("raw_data")
    raw.mkdir(parents=True)
    shutil.copy(clean_source, raw / "fresh.csv")  # modified just now: maybe still being copied
    shutil.copy(clean_source, raw / ".partial.csv.tmp")
    (raw / "batch_001.injected.csv").write_text("row,column,error_type\n")
    old = raw / "settled.csv"
    shutil.copy(clean_source, old)
    os.utime(old, (1_700_000_000, 1_700_000_000))

    assert [p.name for p in pending_files(settings)] == ["settled.csv"]
    result = ingest_once(settings)

    assert [f.filename for f in result.files] == ["settled.csv"]
    assert sorted(p.name for p in raw.iterdir()) == [
        ".partial.csv.tmp",
        "batch_001.injected.csv",
        "fresh.csv",
    ]


def test_unusable_data_folder_fails_the_run_and_loses_nothing(
    tmp_path: Path, sqlite_url: str, clean_source: Path
) -> None:
    # As root, permissions stop nothing: a regular FILE where good_data/ should be does.
    settings = settings_for(tmp_path, sqlite_url)
    drop(settings, clean_source, "batch_001.csv")
    settings.data_path.joinpath("good_data").write_text("not a folder")

    result = ingest_once(settings)

    assert (result.status, result.exit_code) == ("error", 1)
    assert "data folders unusable" in result.errors[0]
    assert visible_files(settings.folder("raw_data")) == ["batch_001.csv"]  # never claimed

    settings.data_path.joinpath("good_data").unlink()
    retry = ingest_once(settings)
    assert retry.status == "ok" and [f.state for f in retry.files] == ["done"]
    assert len(query(sqlite_url, "SELECT id FROM ingestion_stats")) == 1


def test_a_failing_output_write_hands_the_file_back(
    tmp_path: Path, db_url: str, clean_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In process (the real disk-full case runs in test_crash.py under RLIMIT_FSIZE): ENOSPC on
    # the second output rolls back the first one, the ledger row and the claim.
    settings = settings_for(tmp_path, db_url)
    batch = tmp_path / "made" / "mixed.csv"
    corrupt_file(clean_source, batch, 0.1, seed=10)
    drop(settings, batch)
    drop(settings, clean_source, "after.csv")
    real = ingest._write_table
    calls = []

    def disk_full(table: object, target: Path, *, quoted: bool) -> None:
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(target))
        real(table, target, quoted=quoted)

    monkeypatch.setattr(ingest, "_write_table", disk_full)
    result = ingest_once(settings)

    assert (result.status, result.exit_code) == ("error", 1)
    assert [f.state for f in result.files] == ["released"]
    assert "No space left" in result.errors[0]
    assert visible_files(settings.folder("raw_data")) == ["after.csv", "mixed.csv"]  # untouched, retried
    assert visible_files(settings.folder("good_data")) == visible_files(settings.folder("bad_data")) == []
    assert query(db_url, "SELECT id FROM ingestion_stats") == []
    assert [r["state"] for r in query(db_url, "SELECT state FROM ingested_files")] == ["released"]

    monkeypatch.setattr(ingest, "_write_table", real)
    retry = ingest_once(settings)
    assert retry.status == "ok" and sorted(f.state for f in retry.files) == ["done", "done"]
    assert len(query(db_url, "SELECT id FROM ingestion_stats")) == 2
    assert Counter(r["state"] for r in query(db_url, "SELECT state FROM ingested_files")) == {
        "released": 1,
        "done": 2,
    }


class _Killed(BaseException):
    """Stands for a kill -9 at a given point (BaseException: no handler of the pipeline catches it)."""


KILL_POINTS = ["_register", "_validate", "_write_outputs", "_record", "_alert", "_finish"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_after_any_step_is_finished_exactly_once(
    tmp_path: Path, db_url: str, clean_source: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    settings = settings_for(tmp_path, db_url)
    batch = tmp_path / "made" / "batch.csv"
    corrupt_file(clean_source, batch, 0.2, seed=2)  # medium or high: an alert is owed
    drop(settings, batch)
    real = getattr(ingest, point)

    def die_after(*args: object, **kwargs: object) -> object:
        real(*args, **kwargs)
        raise _Killed(point)

    monkeypatch.setattr(ingest, point, die_after)
    with pytest.raises(_Killed):
        ingest_once(settings)
    monkeypatch.setattr(ingest, point, real)

    result = ingest_once(settings)

    assert result.status == "ok"
    finished = point == "_finish"  # killed after the last step: nothing is left to do
    assert [(f.state, f.recovered) for f in result.files] == ([] if finished else [("done", True)])
    source = read_text_csv(batch)
    good = read_text_csv(settings.folder("good_data") / "batch.csv")
    bad = read_text_csv(settings.folder("bad_data") / "batch.csv")
    assert len(good) + len(bad) == len(source)
    assert Counter(good["incident_id"]) + Counter(bad["incident_id"]) == Counter(source["incident_id"])
    assert len(query(db_url, "SELECT id FROM ingestion_stats")) == 1
    (ledger,) = query(db_url, "SELECT * FROM ingested_files")
    assert ledger["state"] == "done" and ledger["alerted_at"] is not None
    assert visible_files(settings.data_path / "processing") == []
    alerts = query(db_url, "SELECT status FROM alert_log")
    assert 1 <= len(alerts) <= 2  # at least once; twice only when killed between sending and marking


def test_requeue_brings_a_quarantined_file_back(tmp_path: Path, sqlite_url: str, clean_source: Path) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    (tmp_path / "semi.csv").write_text(clean_source.read_text().replace(",", ";"))
    drop(settings, tmp_path / "semi.csv")
    ingest_once(settings)
    quarantined = settings.folder("bad_data") / "semi.csv"
    quarantined.write_text(clean_source.read_text())  # fixed in place

    target = requeue(settings, "semi.csv")

    assert target == settings.folder("raw_data") / "semi.csv"
    assert not quarantined.exists() and not (settings.folder("bad_data") / "semi.csv.reason.txt").exists()
    (outcome,) = ingest_once(settings).files
    assert (outcome.state, outcome.valid_rows) == ("done", 400)
    with pytest.raises(FileNotFoundError):
        requeue(settings, "nothing.csv")


def test_requeued_bad_rows_drop_their_annotations(
    tmp_path: Path, sqlite_url: str, clean_source: Path
) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    batch = tmp_path / "made" / "mixed.csv"
    corrupt_file(clean_source, batch, 0.05, seed=1)
    drop(settings, batch)
    ingest_once(settings)
    first = read_text_csv(settings.folder("bad_data") / "mixed.csv")
    requeue(settings, "mixed.csv")

    (outcome,) = ingest_once(settings).files

    # Nothing was fixed, so every row is bad again, except the copies of duplicated incidents:
    # without their originals (which went to good_data) they are unique within this file.
    only_duplicates = int((first[ERRORS_COLUMN] == "unique_id:incident_id").sum())
    assert (outcome.state, outcome.total_rows, outcome.valid_rows) == ("done", len(first), only_duplicates)
    bad_files = visible_files(settings.folder("bad_data"))
    assert len(bad_files) == 1 and bad_files[0] != "mixed.csv"  # the requeued file is a new content
    again = read_text_csv(settings.folder("bad_data") / bad_files[0])
    assert list(again.columns).count(ROW_COLUMN) == 1 and list(again.columns).count(ERRORS_COLUMN) == 1


def test_one_run_at_a_time(tmp_path: Path, sqlite_url: str, clean_source: Path) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    drop(settings, clean_source)
    with job_lock("ingest", lock_dir=settings.data_path):
        result = ingest_once(settings)
    assert (result.status, result.exit_code, result.files) == ("busy", 75, [])
    assert ingest_once(settings).status == "ok"


def test_limit_and_stop_leave_the_rest_for_later(
    tmp_path: Path, sqlite_url: str, other_sources: list[Path]
) -> None:
    settings = settings_for(tmp_path, sqlite_url)
    for source in other_sources:
        drop(settings, source)
    assert len(ingest_once(settings, limit=1).files) == 1
    assert ingest_once(settings, should_stop=lambda: True).files == []
    assert len(ingest_once(settings).files) == 3
    assert visible_files(settings.folder("raw_data")) == []


def test_a_release_cut_short_is_taken_over_by_the_next_claim(
    tmp_path: Path, sqlite_url: str, clean_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Disk full, and the database down too while handing the file back: the file is back in
    # raw_data/ but its ledger row still says "claimed". The next claim of the content takes it over.
    from sqlalchemy.exc import OperationalError

    from outagecast.db import repository

    settings = settings_for(tmp_path, sqlite_url)
    drop(settings, clean_source, "batch.csv")
    real_copy, real_update = ingest._copy_atomic, repository.update_ingested_file

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    def db_down(*args: object, **kwargs: object) -> bool:
        raise OperationalError("UPDATE", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ingest, "_copy_atomic", full)
    monkeypatch.setattr(repository, "update_ingested_file", db_down)
    assert ingest_once(settings).status == "error"
    monkeypatch.setattr(ingest, "_copy_atomic", real_copy)
    monkeypatch.setattr(repository, "update_ingested_file", real_update)
    assert [r["state"] for r in query(sqlite_url, "SELECT state FROM ingested_files")] == ["claimed"]
    assert visible_files(settings.folder("raw_data")) == ["batch.csv"]

    (outcome,) = ingest_once(settings).files

    assert outcome.state == "done"
    (row,) = query(sqlite_url, "SELECT state, claim_id FROM ingested_files")
    assert row == {"state": "done", "claim_id": outcome.claim_id}
    assert (settings.folder("good_data") / "batch.csv").read_bytes() == clean_source.read_bytes()
