"""The served model: a fitted pipeline plus its metadata, with a lean prediction path.

``Predictor.predict`` does not go through the pandas ``ColumnTransformer``: at construction it
reads from the fitted pipeline what building the model matrix needs (the feature engineer's
fill-ins, the scaler's means and scales, each category's one-hot column) and then builds the
matrix with numpy and calls the LightGBM booster directly with one thread. The result equals
``pipeline.predict`` (a test holds it to 1e-9) at a fraction of the cost for small batches
(single-row figures in docs/model.md).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from outagecast import schema
from outagecast.ml.features import (
    CATEGORICAL_MODEL_COLUMNS,
    NUMERIC_MODEL_COLUMNS,
    FeatureEngineer,
    category_text,
    model_column_sources,
)
from outagecast.ml.intervals import IntervalCalibrator

logger = logging.getLogger(__name__)
INTERVAL_GROUP = "severity"  # the input whose levels the intervals are calibrated within


class _MatrixBuilder:
    """Builds the model matrix from raw inputs with numpy, exactly as the fitted pipeline does."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.engineer: FeatureEngineer = pipeline.named_steps["features"]
        columns = pipeline.named_steps["columns"]
        scaler = columns.named_transformers_["numeric"]
        encoder = columns.named_transformers_["categorical"]
        self.mean = np.asarray(scaler.mean_, dtype=np.float64)
        self.scale = np.asarray(scaler.scale_, dtype=np.float64)
        # Sorted categories (+ their one-hot position) for a vectorised exact-match lookup.
        self.sorted_categories = [np.sort(np.asarray(cats, dtype=str)) for cats in encoder.categories_]
        self.positions = [
            np.argsort(np.asarray(cats, dtype=str), kind="stable") for cats in encoder.categories_
        ]
        self.offsets = np.cumsum([len(NUMERIC_MODEL_COLUMNS)] + [len(c) for c in encoder.categories_])
        self.width = int(self.offsets[-1])

    def codes(self, j: int, values: np.ndarray) -> np.ndarray:
        """One-hot position of each value within categorical feature ``j``; -1 when not a category.

        Values are compared as the text ``FeatureEngineer`` hands the encoder (``category_text``).
        """
        cats = self.sorted_categories[j]
        text = category_text(values)
        found = np.minimum(np.searchsorted(cats, text), len(cats) - 1)
        return np.where(cats[found] == text, self.positions[j][found], -1)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, width) float64 model matrix: scaled numerics, then one-hot categories."""
        n = len(frame)
        out = np.zeros((n, self.width), dtype=np.float64)
        out[:, : len(NUMERIC_MODEL_COLUMNS)] = (self.engineer.numeric_matrix(frame) - self.mean) / self.scale
        rows = np.arange(n)
        for j, name in enumerate(CATEGORICAL_MODEL_COLUMNS):
            codes = self.codes(j, frame[name].to_numpy() if name in frame else np.full(n, None, dtype=object))
            known = codes >= 0  # unknown or missing -> all-zero one-hot, as the encoder's "ignore"
            out[rows[known], self.offsets[j] + codes[known]] = 1.0
        return out


class Predictor:
    """A fitted pipeline with its metadata: predictions in hours, contributions, persistence.

    Attributes:
        pipeline: the fitted ``build_pipeline`` pipeline (the reference path).
        family: ``"lgbm"`` or ``"random_forest"``.
        version: model version, e.g. ``lgbm-20250630T101808Z-1a2b3c4``.
        trained_at: UTC time of training.
        metrics: evaluation figures recorded at training (rmse, mae, r2, oracle_rmse, ...).
        feature_names: the original inputs, ``schema.FEATURES``.
        model_feature_names: the columns of the model matrix (after one-hot encoding).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        family: str,
        version: str,
        trained_at: datetime | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.family = family
        self.version = version
        self.trained_at = trained_at or datetime.now(UTC)
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.calibrator: IntervalCalibrator | None = None
        self.feature_names: tuple[str, ...] = tuple(schema.FEATURES)
        self._setup()

    def _setup(self) -> None:
        """Derive the fast path from the pipeline (also after unpickling)."""
        self._builder = _MatrixBuilder(self.pipeline)
        self.model_feature_names: list[str] = list(
            self.pipeline.named_steps["columns"].get_feature_names_out()
        )
        regressor = self.pipeline.named_steps["regressor"]
        self._booster = getattr(regressor, "booster_", None)  # None for non-LightGBM families
        self._regressor = regressor
        sources = model_column_sources(self.pipeline)
        # (model columns, original features) 0/1 matrix: sums per-column contributions per input.
        self._groups = np.array([[float(s == f) for f in self.feature_names] for s in sources])

    def __getstate__(self) -> dict[str, Any]:
        # Persist only the pipeline and metadata; the fast path is rebuilt on load.
        return {k: v for k, v in self.__dict__.items() if k in _PERSISTED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    # ------------------------------------------------------------ prediction
    def model_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model matrix (scaled numerics + one-hot) for ``frame``, built with numpy."""
        return self._builder.matrix(frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted outage duration in hours, one vectorised model call for the whole frame.

        ``frame`` holds the eight inputs of ``schema.FEATURES`` (start_time and
        system_load_before_outage may be missing; see ``ml.features`` for how gaps are filled).
        """
        if len(frame) == 0:
            return np.empty(0, dtype=np.float64)
        x = self._builder.matrix(frame)
        if self._booster is not None:
            return np.asarray(self._booster.predict(x, num_threads=1), dtype=np.float64)
        return np.asarray(self._regressor.predict(x), dtype=np.float64)

    def predict_with_interval(
        self, frame: pd.DataFrame, coverage: float
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Hours and the (low, high) bounds of a ``coverage`` interval, from one model matrix.

        The bounds are None for a model trained without calibration.
        """
        if len(frame) == 0:
            empty = np.empty(0, dtype=np.float64)
            return empty, empty, empty
        x = self._builder.matrix(frame)
        if self._booster is not None:
            predicted = np.asarray(self._booster.predict(x, num_threads=1), dtype=np.float64)
        else:
            predicted = np.asarray(self._regressor.predict(x), dtype=np.float64)
        if self.calibrator is None:
            return predicted, None, None
        groups = frame[INTERVAL_GROUP].to_numpy() if INTERVAL_GROUP in frame else None
        low, high = self.calibrator.bounds(predicted, x, coverage, groups)
        return predicted, low, high

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """:meth:`predict` for a list of dicts (e.g. a JSON request body), building the frame by column."""
        frame = pd.DataFrame({name: [r.get(name) for r in records] for name in self.feature_names})
        return self.predict(frame)

    def predict_pipeline(self, frame: pd.DataFrame) -> np.ndarray:
        """Reference path: ``pipeline.predict`` (pandas ColumnTransformer); equals :meth:`predict`."""
        return np.asarray(self.pipeline.predict(frame), dtype=np.float64)

    def contributions(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Per-input contributions in hours (exact tree SHAP, LightGBM ``pred_contrib``).

        Returns:
            ``(base, contributions)``: the base value per row (the model's expected output) and a
            frame with one column per original input (``schema.FEATURES``; one-hot columns summed
            back to their category, hour/day-of-week/month to ``start_time``), such that
            ``base + contributions.sum(axis=1) == predict(frame)``.
        """
        if self._booster is None:
            raise NotImplementedError(f"contributions need a LightGBM model, not {self.family!r}")
        x = self._builder.matrix(frame)
        raw = np.asarray(self._booster.predict(x, pred_contrib=True, num_threads=1), dtype=np.float64)
        per_input = raw[:, :-1] @ self._groups
        return raw[:, -1].copy(), pd.DataFrame(per_input, columns=list(self.feature_names), index=frame.index)

    # ------------------------------------------------------------ metadata and persistence
    def metadata(self) -> dict[str, Any]:
        """JSON-ready description: version, family, training time, metrics, inputs."""
        return {
            "version": self.version,
            "family": self.family,
            "trained_at": self.trained_at.isoformat(),
            "metrics": dict(self.metrics),
            "feature_names": list(self.feature_names),
            "model_feature_names": list(self.model_feature_names),
        }

    def save(self, path: str | Path) -> Path:
        """Write the predictor with joblib, atomically (temp file beside ``path``, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            joblib.dump(self, tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        logger.info("saved model %s to %s", self.version, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """Read a predictor written by :meth:`save`."""
        obj = joblib.load(path)
        if not isinstance(obj, cls):
            raise TypeError(f"{path} holds a {type(obj).__name__}, not a Predictor")
        return obj

    def __repr__(self) -> str:
        return f"Predictor(version={self.version!r}, family={self.family!r})"


_PERSISTED = frozenset(
    {"pipeline", "family", "version", "trained_at", "metrics", "feature_names", "calibrator"}
)


def load_predictor(path: str | Path) -> Predictor | None:
    """The predictor saved at ``path``, or None when there is no file (the registry replaces this)."""
    path = Path(path)
    if not path.is_file():
        logger.info("no model at %s", path)
        return None
    predictor = Predictor.load(path)
    logger.info("loaded model %s from %s", predictor.version, path)
    return predictor
