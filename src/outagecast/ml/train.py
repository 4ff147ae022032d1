"""Training: load incident records, split, fit a pipeline, score it against the oracle.

The target is ``duration_minutes / 60`` (hours). Quality is reported next to the oracle's RMSE
on the same test rows (``datasets.generate.oracle_hours``): the error of the true expected
duration, i.e. the floor no model can beat on generated data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

from outagecast import schema
from outagecast.datasets import CSV_READ_OPTIONS
from outagecast.datasets.generate import oracle_hours, time_parts, yes_no_flag
from outagecast.ml.features import FAMILIES, Family, build_pipeline
from outagecast.ml.intervals import IntervalCalibrator, coverage_report
from outagecast.ml.predict import Predictor

logger = logging.getLogger(__name__)

TrainingData = tuple[pd.DataFrame, pd.Series, int]
# Training needs every input (the optional ones are filled in at prediction time only) and the target.
TRAINING_COLUMNS: Final = (*schema.FEATURES, schema.TARGET_SOURCE_COLUMN)
_COUNT_FEATURES: Final = ("number_of_customers_affected", "ticket_count")
CALIBRATION_FRACTION: Final = 0.2
REPORTED_COVERAGES: Final = (0.8, 0.95)
GROUP_FEATURE: Final = "severity"  # intervals are calibrated per severity level (Mondrian)


@dataclass(frozen=True, slots=True)
class TrainResult:
    """One trained model and how well it did on the held-out split.

    ``metrics`` holds rmse, mae, r2 (hours), oracle_rmse (None when the oracle does not apply),
    rmse_to_oracle, n_train, n_test, rows_dropped, train_seconds, model_version and family, so
    that it can be logged or printed as one JSON object.
    """

    model: Predictor
    metrics: dict[str, Any]
    n_train: int
    n_test: int
    train_seconds: float
    model_version: str
    family: str
    rows_dropped: int = 0
    params: dict[str, Any] = field(default_factory=dict)


def _blank(values: pd.Series) -> np.ndarray:
    """Missing or empty/whitespace text."""
    text = values.astype("str").str.strip()
    return (values.isna() | (text == "")).to_numpy(dtype=bool)


def load_training_frame(source: str | Path | pd.DataFrame) -> TrainingData:
    """Features, target (hours) and the number of rows dropped as unusable.

    Args:
        source: a CSV path or a DataFrame of incident records (at least the eight feature
            columns and ``duration_minutes``; other columns are ignored).

    Returns:
        ``(features, target, dropped)``: the eight ``schema.FEATURES`` columns (counts as int64,
        load as float64, start_time as given) with a fresh RangeIndex, the target
        ``duration_minutes / 60`` named ``schema.TARGET``, and how many rows were dropped.

    Rows are dropped (and counted per reason in the log) for: a missing or unparseable target,
    a target outside the schema's plausible range (e.g. the corruptor's 9,999,999 outlier), a
    missing input, an unparseable number or start time, a non-integral or out-of-range value,
    or a category outside the schema.

    Raises:
        ValueError: when a needed column is absent altogether.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
        origin = "frame"
    else:
        frame = pd.read_csv(source, usecols=lambda c: c in TRAINING_COLUMNS, dtype=str, **CSV_READ_OPTIONS)
        origin = str(source)
    absent = [c for c in TRAINING_COLUMNS if c not in frame.columns]
    if absent:
        raise ValueError(f"training data {origin} lacks column(s): {', '.join(absent)}")

    reasons: dict[str, np.ndarray] = {}
    blank = {c: _blank(frame[c]) for c in TRAINING_COLUMNS}
    minutes = pd.to_numeric(frame[schema.TARGET_SOURCE_COLUMN], errors="coerce").to_numpy(dtype=np.float64)
    low, high = schema.bounds_of(schema.TARGET_SOURCE_COLUMN)
    reasons["missing_target"] = blank[schema.TARGET_SOURCE_COLUMN]
    reasons["unparseable_target"] = ~reasons["missing_target"] & np.isnan(minutes)
    reasons["implausible_target"] = (minutes < (low if low is not None else -np.inf)) | (
        minutes > (high if high is not None else np.inf)
    )
    reasons["missing_feature"] = np.logical_or.reduce([blank[c] for c in schema.FEATURES])

    numbers: dict[str, np.ndarray] = {}
    unparseable = np.zeros(len(frame), dtype=bool)
    out_of_range = np.zeros(len(frame), dtype=bool)
    for name in schema.NUMERIC_FEATURES:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        numbers[name] = values
        unparseable |= ~blank[name] & np.isnan(values)
        lo, hi = schema.bounds_of(name)
        out_of_range |= (values < (lo if lo is not None else -np.inf)) | (
            values > (hi if hi is not None else np.inf)
        )
        if name in _COUNT_FEATURES:
            out_of_range |= np.isfinite(values) & (values != np.round(values))
    hour, _, _ = time_parts(frame[schema.TIME_FEATURE])
    unparseable |= ~blank[schema.TIME_FEATURE] & np.isnan(hour)
    reasons["unparseable_number"] = unparseable
    reasons["out_of_range"] = out_of_range
    invalid = np.zeros(len(frame), dtype=bool)
    for name in schema.CATEGORICAL_FEATURES:
        invalid |= ~blank[name] & ~frame[name].isin(schema.categories_of(name)).to_numpy(dtype=bool)
    backup = yes_no_flag(frame[schema.BINARY_FEATURES[0]].to_numpy())
    invalid |= ~blank[schema.BINARY_FEATURES[0]] & np.isnan(backup)
    reasons["invalid_category"] = invalid

    drop = np.logical_or.reduce(list(reasons.values()))
    keep = ~drop
    dropped = int(drop.sum())
    if dropped:
        counts = {k: int(v.sum()) for k, v in reasons.items() if v.any()}
        logger.warning(
            "dropped %d of %d rows of %s as unusable for training: %s", dropped, len(frame), origin, counts
        )

    features = pd.DataFrame(
        {
            name: (
                numbers[name][keep].astype(np.int64)
                if name in _COUNT_FEATURES
                else numbers[name][keep]
                if name in numbers
                else frame[name].to_numpy()[keep]
            )
            for name in schema.FEATURES
        }
    )
    features[schema.BINARY_FEATURES[0]] = np.where(backup[keep] == 1.0, "Yes", "No")
    target = pd.Series(minutes[keep] / schema.MINUTES_PER_HOUR, name=schema.TARGET)
    logger.info("training data from %s: %d usable rows, %d dropped", origin, len(features), dropped)
    return features, target, dropped


