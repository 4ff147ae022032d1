"""HTTP client of the OutageCast API, used by the web app and by the jobs.

Every failure surfaces as one of two exceptions with a message a person can act on:
``ApiUnavailable`` (nothing answered in time) and ``ApiError`` (the API answered with an error
status; ``detail`` carries its own message). Both derive from ``ApiProblem`` so callers that
only want to show the message catch one class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Self, TypedDict
from urllib.parse import quote

import httpx

from outagecast.settings import Settings

Source = Literal["webapp", "scheduled"]
SourceFilter = Literal["all", "webapp", "scheduled"]
ChunkCallback = Callable[[int, int], None]  # (rows done, rows in total)

Criticality = Literal["none", "low", "medium", "high"]

# The API's own ceilings (api/schemas.py), so a bad call fails here with a clear message.
MAX_PAST_LIMIT = 500
MAX_INGESTION_LIMIT = 500
MAX_BAD_ROWS_LIMIT = 1000
MAX_WHAT_IF_VALUES = 500
# /health must answer fast: a page waits on it before drawing anything.
HEALTH_TIMEOUT_SECONDS = 5.0


class ApiProblem(Exception):
    """Base of the client's errors; ``str(exc)`` is a message for people.

    ``partial_results`` holds the predictions that a chunked ``predict`` call did get (and the
    API stored) before it failed, so a caller never loses or silently repeats them.
    """

    def __init__(self, message: str, *, partial_results: list[dict] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial_results: list[dict] = partial_results or []


class ApiUnavailable(ApiProblem):
    """The API could not be reached, or did not answer in time."""


class ApiError(ApiProblem):
    """The API answered with an error status; ``detail`` is what it said."""

    def __init__(
        self, status: int, detail: Any, *, partial_results: list[dict] | None = None, row_offset: int = 0
    ) -> None:
        self.status = status
        self.detail = detail
        # Index of the first row of the failing request within the caller's rows (chunking).
        self.row_offset = row_offset
        super().__init__(f"API error {status}: {describe_detail(detail)}", partial_results=partial_results)

    @property
    def field_errors(self) -> list[FieldError]:
        """Per-row, per-field validation errors of a 422 answer, rows indexed in the caller's
        ``rows`` (empty for other errors)."""
        return [
            FieldError(row=e.row + self.row_offset, field=e.field, message=e.message)
            for e in field_errors(self.detail)
        ]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation error of a ``POST /predict`` body: which row, which field, why."""

    row: int  # index in the ``features`` list sent
    field: str | None
    message: str


class HealthReport(TypedDict):
    """``GET /health``."""

    status: Literal["healthy", "degraded"]
    model_loaded: bool
    model_version: str | None
    database: str
    problems: list[str]


@dataclass(frozen=True, slots=True)
class Health:
    """What ``GET /health`` says, whatever its status code (503 still carries the report)."""

    status: str
    model_loaded: bool
    model_version: str | None
    database: str
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


class Prediction(TypedDict, total=False):
    """One row of ``POST /predict``'s answer. Later API versions add fields (intervals,
    explanations); they pass through untouched, so ``total=False``."""

    cloud_provider: str
    service: str
    severity: str
    start_time: str
    system_load_before_outage: float
    system_load_imputed: bool
    number_of_customers_affected: int
    ticket_count: int
    backup_system_triggered: str
    predicted_hours: float
    predicted_hours_low: float
    predicted_hours_high: float
    interval_coverage: float
    is_anomaly: bool
    model_version: str
    predicted_end_time: str
    explanation: Explanation  # only when asked for (explain=True)


class Explanation(TypedDict):
    """Additive attribution: ``base_hours + sum(contributions.values()) == predicted_hours``."""

    base_hours: float
    contributions: dict[str, float]


class PastPrediction(Prediction, total=False):
    """One row of ``GET /past-predictions``."""

    id: int
    timestamp: str
    source: str


class WhatIfPoint(TypedDict):
    """The prediction with the varied input set to ``value``."""

    value: Any
    predicted_hours: float
    predicted_hours_low: float | None
    predicted_hours_high: float | None


