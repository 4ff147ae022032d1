"""GET /monitoring/...: live servers on SQLite and PostgreSQL, each on a database of its own.

The databases hold generated predictions, ingestion stats and monitor runs (tests/utils/
monitoring_seed.py); every answer is checked against the same numbers computed here in Python.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from outagecast.db.migrate import upgrade_to_head
from outagecast.ml import registry
from outagecast.settings import Settings
from tests.api.conftest import TEST_DATASET_ROWS, _serve
from tests.utils.monitoring_seed import Seeded, seed_monitoring
from tests.utils.server import RunningServer


@dataclass
class Monitored:
    """A live API whose database holds only the seeded monitoring data."""

    server: RunningServer
    seeded: Seeded
    version: str
    settings: Settings


def _served_version(home: Path) -> str:
    version = registry.champion_version(Settings(outagecast_home=home, dataset_rows=int(TEST_DATASET_ROWS)))
    assert version, "the trained home has a champion"
    return version


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def monitored(
    request: pytest.FixtureRequest, trained_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Monitored]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('monitoring-api')}/monitoring.db"
        schema_name = None
    else:
        # A schema of its own in the session's database: no other test's rows to count.
        base = request.getfixturevalue("postgres_url")
        schema_name = f"mon_{uuid.uuid4().hex[:10]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema_name}"'))  # generated, not input
        admin.dispose()
        url = (
            make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema_name}"})
            .render_as_string(hide_password=False)
        )
    upgrade_to_head(url)
    version = _served_version(trained_home)
    seeded = seed_monitoring(url, model_version=version)
    server = _serve(trained_home, url, f"monitoring-{request.param}")
    settings = Settings(outagecast_home=trained_home, database_url=url, dataset_rows=int(TEST_DATASET_ROWS))
    try:
        yield Monitored(server, seeded, version, settings)
    finally:
        server.stop()


@pytest.fixture
def api(monitored: Monitored) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=monitored.server.url, timeout=60) as client:
        yield client


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _window(seeded: Seeded) -> dict[str, str]:
    return {
        "since": (seeded.start - timedelta(hours=1)).isoformat(),
        "until": (seeded.start + timedelta(days=1)).isoformat(),
    }


def _nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered) - 1e-9)) - 1]


# --- ingestion ---------------------------------------------------------------------------------


def test_ingestion_per_hour_matches_the_stats(monitored: Monitored, api: httpx.Client) -> None:
    response = api.get("/monitoring/ingestion", params={**_window(monitored.seeded), "bucket": "hour"})
    assert response.status_code == 200, response.text
    body = response.json()
    expected: dict[datetime, dict[str, Any]] = defaultdict(
        lambda: {"files": 0, "total_rows": 0, "valid_rows": 0, "invalid_rows": 0, "criticality": Counter()}
    )
    errors: Counter[tuple[datetime, str]] = Counter()
    for s in monitored.seeded.stats:
        e = expected[_hour(s["timestamp"])]
        e["files"] += 1
        for key in ("total_rows", "valid_rows", "invalid_rows"):
            e[key] += s[key]
        e["criticality"][s["criticality"]] += 1
        for kind, n in s["error_types"].items():
            errors[(_hour(s["timestamp"]), kind)] += n
    got = {datetime.fromisoformat(b["bucket"]): b for b in body["buckets"]}
    assert list(got) == sorted(expected)
    for when, e in expected.items():
        b = got[when]
        assert (b["files"], b["total_rows"], b["valid_rows"], b["invalid_rows"]) == (
            e["files"], e["total_rows"], e["valid_rows"], e["invalid_rows"]
        )  # fmt: skip
        assert b["criticality"] == {c: e["criticality"][c] for c in ("none", "low", "medium", "high")}
    got_errors = {
        (datetime.fromisoformat(r["bucket"]), r["error_type"]): r["rows"] for r in body["error_types"]
    }
    assert got_errors == dict(errors)
    assert body["totals"]["files"] == len(monitored.seeded.stats)


def test_ingestion_per_day_and_time_range(monitored: Monitored, api: httpx.Client) -> None:
    stats = monitored.seeded.stats
    cut = stats[len(stats) // 2]["timestamp"]
    params = {"since": cut.isoformat(), "until": _window(monitored.seeded)["until"], "bucket": "day"}
    response = api.get("/monitoring/ingestion", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    kept = [s for s in stats if s["timestamp"] >= cut]
    days = Counter(s["timestamp"].date() for s in kept)
    assert {datetime.fromisoformat(b["bucket"]).date(): b["files"] for b in body["buckets"]} == dict(days)
    assert all(datetime.fromisoformat(b["bucket"]).hour == 0 for b in body["buckets"])
    assert body["totals"]["invalid_rows"] == sum(s["invalid_rows"] for s in kept)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bucket": "week"}, "bucket"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"since": "2020-01-01T00:00:00Z", "bucket": "hour"}, "bucket"),
        ({"surprise": "1"}, "surprise"),
        ({"since": "0001-01-01T00:00:00"}, "since"),
        ({"since": "1700000000"}, "since"),  # a Unix time is not ISO 8601
        ({"since": "1.6732174541935928e-105"}, "since"),  # nor is one in exponent form (make fuzz)
        ({"until": "-5"}, "until"),
    ],
)
def test_ingestion_rejects_bad_parameters(api: httpx.Client, params: dict[str, str], field: str) -> None:
    response = api.get("/monitoring/ingestion", params=params)
    assert response.status_code == 422
    assert field in response.text


# --- predictions -------------------------------------------------------------------------------


def test_predictions_over_time_count_mean_and_quantiles(monitored: Monitored, api: httpx.Client) -> None:
    response = api.get("/monitoring/predictions", params={**_window(monitored.seeded), "bucket": "hour"})
    assert response.status_code == 200, response.text
    body = response.json()
    preds = monitored.seeded.predictions
    assert body["total"] == len(preds)
    assert body["anomalies"] == sum(p["is_anomaly"] for p in preds)
    assert body["mean"] == pytest.approx(np.mean([p["predicted_hours"] for p in preds]))
    by_hour: dict[datetime, list[float]] = defaultdict(list)
    for p in preds:
        by_hour[_hour(p["timestamp"])].append(p["predicted_hours"])
    series = {datetime.fromisoformat(b["bucket"]): b for b in body["series"]}
    assert list(series) == sorted(by_hour)
    for when, values in by_hour.items():
        b = series[when]
        assert b["count"] == len(values)
        assert b["mean"] == pytest.approx(np.mean(values))
        for name, p in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
            assert b["quantiles"][name] == pytest.approx(_nearest_rank(values, p)), (when, name)
    sources = Counter((_hour(p["timestamp"]), p["source"]) for p in preds)
    got = {(datetime.fromisoformat(r["bucket"]), r["source"]): r["count"] for r in body["by_source"]}
    assert got == dict(sources)
    versions = Counter(p["model_version"] for p in preds)
    got_versions: Counter[str] = Counter()
    for r in body["by_model_version"]:
        got_versions[r["model_version"]] += r["count"]
    assert got_versions == versions


def test_predictions_histogram_and_filters(monitored: Monitored, api: httpx.Client) -> None:
    params = {**_window(monitored.seeded), "bucket": "day", "source": "webapp", "bins": 12}
    body = api.get("/monitoring/predictions", params=params).json()
    values = [p["predicted_hours"] for p in monitored.seeded.predictions if p["source"] == "webapp"]
    counts, edges = np.histogram(values, bins=12, range=(min(values), max(values)))
    assert body["total"] == len(values)
    assert body["histogram"]["counts"] == counts.tolist()
    assert body["histogram"]["edges"] == pytest.approx(edges.tolist())
    only = api.get(
        "/monitoring/predictions", params={**_window(monitored.seeded), "model_version": monitored.version}
    )
    assert only.json()["total"] == sum(
        p["model_version"] == monitored.version for p in monitored.seeded.predictions
    )
    none = api.get("/monitoring/predictions", params={"model_version": "no-such-version"}).json()
    assert none["total"] == 0 and none["series"] == [] and none["histogram"]["counts"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"source": "email"}, "source"),
        ({"bins": 0}, "bins"),
        ({"until": "nope"}, "until"),
        ({"model_version": "a\x00b"}, "model_version"),  # PostgreSQL text cannot hold NUL
    ],
)
def test_predictions_reject_bad_parameters(api: httpx.Client, params: dict[str, Any], field: str) -> None:
    response = api.get("/monitoring/predictions", params=params)
    assert response.status_code == 422
    assert field in response.text


# --- drift -------------------------------------------------------------------------------------


def test_drift_shows_the_newest_ok_run_and_the_newest_run(monitored: Monitored, api: httpx.Client) -> None:
    body = api.get("/monitoring/drift").json()
    ok_runs = [r for r in monitored.seeded.runs if r["status"] == "ok"]
    assert body["latest_run"]["id"] == monitored.seeded.runs[-1]["id"]
    assert body["latest_run"]["status"] == "skipped"
    assert body["run"]["id"] == ok_runs[-1]["id"]
    assert body["run"]["drifted_features"] == ["ticket_count"]
    expected = {d["feature"]: d for d in monitored.seeded.drift if d["run_id"] == ok_runs[-1]["id"]}
    assert {r["feature"] for r in body["results"]} == set(expected)
    for r in body["results"]:
        assert r["drifted"] == expected[r["feature"]]["drifted"]
        assert r["psi"] == pytest.approx(expected[r["feature"]]["psi"])
    first = api.get("/monitoring/drift", params={"run_id": ok_runs[0]["id"]}).json()
    assert first["run"]["id"] == ok_runs[0]["id"] and not any(r["drifted"] for r in first["results"])
    assert api.get("/monitoring/drift", params={"run_id": 10**9}).status_code == 404
    assert api.get("/monitoring/drift", params={"run_id": 0}).status_code == 422


def test_drift_history_per_feature(monitored: Monitored, api: httpx.Client) -> None:
    body = api.get("/monitoring/drift/history", params={"feature": "ticket_count"}).json()
    expected = [d for d in monitored.seeded.drift if d["feature"] == "ticket_count"]
    assert [p["run_id"] for p in body] == [d["run_id"] for d in expected]  # oldest first
    assert [p["drifted"] for p in body] == [False, True]
    assert [p["statistic"] for p in body] == pytest.approx([d["statistic"] for d in expected])
    every = api.get("/monitoring/drift/history", params={"limit": 1}).json()
    assert {p["run_id"] for p in every} == {monitored.seeded.runs[1]["id"]}
    assert len(every) == len({d["feature"] for d in monitored.seeded.drift})
    unknown = api.get("/monitoring/drift/history", params={"feature": "colour"})
    assert unknown.status_code == 422 and "ticket_count" in unknown.text and "feature" in unknown.text
    assert api.get("/monitoring/drift/history", params={"limit": 0}).status_code == 422


def _run_window(monitored: Monitored) -> list[dict[str, Any]]:
    run = [r for r in monitored.seeded.runs if r["status"] == "ok"][-1]
    return [
        p for p in monitored.seeded.predictions if run["window_start"] <= p["timestamp"] <= run["window_end"]
    ]


def test_numeric_distribution_bins_the_window_on_the_training_edges(
    monitored: Monitored, api: httpx.Client
) -> None:
    response = api.get("/monitoring/drift/ticket_count/distribution")
    assert response.status_code == 200, response.text
    body = response.json()
    baseline = registry.load_baseline(monitored.settings, monitored.version)
    histogram = baseline["numeric"]["ticket_count"]["histogram"]
    assert body["model_version"] == monitored.version and body["kind"] == "numeric"
    assert [b["training_count"] for b in body["bins"]] == histogram["counts"]
    values = [p["ticket_count"] for p in _run_window(monitored)]
    cuts = histogram["edges"][1:-1]
    expected = np.bincount(np.searchsorted(cuts, values, side="right"), minlength=len(cuts) + 1)
    assert [b["recent_count"] for b in body["bins"]] == expected.tolist()
    assert sum(b["recent_share"] for b in body["bins"]) == pytest.approx(1.0)
    assert body["window"]["run_id"] == monitored.seeded.runs[1]["id"]
    assert body["drift"]["feature"] == "ticket_count" and body["drift"]["drifted"] is True


def test_system_load_leaves_imputed_values_out(monitored: Monitored, api: httpx.Client) -> None:
    body = api.get("/monitoring/drift/system_load_before_outage/distribution").json()
    real = [p for p in _run_window(monitored) if not p["system_load_imputed"]]
    assert body["recent_rows"] == len(real) < len(_run_window(monitored))


def test_categorical_and_time_distributions(monitored: Monitored, api: httpx.Client) -> None:
    body = api.get("/monitoring/drift/severity/distribution").json()
    counts = Counter(p["severity"] for p in _run_window(monitored))
    assert {b["label"]: b["recent_count"] for b in body["bins"]} == {
        s: counts.get(s, 0) for s in ("Low", "Medium", "High", "Critical")
    }
    hours = api.get("/monitoring/drift/start_time/distribution", params={"part": "hour"}).json()
    assert hours["part"] == "hour" and [b["label"] for b in hours["bins"]] == [str(h) for h in range(24)]
    expected = Counter(str(p["start_time"].hour) for p in _run_window(monitored))
    assert {b["label"]: b["recent_count"] for b in hours["bins"] if b["recent_count"]} == dict(expected)
    days = api.get("/monitoring/drift/start_time/distribution", params={"part": "day_of_week"}).json()
    expected_days = Counter(str(p["start_time"].weekday()) for p in _run_window(monitored))
    assert {b["label"]: b["recent_count"] for b in days["bins"] if b["recent_count"]} == dict(expected_days)


def test_prediction_distribution_without_a_run_uses_the_last_predictions(
    monitored: Monitored, api: httpx.Client
) -> None:
    first_run = [r for r in monitored.seeded.runs if r["status"] == "ok"][0]
    body = api.get(
        "/monitoring/drift/predicted_hours/distribution", params={"run_id": first_run["id"], "last_n": 5}
    ).json()
    assert body["window"]["run_id"] == first_run["id"] and body["window"]["last_n"] is None
    assert body["recent_rows"] == first_run["window_rows"]
    skipped = monitored.seeded.runs[-1]  # no window: the newest last_n predictions instead
    body = api.get(
        "/monitoring/drift/predicted_hours/distribution", params={"run_id": skipped["id"], "last_n": 25}
    ).json()
    assert body["window"] == {"run_id": None, "start": None, "end": None, "source": None, "last_n": 25}
    assert body["recent_rows"] == 25


def test_distribution_errors_are_clear(api: httpx.Client) -> None:
    unknown = api.get("/monitoring/drift/colour/distribution")
    assert unknown.status_code == 422  # the path names the allowed features (an enum in OpenAPI)
    assert "colour" in unknown.text and "severity" in unknown.text
    assert api.get("/monitoring/drift/severity/distribution", params={"run_id": 10**9}).status_code == 404
    bad_part = api.get("/monitoring/drift/start_time/distribution", params={"part": "minute"})
    assert bad_part.status_code == 422 and "part" in bad_part.text
    assert api.get("/monitoring/drift/severity/distribution", params={"last_n": 0}).status_code == 422


# --- realised error ----------------------------------------------------------------------------


def test_realised_error_per_version_over_time(monitored: Monitored, api: httpx.Client) -> None:
    body = api.get("/monitoring/realised-error").json()
    assert len(body) == len(monitored.seeded.errors)
    stamps = [datetime.fromisoformat(p["timestamp"]) for p in body]
    assert stamps == sorted(stamps)
    mine = api.get("/monitoring/realised-error", params={"model_version": monitored.version}).json()
    expected = [e for e in monitored.seeded.errors if e["model_version"] == monitored.version]
    assert [p["mae"] for p in mine] == pytest.approx([e["mae"] for e in expected])
    assert [p["bias"] for p in mine] == pytest.approx([e["bias"] for e in expected])
    assert [p["interval_coverage"] for p in mine] == pytest.approx([e["interval_coverage"] for e in expected])
    assert [p["degraded"] for p in mine] == [e["degraded"] for e in expected]
    assert (
        api.get("/monitoring/realised-error", params={"limit": 1}).json()[0]["run_id"]
        == monitored.seeded.runs[1]["id"]
    )
    assert api.get("/monitoring/realised-error", params={"limit": 0}).status_code == 422
    assert api.get("/monitoring/realised-error", params={"model_version": "a\x00b"}).status_code == 422


def test_endpoints_are_documented_in_openapi(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/monitoring/ingestion",
        "/monitoring/drift",
        "/monitoring/drift/history",
        "/monitoring/drift/{feature}/distribution",
        "/monitoring/predictions",
        "/monitoring/realised-error",
    ):
        assert "get" in paths[path], path


def test_grafana_error_rate_rule_matches_the_metric_the_api_exposes(api: httpx.Client) -> None:
    """deploy/grafana's API error-rate rule reads a metric and labels this API really serves."""
    rules = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "provisioning" / "alerting"
    exprs = [
        query["model"]["expr"]
        for path in rules.glob("*.yaml")
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
        if rule["uid"] == "outagecast-api-error-rate"
        for query in rule["data"]
        if "expr" in query["model"]
    ]
    assert len(exprs) == 1
    metric = re.search(r"(\w+)\{", exprs[0]).group(1)
    status = re.compile(re.search(r'status=~"([^"]+)"', exprs[0]).group(1))
    assert api.get("/monitoring/drift/colour/distribution").status_code == 422  # a 4xx to count
    text = api.get("/metrics").text
    # Greedy up to the last "}" of the line: route templates in handler hold braces themselves.
    samples = re.findall(rf"^{metric}\{{(.*)\}} \S+$", text, re.MULTILINE)
    assert samples, f"{metric} is not exposed"
    labels = [dict(re.findall(r'(\w+)="([^"]*)"', s)) for s in samples]
    assert all({"handler", "method", "status"} <= set(lab) for lab in labels)
    statuses = {lab["status"] for lab in labels}
    assert any(s.startswith("4") for s in statuses), statuses
    assert not any(status.fullmatch(s) for s in statuses if not s.startswith("5"))
