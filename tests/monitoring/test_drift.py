"""The drift building blocks on small hand-made frames (no database, no registry)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from outagecast import schema
from outagecast.datasets.generate import generate_incidents
from outagecast.ml.baseline import baseline_sample, baseline_statistics
from outagecast.monitoring.drift import (
    Thresholds,
    bin_counts,
    categorical_drift,
    category_counts,
    compute_drift,
    psi,
    start_time_drift,
)

LOOSE = Thresholds(p_value=0.001, psi=0.05, min_rows=100)


@pytest.fixture(scope="module")
def baseline() -> tuple[dict, pd.DataFrame]:
    """A baseline computed like training does, with a stand-in for the model's predictions."""
    features = generate_incidents(6_000, 5)[list(schema.FEATURES)]
    predicted = np.random.default_rng(5).gamma(2.0, 1.5, len(features))
    return baseline_statistics(features, predicted), baseline_sample(features, predicted)


def _window(rows: int, seed: int) -> pd.DataFrame:
    frame = generate_incidents(rows, seed)[list(schema.FEATURES)]
    frame["predicted_hours"] = np.random.default_rng(seed).gamma(2.0, 1.5, rows)
    frame["system_load_imputed"] = False
    return frame


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    base = np.array([100, 200, 300, 400])
    assert psi(base, base) == 0.0
    assert psi(base, base * 3) == pytest.approx(0.0, abs=1e-5)  # only the +0.5 smoothing differs
    small, large = psi(base, np.array([110, 200, 300, 390])), psi(base, np.array([400, 300, 200, 100]))
    assert 0 < small < large
    # The textbook formula on the (smoothed) shares.
    e, a = (base + 0.5) / (base + 0.5).sum(), (np.array([400, 300, 200, 100]) + 0.5) / 1002
    assert large == pytest.approx(float(np.sum((a - e) * np.log(a / e))))


def test_bins_match_numpy_histogram_inside_and_clamp_outside() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=5_000)
    edges = np.quantile(values, np.linspace(0, 1, 11))
    np.testing.assert_array_equal(bin_counts(values, edges), np.histogram(values, bins=edges)[0])
    outside = np.array([edges[0] - 10, edges[-1] + 10])
    assert bin_counts(outside, edges).tolist() == [1] + [0] * 8 + [1]


def test_category_counts_put_unknown_values_under_other() -> None:
    counts = category_counts(["AWS", "GCP", "AWS", None, "Nimbus"], ["AWS", "GCP", "IBM", "__other__"])
    assert counts.tolist() == [2, 1, 0, 1]


def test_chi2_agrees_with_scipy_and_flags_a_moved_mix() -> None:
    counts = {"Low": 3000, "Medium": 3500, "High": 2400, "Critical": 1100}
    same = ["Low"] * 300 + ["Medium"] * 350 + ["High"] * 240 + ["Critical"] * 110
    moved = ["Low"] * 150 + ["Medium"] * 300 + ["High"] * 300 + ["Critical"] * 250
    calm, alarmed = (
        categorical_drift("severity", same, counts, LOOSE),
        categorical_drift("severity", moved, counts, LOOSE),
    )
    expected = stats.chi2_contingency([list(counts.values()), [150, 300, 300, 250]], correction=False)
    assert alarmed.statistic == pytest.approx(expected.statistic)
    assert alarmed.p_value == pytest.approx(expected.pvalue)
    assert (calm.drifted, alarmed.drifted) == (False, True)
    assert calm.p_value > 0.5 and calm.rows == 1000


def test_a_window_from_the_same_distribution_is_calm(baseline: tuple[dict, pd.DataFrame]) -> None:
    report = compute_drift(_window(1_000, 11), *baseline, LOOSE)
    assert list(report.features) == list(schema.FEATURES)
    assert report.prediction.feature == "predicted_hours" and report.prediction.test == "ks"
    assert not report.drift_detected, [r.as_dict() for r in report.results()]
    assert all(r.p_value is not None and r.psi is not None for r in report.results())


def test_imputed_loads_are_left_out(baseline: tuple[dict, pd.DataFrame]) -> None:
    window = _window(1_000, 12)
    window["system_load_before_outage"] = schema.DEFAULT_SYSTEM_LOAD  # the API's fill-in value
    assert compute_drift(window, *baseline, LOOSE).features["system_load_before_outage"].drifted
    window["system_load_imputed"] = True
    result = compute_drift(window, *baseline, LOOSE).features["system_load_before_outage"]
    assert (result.drifted, result.rows, result.statistic) == (False, 0, None)


def test_start_time_parts_are_judged_only_over_their_whole_cycle(baseline: tuple[dict, pd.DataFrame]) -> None:
    base = baseline[0]
    burst = pd.Series(pd.Timestamp("2026-03-02 14:00", tz="UTC") + pd.to_timedelta(np.arange(500), unit="s"))
    one_afternoon = start_time_drift(burst, base, LOOSE)
    assert (one_afternoon.drifted, one_afternoon.statistic) == (False, None)  # not judged: spans 8 minutes
    nights = pd.Series(pd.date_range("2026-03-02 03:00", periods=500, freq="1D", tz="UTC"))  # always 3 am
    result = start_time_drift(nights, base, LOOSE)
    assert result.drifted and result.parts["hour"]["drifted"]
    assert set(result.parts) == {"hour", "day_of_week", "month"}  # 500 days cover every cycle
    assert result.p_value == pytest.approx(min(1.0, 3 * result.parts["hour"]["p_value"]))


def test_too_few_values_are_reported_not_judged(baseline: tuple[dict, pd.DataFrame]) -> None:
    report = compute_drift(_window(50, 13), *baseline, LOOSE)
    assert not report.drift_detected
    assert {r.rows for r in report.results()} == {50}
    assert all(r.p_value is None and "fewer than 100" in (r.note or "") for r in report.results())


def test_only_the_baselines_version_predictions_are_compared(baseline: tuple[dict, pd.DataFrame]) -> None:
    window = _window(1_000, 14).assign(model_version="m/2")
    window.loc[:399, "model_version"] = "m/1"
    window.loc[:399, "predicted_hours"] = 50.0  # another model's, far off: not this baseline's concern
    report = compute_drift(window, *baseline, LOOSE, model_version="m/2")
    assert report.prediction.rows == 600 and not report.prediction.drifted
    assert compute_drift(window, *baseline, LOOSE).prediction.drifted
