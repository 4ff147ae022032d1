"""Prometheus metrics of the API, served at ``GET /metrics`` (text exposition format).

- ``http_requests_total{handler,method,status}`` and
  ``http_request_duration_seconds{handler,method,status}`` (histogram), by route template, from
  prometheus-fastapi-instrumentator; ``/metrics`` itself is not counted.
- ``outagecast_predictions_total{source}``: predictions stored (idempotent replays excluded).
- ``outagecast_anomalies_total{source}``: of those, the ones flagged ``is_anomaly``.
- ``outagecast_database_errors_total``: requests answered 503 because the database failed.
- ``outagecast_model_info{version}``: 1 for the model version this process serves (read at
  scrape time, so it is never stale after a reload).

Every metric lives in a registry of its own app, so building several apps in one process (tests)
never collides on metric names. With several uvicorn workers, each process counts for itself and
a scrape would see one random worker; set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable
directory (shared by the workers of one server, emptied before it starts) and prometheus_client
writes the values to files there, and ``/metrics`` adds up every worker's (docs/security.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as instrumentator_metrics

METRICS_PATH = "/metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SOURCES = ("webapp", "scheduled")
# Request latency buckets (seconds): single predictions take milliseconds, 10,000-row batches seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

router = APIRouter(tags=["monitoring"])


def multiprocess_mode() -> bool:
    """Whether prometheus_client keeps values in files shared by the workers."""
    return bool(os.environ.get(MULTIPROC_ENV))


@dataclass(frozen=True)
class ApiMetrics:
    """The application metrics of one app, and the registry they live in."""

    registry: CollectorRegistry
    predictions: Counter
    anomalies: Counter
    database_errors: Counter

    def record_predictions(self, source: str, rows: int, anomalies: int) -> None:
        """Count ``rows`` stored predictions of ``source``, ``anomalies`` of them flagged."""
        self.predictions.labels(source=source).inc(rows)
        self.anomalies.labels(source=source).inc(anomalies)


class _ModelInfoCollector(Collector):
    """``outagecast_model_info{version}``: read from the model holder when scraped."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "outagecast_model_info", "The model version this process serves (value 1).", labels=["version"]
        )
        version = self._app.state.model_holder.version
        if version is not None:
            family.add_metric([version], 1.0)
        yield family


def setup_metrics(app: FastAPI) -> ApiMetrics:
    """Create the metrics of ``app``, instrument its requests and add ``GET /metrics``.

    Call once, while building the app (the instrumentation is middleware).
    """
    registry = CollectorRegistry(auto_describe=True)
    api_metrics = ApiMetrics(
        registry=registry,
        predictions=Counter(
            "outagecast_predictions", "Predictions stored, by source.", ["source"], registry=registry
        ),
        anomalies=Counter(
            "outagecast_anomalies",
            "Stored predictions flagged as anomalies (above ANOMALY_THRESHOLD_HOURS), by source.",
            ["source"],
            registry=registry,
        ),
        database_errors=Counter(
            "outagecast_database_errors",
            "Requests answered 503 because the database failed.",
            registry=registry,
        ),
    )
    for source in SOURCES:  # present at 0 from the start, so rate() works from the first scrape
        api_metrics.predictions.labels(source=source)
        api_metrics.anomalies.labels(source=source)

    instrumentator = Instrumentator(
        should_group_status_codes=False,  # 401, 413, 429 and 503 each say something different
        should_group_untemplated=True,  # unknown paths become one "none" handler, not a label each
        excluded_handlers=[METRICS_PATH],
        registry=registry,
    )
    instrumentator.add(instrumentator_metrics.requests(registry=registry))
    instrumentator.add(instrumentator_metrics.latency(buckets=LATENCY_BUCKETS, registry=registry))
    instrumentator.instrument(app)

    app.state.metrics = api_metrics
    app.state.metrics_model_collector = _ModelInfoCollector(app)
    return api_metrics


@router.get(METRICS_PATH, include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's metrics (every worker's in multiprocess mode)."""
    app = request.app
    if multiprocess_mode():
        # A fresh registry per scrape, as prometheus_client documents: the collector reads the
        # files of every worker, so the answer is the same whichever worker takes the scrape.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(app.state.metrics.registry))
    registry.register(app.state.metrics_model_collector)
    return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _Forward(Collector):
    """Collects another registry (a registry cannot be registered in another one directly)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return self._source.collect()


def record_database_error(app: FastAPI) -> None:
    """Count one request answered 503 for a database failure (no-op on an app without metrics)."""
    api_metrics: ApiMetrics | None = getattr(app.state, "metrics", None)
    if api_metrics is not None:
        api_metrics.database_errors.inc()


def record_predictions(app: FastAPI, source: str, rows: int, anomalies: int) -> None:
    """Count stored predictions (no-op on an app without metrics)."""
    api_metrics: ApiMetrics | None = getattr(app.state, "metrics", None)
    if api_metrics is not None:
        api_metrics.record_predictions(source, rows, anomalies)
