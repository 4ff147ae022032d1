"""The Model page with AppTest against the real API (and against none)."""

from __future__ import annotations

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from outagecast.clients.api import ApiClient, ApiError
from outagecast.webapp import data
from outagecast.webapp.formatting import format_percent, label
from outagecast.webapp.ui import MODEL_PAGE
from tests.utils.server import RunningServer
from tests.webapp.conftest import make_app
from tests.webapp.helpers import assert_no_iso, chart, metrics, open_page, table, texts


@pytest.fixture(scope="module")
def registry(api_server: RunningServer) -> dict:
    response = httpx.get(f"{api_server.url}/models", timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _champion(registry: dict) -> dict:
    return next(v for v in registry["versions"] if v["is_champion"])


def test_model_page_shows_the_champion_and_its_metrics(
    app: AppTest, api_server: RunningServer, registry: dict
) -> None:
    open_page(app, MODEL_PAGE)
    assert not app.exception and not app.error
    health = httpx.get(f"{api_server.url}/health").json()
    shown = metrics(app)
    assert shown["Champion"] == health["model_version"] == registry["champion"]
    assert shown["Version the API serves"] == registry["serving"]
    m = _champion(registry)["metrics"]
    assert shown["RMSE"] == f"{m['rmse']:.2f} h"
    assert shown["MAE"] == f"{m['mae']:.2f} h"
    assert shown["R²"] == f"{m['r2']:.3f}"
    assert shown["Oracle RMSE"] == f"{m['oracle_rmse']:.2f} h"
    assert shown["Interval coverage"] == format_percent(m["interval_coverage_80"])
    assert "LightGBM" in texts(app)
    assert_no_iso(app)


def test_model_page_lists_the_runs_with_their_decisions(app: AppTest, registry: dict) -> None:
    open_page(app, MODEL_PAGE)
    runs = table(app, "decision")
    assert len(runs) == len(registry["runs"]) >= 1
    assert runs["decision"].tolist() == [[r["decision"]] for r in registry["runs"]]
    assert runs["reason"].tolist() == [r["reason"] for r in registry["runs"]]
    assert runs["model_version"].tolist() == [r["model_version"] for r in registry["runs"]]
    assert str(runs["timestamp"].dt.tz) == "Europe/Paris"
    assert runs["trigger"].iloc[-1] == "first start"  # the cold start trained the first model


def test_model_page_charts_the_champion_feature_importances(app: AppTest, registry: dict) -> None:
    open_page(app, MODEL_PAGE)
    importances = _champion(registry)["feature_importances"]
    bars = chart(app, "model_importances")["data"][0]
    expected = sorted(importances.items(), key=lambda kv: kv[1])  # largest drawn on top
    assert bars["y"] == [label(k) for k, _ in expected]
    assert bars["x"] == pytest.approx([v for _, v in expected])


def test_reload_model_says_what_it_did(app: AppTest, registry: dict) -> None:
    open_page(app, MODEL_PAGE)
    app.button(key="model_reload").click().run()
    assert not app.exception and not app.error
    assert f"Already serving the champion, **{registry['champion']}**" in app.info[0].value


def test_reload_refused_for_want_of_a_key_says_how_to_fix_it(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: ApiClient, **kwargs: object) -> dict:
        raise ApiError(401, "Invalid or missing API key")

    monkeypatch.setattr(ApiClient, "reload_model", refused)
    open_page(app, MODEL_PAGE)
    app.button(key="model_reload").click().run()
    assert not app.exception
    (error,) = app.error
    assert "Could not reload the model: the API wants a valid API key (HTTP 401)" in error.value
    assert "Set `API_KEY` for the web app" in error.value
    assert app.button(key="model_reload_retry")


def test_the_web_app_sends_its_api_key(monkeypatch: pytest.MonkeyPatch, api_server: RunningServer) -> None:
    app = make_app(monkeypatch, api_server.url, API_KEY="webapp-key")
    open_page(app, MODEL_PAGE)
    assert not app.exception
    assert data.client()._http.headers["X-API-Key"] == "webapp-key"


def test_model_page_with_the_api_down(down_app: AppTest) -> None:
    open_page(down_app, MODEL_PAGE)
    assert not down_app.exception
    assert "Could not load the model registry" in down_app.error[0].value
    down_app.button(key="model_retry").click().run()
    assert not down_app.exception
    down_app.button(key="model_reload").click().run()  # the reload button stays, and says why it fails
    assert not down_app.exception
    assert any("Could not reload the model" in e.value for e in down_app.error)
