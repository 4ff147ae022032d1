"""The Data quality page with AppTest against the real API, after real ingestion runs."""

from __future__ import annotations

from datetime import date

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from outagecast.webapp.formatting import rule_words
from outagecast.webapp.ui import DATA_QUALITY_PAGE
from tests.utils.server import RunningServer
from tests.webapp.conftest import CLEAN_FILE, CORRUPT_FILE, UNREADABLE_FILE
from tests.webapp.helpers import assert_no_iso, chart, metrics, open_page, table


def _stats(url: str) -> dict[str, dict]:
    response = httpx.get(f"{url}/ingestion-stats", params={"limit": 500}, timeout=30)
    assert response.status_code == 200, response.text
    return {s["filename"]: s for s in response.json()}


def _files(app: AppTest) -> pd.DataFrame:
    return table(app, "filename").set_index("filename")


def test_data_quality_lists_ingested_files_with_their_statistics(
    app: AppTest, api_server: RunningServer, ingested: dict[str, dict]
) -> None:
    open_page(app, DATA_QUALITY_PAGE)
    assert not app.exception and not app.error
    stats = _stats(api_server.url)
    files = _files(app)
    for name in (CLEAN_FILE, UNREADABLE_FILE, CORRUPT_FILE):
        shown, api = files.loc[name], stats[name]
        assert (shown["total_rows"], shown["valid_rows"], shown["invalid_rows"]) == (
            api["total_rows"],
            api["valid_rows"],
            api["invalid_rows"],
        )
        assert shown["criticality"] == [api["criticality"]]
    assert files.loc[CLEAN_FILE, "criticality"] == ["none"]
    assert files.loc[CORRUPT_FILE, "invalid_rows"] > 0
    assert "Missing value" in files.loc[CORRUPT_FILE, "error_types"]
    assert files.loc[UNREADABLE_FILE, "note"].startswith("Rejected whole:")
    assert str(files["timestamp"].dt.tz) == "Europe/Paris"
    # Newest first: the corrupted batch was ingested last.
    assert files.index[0] == CORRUPT_FILE

    # Each file's Data Docs page is a link on the API, and the API serves it.
    link = files.loc[CORRUPT_FILE, "data_docs"]
    assert link == api_server.url + stats[CORRUPT_FILE]["data_docs_url"]
    page = httpx.get(link, timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert pd.isna(files.loc[UNREADABLE_FILE, "data_docs"])  # never validated: no report

    shown = metrics(app)
    assert int(shown["Files"].replace(",", "")) == len(files)
    assert int(shown["Invalid rows"].replace(",", "")) == int(files["invalid_rows"].sum())
    rows = {t["name"]: t for t in chart(app, "dq_rows_chart")["data"]}
    assert set(rows) == {"valid rows", "invalid rows"}
    crit = chart(app, "dq_crit_chart")["data"][0]
    assert crit["x"] == ["none", "low", "medium", "high"] and sum(crit["y"]) == len(files)
    assert chart(app, "dq_types_chart")["data"][0]["y"]
    assert_no_iso(app)


def test_bad_rows_of_a_file_with_their_reasons(
    app: AppTest, api_server: RunningServer, ingested: dict[str, dict]
) -> None:
    stat = _stats(api_server.url)[CORRUPT_FILE]
    open_page(app, DATA_QUALITY_PAGE)
    app.selectbox(key="dq_file").set_value(stat["id"]).run()
    assert not app.exception and not app.error
    answer = httpx.get(f"{api_server.url}/ingestion-stats/{stat['id']}/bad-rows", timeout=30).json()
    bad = table(app, "problems")
    assert len(bad) == answer["returned"] == stat["invalid_rows"]
    # Rows numbered from 1 (the first under the header), every broken rule in words.
    assert bad["row"].tolist() == [r["row"] + 1 for r in answer["rows"]]
    assert bad["problems"].tolist() == ["; ".join(rule_words(e) for e in r["errors"]) for r in answer["rows"]]
    assert bad.columns[:4].tolist() == ["row", "problems", "incident_id", "cloud_provider"]
    assert [b.label for b in app.get("link_button")] == ["Open its Data Docs report"]


def test_a_file_rejected_whole_says_why(
    app: AppTest, api_server: RunningServer, ingested: dict[str, dict]
) -> None:
    stat = _stats(api_server.url)[UNREADABLE_FILE]
    open_page(app, DATA_QUALITY_PAGE)
    app.selectbox(key="dq_file").set_value(stat["id"]).run()
    assert not app.exception
    assert "The whole file was rejected" in app.error[0].value
    assert stat["reason"].rstrip(".") in app.error[0].value


def test_criticality_filter(app: AppTest, ingested: dict[str, dict]) -> None:
    open_page(app, DATA_QUALITY_PAGE)
    app.segmented_control(key="dq_criticality").set_value("none").run()
    assert not app.exception
    files = _files(app)
    assert CLEAN_FILE in files.index and CORRUPT_FILE not in files.index
    assert all(c == ["none"] for c in files["criticality"])
    assert "Every row of these files passed validation." in app.success[-1].value

    app.segmented_control(key="dq_criticality").set_value("high").run()
    files = _files(app)
    assert {UNREADABLE_FILE} <= set(files.index) and CLEAN_FILE not in files.index


def test_no_matching_files_says_how_files_get_there(app: AppTest, ingested: dict[str, dict]) -> None:
    open_page(app, DATA_QUALITY_PAGE)
    app.date_input(key="dq_dates").set_value((date(2020, 1, 1), date(2020, 1, 31))).run()
    assert not app.exception and not app.error
    assert "No ingested files match these filters" in app.info[0].value
    assert not [d for d in app.dataframe]


@pytest.mark.parametrize("retry", [False, True])
def test_data_quality_with_the_api_down(down_app: AppTest, retry: bool) -> None:
    open_page(down_app, DATA_QUALITY_PAGE)
    if retry:
        down_app.button(key="dq_retry").click().run()
    assert not down_app.exception
    assert "Could not load the ingestion statistics" in down_app.error[0].value
    assert "not answering" in down_app.error[0].value
