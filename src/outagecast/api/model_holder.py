"""The model the API serves, swappable without a restart.

Requests read :attr:`ModelHolder.predictor` once (``deps.get_predictor``) and keep that object
for their whole life, so replacing the reference (one atomic assignment) never changes the
model under a request in flight. Loads and swaps are serialised by a lock; the new model is
loaded completely before it is swapped in, and a failed load keeps the old one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outagecast.ml.predict import Predictor
    from outagecast.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reload:
    """What a reload did."""

    previous_version: str | None
    version: str | None
    champion: str | None  # the registry's champion when asked (None: none yet)
    seconds: float

    @property
    def changed(self) -> bool:
        return self.previous_version != self.version


class ModelHolder:
    """Holds the current predictor; requests read it once, so a swap never breaks one in flight."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._predictor: Predictor | None = None
        self._lock = threading.Lock()

    @property
    def predictor(self) -> Predictor | None:
        return self._predictor

    @property
    def version(self) -> str | None:
        predictor = self._predictor
        return predictor.version if predictor is not None else None

    def load(self, *, train_if_missing: bool = True) -> Predictor | None:
        """Load the champion (training one on a cold start); keep the old one on failure."""
        from outagecast.ml.bootstrap import ensure_model, load_current_model

        with self._lock:
            try:
                predictor = ensure_model(self._settings) if train_if_missing else None
                if predictor is None:
                    predictor = load_current_model(self._settings)
            except Exception:  # a broken registry or model must not take the API down
                log.exception("could not load the model; keeping %s", self.version or "none")
                return self._predictor
            if predictor is not None:
                self._predictor = predictor
                log.info("serving model %s", predictor.version)
            return self._predictor

    def reload(self, *, force: bool = False) -> Reload:
        """Serve the registry's current champion; a no-op when it is the one served (unless ``force``).

        Raises:
            Exception: the registry or the model could not be read (the old model stays).
        """
        from outagecast.ml.registry import champion_version, load_version

        started = time.perf_counter()
        with self._lock:
            previous = self.version
            champion = champion_version(self._settings)
            if champion is not None and (force or champion != previous or self._predictor is None):
                predictor = load_version(self._settings, champion)
                self._predictor = predictor  # the swap: one reference assignment
                log.info("model reloaded: serving %s (was %s)", champion, previous or "none")
            return Reload(
                previous_version=previous,
                version=self.version,
                champion=champion,
                seconds=time.perf_counter() - started,
            )

    def refresh(self) -> bool:
        """Periodic check: reload when the champion changed; never raises. Returns whether it swapped."""
        try:
            return self.reload().changed
        except Exception:
            log.exception("model refresh failed; still serving %s", self.version or "nothing")
            return False
