"""Feature engineering and the pipeline layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from outagecast import schema
from outagecast.ml.features import (
    CATEGORICAL_MODEL_COLUMNS,
    NUMERIC_MODEL_COLUMNS,
    FeatureEngineer,
    build_pipeline,
    model_column_sources,
)


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {
        "cloud_provider": "AWS",
        "service": "Compute",
        "severity": "High",
        "start_time": "2025-06-30 10:18:08.524480",  # a Monday in June
        "system_load_before_outage": 80.0,
        "number_of_customers_affected": 100,
        "ticket_count": 5,
        "backup_system_triggered": "Yes",
    }
    return pd.DataFrame([{**base, **row} for row in rows])


@pytest.fixture
def fitted() -> FeatureEngineer:
    training = _frame(
        [
            {"start_time": "2025-01-06 02:00:00", "number_of_customers_affected": 10, "ticket_count": 1},
            {"start_time": "2025-03-08 12:00:00", "number_of_customers_affected": 30, "ticket_count": 3},
            {"start_time": "2025-05-10 20:00:00", "number_of_customers_affected": 50, "ticket_count": 9},
        ]
    )
    return FeatureEngineer().fit(training)


def test_transform_engineers_the_inputs(fitted: FeatureEngineer) -> None:
    out = fitted.transform(_frame([{}, {"backup_system_triggered": "No"}]))
    assert list(out.columns) == [*NUMERIC_MODEL_COLUMNS, *CATEGORICAL_MODEL_COLUMNS]
    assert out["backup_system_triggered"].tolist() == [1.0, 0.0]
    assert out.loc[0, ["hour", "day_of_week", "month"]].tolist() == [10, 0, 6]
    assert out.loc[0, "system_load_before_outage"] == 80.0
    assert out["cloud_provider"].tolist() == ["AWS", "AWS"]


def test_missing_inputs_are_filled(fitted: FeatureEngineer) -> None:
    odd = _frame(
        [
            {
                "start_time": None,
                "system_load_before_outage": None,
                "number_of_customers_affected": "NOT_A_NUMBER",
                "ticket_count": None,
                "backup_system_triggered": "maybe",
            },
            {"start_time": "garbage", "system_load_before_outage": 250.0},
        ]
    )
    out = fitted.transform(odd)
    # Training medians for start time parts and counts, the default load, "No" for the backup.
    assert out.loc[0, ["hour", "day_of_week", "month"]].tolist() == [12, 5, 3]
    assert out.loc[1, ["hour", "day_of_week", "month"]].tolist() == [12, 5, 3]
    assert out.loc[0, "number_of_customers_affected"] == 30
    assert out.loc[0, "ticket_count"] == 3
    assert out.loc[0, "system_load_before_outage"] == schema.DEFAULT_SYSTEM_LOAD
    assert out.loc[1, "system_load_before_outage"] == 100.0  # clipped to the schema's range
    assert out.loc[0, "backup_system_triggered"] == 0.0
    assert not out[list(NUMERIC_MODEL_COLUMNS)].isna().any().any()


def test_optional_columns_may_be_absent(fitted: FeatureEngineer) -> None:
    frame = _frame([{}]).drop(columns=["start_time", "system_load_before_outage"])
    out = fitted.transform(frame)
    assert out.loc[0, "system_load_before_outage"] == schema.DEFAULT_SYSTEM_LOAD
    assert out.loc[0, "hour"] == 12


def test_unknown_category_gets_no_one_hot_column() -> None:
    rng = np.random.default_rng(0)
    training = _frame(
        [
            {"cloud_provider": p, "service": s, "severity": v}
            for p, s, v in zip(
                rng.choice(schema.CLOUD_PROVIDERS, 60),
                rng.choice(schema.SERVICES, 60),
                rng.choice(schema.SEVERITIES, 60),
                strict=True,
            )
        ]
    )
    pipeline = build_pipeline("lgbm", seed=0)
    pipeline[:-1].fit(training)
    columns = pipeline[:-1].transform(
        _frame([{"cloud_provider": "INVALID_CLOUD"}, {"cloud_provider": None}, {}])
    )
    names = list(pipeline.named_steps["columns"].get_feature_names_out())
    provider_columns = [i for i, n in enumerate(names) if n.startswith("cloud_provider_")]
    assert len(provider_columns) == len(schema.CLOUD_PROVIDERS)
    assert columns[0, provider_columns].sum() == 0
    assert columns[1, provider_columns].sum() == 0
    assert columns[2, provider_columns].sum() == 1


def test_model_columns_map_back_to_the_inputs() -> None:
    pipeline = build_pipeline("lgbm", seed=0)
    pipeline[:-1].fit(_frame([{}, {"severity": "Low"}]))
    sources = model_column_sources(pipeline)
    assert set(sources) == set(schema.FEATURES)
    assert sources.count("start_time") == 3
    assert sources.count("severity") == len(schema.SEVERITIES)


def test_build_pipeline_families() -> None:
    assert type(build_pipeline("lgbm").named_steps["regressor"]).__name__ == "LGBMRegressor"
    forest = build_pipeline("random_forest").named_steps["regressor"]
    assert type(forest).__name__ == "RandomForestRegressor"
    assert forest.n_estimators == 100 and forest.random_state == 42
    with pytest.raises(ValueError):
        build_pipeline("xgboost")  # type: ignore[arg-type]
