"""The model the API serves, swappable without a restart."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outagecast.ml.predict import Predictor
    from outagecast.settings import Settings

log = logging.getLogger(__name__)


class ModelHolder:
    """Holds the current predictor; requests read it once, so a swap never breaks one in flight."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._predictor: Predictor | None = None
        self._lock = threading.Lock()

    @property
    def predictor(self) -> Predictor | None:
        return self._predictor

    def load(self, *, train_if_missing: bool = True) -> Predictor | None:
        """Load the saved model (training one on a cold start); keep the old one on failure."""
        from outagecast.ml.bootstrap import ensure_model, load_current_model

        with self._lock:
            try:
                predictor = ensure_model(self._settings) if train_if_missing else None
                if predictor is None:
                    predictor = load_current_model(self._settings)
            except Exception:  # a broken model file must not take the API down
                log.exception("could not load the model; keeping %s", self.version or "none")
                return self._predictor
            if predictor is not None:
                self._predictor = predictor
                log.info("serving model %s", predictor.version)
            return self._predictor

    @property
    def version(self) -> str | None:
        return self._predictor.version if self._predictor is not None else None
