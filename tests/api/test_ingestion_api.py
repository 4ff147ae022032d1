"""GET /ingestion-stats, GET /ingestion-stats/{id}/bad-rows and Data Docs, on a live server per backend."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from outagecast.datasets.corrupt import corrupt_file
from outagecast.datasets.generate import write_dataset
from outagecast.pipelines.ingest import ERRORS_COLUMN, ROW_COLUMN, ingest_once
from outagecast.settings import Settings
from tests.api.conftest import TEST_DATASET_ROWS
from tests.utils.ingestion import drop, read_text_csv
from tests.utils.server import RunningServer


@dataclass
class Ingested:
    """A live API and the ingestion-stats ids of the files ingested into its database."""

    server: RunningServer
    settings: Settings
    ids: dict[str, int]  # file name -> ingestion_stats id


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def ingested(
    request: pytest.FixtureRequest, trained_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingested]:
    """A clean, a mixed and an unreadable file ingested into the database of the server on each backend."""
    backend = request.param
    server: RunningServer = request.getfixturevalue(f"{backend}_server")
    url = (
        f"sqlite:///{trained_home}/api.db" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    )
    # The API's settings (same home, hence the same data folder and Data Docs) on the same database.
    settings = Settings(
        outagecast_home=trained_home,
        database_url=url,
        dataset_rows=int(TEST_DATASET_ROWS),
        ingest_settle_seconds=0,
    )
    made = tmp_path_factory.mktemp(f"ingest-{backend}")
    clean = write_dataset(made / f"{backend}_clean.csv", 120, 5, progress=False)
    mixed = corrupt_file(clean, made / f"{backend}_mixed.csv", 0.3, seed=9).output_path
    (made / f"{backend}_broken.csv").write_bytes(b"\x00\x01binary\x00" * 100)
    for path in (clean, mixed, made / f"{backend}_broken.csv"):
        drop(settings, path)
    result = ingest_once(settings)
    assert result.status == "ok", result.errors
    yield Ingested(server, settings, {f.filename: f.ingestion_stat_id for f in result.files})


@pytest.fixture
def api(ingested: Ingested) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ingested.server.url, timeout=60) as client:
        yield client


def _mine(ingested: Ingested, rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["id"] in ingested.ids.values()]


def test_list_ingestion_stats_newest_first(ingested: Ingested, api: httpx.Client) -> None:
    response = api.get("/ingestion-stats", params={"limit": 500})

    assert response.status_code == 200
    rows = _mine(ingested, response.json())
    assert [r["filename"] for r in rows] == sorted(ingested.ids, key=ingested.ids.get, reverse=True)
    by_name = {r["filename"].split("_", 1)[1]: r for r in rows}
    assert set(by_name["clean.csv"]) >= {
        "id",
        "timestamp",
        "filename",
        "total_rows",
        "valid_rows",
        "invalid_rows",
        "criticality",
        "error_types",
        "data_docs_url",
    }
    assert (by_name["clean.csv"]["total_rows"], by_name["clean.csv"]["criticality"]) == (120, "none")
    assert by_name["clean.csv"]["bad_rows_url"] is None
    mixed = by_name["mixed.csv"]
    assert mixed["invalid_rows"] > 0 and sum(mixed["error_types"].values()) >= mixed["invalid_rows"]
    assert mixed["bad_rows_url"] == f"/ingestion-stats/{mixed['id']}/bad-rows"
    broken = by_name["broken.csv"]
    assert (broken["state"], broken["criticality"], broken["data_docs_url"]) == ("quarantined", "high", None)
    assert "binary" in broken["reason"]


def test_filters_criticality_dates_and_paging(ingested: Ingested, api: httpx.Client) -> None:
    high = _mine(ingested, api.get("/ingestion-stats", params={"criticality": "high", "limit": 500}).json())
    assert {r["criticality"] for r in high} == {"high"} and high
    today = datetime.now(UTC).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert api.get("/ingestion-stats", params={"start_date": tomorrow}).json() == []
    assert (
        len(_mine(ingested, api.get("/ingestion-stats", params={"end_date": today, "limit": 500}).json()))
        == 3
    )
    first = api.get("/ingestion-stats", params={"limit": 1}).json()
    second = api.get("/ingestion-stats", params={"limit": 1, "offset": 1}).json()
    assert len(first) == len(second) == 1 and first[0]["id"] != second[0]["id"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 501},
        {"limit": 0},
        {"offset": -1},
        {"criticality": "severe"},
        {"start_date": "2026-02-02", "end_date": "2026-02-01"},
    ],
)
def test_bad_query_parameters_are_rejected(api: httpx.Client, params: dict) -> None:
    assert api.get("/ingestion-stats", params=params).status_code == 422


def test_bad_rows_come_with_their_rows_and_reasons(ingested: Ingested, api: httpx.Client) -> None:
    name = next(n for n in ingested.ids if n.endswith("_mixed.csv"))

    body = api.get(f"/ingestion-stats/{ingested.ids[name]}/bad-rows", params={"limit": 1000}).json()

    on_disk = read_text_csv(ingested.settings.folder("bad_data") / name)
    assert (body["filename"], body["state"], body["invalid_rows"]) == (name, "done", len(on_disk))
    assert body["returned"] == len(on_disk) == len(body["rows"])
    assert ROW_COLUMN not in body["columns"] and "incident_id" in body["columns"]
    first = body["rows"][0]
    assert first["row"] == int(on_disk[ROW_COLUMN].iloc[0])
    assert first["errors"] == on_disk[ERRORS_COLUMN].iloc[0].split(";")
    assert first["values"]["incident_id"] == on_disk["incident_id"].iloc[0]
    limited = api.get(f"/ingestion-stats/{ingested.ids[name]}/bad-rows", params={"limit": 2}).json()
    assert limited["returned"] == 2 and limited["rows"] == body["rows"][:2]


def test_bad_rows_of_clean_and_quarantined_files(ingested: Ingested, api: httpx.Client) -> None:
    clean = next(i for n, i in ingested.ids.items() if n.endswith("_clean.csv"))
    broken = next(i for n, i in ingested.ids.items() if n.endswith("_broken.csv"))

    assert api.get(f"/ingestion-stats/{clean}/bad-rows").json()["rows"] == []
    body = api.get(f"/ingestion-stats/{broken}/bad-rows").json()
    assert (body["state"], body["rows"]) == ("quarantined", [])
    assert "binary" in body["reason"]


def test_bad_rows_of_unknown_or_removed_files_are_404(ingested: Ingested, api: httpx.Client) -> None:
    assert api.get("/ingestion-stats/999999999/bad-rows").status_code == 404
    name = next(n for n in ingested.ids if n.endswith("_mixed.csv"))
    bad = ingested.settings.folder("bad_data") / name
    kept = bad.with_name(".kept")
    shutil.move(bad, kept)
    try:
        response = api.get(f"/ingestion-stats/{ingested.ids[name]}/bad-rows")
        assert response.status_code == 404 and "gone" in response.json()["detail"]
    finally:
        shutil.move(kept, bad)


def test_data_docs_are_served(ingested: Ingested, api: httpx.Client) -> None:
    stats = _mine(ingested, api.get("/ingestion-stats", params={"limit": 500}).json())
    url = next(r["data_docs_url"] for r in stats if r["data_docs_url"])

    page = api.get(url)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "outagecast_incidents" in page.text
    index = api.get("/data-docs/index.html")
    assert index.status_code == 200 and "<html" in index.text.lower()


def test_openapi_documents_the_ingestion_endpoints(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert "/ingestion-stats" in paths and "/ingestion-stats/{stat_id}/bad-rows" in paths