def _as_training_data(data: str | Path | pd.DataFrame | TrainingData) -> TrainingData:
    if isinstance(data, tuple):
        return data
    return load_training_frame(data)


def _fingerprint(x: pd.DataFrame, y: pd.Series, family: str, params: dict[str, Any], seed: int) -> str:
    """Short content hash of the training data and configuration (same inputs, same hash)."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(x, index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(y.to_numpy(dtype=np.float64)).tobytes())
    digest.update(
        json.dumps({"family": family, "params": params, "seed": seed}, sort_keys=True, default=str).encode()
    )
    return digest.hexdigest()[:7]


def _oracle_rmse(x: pd.DataFrame, y: pd.Series) -> float | None:
    """RMSE of the generator's oracle on these rows; None when it is undefined for some row."""
    expected = oracle_hours(x)
    if not np.isfinite(expected).all():
        return None
    return float(np.sqrt(np.mean((expected - y.to_numpy(dtype=np.float64)) ** 2)))


def _fit_and_score(
    family: Family,
    split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series],
    *,
    seed: int,
    rows_dropped: int,
    oracle_rmse: float | None,
) -> TrainResult:
    x_train, x_test, y_train, y_test = split
    pipeline = build_pipeline(family, seed)
    params = {k: v for k, v in pipeline.named_steps["regressor"].get_params().items() if not callable(v)}
    # A fifth of the training rows is held back to calibrate the prediction intervals
    # (split conformal: the model must not have seen its calibration rows).
    x_fit, x_cal, y_fit, y_cal = train_test_split(
        x_train, y_train, test_size=CALIBRATION_FRACTION, random_state=seed + 1
    )
    started = time.perf_counter()
    pipeline.fit(x_fit, y_fit)
    trained_at = datetime.now(UTC)
    version = f"{family}-{trained_at:%Y%m%dT%H%M%SZ}-{_fingerprint(x_train, y_train, family, params, seed)}"
    predictor = Predictor(pipeline, family=family, version=version, trained_at=trained_at)
    fit_matrix, cal_matrix = predictor.model_matrix(x_fit), predictor.model_matrix(x_cal)
    predictor.calibrator = IntervalCalibrator.fit(
        fit_matrix=fit_matrix,
        fit_residuals=y_fit.to_numpy() - predictor.predict(x_fit),
        cal_matrix=cal_matrix,
        cal_residuals=y_cal.to_numpy() - predictor.predict(x_cal),
        cal_groups=x_cal[GROUP_FEATURE].to_numpy(),
        seed=seed,
    )
    train_seconds = time.perf_counter() - started

    predicted = predictor.predict(x_test)
    rmse = float(np.sqrt(mean_squared_error(y_test, predicted)))
    metrics: dict[str, Any] = {
        "rmse": rmse,
        "mae": float(mean_absolute_error(y_test, predicted)),
        "r2": float(r2_score(y_test, predicted)),
        "oracle_rmse": oracle_rmse,
        "rmse_to_oracle": rmse / oracle_rmse if oracle_rmse else None,
        "n_train": len(x_train),
        "n_test": len(x_test),
        "rows_dropped": rows_dropped,
        "train_seconds": train_seconds,
        "model_version": version,
        "family": family,
        "n_calibration": len(x_cal),
    }
    test_matrix = predictor.model_matrix(x_test)
    for coverage in REPORTED_COVERAGES:
        low, high = predictor.calibrator.bounds(
            predicted, test_matrix, coverage, x_test[GROUP_FEATURE].to_numpy()
        )
        report = coverage_report(y_test.to_numpy(), low, high, x_test[GROUP_FEATURE])
        pct = round(coverage * 100)
        metrics[f"interval_coverage_{pct}"] = report["coverage"]
        metrics[f"interval_width_{pct}"] = report["mean_width"]
        for severity, figures in report["by_group"].items():
            metrics[f"interval_coverage_{pct}_{severity.lower()}"] = figures["coverage"]
    predictor.metrics = metrics
    logger.info(
        "trained %s on %d rows in %.1f s: RMSE %.4f h (oracle %s), R2 %.4f",
        family,
        len(x_train),
        train_seconds,
        rmse,
        f"{oracle_rmse:.4f} h" if oracle_rmse is not None else "n/a",
        metrics["r2"],
    )
    return TrainResult(
        model=predictor,
        metrics=metrics,
        n_train=len(x_train),
        n_test=len(x_test),
        train_seconds=train_seconds,
        model_version=version,
        family=family,
        rows_dropped=rows_dropped,
        params=params,
    )


