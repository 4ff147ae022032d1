"""The API client against scripted HTTP answers (httpx.MockTransport): no server needed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime

import httpx
import pytest
from pydantic import SecretStr

from outagecast.clients.api import (
    ApiClient,
    ApiError,
    ApiUnavailable,
    FieldError,
    describe_detail,
)
from outagecast.settings import Settings

ROW = {
    "cloud_provider": "AWS",
    "service": "Compute",
    "severity": "High",
    "number_of_customers_affected": 1200,
    "ticket_count": 35,
    "backup_system_triggered": "Yes",
}
HEALTHY = {"status": "healthy", "model_loaded": True, "model_version": "v1", "database": "ok", "problems": []}


def _client(handler: Callable[[httpx.Request], httpx.Response], **kwargs) -> ApiClient:
    return ApiClient("http://api.test", transport=httpx.MockTransport(handler), **kwargs)


def _echo_predictions(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    rows = [{**f, "predicted_hours": float(f["ticket_count"]), "is_anomaly": False} for f in body["features"]]
    return httpx.Response(200, json={"predictions": rows})


def test_health_healthy() -> None:
    health = _client(lambda r: httpx.Response(200, json=HEALTHY)).health()
    assert health.healthy and health.model_version == "v1" and health.problems == []


def test_health_degraded_503_is_an_answer_not_an_error() -> None:
    body = {**HEALTHY, "status": "degraded", "model_loaded": False, "problems": ["model not loaded"]}
    health = _client(lambda r: httpx.Response(503, json=body)).health()
    assert not health.healthy
    assert health.problems == ["model not loaded"]


def test_health_without_a_report_raises_api_error() -> None:
    with pytest.raises(ApiError) as info:
        _client(lambda r: httpx.Response(502, text="Bad gateway")).health()
    assert info.value.status == 502
    assert "Bad gateway" in str(info.value)


def test_connection_refused_is_api_unavailable_naming_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ApiUnavailable) as info:
        _client(refuse).predict([ROW])
    assert "http://api.test" in str(info.value)
    assert "Connection refused" in str(info.value)


def test_timeout_is_api_unavailable_saying_how_long() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ApiUnavailable, match=r"did not answer within 2 s"):
        _client(slow, timeout=2).past_predictions()


def test_api_error_carries_the_api_message() -> None:
    answer = {"detail": "Model not loaded"}
    with pytest.raises(ApiError) as info:
        _client(lambda r: httpx.Response(503, json=answer)).predict([ROW])
    assert info.value.status == 503
    assert info.value.detail == "Model not loaded"
    assert str(info.value) == "API error 503: Model not loaded"


def test_validation_errors_are_readable_and_point_at_rows() -> None:
    detail = [
        {"loc": ["body", "features", 1, "severity"], "msg": "Input should be 'Low'", "type": "literal_error"},
        {"loc": ["body", "source"], "msg": "bad source", "type": "literal_error"},
    ]
    assert describe_detail(detail) == "features.1.severity: Input should be 'Low'; source: bad source"
    error = ApiError(422, detail, row_offset=10)
    assert error.field_errors == [FieldError(row=11, field="severity", message="Input should be 'Low'")]


def test_predict_sends_rows_in_chunks_and_reports_progress() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sizes.append(len(body["features"]))
        assert body["source"] == "scheduled"
        return _echo_predictions(request)

    rows = [{**ROW, "ticket_count": i} for i in range(7)]
    progress: list[tuple[int, int]] = []
    out = _client(handler, max_batch_rows=3).predict(
        rows, "scheduled", on_chunk=lambda done, total: progress.append((done, total))
    )
    assert sizes == [3, 3, 1]
    assert [p["predicted_hours"] for p in out] == [float(i) for i in range(7)]
    assert progress == [(0, 7), (3, 7), (6, 7), (7, 7)]


def test_chunk_size_never_exceeds_the_batch_maximum() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sizes.append(len(json.loads(request.content)["features"]))
        return _echo_predictions(request)

    _client(handler, max_batch_rows=4).predict([ROW] * 9, chunk_size=100)
    assert sizes == [4, 4, 1]


def test_failed_chunk_keeps_the_predictions_already_made() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            detail = [{"loc": ["body", "features", 0, "ticket_count"], "msg": "too big", "type": "x"}]
            return httpx.Response(422, json={"detail": detail})
        return _echo_predictions(request)

    rows = [{**ROW, "ticket_count": i} for i in range(5)]
    with pytest.raises(ApiError) as info:
        _client(handler, max_batch_rows=2).predict(rows)
    assert [p["ticket_count"] for p in info.value.partial_results] == [0, 1]
    # Row 0 of the second chunk is row 2 of the caller's list.
    assert info.value.field_errors == [FieldError(row=2, field="ticket_count", message="too big")]


def test_predict_leaves_out_missing_optional_values_and_serialises_dates() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.extend(json.loads(request.content)["features"])
        return _echo_predictions(request)

    row = {**ROW, "system_load_before_outage": float("nan"), "start_time": date(2025, 3, 4)}
    _client(handler).predict([row])
    assert "system_load_before_outage" not in seen[0]
    assert seen[0]["start_time"] == "2025-03-04"


def test_predict_nothing_sends_nothing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    assert _client(handler).predict([]) == []


def test_past_predictions_sends_only_the_filters_given() -> None:
    seen: list[httpx.QueryParams] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        return httpx.Response(200, json=[])

    client = _client(handler)
    client.past_predictions(
        start_date=date(2025, 1, 1),
        end_date=date(2025, 1, 31),
        source="webapp",
        limit=50,
        offset=100,
        model_version="v3",
        anomaly=True,
    )
    client.past_predictions()
    assert dict(seen[0]) == {
        "start_date": "2025-01-01",
        "end_date": "2025-01-31",
        "source": "webapp",
        "limit": "50",
        "offset": "100",
        "model_version": "v3",
        "anomaly": "true",
    }
    assert dict(seen[1]) == {"source": "all", "limit": "100", "offset": "0"}


@pytest.mark.parametrize("limit", [0, 501])
def test_past_predictions_rejects_a_limit_the_api_would_refuse(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        _client(lambda r: httpx.Response(200, json=[])).past_predictions(limit=limit)


def test_past_predictions_must_be_a_list() -> None:
    with pytest.raises(ApiError, match="JSON list"):
        _client(lambda r: httpx.Response(200, json={"oops": 1})).past_predictions()


def test_from_settings_sends_the_api_key_and_uses_the_batch_maximum() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=HEALTHY)

    settings = Settings(api_url="http://api.test/", api_key=SecretStr("s3cret"), max_batch_rows=123)
    client = ApiClient.from_settings(settings, transport=httpx.MockTransport(handler))
    client.health()
    assert client.base_url == "http://api.test"
    assert client.max_batch_rows == 123
    assert seen[0].headers["X-API-Key"] == "s3cret"


def test_no_api_key_header_without_a_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=HEALTHY)

    with _client(handler) as client:
        client.health()
    assert "X-API-Key" not in seen[0].headers


def test_predict_asks_for_explanations_and_coverage_only_when_told() -> None:
    seen: list[httpx.QueryParams] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        return _echo_predictions(request)

    client = _client(handler)
    client.predict([ROW])
    client.predict([ROW], explain=True, coverage=0.9)
    assert dict(seen[0]) == {}
    assert dict(seen[1]) == {"explain": "true", "coverage": "0.9"}


# ---------------------------------------------------------------- what-if, models, ingestion


def _recorder(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[list[httpx.Request], Callable]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return seen, handler


def _what_if_answer(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    points = [
        {"value": v, "predicted_hours": 1.0 + i, "predicted_hours_low": 0.5, "predicted_hours_high": 2.0 + i}
        for i, v in enumerate(body["values"])
    ]
    return httpx.Response(
        200, json={"vary": body["vary"], "model_version": "v1", "interval_coverage": 0.8, "points": points}
    )


def test_what_if_sends_every_value_in_one_request() -> None:
    seen, handler = _recorder(_what_if_answer)
    start = datetime(2025, 3, 4, 14, 30, tzinfo=UTC)
    answer = _client(handler).what_if({**ROW, "start_time": start}, "ticket_count", [0, 10, 20])
    assert len(seen) == 1
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/what-if")
    body = json.loads(request.content)
    assert body == {
        "incident": {**ROW, "start_time": "2025-03-04T14:30:00+00:00"},
        "vary": "ticket_count",
        "values": [0, 10, 20],
    }
    assert [p["value"] for p in answer["points"]] == [0, 10, 20]
    assert dict(request.url.params) == {}


def test_what_if_serialises_times_and_asks_for_a_coverage_when_told() -> None:
    seen, handler = _recorder(_what_if_answer)
    times = [datetime(2025, 3, 4, h, tzinfo=UTC) for h in (1, 2)]
    _client(handler).what_if(ROW, "start_time", times, coverage=0.9)
    assert json.loads(seen[0].content)["values"] == ["2025-03-04T01:00:00+00:00", "2025-03-04T02:00:00+00:00"]
    assert dict(seen[0].url.params) == {"coverage": "0.9"}


def test_what_if_bad_value_is_an_api_error_naming_it() -> None:
    detail = [{"loc": ["body", "values", 1], "msg": "Input should be greater than or equal to 0"}]
    with pytest.raises(ApiError) as info:
        _client(lambda r: httpx.Response(422, json={"detail": detail})).what_if(ROW, "ticket_count", [1, -3])
    assert "values.1: Input should be greater than or equal to 0" in str(info.value)


@pytest.mark.parametrize("count", [0, 501])
def test_what_if_rejects_a_number_of_values_the_api_would_refuse(count: int) -> None:
    with pytest.raises(ValueError, match="values"):
        _client(_what_if_answer).what_if(ROW, "ticket_count", list(range(count)))


def test_what_if_with_a_wrong_number_of_points_is_an_error() -> None:
    def short(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"vary": "x", "model_version": "v", "points": []})

    with pytest.raises(ApiError, match="number of points"):
        _client(short).what_if(ROW, "ticket_count", [1, 2])


MODELS = {"registered_model": "m", "champion": "m/1", "serving": "m/1", "versions": [], "runs": []}
RELOAD = {"previous_version": "m/1", "version": "m/2", "champion": "m/2", "changed": True, "seconds": 0.2}


def test_models_and_reload() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=MODELS if request.method == "GET" else RELOAD)

    seen, handler = _recorder(answer)
    client = _client(handler)
    assert client.models()["champion"] == "m/1"
    assert client.reload_model()["version"] == "m/2"
    client.reload_model(force=True)
    assert [(r.method, r.url.path, dict(r.url.params)) for r in seen] == [
        ("GET", "/models", {"limit": "50"}),
        ("POST", "/reload-model", {}),
        ("POST", "/reload-model", {"force": "true"}),
    ]


def test_reload_without_the_right_key_is_a_401_api_error() -> None:
    answer = {"detail": "Invalid or missing API key"}
    with pytest.raises(ApiError) as info:
        _client(lambda r: httpx.Response(401, json=answer)).reload_model()
    assert info.value.status == 401 and info.value.detail == "Invalid or missing API key"


def test_the_api_key_goes_with_every_call_when_configured() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/what-if":
            return _what_if_answer(request)
        if path == "/predict":
            return _echo_predictions(request)
        if path == "/health":
            return httpx.Response(200, json=HEALTHY)
        if path in ("/past-predictions", "/ingestion-stats"):
            return httpx.Response(200, json=[])
        if path == "/reload-model":
            return httpx.Response(200, json=RELOAD)
        if path.endswith("/bad-rows"):
            return httpx.Response(200, json={"id": 1, "rows": []})
        return httpx.Response(200, json=MODELS)

    seen, handler = _recorder(answer)
    client = ApiClient("http://api.test", api_key="s3cret", transport=httpx.MockTransport(handler))
    client.health()
    client.predict([ROW])
    client.past_predictions()
    client.what_if(ROW, "ticket_count", [1])
    client.models()
    client.reload_model()
    client.ingestion_stats()
    client.bad_rows(1)
    assert len(seen) == 8
    assert all(r.headers["X-API-Key"] == "s3cret" for r in seen)


def test_ingestion_stats_sends_only_the_filters_given() -> None:
    seen, handler = _recorder(lambda r: httpx.Response(200, json=[]))
    client = _client(handler)
    client.ingestion_stats(
        start_date=date(2025, 1, 1), end_date=date(2025, 1, 31), criticality="high", limit=20
    )
    client.ingestion_stats()
    assert dict(seen[0].url.params) == {
        "start_date": "2025-01-01",
        "end_date": "2025-01-31",
        "criticality": "high",
        "limit": "20",
        "offset": "0",
    }
    assert dict(seen[1].url.params) == {"limit": "100", "offset": "0"}


@pytest.mark.parametrize("limit", [0, 501])
def test_ingestion_stats_rejects_a_limit_the_api_would_refuse(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        _client(lambda r: httpx.Response(200, json=[])).ingestion_stats(limit=limit)


def test_ingestion_stats_must_be_a_list() -> None:
    with pytest.raises(ApiError, match="JSON list"):
        _client(lambda r: httpx.Response(200, json={"detail": "x"})).ingestion_stats()


def test_bad_rows_of_one_file() -> None:
    body = {"id": 7, "filename": "b.csv", "state": "done", "invalid_rows": 1, "returned": 1, "columns": ["a"]}
    body["rows"] = [{"row": 0, "errors": ["not_null:a"], "values": {"a": None}}]
    seen, handler = _recorder(lambda r: httpx.Response(200, json=body))
    answer = _client(handler).bad_rows(7, limit=10)
    assert (seen[0].url.path, dict(seen[0].url.params)) == ("/ingestion-stats/7/bad-rows", {"limit": "10"})
    assert answer["rows"][0]["errors"] == ["not_null:a"]
    with pytest.raises(ApiError) as info:
        _client(lambda r: httpx.Response(404, json={"detail": "No ingestion with id 9"})).bad_rows(9)
    assert info.value.status == 404 and "No ingestion with id 9" in str(info.value)
