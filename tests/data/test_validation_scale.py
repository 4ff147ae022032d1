"""Reading and validating big batches stays fast and exact (the original design's 1M-row goal)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from outagecast.datasets.generate import generate_incidents
from outagecast.validation import Criticality, ErrorType, read_incident_csv, validate_frame

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("gx_ready")]


def _write_corrupted(path: Path, rows: int, bad_every: int) -> tuple[Path, np.ndarray]:
    frame = generate_incidents(rows, seed=2024)
    bad = np.arange(0, rows, bad_every)
    frame["severity"] = frame["severity"].astype(object)
    frame.loc[bad, "severity"] = "Apocalyptic"
    frame.loc[bad[::2], "ticket_count"] = -3
    # pyarrow writes 1M rows in seconds where pandas' to_csv needs ~15 s; the text is the same.
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path, bad


@pytest.mark.parametrize(("rows", "budget_seconds"), [(100_000, 20.0), (1_000_000, 60.0)])
def test_read_and_validate_big_batch(tmp_path: Path, rows: int, budget_seconds: float) -> None:
    path, bad = _write_corrupted(tmp_path / "big.csv", rows, bad_every=3)

    started = time.perf_counter()
    read = read_incident_csv(path)
    report = validate_frame(read.frame, batch_name=path.name)
    elapsed = time.perf_counter() - started

    assert read.ok
    assert report.total_rows == rows
    assert np.array_equal(np.flatnonzero(~report.valid_mask), bad)
    assert report.error_counts == {
        ErrorType.INVALID_CATEGORY: len(bad),
        ErrorType.OUT_OF_RANGE: len(bad[::2]),
    }
    both = report.row_errors.loc[bad[::2]]
    assert (both == "in_set:severity;between:ticket_count").all()
    assert report.criticality is Criticality.MEDIUM
    print(f"{rows} rows: read + validate {elapsed:.1f} s")
    assert elapsed < budget_seconds


def test_big_batch_with_mostly_bad_rows_assembles_fast(tmp_path: Path) -> None:
    rows = 1_000_000
    frame = pd.DataFrame({"incident_id": np.arange(rows).astype(str)}).astype("str")
    frame["severity"] = np.where(np.arange(rows) % 10 == 0, "Low", "Meh")

    started = time.perf_counter()
    report = validate_frame(frame)
    elapsed = time.perf_counter() - started

    # Every row lacks the other required columns: a schema error, and every row is bad.
    assert report.criticality is Criticality.HIGH and report.invalid_rows == rows
    assert report.error_counts[ErrorType.INVALID_CATEGORY] == rows - rows // 10
    assert report.row_errors.iloc[1].startswith("column_exists:cloud_provider;column_exists:region;")
    print(f"{rows} mostly-bad rows: validate {elapsed:.1f} s")
    assert elapsed < 60.0
