"""validate_frame: per-row verdicts from one GX run, error types, schema errors, duplicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outagecast import schema
from outagecast.datasets.corrupt import corrupt_file, read_ground_truth
from outagecast.validation import (
    Criticality,
    ErrorType,
    error_type_of_rule,
    read_incident_csv,
    validate_frame,
)

pytestmark = pytest.mark.usefixtures("gx_ready")


def _flagged_rows(report, error_type: ErrorType) -> list[int]:  # noqa: ANN001
    types = report.row_errors.map(lambda rules: {error_type_of_rule(r) for r in rules.split(";")})
    return sorted(int(i) for i in types.index[types.map(lambda found: error_type in found)])


def test_clean_batch_is_all_valid(clean_frame: pd.DataFrame) -> None:
    report = validate_frame(clean_frame)

    assert report.total_rows == len(clean_frame)
    assert report.valid_mask.dtype == bool and report.valid_mask.all()
    assert report.row_errors.empty
    assert report.error_counts == {}
    assert report.schema_errors == []
    assert report.criticality is Criticality.NONE
    assert report.data_docs_path is None


ROWS = [3, 17]


@pytest.mark.parametrize(
    ("error_type", "column", "value", "rule"),
    [
        (
            ErrorType.MISSING_VALUE,
            "number_of_customers_affected",
            pd.NA,
            "not_null:number_of_customers_affected",
        ),
        (ErrorType.MISSING_VALUE, "severity", pd.NA, "not_null:severity"),
        (ErrorType.OUT_OF_RANGE, "ticket_count", "-5", "between:ticket_count"),
        (ErrorType.OUT_OF_RANGE, "system_load_before_outage", "140.5", "between:system_load_before_outage"),
        (ErrorType.OUT_OF_RANGE, "end_time", "2001-01-01 00:00:00.000000", "end_after_start"),
        (ErrorType.INVALID_CATEGORY, "cloud_provider", "INVALID_CLOUD", "in_set:cloud_provider"),
        (ErrorType.INVALID_CATEGORY, "status", "Unknown", "in_set:status"),  # optional columns too
        (
            ErrorType.WRONG_TYPE,
            "system_load_before_outage",
            "NOT_A_NUMBER",
            "number_format:system_load_before_outage",
        ),
        (ErrorType.WRONG_TYPE, "ticket_count", "4.5", "number_format:ticket_count"),
        (ErrorType.WRONG_TYPE, "start_time", "yesterday", "timestamp_format:start_time"),
        (ErrorType.OUTLIER, "duration_minutes", "9999999", "plausible_max:duration_minutes"),
    ],
)
def test_injected_error_is_flagged_at_its_rows_only(
    clean_frame: pd.DataFrame, error_type: ErrorType, column: str, value: object, rule: str
) -> None:
    clean_frame.loc[ROWS, column] = value

    report = validate_frame(clean_frame)

    assert _flagged_rows(report, error_type) == ROWS
    assert report.row_errors.to_dict() == dict.fromkeys(ROWS, rule)
    assert np.flatnonzero(~report.valid_mask).tolist() == ROWS
    assert report.error_counts == {error_type: len(ROWS)}
    assert report.rule_counts == {rule: len(ROWS)}
    assert report.criticality is Criticality.LOW


def test_appended_duplicate_flags_only_the_copy(clean_frame: pd.DataFrame) -> None:
    frame = pd.concat([clean_frame, clean_frame.iloc[[5, 9]]], ignore_index=True)

    report = validate_frame(frame)

    copies = [len(clean_frame), len(clean_frame) + 1]
    assert report.row_errors.to_dict() == dict.fromkeys(copies, "unique_id:incident_id")
    assert report.error_counts == {ErrorType.DUPLICATE_ROW: 2}
    assert report.valid_mask[[5, 9]].all()


def test_repeated_id_keeps_only_its_first_row(clean_frame: pd.DataFrame) -> None:
    clean_frame.loc[[40, 80, 120], "incident_id"] = clean_frame.loc[10, "incident_id"]

    report = validate_frame(clean_frame)

    assert report.row_errors.index.tolist() == [40, 80, 120]
    assert report.error_counts == {ErrorType.DUPLICATE_ROW: 3}


def test_row_with_two_problems_lists_both_rules(clean_frame: pd.DataFrame) -> None:
    clean_frame.loc[8, "severity"] = "Apocalyptic"
    clean_frame.loc[8, "ticket_count"] = pd.NA

    report = validate_frame(clean_frame)

    # Rules are listed in suite order, which follows the schema's column order.
    assert report.row_errors.to_dict() == {8: "in_set:severity;not_null:ticket_count"}
    assert report.error_counts == {ErrorType.MISSING_VALUE: 1, ErrorType.INVALID_CATEGORY: 1}
    assert report.invalid_rows == 1


def test_wrong_type_is_not_also_out_of_range(clean_frame: pd.DataFrame) -> None:
    clean_frame.loc[2, "ticket_count"] = "-abc"
    clean_frame.loc[2, "duration_minutes"] = "1e99x"

    report = validate_frame(clean_frame)

    assert report.row_errors[2] == "number_format:duration_minutes;number_format:ticket_count"
    assert report.error_counts == {ErrorType.WRONG_TYPE: 1}


def test_missing_required_column_is_a_schema_error(clean_frame: pd.DataFrame) -> None:
    frame = clean_frame.drop(columns=["severity"])
    frame.loc[4, "cloud_provider"] = "INVALID_CLOUD"

    report = validate_frame(frame)

    assert report.schema_errors == ["severity"]
    assert report.criticality is Criticality.HIGH
    assert not report.valid_mask.any()
    assert report.error_counts[ErrorType.MISSING_COLUMN] == len(frame)
    assert (report.row_errors.drop(index=4) == "column_exists:severity").all()
    # Row-level rules on the columns that are there still run.
    assert report.row_errors[4] == "in_set:cloud_provider;column_exists:severity"
    assert report.error_counts[ErrorType.INVALID_CATEGORY] == 1


def test_missing_optional_and_unknown_columns_are_reported_not_errors(clean_frame: pd.DataFrame) -> None:
    frame = clean_frame.drop(columns=["notes", "status", "user_feedback_score"]).assign(comment="hi")

    report = validate_frame(frame)

    assert report.valid_mask.all()
    assert report.missing_optional_columns == ["status", "user_feedback_score", "notes"]
    assert report.unknown_columns == ["comment"]


def test_report_index_follows_the_callers_index(clean_frame: pd.DataFrame) -> None:
    frame = clean_frame.set_axis(clean_frame.index * 10 + 1000)
    frame.loc[1070, "severity"] = "Meh"

    report = validate_frame(frame)

    assert report.row_errors.index.tolist() == [1070]
    assert np.flatnonzero(~report.valid_mask).tolist() == [7]


def test_typed_frame_is_judged_by_its_text() -> None:
    from outagecast.datasets.generate import generate_incidents

    frame = generate_incidents(200, 11)
    frame.loc[[1, 2], "ticket_count"] = -1

    report = validate_frame(frame)

    assert report.row_errors.to_dict() == {1: "between:ticket_count", 2: "between:ticket_count"}


def test_empty_frame_is_valid_and_not_critical(clean_frame: pd.DataFrame) -> None:
    report = validate_frame(clean_frame.head(0))

    assert report.total_rows == 0 and report.criticality is Criticality.NONE


def test_half_bad_is_medium_and_majority_bad_is_high(clean_frame: pd.DataFrame) -> None:
    half = len(clean_frame) // 2
    clean_frame.loc[: half - 1, "severity"] = "Meh"
    assert validate_frame(clean_frame).criticality is Criticality.MEDIUM
    clean_frame.loc[half, "severity"] = "Meh"
    assert validate_frame(clean_frame).criticality is Criticality.HIGH


@pytest.mark.parametrize(("probability", "seed"), [(0.05, 1), (0.2, 2), (1.0, 3)])
def test_corrupted_file_matches_the_corruptors_ground_truth(
    clean_csv: Path, tmp_path: Path, probability: float, seed: int
) -> None:
    corrupted = corrupt_file(clean_csv, tmp_path / "corrupted.csv", probability=probability, seed=seed)
    truth = read_ground_truth(corrupted.ground_truth_path)
    file_level = truth["row"].isna()

    report = validate_frame(read_incident_csv(corrupted.output_path).frame)

    expected = truth[~file_level].groupby("row")["error_type"].agg(frozenset).to_dict()
    found = report.row_errors.map(
        lambda rules: frozenset(str(error_type_of_rule(r)) for r in rules.split(";"))
    )
    if file_level.any():
        missing = frozenset({"missing_column"})
        expected = {row: types | missing for row, types in expected.items()}
        expected |= {row: missing for row in range(corrupted.rows_out) if row not in expected}
        assert report.schema_errors == truth.loc[file_level, "column"].tolist()
    assert found.to_dict() == expected
    for error_type, count in report.error_counts.items():
        rows_in_truth = truth.loc[truth["error_type"] == error_type, "row"]
        assert count == (corrupted.rows_out if error_type == "missing_column" else rows_in_truth.nunique())


def test_batch_without_timestamps_is_a_schema_error_not_a_crash(clean_frame: pd.DataFrame) -> None:
    report = validate_frame(clean_frame.drop(columns=list(schema.TIMESTAMP_COLUMNS)))

    assert report.schema_errors == list(schema.TIMESTAMP_COLUMNS)
    assert (report.row_errors == "column_exists:start_time;column_exists:end_time").all()
