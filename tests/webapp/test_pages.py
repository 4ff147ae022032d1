"""Page logic with Streamlit's AppTest against a real API on loopback (and against no API)."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from outagecast import schema
from outagecast.clients.api import ApiClient, ApiUnavailable
from outagecast.webapp.formatting import (
    format_duration,
    format_hours,
    format_interval,
    format_signed_hours,
    format_timestamp,
    resolve_timezone,
)
from outagecast.webapp.ui import PAST_PAGE, PREDICT_PAGE
from tests.utils.server import RunningServer
from tests.webapp.conftest import VIEWER_TIMEZONE, make_app
from tests.webapp.helpers import assert_no_iso as _assert_no_iso
from tests.webapp.helpers import chart as _chart
from tests.webapp.helpers import direct_predict as _direct
from tests.webapp.helpers import metrics as _metrics
from tests.webapp.helpers import open_page as _open
from tests.webapp.helpers import texts as _texts
from tests.webapp.helpers import traces

TZ = resolve_timezone(VIEWER_TIMEZONE)
SUBMIT = "FormSubmitter:predict_form-Predict"
FEATURE_HEADER = ",".join(schema.FEATURES)


def _marker() -> int:
    """A ticket count no other test uses, to find this test's rows among stored ones."""
    return 700_000 + uuid.uuid4().int % 99_999


# ---------------------------------------------------------------- home


def test_home_shows_health_model_version_and_links(app: AppTest, api_server: RunningServer) -> None:
    app.run()
    assert not app.exception
    health = httpx.get(f"{api_server.url}/health").json()
    metrics = _metrics(app)
    assert metrics["API"] == "Healthy"
    assert metrics["Model version"] == health["model_version"]
    assert metrics["Model loaded"] == "Yes"
    assert metrics["Database"] == "OK"
    assert app.title[0].value == "OutageCast"
    assert {link.label for link in app.get("page_link")} >= {"Predict", "Past predictions"}


def test_home_with_the_api_down_says_so_and_offers_retry(down_app: AppTest, dead_url: str) -> None:
    down_app.run()
    assert not down_app.exception
    (error,) = down_app.error
    assert "not answering" in error.value and dead_url in error.value
    down_app.button(key="home_retry").click().run()  # still down: same message, still no traceback
    assert not down_app.exception
    assert "not answering" in down_app.error[0].value


def test_home_with_a_hung_api_times_out_with_a_message(
    monkeypatch: pytest.MonkeyPatch, silent_url: str
) -> None:
    app = make_app(monkeypatch, silent_url, API_TIMEOUT_SECONDS="1")
    app.run()
    assert not app.exception
    assert "did not answer within 1 s" in app.error[0].value
    assert app.button(key="home_retry")


# ---------------------------------------------------------------- predict: one outage


def _fill_form(app: AppTest, tickets: int, load: float | None = 75.0) -> None:
    app.selectbox(key="predict_provider").select("GCP")
    app.selectbox(key="predict_service").select("Database")
    app.selectbox(key="predict_severity").select("Critical")
    app.datetime_input(key="predict_start").set_value(datetime(2025, 3, 4, 14, 30))
    app.number_input(key="predict_load").set_value(load)
    app.number_input(key="predict_customers").set_value(1200)
    app.number_input(key="predict_tickets").set_value(tickets)
    app.radio(key="predict_backup").set_value("Yes")


def test_predict_form_shows_what_the_api_answers(app: AppTest, api_server: RunningServer) -> None:
    _open(app, PREDICT_PAGE)
    assert [b.label for b in app.button if b.key == SUBMIT] == ["Predict"]
    tickets = 40
    _fill_form(app, tickets)
    app.button(key=SUBMIT).click().run()
    assert not app.exception and not app.error

    # The same incident straight to the API: 14:30 in Paris in March is 13:30 UTC.
    row = {
        "cloud_provider": "GCP",
        "service": "Database",
        "severity": "Critical",
        "start_time": "2025-03-04T14:30:00+01:00",
        "system_load_before_outage": 75.0,
        "number_of_customers_affected": 1200,
        "ticket_count": tickets,
        "backup_system_triggered": "Yes",
    }
    (expected,) = _direct(api_server.url, [row])
    metrics = _metrics(app)
    assert metrics["Predicted duration"] == format_duration(expected["predicted_hours"])
    assert metrics["Predicted end"] == format_timestamp(expected["predicted_end_time"], TZ)
    texts = _texts(app)
    assert format_hours(expected["predicted_hours"]) in texts
    assert "Outage start: Tue 4 Mar 2025, 14:30 CET" in texts
    badge = "Anomaly: longer than" if expected["is_anomaly"] else "Normal: within"
    assert badge in texts
    # The interval, briefly: "3.4 h, likely 2.1–5.0 h".
    interval = format_interval(
        expected["predicted_hours"], expected["predicted_hours_low"], expected["predicted_hours_high"]
    )
    assert f"**{interval}**" in texts and ", likely " in interval
    assert "8 in 10 outages like this one end within that range (80 % interval)" in texts
    _assert_no_iso(app)


