"""The MLflow ``pyfunc`` flavour of a registered OutageCast model ("models from code").

MLflow copies this file into every logged model and runs it when the model is loaded with
``mlflow.pyfunc.load_model`` (``mlflow models serve``, ``mlflow.models.predict``, the UI's
examples). OutageCast never imports it: the API and the gate load the ``Predictor`` directly
(``ml.registry.load_version``), which skips MLflow's environment checks and is faster.
Running it needs the ``outagecast`` package installed, as the ``Predictor`` is pickled with it.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

DEFAULT_COVERAGE = 0.8


class OutageDurationModel(PythonModel):
    """Predicted outage hours with a calibrated interval; ``params={"coverage": 0.9}`` picks its width."""

    def load_context(self, context: Any) -> None:
        from outagecast.ml.predict import Predictor

        self.predictor = Predictor.load(context.artifacts["predictor"])

    # A DataFrame hint tells MLflow not to derive an input schema from the hint: the explicit
    # signature logged with the model describes the input.
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        coverage = float((params or {}).get("coverage", DEFAULT_COVERAGE))
        hours, low, high = self.predictor.predict_with_interval(frame, coverage)
        # As the API: a duration is never negative, whatever the regressor says.
        return pd.DataFrame(
            {
                "predicted_hours": np.maximum(hours, 0.0),
                "predicted_hours_low": low,
                "predicted_hours_high": high,
            }
        )


mlflow.models.set_model(OutageDurationModel())
