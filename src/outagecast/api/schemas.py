"""Request and response bodies of the HTTP API, built from the schema module."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from outagecast import schema

CloudProvider = Literal[schema.CLOUD_PROVIDERS]  # type: ignore[valid-type]
Service = Literal[schema.SERVICES]  # type: ignore[valid-type]
Severity = Literal[schema.SEVERITIES]  # type: ignore[valid-type]
YesNo = Literal[schema.YES_NO]  # type: ignore[valid-type]
Source = Literal["webapp", "scheduled"]
SourceFilter = Literal["all", "webapp", "scheduled"]

_LOAD_MIN, _LOAD_MAX = schema.bounds_of("system_load_before_outage")


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
    start_time: datetime | None = Field(
        None, description="Outage start (ISO 8601; naive means UTC). Absent: see START_TIME_POLICY."
    )
    # allow_inf_nan=False: Python's JSON parser accepts NaN/Infinity, which JSON itself has not.
    system_load_before_outage: float | None = Field(
        None,
        ge=_LOAD_MIN,
        le=_LOAD_MAX,
        allow_inf_nan=False,
        description="Percent; absent means 50 (stored with an imputed flag).",
    )
    number_of_customers_affected: int = Field(..., ge=0, le=10**12)
    ticket_count: int = Field(..., ge=0, le=10**9)
    backup_system_triggered: YesNo


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

    start_date: date | None = Field(None, description="First day included (UTC).")
    end_date: date | None = Field(None, description="Last day included (UTC).")
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

    start_date: date | None = Field(None, description="First day included (UTC).")
    end_date: date | None = Field(None, description="Last day included (UTC).")
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
