"""The Monitoring page with AppTest against the real API, over generated monitoring data.

The API's database gets predictions, ingestion stats, monitor runs, drift results and realised
errors (tests/utils/monitoring_seed.py); the page must show what the API answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from outagecast.webapp.formatting import label
from outagecast.webapp.ui import MONITORING_PAGE
from tests.utils.monitoring_seed import Seeded, seed_monitoring
from tests.utils.server import RunningServer
from tests.webapp.conftest import _database_url
from tests.webapp.helpers import chart, metrics, open_page, table, traces


def seed_api_database(api_home: Path, api_server: RunningServer) -> Seeded:
    """Generated monitoring data in the test API's database, judged against the model it serves."""
    version = httpx.get(f"{api_server.url}/health", timeout=30).json()["model_version"]
    assert version, "the test API serves a model"
    return seed_monitoring(_database_url(api_home), model_version=version)


@pytest.fixture(scope="module")
def seeded(api_home: Path, api_server: RunningServer) -> Iterator[Seeded]:
    yield seed_api_database(api_home, api_server)


def _get(api_server: RunningServer, path: str, **params: object) -> object:
    response = httpx.get(f"{api_server.url}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_monitoring_page_shows_every_section_with_the_api_numbers(
    app: AppTest, api_server: RunningServer, seeded: Seeded
) -> None:
    open_page(app, MONITORING_PAGE)
    assert not app.exception, app.exception
    drift = _get(api_server, "/monitoring/drift")
    errors = [e.value for e in app.error]
    assert not [e for e in errors if "Could not" in e], errors  # no API call failed
    # The newest run flagged ticket_count, and the newest realised error of the served version
    # is degraded: both are called out.
    assert any(f"Drifted: {label('ticket_count')}" in e for e in errors), errors
    assert any("Degraded" in e and drift["run"]["model_version"] in e for e in errors), errors
    assert drift["run"]["drifted_features"] == ["ticket_count"]
    shown = metrics(app)
    # The page asks for the last 7 days by hour: the totals must be the API's for that range.
    week = _get(api_server, "/monitoring/predictions", since=seeded.start.isoformat(), bucket="hour")
    assert int(shown["Predictions"].replace(",", "")) >= week["total"] >= len(seeded.predictions)
    assert int(shown["Files"].replace(",", "")) >= len(seeded.stats)
    for key in (
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
        assert chart(app, key)["data"], key

    verdicts = table(app, "psi").set_index("feature")
    assert verdicts.loc[label("ticket_count"), "verdict"] == ["drifted"]
    assert verdicts.loc[label("severity"), "verdict"] == ["ok"]
    assert verdicts.index[0] == label("ticket_count"), "drifted features first"

    # The drifted feature is offered first, and its overlay is the API's distribution.
    assert app.selectbox(key="mon_feature").value == "ticket_count"
    dist = _get(api_server, "/monitoring/drift/ticket_count/distribution")
    overlay = traces(chart(app, "mon_dist_chart"))
    assert overlay["recent"]["y"] == pytest.approx([b["recent_share"] or 0 for b in dist["bins"]])
    assert overlay["training"]["y"] == pytest.approx([b["training_share"] or 0 for b in dist["bins"]])

    realised = traces(chart(app, "mon_mae_chart"))
    assert set(realised) >= {e["model_version"] for e in seeded.errors}


def test_choosing_the_start_time_compares_one_of_its_parts(
    app: AppTest, api_server: RunningServer, seeded: Seeded
) -> None:
    open_page(app, MONITORING_PAGE)
    app.selectbox(key="mon_feature").set_value("start_time").run()
    assert not app.exception, app.exception
    hours = traces(chart(app, "mon_dist_chart"))["recent"]
    assert hours["x"] == [str(h) for h in range(24)]
    app.segmented_control(key="mon_part").set_value("day_of_week").run()
    days = traces(chart(app, "mon_dist_chart"))["recent"]
    assert days["x"] == [str(d) for d in range(7)]
    dist = _get(api_server, "/monitoring/drift/start_time/distribution", part="day_of_week")
    assert days["y"] == pytest.approx([b["recent_share"] or 0 for b in dist["bins"]])


def test_a_longer_period_asks_for_daily_points(app: AppTest, seeded: Seeded) -> None:
    open_page(app, MONITORING_PAGE)
    app.segmented_control(key="mon_period").set_value("30 days").run()
    assert not app.exception, app.exception
    assert any("One point per day" in c.value for c in app.caption)
    quantiles = traces(chart(app, "mon_quant_chart"))
    assert quantiles["median"]["x"], "daily points"


def test_api_down_shows_messages_not_tracebacks(down_app: AppTest) -> None:
    open_page(down_app, MONITORING_PAGE)
    assert not down_app.exception
    assert any("not answering" in e.value for e in down_app.error)
