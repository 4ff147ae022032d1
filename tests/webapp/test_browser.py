"""End to end in a real browser: Debian's headless chromium, the real API and the real web app.

Every wait is on something the page shows (Playwright's auto-waiting locators and
``expect``), never a sleep. Screenshots of each page go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from outagecast import schema
from outagecast.webapp.formatting import (
    format_duration,
    format_hours,
    format_interval,
    format_timestamp,
    label,
    resolve_timezone,
)
from outagecast.webapp.launch import run_ui, stop_ui, wait_until_ready
from tests.utils.server import RunningServer, free_port
from tests.webapp.conftest import VIEWER_TIMEZONE, corrupted_csv, ingest
from tests.webapp.test_monitoring_page import seed_api_database

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Tall enough that each page fits in one screenshot (Streamlit scrolls inside its own container).
VIEWPORT = {"width": 1400, "height": 1800}
WAIT_MS = 60_000  # the upper bound of any single wait; the first prediction may wait on the API
TZ = resolve_timezone(VIEWER_TIMEZONE)
ISO_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z\b")


@pytest.fixture(scope="module")
def screenshots(repo_root: Path) -> Path:
    folder = repo_root / "test-output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def webapp_url(api_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web app started the way ``outagecast ui`` starts it, talking to the real API."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("webapp") / "streamlit.log"
    with open(log_path, "wb") as log:
        process = run_ui(port, api_server.url, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(url, process=process, timeout=60)
        except (RuntimeError, TimeoutError) as exc:
            stop_ui(process)
            pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')}")
        yield url
        stop_ui(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    expect.set_options(timeout=WAIT_MS)  # assertions wait as long as actions may
    if not CHROMIUM.exists():  # CI installs it (make system-deps); never download a browser
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (`make system-deps`)")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, webapp_url: str) -> Iterator[object]:
    context = browser.new_context(viewport=VIEWPORT, timezone_id=VIEWER_TIMEZONE, locale="en-GB")
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(webapp_url)
    yield page
    context.close()


def _metric_value(page, label: str) -> str:
    metric = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    value = metric.get_by_test_id("stMetricValue")
    expect(value).to_be_visible()
    return value.inner_text().strip()


def _main_text(page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def _wait_until_idle(page) -> None:
    """Streamlit shows a status widget while a script runs; wait until it is gone."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)


def _wait_for_past_filters(page) -> None:
    """The filter widgets load their code lazily (skeletons until then): wait for each one."""
    filters = page.locator(".st-key-past_filters")
    expect(filters.get_by_role("group", name="Predicted between end date")).to_be_visible()
    expect(filters.get_by_role("radio", name="scheduled")).to_be_visible()
    expect(filters.get_by_role("textbox", name="Model version")).to_be_visible()
    expect(filters.get_by_role("switch", name="Anomalies only")).to_be_visible()