def train_models(
    data: str | Path | pd.DataFrame | TrainingData,
    families: Sequence[Family] = ("lgbm", "random_forest"),
    *,
    seed: int = 42,
    test_size: float = 0.2,
) -> list[TrainResult]:
    """Train each family on the same train/test split; results in the order of ``families``.

    Args:
        data: a CSV path, a DataFrame of incident records, or the tuple from
            :func:`load_training_frame`.
        families: model families to train (see ``ml.features.build_pipeline``).
        seed: seeds the split and the models.
        test_size: fraction of rows held out for the metrics.
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown or no model family {unknown}; expected some of {FAMILIES}")
    features, target, dropped = _as_training_data(data)
    if len(features) < 10:
        raise ValueError(f"only {len(features)} usable rows: too few to train and evaluate a model")
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=test_size, random_state=seed
    )
    oracle_rmse = _oracle_rmse(x_test, y_test)
    return [
        _fit_and_score(
            family,
            (x_train, x_test, y_train, y_test),
            seed=seed,
            rows_dropped=dropped,
            oracle_rmse=oracle_rmse,
        )
        for family in families
    ]


def train_model(
    data: str | Path | pd.DataFrame | TrainingData,
    *,
    family: Family = "lgbm",
    seed: int = 42,
    test_size: float = 0.2,
) -> TrainResult:
    """Train one model family and score it on a held-out split (see :func:`train_models`)."""
    return train_models(data, [family], seed=seed, test_size=test_size)[0]