class WhatIf(TypedDict):
    """``POST /what-if``: how the prediction and its interval move as one input changes."""

    vary: str
    model_version: str
    interval_coverage: float | None
    points: list[WhatIfPoint]


class ModelVersion(TypedDict, total=False):
    """One registered model version (``GET /models``)."""

    version: str
    number: int
    run_id: str | None
    created_at: str
    aliases: list[str]
    is_champion: bool
    family: str | None
    metrics: dict[str, float]
    feature_importances: dict[str, float]
    decision: Literal["promoted", "rejected"] | None
    reason: str | None


class TrainingRun(TypedDict, total=False):
    """One promotion decision (``GET /models``' ``runs``)."""

    id: int
    timestamp: str
    model_version: str
    run_id: str | None
    family: str | None
    n_train: int | None
    metrics: dict[str, Any]
    reference_rmse: float | None
    champion_version_before: str | None
    rmse_diff: float | None
    ci_low: float | None
    ci_high: float | None
    latency_ms_per_row: float | None
    decision: Literal["promoted", "rejected"]
    reason: str
    trigger: str


class ModelsReport(TypedDict):
    """``GET /models``: the registry, the champion, what this API serves, and the decisions."""

    registered_model: str
    champion: str | None
    serving: str | None
    versions: list[ModelVersion]
    runs: list[TrainingRun]


class Reload(TypedDict):
    """What ``POST /reload-model`` did."""

    previous_version: str | None
    version: str | None
    champion: str | None
    changed: bool
    seconds: float


class IngestionStat(TypedDict, total=False):
    """One ingested file (``GET /ingestion-stats``)."""

    id: int
    timestamp: str
    filename: str
    total_rows: int
    valid_rows: int
    invalid_rows: int
    criticality: Criticality
    error_types: dict[str, int]
    data_docs_url: str | None  # a path on the API, e.g. /data-docs/...
    state: Literal["done", "quarantined"] | None
    reason: str | None
    bad_rows_url: str | None


class BadRow(TypedDict):
    """One rejected row: its 0-based data row in the file, the rules it broke, its cells."""

    row: int | None
    errors: list[str]
    values: dict[str, str | None]


class BadRows(TypedDict):
    """``GET /ingestion-stats/{id}/bad-rows``."""

    id: int
    filename: str
    state: Literal["done", "quarantined"]
    reason: str | None
    invalid_rows: int
    returned: int
    columns: list[str]
    rows: list[BadRow]


# ------------------------------------------------------------------ monitoring (issue 6)
# The /monitoring answers are nested JSON documents (see api/monitoring_schemas.py); the web
# app turns their lists into frames, so they are typed here as plain mappings.
MonitoringReport = dict[str, Any]
MonitoringBucket = Literal["hour", "day"]
StartTimePart = Literal["hour", "day_of_week", "month"]
MAX_DISTRIBUTION_LAST_N = 100_000
MAX_DRIFT_HISTORY_RUNS = 1000
MAX_REALISED_ERROR_POINTS = 5000


