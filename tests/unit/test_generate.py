"""The synthetic dataset generator and its oracle."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from outagecast import schema
from outagecast.datasets import CSV_READ_OPTIONS
from outagecast.datasets import generate as gen


@pytest.fixture(scope="module")
def incidents() -> pd.DataFrame:
    return gen.generate_incidents(50_000, seed=42)


def _features(**overrides: object) -> pd.DataFrame:
    """One typical incident's eight inputs (Wednesday 12:00), with overrides."""
    row: dict[str, object] = {
        "cloud_provider": "AWS",
        "service": "Compute",
        "severity": "Medium",
        "start_time": "2025-06-04 12:00:00.000000",
        "system_load_before_outage": 50.0,
        "number_of_customers_affected": 150,
        "ticket_count": 10,
        "backup_system_triggered": "No",
    }
    row.update(overrides)
    return pd.DataFrame([row])


def _oracle(**overrides: object) -> float:
    return float(gen.oracle_hours(_features(**overrides))[0])


def test_generate_is_deterministic_for_a_seed() -> None:
    first = gen.generate_incidents(2_000, seed=7)
    pd.testing.assert_frame_equal(first, gen.generate_incidents(2_000, seed=7))
    assert not first["incident_id"].equals(gen.generate_incidents(2_000, seed=8)["incident_id"])


def test_generate_does_not_depend_on_chunk_size() -> None:
    small_chunks = gen.generate_incidents(25_000, seed=3, chunk_size=10_000)
    pd.testing.assert_frame_equal(small_chunks, gen.generate_incidents(25_000, seed=3, chunk_size=200_000))
    pd.testing.assert_frame_equal(gen.generate_incidents(12_345, seed=3), small_chunks.iloc[:12_345])


def test_generate_zero_rows_has_the_columns() -> None:
    empty = gen.generate_incidents(0, seed=1)
    assert list(empty.columns) == list(schema.COLUMN_NAMES)
    assert len(empty) == 0


def test_generate_rejects_negative_arguments() -> None:
    with pytest.raises(ValueError):
        gen.generate_incidents(-1, seed=1)
    with pytest.raises(ValueError):
        gen.generate_incidents(10, seed=-1)


def test_all_40_columns_in_schema_order_with_types(incidents: pd.DataFrame) -> None:
    assert list(incidents.columns) == list(schema.COLUMN_NAMES)
    for name in schema.INTEGER_COLUMNS:
        assert incidents[name].dtype == np.int64, name
    for column in schema.COLUMNS:
        if column.kind is schema.Kind.FLOAT:
            assert incidents[column.name].dtype == np.float64, column.name
    required = list(schema.REQUIRED_COLUMNS)
    assert not incidents[required].isna().any().any()


def test_categories_come_from_the_schema(incidents: pd.DataFrame) -> None:
    for name in schema.CATEGORICAL_COLUMNS:
        assert set(incidents[name]) <= set(schema.categories_of(name)), name
    for provider, regions in incidents.groupby("cloud_provider")["region"]:
        assert set(regions) <= set(schema.REGIONS_BY_PROVIDER[provider])
    for service, subtypes in incidents.groupby("service")["service_subtype"]:
        assert set(subtypes) <= set(schema.SUBTYPES_BY_SERVICE[service])
    # Every category of the model's inputs actually occurs.
    for name in schema.CATEGORICAL_FEATURES:
        assert set(incidents[name]) == set(schema.categories_of(name)), name
    channels = incidents["communication_channels_used"].str.split(";").explode()
    assert set(channels) <= set(schema.COMMUNICATION_CHANNELS)


def test_numbers_within_schema_bounds(incidents: pd.DataFrame) -> None:
    for name in schema.NUMERIC_COLUMNS:
        low, high = schema.bounds_of(name)
        if low is not None:
            assert (incidents[name] >= low).all(), name
        if high is not None:
            assert (incidents[name] <= high).all(), name


