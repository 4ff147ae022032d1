"""Great Expectations Data Docs written per validation, under the folder the API serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from outagecast.validation import validate_frame
from outagecast.validation.docs import RESULTS_SUBDIR

pytestmark = pytest.mark.usefixtures("gx_ready")


def test_data_docs_page_is_written_and_indexed(clean_frame: pd.DataFrame, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    clean_frame.loc[3, "cloud_provider"] = "INVALID_CLOUD"

    first = validate_frame(clean_frame, data_docs_dir=docs, batch_name="batch_001.csv")
    second = validate_frame(clean_frame.head(10), data_docs_dir=docs, batch_name="batch_002.csv")

    for report in (first, second):
        assert report.data_docs_path is not None and not Path(report.data_docs_path).is_absolute()
        assert report.data_docs_path.startswith("validations/") and report.data_docs_path.endswith(".html")
        assert (docs / report.data_docs_path).is_file()
    assert "/batch_001.csv/" in first.data_docs_path
    page = (docs / first.data_docs_path).read_text(encoding="utf-8")
    assert "INVALID_CLOUD" in page
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert "batch_001.csv" in index and "batch_002.csv" in index
    suite_page = (docs / "expectations" / "outagecast_incidents.html").read_text(encoding="utf-8")
    assert "in_set:cloud_provider" in suite_page  # the expectations' notes name the OutageCast rules


def test_stored_results_are_trimmed(clean_frame: pd.DataFrame, tmp_path: Path) -> None:
    clean_frame["severity"] = "Meh"  # every row fails one expectation

    validate_frame(clean_frame, data_docs_dir=tmp_path, batch_name="all_bad.csv")

    (stored,) = (tmp_path / RESULTS_SUBDIR).rglob("*.json")
    severity = next(
        r["result"]
        for r in json.loads(stored.read_text())["results"]
        if r["expectation_config"]["meta"]["rule"] == "in_set:severity"
    )
    assert severity["unexpected_count"] == len(clean_frame)
    assert "unexpected_index_list" not in severity and "unexpected_list" not in severity
    assert len(severity["partial_unexpected_list"]) == 20


def test_batch_name_cannot_escape_the_docs_folder(clean_frame: pd.DataFrame, tmp_path: Path) -> None:
    report = validate_frame(
        clean_frame.head(5), data_docs_dir=tmp_path / "docs", batch_name="../../etc/x y.csv"
    )

    assert ".." not in report.data_docs_path.split("/")
    assert (tmp_path / "docs" / report.data_docs_path).resolve().is_relative_to((tmp_path / "docs").resolve())


def test_no_data_docs_without_a_folder(clean_frame: pd.DataFrame) -> None:
    assert validate_frame(clean_frame.head(5)).data_docs_path is None


@pytest.mark.slow  # a second process pays the Great Expectations import again
def test_pages_of_earlier_processes_survive(
    clean_csv: Path, clean_frame: pd.DataFrame, tmp_path: Path
) -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from outagecast.validation import read_incident_csv, validate_frame; "
        "r = validate_frame(read_incident_csv(sys.argv[1]).frame, data_docs_dir=Path(sys.argv[2]), "
        "batch_name='from_other_process.csv'); print(r.data_docs_path)"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, str(clean_csv), str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()

    mine = validate_frame(clean_frame.head(5), data_docs_dir=tmp_path, batch_name="from_this_process.csv")

    assert (tmp_path / other).is_file() and (tmp_path / mine.data_docs_path).is_file()
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "from_other_process.csv" in index and "from_this_process.csv" in index
