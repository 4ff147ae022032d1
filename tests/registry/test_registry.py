"""Registering, loading back, gating and recording against a real local MLflow store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from outagecast import schema
from outagecast.db import repository
from outagecast.db.session import make_engine, make_session_factory
from outagecast.ml import registry
from outagecast.ml.baseline import PREDICTION_COLUMN
from outagecast.ml.bootstrap import ensure_model, promote_manually, train_and_register
from outagecast.settings import Settings, get_settings
from tests.registry.conftest import DATASET_ROWS, REFERENCE_ROWS, make_settings

PROBE = pd.DataFrame(
    {
        "cloud_provider": ["AWS", "GCP", "Azure", "Oracle"],
        "service": ["Compute", "Storage", "AI/ML", "Database"],
        "severity": ["Critical", "Low", "High", "Medium"],
        "start_time": [
            "2025-03-04 02:30:00.000000",
            "2025-06-30 10:18:08.524480",
            None,
            "2025-01-01 23:00:00",
        ],
        "system_load_before_outage": [75.0, 20.5, None, 99.0],
        "number_of_customers_affected": [1200, 3, 50_000, 0],
        "ticket_count": [35, 1, 400, 0],
        "backup_system_triggered": ["Yes", "No", "No", "Yes"],
    }
)


def _runs(settings: Settings, **filters) -> list:
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            return repository.list_training_runs(session, **filters)
    finally:
        engine.dispose()


def test_first_model_is_registered_and_promoted(first_model, registry_settings: Settings) -> None:
    results, decision = first_model
    label = results[0].model_version
    assert label == decision.candidate_version
    assert label.startswith(f"{registry_settings.registered_model_name}/")
    assert decision.promoted and decision.reason.startswith("first model")
    assert results[0].model.version == label
    assert registry.champion_version(registry_settings) is not None


def test_loaded_version_predicts_like_the_trained_model(first_model, registry_settings: Settings) -> None:
    results, decision = first_model
    trained = results[0].model
    loaded = registry.load_version(registry_settings, decision.candidate_version)
    assert loaded.version == decision.candidate_version
    np.testing.assert_array_equal(loaded.predict(PROBE), trained.predict(PROBE))
    for coverage in (0.8, 0.95):
        got, expected = (
            loaded.predict_with_interval(PROBE, coverage),
            trained.predict_with_interval(PROBE, coverage),
        )
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)
    base, contributions = loaded.contributions(PROBE)
    assert list(contributions.columns) == list(schema.FEATURES)
    np.testing.assert_allclose(base + contributions.sum(axis=1).to_numpy(), loaded.predict(PROBE), atol=1e-9)


def test_champion_loads_by_alias(first_model, registry_settings: Settings) -> None:
    champion = registry.load_champion(registry_settings)
    assert champion is not None
    assert champion.version == registry.champion_version(registry_settings)
    # ensure_model serves the champion without training anything new.
    before = len(registry.list_versions(registry_settings))
    assert ensure_model(registry_settings).version == champion.version
    assert len(registry.list_versions(registry_settings)) == before


def test_pyfunc_flavour_loads_with_signature(first_model, registry_settings: Settings) -> None:
    import mlflow.pyfunc

    results, decision = first_model
    number = registry.parse_version(registry_settings, decision.candidate_version)
    uri = registry.client(registry_settings).get_model_version_download_uri(
        registry_settings.registered_model_name, str(number)
    )
    model = mlflow.pyfunc.load_model(uri)
    inputs = model.metadata.get_input_schema()
    assert inputs.input_names() == list(schema.FEATURES)
    assert {c.name for c in inputs.inputs if not c.required} == set(schema.OPTIONAL_FEATURES)
    out = model.predict(PROBE.iloc[:2], params={"coverage": 0.9})
    trained = results[0].model
    hours, low, high = trained.predict_with_interval(PROBE.iloc[:2], 0.9)
    np.testing.assert_allclose(out["predicted_hours"], np.maximum(hours, 0.0))
    np.testing.assert_allclose(out["predicted_hours_low"], low)
    np.testing.assert_allclose(out["predicted_hours_high"], high)


def test_run_logs_metrics_importances_and_baselines(first_model, registry_settings: Settings) -> None:
    results, decision = first_model
    (info,) = [
        v for v in registry.list_versions(registry_settings) if v.version == decision.candidate_version
    ]
    for key in ("rmse", "mae", "r2", "oracle_rmse", "interval_coverage_80", "interval_width_95"):
        assert info.metrics[key] == pytest.approx(results[0].metrics[key]), key
    assert info.metrics["reference_rmse"] == pytest.approx(decision.reference_rmse)
    assert info.metrics["inference_ms_per_row"] == pytest.approx(decision.latency_ms_per_row)
    assert info.metrics["reference_rows"] == REFERENCE_ROWS
    assert set(info.feature_importances) == set(schema.FEATURES)
    assert all(v >= 0 for v in info.feature_importances.values())
    assert info.family == "lgbm" and info.decision == "promoted" and info.reason == decision.reason

    baseline = registry.load_baseline(registry_settings, decision.candidate_version)
    n = baseline["n_rows"]
    assert n == DATASET_ROWS  # every usable training row
    for name in schema.NUMERIC_FEATURES:
        histogram = baseline["numeric"][name]["histogram"]
        assert len(histogram["edges"]) == len(histogram["counts"]) + 1
        assert sum(histogram["counts"]) == n
    severity = baseline["categorical"]["severity"]["counts"]
    assert set(severity) == {*schema.SEVERITIES, "__other__"} and sum(severity.values()) == n
    assert sum(baseline["categorical"]["start_time.hour"]["counts"].values()) == n
    assert sum(baseline["prediction"]["histogram"]["counts"]) == n

    sample = registry.load_baseline_sample(registry_settings, decision.candidate_version)
    assert list(sample.columns) == [*schema.FEATURES, PREDICTION_COLUMN]
    assert 0 < len(sample) <= 5_000


def test_training_run_row_is_written(first_model, registry_settings: Settings) -> None:
    results, decision = first_model
    (row,) = _runs(registry_settings, model_version=decision.candidate_version)
    assert (row.decision, row.trigger, row.family) == ("promoted", "cli", "lgbm")
    assert row.reason == decision.reason and row.run_id
    assert row.n_train == results[0].n_train
    assert row.metrics["rmse"] == pytest.approx(results[0].metrics["rmse"])
    assert row.reference_rmse == pytest.approx(decision.reference_rmse)
    assert row.latency_ms_per_row == pytest.approx(decision.latency_ms_per_row)


def test_worse_candidate_is_rejected(first_model, registry_settings: Settings, dataset: pd.DataFrame) -> None:
    champion = registry.champion_version(registry_settings)
    # A target shuffled across rows: the features explain nothing any more.
    shuffled = dataset.assign(
        duration_minutes=dataset["duration_minutes"].sample(frac=1.0, random_state=1).to_numpy()
    )
    results, decision = train_and_register(registry_settings, data=shuffled, trigger="retrain")
    assert not decision.promoted
    assert decision.reason.startswith("worse than the champion")
    assert decision.champion_version_before == champion
    assert decision.ci_low is not None and decision.ci_low > registry_settings.promotion_rmse_tolerance
    assert registry.champion_version(registry_settings) == champion
    (row,) = _runs(registry_settings, model_version=decision.candidate_version)
    assert (row.decision, row.trigger, row.champion_version_before) == ("rejected", "retrain", champion)
    assert row.rmse_diff == pytest.approx(decision.rmse_diff) and row.ci_high == pytest.approx(
        decision.ci_high
    )


def test_equal_candidate_is_promoted(first_model, registry_settings: Settings) -> None:
    champion = registry.champion_version(registry_settings)
    # The same data and seed: the same model, hence a zero RMSE difference.
    _, decision = train_and_register(registry_settings, trigger="retrain")
    assert decision.promoted, decision.reason
    assert (decision.rmse_diff, decision.ci_low, decision.ci_high) == (0.0, 0.0, 0.0)
    assert decision.champion_version_before == champion
    assert registry.champion_version(registry_settings) == decision.candidate_version


def test_latency_bound_violated_is_rejected(first_model, registry_settings: Settings) -> None:
    strict = registry_settings.model_copy(update={"max_inference_ms_per_row": 1e-9})
    champion = registry.champion_version(strict)
    _, decision = train_and_register(strict, trigger="retrain")
    assert not decision.promoted
    assert "exceeds MAX_INFERENCE_MS_PER_ROW" in decision.reason
    assert registry.champion_version(strict) == champion
    (row,) = _runs(strict, model_version=decision.candidate_version)
    assert row.decision == "rejected" and "MAX_INFERENCE_MS_PER_ROW" in row.reason


def test_manual_promotion_overrides_and_is_recorded(first_model, registry_settings: Settings) -> None:
    versions = registry.list_versions(registry_settings)
    champion = registry.champion_version(registry_settings)
    other = next(v.version for v in versions if v.version != champion)
    before, after = promote_manually(registry_settings, other, reason="rollback drill")
    try:
        assert (before, after) == (champion, other)
        assert registry.champion_version(registry_settings) == other
        row = _runs(registry_settings, model_version=other)[0]
        assert (row.trigger, row.decision, row.reason) == ("manual", "promoted", "rollback drill")
        assert row.champion_version_before == champion and "rmse" in row.metrics
    finally:
        promote_manually(registry_settings, champion, reason="restore")
    assert registry.champion_version(registry_settings) == champion
    with pytest.raises(ValueError, match="reason"):
        promote_manually(registry_settings, other, reason="  ")


@pytest.mark.parametrize(
    ("given", "number"), [(3, 3), ("3", 3), ("outage_duration/3", 3), (" outage_duration/12 ", 12)]
)
def test_parse_version_accepts_numbers_and_labels(given, number, registry_settings: Settings) -> None:
    assert registry.parse_version(registry_settings, given) == number


@pytest.mark.parametrize("given", ["other_model/3", "latest", "0", "", "outage_duration/"])
def test_parse_version_rejects_anything_else(given, registry_settings: Settings) -> None:
    with pytest.raises(ValueError):
        registry.parse_version(registry_settings, given)


def test_empty_registry_has_no_champion(tmp_path) -> None:
    settings = make_settings(tmp_path)
    assert registry.champion_version(settings) is None
    assert registry.load_champion(settings) is None
    assert registry.list_versions(settings) == []
    assert registry.is_local_store(settings.resolved_mlflow_tracking_uri)
    assert settings.resolved_mlflow_tracking_uri == f"sqlite:///{tmp_path}/var/mlflow.db"


# ------------------------------------------------------------------ CLI
@pytest.fixture
def cli(registry_settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """Invoke ``outagecast`` in-process with the registry home's settings."""
    from outagecast.cli import app

    env = {
        "OUTAGECAST_HOME": str(registry_settings.outagecast_home),
        "DATASET_ROWS": str(DATASET_ROWS),
        "REFERENCE_ROWS": str(REFERENCE_ROWS),
        "DATABASE_URL": registry_settings.database_url,
    }
    for name in ("MLFLOW_TRACKING_URI", "API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def test_cli_train_json_prints_the_registered_version(first_model, cli) -> None:
    result = cli("train", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"rmse", "mae", "r2", "oracle_rmse", "model_version", "n_train", "n_test"}
    assert metrics["model_version"].startswith("outage_duration/")
    assert f"gate: {metrics['model_version']} " in result.stderr


def test_cli_models_json_lists_versions_champion_and_decisions(first_model, cli, registry_settings) -> None:
    result = cli("models", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["champion"] == registry.champion_version(registry_settings)
    numbers = [v["number"] for v in listing["versions"]]
    assert numbers == sorted(numbers, reverse=True) and len(numbers) >= 1
    assert [v["version"] for v in listing["versions"] if v["is_champion"]] == [listing["champion"]]
    assert all(v["decision"] in ("promoted", "rejected") for v in listing["versions"])
    assert {"rmse", "reference_rmse", "inference_ms_per_row"} <= listing["versions"][0]["metrics"].keys()
    assert listing["runs"] and {"decision", "reason", "trigger", "model_version"} <= listing["runs"][0].keys()
    text = cli("models")
    assert text.exit_code == 0 and f"* {listing['champion']}" in text.stdout


def test_cli_promote(first_model, cli, registry_settings: Settings) -> None:
    champion = registry.champion_version(registry_settings)
    other = next(v.version for v in registry.list_versions(registry_settings) if v.version != champion)
    number = other.rsplit("/", 1)[1]
    result = cli("promote", number, "--reason", "cli drill")
    try:
        assert result.exit_code == 0, result.output
        assert registry.champion_version(registry_settings) == other
        assert _runs(registry_settings, model_version=other)[0].reason == "cli drill"
    finally:
        cli("promote", champion, "--reason", "restore")
    assert registry.champion_version(registry_settings) == champion
    assert cli("promote", "not-a-version", "--reason", "x").exit_code == 2
    assert cli("promote", "9999", "--reason", "x").exit_code == 1
    assert cli("promote", "1").exit_code == 2  # --reason is required


def test_registering_does_not_leak_the_store_into_the_environment(first_model) -> None:
    # MLflow's set_tracking_uri exports MLFLOW_TRACKING_URI; left there, every later Settings()
    # and every process started afterwards (API servers, jobs) would use this test's store.
    import os

    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ
