"""Request parameters and response bodies of ``GET /monitoring/...`` (see ``api/routes/monitoring.py``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from outagecast.monitoring.reports import MONITORED_FEATURES

MonitoredFeature = Literal[MONITORED_FEATURES]  # type: ignore[valid-type]
Bucket = Literal["hour", "day"]
Criticality = Literal["none", "low", "medium", "high"]
Source = Literal["webapp", "scheduled"]
# PostgreSQL text cannot hold NUL: refused here (422) rather than by the driver (a 503).
NO_NUL = r"^[^\x00]*$"
DEFAULT_DAYS = 7
# An hourly series over more than this would hold thousands of points: ask for days instead.
MAX_HOURLY_DAYS = 92


# Times outside this range are mistakes (and year-1 dates overflow the default range arithmetic).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


# ISO 8601 starts with the date; anything else ("0", "1.5e-105") pydantic would read as Unix time.
_ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 text, as documented: pydantic would read ``0`` or ``"1e-9"`` as a Unix time."""
    if not isinstance(value, str | datetime) or (isinstance(value, str) and not _ISO_DATE_START.match(value)):
        raise ValueError("must be a date-time written in ISO 8601, e.g. 2026-03-01T14:30:00Z")
    return value


def _utc(value: datetime) -> datetime:
    # A naive time is taken to be UTC, as everywhere in OutageCast.
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


# An instant in a query string: ISO 8601 only, naive means UTC, answered as aware UTC.
UtcDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_utc)]


class TimeRange(BaseModel):
    """``since`` / ``until`` (ISO 8601; naive means UTC) and the bucket width of a series."""

    model_config = ConfigDict(extra="forbid")

    since: UtcDateTime | None = Field(
        None,
        description=f"First instant included (ISO 8601; naive means UTC); default {DEFAULT_DAYS} days ago.",
    )
    until: UtcDateTime | None = Field(None, description="Last instant included (ISO 8601); default now.")
    bucket: Bucket = Field("hour", description="Width of the time buckets (UTC hours or days).")

    @model_validator(mode="after")
    def _check_range(self) -> TimeRange:
        until = self.until or datetime.now(UTC)
        since = self.since or until - timedelta(days=DEFAULT_DAYS)
        if since > until:
            raise ValueError("since must not be after until")
        if self.bucket == "hour" and until - since > timedelta(days=MAX_HOURLY_DAYS):
            raise ValueError(f"bucket=hour covers at most {MAX_HOURLY_DAYS} days; use bucket=day")
        self.since = since
        self.until = self.until  # None: up to now, including rows written while answering
        return self


class PredictionsQuery(TimeRange):
    """Query parameters of ``GET /monitoring/predictions``."""

    source: Source | None = Field(None, description="Only predictions from this source.")
    model_version: str | None = Field(
        None, max_length=200, pattern=NO_NUL, description="Only this model version."
    )
    bins: int = Field(30, ge=1, le=200, description="Bins of the predicted-hours histogram.")


# ------------------------------------------------------------------ responses


class IngestionBucket(BaseModel):
    """Ingested files and rows in one time bucket."""

    bucket: datetime = Field(..., description="Start of the bucket (UTC).")
    files: int
    total_rows: int
    valid_rows: int
    invalid_rows: int
    criticality: dict[Criticality, int] = Field(..., description="Files per criticality.")


class ErrorTypeCount(BaseModel):
    """Rows with one error type in one time bucket."""

    bucket: datetime
    error_type: str
    rows: int


class IngestionTotals(BaseModel):
    files: int
    total_rows: int
    valid_rows: int
    invalid_rows: int


class IngestionReport(BaseModel):
    """``GET /monitoring/ingestion``: data quality over time, oldest bucket first."""

    bucket: Bucket
    since: datetime
    until: datetime | None
    buckets: list[IngestionBucket]
    error_types: list[ErrorTypeCount]
    totals: IngestionTotals


class MonitorRunOut(BaseModel):
    """One run of the monitor job."""

    id: int
    timestamp: datetime
    status: Literal["ok", "skipped", "failed"]
    message: str | None
    model_version: str | None = Field(..., description="The champion whose training baseline was compared.")
    source: str | None = Field(..., description="Source judged; null: every source.")
    window_rows: int
    window_start: datetime | None
    window_end: datetime | None
    drift_detected: bool
    prediction_drift: bool
    drifted_features: list[str]