def test_end_time_is_start_plus_duration(incidents: pd.DataFrame) -> None:
    start = pd.to_datetime(incidents["start_time"], format=schema.TIMESTAMP_FORMAT)
    end = pd.to_datetime(incidents["end_time"], format=schema.TIMESTAMP_FORMAT)
    minutes = (end - start).dt.total_seconds() / 60
    np.testing.assert_allclose(minutes, incidents["duration_minutes"], atol=1e-6)
    assert start.min() >= pd.Timestamp("2025-01-01") and start.max() < pd.Timestamp("2026-01-01")
    assert incidents["start_time"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}").all()


def test_incident_ids_are_unique_uuid4(incidents: pd.DataFrame) -> None:
    ids = incidents["incident_id"]
    assert ids.is_unique
    for value in ids.sample(200, random_state=0):
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and str(parsed) == value


def test_derived_columns_are_consistent(incidents: pd.DataFrame) -> None:
    df = incidents
    assert (df["post_mortem_link"].notna() == (df["post_mortem_completed"] == "Yes")).all()
    linked = df[df["post_mortem_link"].notna()]
    assert (linked["post_mortem_link"].str.rsplit("/", n=1).str[-1] == linked["incident_id"]).all()
    assert (df["previous_incident_id"].notna() == (df["is_recurrent_issue"] == "Yes")).all()
    assert (df["ticket_resolution_time_minutes"] >= df["ticket_response_time_minutes"]).all()
    assert ((df["status_page_update_count"] > 0) == (df["public_status_page_updated"] == "Yes")).all()
    hours = df["duration_minutes"] / 60
    # SLA breaches and revenue loss grow with the outage.
    assert hours[df["sla_violation"] == "Yes"].median() > hours[df["sla_violation"] == "No"].median()
    loss_rate = df["estimated_revenue_loss_usd"] / (df["number_of_customers_affected"] * hours)
    assert 5 < loss_rate.median() < 40
    # Severe incidents touch more customers and raise more tickets.
    by_severity = df.groupby("severity")[["number_of_customers_affected", "ticket_count"]].median()
    assert by_severity.loc["Critical"].gt(by_severity.loc["Low"]).all()


def test_durations_are_plausible(incidents: pd.DataFrame) -> None:
    hours = incidents["duration_minutes"] / 60
    assert 2.0 <= hours.median() <= 3.0
    assert 0.10 <= (hours > 5.0).mean() <= 0.20
    assert hours.min() > 0


def test_oracle_r2_is_between_0_6_and_0_8(incidents: pd.DataFrame) -> None:
    hours = incidents["duration_minutes"].to_numpy() / 60
    expected = gen.oracle_hours(incidents)
    r2 = 1 - np.sum((hours - expected) ** 2) / np.sum((hours - hours.mean()) ** 2)
    assert 0.6 <= r2 <= 0.8


def test_noise_is_multiplicative_lognormal_with_mean_one(incidents: pd.DataFrame) -> None:
    ratio = incidents["duration_minutes"].to_numpy() / gen.expected_duration_minutes(incidents)
    assert ratio.mean() == pytest.approx(1.0, abs=0.01)
    assert np.log(ratio).std() == pytest.approx(gen.NOISE_SIGMA, rel=0.02)


def test_oracle_takes_datetimes_and_missing_load() -> None:
    as_text = _features()
    as_datetime = as_text.assign(start_time=pd.to_datetime(as_text["start_time"]))
    np.testing.assert_allclose(gen.oracle_hours(as_datetime), gen.oracle_hours(as_text))
    missing = gen.oracle_hours(_features(system_load_before_outage=None))
    absent = gen.oracle_hours(_features().drop(columns="system_load_before_outage"))
    default = gen.oracle_hours(_features(system_load_before_outage=schema.DEFAULT_SYSTEM_LOAD))
    np.testing.assert_allclose(missing, default)
    np.testing.assert_allclose(absent, default)


