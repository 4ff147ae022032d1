"""The monitor job: judge the latest window of served predictions, track realised error, store, alert.

One run (``run_monitor``):

1. loads the window (``monitoring.window``: the most recent ``MONITOR_WINDOW_ROWS`` predictions,
   or the last ``MONITOR_WINDOW_HOURS``; ``MONITOR_SOURCE`` restricts the source);
2. when there is a champion and at least ``MONITOR_MIN_ROWS`` predictions, compares them with the
   champion's training baseline (``monitoring.drift``); otherwise the run is ``skipped``;
3. computes the realised error of every version whose predictions' outcomes are known
   (``monitoring.realised``);
4. stores the run, its drift rows and its realised-error rows in one transaction
   (``monitor_runs``, ``drift_results``, ``realised_errors``);
5. alerts (``outagecast.alerts``, the ingestion webhook) with kind ``drift`` when anything drifted
   (the features and their statistics) and kind ``realised_error`` when the champion or a version
   serving in the window is degraded. A lasting condition is alerted again on every run (hourly by
   default; ``ALERT_THROTTLE_SECONDS`` applies per kind), so it is not forgotten.

A failure (registry or database unavailable, a version without baseline) is logged, recorded as a
``failed`` run when the database answers, and returned, never raised. Runs hourly in the embedded
scheduler (``MONITOR_INTERVAL_SECONDS``), from ``outagecast monitor`` and from the Airflow DAG
``outagecast_monitor``. Runs may overlap harmlessly: each only reads and appends its own rows.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from outagecast.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.orm import Session, sessionmaker

    from outagecast.monitoring.drift import DriftReport, FeatureDrift
    from outagecast.monitoring.realised import VersionError
    from outagecast.monitoring.window import Window

log = logging.getLogger(__name__)

JOB_NAME: Final = "monitor"
DRIFT_ALERT_KIND: Final = "drift"
ERROR_ALERT_KIND: Final = "realised_error"

BaselineLoader = Callable[[Settings, str], tuple[dict[str, Any], "pd.DataFrame"]]


@dataclass(slots=True)
class MonitorReport:
    """What one monitor run found (``outagecast monitor --json`` prints ``as_dict()``)."""

    status: Literal["ok", "skipped", "failed"] = "skipped"
    message: str | None = None
    run_id: int | None = None
    model_version: str | None = None  # the champion whose baseline the window was compared with
    source: str | None = None
    window_rows: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None
    drift_detected: bool = False
    drifted_features: list[str] = field(default_factory=list)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)
    prediction_drift: dict[str, Any] | None = None
    realised_error: list[dict[str, Any]] = field(default_factory=list)
    degraded_versions: list[str] = field(default_factory=list)
    alerts: dict[str, str] = field(default_factory=dict)  # alert kind -> status
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when the run completed (drift or not), 1 when it failed."""
        return 1 if self.status == "failed" else 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes as ISO 8601)."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            out[item.name] = value.isoformat() if isinstance(value, datetime) else value
        out["seconds"] = round(self.seconds, 3)
        return out


def _default_baseline(settings: Settings, version: str) -> tuple[dict[str, Any], pd.DataFrame]:
    from outagecast.ml import registry

    return registry.load_baseline(settings, version), registry.load_baseline_sample(settings, version)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _drift_line(result: FeatureDrift) -> str:
    return f"{result.test} {_fmt(result.statistic)}, p {_fmt(result.p_value, 3)}, PSI {_fmt(result.psi, 3)}"


def _alert_drift(settings: Settings, factory: Any, report: MonitorReport, drift: DriftReport) -> str:
    from outagecast import alerts

    drifted = [r for r in drift.results() if r.drifted]
    names = ", ".join(r.feature for r in drifted)
    facts: dict[str, Any] = {
        "Model version": report.model_version,
        "Window": f"{report.window_rows} predictions, {report.window_start:%Y-%m-%d %H:%M} to "
        f"{report.window_end:%Y-%m-%d %H:%M} UTC"
        if report.window_start and report.window_end
        else f"{report.window_rows} predictions",
        "Source": report.source or "all",
        "Monitor run": report.run_id,
    }
    facts |= {r.feature: _drift_line(r) for r in drifted}
    text = (
        f"{len(drifted)} distribution(s) of served data differ from the training data of "
        f"{report.model_version}: {names} (p < {settings.drift_p_value:g} and "
        f"PSI > {settings.drift_psi_threshold:g})."
    )
    sent = alerts.send_alert(
        settings, DRIFT_ALERT_KIND, f"Drift detected: {names}", facts, text=text, session_factory=factory
    )
    return sent.status


def _alert_errors(settings: Settings, factory: Any, degraded: list[VersionError]) -> str:
    from outagecast import alerts

    facts: dict[str, Any] = {}
    for e in degraded:
        facts[e.model_version] = (
            f"MAE {_fmt(e.mae)} h vs {_fmt(e.training_mae)} h held-out (x{_fmt(e.error_ratio, 3)}), "
            f"bias {_fmt(e.bias)} h, RMSE {_fmt(e.rmse)} h, coverage {_fmt(e.interval_coverage, 3)} "
            f"(nominal {_fmt(e.nominal_coverage, 3)}), {e.matched_rows} predictions"
        )
    names = ", ".join(e.model_version for e in degraded)
    text = (
        f"The realised mean absolute error exceeds {settings.realised_error_max_ratio:g}x the "
        "held-out MAE measured at training."
    )
    sent = alerts.send_alert(
        settings,
        ERROR_ALERT_KIND,
        f"Realised error degraded: {names}",
        facts,
        text=text,
        level="critical",
        session_factory=factory,
    )
    return sent.status