def test_predict_form_explains_the_prediction(app: AppTest, api_server: RunningServer) -> None:
    _open(app, PREDICT_PAGE)
    _fill_form(app, tickets=12)
    app.button(key=SUBMIT).click().run()
    assert not app.exception and not app.error
    assert "What drove this prediction" in _texts(app)
    bars = _chart(app, "predict_explanation")["data"][0]
    assert len(bars["y"]) == len(schema.FEATURES)
    # Plain words with the hours, largest effect on top (Plotly draws the last bar at the top).
    labels = dict(zip(bars["y"], bars["x"], strict=True))
    assert any(name.startswith("Critical severity: ") for name in labels)
    assert any(name.startswith("Backup triggered: ") for name in labels)
    assert any(name.startswith("12 support tickets: ") for name in labels)
    assert any(name.startswith("Start Tue 14:30 in March: ") for name in labels)
    for name, hours in labels.items():
        assert name.endswith(format_signed_hours(hours))
    sizes = [abs(h) for h in bars["x"]]
    assert sizes == sorted(sizes)


def test_predict_without_system_load_says_it_was_assumed(app: AppTest) -> None:
    _open(app, PREDICT_PAGE)
    _fill_form(app, tickets=3, load=None)
    app.button(key=SUBMIT).click().run()
    assert not app.exception and not app.error
    assert "system load 50 % (assumed)" in _texts(app)


def test_predict_with_the_api_down_shows_message_and_retry(down_app: AppTest) -> None:
    _open(down_app, PREDICT_PAGE)
    down_app.button(key=SUBMIT).click().run()
    assert not down_app.exception
    assert "Could not get a prediction" in down_app.error[0].value
    assert "Predicted duration" not in _metrics(down_app)
    down_app.button(key="predict_retry").click().run()
    assert not down_app.exception
    assert "Could not get a prediction" in down_app.error[0].value


def test_predict_retry_succeeds_once_the_api_is_back(
    monkeypatch: pytest.MonkeyPatch, dead_url: str, api_server: RunningServer
) -> None:
    app = make_app(monkeypatch, dead_url)
    _open(app, PREDICT_PAGE)
    app.button(key=SUBMIT).click().run()
    assert app.error
    monkeypatch.setenv("API_URL", api_server.url)  # the API "comes back"
    from outagecast.settings import get_settings

    get_settings.cache_clear()
    app.button(key="predict_retry").click().run()
    assert not app.exception and not app.error
    assert "Predicted duration" in _metrics(app)


# ---------------------------------------------------------------- predict: what-if


