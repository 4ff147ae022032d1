"""Checking uploaded CSVs: every row is either sent or listed with its reason."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from outagecast import schema
from outagecast.clients.api import ApiError, ApiUnavailable
from outagecast.webapp.csv_batch import (
    REQUIRED_FEATURES,
    BatchRun,
    check_csv,
    predict_checked,
)

GOOD = {
    "cloud_provider": "AWS",
    "service": "Compute",
    "severity": "High",
    "start_time": "2025-06-30 10:18:08.524480",
    "system_load_before_outage": "75",
    "number_of_customers_affected": "1200",
    "ticket_count": "35",
    "backup_system_triggered": "Yes",
}


def _csv(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    frame = pd.DataFrame(rows, columns=columns or list(GOOD))
    return frame.to_csv(index=False).encode()


def test_a_good_feature_file_becomes_request_rows() -> None:
    check = check_csv(_csv([GOOD, {**GOOD, "severity": "Low"}]), "ok.csv")
    assert check.fatal is None and check.problems == []
    assert check.good_rows == [1, 2]
    first = check.requests[0]
    assert first == {
        "cloud_provider": "AWS",
        "service": "Compute",
        "severity": "High",
        "start_time": "2025-06-30T10:18:08.524480+00:00",  # naive means UTC, as in the API
        "system_load_before_outage": 75.0,
        "number_of_customers_affected": 1200,
        "ticket_count": 35,
        "backup_system_triggered": "Yes",
    }
    assert isinstance(first["number_of_customers_affected"], int)


def test_the_forty_column_dataset_format_is_accepted() -> None:
    from outagecast.datasets.generate import generate_incidents

    frame = generate_incidents(20, seed=7)
    assert list(frame.columns) == list(schema.COLUMN_NAMES)
    check = check_csv(frame.to_csv(index=False).encode(), "dataset.csv")
    assert check.fatal is None, check.fatal
    assert check.problems == []
    assert len(check.requests) == 20
    assert set(check.requests[0]) == set(schema.FEATURES)
    assert any("ignored" in note for note in check.notes)


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("severity", "Extreme", "unknown category"),
        ("cloud_provider", "", "missing value"),
        ("backup_system_triggered", "maybe", "unknown category"),
        ("number_of_customers_affected", "lots", "not a number"),
        ("number_of_customers_affected", "12.5", "not a whole number"),
        ("ticket_count", "-1", "out of range"),
        ("system_load_before_outage", "abc", "not a number"),
        ("system_load_before_outage", "101", "out of range"),
        ("start_time", "yesterday-ish", "not a date and time"),
    ],
)
def test_a_bad_value_names_column_and_row_and_keeps_the_good_rows(
    column: str, value: str, problem: str
) -> None:
    rows = [GOOD, {**GOOD, column: value}, GOOD]
    check = check_csv(_csv(rows), "bad.csv")
    assert check.fatal is None
    assert check.good_rows == [1, 3]
    assert check.bad_rows == [2]
    (message,) = check.summary()
    assert f"Column '{column}'" in message and "row 2" in message and problem in message
    if value:
        assert repr(value) in message
    assert check.problems_frame().to_dict("records")[0]["Line in file"] == 3


def test_allowed_categories_come_from_the_schema() -> None:
    check = check_csv(_csv([{**GOOD, "severity": "Extreme"}]))
    assert ", ".join(schema.SEVERITIES) in check.summary()[0]


def test_optional_blanks_are_fine_and_explained() -> None:
    check = check_csv(_csv([{**GOOD, "start_time": "", "system_load_before_outage": ""}]))
    assert check.problems == []
    assert "start_time" not in check.requests[0] or check.requests[0]["start_time"] is None
    assert check.requests[0]["system_load_before_outage"] is None
    assert any("system_load_before_outage" in n and "50" in n for n in check.notes)


def test_optional_columns_may_be_absent() -> None:
    columns = list(REQUIRED_FEATURES)
    check = check_csv(_csv([{c: GOOD[c] for c in columns}], columns))
    assert check.fatal is None and check.good_rows == [1]
    assert set(check.requests[0]) == set(REQUIRED_FEATURES)
    assert sum("No '" in n for n in check.notes) == 2


def test_a_missing_required_column_is_fatal_and_named() -> None:
    columns = [c for c in GOOD if c != "ticket_count"]
    check = check_csv(_csv([GOOD], columns), "short.csv")
    assert check.fatal is not None
    assert "'ticket_count'" in check.fatal and "short.csv" in check.fatal
    assert check.requests == []


def test_a_wrongly_cased_column_gets_a_hint() -> None:
    data = _csv([GOOD]).replace(b"severity", b"Severity", 1)
    check = check_csv(data)
    assert "case-sensitive" in (check.fatal or "") and "'Severity'" in check.fatal


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a text file"),
        (b'a,b\n1,"unterminated\n', "could not be read as CSV"),
        (_csv([], list(GOOD)), "no rows"),
    ],
)
def test_unreadable_files_say_why(data: bytes, words: str) -> None:
    check = check_csv(data, "x.csv")
    assert check.fatal is not None and words in check.fatal


def test_excel_bom_and_padding_are_tolerated() -> None:
    text = _csv([GOOD]).decode().replace("AWS", " AWS ")
    check = check_csv(b"\xef\xbb\xbf" + text.encode())
    assert check.fatal is None and check.problems == []


def test_rejected_frame_lists_every_bad_row_with_reasons() -> None:
    check = check_csv(_csv([GOOD, {**GOOD, "severity": "X", "ticket_count": "y"}, GOOD]))
    rejected = check.rejected_frame()
    assert rejected["row"].tolist() == [2]
    assert "severity: unknown category" in rejected.at[0, "problems"]
    assert "ticket_count: not a number" in rejected.at[0, "problems"]
    assert len(check.good_rows) + len(check.bad_rows) == check.total_rows  # nothing dropped


def test_many_bad_rows_are_summarised() -> None:
    rows = [{**GOOD, "severity": "X"}] * 40
    message = check_csv(_csv(rows)).summary()[0]
    assert "rows 1, 2, 3" in message and "and 25 more" in message


# ---------------------------------------------------------------- sending


def _fake_predict(fail_at_call: int | None = None, reject_row: int | None = None, chunk: int = 2):
    """A predict function like data.predict: chunked, with partial results on failure."""
    calls = {"n": 0}

    def predict(rows, on_chunk):
        calls["n"] += 1
        done: list[dict] = []
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            if fail_at_call == calls["n"] and start > 0:
                raise ApiUnavailable("down", partial_results=done)
            if reject_row is not None and calls["n"] == 1 and start <= reject_row < start + chunk:
                detail = [{"loc": ["body", "features", reject_row - start, "ticket_count"], "msg": "too big"}]
                raise ApiError(422, detail, partial_results=done, row_offset=start)
            done.extend({**r, "predicted_hours": 1.0} for r in part)
            if on_chunk:
                on_chunk(len(done), len(rows))
        return done

    return predict, calls


def test_predict_checked_predicts_every_good_row() -> None:
    check = check_csv(_csv([GOOD] * 5))
    predict, _ = _fake_predict()
    run = predict_checked(check, predict)
    assert run.error is None and sorted(run.predictions) == [1, 2, 3, 4, 5]


def test_a_failure_keeps_what_was_stored_and_a_retry_sends_only_the_rest() -> None:
    check = check_csv(_csv([{**GOOD, "ticket_count": str(i)} for i in range(5)]))
    predict, calls = _fake_predict(fail_at_call=1)
    run = predict_checked(check, predict)
    assert isinstance(run.error, ApiUnavailable)
    assert sorted(run.predictions) == [1, 2]
    assert run.pending(check) == [3, 4, 5]
    run = predict_checked(check, predict, run)
    assert run.error is None
    assert [run.predictions[r]["ticket_count"] for r in range(1, 6)] == [0, 1, 2, 3, 4]
    assert calls["n"] == 2


def test_rows_the_api_rejects_become_problems_and_the_rest_is_sent() -> None:
    check = check_csv(_csv([GOOD] * 5))
    predict, _ = _fake_predict(reject_row=3)
    run = predict_checked(check, predict, BatchRun())
    assert run.error is None
    assert sorted(run.predictions) == [1, 2, 3, 5]
    assert check.bad_rows == [4]
    assert "rejected by the API" in check.summary()[0] and "row 4" in check.summary()[0]


def test_read_back_of_the_problem_table_is_a_real_csv() -> None:
    check = check_csv(_csv([GOOD, {**GOOD, "service": "Teleport"}]))
    frame = pd.read_csv(io.StringIO(check.rejected_frame().to_csv(index=False)))
    assert frame.loc[0, "service"] == "Teleport"
