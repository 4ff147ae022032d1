"""Inject the original design's seven data-quality errors into an incident CSV, with ground truth.

Row-level errors, each drawn independently per row with ``probability`` (so a row can carry
several):

===================  ==============================  =====================================
error type           column                          injected value
===================  ==============================  =====================================
missing_value        number_of_customers_affected    empty cell
out_of_range         ticket_count                    a negative count, -1 ... -100
invalid_category     cloud_provider                  ``INVALID_CLOUD``
wrong_type           system_load_before_outage       ``NOT_A_NUMBER``
outlier              duration_minutes                ``9999999``
duplicate_row        (whole row)                     a copy appended at the end of the file
===================  ==============================  =====================================

File-level error: ``missing_column`` drops the whole ``severity`` column, once per file with
``probability`` (as the original did: one draw per file, not per row).

Next to the output ``<stem>.csv`` a machine-readable ground truth ``<stem>.injected.csv`` is
written with columns ``row`` (0-based data row in the OUTPUT file; empty for the file-level
error), ``column`` (empty for duplicate_row) and ``error_type``. A duplicated row is a copy of
its source row after the cell errors, so the copy inherits them: the ground truth lists those
inherited errors at the copy's row as well (it describes what is wrong with each output row).
Duplicate copies also repeat the source ``incident_id``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from outagecast.datasets import write_csv_atomic
from outagecast.schema import ErrorType

logger = logging.getLogger(__name__)


# The column each error is injected into (None: the whole row).
INJECTION_COLUMNS: Final[dict[ErrorType, str | None]] = {
    ErrorType.MISSING_VALUE: "number_of_customers_affected",
    ErrorType.OUT_OF_RANGE: "ticket_count",
    ErrorType.INVALID_CATEGORY: "cloud_provider",
    ErrorType.MISSING_COLUMN: "severity",
    ErrorType.WRONG_TYPE: "system_load_before_outage",
    ErrorType.DUPLICATE_ROW: None,
    ErrorType.OUTLIER: "duration_minutes",
}
INVALID_CATEGORY_VALUE: Final = "INVALID_CLOUD"
WRONG_TYPE_VALUE: Final = "NOT_A_NUMBER"
OUTLIER_VALUE: Final = "9999999"
_CELL_VALUES: Final[dict[ErrorType, str]] = {
    ErrorType.MISSING_VALUE: "",
    ErrorType.INVALID_CATEGORY: INVALID_CATEGORY_VALUE,
    ErrorType.WRONG_TYPE: WRONG_TYPE_VALUE,
    ErrorType.OUTLIER: OUTLIER_VALUE,
}
GROUND_TRUTH_COLUMNS: Final = ("row", "column", "error_type")
# Cell errors in the order their random masks are drawn (fixed, so a seed reproduces a file).
_CELL_ERRORS: Final = (
    ErrorType.MISSING_VALUE,
    ErrorType.OUT_OF_RANGE,
    ErrorType.INVALID_CATEGORY,
    ErrorType.WRONG_TYPE,
    ErrorType.OUTLIER,
)


@dataclass(frozen=True, slots=True)
class CorruptionReport:
    """What :func:`corrupt_file` did; ``counts`` equals the per-type counts of the ground truth."""

    input_path: Path
    output_path: Path
    ground_truth_path: Path
    rows_in: int
    rows_out: int
    counts: dict[ErrorType, int] = field(default_factory=dict)
    bad_rows: int = 0  # distinct output rows with at least one row-level error (copies included)

    @property
    def total_errors(self) -> int:
        """All ground-truth records, file-level included."""
        return sum(self.counts.values())

    def __str__(self) -> str:
        injected = ", ".join(f"{k}={v}" for k, v in self.counts.items() if v) or "nothing"
        return f"{self.rows_in} rows in, {self.rows_out} out; injected: {injected}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings, error types as their names)."""
        return {
            "input_path": str(self.input_path),
            "output_path": str(self.output_path),
            "ground_truth_path": str(self.ground_truth_path),
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "counts": {str(k): v for k, v in self.counts.items()},
            "bad_rows": self.bad_rows,
        }


def ground_truth_path_for(output_path: str | Path) -> Path:
    """``<dir>/<stem>.injected.csv`` beside ``output_path``."""
    output_path = Path(output_path)
    return output_path.with_name(f"{output_path.stem}.injected.csv")


