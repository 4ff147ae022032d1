"""Request and response bodies of the HTTP API, built from the schema module."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

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
