"""Training-data baselines: the per-feature distributions drift monitoring compares live inputs with.

Every registered model version carries two artifacts computed here (``ml.registry`` logs them):

* ``baseline.json`` (:func:`baseline_statistics`): raw counts, never derived scores, so that any
  drift statistic can be computed later:

  - ``numeric[name]`` for each numeric input and ``prediction`` for the predicted hours: count,
    missing, mean, std, min, max, ``quantiles`` (``probs`` 0, 0.01, ..., 1 and their ``values``)
    and ``histogram`` (``edges`` at the training deciles, duplicates merged, and the ``counts``
    of training rows per bin, the last bin closed). For PSI, bin new data on ``edges[1:-1]``
    as cut points (values beyond the training range fall into the outer bins).
  - ``categorical[name]`` for each categorical input and for the start time's ``hour``,
    ``day_of_week`` and ``month``: count, missing and ``counts`` per value (every allowed value
    listed, zeros included; values outside the schema are counted under ``"__other__"``).
* ``baseline_sample.parquet`` (:func:`baseline_sample`): up to 5,000 training rows (seeded
  sample) of the eight inputs plus ``predicted_hours``, for exact two-sample tests (KS).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from outagecast import schema
from outagecast.datasets.generate import time_parts

BASELINE_FORMAT: Final = 1
BASELINE_FILE: Final = "baseline.json"
SAMPLE_FILE: Final = "baseline_sample.parquet"
SAMPLE_ROWS: Final = 5_000
HISTOGRAM_BINS: Final = 10  # deciles: the usual binning for the population stability index
QUANTILE_PROBS: Final = tuple(round(p / 100, 2) for p in range(101))
PREDICTION_COLUMN: Final = "predicted_hours"
OTHER: Final = "__other__"
_TIME_VALUES: Final = {"hour": range(24), "day_of_week": range(7), "month": range(1, 13)}


def numeric_summary(values: np.ndarray | pd.Series) -> dict[str, Any]:
    """Count, missing, moments, quantiles and a decile histogram of one numeric column."""
    raw = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype=np.float64)
    finite = raw[np.isfinite(raw)]
    summary: dict[str, Any] = {"count": int(finite.size), "missing": int(raw.size - finite.size)}
    if finite.size == 0:
        return summary | {"quantiles": None, "histogram": None}
    quantiles = np.quantile(finite, QUANTILE_PROBS)
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)))
    if edges.size == 1:  # a constant column: one bin holding everything
        edges = np.array([edges[0], edges[0]])
    counts, _ = np.histogram(finite, bins=edges)
    return summary | {
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "quantiles": {"probs": list(QUANTILE_PROBS), "values": quantiles.tolist()},
        "histogram": {"edges": edges.tolist(), "counts": counts.astype(int).tolist()},
    }


def categorical_summary(values: np.ndarray | pd.Series, categories: Any) -> dict[str, Any]:
    """Count, missing and the count of every allowed value (plus ``__other__``)."""
    series = pd.Series(np.asarray(values, dtype=object))
    missing = series.isna() | (series.astype(str).str.strip() == "")
    present = series[~missing].astype(str)
    allowed = [str(c) for c in categories]
    tallies = present.value_counts()
    counts = {c: int(tallies.get(c, 0)) for c in allowed}
    counts[OTHER] = int(len(present) - sum(counts.values()))
    return {"count": int(len(present)), "missing": int(missing.sum()), "counts": counts}


def baseline_statistics(features: pd.DataFrame, predicted_hours: np.ndarray) -> dict[str, Any]:
    """The JSON-ready baseline of the training inputs and of the model's predictions on them.

    Args:
        features: the training rows' eight inputs (``schema.FEATURES``).
        predicted_hours: the model's prediction for each row, in hours.
    """
    hour, day_of_week, month = time_parts(features[schema.TIME_FEATURE])
    parts = {"hour": hour, "day_of_week": day_of_week, "month": month}
    categorical = {
        name: categorical_summary(features[name], schema.categories_of(name))
        for name in (*schema.CATEGORICAL_FEATURES, *schema.BINARY_FEATURES)
    }
    for part, values in parts.items():
        text = np.where(np.isnan(values), None, np.nan_to_num(values).astype(np.int64).astype(str))
        categorical[f"{schema.TIME_FEATURE}.{part}"] = categorical_summary(text, _TIME_VALUES[part])
    return {
        "format": BASELINE_FORMAT,
        "n_rows": len(features),
        "numeric": {name: numeric_summary(features[name]) for name in schema.NUMERIC_FEATURES},
        "categorical": categorical,
        "prediction": numeric_summary(predicted_hours),
    }


def baseline_sample(
    features: pd.DataFrame, predicted_hours: np.ndarray, *, rows: int = SAMPLE_ROWS, seed: int = 0
) -> pd.DataFrame:
    """Up to ``rows`` training rows (seeded, without replacement): the eight inputs + predicted hours.

    ``start_time`` is kept as text (``schema.TIMESTAMP_FORMAT``-like), as in incident CSVs.
    """
    frame = features[list(schema.FEATURES)].copy()
    frame[PREDICTION_COLUMN] = np.asarray(predicted_hours, dtype=np.float64)
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed)
    frame[schema.TIME_FEATURE] = frame[schema.TIME_FEATURE].astype(str)
    return frame.reset_index(drop=True)
