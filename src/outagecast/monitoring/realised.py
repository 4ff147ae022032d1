"""Realised error: predictions whose incident's actual duration became known, per model version.

The actual durations arrive with ingested good data (``incident_outcomes``, written by the
ingestion job); predictions carry the ``incident_id`` they were asked for. The database joins and
aggregates them (``repository.realised_error_stats``); this module turns the aggregates into MAE,
bias, RMSE and interval coverage, and compares the MAE with the version's held-out MAE from
training. A version is ``degraded`` when ``MAE / training MAE > REALISED_ERROR_MAX_RATIO`` over at
least ``REALISED_ERROR_MIN_ROWS`` matched predictions.

The held-out MAE comes from the version's ``training_runs`` row (``metrics["mae"]``, the test
split's MAE): one query in the database the monitor already uses. A version trained elsewhere
(no row here) falls back to its MLflow run's ``mae`` metric.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from outagecast.db import repository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from outagecast.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VersionError:
    """One version's realised error (a ``realised_errors`` row)."""

    model_version: str
    matched_rows: int
    mae: float | None
    bias: float | None
    rmse: float | None
    interval_coverage: float | None
    nominal_coverage: float | None
    training_mae: float | None
    error_ratio: float | None
    degraded: bool

    def row(self) -> dict[str, Any]:
        """The ``realised_errors`` columns (without ``run_id``)."""
        return asdict(self)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def summarise(
    stats: Sequence[Mapping[str, Any]],
    training_mae: Mapping[str, float | None],
    *,
    max_ratio: float,
    min_rows: int,
) -> list[VersionError]:
    """Realised error per version from the database aggregates (pure).

    Args:
        stats: ``repository.realised_error_stats`` rows.
        training_mae: held-out MAE per version (None or absent: unknown, never degraded).
        max_ratio: ``REALISED_ERROR_MAX_RATIO``.
        min_rows: ``REALISED_ERROR_MIN_ROWS``: fewer matched predictions are reported, not judged.
    """
    out = []
    for stat in stats:
        version = str(stat["model_version"])
        matched = int(stat["matched_rows"])
        mae, mse = _number(stat["mae"]), _number(stat["mse"])
        interval_rows = int(stat["interval_rows"] or 0)
        coverage = int(stat["inside"] or 0) / interval_rows if interval_rows else None
        reference = _number(training_mae.get(version))
        ratio = mae / reference if mae is not None and reference else None
        out.append(
            VersionError(
                model_version=version,
                matched_rows=matched,
                mae=mae,
                bias=_number(stat["bias"]),
                rmse=math.sqrt(mse) if mse is not None else None,
                interval_coverage=coverage,
                nominal_coverage=_number(stat["nominal_coverage"]),
                training_mae=reference,
                error_ratio=ratio,
                degraded=bool(ratio is not None and matched >= min_rows and ratio > max_ratio),
            )
        )
    return out


def _mlflow_mae(settings: Settings, version: str) -> float | None:
    """The ``mae`` metric of a version's MLflow run (None when the registry does not know it)."""
    try:
        from outagecast.ml import registry

        client = registry.client(settings)
        number = registry.parse_version(settings, version)
        run_id = client.get_model_version(settings.registered_model_name, str(number)).run_id
        return _number(client.get_run(run_id).data.metrics.get("mae")) if run_id else None
    except Exception as exc:  # an unknown or foreign version: its error is reported, not judged
        log.debug("no held-out MAE for %s in the registry: %s", version, exc)
        return None


def training_maes(session: Session, settings: Settings, versions: Sequence[str]) -> dict[str, float | None]:
    """Each version's held-out MAE: its ``training_runs`` metrics, else its MLflow run's."""
    recorded = repository.training_metrics(session, model_versions=versions)
    maes: dict[str, float | None] = {}
    for version in versions:
        mae = _number(recorded.get(version, {}).get("mae"))
        maes[version] = mae if mae is not None else _mlflow_mae(settings, version)
    return maes


def realised_errors(session: Session, settings: Settings) -> list[VersionError]:
    """Realised error of every version with at least one prediction whose outcome is known."""
    stats = repository.realised_error_stats(session)
    maes = training_maes(session, settings, [str(s["model_version"]) for s in stats])
    return summarise(
        stats,
        maes,
        max_ratio=settings.realised_error_max_ratio,
        min_rows=settings.realised_error_min_rows,
    )
