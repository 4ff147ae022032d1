"""Request and response bodies of the HTTP API, built from the schema module."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from outagecast import schema

CloudProvider = Literal[schema.CLOUD_PROVIDERS]  # type: ignore[valid-type]
Service = Literal[schema.SERVICES]  # type: ignore[valid-type]
Severity = Literal[schema.SEVERITIES]  # type: ignore[valid-type]
YesNo = Literal[schema.YES_NO]  # type: ignore[valid-type]
Source = Literal["webapp", "scheduled"]
SourceFilter = Literal["all", "webapp", "scheduled"]

_LOAD_MIN, _LOAD_MAX = schema.bounds_of("system_load_before_outage")


def _json_number(kind: str) -> Any:
    """A check that the value is a JSON number, as the schema says: pydantic's lax mode also takes
    ``true`` and ``"35"``."""

    def check(value: Any) -> Any:
        if isinstance(value, bool | str):
            raise ValueError(f"Input should be a valid {kind} (a JSON number, not a string or true/false)")
        return value

    return check


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Only ``YYYY-MM-DD``, the documented format: pydantic would read ``0`` as a Unix time (1970-01-01)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


_NUMBER_TEXT = re.compile(r"[+-]?\d+(\.\d*)?")


def _iso_datetime(value: Any) -> Any:
    """Only ISO 8601 text, as documented: pydantic would read ``0`` or ``"0"`` as a Unix time."""
    if not isinstance(value, str | datetime) or (isinstance(value, str) and _NUMBER_TEXT.fullmatch(value)):
        raise ValueError("must be a date-time written in ISO 8601, e.g. 2025-03-01T14:30:00Z")
    return value


# Outages happen in this window; beyond it pandas' nanosecond timestamps overflow (years 1677-2262),
# which made a start time like 0001-02-17 a 500 instead of a 422.
START_TIME_MIN = datetime(1900, 1, 1, tzinfo=UTC)
START_TIME_MAX = datetime(2200, 1, 1, tzinfo=UTC)


def _plausible_start(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # naive means UTC
    if not START_TIME_MIN <= aware < START_TIME_MAX:
        raise ValueError(f"must be between {START_TIME_MIN:%Y-%m-%d} and {START_TIME_MAX:%Y-%m-%d}")
    return value


# Found by fuzzing the API with its own OpenAPI schema (tests/reliability/test_fuzz_api.py).
JsonInt = Annotated[int, BeforeValidator(_json_number("integer"))]
JsonFloat = Annotated[float, BeforeValidator(_json_number("number"))]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime), AfterValidator(_plausible_start)]


def _storable_text(value: str) -> str:
    """Text the database can store: JSON may carry a NUL or a lone UTF-16 surrogate (``"\\udbe4"``),
    which PostgreSQL refuses and UTF-8 cannot encode (that was a 500)."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from exc
    return value


StorableText = Annotated[str, AfterValidator(_storable_text)]


