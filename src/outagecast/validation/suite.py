"""The Great Expectations suite for raw incident batches, built from ``outagecast.schema`` alone.

Raw batches are read as text (see ``reader.py``) so that a value like ``NOT_A_NUMBER`` reaches
validation instead of being lost to type inference. The suite therefore checks two layers:

- the raw text columns: presence, nulls, number / timestamp format (regex) and categories;
- derived typed columns that ``prepare_frame`` adds next to them (``<column>__number``,
  ``<column>__timestamp``): ranges, plausibility ceilings and end >= start.

A derived value is parsed only when its raw text passed the format check, so one bad value is
reported once: ``NOT_A_NUMBER`` is a wrong type, never also out of range.

Every expectation carries ``meta`` naming its rule, rule kind, schema column and error type, so
the row attribution in ``validate.py`` reads everything from the suite.

Great Expectations is imported only inside ``build_suite`` (the import alone costs seconds).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from outagecast import schema
from outagecast.schema import Kind
from outagecast.validation.errors import RULE_ERROR_TYPES, RuleKind, rule_name

if TYPE_CHECKING:
    import great_expectations as gx

SUITE_NAME: Final = "outagecast_incidents"

# Patterns are applied by GX with pandas ``str.contains``. They avoid ``\d``, ``\s`` and look-arounds
# so pandas hands them to pyarrow's RE2 engine: with Python's ``re`` instead, format checks take
# ~1 s per column at 1M rows rather than ~0.05 s.
# Integers may end in ".0": pandas writes an integer column holding any null as floats ("12.0").
INTEGER_PATTERN: Final = r"^ *[-+]?[0-9]+(?:\.0*)? *$"
NUMBER_PATTERN: Final = r"^ *[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)? *$"
# "2025-06-30 10:18:08.524480" (schema.TIMESTAMP_FORMAT); the fraction may be absent because
# pandas drops it when a whole column has zero microseconds, and ISO's "T" separator is accepted.
TIMESTAMP_PATTERN: Final = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[ T]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?$"
)

# Columns whose schema maximum is a plausibility ceiling rather than a hard bound: values above
# it are outliers (the original corruptor writes 9,999,999 minutes), not out-of-range values.
OUTLIER_CEILINGS: Final[dict[str, float]] = {
    schema.TARGET_SOURCE_COLUMN: schema.MAX_PLAUSIBLE_DURATION_MINUTES,
}

NUMBER_SUFFIX: Final = "__number"
TIMESTAMP_SUFFIX: Final = "__timestamp"


def number_column(name: str) -> str:
    """The derived float column holding the parsed values of numeric column ``name``."""
    return name + NUMBER_SUFFIX


def timestamp_column(name: str) -> str:
    """The derived datetime column holding the parsed values of timestamp column ``name``."""
    return name + TIMESTAMP_SUFFIX


def outage_interval() -> tuple[str, str]:
    """The (start, end) timestamp columns of an outage, taken from the schema."""
    start = schema.TIME_FEATURE
    (end,) = (c for c in schema.TIMESTAMP_COLUMNS if c != start)
    return start, end


def _meta(kind: RuleKind, column: str | None, reads: tuple[str, ...]) -> dict[str, Any]:
    return {
        "rule": rule_name(kind, column),
        "rule_kind": str(kind),
        "column": column,
        "reads": list(reads),  # the schema columns the rule needs (it cannot run without them)
        "error_type": str(RULE_ERROR_TYPES[kind]),
    }


def _notes(kind: RuleKind, column: str | None) -> str:
    # Shown on the Data Docs page, so a reader can map a failed expectation to the ingestion report.
    return f"OutageCast rule `{rule_name(kind, column)}`: failures count as {RULE_ERROR_TYPES[kind]}."


def import_gx() -> Any:
    """Import Great Expectations with its usage statistics off (there is no network to send them to)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    return gx


