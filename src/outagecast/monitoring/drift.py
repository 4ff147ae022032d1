"""Drift statistics: a window of served inputs and predictions against a model's training baseline.

Pure functions on in-memory frames (no database, no registry), so the detection test can run
hundreds of simulated windows in seconds. The baseline is ``ml.baseline``'s: ``baseline.json``
(histogram counts and category counts) plus the training sample (for the two-sample KS test).

Per feature (one row each in ``drift_results``):

* numeric inputs (``system_load_before_outage``, ``number_of_customers_affected``,
  ``ticket_count``) and the predicted hours (``predicted_hours``): two-sample Kolmogorov-Smirnov
  test against the training sample (``scipy.stats.ks_2samp``) and the population stability index
  on the baseline's decile bins. Imputed system loads (the API filled in 50) are left out: they
  say nothing about the real loads.
* categorical inputs (``cloud_provider``, ``service``, ``severity``, ``backup_system_triggered``):
  chi-squared test of homogeneity of the training and window counts
  (``scipy.stats.chi2_contingency``) and PSI on the categories.
* ``start_time``: judged through its hour of day, day of week and month, each a chi-squared test
  like a categorical input. A part is only judged when the window's start times span its whole
  cycle (a day, a week, a year): a window of one afternoon cannot have the training's hour mix, and
  a week of traffic cannot have its month mix, so judging them would alarm for ever. The row
  reports the most significant judged part, its p-value Bonferroni-corrected for the parts judged.

What "drifted" means: ``p < DRIFT_P_VALUE`` **and** ``PSI > DRIFT_PSI_THRESHOLD``. The p-value
controls false alarms: a run makes at most 9 tests (8 inputs + the predictions), so by the union
bound the chance that a window drawn from the training distribution flags anything is at most
``9 * DRIFT_P_VALUE`` (0.9 % at the default 0.001). The PSI floor is an effect size: on very large
windows a negligible shift becomes significant, and it should not page anyone. Its default, 0.05,
is below the conventional 0.1 / 0.25 on purpose: those levels are for judging large populations,
while a doubled share of a mid-sized provider (18 -> 36 %) or a severity mix moved towards Critical
(11 -> 21 %) has a PSI of only ~0.12-0.16, while sampling noise at 1,000 rows is typically <= 0.03.
``tests/monitoring/test_detection.py`` measures both rates at the defaults. Features with fewer
than ``MONITOR_MIN_ROWS`` values in the window are reported but not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy import stats

from outagecast import schema
from outagecast.datasets.generate import time_parts
from outagecast.ml.baseline import OTHER, PREDICTION_COLUMN

NUMERIC_INPUTS: Final = tuple(schema.NUMERIC_FEATURES)
CATEGORICAL_INPUTS: Final = (*schema.CATEGORICAL_FEATURES, *schema.BINARY_FEATURES)
TIME_FEATURE: Final = schema.TIME_FEATURE
# A calendar part of the start time is judged only when the window's start times cover its cycle.
# For months "a year" is 360 days: a window of a year's incidents never spans a full 365 days (the
# first and last are a few days from the ends), and a few days short changes one month's share by
# far less than the test can see at these window sizes.
TIME_PART_CYCLES: Final[dict[str, timedelta]] = {
    "hour": timedelta(days=1),
    "day_of_week": timedelta(days=7),
    "month": timedelta(days=360),
}
IMPUTED_LOAD_COLUMN: Final = "system_load_imputed"
LOAD_COLUMN: Final = "system_load_before_outage"
# Additive smoothing of bin counts for PSI: an empty bin would otherwise make it infinite.
PSI_SMOOTHING: Final = 0.5
EXACT_KS_MAX_PRODUCT: Final = 1_000_000  # window x sample sizes up to which KS p-values are exact


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a feature counts as drifted (see the module docstring)."""

    p_value: float = 0.001
    psi: float = 0.05
    min_rows: int = 100

    @classmethod
    def of(cls, settings: Any) -> Thresholds:
        """From the settings' DRIFT_P_VALUE, DRIFT_PSI_THRESHOLD and MONITOR_MIN_ROWS."""
        return cls(
            p_value=float(settings.drift_p_value),
            psi=float(settings.drift_psi_threshold),
            min_rows=int(settings.monitor_min_rows),
        )


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """One feature's statistics in one window (a ``drift_results`` row)."""

    feature: str
    kind: str  # "numeric" | "categorical"
    test: str  # "ks" | "chi2"
    statistic: float | None
    p_value: float | None
    psi: float | None
    drifted: bool
    rows: int  # non-missing window values tested
    note: str | None = None  # why it was not judged, or which start-time part is reported
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # start_time only

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``statistic``, ``p_value``, ``psi``, ``drifted`` and the details."""
        out: dict[str, Any] = {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "psi": self.psi,
            "drifted": self.drifted,
            "kind": self.kind,
            "test": self.test,
            "rows": self.rows,
        }
        if self.note:
            out["note"] = self.note
        if self.parts:
            out["parts"] = self.parts
        return out

    def row(self) -> dict[str, Any]:
        """The ``drift_results`` columns (without ``run_id``)."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "psi": self.psi,
            "drifted": self.drifted,
            "rows": self.rows,
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The statistics of one window: every input and the predicted hours."""

    features: dict[str, FeatureDrift]
    prediction: FeatureDrift

    @property
    def drifted_features(self) -> list[str]:
        """Inputs that drifted, in schema order."""
        return [name for name, result in self.features.items() if result.drifted]

    @property
    def drift_detected(self) -> bool:
        """Whether any input or the prediction distribution drifted."""
        return bool(self.drifted_features) or self.prediction.drifted

    def results(self) -> list[FeatureDrift]:
        """Every row, inputs first, then ``predicted_hours``."""
        return [*self.features.values(), self.prediction]


# ---------------------------------------------------------------- building blocks


def psi(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins.

    ``sum((a - e) * ln(a / e))`` over bin shares, each count smoothed by +0.5 so that an empty
    bin gives a large but finite contribution.
    """
    expected = np.asarray(expected_counts, dtype=np.float64) + PSI_SMOOTHING
    actual = np.asarray(actual_counts, dtype=np.float64) + PSI_SMOOTHING
    e, a = expected / expected.sum(), actual / actual.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def bin_counts(values: np.ndarray, edges: list[float] | np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the baseline's bins: cut at ``edges[1:-1]``, the outer bins open.

    Same bins as ``np.histogram`` on ``edges`` (left-closed) for values inside the training range;
    values beyond it fall into the first or last bin.
    """
    edges = np.asarray(edges, dtype=np.float64)
    bins = max(len(edges) - 1, 1)
    index = np.searchsorted(edges[1:-1], values, side="right")
    return np.bincount(index, minlength=bins)[:bins]


def _finite(values: Any) -> np.ndarray:
    array = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype=np.float64)
    return array[np.isfinite(array)]


def _not_judged(feature: str, kind: str, test: str, rows: int, note: str) -> FeatureDrift:
    return FeatureDrift(feature, kind, test, None, None, None, False, rows, note)


def numeric_drift(
    feature: str,
    window: Any,
    summary: Mapping[str, Any],
    sample: Any,
    thresholds: Thresholds,
) -> FeatureDrift:
    """KS test against the training sample and PSI on the baseline histogram of one numeric column."""
    values = _finite(window)
    reference = _finite(sample)
    histogram = summary.get("histogram")
    if values.size < thresholds.min_rows:
        return _not_judged(
            feature, "numeric", "ks", int(values.size), f"fewer than {thresholds.min_rows} values"
        )
    if reference.size == 0 or not histogram:
        return _not_judged(feature, "numeric", "ks", int(values.size), "no baseline")
    # SciPy's exact p-value costs O(n * m) (~4 ms at 1,000 x 5,000); beyond that the asymptotic
    # distribution is accurate to far better than the thresholds need.
    method = "auto" if values.size * reference.size <= EXACT_KS_MAX_PRODUCT else "asymp"
    ks = stats.ks_2samp(values, reference, method=method)
    index = psi(np.asarray(histogram["counts"]), bin_counts(values, histogram["edges"]))
    p_value = float(ks.pvalue)
    return FeatureDrift(
        feature,
        "numeric",
        "ks",
        float(ks.statistic),
        p_value,
        index,
        p_value < thresholds.p_value and index > thresholds.psi,
        int(values.size),
    )


def category_counts(values: Any, categories: list[str]) -> np.ndarray:
    """Counts of ``values`` per category (in that order); values outside them go to ``__other__``."""
    array = np.asarray(values, dtype=object)
    present = array[~pd.isna(array)].astype(str)
    # np.unique tallies the (few) distinct values in C; the Python loop below is over categories.
    distinct, tallies = np.unique(present, return_counts=True)
    found = dict(zip(distinct.tolist(), tallies.tolist(), strict=True))
    counts = np.array([found.get(c, 0) for c in categories], dtype=np.int64)
    if OTHER in categories:
        counts[categories.index(OTHER)] = len(present) - sum(
            found.get(c, 0) for c in categories if c != OTHER
        )
    return counts


def _chi2(baseline: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """Chi-squared test of homogeneity of two count vectors (categories empty in both dropped)."""
    keep = (baseline + window) > 0
    if keep.sum() < 2:  # one category only: nothing can differ
        return 0.0, 1.0
    result = stats.chi2_contingency(np.vstack([baseline[keep], window[keep]]), correction=False)
    return float(result.statistic), float(result.pvalue)


def categorical_drift(
    feature: str, window: Any, counts: Mapping[str, int], thresholds: Thresholds
) -> FeatureDrift:
    """Chi-squared test and PSI of one categorical column against the baseline's category counts."""
    categories = list(counts)
    baseline = np.array([int(counts[c]) for c in categories], dtype=np.int64)
    observed = category_counts(window, categories)
    rows = int(observed.sum())
    if rows < thresholds.min_rows:
        return _not_judged(feature, "categorical", "chi2", rows, f"fewer than {thresholds.min_rows} values")
    statistic, p_value = _chi2(baseline, observed)
    index = psi(baseline, observed)
    drifted = p_value < thresholds.p_value and index > thresholds.psi
    return FeatureDrift(feature, "categorical", "chi2", statistic, p_value, index, drifted, rows)


def start_time_drift(window: Any, baseline: Mapping[str, Any], thresholds: Thresholds) -> FeatureDrift:
    """The start time through its hour, day of week and month (see the module docstring)."""
    stamps = pd.to_datetime(
        pd.Series(np.asarray(window, dtype=object)), errors="coerce", utc=True, format="ISO8601"
    )
    stamps = stamps[stamps.notna()]
    rows = len(stamps)
    if rows < thresholds.min_rows:
        return _not_judged(
            TIME_FEATURE, "categorical", "chi2", rows, f"fewer than {thresholds.min_rows} values"
        )
    span = (stamps.max() - stamps.min()).to_pytimedelta()
    hour, day_of_week, month = time_parts(stamps)
    values = {"hour": hour, "day_of_week": day_of_week, "month": month}
    judged: dict[str, FeatureDrift] = {}
    for part, cycle in TIME_PART_CYCLES.items():
        counts = baseline["categorical"].get(f"{TIME_FEATURE}.{part}")
        if counts is None or span < cycle:
            continue
        text = pd.Series(values[part]).astype("Int64").astype(str)  # "13", like the baseline's keys
        judged[part] = categorical_drift(part, text.to_numpy(dtype=object), counts["counts"], thresholds)
    if not judged:
        note = f"start times span {span}, less than a day: no calendar part can be judged"
        return _not_judged(TIME_FEATURE, "categorical", "chi2", rows, note)
    # Bonferroni over the parts judged, so that start_time counts as one test in the run's budget.
    k = len(judged)
    corrected = {part: min(1.0, (1.0 if r.p_value is None else r.p_value) * k) for part, r in judged.items()}
    worst = min(judged, key=lambda part: (corrected[part], -(judged[part].psi or 0.0)))
    drifted_parts = [
        part
        for part, r in judged.items()
        if corrected[part] < thresholds.p_value and (r.psi or 0.0) > thresholds.psi
    ]
    shown = drifted_parts[0] if drifted_parts else worst
    parts = {
        part: {"statistic": r.statistic, "p_value": r.p_value, "psi": r.psi, "drifted": part in drifted_parts}
        for part, r in judged.items()
    }
    result = judged[shown]
    return FeatureDrift(
        TIME_FEATURE,
        "categorical",
        "chi2",
        result.statistic,
        corrected[shown],
        result.psi,
        bool(drifted_parts),
        rows,
        f"reported part: {shown} (p-value Bonferroni-corrected over {k} part(s))",
        parts,
    )


# ---------------------------------------------------------------- the whole window


def compute_drift(
    window: pd.DataFrame,
    baseline: Mapping[str, Any],
    sample: pd.DataFrame,
    thresholds: Thresholds,
    *,
    model_version: str | None = None,
) -> DriftReport:
    """Every input's and the predictions' drift statistics for one window.

    Args:
        window: served predictions: the eight inputs, ``predicted_hours`` and, when present,
            ``system_load_imputed`` (imputed loads are left out) and ``model_version``.
        baseline: the version's ``baseline.json`` (``ml.baseline.baseline_statistics``).
        sample: the version's training sample (``ml.baseline.baseline_sample``).
        thresholds: when a feature counts as drifted.
        model_version: the version the baseline belongs to; when given and the window has a
            ``model_version`` column, only that version's predictions are compared (another
            model's predictions are expected to differ).
    """
    features: dict[str, FeatureDrift] = {}
    for name in schema.FEATURES:
        if name in NUMERIC_INPUTS:
            values = window[name]
            if name == LOAD_COLUMN and IMPUTED_LOAD_COLUMN in window:
                values = values.where(~window[IMPUTED_LOAD_COLUMN].fillna(False).astype(bool))
            features[name] = numeric_drift(name, values, baseline["numeric"][name], sample[name], thresholds)
        elif name in CATEGORICAL_INPUTS:
            counts = baseline["categorical"][name]["counts"]
            features[name] = categorical_drift(name, window[name].to_numpy(dtype=object), counts, thresholds)
        elif name == TIME_FEATURE:
            features[name] = start_time_drift(window[name], baseline, thresholds)
    predicted = window[PREDICTION_COLUMN]
    if model_version is not None and "model_version" in window:
        predicted = predicted[window["model_version"] == model_version]
    prediction = numeric_drift(
        PREDICTION_COLUMN, predicted, baseline["prediction"], sample[PREDICTION_COLUMN], thresholds
    )
    return DriftReport(features=features, prediction=prediction)