class IncidentFeatures(BaseModel):
    """The eight inputs of one prediction (the original design's request row)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "cloud_provider": "AWS",
                    "service": "Compute",
                    "severity": "High",
                    "system_load_before_outage": 75,
                    "number_of_customers_affected": 1200,
                    "ticket_count": 35,
                    "backup_system_triggered": "Yes",
                }
            ]
        },
    )

    cloud_provider: CloudProvider
    service: Service
    severity: Severity
    start_time: IsoDateTime | None = Field(
        None, description="Outage start (ISO 8601; naive means UTC). Absent: see START_TIME_POLICY."
    )
    # allow_inf_nan=False: Python's JSON parser accepts NaN/Infinity, which JSON itself has not.
    system_load_before_outage: JsonFloat | None = Field(
        None,
        ge=_LOAD_MIN,
        le=_LOAD_MAX,
        allow_inf_nan=False,
        description="Percent; absent means 50 (stored with an imputed flag).",
    )
    # The database column is a 32-bit INTEGER: 10**12 passed here and failed in PostgreSQL's COPY (500).
    number_of_customers_affected: JsonInt = Field(..., ge=0, le=2**31 - 1)
    ticket_count: JsonInt = Field(..., ge=0, le=10**9)
    backup_system_triggered: YesNo
    incident_id: StorableText | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Your identifier of the incident (optional, stored): when its actual duration is "
        "ingested later, monitoring measures this prediction's realised error.",
    )


class PredictRequest(BaseModel):
    """A batch of incidents to predict, and who asks."""

    model_config = ConfigDict(extra="forbid")

    features: list[IncidentFeatures] = Field(..., min_length=1, description="One or more incidents.")
    source: Source = "webapp"


class PredictionOut(IncidentFeatures):
    """One prediction: the inputs echoed plus the outputs."""

    model_config = ConfigDict(extra="ignore")

    start_time: datetime
    system_load_before_outage: float
    system_load_imputed: bool
    predicted_hours: float
    predicted_hours_low: float | None = Field(None, description="Lower bound of the interval, hours.")
    predicted_hours_high: float | None = Field(None, description="Upper bound of the interval, hours.")
    interval_coverage: float | None = Field(None, description="Nominal coverage of the interval.")
    is_anomaly: bool
    model_version: str
    predicted_end_time: datetime


class Explanation(BaseModel):
    """Additive attribution: ``base_hours + sum(contributions) == predicted_hours``."""

    base_hours: float = Field(..., description="The model's average prediction.")
    contributions: dict[str, float] = Field(..., description="Hours added by each input.")


class ExplainedPrediction(PredictionOut):
    """A prediction with its explanation (``POST /predict?explain=true``)."""

    explanation: Explanation | None = None


class PredictResponse(BaseModel):
    """The predictions, in request order."""

    predictions: list[ExplainedPrediction]


Varied = Literal[schema.FEATURES]  # type: ignore[valid-type]


class WhatIfRequest(BaseModel):
    """One incident and one input to vary over a list of values (nothing is stored)."""

    model_config = ConfigDict(extra="forbid")

    incident: IncidentFeatures
    vary: Varied = Field(..., description="The input to vary, e.g. ticket_count.")
    values: list[Any] = Field(..., min_length=1, max_length=500, description="Values to try, in order.")


class WhatIfPoint(BaseModel):
    """The prediction with ``vary`` set to ``value``."""

    value: Any
    predicted_hours: float
    predicted_hours_low: float | None
    predicted_hours_high: float | None


class WhatIfResponse(BaseModel):
    """How the prediction and its interval move as one input changes."""

    vary: str
    model_version: str
    interval_coverage: float | None
    points: list[WhatIfPoint]


class PastPrediction(PredictionOut):
    """A stored prediction."""

    id: int
    timestamp: datetime
    source: Source


class PastPredictionFilters(BaseModel):
    """Query parameters of ``GET /past-predictions`` (all optional)."""

    model_config = ConfigDict(extra="forbid")

    start_date: IsoDate | None = Field(None, description="First day included (UTC).")
    end_date: IsoDate | None = Field(None, description="Last day included (UTC).")
    source: SourceFilter = "all"
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10**9)
    model_version: str | None = Field(None, max_length=200)
    anomaly: bool | None = Field(None, description="true: anomalies only; false: non-anomalies only.")

    @model_validator(mode="after")
    def _dates_in_order(self) -> PastPredictionFilters:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError("start_date must not be after end_date")
        return self


class HealthOut(BaseModel):
    """Service health: healthy when the model is loaded and the database answers."""

    status: Literal["healthy", "degraded"]
    model_loaded: bool
    model_version: str | None
    database: Literal["ok", "unreachable"]
    problems: list[str] = Field(default_factory=list)


class ModelVersionOut(BaseModel):
    """One registered model version, its metrics and the latest decision on it."""

    version: str = Field(..., description='Registry version, e.g. "outage_duration/3" (as in predictions).')
    number: int
    run_id: str | None
    created_at: datetime
    aliases: list[str]
    is_champion: bool
    family: str | None
    metrics: dict[str, float] = Field(..., description="Held-out and reference-set metrics of its run.")
    feature_importances: dict[str, float] = Field(
        ..., description="Mean absolute contribution of each input, in hours."
    )
    decision: Literal["promoted", "rejected"] | None = None
    reason: str | None = None


class TrainingRunOut(BaseModel):
    """One stored promotion decision (the ``training_runs`` table)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    timestamp: datetime
    model_version: str
    run_id: str | None
    family: str | None
    n_train: int | None
    metrics: dict[str, Any]
    reference_rmse: float | None
    champion_version_before: str | None
    rmse_diff: float | None = Field(None, description="RMSE(candidate) - RMSE(champion), hours.")
    ci_low: float | None
    ci_high: float | None
    latency_ms_per_row: float | None
    decision: Literal["promoted", "rejected"]
    reason: str
    trigger: Literal["cli", "retrain", "cold_start", "manual"]


