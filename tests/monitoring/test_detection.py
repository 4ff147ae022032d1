"""Detection that works: false alarms and detection power on generated windows at the defaults.

Windows of ``MONITOR_WINDOW_ROWS`` (1,000) served predictions are drawn from fresh incidents of
the training distribution (no drift) and from three realistic shifts; each window goes through the
same pure statistics the monitor job runs (``compute_drift``) with the default thresholds. The
draws are seeded, so the rates are deterministic. The floors: at most 5 % of no-drift windows
flagged, at least 95 % of shifted windows flagged, each for the right feature.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from outagecast.monitoring.drift import Thresholds, compute_drift
from outagecast.settings import Settings
from tests.monitoring.conftest import (
    SEVERITY_TOWARDS_CRITICAL,
    Trained,
    doubled_share,
    sample_rows,
    weights_for,
    with_more_load,
)

pytestmark = pytest.mark.slow

RUNS = 200
WINDOW_ROWS = int(Settings.model_fields["monitor_window_rows"].default)
DEFAULTS = Thresholds(
    p_value=float(Settings.model_fields["drift_p_value"].default),
    psi=float(Settings.model_fields["drift_psi_threshold"].default),
    min_rows=int(Settings.model_fields["monitor_min_rows"].default),
)

Scenario = Callable[[Trained], tuple[pd.DataFrame, np.ndarray | None]]
SCENARIOS: dict[str, tuple[Scenario, str | None]] = {
    "no drift": (lambda t: (t.pool, None), None),
    "severity towards Critical": (
        lambda t: (t.pool, weights_for(t.pool, "severity", SEVERITY_TOWARDS_CRITICAL)),
        "severity",
    ),
    "system load +15 points": (lambda t: (with_more_load(t), None), "system_load_before_outage"),
    "GCP share doubled": (
        lambda t: (t.pool, doubled_share(t.pool, "cloud_provider", "GCP")),
        "cloud_provider",
    ),
    "AWS share doubled": (
        lambda t: (t.pool, doubled_share(t.pool, "cloud_provider", "AWS")),
        "cloud_provider",
    ),
}


def _rates(trained: Trained, scenario: str, seed: int) -> dict[str, float]:
    """Share of RUNS windows flagged (any drift) and flagged for the expected feature."""
    make, expected = SCENARIOS[scenario]
    frame, p = make(trained)
    rng = np.random.default_rng(seed)
    flagged = right = 0
    for _ in range(RUNS):
        window = sample_rows(frame, WINDOW_ROWS, rng, p)
        report = compute_drift(
            window, trained.baseline, trained.sample, DEFAULTS, model_version=trained.version
        )
        flagged += report.drift_detected
        right += expected is not None and report.features[expected].drifted
    return {"runs": RUNS, "flagged": flagged / RUNS, "right_feature": right / RUNS}


@pytest.fixture(scope="module")
def rates(trained: Trained) -> dict[str, dict[str, float]]:
    out = {name: _rates(trained, name, seed) for seed, name in enumerate(SCENARIOS, start=1)}
    print("\ndetection rates at the defaults:", json.dumps(out))  # shown with -s: the measured figures
    return out


def test_windows_from_the_training_distribution_rarely_raise_a_flag(rates: dict) -> None:
    assert rates["no drift"]["flagged"] <= 0.05, rates["no drift"]


@pytest.mark.parametrize("scenario", [s for s, (_, feature) in SCENARIOS.items() if feature])
def test_realistic_shifts_are_flagged_for_the_right_feature(rates: dict, scenario: str) -> None:
    assert rates[scenario]["flagged"] >= 0.95, rates[scenario]
    assert rates[scenario]["right_feature"] >= 0.95, rates[scenario]


def test_the_defaults_are_what_the_floors_were_measured_with() -> None:
    # The floors above hold for these defaults; changing one means measuring again.
    assert (WINDOW_ROWS, DEFAULTS.p_value, DEFAULTS.psi) == (1000, 0.001, 0.05)
