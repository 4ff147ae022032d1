"""Prediction intervals by normalised split-conformal calibration.

Outage durations have multiplicative noise: a 10-hour critical outage is far less certain
than a 30-minute low one. So the interval half-widths scale with a *difficulty* estimate
sigma(x) (a small LightGBM model of the absolute residual), and the scale factor comes from
held-out calibration rows: the signed normalised residuals r = (y - yhat) / sigma(x) of rows
the model never saw are sorted once, and a nominal coverage 1 - a uses their a/2 and 1 - a/2
order statistics (with the finite-sample correction), so any coverage can be asked for at
prediction time. Signed (not absolute) residuals keep the interval asymmetric, as the
right-skewed noise is. Scores are also kept per severity level (Mondrian conformal), so that
coverage holds within each level, not only on average; a level with too few calibration
rows falls back to the pooled scores. Justification and measured coverage: docs/model.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Small and smooth on purpose: sigma(x) should track broad regimes, not fit noise.
DIFFICULTY_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 200,
    "reg_lambda": 5.0,
    "n_jobs": 1,
    "verbose": -1,
}
MIN_COVERAGE, MAX_COVERAGE = 0.5, 0.995
MIN_GROUP_ROWS = 200  # fewer calibration rows than this: the group uses the pooled scores


@dataclass
class IntervalCalibrator:
    """Difficulty model + sorted calibration scores; turns point predictions into intervals."""

    difficulty: Any  # fitted LGBMRegressor on the model matrix -> E|residual|
    scores: np.ndarray  # sorted signed normalised residuals of the calibration rows
    sigma_floor: float  # lower bound on sigma, so no interval collapses to a point
    group_scores: dict[str, np.ndarray] | None = None  # the same, per severity level

    @classmethod
    def fit(
        cls,
        *,
        fit_matrix: np.ndarray,
        fit_residuals: np.ndarray,
        cal_matrix: np.ndarray,
        cal_residuals: np.ndarray,
        cal_groups: np.ndarray | None = None,
        seed: int = 42,
    ) -> IntervalCalibrator:
        """Fit the difficulty model on training residuals; calibrate on held-out residuals."""
        from lightgbm import LGBMRegressor

        difficulty = LGBMRegressor(random_state=seed, **DIFFICULTY_PARAMS)
        difficulty.fit(fit_matrix, np.abs(fit_residuals))
        floor = float(max(np.quantile(np.abs(fit_residuals), 0.05), 1e-3))
        calibrator = cls(difficulty=difficulty, scores=np.empty(0), sigma_floor=floor)
        normalised = cal_residuals / calibrator.sigma(cal_matrix)
        calibrator.scores = np.sort(normalised)
        if cal_groups is not None:
            groups = np.asarray(cal_groups, dtype=object)
            calibrator.group_scores = {
                str(g): np.sort(normalised[groups == g])
                for g in np.unique(groups)
                if (groups == g).sum() >= MIN_GROUP_ROWS
            }
        return calibrator

    def sigma(self, matrix: np.ndarray) -> np.ndarray:
        """Difficulty of each row (same units as the prediction)."""
        booster = getattr(self.difficulty, "booster_", None)
        raw = (
            booster.predict(matrix, num_threads=1) if booster is not None else self.difficulty.predict(matrix)
        )
        return np.maximum(np.asarray(raw, dtype=np.float64), self.sigma_floor)

    def quantiles(self, coverage: float, group: str | None = None) -> tuple[float, float]:
        """Lower and upper normalised offsets for a nominal two-sided ``coverage`` (in ``group``)."""
        if not MIN_COVERAGE <= coverage <= MAX_COVERAGE:
            raise ValueError(f"coverage must be between {MIN_COVERAGE} and {MAX_COVERAGE}, not {coverage}")
        scores = (self.group_scores or {}).get(str(group), self.scores)
        n = len(scores)
        alpha = 1.0 - coverage
        # Finite-sample conformal ranks (1-based): conservative on both sides.
        hi_rank = min(n, math.ceil((n + 1) * (1 - alpha / 2)))
        lo_rank = max(1, math.floor((n + 1) * (alpha / 2)))
        return float(scores[lo_rank - 1]), float(scores[hi_rank - 1])

    def bounds(
        self, predicted: np.ndarray, matrix: np.ndarray, coverage: float, groups: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) in the prediction's units; the low bound never goes below zero.

        ``groups`` (severity per row) selects each row's calibration scores; vectorised per
        distinct group, not per row.
        """
        n = len(predicted)
        q_lo, q_hi = np.empty(n), np.empty(n)
        if groups is None or not self.group_scores:
            q_lo[:], q_hi[:] = self.quantiles(coverage)
        else:
            groups = np.asarray(groups, dtype=object).astype(str)
            for group in np.unique(groups):
                mask = groups == group
                q_lo[mask], q_hi[mask] = self.quantiles(coverage, group)
        sigma = self.sigma(matrix)
        return np.maximum(predicted + q_lo * sigma, 0.0), predicted + q_hi * sigma


def coverage_report(
    y: np.ndarray, low: np.ndarray, high: np.ndarray, groups: pd.Series | None = None
) -> dict[str, Any]:
    """Empirical coverage and mean width, overall and per group (e.g. severity)."""
    inside = (y >= low) & (y <= high)
    report: dict[str, Any] = {"coverage": float(inside.mean()), "mean_width": float(np.mean(high - low))}
    if groups is not None:
        frame = pd.DataFrame({"inside": inside, "width": high - low, "group": np.asarray(groups)})
        per = frame.groupby("group", observed=True).agg(coverage=("inside", "mean"), width=("width", "mean"))
        report["by_group"] = {
            str(k): {"coverage": float(v.coverage), "mean_width": float(v.width)} for k, v in per.iterrows()
        }
    return report