def read_ground_truth(path: str | Path) -> pd.DataFrame:
    """Load a ground-truth file: ``row`` as nullable Int64, ``column`` and ``error_type`` as text."""
    return pd.read_csv(
        path,
        dtype={"row": "Int64", "column": str, "error_type": str},
        keep_default_na=False,
        na_values={"row": [""]},
    )


def corrupt_file(
    input_path: str | Path, output_path: str | Path, probability: float, seed: int | None = None
) -> CorruptionReport:
    """Copy ``input_path`` to ``output_path`` with errors injected, and write the ground truth.

    Args:
        input_path: a clean incident CSV (cells are kept verbatim unless corrupted).
        output_path: the corrupted CSV to write (parent folders are created).
        probability: chance, in [0, 1], of each row-level error per row, and of the file-level
            missing column.
        seed: random seed; None draws fresh entropy.

    Returns:
        A :class:`CorruptionReport`; the ground truth is at ``report.ground_truth_path``.
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be within [0, 1], got {probability}")
    rng = np.random.default_rng(seed)
    frame = pd.read_csv(input_path, dtype=str, keep_default_na=False, na_filter=False)
    n = len(frame)
    truth_rows: list[np.ndarray] = []
    truth_types: list[np.ndarray] = []

    # One mask per cell error, always drawn (even for an absent column) to keep the stream fixed.
    for error in _CELL_ERRORS:
        mask = rng.random(n) < probability
        if error is ErrorType.OUT_OF_RANGE:
            value: Any = (-rng.integers(1, 101, size=n)[mask]).astype(str)
        else:
            value = _CELL_VALUES[error]
        column = INJECTION_COLUMNS[error]
        if column not in frame:
            logger.warning("column %s absent from %s: no %s injected", column, input_path, error)
            continue
        frame.loc[mask, column] = value
        idx = np.flatnonzero(mask)
        truth_rows.append(idx)
        truth_types.append(np.full(len(idx), error.value, dtype=object))

    # Duplicates: copies of the (already corrupted) rows, appended; they inherit the cell errors.
    sources = np.flatnonzero(rng.random(n) < probability)
    copies = n + np.arange(len(sources))
    cell_rows = np.concatenate(truth_rows) if truth_rows else np.empty(0, dtype=np.int64)
    cell_types = np.concatenate(truth_types) if truth_types else np.empty(0, dtype=object)
    position = np.full(n, -1, dtype=np.int64)
    position[sources] = copies
    inherited = position[cell_rows] >= 0
    out = pd.concat([frame, frame.iloc[sources]], ignore_index=True)

    truth = pd.DataFrame(
        {
            "row": np.concatenate([cell_rows, position[cell_rows[inherited]], copies]),
            "error_type": np.concatenate(
                [
                    cell_types,
                    cell_types[inherited],
                    np.full(len(copies), ErrorType.DUPLICATE_ROW.value, object),
                ]
            ),
        }
    )
    column_of = {e.value: (INJECTION_COLUMNS[e] or "") for e in ErrorType}
    truth["column"] = truth["error_type"].map(column_of)
    truth = truth.sort_values(["row", "error_type"], kind="stable")

    drop_column = INJECTION_COLUMNS[ErrorType.MISSING_COLUMN]
    if rng.random() < probability and drop_column in out:
        out = out.drop(columns=[drop_column])
        file_level = pd.DataFrame({"row": [pd.NA], "column": [drop_column], "error_type": ["missing_column"]})
        truth = pd.concat([file_level, truth], ignore_index=True)
    truth = truth.astype({"row": "Int64"})[list(GROUND_TRUTH_COLUMNS)]

    output_path = Path(output_path)
    truth_path = ground_truth_path_for(output_path)
    # Ground truth first: whoever sees the corrupted batch appear can already read its truth.
    write_csv_atomic(truth, truth_path)
    write_csv_atomic(out, output_path)
    counts = {e: int((truth["error_type"] == e.value).sum()) for e in ErrorType}
    bad_rows = int(truth["row"].dropna().nunique())
    logger.info(
        "corrupted %s -> %s: %d rows in, %d out, %s",
        input_path,
        output_path,
        n,
        len(out),
        {str(k): v for k, v in counts.items() if v},
    )
    return CorruptionReport(
        input_path=Path(input_path),
        output_path=output_path,
        ground_truth_path=truth_path,
        rows_in=n,
        rows_out=len(out),
        counts=counts,
        bad_rows=bad_rows,
    )
