"""Validate a raw incident batch with the Great Expectations suite and say which rows are bad, and why.

One GX run covers the whole frame (result format COMPLETE, so every failing expectation returns
the positions of its unexpected rows); the per-row verdicts are assembled from those positions
with array operations. The run uses the registered ValidationDefinition's batch definition and
suite with GX's own Validator, the one ``ValidationDefinition.run`` calls, without the step where
``run`` files the full result in the context's store (see ``_run_suite``).

How rows are counted:

- ``valid_mask[i]`` is False when row ``i`` breaks at least one rule.
- ``row_errors`` holds, for each bad row only, its broken rules joined by ``;`` in suite order
  (e.g. ``"not_null:ticket_count;in_set:severity"``), indexed by the caller's index labels.
- ``error_counts[t]`` is the number of rows breaking at least one rule of error type ``t``; a row
  with a null and a bad category counts once under each, so the counts may sum to more than the
  number of bad rows. Types with no bad row are left out.
- Duplicates: GX's uniqueness check flags every copy of a repeated incident id. The first
  occurrence is kept as good (it is the original; the corruptor and double deliveries append the
  copies), so a file with one appended duplicate has exactly one ``duplicate_row`` row.
- A missing required column is a schema error: every row is bad (rule ``column_exists:<col>``,
  counted under ``missing_column``) and criticality is ``high``.

Great Expectations is imported on the first validation only (it costs seconds); the data context,
suite and validation definition are then built once and reused for the life of the process.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from outagecast import schema
from outagecast.validation.errors import RULE_ERROR_TYPES, ErrorType, RuleKind
from outagecast.validation.suite import SUITE_NAME, PreparedFrame, build_suite, import_gx, prepare_frame

DATASOURCE_NAME: Final = "outagecast"
ASSET_NAME: Final = "incident_batches"
BATCH_DEFINITION_NAME: Final = "whole_batch"
RESULT_FORMAT: Final[dict[str, Any]] = {
    "result_format": "COMPLETE",  # unexpected_index_list: every failing row, not a sample
    "partial_unexpected_count": 20,  # the sample of values Data Docs shows
    "return_unexpected_index_query": False,  # a pandas query string per expectation: unused
}
ROW_ERROR_SEPARATOR: Final = ";"


class Criticality(StrEnum):
    """How bad an ingested batch is (original design, DESIGN.md §4); alerts go out for medium and high."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def criticality(total: int, invalid: int, schema_error: bool) -> Criticality:
    """``high`` for a schema error or more than 50 % bad rows, ``medium`` from 10 %, ``low`` above 0.

    Integer arithmetic keeps the boundaries exact: 50 % is medium, 10 % is medium.
    """
    if schema_error or 2 * invalid > total:
        return Criticality.HIGH
    if invalid > 0 and 10 * invalid >= total:
        return Criticality.MEDIUM
    if invalid > 0:
        return Criticality.LOW
    return Criticality.NONE


class ValidationEngineError(RuntimeError):
    """Great Expectations failed to evaluate an expectation that should have run (a bug, not bad data)."""


@dataclass(frozen=True, slots=True, eq=False)
class ValidationReport:
    """The verdict on one batch: which rows are usable and what is wrong with the others."""

    total_rows: int
    valid_mask: np.ndarray  # bool, one per row of the validated frame, in its order
    row_errors: pd.Series  # bad rows only: "rule;rule", indexed like the validated frame
    error_counts: dict[ErrorType, int]  # rows per error type (see the module docstring)
    schema_errors: list[str]  # missing required columns
    criticality: Criticality
    data_docs_path: str | None  # page of this validation, relative to data_docs_dir
    rule_counts: dict[str, int] = field(default_factory=dict)  # rows per broken rule
    missing_optional_columns: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)  # not in the schema, not checked

    @property
    def valid_rows(self) -> int:
        return int(self.valid_mask.sum())

    @property
    def invalid_rows(self) -> int:
        return self.total_rows - self.valid_rows