class ModelsOut(BaseModel):
    """The registry as the web app's Model page needs it."""

    registered_model: str
    champion: str | None = Field(..., description="The version holding the champion alias.")
    serving: str | None = Field(..., description="The version this API process serves now.")
    versions: list[ModelVersionOut] = Field(..., description="Newest first.")
    runs: list[TrainingRunOut] = Field(..., description="Promotion decisions, newest first.")


class ReloadOut(BaseModel):
    """What ``POST /reload-model`` did."""

    previous_version: str | None
    version: str | None
    champion: str | None
    changed: bool
    seconds: float = Field(..., description="Time to ask the registry and load the model.")


# ---------------------------------------------------------------- ingestion (issue 4)

Criticality = Literal["none", "low", "medium", "high"]


class IngestionStatOut(BaseModel):
    """What one ingested file held (an ``ingestion_stats`` row, with its ledger's verdict)."""

    id: int
    timestamp: datetime
    filename: str = Field(..., description="The file's name in raw_data/.")
    total_rows: int
    valid_rows: int
    invalid_rows: int
    criticality: Criticality
    error_types: dict[str, int] = Field(..., description="Rows per error type (a row may count twice).")
    data_docs_url: str | None = Field(None, description="Path of its Great Expectations page on this API.")
    state: Literal["done", "quarantined"] | None = Field(
        None, description="quarantined: the file could not be read and went to bad_data/ whole."
    )
    reason: str | None = Field(None, description="Why a file was quarantined.")
    bad_rows_url: str | None = Field(None, description="Path of its bad rows on this API, when it has any.")


class IngestionStatsFilters(BaseModel):
    """Query parameters of ``GET /ingestion-stats`` (all optional)."""

    model_config = ConfigDict(extra="forbid")

    start_date: IsoDate | None = Field(None, description="First day included (UTC).")
    end_date: IsoDate | None = Field(None, description="Last day included (UTC).")
    criticality: Criticality | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10**9)

    @model_validator(mode="after")
    def _dates_in_order(self) -> IngestionStatsFilters:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError("start_date must not be after end_date")
        return self


class BadRow(BaseModel):
    """One rejected row: where it was in the file, the rules it broke and its cells as delivered."""

    row: int | None = Field(..., description="0-based data row in the source file.")
    errors: list[str] = Field(..., description='Broken rules, e.g. "not_null:ticket_count".')
    values: dict[str, str | None]


class BadRowsOut(BaseModel):
    """The bad rows of one ingested file (first ``limit``), or why the whole file was rejected."""

    id: int = Field(..., description="The ingestion_stats id.")
    filename: str
    state: Literal["done", "quarantined"]
    reason: str | None = None
    invalid_rows: int
    returned: int
    columns: list[str]
    rows: list[BadRow]
