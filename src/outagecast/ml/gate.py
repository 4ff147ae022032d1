"""The promotion gate: does a newly registered model earn the ``champion`` alias?

Both models predict the same fixed reference set: ``REFERENCE_ROWS`` incidents generated with
``REFERENCE_SEED`` (20,000 and 20250101 by default) and cached under ``var/reference/``, so
every decision compares models on identical rows, never on each run's own random split.

The candidate is promoted when

* its inference latency, measured on the reference set (best of two whole-set
  ``predict_with_interval`` calls, per row), is at most ``MAX_INFERENCE_MS_PER_ROW``; and
* there is no champion yet (the first model), or its RMSE is not worse: the upper bound of
  the 95 % paired bootstrap confidence interval of ``rmse(candidate) - rmse(champion)``
  (``BOOTSTRAP_RESAMPLES`` resamples of the reference rows, seeded, vectorised) is at most
  ``PROMOTION_RMSE_TOLERANCE`` hours. A champion that cannot be loaded any more counts as none.

:func:`evaluate` is the pure decision (no registry, no I/O); :func:`run_gate` loads the
champion, decides, moves the alias and tags the version with the decision and its reason.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from outagecast.ml.predict import Predictor
    from outagecast.settings import Settings

log = logging.getLogger(__name__)

CONFIDENCE: Final = 0.95
LATENCY_REPEATS: Final = 2
SINGLE_ROW_CALLS: Final = 25
_BOOTSTRAP_CHUNK: Final = 100  # resamples per vectorised block: bounds memory to ~chunk x rows

Reference = tuple[pd.DataFrame, pd.Series]


@dataclass(frozen=True, slots=True)
class ReferenceScore:
    """How one model does on the reference set."""

    predictions: np.ndarray
    rmse: float
    mae: float
    oracle_rmse: float | None
    latency_ms_per_row: float  # whole-set batch, per row (the gated figure)
    single_row_ms: float  # median of single-row calls (informational: the API's one-incident case)

    def metrics(self) -> dict[str, float]:
        """The figures to log with the training run."""
        out = {
            "reference_rmse": self.rmse,
            "reference_mae": self.mae,
            "inference_ms_per_row": self.latency_ms_per_row,
            "single_row_ms": self.single_row_ms,
            "reference_rows": float(len(self.predictions)),
        }
        if self.oracle_rmse is not None:
            out["reference_oracle_rmse"] = self.oracle_rmse
        return out


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The gate's verdict on one candidate, with every figure it was based on."""

    candidate_version: str
    promoted: bool
    reason: str
    champion_version_before: str | None
    reference_rows: int
    reference_rmse: float
    champion_reference_rmse: float | None
    rmse_diff: float | None  # rmse(candidate) - rmse(champion), hours
    ci_low: float | None
    ci_high: float | None
    latency_ms_per_row: float
    single_row_ms: float
    tolerance: float
    max_latency_ms_per_row: float

    @property
    def decision(self) -> str:
        return "promoted" if self.promoted else "rejected"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decision": self.decision}


# ------------------------------------------------------------------ the reference set
def reference_set(settings: Settings) -> Reference:
    """The fixed reference rows: features and target hours (generated once, then read from var/)."""
    from outagecast.ml.train import TRAINING_COLUMNS, load_training_frame

    path = settings.reference_path
    frame: pd.DataFrame | None = None
    if path.is_file():
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # a damaged cache is regenerated, identically
            log.warning("reference set %s is unreadable (%s): generating it again", path, exc)
    if frame is None:
        from outagecast.datasets.generate import generate_incidents

        log.info(
            "generating the reference set: %d rows, seed %d", settings.reference_rows, settings.reference_seed
        )
        frame = generate_incidents(settings.reference_rows, settings.reference_seed)[list(TRAINING_COLUMNS)]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)  # concurrent writers write identical files: last one wins
        finally:
            tmp.unlink(missing_ok=True)
    features, target, _ = load_training_frame(frame)
    return features, target


