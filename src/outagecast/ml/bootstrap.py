"""First-run work: make sure a dataset and a trained model exist, and load the current model.

This is the one place that knows where the serving model comes from; the registry issue
replaces its insides, not its callers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outagecast.ml.predict import Predictor
    from outagecast.ml.train import TrainResult
    from outagecast.settings import Settings

log = logging.getLogger(__name__)


def ensure_dataset(settings: Settings, *, progress: bool = False) -> Path:
    """The training dataset's path, generating it (seeded) when it is missing."""
    from outagecast.datasets.generate import write_dataset

    path = settings.dataset_path
    if not path.exists():
        log.info(
            "no dataset at %s: generating %d rows (seed %d)",
            path,
            settings.dataset_rows,
            settings.dataset_seed,
        )
        write_dataset(path, settings.dataset_rows, settings.dataset_seed, progress=progress)
    return path


def load_current_model(settings: Settings) -> Predictor | None:
    """The model to serve, or None when none has been trained yet."""
    from outagecast.ml.predict import load_predictor

    return load_predictor(settings.model_path)


def train_and_save(
    settings: Settings, *, data: Path | None = None, families: tuple[str, ...] = ("lgbm",)
) -> list[TrainResult]:
    """Train each family on the same split; save the first (the serving family) as the current model."""
    from outagecast.ml.train import load_training_frame, train_models

    path = data or ensure_dataset(settings, progress=True)
    frame = load_training_frame(path)
    results = train_models(frame, families=list(families), seed=settings.dataset_seed)
    results[0].model.save(settings.model_path)
    log.info("saved model %s to %s", results[0].model.version, settings.model_path)
    return results


def ensure_model(settings: Settings) -> Predictor:
    """The current model, training one (and generating the dataset) on a cold start."""
    predictor = load_current_model(settings)
    if predictor is None:
        log.info("no saved model: training one (cold start)")
        predictor = train_and_save(settings)[0].model
    return predictor
