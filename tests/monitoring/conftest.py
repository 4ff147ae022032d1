"""A trained, registered champion (real MLflow store) and a pool of fresh incidents it predicted.

Session-scoped: one training (~5 s) serves every monitoring test. The pool comes from the
generator with another seed than the training data, so it is new data from the training
distribution; shifted pools are built from it by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from outagecast import schema
from outagecast.datasets.generate import generate_incidents
from outagecast.ml import registry
from outagecast.ml.bootstrap import train_and_register
from outagecast.ml.predict import Predictor
from outagecast.settings import Settings
from tests.registry.conftest import make_settings

TRAINING_ROWS = 10_000
POOL_ROWS = 40_000
POOL_SEED = 20261204


@dataclass(frozen=True)
class Trained:
    """The champion of a real registry, its baseline artifacts and a fresh pool it predicted."""

    settings: Settings
    version: str
    baseline: dict[str, Any]
    sample: pd.DataFrame
    predictor: Predictor
    pool: pd.DataFrame  # all 40 columns of fresh incidents + predicted_hours + system_load_imputed

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted hours as the API computes them (never negative)."""
        return np.maximum(self.predictor.predict(frame[list(schema.FEATURES)]), 0.0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    settings = make_settings(tmp_path_factory.mktemp("monitor-home"), dataset_rows=TRAINING_ROWS)
    _, decision = train_and_register(settings, trigger="cli")
    assert decision.promoted
    version = registry.champion_version(settings)
    assert version is not None
    predictor = registry.load_version(settings, version)
    pool = generate_incidents(POOL_ROWS, POOL_SEED)
    pool["predicted_hours"] = np.maximum(predictor.predict(pool[list(schema.FEATURES)]), 0.0)
    pool["system_load_imputed"] = False
    return Trained(
        settings=settings,
        version=version,
        baseline=registry.load_baseline(settings, version),
        sample=registry.load_baseline_sample(settings, version),
        predictor=predictor,
        pool=pool,
    )


def weights_for(frame: pd.DataFrame, column: str, weights: dict[str, float]) -> np.ndarray:
    """Sampling probabilities over ``frame``'s rows that re-weight ``column``'s categories."""
    w = frame[column].map(weights).fillna(1.0).to_numpy(dtype=np.float64)
    return w / w.sum()


def doubled_share(frame: pd.DataFrame, column: str, value: str) -> np.ndarray:
    """Sampling probabilities under which ``value``'s share of ``column`` is twice its share in ``frame``."""
    p = float((frame[column] == value).mean())
    return weights_for(frame, column, {value: 2 * (1 - p) / (1 - 2 * p)})


# Severity mix moved towards Critical:
# Low 30 -> 20 %, Medium 35 -> 30 %, High 24 -> 28 %, Critical 11 -> 21 %.
SEVERITY_TOWARDS_CRITICAL = {"Low": 0.7, "Medium": 0.9, "High": 1.2, "Critical": 2.0}


def with_more_load(trained: Trained, points: float = 15.0) -> pd.DataFrame:
    """The pool with every system load ``points`` higher (capped at 100) and predicted again."""
    shifted = trained.pool.copy()
    shifted["system_load_before_outage"] = np.clip(shifted["system_load_before_outage"] + points, 0.0, 100.0)
    shifted["predicted_hours"] = trained.predict(shifted)
    return shifted


def sample_rows(frame: pd.DataFrame, rows: int, rng: np.random.Generator, p: Any = None) -> pd.DataFrame:
    """``rows`` distinct rows of ``frame`` (with sampling probabilities ``p`` when given)."""
    return frame.iloc[rng.choice(len(frame), size=rows, replace=False, p=p)].reset_index(drop=True)
