"""Ingestion meets a data folder it cannot write: the batch stays claimable, is retried, nothing is lost.

We run as root, so permissions (chmod) stop nothing. Two failures that do stop root:

- ``good_data`` is replaced by a regular file: every create under it fails (``ENOTDIR`` /
  ``EEXIST``), like a missing or unmounted volume; the run stops before claiming anything.
- A file-size limit (``RLIMIT_FSIZE``, enforced by the kernel for root too; Python ignores
  ``SIGXFSZ``, so the write fails with ``EFBIG``) smaller than the batch: the output write fails
  half-way, as on a full disk (``ENOSPC`` and ``EFBIG`` take the same path: an ``OSError`` from
  ``write``). Set in this process only for the duration of one ingestion run; a tmpfs or loop
  device of a few kB would need mount rights the test runner does not have.

In both cases the file must be back in ``raw_data/`` byte for byte, with no partial output and no
statistics recorded; once the folder is usable again the next run ingests it once, every row
accounted for.
"""

from __future__ import annotations

import resource
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from outagecast.datasets.generate import write_dataset
from outagecast.pipelines.ingest import ingest_once
from outagecast.settings import Settings
from outagecast.validation import warm_up

pytestmark = [pytest.mark.slow]

ROWS = 10_000  # ~3.9 MB: larger than anything else an ingestion run writes
# Between GX's largest Data Docs file (a 2.5 MB image copied on every docs build) and the batch's
# output: the limit hits this batch's good_data/ write, not the docs.
FILE_SIZE_LIMIT = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warm_up()  # GX context built before any limit is in force
    return write_dataset(tmp_path_factory.mktemp("src") / "batch_unwritable.csv", ROWS, 4242, progress=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # SQLite only: the database backend plays no part in a failing file write (PostgreSQL would add
    # 15 s of CI time for the same code path).
    return Settings(
        outagecast_home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'var' / 'oc.db'}",
        ingest_settle_seconds=0,
    )


def _deliver(settings: Settings, source: Path) -> Path:
    raw = settings.folder("raw_data")
    raw.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, raw / source.name))


def _rows(path: Path) -> int:
    return len(pd.read_csv(path)) if path.exists() else 0


def _assert_untouched(settings: Settings, delivered: Path, source: Path) -> None:
    assert delivered.read_bytes() == source.read_bytes(), "the batch must be back in raw_data/ unchanged"
    processing = settings.data_path / "processing"
    assert not processing.exists() or not [p for p in processing.iterdir() if not p.name.startswith(".")]
    for folder in ("good_data", "bad_data"):
        path = settings.folder(folder)  # type: ignore[arg-type]
        left = list(path.glob(f"*{delivered.stem}*")) + list(path.glob(".*.tmp"))
        assert not left, f"partial output left in {folder}/: {left}"


def _assert_ingested_once(settings: Settings, delivered: Path) -> None:
    result = ingest_once(settings)
    assert result.status == "ok", result.errors
    [outcome] = [f for f in result.files if f.state in ("done", "quarantined")]
    assert outcome.total_rows == ROWS
    assert not delivered.exists()
    good = _rows(settings.folder("good_data") / delivered.name)
    bad = _rows(settings.folder("bad_data") / delivered.name)
    assert (good, bad) == (outcome.valid_rows, outcome.invalid_rows)
    assert good + bad == ROWS, "every row ends in exactly one of good_data/ and bad_data/"
    again = ingest_once(settings)
    assert again.status == "ok" and again.files == [], "a second run must find nothing left to do"


def test_good_data_replaced_by_a_file_leaves_the_batch_claimable(settings: Settings, source: Path) -> None:
    delivered = _deliver(settings, source)
    good = settings.folder("good_data")
    good.parent.mkdir(parents=True, exist_ok=True)
    good.write_text("not a folder\n")  # what an unmounted volume or a mistaken `cp` leaves

    failed = ingest_once(settings)

    assert failed.status == "error"
    assert any("data folders unusable" in e for e in failed.errors), failed.errors
    print(f"run refused: {failed.errors}")
    assert delivered.read_bytes() == source.read_bytes()
    good.unlink()
    _assert_ingested_once(settings, delivered)


@contextmanager
def file_size_limit(max_bytes: int) -> Iterator[None]:
    """Files this process writes may not grow past ``max_bytes`` (kernel-enforced, root included)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_write_failing_half_way_releases_the_batch_for_a_retry(settings: Settings, source: Path) -> None:
    # A first, small batch ingested before the limit: database migrated, Data Docs site (with its
    # static images, megabytes) in place, so the limit hits this batch's own output writes.
    first = write_dataset(settings.data_path / "first.csv", 20, 1, progress=False)
    _deliver(settings, first)
    assert ingest_once(settings).status == "ok"
    delivered = _deliver(settings, source)
    assert source.stat().st_size > FILE_SIZE_LIMIT
    with file_size_limit(FILE_SIZE_LIMIT):
        failed = ingest_once(settings)

    assert failed.status == "error", failed
    [outcome] = failed.files
    assert outcome.state == "released"
    assert "File too large" in (outcome.reason or ""), outcome.reason
    assert outcome.filename == delivered.name
    assert "good_data" in (outcome.reason or ""), "the limit must hit the output write itself"
    print(f"released: {outcome.reason}")
    _assert_untouched(settings, delivered, source)
    _assert_ingested_once(settings, delivered)
