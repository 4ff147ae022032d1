"""Turning a validated request into predictions and stored rows, a whole batch at a time."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from outagecast import schema
from outagecast.api.schemas import IncidentFeatures
from outagecast.ml.predict import Predictor
from outagecast.settings import Settings

_RANDOM_FUTURE_DAYS = (1.0, 90.0)  # the original design's start time when none was given
# What a request row carries: the eight model inputs and the caller's incident id (not a feature).
INPUT_COLUMNS = (*schema.FEATURES, schema.ID_COLUMN)


def features_frame(features: list[IncidentFeatures]) -> pd.DataFrame:
    """The request rows as one DataFrame of the eight inputs and the optional ``incident_id``.

    Columns are built whole, not row by row; ``incident_id`` travels with the inputs so that it is
    echoed and stored, and realised error can later be measured (``outagecast.monitoring``).
    """
    return pd.DataFrame({name: [getattr(f, name) for f in features] for name in INPUT_COLUMNS})


def resolve_start_times(raw: pd.Series, *, policy: str, now: datetime, rng: np.random.Generator) -> pd.Series:
    """Given start times as UTC; missing ones by the policy: now, or 1-90 days ahead at random."""
    given = pd.to_datetime(raw, utc=True, format="mixed")
    missing = given.isna().to_numpy()
    if not missing.any():
        return given
    fill = pd.Series(pd.Timestamp(now), index=given.index)
    if policy == "random_future":
        days = rng.uniform(*_RANDOM_FUTURE_DAYS, size=len(given))
        fill = fill + pd.to_timedelta(days, unit="D")
    return given.where(~missing, fill).dt.round("us")


# What a stored prediction holds, besides the id (``predictions`` columns filled here).
STORED_COLUMNS = (
    *schema.FEATURES,
    "system_load_imputed",
    "predicted_hours",
    "predicted_hours_low",
    "predicted_hours_high",
    "interval_coverage",
    "is_anomaly",
    "model_version",
    "source",
    "timestamp",
    "predicted_end_time",
    schema.ID_COLUMN,
)
# What a prediction answers with (schemas.PredictionOut), in this order.
ANSWERED_COLUMNS = tuple(c for c in STORED_COLUMNS if c not in ("source", "timestamp"))


def predict_frame(
    frame: pd.DataFrame,
    *,
    predictor: Predictor,
    settings: Settings,
    source: str,
    coverage: float | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Predict every row with one model call; the inputs as used plus every output, as columns.

    Carries the interval for ``coverage`` (default: the settings') when the model was calibrated.
    """
    now = now or datetime.now(UTC)
    frame = frame.copy()
    frame["start_time"] = resolve_start_times(
        frame["start_time"], policy=settings.start_time_policy, now=now, rng=np.random.default_rng()
    )
    load = pd.to_numeric(frame["system_load_before_outage"], errors="coerce")
    imputed = load.isna()
    frame["system_load_before_outage"] = load.fillna(schema.DEFAULT_SYSTEM_LOAD)

    coverage = coverage or settings.interval_coverage
    hours, low, high = predictor.predict_with_interval(frame, coverage)
    hours = np.maximum(hours, 0.0)  # a duration is never negative, whatever a regressor says
    has_interval = low is not None
    return frame.assign(
        system_load_imputed=imputed.to_numpy(),
        predicted_hours=hours,
        predicted_hours_low=low if has_interval else np.nan,
        predicted_hours_high=high if has_interval else np.nan,
        interval_coverage=coverage if has_interval else np.nan,
        is_anomaly=hours > settings.anomaly_threshold_hours,
        model_version=predictor.version,
        source=source,
        timestamp=pd.Timestamp(now),
        # Databases keep microseconds: round here so what is answered is what is stored.
        predicted_end_time=(frame["start_time"] + pd.to_timedelta(hours, unit="h")).dt.round("us"),
    )


def stored_columns(predicted: pd.DataFrame) -> dict[str, list]:
    """The columns to store, as plain Python values (what database drivers take)."""
    columns: dict[str, list] = {}
    for name in STORED_COLUMNS:
        series = predicted[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            columns[name] = list(series.dt.to_pydatetime())
        else:
            values = series.astype(object).where(series.notna(), None) if series.hasnans else series
            columns[name] = values.tolist()
    return columns


def answer_json(predicted: pd.DataFrame) -> str:
    """``{"predictions": [...]}`` serialised straight from the columns (no per-row objects)."""
    rows = predicted[list(ANSWERED_COLUMNS)].to_json(
        orient="records", date_format="iso", date_unit="us", double_precision=15
    )
    return '{"predictions":' + rows + "}"


def answer_records(predicted: pd.DataFrame, explained: list[dict] | None) -> list[dict]:
    """The answer as records (the slower path, used when explanations are attached)."""
    answered = predicted[list(ANSWERED_COLUMNS)]
    # Missing values become None: a batch where only some rows carry an incident_id holds NaN for
    # the others, which JSON (and the response model) cannot take.
    records = answered.astype(object).where(answered.notna(), None).to_dict(orient="records")
    for record, explanation in zip(records, explained or [], strict=False):
        record["explanation"] = explanation
    return records


def explanations(frame: pd.DataFrame, *, predictor: Predictor) -> list[dict]:
    """Per-row additive attributions in hours (exact tree SHAP), one model call for the batch.

    ``frame`` is the prepared frame the prediction used (start times resolved, load filled).
    """
    base, contributions = predictor.contributions(frame)
    names = list(contributions.columns)
    return [
        {"base_hours": float(b), "contributions": dict(zip(names, map(float, row), strict=True))}
        for b, row in zip(base, contributions.to_numpy(), strict=True)
    ]