@dataclass(frozen=True, slots=True)
class _GxRuntime:
    context: Any
    definition: Any  # gx.ValidationDefinition
    rule_order: dict[str, int]  # rule name -> position in the suite (GX reports in another order)


# GX data contexts are not thread-safe; the API, scheduler and CLI may validate concurrently.
_GX_LOCK = threading.Lock()


@functools.cache
def _runtime() -> _GxRuntime:
    gx = import_gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        # No temporary docs site: Data Docs go only where validate_frame is told to write them.
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    suite = context.suites.add(build_suite())
    asset = context.data_sources.add_pandas(DATASOURCE_NAME).add_dataframe_asset(ASSET_NAME)
    batch_definition = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=SUITE_NAME, data=batch_definition, suite=suite)
    )
    rule_order = {e.meta["rule"]: i for i, e in enumerate(suite.expectations)}
    return _GxRuntime(context=context, definition=definition, rule_order=rule_order)


def warm_up() -> None:
    """Import Great Expectations and build the context now rather than on the first validation."""
    with _GX_LOCK:
        _runtime()


def _run_name(batch_name: str) -> str:
    # The run name becomes a folder of the Data Docs URL.
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", batch_name).strip("._")
    return cleaned[:120] or "batch"


@functools.lru_cache(maxsize=16)
def _suite_without(missing_required: frozenset[str]) -> Any:
    # Batches missing required columns are rare and come in few shapes: one suite per shape.
    return build_suite(unavailable=missing_required)


def _run_suite(
    prepared: PreparedFrame, *, batch_name: str, data_docs_dir: Path | None
) -> tuple[Any, dict[str, int], str | None]:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.validator.v1_validator import Validator

    from outagecast.validation import docs

    with _GX_LOCK:
        runtime = _runtime()
        definition = runtime.definition
        missing = frozenset(prepared.missing_required)
        suite = _suite_without(missing) if missing else definition.suite
        # What ValidationDefinition.run does, minus filing the COMPLETE result in the context's
        # store: that serialises every unexpected value to JSON (19 s for a 1M-row batch with
        # 900k bad values). GX's Batch.validate uses the same Validator.
        validator = Validator(
            batch_definition=definition.batch_definition,
            batch_parameters={"dataframe": prepared.frame},
            result_format=RESULT_FORMAT,
        )
        result = validator.validate_expectation_suite(suite)
        run_id = RunIdentifier(run_name=_run_name(batch_name), run_time=datetime.now(UTC))
        result.meta.update(
            validation_id=definition.id,
            run_id=run_id,
            validation_time=run_id.run_time,
            batch_parameters={"dataframe": "<in-memory DataFrame>"},
        )
        page = docs.write_data_docs(runtime.context, result, data_docs_dir) if data_docs_dir else None
    return result, runtime.rule_order, page


@dataclass(frozen=True, slots=True)
class _Hit:
    rule: str
    error_type: ErrorType
    positions: np.ndarray  # row positions breaking the rule


def _later_copies(ids: pd.Series, positions: np.ndarray) -> np.ndarray:
    # GX flags every copy of a repeated id, so among the flagged rows the first one holding an id
    # is that id's first row in the batch: it stays good, the later copies are the duplicates.
    positions = np.sort(positions)
    later = ids.iloc[positions].duplicated(keep="first").to_numpy()
    return positions[later]


def _exception_message(result: Any) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    # Some failures are reported per metric: {metric id: {"raised_exception": ..., ...}}.
    messages = [
        str(v.get("exception_message"))
        for v in info.values()
        if isinstance(v, dict) and v.get("raised_exception")
    ]
    return "; ".join(messages) or None