def _judge_drift(
    settings: Settings, window: Window, champion: str | None, loader: BaselineLoader
) -> tuple[DriftReport | None, str | None]:
    """The window's drift statistics, or None and why the run skips them."""
    from outagecast.monitoring.drift import Thresholds, compute_drift

    if champion is None:
        return None, "no champion model: nothing to compare with"
    if window.rows < settings.monitor_min_rows:
        return None, f"{window.rows} predictions in the window, MONITOR_MIN_ROWS={settings.monitor_min_rows}"
    baseline, sample = loader(settings, champion)
    drift = compute_drift(window.frame, baseline, sample, Thresholds.of(settings), model_version=champion)
    return drift, None


def _store(
    factory: sessionmaker[Session],
    report: MonitorReport,
    drift: DriftReport | None,
    realised: list[VersionError],
) -> int:
    from outagecast.db import repository

    values = {
        "status": report.status,
        "message": report.message,
        "model_version": report.model_version,
        "source": report.source,
        "window_rows": report.window_rows,
        "window_start": report.window_start,
        "window_end": report.window_end,
        "drift_detected": report.drift_detected,
        "prediction_drift": bool(drift and drift.prediction.drifted),
        "drifted_features": report.drifted_features,
    }
    with factory() as session, session.begin():
        return repository.insert_monitor_run(
            session,
            values=values,
            drift=[r.row() for r in drift.results()] if drift else [],
            realised=[e.row() for e in realised],
        )


def run_monitor(
    settings: Settings,
    *,
    now: datetime | None = None,
    baseline_loader: BaselineLoader | None = None,
    send_alerts: bool = True,
) -> MonitorReport:
    """One monitor run (see the module docstring); never raises.

    Args:
        settings: database, registry, window, thresholds and alert settings.
        now: the end of an ``MONITOR_WINDOW_HOURS`` window (default: now).
        baseline_loader: ``(settings, version) -> (baseline.json dict, training sample)``; default:
            the registry's artifacts of that version.
        send_alerts: raise the drift / realised-error alerts.
    """
    from outagecast.db.migrate import upgrade_to_head
    from outagecast.db.session import make_engine, make_session_factory
    from outagecast.ml import registry
    from outagecast.monitoring.realised import realised_errors
    from outagecast.monitoring.window import load_window

    started = time.monotonic()
    report = MonitorReport(source=settings.monitor_source)
    engine = None
    factory = None
    try:
        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        factory = make_session_factory(engine)
        with factory() as session:
            window = load_window(session, settings, now=now)
            realised = realised_errors(session, settings)
        report.window_rows, report.window_start, report.window_end = window.rows, window.start, window.end
        champion = registry.champion_version(settings)
        report.model_version = champion
        drift, skipped = _judge_drift(settings, window, champion, baseline_loader or _default_baseline)
        report.status, report.message = ("skipped", skipped) if drift is None else ("ok", None)
        if drift is not None:
            report.drift_detected = drift.drift_detected
            report.drifted_features = drift.drifted_features
            report.features = {name: r.as_dict() for name, r in drift.features.items()}
            report.prediction_drift = drift.prediction.as_dict()
        report.realised_error = [e.row() for e in realised]
        serving = set(window.frame["model_version"]) if window.rows else set()
        degraded = [
            e for e in realised if e.degraded and (e.model_version == champion or e.model_version in serving)
        ]
        report.degraded_versions = [e.model_version for e in degraded]
        report.run_id = _store(factory, report, drift, realised)
        if send_alerts and drift is not None and drift.drift_detected:
            report.alerts[DRIFT_ALERT_KIND] = _alert_drift(settings, factory, report, drift)
        if send_alerts and degraded:
            report.alerts[ERROR_ALERT_KIND] = _alert_errors(settings, factory, degraded)
        log.info(
            "monitor run %s: %s; %d predictions; drift %s%s; degraded: %s",
            report.run_id,
            report.status,
            report.window_rows,
            report.drift_detected,
            f" ({', '.join(report.drifted_features)})" if report.drifted_features else "",
            report.degraded_versions or "none",
        )
    except Exception as exc:  # a monitor must not take the scheduler down: record, report, go on
        log.exception("monitor run failed")
        report.status, report.message = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        report.errors.append(report.message)
        if factory is not None and report.run_id is None:
            try:
                report.run_id = _store(factory, report, None, [])
            except Exception as inner:  # the database itself is what failed
                log.warning("could not record the failed monitor run: %s", inner)
    finally:
        if engine is not None:
            engine.dispose()
        report.seconds = time.monotonic() - started
    return report


def run_scheduled(settings: Settings, *, should_stop: Callable[[], bool] | None = None) -> MonitorReport:
    """The scheduled job (embedded scheduler): one run, logged by ``run_monitor``."""
    return run_monitor(settings)
