"""The promotion gate's decision and its bootstrap interval, without a registry (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from outagecast.ml.gate import ReferenceScore, bootstrap_rmse_difference, evaluate, reference_set
from tests.registry.conftest import make_settings

RNG = np.random.default_rng(7)
TARGET = RNG.gamma(2.0, 1.0, size=4_000)
GOOD = TARGET + RNG.normal(0, 0.5, size=TARGET.size)
BAD = TARGET + RNG.normal(0, 0.8, size=TARGET.size)


def _score(predictions: np.ndarray, latency: float = 0.02) -> ReferenceScore:
    errors = predictions - TARGET
    return ReferenceScore(
        predictions=predictions,
        rmse=float(np.sqrt(np.mean(errors**2))),
        mae=float(np.mean(np.abs(errors))),
        oracle_rmse=None,
        latency_ms_per_row=latency,
        single_row_ms=0.5,
    )


def _decide(candidate: ReferenceScore, champion: ReferenceScore | None, **overrides: float):
    options = {"tolerance": 0.01, "max_latency_ms_per_row": 5.0} | overrides
    return evaluate(
        candidate_version="outage_duration/2",
        candidate=candidate,
        target=TARGET,
        champion_version=None if champion is None else "outage_duration/1",
        champion=champion,
        resamples=1_000,
        seed=3,
        **options,
    )


def test_identical_predictions_give_a_zero_interval() -> None:
    assert bootstrap_rmse_difference(TARGET, GOOD, GOOD, resamples=200) == (0.0, 0.0, 0.0)


def test_interval_brackets_the_difference_and_is_reproducible() -> None:
    diff, low, high = bootstrap_rmse_difference(TARGET, BAD, GOOD, resamples=1_000, seed=1)
    assert 0 < low < diff < high
    assert bootstrap_rmse_difference(TARGET, BAD, GOOD, resamples=1_000, seed=1) == (diff, low, high)
    # Swapping the models mirrors the interval.
    mirrored = bootstrap_rmse_difference(TARGET, GOOD, BAD, resamples=1_000, seed=1)
    assert mirrored == pytest.approx((-diff, -high, -low))


def test_first_model_is_promoted_when_fast_enough() -> None:
    decision = _decide(_score(GOOD), None)
    assert decision.promoted and decision.decision == "promoted"
    assert decision.reason.startswith("first model")
    assert decision.rmse_diff is None and decision.champion_version_before is None


def test_first_model_too_slow_is_rejected() -> None:
    decision = _decide(_score(GOOD, latency=7.5), None)
    assert not decision.promoted
    assert "MAX_INFERENCE_MS_PER_ROW=5" in decision.reason


def test_worse_candidate_is_rejected_with_the_figures() -> None:
    decision = _decide(_score(BAD), _score(GOOD))
    assert not decision.promoted and decision.decision == "rejected"
    assert decision.reason.startswith("worse than the champion")
    assert "outage_duration/1" in decision.reason and "CI [" in decision.reason
    assert decision.ci_low is not None and decision.ci_high is not None
    assert decision.ci_low > 0 and decision.ci_high > decision.tolerance


@pytest.mark.parametrize("candidate", [GOOD, (GOOD + TARGET) / 2], ids=["equal", "better"])
def test_equal_or_better_candidate_is_promoted(candidate: np.ndarray) -> None:
    decision = _decide(_score(candidate), _score(GOOD))
    assert decision.promoted, decision.reason
    assert decision.ci_high is not None and decision.ci_high <= decision.tolerance


def test_slow_candidate_is_rejected_even_when_better() -> None:
    decision = _decide(_score((GOOD + TARGET) / 2, latency=6.0), _score(GOOD))
    assert not decision.promoted
    assert "exceeds MAX_INFERENCE_MS_PER_ROW" in decision.reason


def test_tolerance_lets_a_marginally_worse_candidate_through() -> None:
    slightly = GOOD + 0.01
    assert not _decide(_score(slightly), _score(GOOD), tolerance=0.0).promoted
    assert _decide(_score(slightly), _score(GOOD), tolerance=0.05).promoted


def test_reference_set_is_fixed_and_cached(tmp_path) -> None:
    settings = make_settings(tmp_path, reference_rows=500)
    features, target = reference_set(settings)
    assert settings.reference_path.is_file()
    again_features, again_target = reference_set(settings)
    assert len(features) == 500
    assert features.equals(again_features) and target.equals(again_target)
    # Regenerated identically when the cache is lost: the rows depend on the seed only.
    settings.reference_path.unlink()
    regenerated, _ = reference_set(settings)
    assert regenerated.equals(features)