def test_oracle_is_nan_outside_the_generator_domain() -> None:
    assert np.isnan(_oracle(cloud_provider="INVALID_CLOUD"))
    assert np.isnan(_oracle(start_time=None))
    assert np.isnan(_oracle(ticket_count="many"))


def test_duration_really_depends_on_the_features() -> None:
    base = _oracle()
    assert _oracle(severity="Critical") > base > _oracle(severity="Low")
    assert _oracle(number_of_customers_affected=5_000) > base
    assert _oracle(ticket_count=60) > base
    assert _oracle(start_time="2025-06-04 03:00:00") > base  # night
    assert _oracle(start_time="2025-06-07 12:00:00") > base  # Saturday
    # Saturating load effect above 70 %.
    step_low = _oracle(system_load_before_outage=60) - _oracle(system_load_before_outage=50)
    step_knee = _oracle(system_load_before_outage=85) - _oracle(system_load_before_outage=75)
    step_high = _oracle(system_load_before_outage=100) - _oracle(system_load_before_outage=90)
    assert step_knee > step_high > 0 and step_knee > 3 * step_low
    # Interaction severity x backup: the backup saves relatively more on critical outages.
    relief_low = _oracle(severity="Low", backup_system_triggered="Yes") / _oracle(severity="Low")
    relief_critical = _oracle(severity="Critical", backup_system_triggered="Yes") / _oracle(
        severity="Critical"
    )
    assert relief_critical < relief_low < 1
    # Interaction service x load: databases suffer most from overload.
    db = _oracle(service="Database", system_load_before_outage=95) / _oracle(service="Database")
    net = _oracle(service="Networking", system_load_before_outage=95) / _oracle(service="Networking")
    assert db > net > 1


def test_effect_tables_cover_the_schema() -> None:
    assert set(gen.PROVIDER_EFFECT) == set(schema.CLOUD_PROVIDERS)
    assert set(gen.SERVICE_EFFECT) == set(schema.SERVICES) == set(gen.LOAD_SENSITIVITY)
    assert set(gen.SEVERITY_EFFECT) == set(schema.SEVERITIES) == set(gen.BACKUP_RELIEF)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-06-30 10:18:08.524480", (10, 0, 6)),
        ("2025-06-29T23:59:59", (23, 6, 6)),
        ("2025-06-30T03:00:00+02:00", (3, 0, 6)),  # wall-clock time as written
        (pd.Timestamp("2025-12-31 22:00", tz="UTC"), (22, 2, 12)),
        ("not a time", None),
        ("", None),
        (None, None),
        (np.nan, None),
    ],
)
def test_time_parts(value: object, expected: tuple[int, int, int] | None) -> None:
    hour, dow, month = gen.time_parts(np.array([value], dtype=object))
    if expected is None:
        assert np.isnan(hour[0]) and np.isnan(dow[0]) and np.isnan(month[0])
    else:
        assert (hour[0], dow[0], month[0]) == expected


def test_time_parts_of_a_tz_aware_series_keeps_wall_clock() -> None:
    series = pd.Series(pd.to_datetime(["2025-06-30 03:30"]).tz_localize("Europe/Paris"))
    hour, _, _ = gen.time_parts(series)
    assert hour[0] == 3


def test_yes_no_flag() -> None:
    values = np.array(["Yes", "No", " yes ", "FALSE", 1, 0, None, "maybe"], dtype=object)
    np.testing.assert_array_equal(gen.yes_no_flag(values), [1, 0, 1, 0, 1, 0, np.nan, np.nan])


def test_write_dataset_round_trips(tmp_path: Path) -> None:
    path = gen.write_dataset(tmp_path / "sub" / "incidents.csv", 3_000, seed=5, progress=False)
    read = pd.read_csv(path, **CSV_READ_OPTIONS)
    pd.testing.assert_frame_equal(read, gen.generate_incidents(3_000, seed=5))
    assert sorted(p.name for p in path.parent.iterdir()) == ["incidents.csv"]  # no temp file left