def build_suite(*, unavailable: Collection[str] = ()) -> gx.ExpectationSuite:
    """The expectation suite for one raw incident batch, derived from the schema.

    Args:
        unavailable: required columns a batch lacks. Rules reading them are left out (their
            ``ExpectColumnToExist`` stays and fails): GX cannot evaluate them, and it recomputes
            every metric resolved alongside a failing one (up to three times), which took a
            1M-row batch lacking ten columns from 5 s to 31 s.

    The suite is not attached to any data context; ``validate.py`` adds it to its own.
    """
    gx = import_gx()
    gxe = gx.expectations
    expectations: list[Any] = []
    skipped = frozenset(unavailable)

    def add(
        expectation_cls: Any,
        kind: RuleKind,
        rule_column: str | None,
        reads: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        reads = reads or ((rule_column,) if rule_column else ())
        if kind is not RuleKind.COLUMN_EXISTS and skipped.intersection(reads):
            return
        meta = _meta(kind, rule_column, reads)
        expectations.append(expectation_cls(**kwargs, meta=meta, notes=_notes(kind, rule_column)))

    for col in schema.COLUMNS:
        name = col.name
        if col.required:
            add(gxe.ExpectColumnToExist, RuleKind.COLUMN_EXISTS, name, column=name)
            add(gxe.ExpectColumnValuesToNotBeNull, RuleKind.NOT_NULL, name, column=name)
        if col.kind in (Kind.INTEGER, Kind.FLOAT):
            pattern = INTEGER_PATTERN if col.kind is Kind.INTEGER else NUMBER_PATTERN
            add(gxe.ExpectColumnValuesToMatchRegex, RuleKind.NUMBER_FORMAT, name, column=name, regex=pattern)
            _add_bounds(add, gxe, col)
        elif col.kind is Kind.TIMESTAMP:
            add(
                gxe.ExpectColumnValuesToMatchRegex,
                RuleKind.TIMESTAMP_FORMAT,
                name,
                column=name,
                regex=TIMESTAMP_PATTERN,
            )
        if col.categories is not None:
            add(
                gxe.ExpectColumnValuesToBeInSet,
                RuleKind.IN_SET,
                name,
                column=name,
                value_set=list(col.categories),
            )

    start, end = outage_interval()
    add(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB,
        RuleKind.END_AFTER_START,
        None,
        (start, end),
        column_A=timestamp_column(end),
        column_B=timestamp_column(start),
        or_equal=True,
        # A missing or unparsable timestamp is already reported by its own rule.
        ignore_row_if="either_value_is_missing",
    )
    add(gxe.ExpectColumnValuesToBeUnique, RuleKind.UNIQUE_ID, schema.ID_COLUMN, column=schema.ID_COLUMN)
    return gx.ExpectationSuite(
        name=SUITE_NAME,
        expectations=expectations,
        meta={"built_from": "outagecast.schema"},
    )


def _add_bounds(add: Any, gxe: Any, col: schema.Column) -> None:
    ceiling = OUTLIER_CEILINGS.get(col.name)
    low, high = col.minimum, col.maximum
    if ceiling is not None:
        # The schema maximum and the ceiling must be one value, or a value could be both flagged
        # as out of range and passed as plausible.
        if high is not None and high != ceiling:
            raise ValueError(f"{col.name}: schema maximum {high} differs from its outlier ceiling {ceiling}")
        high = None
        add(
            gxe.ExpectColumnValuesToBeBetween,
            RuleKind.PLAUSIBLE_MAX,
            col.name,
            column=number_column(col.name),
            max_value=ceiling,
        )
    if low is not None or high is not None:
        add(
            gxe.ExpectColumnValuesToBeBetween,
            RuleKind.BETWEEN,
            col.name,
            column=number_column(col.name),
            min_value=low,
            max_value=high,
        )


# ---------------------------------------------------------------- the frame the suite validates


@dataclass(frozen=True, slots=True)
class PreparedFrame:
    """A raw batch reshaped for the suite, and what its columns say about the schema."""

    frame: pd.DataFrame  # positional RangeIndex; raw text columns plus derived typed columns
    missing_required: tuple[str, ...]  # schema errors: the whole batch is unusable
    missing_optional: tuple[str, ...]  # filled with nulls so their rules pass vacuously
    unknown_columns: tuple[str, ...]  # not in the schema: carried along by the caller, never checked


def _as_text(values: pd.Series) -> pd.Series:
    # Validation judges the text of a value; a typed frame (e.g. the generator's output) is
    # turned into the text a CSV of it would hold. Nulls stay null.
    return values if values.dtype == "str" else values.astype("str")


def _parsed_numbers(text: pd.Series, pattern: str) -> pd.Series:
    well_formed = text.str.contains(pattern, regex=True, na=False)
    # numpy float64 (not the nullable Float64): GX only vectorises range checks on numpy dtypes.
    return pd.to_numeric(text.where(well_formed), errors="coerce").astype("float64")


def _parsed_timestamps(text: pd.Series) -> pd.Series:
    well_formed = text.str.contains(TIMESTAMP_PATTERN, regex=True, na=False)
    return pd.to_datetime(text.where(well_formed), format="ISO8601", errors="coerce")


def prepare_frame(df: pd.DataFrame) -> PreparedFrame:
    """The frame ``build_suite()`` is validated on: schema columns as text plus their parsed values.

    Row ``i`` of the result is row ``i`` (by position) of ``df``. Free-text columns are left out
    because no rule reads them, and categorical columns become pandas categoricals: GX copies the
    whole frame once per expectation (to drop nulls), so every column carried costs ~70 copies.
    """
    df = df.loc[:, ~df.columns.duplicated()].reset_index(drop=True)
    n_rows = len(df)
    present = set(df.columns)
    columns: dict[str, pd.Series] = {}
    missing_required: list[str] = []
    missing_optional: list[str] = []
    for col in schema.COLUMNS:
        if col.name in present:
            text = _as_text(df[col.name])
        elif col.required:
            # Left absent so that ExpectColumnToExist fails and reports it.
            missing_required.append(col.name)
            continue
        else:
            missing_optional.append(col.name)
            text = pd.Series(pd.NA, index=df.index, dtype="str")
        if col.kind is Kind.TEXT:
            continue
        columns[col.name] = text.astype("category") if col.categories is not None else text
        if col.kind in (Kind.INTEGER, Kind.FLOAT):
            pattern = INTEGER_PATTERN if col.kind is Kind.INTEGER else NUMBER_PATTERN
            columns[number_column(col.name)] = _parsed_numbers(text, pattern)
        elif col.kind is Kind.TIMESTAMP:
            columns[timestamp_column(col.name)] = _parsed_timestamps(text)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows))
    unknown = tuple(str(c) for c in df.columns if c not in schema.COLUMNS_BY_NAME)
    return PreparedFrame(frame, tuple(missing_required), tuple(missing_optional), unknown)