class DriftResultOut(BaseModel):
    """One feature's drift statistics in one run."""

    feature: str = Field(..., description='An input column, or "predicted_hours".')
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2"]
    statistic: float | None
    p_value: float | None
    psi: float | None = Field(..., description="Population stability index against the training baseline.")
    drifted: bool
    rows: int = Field(..., description="Window values tested.")


class DriftReport(BaseModel):
    """``GET /monitoring/drift``: the newest run and the results of the run shown."""

    latest_run: MonitorRunOut | None = Field(..., description="The newest run, whatever its status.")
    run: MonitorRunOut | None = Field(
        ..., description="The run the results are from (newest ok run by default)."
    )
    results: list[DriftResultOut]


class DriftPoint(DriftResultOut):
    """One feature's result in one run, with the run's time."""

    run_id: int
    timestamp: datetime
    model_version: str | None


class DistributionBin(BaseModel):
    """One bin (numeric range or category) with its training and recent counts and shares."""

    label: str
    lower: float | None = Field(None, description="Numeric bins: lower edge (the first bin is open below).")
    upper: float | None = Field(None, description="Numeric bins: upper edge (the last bin is open above).")
    training_count: int
    recent_count: int
    training_share: float | None
    recent_share: float | None


class RecentWindow(BaseModel):
    """Which predictions "recent" means."""

    run_id: int | None = Field(
        ..., description="The monitor run whose window it is; null: the last predictions."
    )
    start: datetime | None
    end: datetime | None
    source: str | None
    last_n: int | None = Field(..., description="Without a run: the newest this many predictions.")


class DistributionOut(BaseModel):
    """``GET /monitoring/drift/{feature}/distribution``: training vs recent on the training bins."""

    feature: str
    kind: Literal["numeric", "categorical"]
    part: Literal["hour", "day_of_week", "month"] | None = Field(
        None, description="start_time: which part of it is compared."
    )
    model_version: str = Field(..., description="The version whose training baseline is compared.")
    window: RecentWindow
    training_rows: int
    recent_rows: int
    bins: list[DistributionBin]
    drift: DriftResultOut | None = Field(
        None, description="The feature's result in that run, when there is one."
    )


class PredictionQuantiles(BaseModel):
    p10: float | None
    p50: float | None
    p90: float | None


class PredictionBucket(BaseModel):
    """Predictions in one time bucket."""

    bucket: datetime
    count: int
    mean: float | None
    anomalies: int
    quantiles: PredictionQuantiles = Field(..., description="Nearest-rank quantiles of the predicted hours.")


class SourceBucket(BaseModel):
    bucket: datetime
    source: str
    count: int
    mean: float | None


class VersionBucket(BaseModel):
    bucket: datetime
    model_version: str
    count: int
    mean: float | None


class Histogram(BaseModel):
    edges: list[float] = Field(..., description="Bin edges in hours (one more than counts).")
    counts: list[int]


class PredictionsReport(BaseModel):
    """``GET /monitoring/predictions``: predictions over time and their distribution."""

    bucket: Bucket
    since: datetime
    until: datetime | None
    total: int
    mean: float | None
    anomalies: int
    series: list[PredictionBucket]
    by_source: list[SourceBucket]
    by_model_version: list[VersionBucket]
    histogram: Histogram


class RealisedErrorPoint(BaseModel):
    """Realised error of one model version in one monitor run."""

    run_id: int
    timestamp: datetime
    model_version: str
    matched_rows: int = Field(..., description="Predictions whose actual duration is known.")
    mae: float | None
    bias: float | None = Field(..., description="Mean of predicted - actual, hours.")
    rmse: float | None
    interval_coverage: float | None = Field(..., description="Share of actuals inside the interval.")
    nominal_coverage: float | None
    training_mae: float | None
    error_ratio: float | None = Field(..., description="mae / training_mae.")
    degraded: bool


FEATURES_HELP = ", ".join(MONITORED_FEATURES)
