"""read_incident_csv: raw text frames, and a precise reason for every kind of unreadable file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outagecast import schema
from outagecast.validation import ReadProblem, read_incident_csv

HEADER = ",".join(schema.COLUMN_NAMES)


def _write(folder: Path, content: bytes | str, name: str = "batch.csv") -> Path:
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_read_clean_file_keeps_every_value_as_text(clean_csv: Path) -> None:
    result = read_incident_csv(clean_csv)

    assert result.ok and result.reason_code is None and result.reason is None
    frame = result.frame
    assert list(frame.columns) == list(schema.COLUMN_NAMES)
    assert all(dtype == "str" for dtype in frame.dtypes)
    raw = pd.read_csv(clean_csv, dtype=str, keep_default_na=False)
    # Verbatim text: "None" stays a category and integers keep their spelling.
    pd.testing.assert_frame_equal(frame.fillna(""), raw, check_dtype=False)


def test_read_only_empty_cells_become_null(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "incident_id,external_factors,ticket_count,notes\na,None,NA,null\nb,,NOT_A_NUMBER,\n"
    )

    frame = read_incident_csv(path).frame

    assert frame["external_factors"].tolist()[0] == "None"
    assert frame["ticket_count"].tolist() == ["NA", "NOT_A_NUMBER"]
    assert frame["notes"].iloc[0] == "null"
    assert frame["external_factors"].isna().tolist() == [False, True]
    assert frame["notes"].isna().tolist() == [False, True]


def test_read_accepts_utf8_with_bom_and_strips_header_names(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeffincident_id , severity\nabc,Low\n")

    result = read_incident_csv(path)

    assert result.ok
    assert list(result.frame.columns) == ["incident_id", "severity"]
    assert result.frame["incident_id"].tolist() == ["abc"]


def test_read_short_rows_are_kept_with_null_cells(tmp_path: Path) -> None:
    path = _write(tmp_path, "incident_id,severity,ticket_count\na,Low,3\nb,High\n")

    frame = read_incident_csv(path).frame

    assert frame["ticket_count"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    ("content", "code", "line"),
    [
        (b"", ReadProblem.EMPTY_FILE, None),
        (b"\n  \r\n\t\n", ReadProblem.EMPTY_FILE, None),
        (HEADER + "\n", ReadProblem.HEADER_ONLY, 2),
        (HEADER, ReadProblem.HEADER_ONLY, 2),
        (b"incident_id,severity\n\x00\x01\x02\x03abc,Low\n", ReadProblem.BINARY_CONTENT, 2),
        (gzip.compress((HEADER + "\n1,2\n").encode()), ReadProblem.BINARY_CONTENT, None),
        ("incident_id,root_cause_description\na,café crème\n".encode("latin-1"), ReadProblem.BAD_ENCODING, 2),
        ("incident_id,notes\na,ok\n".encode("utf-16"), ReadProblem.BAD_ENCODING, 1),
        ("incident_id;severity;ticket_count\na;Low;1,5\n", ReadProblem.WRONG_DELIMITER, 1),
        ("incident_id\tseverity\na\tLow\n", ReadProblem.WRONG_DELIMITER, 1),
        ("incident_id|severity\na|Low\n", ReadProblem.WRONG_DELIMITER, 1),
        ("incident_id,severity\na,Low\nb,High,surplus\nc,Low\n", ReadProblem.PARSER_ERROR, 3),
        ("incident_id,severity\na,Low,x\nb,High,y\n", ReadProblem.PARSER_ERROR, 2),
        ("foo,bar\n1,2\n", ReadProblem.NO_KNOWN_COLUMNS, 1),
    ],
    ids=[
        "empty",
        "blank-lines",
        "header-only",
        "header-only-no-newline",
        "nul-bytes",
        "gzip",
        "latin-1",
        "utf-16",
        "semicolon",
        "tab",
        "pipe",
        "ragged-row",
        "every-row-too-long",
        "no-known-columns",
    ],
)
def test_read_reports_reason(
    tmp_path: Path, content: bytes | str, code: ReadProblem, line: int | None
) -> None:
    result = read_incident_csv(_write(tmp_path, content))

    assert not result.ok and result.frame is None
    assert result.reason_code is code
    assert result.reason
    if line is not None:
        assert result.line == line
        if code in (ReadProblem.BAD_ENCODING, ReadProblem.PARSER_ERROR) and line > 1:
            assert f"line {line}" in result.reason


def test_read_ragged_row_reason_quotes_the_parser(tmp_path: Path) -> None:
    result = read_incident_csv(_write(tmp_path, "incident_id,severity\na,Low\nb,High,surplus\n"))

    assert "Expected 2 fields in line 3, saw 3" in result.reason


def test_read_missing_file_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    result = read_incident_csv(tmp_path / "absent.csv")

    assert result.reason_code is ReadProblem.UNREADABLE


def test_read_reason_codes_are_short_slugs() -> None:
    assert all(code.value.replace("_", "").isalpha() and code.value.islower() for code in ReadProblem)


_CSV_ALPHABET = st.sampled_from(
    [
        ",",
        ";",
        "\t",
        "|",
        "\n",
        "\r\n",
        '"',
        " ",
        "a",
        "1",
        "-",
        ".",
        "é",
        "\x00",
        "\ufeff",
        *schema.COLUMN_NAMES[:6],
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        st.binary(max_size=2_000),
        st.lists(_CSV_ALPHABET, max_size=300).map(lambda parts: "".join(parts).encode("utf-8")),
        st.text(max_size=500).map(lambda text: text.encode("utf-8", errors="surrogatepass")),
    )
)
def test_read_never_raises_on_arbitrary_bytes(tmp_path: Path, content: bytes) -> None:
    result = read_incident_csv(_write(tmp_path, content, "fuzz.csv"))

    assert result.ok != (result.reason_code is not None)
    if result.ok:
        assert len(result.frame) > 0
        assert set(result.frame.columns) & set(schema.COLUMN_NAMES)
    else:
        assert result.reason and isinstance(result.reason_code, ReadProblem)