def _predict_via_api(url: str, row: dict) -> dict:
    response = httpx.post(f"{url}/predict", json={"features": [row], "source": "webapp"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]


def _choose(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def _set_start(page, when: datetime) -> None:
    field = page.get_by_test_id("stDateTimeInput")
    for part, value in (
        ("year", f"{when:%Y}"),
        ("month", f"{when:%m}"),
        ("day", f"{when:%d}"),
        ("hour", f"{when:%H}"),
        ("minute", f"{when:%M}"),
    ):
        field.get_by_role("spinbutton", name=f"{part}, Outage start").click()
        page.keyboard.type(value)
    expect(field.get_by_role("spinbutton", name="minute, Outage start")).to_have_text(f"{when:%M}")


def test_home_shows_the_api_status(page, api_server: RunningServer, screenshots: Path) -> None:
    version = httpx.get(f"{api_server.url}/health").json()["model_version"]
    expect(page.get_by_role("heading", name="OutageCast")).to_be_visible()
    assert _metric_value(page, "API") == "Healthy"
    assert _metric_value(page, "Model version") == version
    expect(page.get_by_text("The API is up and ready to predict.")).to_be_visible()
    _wait_until_idle(page)
    page.mouse.move(0, 0)
    page.screenshot(path=screenshots / "home.png")


def test_form_shows_the_duration_the_api_predicts(page, api_server: RunningServer, screenshots: Path) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Predict", exact=True).click()
    expect(page.get_by_role("heading", name="Predict outage duration")).to_be_visible()
    start = datetime(2025, 3, 4, 14, 30)
    _choose(page, "Cloud provider", "GCP")
    _choose(page, "Service", "Database")
    _choose(page, "Severity", "Critical")
    _set_start(page, start)
    page.get_by_label("System load before the outage (%)", exact=True).fill("75")
    page.get_by_label("Customers affected", exact=True).fill("1200")
    page.get_by_label("Support tickets", exact=True).fill("35")
    page.get_by_test_id("stRadio").get_by_text("Yes", exact=True).click()
    page.get_by_role("button", name="Predict", exact=True).click()
    shown_duration = _metric_value(page, "Predicted duration")
    shown_end = _metric_value(page, "Predicted end")

    # The same input straight to the API: 14:30 in Paris (CET) is 13:30 UTC.
    expected = _predict_via_api(
        api_server.url,
        {
            "cloud_provider": "GCP",
            "service": "Database",
            "severity": "Critical",
            "start_time": "2025-03-04T14:30:00+01:00",
            "system_load_before_outage": 75,
            "number_of_customers_affected": 1200,
            "ticket_count": 35,
            "backup_system_triggered": "Yes",
        },
    )
    assert shown_duration == format_duration(expected["predicted_hours"])
    assert shown_end == format_timestamp(expected["predicted_end_time"], TZ)
    result = page.locator(".st-key-predict_result")
    expect(result).to_contain_text(format_hours(expected["predicted_hours"]))
    expect(result).to_contain_text("Outage start: Tue 4 Mar 2025, 14:30 CET")
    expect(result).to_contain_text("Anomaly: longer than" if expected["is_anomaly"] else "Normal: within")
    # The interval in words, "3.4 h, likely 2.1–5.0 h".
    interval = format_interval(
        expected["predicted_hours"], expected["predicted_hours_low"], expected["predicted_hours_high"]
    )
    expect(result).to_contain_text(interval)
    # The drivers, as a bar chart labelled in plain words.
    drivers = result.locator(".st-key-predict_explanation .js-plotly-plot")
    expect(drivers).to_be_visible()
    expect(drivers.get_by_text(re.compile(r"^Critical severity: [+\u2212]\d+\.\d h$"))).to_be_visible()
    expect(drivers.get_by_text(re.compile(r"^Backup triggered: [+\u2212]\d+\.\d h$"))).to_be_visible()
    # The what-if: tickets by default, with the incident marked.
    what_if = result.locator(".st-key-whatif_chart .js-plotly-plot")
    expect(what_if).to_be_visible()
    expect(what_if.get_by_text("your incident")).to_be_visible()
    expect(result).to_contain_text("Your incident (35 support tickets) is the red diamond")
    assert not ISO_LIKE.search(_main_text(page))
    _wait_until_idle(page)
    page.mouse.move(0, 0)
    page.screenshot(path=screenshots / "predict.png")

    # Another input: severity, every level tried in one call; the chart and its words follow.
    _choose(page, "Change one input", "Severity")
    expect(result).to_contain_text("Across severities, the prediction goes from")
    expect(what_if.locator(".xtick").get_by_text("Low", exact=True)).to_be_visible()
    expect(what_if.locator(".xtick").get_by_text("Critical", exact=True)).to_be_visible()
    _wait_until_idle(page)
    page.mouse.move(0, 0)
    result.screenshot(path=screenshots / "predict_what_if.png")


def _upload_batch(page, path: Path) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Predict", exact=True).click()
    page.get_by_role("tab", name="CSV batch").click()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)


def test_csv_with_a_bad_row_names_it_and_predicts_the_rest(page, tmp_path: Path, screenshots: Path) -> None:
    path = tmp_path / "incidents.csv"
    path.write_text(
        "\n".join(
            [
                ",".join(schema.FEATURES),
                "AWS,Compute,High,2025-06-30 10:18:08,75,1200,35,Yes",
                "Azure,Storage,Medium,2025-06-30 11:00:00,60,300,12,No",
                "AWS,Compute,Catastrophic,2025-06-30 12:00:00,75,1200,35,Yes",  # row 3
                "GCP,Networking,Low,,,50,2,No",
            ]
        )
        + "\n"
    )
    _upload_batch(page, path)
    error = page.get_by_test_id("stAlertContentError").filter(has_text="cannot be predicted")
    expect(error).to_contain_text("Column 'severity': unknown category in row 3")
    expect(error).to_contain_text("'Catastrophic'")
    assert _metric_value(page, "Rows with problems") == "1"
    page.get_by_role("button", name="Predict 3 rows").click()
    expect(page.get_by_role("button", name="Download results (CSV)")).to_be_visible()
    assert _metric_value(page, "Predicted") == "3 of 4 rows"
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 2600})  # room for the histogram
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    _wait_until_idle(page)
    page.mouse.move(0, 0)  # no hover decorations in the picture
    page.screenshot(path=screenshots / "predict_batch.png")


