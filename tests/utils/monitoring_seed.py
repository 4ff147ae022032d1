"""Generated monitoring data (predictions, ingestion stats, monitor runs, drift, realised error).

Written with the ORM, as the ingestion and monitor jobs would leave it, for the read side's
tests: the API's ``/monitoring`` endpoints, the web app's Monitoring page and Grafana's SQL.
The rows are random (seeded) so the tests compare the endpoints with their own computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from outagecast import schema
from outagecast.db.models import (
    DriftResult,
    IngestionStat,
    MonitorRun,
    Prediction,
    RealisedError,
)

DRIFT_FEATURES = (*schema.FEATURES, "predicted_hours")


@dataclass
class Seeded:
    """What was written, for the tests to compute expectations from."""

    start: datetime  # an hour boundary; everything lies in [start, start + hours)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    stats: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # with their "id" once written
    drift: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def seed_monitoring(
    database_url: str,
    *,
    model_version: str,
    other_version: str = "outage_duration/0",
    start: datetime | None = None,
    hours: int = 6,
    rows: int = 240,
    seed: int = 11,
) -> Seeded:
    """Write ``rows`` predictions, ingestion stats and three monitor runs (ok, ok, skipped)."""
    rng = np.random.default_rng(seed)
    if start is None:
        start = (datetime.now(UTC) - timedelta(hours=hours + 1)).replace(minute=0, second=0, microsecond=0)
    seeded = Seeded(start=start)
    span = hours * 3600
    offsets = np.sort(rng.uniform(0, span - 1, size=rows))
    for i, offset in enumerate(offsets):
        imputed = bool(rng.random() < 0.15)
        hours_pred = float(np.round(rng.lognormal(1.0, 0.6), 4))
        started = start + timedelta(seconds=float(offset), minutes=-int(rng.integers(0, 600)))
        seeded.predictions.append(
            {
                "timestamp": start + timedelta(seconds=float(offset)),
                # The older half from an older version: two versions over time.
                "model_version": other_version if i < rows // 3 else model_version,
                "source": "webapp" if rng.random() < 0.4 else "scheduled",
                "cloud_provider": str(rng.choice(schema.CLOUD_PROVIDERS)),
                "service": str(rng.choice(schema.SERVICES)),
                "severity": str(rng.choice(schema.SEVERITIES)),
                "start_time": started,
                "predicted_end_time": started + timedelta(hours=hours_pred),
                "system_load_before_outage": 50.0 if imputed else float(np.round(rng.uniform(5, 99), 2)),
                "system_load_imputed": imputed,
                "number_of_customers_affected": int(rng.integers(10, 200_000)),
                "ticket_count": int(rng.integers(0, 300)),
                "backup_system_triggered": str(rng.choice(schema.YES_NO)),
                "predicted_hours": hours_pred,
                "is_anomaly": hours_pred > 5.0,
                "predicted_hours_low": hours_pred * 0.6,
                "predicted_hours_high": hours_pred * 1.5,
                "interval_coverage": 0.8,
                "incident_id": f"INC-{seed}-{i}",
            }
        )
    for i in range(hours * 2):
        total = int(rng.integers(20, 200))
        invalid = int(rng.integers(0, total * 2 // 3 + 1)) if i % 3 else 0
        # The ingestion job's rule (DESIGN §4): high above 50 % bad rows, medium from 10 %, low above 0.
        share = invalid / total
        crit = "high" if share > 0.5 else "medium" if share >= 0.1 else "low" if invalid else "none"
        errors = {"nulls": invalid // 2, "outliers": invalid - invalid // 2} if invalid else {}
        if i % 5 == 4:  # now and then a file missing a column: high whatever its rows
            crit, errors["missing_column"] = "high", 1
        seeded.stats.append(
            {
                "timestamp": start + timedelta(minutes=30 * i + int(rng.integers(0, 29))),
                "filename": f"batch_{seed}_{i:03d}.csv",
                "total_rows": total,
                "valid_rows": total - invalid,
                "invalid_rows": invalid,
                "criticality": crit,
                "error_types": errors,
            }
        )
    # Two ok runs over the second and the last third of the predictions, then a skipped one.
    stamps = [p["timestamp"] for p in seeded.predictions]
    windows = [(stamps[rows // 3], stamps[2 * rows // 3 - 1]), (stamps[2 * rows // 3], stamps[-1])]
    for k, (w_start, w_end) in enumerate(windows):
        drifted = ["ticket_count"] if k == 1 else []
        seeded.runs.append(
            {
                "timestamp": w_end + timedelta(minutes=1),
                "status": "ok",
                "model_version": model_version,
                "source": None,
                "window_rows": sum(w_start <= s <= w_end for s in stamps),
                "window_start": w_start,
                "window_end": w_end,
                "drift_detected": bool(drifted),
                "prediction_drift": False,
                "drifted_features": drifted,
            }
        )
    seeded.runs.append(
        {
            "timestamp": stamps[-1] + timedelta(minutes=5),
            "status": "skipped",
            "message": "too few new predictions",
            "model_version": model_version,
            "window_rows": 3,
            "drifted_features": [],
        }
    )
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with Session(engine) as session, session.begin():
            session.add_all(Prediction(**p) for p in seeded.predictions)
            session.add_all(IngestionStat(**s) for s in seeded.stats)
            run_rows = [MonitorRun(**r) for r in seeded.runs]
            session.add_all(run_rows)
            session.flush()
            for run, row in zip(seeded.runs, run_rows, strict=True):
                run["id"] = row.id
            for k, run in enumerate(seeded.runs[:2]):
                for feature in DRIFT_FEATURES:
                    numeric = feature in (*schema.NUMERIC_FEATURES, "predicted_hours")
                    drifted = feature in run["drifted_features"]
                    seeded.drift.append(
                        {
                            "run_id": run["id"],
                            "feature": feature,
                            "kind": "numeric" if numeric else "categorical",
                            "test": "ks" if numeric else "chi2",
                            "statistic": float(rng.uniform(0, 1)),
                            "p_value": 1e-6 if drifted else float(rng.uniform(0.01, 1)),
                            "psi": 0.4 if drifted else float(rng.uniform(0, 0.1)),
                            "drifted": drifted,
                            "rows": run["window_rows"],
                        }
                    )
                for version, mae in ((model_version, 0.8 + 0.5 * k), (other_version, 1.1)):
                    seeded.errors.append(
                        {
                            "run_id": run["id"],
                            "model_version": version,
                            "matched_rows": 40 + k,
                            "mae": mae,
                            "bias": 0.2 - 0.3 * k,
                            "rmse": mae * 1.3,
                            "interval_coverage": 0.78 - 0.1 * k,
                            "nominal_coverage": 0.8,
                            "training_mae": 0.8,
                            "error_ratio": mae / 0.8,
                            "degraded": mae / 0.8 > 1.5,
                        }
                    )
            session.add_all(DriftResult(**d) for d in seeded.drift)
            session.add_all(RealisedError(**e) for e in seeded.errors)
    finally:
        engine.dispose()
    return seeded