def _hits(prepared: PreparedFrame, result: Any, rule_order: dict[str, int]) -> list[_Hit]:
    n_rows = len(prepared.frame)
    hits: list[_Hit] = []
    for expectation_result in result.results:
        meta = expectation_result.expectation_config.meta
        kind = RuleKind(meta["rule_kind"])
        error = _exception_message(expectation_result)
        if error is not None:
            # Rules on a missing required column cannot run; the schema error already covers them.
            if kind is not RuleKind.COLUMN_EXISTS and set(meta["reads"]) & set(prepared.missing_required):
                continue
            raise ValidationEngineError(f"{meta['rule']}: {error}")
        if expectation_result.success:
            continue
        if kind is RuleKind.COLUMN_EXISTS:
            positions = np.arange(n_rows)
        else:
            positions = np.asarray(
                expectation_result.result.get("unexpected_index_list") or [], dtype=np.int64
            )
        if kind is RuleKind.UNIQUE_ID:
            positions = _later_copies(prepared.frame[schema.ID_COLUMN], positions)
        if positions.size:
            hits.append(_Hit(meta["rule"], RULE_ERROR_TYPES[kind], positions))
    return sorted(hits, key=lambda hit: rule_order[hit.rule])


def _row_labels(flags: np.ndarray, rules: list[str]) -> np.ndarray:
    """``"rule;rule"`` for each row of a (rows x rules) bool matrix, built once per distinct combination."""
    packed = np.packbits(flags, axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    labels = np.array(
        [ROW_ERROR_SEPARATOR.join(np.asarray(rules)[flags[i]]) for i in first],
        dtype=object,
    )
    return labels[inverse.ravel()]


def _report(
    df: pd.DataFrame, prepared: PreparedFrame, hits: list[_Hit], data_docs_path: str | None
) -> ValidationReport:
    n_rows = len(prepared.frame)
    rules = [h.rule for h in hits]
    flags = np.zeros((n_rows, len(hits)), dtype=bool)
    for j, hit in enumerate(hits):
        flags[hit.positions, j] = True
    invalid = flags.any(axis=1)
    bad = np.flatnonzero(invalid)
    labels = _row_labels(flags[bad], rules) if bad.size else np.array([], dtype=object)
    row_errors = pd.Series(labels, index=df.index[bad], name="errors", dtype="str")

    error_counts: dict[ErrorType, int] = {}
    for error_type in ErrorType:
        columns = [j for j, hit in enumerate(hits) if hit.error_type is error_type]
        if columns:
            error_counts[error_type] = int(flags[:, columns].any(axis=1).sum())

    schema_errors = list(prepared.missing_required)
    return ValidationReport(
        total_rows=n_rows,
        valid_mask=~invalid,
        row_errors=row_errors,
        error_counts=error_counts,
        schema_errors=schema_errors,
        criticality=criticality(n_rows, int(bad.size), bool(schema_errors)),
        data_docs_path=data_docs_path,
        rule_counts={rule: int(count) for rule, count in zip(rules, flags.sum(axis=0), strict=True)},
        missing_optional_columns=list(prepared.missing_optional),
        unknown_columns=list(prepared.unknown_columns),
    )


def validate_frame(
    df: pd.DataFrame,
    *,
    data_docs_dir: Path | None = None,
    batch_name: str = "batch",
) -> ValidationReport:
    """Validate one raw batch (as read by ``read_incident_csv``: every column text) against the suite.

    Args:
        df: the batch; typed frames are accepted too and judged by the text of their values.
        data_docs_dir: when given, GX's HTML page for this validation is written under it.
        batch_name: names the run in Data Docs (usually the file name).

    Returns:
        The per-row verdicts and counts; see the module docstring for how rows are counted.

    Raises:
        ValidationEngineError: an expectation could not be evaluated for a reason other than a
            missing required column.
    """
    prepared = prepare_frame(df)
    result, rule_order, page = _run_suite(prepared, batch_name=batch_name, data_docs_dir=data_docs_dir)
    return _report(df, prepared, _hits(prepared, result, rule_order), page)