def describe_detail(detail: Any) -> str:
    """FastAPI's ``detail`` (a string, or a list of validation errors) as one readable line."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for err in detail[:5]:
            if isinstance(err, Mapping):
                loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
                parts.append(f"{loc}: {err.get('msg', err)}" if loc else str(err.get("msg", err)))
            else:
                parts.append(str(err))
        more = f" (and {len(detail) - 5} more)" if len(detail) > 5 else ""
        return "; ".join(parts) + more
    return "no detail given" if detail is None else str(detail)


def field_errors(detail: Any) -> list[FieldError]:
    """The errors of a 422 ``detail`` that point at one row of ``features``."""
    out: list[FieldError] = []
    if not isinstance(detail, list):
        return out
    for err in detail:
        if not isinstance(err, Mapping):
            continue
        loc = list(err.get("loc", ()))
        # ["body", "features", 3, "severity"]: row 3, field severity.
        if len(loc) >= 3 and loc[0] == "body" and loc[1] == "features" and isinstance(loc[2], int):
            name = str(loc[3]) if len(loc) > 3 else None
            out.append(FieldError(row=loc[2], field=name, message=str(err.get("msg", ""))))
    return out


class ApiClient:
    """Typed calls to the OutageCast API over one pooled HTTP connection.

    Use as a context manager, or call ``close()``. Nothing is sent at construction.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_batch_rows: int = 10_000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_batch_rows = max_batch_rows
        headers = {"User-Agent": "outagecast-client"}
        if api_key:
            headers["X-API-Key"] = api_key
        # retries=1 re-tries only failed connection attempts (nothing was sent), so it is safe
        # for POST /predict too; it smooths over an API that is just restarting.
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            transport=transport or httpx.HTTPTransport(retries=1),
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Self:
        """A client for ``API_URL`` with the key, timeout and batch size from the settings."""
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        return cls(
            settings.api_url,
            api_key=key,
            timeout=settings.api_timeout_seconds,
            max_batch_rows=settings.max_batch_rows,
            **kwargs,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ endpoints
    def health(self, *, timeout: float | None = None) -> Health:
        """``GET /health``. A degraded API (503 with a report) is an answer, not an error."""
        response = self._send("GET", "/health", timeout=timeout or min(self.timeout, HEALTH_TIMEOUT_SECONDS))
        body = _json_or_none(response)
        if isinstance(body, Mapping) and "status" in body and response.status_code in (200, 503):
            return Health(
                status=str(body["status"]),
                model_loaded=bool(body.get("model_loaded")),
                model_version=body.get("model_version"),
                database=str(body.get("database", "unknown")),
                problems=[str(p) for p in body.get("problems") or []],
            )
        raise _error_from(response)

    def predict(
        self,
        rows: Sequence[Mapping[str, Any]],
        source: Source = "webapp",
        *,
        chunk_size: int | None = None,
        on_chunk: ChunkCallback | None = None,
        explain: bool = False,
        coverage: float | None = None,
    ) -> list[Prediction]:
        """``POST /predict`` for any number of rows, in chunks of at most the API's batch maximum.

        Returns the predictions in the order of ``rows``. ``on_chunk(done, total)`` is called
        after every chunk (and once with ``(0, total)`` before the first), for progress bars.
        ``explain`` asks for each input's contribution in hours; ``coverage`` for another
        interval coverage than the API's default. A failing chunk raises with
        ``partial_results`` = the predictions already made.
        """
        if not rows:
            return []
        size = max(1, min(chunk_size or self.max_batch_rows, self.max_batch_rows))
        total = len(rows)
        params: dict[str, Any] = {}
        if explain:
            params["explain"] = "true"
        if coverage is not None:
            params["coverage"] = coverage
        results: list[Prediction] = []
        if on_chunk:
            on_chunk(0, total)
        for start in range(0, total, size):
            chunk = [_jsonable(r) for r in rows[start : start + size]]
            try:
                response = self._send(
                    "POST", "/predict", params=params, json={"features": chunk, "source": source}
                )
                if response.status_code != 200:
                    raise _error_from(response)
                body = response.json()
                predictions = body["predictions"]
                if len(predictions) != len(chunk):
                    raise ApiError(response.status_code, "the API answered with a different number of rows")
            # Rows already predicted were stored by the API: hand them back, never lose them.
            except ApiError as exc:
                raise ApiError(
                    exc.status, exc.detail, partial_results=list(results), row_offset=start
                ) from exc
            except ApiUnavailable as exc:
                raise ApiUnavailable(exc.message, partial_results=list(results)) from exc
            except (ValueError, KeyError, TypeError) as exc:  # not JSON / unexpected shape
                raise ApiError(
                    response.status_code, f"unreadable answer: {exc}", partial_results=list(results)
                ) from exc
            results.extend(predictions)
            if on_chunk:
                on_chunk(len(results), total)
        return results

    def past_predictions(
        self,
        *,
        start_date: date | None = None,
        end_date: date | None = None,
        source: SourceFilter = "all",
        limit: int = 100,
        offset: int = 0,
        model_version: str | None = None,
        anomaly: bool | None = None,
    ) -> list[PastPrediction]:
        """``GET /past-predictions``: stored predictions, newest first; ``end_date`` inclusive."""
        if not 1 <= limit <= MAX_PAST_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_PAST_LIMIT}, not {limit}")
        params: dict[str, Any] = {"source": source, "limit": limit, "offset": offset}
        if start_date is not None:
            params["start_date"] = start_date.isoformat()
        if end_date is not None:
            params["end_date"] = end_date.isoformat()
        if model_version:
            params["model_version"] = model_version
        if anomaly is not None:
            params["anomaly"] = "true" if anomaly else "false"
        response = self._send("GET", "/past-predictions", params=params)
        if response.status_code != 200:
            raise _error_from(response)
        body = _json_or_none(response)
        if not isinstance(body, list):
            raise ApiError(response.status_code, "expected a JSON list of predictions")
        return body

    def what_if(
        self,
        incident: Mapping[str, Any],
        vary: str,
        values: Sequence[Any],
        *,
        coverage: float | None = None,
    ) -> WhatIf:
        """``POST /what-if``: ``incident`` predicted once per value of ``vary``, in ONE request.

        Nothing is stored. A bad value is a 422 whose detail points at ``values[i]``.
        """
        if not 1 <= len(values) <= MAX_WHAT_IF_VALUES:
            raise ValueError(f"between 1 and {MAX_WHAT_IF_VALUES} values are needed, not {len(values)}")
        body = {
            "incident": _jsonable(incident),
            "vary": vary,
            "values": [_json_value(v) for v in values],
        }
        params = {"coverage": coverage} if coverage is not None else None
        answer = self._json("POST", "/what-if", dict, params=params, json=body)
        if not isinstance(answer.get("points"), list) or len(answer["points"]) != len(values):
            raise ApiError(200, "the what-if answer has a different number of points")
        return answer

    def models(self, *, limit: int = 50) -> ModelsReport:
        """``GET /models``: registered versions (newest first), the champion, the decisions."""
        return self._json("GET", "/models", dict, params={"limit": limit})

    def reload_model(self, *, force: bool = False) -> Reload:
        """``POST /reload-model``: serve the registry's champion now (needs the key when set)."""
        params = {"force": "true"} if force else None
        return self._json("POST", "/reload-model", dict, params=params)

    def ingestion_stats(
        self,
        *,
        start_date: date | None = None,
        end_date: date | None = None,
        criticality: Criticality | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[IngestionStat]:
        """``GET /ingestion-stats``: ingested files, newest first; ``end_date`` inclusive."""
        if not 1 <= limit <= MAX_INGESTION_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_INGESTION_LIMIT}, not {limit}")
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if start_date is not None:
            params["start_date"] = start_date.isoformat()
        if end_date is not None:
            params["end_date"] = end_date.isoformat()
        if criticality is not None:
            params["criticality"] = criticality
        return self._json("GET", "/ingestion-stats", list, params=params)

    def bad_rows(self, stat_id: int, *, limit: int = 100) -> BadRows:
        """``GET /ingestion-stats/{id}/bad-rows``: one file's rejected rows and the rules they broke."""
        if not 1 <= limit <= MAX_BAD_ROWS_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_BAD_ROWS_LIMIT}, not {limit}")
        return self._json("GET", f"/ingestion-stats/{int(stat_id)}/bad-rows", dict, params={"limit": limit})

    # ------------------------------------------------------------------ monitoring
    def monitoring_ingestion(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        bucket: MonitoringBucket = "hour",
    ) -> MonitoringReport:
        """``GET /monitoring/ingestion``: files, rows, criticality and error types per time bucket."""
        return self._json("GET", "/monitoring/ingestion", dict, params=_range(since, until, bucket))

    def monitoring_drift(self, *, run_id: int | None = None) -> MonitoringReport:
        """``GET /monitoring/drift``: the newest monitor run and per-feature results (newest ok run)."""
        params = {"run_id": run_id} if run_id is not None else None
        return self._json("GET", "/monitoring/drift", dict, params=params)

    def monitoring_drift_history(
        self, *, feature: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """``GET /monitoring/drift/history``: drift statistics per feature over the newest ok runs."""
        if not 1 <= limit <= MAX_DRIFT_HISTORY_RUNS:
            raise ValueError(f"limit must be between 1 and {MAX_DRIFT_HISTORY_RUNS}, not {limit}")
        params: dict[str, Any] = {"limit": limit}
        if feature is not None:
            params["feature"] = feature
        return self._json("GET", "/monitoring/drift/history", list, params=params)

    def monitoring_distribution(
        self, feature: str, *, run_id: int | None = None, last_n: int = 1000, part: StartTimePart = "hour"
    ) -> MonitoringReport:
        """``GET /monitoring/drift/{feature}/distribution``: training vs recent shares per bin."""
        if not 1 <= last_n <= MAX_DISTRIBUTION_LAST_N:
            raise ValueError(f"last_n must be between 1 and {MAX_DISTRIBUTION_LAST_N}, not {last_n}")
        params: dict[str, Any] = {"last_n": last_n, "part": part}
        if run_id is not None:
            params["run_id"] = run_id
        path = f"/monitoring/drift/{quote(feature, safe='')}/distribution"
        return self._json("GET", path, dict, params=params)

    def monitoring_predictions(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        bucket: MonitoringBucket = "hour",
        source: Source | None = None,
        model_version: str | None = None,
        bins: int = 30,
    ) -> MonitoringReport:
        """``GET /monitoring/predictions``: predictions over time, by source and version, and a histogram."""
        params = _range(since, until, bucket) | {"bins": bins}
        if source is not None:
            params["source"] = source
        if model_version is not None:
            params["model_version"] = model_version
        return self._json("GET", "/monitoring/predictions", dict, params=params)

    def realised_error(self, *, model_version: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """``GET /monitoring/realised-error``: MAE, bias, RMSE and interval coverage per run and version."""
        if not 1 <= limit <= MAX_REALISED_ERROR_POINTS:
            raise ValueError(f"limit must be between 1 and {MAX_REALISED_ERROR_POINTS}, not {limit}")
        params: dict[str, Any] = {"limit": limit}
        if model_version is not None:
            params["model_version"] = model_version
        return self._json("GET", "/monitoring/realised-error", list, params=params)

    # ------------------------------------------------------------------ plumbing
    def _json(self, method: str, path: str, shape: type, **kwargs: Any) -> Any:
        """Send; a 200 answer's JSON body of the expected ``shape`` (dict or list), else ``ApiError``."""
        response = self._send(method, path, **kwargs)
        if response.status_code != 200:
            raise _error_from(response)
        body = _json_or_none(response)
        if not isinstance(body, shape):
            kind = "object" if shape is dict else "list"
            raise ApiError(response.status_code, f"expected a JSON {kind} from {method} {path}")
        return body

    def _send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, timeout=timeout or self.timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise ApiUnavailable(
                f"The OutageCast API at {self.base_url} did not answer within "
                f"{timeout or self.timeout:g} s ({method} {path})."
            ) from exc
        except httpx.TransportError as exc:  # connection refused, DNS, reset...
            raise ApiUnavailable(
                f"Cannot reach the OutageCast API at {self.base_url} ({_reason(exc)}; {method} {path})."
            ) from exc


def _range(since: datetime | None, until: datetime | None, bucket: str) -> dict[str, Any]:
    """Query parameters of a monitoring time range (ISO 8601; the API takes naive times as UTC)."""
    params: dict[str, Any] = {"bucket": bucket}
    if since is not None:
        params["since"] = since.isoformat()
    if until is not None:
        params["until"] = until.isoformat()
    return params


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.split("] ", 1)[-1] if text else type(exc).__name__


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_from(response: httpx.Response) -> ApiError:
    body = _json_or_none(response)
    if isinstance(body, Mapping) and "detail" in body:
        detail = body["detail"]
    elif response.text:
        detail = response.text[:500]
    else:
        detail = response.reason_phrase or "no detail given"
    return ApiError(response.status_code, detail)


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    """A request row as plain JSON values: dates as ISO strings, NaN/None fields left out."""
    # The API treats an absent optional input as "unknown".
    return {key: _json_value(value) for key, value in row.items() if not _missing(value)}


def _missing(value: Any) -> bool:
    return value is None or value != value  # NaN and NaT are unequal to themselves


def _json_value(value: Any) -> Any:
    """A plain JSON value: dates and times as ISO strings, numpy scalars as Python numbers."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value