def test_new_predictions_appear_in_past_predictions(page, tmp_path: Path, screenshots: Path) -> None:
    marker = 800_000 + uuid.uuid4().int % 99_999  # a ticket count no other test uses
    path = tmp_path / "marked.csv"
    rows = [f"Alibaba,Compute,Low,2025-07-01 08:00:00,{30 + i},{10 + i},{marker},No" for i in range(3)]
    path.write_text("\n".join([",".join(schema.FEATURES), *rows]) + "\n")
    _upload_batch(page, path)
    page.get_by_role("button", name="Predict 3 rows").click()
    expect(page.get_by_role("button", name="Download results (CSV)")).to_be_visible()

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Past predictions", exact=True).click()
    expect(page.get_by_role("heading", name="Past predictions")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    # Newest first: the table's first row is one of ours (the grid's accessible copy).
    first_source = page.get_by_test_id("stDataFrame").locator("#glide-cell-1-0")
    expect(first_source).to_have_text("webapp")
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    _wait_for_past_filters(page)
    assert not ISO_LIKE.search(_main_text(page))
    _wait_until_idle(page)
    page.mouse.move(0, 0)
    page.screenshot(path=screenshots / "past_predictions.png")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download these rows (CSV)").click()
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    mine = [r for r in table if r["ticket_count"] == str(marker)]
    assert sorted(int(r["number_of_customers_affected"]) for r in mine) == [10, 11, 12]
    assert all(r["source"] == "webapp" and "T" not in r["timestamp"] for r in mine)


def _open_page(page, name: str, heading: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def test_model_page_shows_the_champion_the_api_serves(
    page, api_server: RunningServer, screenshots: Path
) -> None:
    version = httpx.get(f"{api_server.url}/health").json()["model_version"]
    _open_page(page, "Model", "Model")
    assert _metric_value(page, "Champion") == version
    assert _metric_value(page, "Version the API serves") == version
    expect(page.locator(".st-key-model_importances .js-plotly-plot")).to_be_visible()
    runs = page.locator(".st-key-model_runs").get_by_test_id("stDataFrame")
    expect(runs).to_be_visible()
    expect(runs.locator("#glide-cell-1-0")).to_have_text(version)  # newest decision first
    page.get_by_role("button", name="Reload model").click()
    expect(page.get_by_text(f"Already serving the champion, {version}")).to_be_visible()
    assert not ISO_LIKE.search(_main_text(page))
    _wait_until_idle(page)
    page.mouse.move(0, 0)
    page.screenshot(path=screenshots / "model.png")


def test_data_quality_page_shows_a_newly_ingested_file(
    page, api_server: RunningServer, api_settings, tmp_path: Path, screenshots: Path
) -> None:
    # A corrupted batch dropped into the API's raw_data/ and ingested by the job, in this process.
    name = f"browser_batch_{uuid.uuid4().hex[:8]}.csv"
    (outcome,) = ingest(api_settings, {name: corrupted_csv(tmp_path, rows=40, seed=21, probability=0.1)})
    assert outcome["state"] == "done" and outcome["invalid_rows"] > 0

    _open_page(page, "Data quality", "Data quality")
    files = page.locator(".st-key-dq_files").get_by_test_id("stDataFrame")
    expect(files).to_be_visible()
    expect(files.locator("#glide-cell-1-0")).to_have_text(name)  # newest first
    expect(files.locator("#glide-cell-2-0")).to_have_text(str(outcome["total_rows"]))
    expect(files.locator("#glide-cell-4-0")).to_have_text(str(outcome["invalid_rows"]))
    for chart in ("dq_rows_chart", "dq_crit_chart", "dq_types_chart"):
        expect(page.locator(f".st-key-{chart} .js-plotly-plot")).to_be_visible()
    # Its bad rows (the newest file is chosen first), with their reasons and its Data Docs link.
    expect(page.get_by_role("combobox", name="File")).to_have_value(re.compile(re.escape(name)))
    bad_rows = page.locator(".st-key-dq_bad_rows").get_by_test_id("stDataFrame")
    expect(bad_rows).to_be_visible()
    expect(bad_rows.locator("#glide-cell-1-0")).not_to_be_empty()  # the problems, in words
    docs = page.get_by_role("link", name="Open its Data Docs report")
    expect(docs).to_have_attribute("href", api_server.url + outcome["data_docs_url"])
    assert httpx.get(docs.get_attribute("href"), timeout=30).status_code == 200
    assert not ISO_LIKE.search(_main_text(page))
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 2200})  # room for the bad rows
    _wait_until_idle(page)
    page.mouse.move(0, 0)
    page.screenshot(path=screenshots / "data_quality.png")


