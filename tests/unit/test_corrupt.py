"""The corruptor: injected errors and their ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outagecast import schema
from outagecast.datasets.corrupt import (
    INJECTION_COLUMNS,
    INVALID_CATEGORY_VALUE,
    OUTLIER_VALUE,
    WRONG_TYPE_VALUE,
    ErrorType,
    corrupt_file,
    read_ground_truth,
)
from outagecast.datasets.generate import write_dataset

ROWS = 2_000


@pytest.fixture(scope="module")
def clean_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("clean") / "clean.csv", ROWS, seed=11, progress=False)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _rows(truth: pd.DataFrame, error: ErrorType) -> set[int]:
    return set(truth.loc[truth["error_type"] == error.value, "row"].astype(int))


def test_error_type_names() -> None:
    assert [e.value for e in ErrorType] == [
        "missing_value",
        "out_of_range",
        "invalid_category",
        "missing_column",
        "wrong_type",
        "duplicate_row",
        "outlier",
    ]


def test_ground_truth_matches_the_file(clean_csv: Path, tmp_path: Path) -> None:
    report = corrupt_file(clean_csv, tmp_path / "bad.csv", 0.1, seed=3)
    out = _read(report.output_path)
    clean = _read(clean_csv)
    truth = read_ground_truth(report.ground_truth_path)
    assert report.ground_truth_path == tmp_path / "bad.injected.csv"
    assert list(truth.columns) == ["row", "column", "error_type"]

    # Each marker in the file is listed, and nothing else (copies inherit their source's errors).
    assert _rows(truth, ErrorType.MISSING_VALUE) == set(
        np.flatnonzero(out["number_of_customers_affected"] == "")
    )
    assert _rows(truth, ErrorType.INVALID_CATEGORY) == set(
        np.flatnonzero(out["cloud_provider"] == INVALID_CATEGORY_VALUE)
    )
    assert _rows(truth, ErrorType.WRONG_TYPE) == set(
        np.flatnonzero(out["system_load_before_outage"] == WRONG_TYPE_VALUE)
    )
    assert _rows(truth, ErrorType.OUTLIER) == set(np.flatnonzero(out["duration_minutes"] == OUTLIER_VALUE))
    tickets = out["ticket_count"].astype(int)
    assert _rows(truth, ErrorType.OUT_OF_RANGE) == set(np.flatnonzero(tickets < 0))
    assert (tickets[tickets < 0] >= -100).all()

    # Duplicates are appended copies of rows of the file (same incident id).
    copies = sorted(_rows(truth, ErrorType.DUPLICATE_ROW))
    assert copies == list(range(ROWS, len(out)))
    first_rows = out.iloc[:ROWS]
    for row in copies:
        source = first_rows.index[first_rows["incident_id"] == out.at[row, "incident_id"]]
        assert len(source) == 1
        assert out.iloc[row].equals(out.iloc[source[0]])
    # Untouched cells are the clean file's, verbatim.
    untouched = [c for c in clean.columns if c not in INJECTION_COLUMNS.values()]
    pd.testing.assert_frame_equal(first_rows[untouched], clean[untouched])

    # Columns recorded per error type, and the report agrees with the ground truth.
    assert set(truth.loc[truth["error_type"] == "missing_value", "column"]) == {
        "number_of_customers_affected"
    }
    assert set(truth.loc[truth["error_type"] == "duplicate_row", "column"]) == {""}
    assert report.counts == {e: int((truth["error_type"] == e.value).sum()) for e in ErrorType}
    assert report.rows_in == ROWS and report.rows_out == len(out) == ROWS + len(copies)
    assert report.bad_rows == truth["row"].nunique()
    # Each row-level error happens with about the asked probability (copies excluded).
    for error in (ErrorType.MISSING_VALUE, ErrorType.OUT_OF_RANGE, ErrorType.OUTLIER):
        assert 0.06 * ROWS < len([r for r in _rows(truth, error) if r < ROWS]) < 0.14 * ROWS
    assert 0.06 * ROWS < len(copies) < 0.14 * ROWS


def test_missing_column_is_a_file_level_record(clean_csv: Path, tmp_path: Path) -> None:
    report = corrupt_file(clean_csv, tmp_path / "bad.csv", 1.0, seed=1)
    out = _read(report.output_path)
    truth = read_ground_truth(report.ground_truth_path)
    assert "severity" not in out.columns
    assert len(out.columns) == len(schema.COLUMN_NAMES) - 1
    file_level = truth[truth["error_type"] == "missing_column"]
    assert len(file_level) == 1
    assert file_level["row"].isna().all() and file_level["column"].tolist() == ["severity"]
    assert report.counts[ErrorType.MISSING_COLUMN] == 1
    assert len(out) == 2 * ROWS  # every row duplicated
    raw = report.ground_truth_path.read_text(encoding="utf-8").splitlines()
    assert raw[0] == "row,column,error_type" and raw[1] == ",severity,missing_column"


def test_zero_probability_copies_the_file(clean_csv: Path, tmp_path: Path) -> None:
    report = corrupt_file(clean_csv, tmp_path / "same.csv", 0.0, seed=1)
    pd.testing.assert_frame_equal(_read(report.output_path), _read(clean_csv))
    assert len(read_ground_truth(report.ground_truth_path)) == 0
    assert report.total_errors == 0


def test_same_seed_same_corruption(clean_csv: Path, tmp_path: Path) -> None:
    a = corrupt_file(clean_csv, tmp_path / "a.csv", 0.2, seed=9)
    b = corrupt_file(clean_csv, tmp_path / "b.csv", 0.2, seed=9)
    assert a.output_path.read_bytes() == b.output_path.read_bytes()
    assert a.ground_truth_path.read_bytes() == b.ground_truth_path.read_bytes()


def test_probability_must_be_a_probability(clean_csv: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        corrupt_file(clean_csv, tmp_path / "x.csv", 1.5)