@pytest.fixture
def what_if_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every ``ApiClient.what_if`` call the page makes (passed through to the real API)."""
    calls: list[tuple] = []
    original = ApiClient.what_if

    def recording(self: ApiClient, incident: dict, vary: str, values: list, **kwargs: object) -> dict:
        calls.append((incident, vary, list(values)))
        return original(self, incident, vary, values, **kwargs)

    monkeypatch.setattr(ApiClient, "what_if", recording)
    return calls


def _what_if_direct(url: str, call: tuple) -> dict:
    incident, vary, values = call
    body = {"incident": incident, "vary": vary, "values": values}
    response = httpx.post(f"{url}/what-if", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _predicted(app: AppTest) -> AppTest:
    _open(app, PREDICT_PAGE)
    _fill_form(app, tickets=40)
    app.button(key=SUBMIT).click().run()
    assert not app.exception and not app.error
    return app


def test_what_if_varies_tickets_in_one_call_and_marks_the_incident(
    app: AppTest, api_server: RunningServer, what_if_calls: list[tuple]
) -> None:
    _predicted(app)
    assert len(what_if_calls) == 1  # one batched call for every point
    incident, vary, values = what_if_calls[0]
    assert vary == "ticket_count" and values == sorted(values) and 40 in values
    assert values[0] == 0 and values[-1] == 100  # the default range: twice the incident's, rounded up
    assert incident["start_time"] == app.session_state.predict_result["start_time"]  # pinned

    figure = _chart(app, "whatif_chart")
    lines = traces(figure)
    expected = _what_if_direct(api_server.url, what_if_calls[0])["points"]
    assert lines["predicted duration"]["x"] == values
    assert lines["predicted duration"]["y"] == pytest.approx([p["predicted_hours"] for p in expected])
    band = lines["likely range (80 % interval)"]
    assert band["y"] == pytest.approx([p["predicted_hours_low"] for p in expected])
    assert band["fill"] == "tonexty"
    predicted = app.session_state.predict_result["predicted_hours"]
    assert lines["your incident"]["x"] == [40]
    assert lines["your incident"]["y"] == pytest.approx([predicted])
    # The point at the incident's own value is the prediction itself.
    assert expected[values.index(40)]["predicted_hours"] == pytest.approx(predicted)
    summary = _texts(app)
    assert "Between 0 and 100 support tickets, the prediction" in summary
    assert "Your incident (40 support tickets) is the red diamond" in summary
    assert "about 8 in 10 outages like this one end inside it" in summary

    app.slider(key="whatif_range_ticket_count").set_value((10, 60)).run()
    assert not app.exception
    assert len(what_if_calls) == 2
    assert what_if_calls[1][2][0] == 10 and what_if_calls[1][2][-1] == 60


def test_what_if_over_severities_and_start_hours(app: AppTest, what_if_calls: list[tuple]) -> None:
    _predicted(app)
    app.selectbox(key="whatif_input").select("severity").run()
    assert not app.exception and not app.error
    assert what_if_calls[-1][1:] == ("severity", list(schema.SEVERITIES))
    lines = traces(_chart(app, "whatif_chart"))
    assert lines["predicted duration"]["x"] == list(schema.SEVERITIES)
    assert lines["your incident"]["x"] == ["Critical"]
    assert "Across severities, the prediction" in _texts(app)

    app.selectbox(key="whatif_input").select("start_hour").run()
    assert not app.exception and not app.error
    _, vary, values = what_if_calls[-1]
    # The same day and minute in the viewer's zone, every hour: 14:30 in Paris is the incident.
    assert vary == "start_time" and len(values) == 24
    assert values[0] == "2025-03-04T00:30:00+01:00" and values[14] == "2025-03-04T14:30:00+01:00"
    lines = traces(_chart(app, "whatif_chart"))
    assert lines["your incident"]["x"] == [14]
    assert "Your incident (start at 14:30)" in _texts(app)


def test_what_if_failure_keeps_the_prediction_and_offers_retry(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: ApiClient, *args: object, **kwargs: object) -> dict:
        raise ApiUnavailable("Cannot reach the OutageCast API (test).")

    _predicted(app)
    monkeypatch.setattr(ApiClient, "what_if", down)
    app.selectbox(key="whatif_input").select("system_load_before_outage").run()
    assert not app.exception
    assert "Could not work out the what-if" in app.error[0].value
    assert "Predicted duration" in _metrics(app)  # the prediction itself stays
    assert app.button(key="whatif_retry")


# ---------------------------------------------------------------- predict: CSV batch


def _upload(app: AppTest, data: bytes, name: str = "batch.csv") -> AppTest:
    app.file_uploader(key="batch_file").set_value((name, data, "text/csv"))
    return app.run()


def _results(app: AppTest) -> pd.DataFrame:
    frames = [d.value for d in app.dataframe if "predicted_hours" in d.value.columns]
    assert frames, "no results table"
    return frames[-1]


def test_batch_in_dataset_format_predicts_every_row(app: AppTest, api_server: RunningServer) -> None:
    from outagecast.datasets.generate import generate_incidents

    dataset = generate_incidents(25, seed=11)
    _open(app, PREDICT_PAGE)
    _upload(app, dataset.to_csv(index=False).encode(), "cloud_outages_dataset.csv")
    assert not app.exception and not app.error
    assert _metrics(app)["Ready to predict"] == "25"
    app.button(key="batch_predict").click().run()
    assert not app.exception and not app.error

    results = _results(app)
    assert results["row"].tolist() == list(range(1, 26))
    features = dataset[list(schema.FEATURES)].to_dict("records")
    for f in features:  # the dataset's naive timestamps are UTC, as the web app sends them
        f["start_time"] = f["start_time"] + "+00:00"
    expected = _direct(api_server.url, features)
    assert results["predicted_hours"].round(6).tolist() == [round(e["predicted_hours"], 6) for e in expected]
    assert isinstance(results["predicted_end_time"].dtype, pd.DatetimeTZDtype)
    assert app.get("download_button") and app.get("plotly_chart")
    assert _metrics(app)["Predicted"] == "25 of 25 rows"


def test_batch_with_bad_rows_names_them_and_predicts_the_rest(app: AppTest) -> None:
    good = "AWS,Compute,High,2025-06-30 10:18:08,75,1200,35,Yes"
    data = "\n".join(
        [
            FEATURE_HEADER,
            good,
            "AWS,Compute,Extreme,2025-06-30 10:18:08,75,1200,35,Yes",  # row 2: unknown category
            good,
            "GCP,Storage,Low,2025-06-30 10:18:08,75,many,35,No",  # row 4: wrong type
            good,
        ]
    ).encode()
    _open(app, PREDICT_PAGE)
    _upload(app, data)
    assert not app.exception
    message = app.error[0].value
    assert "2 rows cannot be predicted" in message
    assert "Column 'severity': unknown category in row 2" in message and "'Extreme'" in message
    assert "Column 'number_of_customers_affected': not a number in row 4" in message
    problems = next(d.value for d in app.dataframe if "Problem" in d.value.columns)
    assert problems["Row"].tolist() == [2, 4]
    assert _metrics(app)["Rows with problems"] == "2"

    app.button(key="batch_predict").click().run()
    assert not app.exception
    assert _results(app)["row"].tolist() == [1, 3, 5]
    assert _metrics(app)["Predicted"] == "3 of 5 rows"
    assert "Column 'severity'" in app.error[0].value  # the bad rows stay listed after predicting


def test_batch_rows_only_the_api_rejects_are_listed_too(app: AppTest) -> None:
    # The schema sets no upper bound on customers; the API does (422): the row is named anyway.
    good = "AWS,Compute,High,,75,1200,35,Yes"
    data = "\n".join([FEATURE_HEADER, good, f"AWS,Compute,High,,75,{10**13},35,Yes", good]).encode()
    _open(app, PREDICT_PAGE)
    _upload(app, data)
    assert not app.error
    app.button(key="batch_predict").click().run()
    assert not app.exception
    assert "number_of_customers_affected': rejected by the API in row 2" in app.error[0].value
    assert _results(app)["row"].tolist() == [1, 3]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"cloud_provider,service,severity\nAWS,Compute,High\n", "'number_of_customers_affected'"),
        (b"\x00\x01\x02binary", "not a text file"),
        (b"", "empty"),
    ],
)
def test_batch_files_that_cannot_be_used_say_why(app: AppTest, data: bytes, words: str) -> None:
    _open(app, PREDICT_PAGE)
    _upload(app, data, "broken.csv")
    assert not app.exception
    assert "cannot be used" in app.error[0].value and words in app.error[0].value
    assert not [b for b in app.button if b.key == "batch_predict"]


def test_batch_is_sent_in_chunks_of_the_batch_maximum(
    monkeypatch: pytest.MonkeyPatch, api_server: RunningServer
) -> None:
    marker = _marker()
    rows = [f"Azure,Storage,Low,,40,{100 + i},{marker},No" for i in range(10)]
    app = make_app(monkeypatch, api_server.url, MAX_BATCH_ROWS="4")
    _open(app, PREDICT_PAGE)
    _upload(app, "\n".join([FEATURE_HEADER, *rows]).encode())
    app.button(key="batch_predict").click().run()
    assert not app.exception and not app.error
    assert len(_results(app)) == 10
    with ApiClient(api_server.url) as client:
        stored = [r for r in client.past_predictions(limit=500) if r["ticket_count"] == marker]
    assert sorted(r["number_of_customers_affected"] for r in stored) == [100 + i for i in range(10)]


def test_batch_with_the_api_down_keeps_the_rows_and_offers_retry(down_app: AppTest) -> None:
    _open(down_app, PREDICT_PAGE)
    _upload(down_app, f"{FEATURE_HEADER}\nAWS,Compute,High,,75,1200,35,Yes\n".encode())
    down_app.button(key="batch_predict").click().run()
    assert not down_app.exception
    assert any("Could not predict the batch" in e.value for e in down_app.error)
    assert "0 of 1 rows were predicted" in down_app.warning[0].value
    down_app.button(key="batch_retry").click().run()
    assert not down_app.exception


# ---------------------------------------------------------------- past predictions


def _table(app: AppTest) -> pd.DataFrame:
    return next(d.value for d in app.dataframe if "timestamp" in d.value.columns)


def test_past_predictions_list_new_rows_with_readable_times(app: AppTest, api_server: RunningServer) -> None:
    marker = _marker()
    row = {
        "cloud_provider": "AWS",
        "service": "Compute",
        "severity": "High",
        "number_of_customers_affected": 10,
        "ticket_count": marker,
        "backup_system_triggered": "No",
    }
    _direct(api_server.url, [row] * 3, "webapp")
    _direct(api_server.url, [row] * 2, "scheduled")
    _open(app, PAST_PAGE)
    assert not app.exception and not app.error
    table = _table(app)
    mine = table[table["ticket_count"] == marker]
    assert mine["source"].tolist() == ["scheduled"] * 2 + ["webapp"] * 3  # newest first
    for column in ("timestamp", "start_time", "predicted_end_time"):
        assert isinstance(table[column].dtype, pd.DatetimeTZDtype)
        assert str(table[column].dt.tz) == VIEWER_TIMEZONE
    # The interval is shown with every stored prediction.
    assert (mine["predicted_hours_low"] <= mine["predicted_hours"]).all()
    assert (mine["predicted_hours"] <= mine["predicted_hours_high"]).all()
    metrics = _metrics(app)
    assert metrics["Predictions"] == f"{len(table):,}"
    assert metrics["Mean predicted duration"] == format_hours(table["predicted_hours"].mean())
    assert metrics["Anomaly rate"].endswith("%")
    assert app.get("plotly_chart") and app.get("download_button")
    _assert_no_iso(app)


def test_past_predictions_filters(app: AppTest, api_server: RunningServer) -> None:
    row = {
        "cloud_provider": "IBM",
        "service": "AI/ML",
        "severity": "Low",
        "number_of_customers_affected": 5,
        "ticket_count": _marker(),
        "backup_system_triggered": "Yes",
    }
    _direct(api_server.url, [row], "scheduled")
    _open(app, PAST_PAGE)

    app.segmented_control(key="past_source").set_value("scheduled").run()
    assert not app.exception
    assert set(_table(app)["source"]) == {"scheduled"}

    app.segmented_control(key="past_source").set_value("all").run()
    app.toggle(key="past_anomalies").set_value(True).run()
    assert not app.exception
    anomalies = [d.value for d in app.dataframe if "timestamp" in d.value.columns]
    if anomalies:  # the small test model may predict no anomaly at all
        assert anomalies[0]["is_anomaly"].all()
    else:
        assert "No stored predictions match" in app.info[0].value

    app.toggle(key="past_anomalies").set_value(False).run()
    app.text_input(key="past_model").input("no-such-version").run()
    assert "No stored predictions match" in app.info[0].value


def test_past_predictions_paging(app: AppTest, api_server: RunningServer) -> None:
    row = {
        "cloud_provider": "Oracle",
        "service": "Networking",
        "severity": "Medium",
        "number_of_customers_affected": 7,
        "ticket_count": _marker(),
        "backup_system_triggered": "No",
    }
    _direct(api_server.url, [row] * 5)
    _open(app, PAST_PAGE)
    app.number_input(key="past_limit").set_value(2).run()
    first = _table(app)["id"].tolist()
    assert len(first) == 2 and _metrics(app)["Rows"] == "1–2"
    assert app.button(key="past_newer").disabled
    app.button(key="past_older").click().run()
    second = _table(app)["id"].tolist()
    assert len(second) == 2 and not set(first) & set(second)
    assert max(second) < min(first)  # older rows
    assert _metrics(app)["Rows"] == "3–4"
    app.button(key="past_newer").click().run()
    assert _table(app)["id"].tolist() == first


def test_past_predictions_with_the_api_down(down_app: AppTest) -> None:
    _open(down_app, PAST_PAGE)
    assert not down_app.exception
    assert "Could not load past predictions" in down_app.error[0].value
    down_app.button(key="past_retry").click().run()
    assert not down_app.exception