def test_monitoring_page_shows_drift_predictions_and_realised_error(
    page, api_server: RunningServer, api_home: Path, screenshots: Path
) -> None:
    # Generated monitoring data in the API's database: the newest run flags ticket_count.
    seeded = seed_api_database(api_home, api_server)
    _open_page(page, "Monitoring", "Monitoring")
    for heading in ("Data quality over time", "Drift", "Predictions", "Realised error"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    assert int(_metric_value(page, "Predictions").replace(",", "")) >= len(seeded.predictions)
    expect(page.get_by_text(f"Drifted: {label('ticket_count')}")).to_be_visible()
    verdicts = page.locator(".st-key-mon_drift_table").get_by_test_id("stDataFrame")
    expect(verdicts).to_be_visible()
    expect(verdicts.locator("#glide-cell-0-0")).to_have_text(label("ticket_count"))  # drifted first
    for chart in (
        "mon_rows_chart",
        "mon_crit_chart",
        "mon_errors_chart",
        "mon_history_chart",
        "mon_dist_chart",
        "mon_quant_chart",
        "mon_source_chart",
        "mon_hist_chart",
        "mon_mae_chart",
        "mon_bias_chart",
        "mon_cov_chart",
    ):
        expect(page.locator(f".st-key-{chart} .js-plotly-plot")).to_be_visible()
    # The overlay draws the training and the recent distribution.
    expect(page.locator(".st-key-mon_dist_chart").get_by_text("training", exact=True)).to_be_visible()
    expect(page.locator(".st-key-mon_dist_chart").get_by_text("recent", exact=True)).to_be_visible()
    assert not ISO_LIKE.search(_main_text(page))
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 4600})  # every section at once
    _wait_until_idle(page)
    page.mouse.move(0, 0)
    page.screenshot(path=screenshots / "monitoring.png")


def test_api_down_shows_a_message_not_a_traceback(
    browser, dead_url: str, tmp_path_factory: pytest.TempPathFactory, screenshots: Path
) -> None:
    port = free_port()
    log_path = tmp_path_factory.mktemp("webapp-down") / "streamlit.log"
    with open(log_path, "wb") as log:
        process = run_ui(port, dead_url, stdout=log, stderr=log)
        try:
            wait_until_ready(f"http://127.0.0.1:{port}", process=process, timeout=60)
            context = browser.new_context(viewport=VIEWPORT, timezone_id=VIEWER_TIMEZONE)
            context.set_default_timeout(WAIT_MS)
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/past_predictions")
            error = page.get_by_test_id("stAlertContentError")
            expect(error).to_contain_text("Could not load past predictions")
            expect(error).to_contain_text("not answering")
            page.get_by_role("button", name="Retry").click()
            expect(error).to_contain_text("Could not load past predictions")
            expect(page.get_by_test_id("stException")).to_have_count(0)
            _wait_for_past_filters(page)
            _wait_until_idle(page)
            page.screenshot(path=screenshots / "api_down.png")
            context.close()
        finally:
            stop_ui(process)
