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


def features_frame(features: list[IncidentFeatures]) -> pd.DataFrame:
    """The request rows as one DataFrame of the eight inputs (columns built whole, not row by row)."""
    return pd.DataFrame({name: [getattr(f, name) for f in features] for name in schema.FEATURES})


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


def predict_rows(
    frame: pd.DataFrame,
    *,
    predictor: Predictor,
    settings: Settings,
    source: str,
    coverage: float | None = None,
    explain: bool = False,
    now: datetime | None = None,
) -> list[dict]:
    """Predict every row with one model call; return the records to store and to answer with.

    Each record carries the interval for ``coverage`` (default: the settings') when the model
    was calibrated, and with ``explain`` an ``explanation`` (not stored).
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
    out = frame.assign(
        system_load_imputed=imputed.to_numpy(),
        predicted_hours=hours,
        predicted_hours_low=low if has_interval else None,
        predicted_hours_high=high if has_interval else None,
        interval_coverage=coverage if has_interval else None,
        is_anomaly=hours > settings.anomaly_threshold_hours,
        model_version=predictor.version,
        source=source,
        timestamp=now,
        # Databases keep microseconds: round here so what is answered is what is stored.
        predicted_end_time=(frame["start_time"] + pd.to_timedelta(hours, unit="h")).dt.round("us"),
    )
    records = out.to_dict(orient="records")
    if explain:  # only when asked: attributions cost more than the prediction itself
        for record, explanation in zip(records, explanations(frame, predictor=predictor), strict=True):
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