# ------------------------------------------------------------------ measuring
def _best_seconds(call: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def score(predictor: Predictor, reference: Reference, *, coverage: float = 0.8) -> ReferenceScore:
    """Predictions, errors and latency of ``predictor`` on the reference set."""
    from outagecast.datasets.generate import oracle_hours

    features, target = reference
    # The timed calls are the ones served (point and interval from one model matrix); their
    # point predictions are the ones scored.
    outputs: list[np.ndarray] = []
    batch = _best_seconds(
        lambda: outputs.append(predictor.predict_with_interval(features, coverage)[0]), LATENCY_REPEATS
    )
    predicted = np.maximum(outputs[0], 0.0)  # as served: never negative
    errors = predicted - target.to_numpy(dtype=np.float64)
    singles = []
    for i in range(min(SINGLE_ROW_CALLS, len(features))):
        row = features.iloc[i : i + 1]
        singles.append(_best_seconds(lambda row=row: predictor.predict_with_interval(row, coverage), 1))
    return ReferenceScore(
        predictions=predicted,
        rmse=float(np.sqrt(np.mean(errors**2))),
        mae=float(np.mean(np.abs(errors))),
        oracle_rmse=_oracle_rmse(oracle_hours(features), target.to_numpy(dtype=np.float64)),
        latency_ms_per_row=1000.0 * batch / max(len(features), 1),
        single_row_ms=1000.0 * float(np.median(singles)) if singles else float("nan"),
    )


def _oracle_rmse(expected: np.ndarray, target: np.ndarray) -> float | None:
    """RMSE of the generator's true expected duration: the floor no model beats (None if undefined)."""
    if not np.isfinite(expected).all():
        return None
    return float(np.sqrt(np.mean((expected - target) ** 2)))


def bootstrap_rmse_difference(
    target: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    *,
    resamples: int = 1_000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """``rmse(candidate) - rmse(champion)`` and its paired percentile bootstrap confidence interval.

    Each resample draws row indices with replacement once and scores both models on the same
    rows (paired), so the interval reflects the difference, not each model's own noise.

    Returns:
        ``(difference, low, high)`` in the target's units.
    """
    y = np.asarray(target, dtype=np.float64)
    sq_candidate = (np.asarray(candidate, dtype=np.float64) - y) ** 2
    sq_champion = (np.asarray(champion, dtype=np.float64) - y) ** 2
    n = len(y)
    if n == 0:
        raise ValueError("no reference rows")
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, _BOOTSTRAP_CHUNK):
        k = min(_BOOTSTRAP_CHUNK, resamples - start)
        rows = rng.integers(0, n, size=(k, n), dtype=np.int32 if n < 2**31 else np.int64)
        diffs[start : start + k] = np.sqrt(sq_candidate[rows].mean(axis=1)) - np.sqrt(
            sq_champion[rows].mean(axis=1)
        )
    alpha = 1.0 - confidence
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    point = float(np.sqrt(sq_candidate.mean()) - np.sqrt(sq_champion.mean()))
    return point, float(low), float(high)


# ------------------------------------------------------------------ deciding
def evaluate(
    *,
    candidate_version: str,
    candidate: ReferenceScore,
    target: pd.Series | np.ndarray,
    champion_version: str | None,
    champion: ReferenceScore | None,
    tolerance: float,
    max_latency_ms_per_row: float,
    resamples: int = 1_000,
    seed: int = 0,
    champion_note: str = "",
) -> GateDecision:
    """The gate's decision from the two models' reference-set scores (pure: no registry, no I/O).

    ``champion`` None means there is no champion to beat (the first model, or an unloadable
    one: ``champion_note`` says which).
    """
    diff = low = high = None
    latency_ok = candidate.latency_ms_per_row <= max_latency_ms_per_row
    latency_text = f"latency {candidate.latency_ms_per_row:.4f} ms/row"
    if champion is not None:
        diff, low, high = bootstrap_rmse_difference(
            np.asarray(target), candidate.predictions, champion.predictions, resamples=resamples, seed=seed
        )
        comparison = (
            f"reference RMSE {candidate.rmse:.4f} h vs champion {champion_version} {champion.rmse:.4f} h: "
            f"difference {diff:+.4f} h, {CONFIDENCE:.0%} CI [{low:+.4f}, {high:+.4f}]"
        )
    if not latency_ok:
        promoted = False
        reason = f"{latency_text} exceeds MAX_INFERENCE_MS_PER_ROW={max_latency_ms_per_row:g}"
        if champion is not None:
            reason += f"; {comparison}"
    elif champion is None:
        promoted = True
        first = champion_note or "first model: no champion yet"
        reason = (
            f"{first}; {latency_text} <= {max_latency_ms_per_row:g}; reference RMSE {candidate.rmse:.4f} h"
        )
    elif high is not None and high <= tolerance:
        promoted = True
        reason = f"not worse: {comparison}, upper bound <= tolerance {tolerance:g} h; {latency_text}"
    else:
        promoted = False
        reason = f"worse than the champion: {comparison}, upper bound > tolerance {tolerance:g} h"
    return GateDecision(
        candidate_version=candidate_version,
        promoted=promoted,
        reason=reason,
        champion_version_before=champion_version,
        reference_rows=len(candidate.predictions),
        reference_rmse=candidate.rmse,
        champion_reference_rmse=champion.rmse if champion is not None else None,
        rmse_diff=diff,
        ci_low=low,
        ci_high=high,
        latency_ms_per_row=candidate.latency_ms_per_row,
        single_row_ms=candidate.single_row_ms,
        tolerance=tolerance,
        max_latency_ms_per_row=max_latency_ms_per_row,
    )


def run_gate(
    settings: Settings,
    *,
    candidate: Predictor,
    candidate_version: str,
    candidate_score: ReferenceScore | None = None,
    reference: Reference | None = None,
    promote: bool = True,
) -> GateDecision:
    """Compare a registered candidate with the current champion; promote it when it passes.

    Args:
        settings: registry and gate settings.
        candidate: the candidate's predictor.
        candidate_version: its registry version string.
        candidate_score: its reference-set score, if already computed (saves predicting twice).
        reference: the reference set, if already loaded.
        promote: move the ``champion`` alias when the candidate passes (False: decide only).
    """
    from outagecast.ml import registry

    reference = reference if reference is not None else reference_set(settings)
    candidate_score = candidate_score or score(candidate, reference, coverage=settings.interval_coverage)
    champion_before = registry.champion_version(settings)
    champion_score = None
    note = ""
    if champion_before is not None and champion_before != candidate_version:
        try:
            champion = registry.load_version(settings, champion_before)
        except Exception as exc:  # it cannot be served either: replacing it is the way out
            log.exception("champion %s cannot be loaded", champion_before)
            note = f"champion {champion_before} cannot be loaded ({type(exc).__name__})"
        else:
            champion_score = score(champion, reference, coverage=settings.interval_coverage)
    decision = evaluate(
        candidate_version=candidate_version,
        candidate=candidate_score,
        target=reference[1],
        champion_version=champion_before,
        champion=champion_score,
        tolerance=settings.promotion_rmse_tolerance,
        max_latency_ms_per_row=settings.max_inference_ms_per_row,
        resamples=settings.bootstrap_resamples,
        seed=settings.reference_seed,
        champion_note=note,
    )
    if decision.promoted and promote:
        registry.set_champion(settings, candidate_version)
    registry.tag_version(
        settings,
        candidate_version,
        {registry.TAG_DECISION: decision.decision, registry.TAG_REASON: decision.reason[:5000]},
    )
    log.log(
        logging.INFO if decision.promoted else logging.WARNING,
        "gate: %s %s: %s",
        candidate_version,
        decision.decision,
        decision.reason,
    )
    return decision
