"""Feature engineering: the eight request inputs -> the model matrix.

``FeatureEngineer`` turns a frame with the columns of ``schema.FEATURES`` into numeric columns
(load, customers, tickets, backup flag, hour, day of week, month) plus the three categoricals
as text; :func:`build_pipeline` puts it in front of a ``ColumnTransformer`` (standard scaling
of the numerics, one-hot encoding of the categoricals with the schema's categories) and the
regressor.

Missing or odd inputs, so that prediction never fails on a well-formed request:

* ``system_load_before_outage`` missing or absent -> ``schema.DEFAULT_SYSTEM_LOAD`` (the
  original design's 50); values are clipped to 0-100.
* ``start_time`` missing, absent or unparseable -> hour, day of week and month each take the
  training median (a "typical" time; every training row has a start time, so a missing flag
  would never be learned from). A time-zone designator is ignored: wall-clock time counts.
* ``number_of_customers_affected`` / ``ticket_count`` missing or non-numeric -> training median
  (training itself drops such rows, see ``ml.train``).
* ``backup_system_triggered``: Yes/No (also true/false, 1/0, any case); anything else -> No.
* A category outside the schema (or missing) -> all-zero one-hot columns (``handle_unknown``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from outagecast import schema
from outagecast.datasets.generate import time_parts, yes_no_flag

Family = Literal["lgbm", "random_forest"]
FAMILIES: Final[tuple[Family, ...]] = ("lgbm", "random_forest")

TIME_PARTS: Final = ("hour", "day_of_week", "month")
# Numeric model columns, in matrix order: the numeric inputs, the backup flag, the time parts.
NUMERIC_MODEL_COLUMNS: Final = (*schema.NUMERIC_FEATURES, *schema.BINARY_FEATURES, *TIME_PARTS)
CATEGORICAL_MODEL_COLUMNS: Final = schema.CATEGORICAL_FEATURES
# Which original input each engineered numeric column comes from (for contributions).
SOURCE_OF: Final[dict[str, str]] = {
    **{c: c for c in (*schema.NUMERIC_FEATURES, *schema.BINARY_FEATURES, *schema.CATEGORICAL_FEATURES)},
    **dict.fromkeys(TIME_PARTS, schema.TIME_FEATURE),
}
_LOAD: Final = NUMERIC_MODEL_COLUMNS.index("system_load_before_outage")
# Fill-ins when training saw no value at all (never in practice; keeps transform total).
_FALLBACK_FILL: Final = {"hour": 12.0, "day_of_week": 2.0, "month": 6.0}

# The default model: tuned by measurement on the generator (docs/model.md).
LGBM_PARAMS: Final[dict[str, Any]] = {
    "n_estimators": 500,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 100,
    "reg_lambda": 5.0,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.9,
    # One thread: on a busy 2-core machine OpenMP threads stall (measured 10x slower training);
    # the data are small, and prediction calls are single rows.
    "n_jobs": 1,
    "verbose": -1,
}
# The original design's model, kept as the baseline family.
RANDOM_FOREST_PARAMS: Final[dict[str, Any]] = {"n_estimators": 100, "random_state": 42}


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """``frame[name]`` as a numpy array, or all-missing when the (optional) column is absent."""
    if name in frame:
        return frame[name].to_numpy()
    return np.full(len(frame), None, dtype=object)


def _to_float(values: np.ndarray) -> np.ndarray:
    """Numbers as float64; anything non-numeric -> NaN (vectorised)."""
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def category_text(values: np.ndarray) -> np.ndarray:
    """Categorical inputs as text, the one conversion both prediction paths use.

    Missing values become "None"/"nan", which are not categories: like any value outside the
    schema they get all-zero one-hot columns.
    """
    return np.asarray(values).astype(str)


class FeatureEngineer(TransformerMixin, BaseEstimator):
    """The eight request inputs -> numeric model columns + categorical text columns.

    ``fit`` learns the fill-ins for missing start times and counts (training medians);
    ``transform`` returns a DataFrame with ``NUMERIC_MODEL_COLUMNS`` then
    ``CATEGORICAL_MODEL_COLUMNS``. Extra input columns are ignored.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> FeatureEngineer:
        """Learn the training medians used for missing values."""
        raw = self._raw_numeric(X)
        self.fill_values_ = {
            name: float(np.nanmedian(raw[:, j]))
            if np.isfinite(raw[:, j]).any()
            else _FALLBACK_FILL.get(name, 0.0)
            for j, name in enumerate(NUMERIC_MODEL_COLUMNS)
        }
        self.fill_values_[schema.BINARY_FEATURES[0]] = 0.0
        self.fill_values_["system_load_before_outage"] = schema.DEFAULT_SYSTEM_LOAD
        self.fill_vector_ = np.array([self.fill_values_[c] for c in NUMERIC_MODEL_COLUMNS])
        self.n_features_in_ = len(schema.FEATURES)
        self.feature_names_in_ = np.array(schema.FEATURES, dtype=object)
        return self

    def _raw_numeric(self, X: pd.DataFrame) -> np.ndarray:
        """(n, 7) float matrix of the numeric model columns, NaN where missing/unparseable."""
        # The Series itself (not its values): time_parts needs a tz-aware dtype to read wall-clock time.
        start = X[schema.TIME_FEATURE] if schema.TIME_FEATURE in X else _column(X, schema.TIME_FEATURE)
        hour, dow, month = time_parts(start)
        cols = [_to_float(_column(X, c)) for c in schema.NUMERIC_FEATURES]
        cols.append(yes_no_flag(_column(X, schema.BINARY_FEATURES[0])))
        cols += [hour, dow, month]
        return np.column_stack(cols) if len(X) else np.empty((0, len(NUMERIC_MODEL_COLUMNS)))

    def numeric_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """(n, 7) float matrix of ``NUMERIC_MODEL_COLUMNS`` with missing values filled (unscaled)."""
        raw = self._raw_numeric(X)
        raw = np.where(np.isnan(raw), self.fill_vector_, raw)
        raw[:, _LOAD] = np.clip(raw[:, _LOAD], 0.0, 100.0)
        return raw

    def categorical_values(self, X: pd.DataFrame) -> list[np.ndarray]:
        """The categorical inputs as object arrays of str (see :func:`category_text`)."""
        return [category_text(_column(X, c)).astype(object) for c in CATEGORICAL_MODEL_COLUMNS]

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Engineered frame: numeric columns (float) then categorical columns (text)."""
        numeric = self.numeric_matrix(X)
        data: dict[str, Any] = {c: numeric[:, j] for j, c in enumerate(NUMERIC_MODEL_COLUMNS)}
        for name, values in zip(CATEGORICAL_MODEL_COLUMNS, self.categorical_values(X), strict=True):
            data[name] = pd.Series(values, dtype=object)
        return pd.DataFrame(data, index=pd.RangeIndex(len(X)))

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        """Names of the engineered columns."""
        return np.array([*NUMERIC_MODEL_COLUMNS, *CATEGORICAL_MODEL_COLUMNS], dtype=object)


def build_pipeline(family: Family = "lgbm", seed: int = 42) -> Pipeline:
    """FeatureEngineer -> ColumnTransformer(scale numerics, one-hot categoricals) -> regressor.

    ``lgbm`` (default): LightGBM, chosen because it is fast to train and predict and gives exact
    tree SHAP contributions (``pred_contrib``). ``random_forest``: the original design's
    ``RandomForestRegressor(n_estimators=100, random_state=42)``, kept as a baseline (``seed`` is
    not used for it, to stay the original).
    """
    encoder = OneHotEncoder(
        categories=[list(schema.categories_of(c)) for c in CATEGORICAL_MODEL_COLUMNS],
        handle_unknown="ignore",
        sparse_output=False,
    )
    columns = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(NUMERIC_MODEL_COLUMNS)),
            ("categorical", encoder, list(CATEGORICAL_MODEL_COLUMNS)),
        ],
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )
    if family == "lgbm":
        from lightgbm import LGBMRegressor

        regressor: Any = LGBMRegressor(**LGBM_PARAMS, random_state=seed)
    elif family == "random_forest":
        from sklearn.ensemble import RandomForestRegressor

        regressor = RandomForestRegressor(**RANDOM_FOREST_PARAMS)
    else:
        raise ValueError(f"unknown model family {family!r}; expected one of {FAMILIES}")
    return Pipeline([("features", FeatureEngineer()), ("columns", columns), ("regressor", regressor)])


def model_column_sources(pipeline: Pipeline) -> list[str]:
    """For each column of the model matrix, the original input feature it comes from."""
    names = pipeline.named_steps["columns"].get_feature_names_out()
    categorical = pipeline.named_steps["columns"].named_transformers_["categorical"]
    sources = list(NUMERIC_MODEL_COLUMNS)
    for feature, cats in zip(CATEGORICAL_MODEL_COLUMNS, categorical.categories_, strict=True):
        sources += [feature] * len(cats)
    if len(sources) != len(names):  # pragma: no cover, guards a change of the transformer layout
        raise RuntimeError("model matrix layout does not match the feature engineer")
    return [SOURCE_OF[s] for s in sources]
