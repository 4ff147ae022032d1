"""Checking an uploaded CSV before it is sent for prediction (pure: no Streamlit, no HTTP).

The file may be the 40-column dataset format or just the feature columns. Every row is
either sent or listed with the reason it was not: nothing is dropped silently. Rows are
numbered from 1 for the first data row (the file's line number is one more, for the header).
The rules come from ``outagecast.schema``; the API stays the final judge (its 422 answers are
mapped back to rows by ``predict_checked``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from outagecast import schema
from outagecast.clients.api import ApiError, ApiProblem, ChunkCallback

REQUIRED_FEATURES: tuple[str, ...] = tuple(f for f in schema.FEATURES if f not in schema.OPTIONAL_FEATURES)
# How many row numbers a message lists before saying "and N more".
MAX_ROWS_LISTED = 15
# A file with this many NUL bytes at the start is binary, not CSV.
_BINARY_SNIFF_BYTES = 2048


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one value of one row cannot be sent."""

    row: int  # 1-based data row
    column: str
    value: str
    problem: str  # short, groupable: "unknown category", "not a whole number", ...
    hint: str = ""  # what would be accepted

    @property
    def line(self) -> int:
        """The line in the file (the header is line 1)."""
        return self.row + 1


@dataclass
class BatchCheck:
    """The outcome of checking one uploaded file."""

    file_name: str
    frame: pd.DataFrame  # as read: every value a string, index = row number from 1
    fatal: str | None = None  # the file as a whole cannot be used
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things worth knowing, not errors
    good_rows: list[int] = field(default_factory=list)  # row numbers ready to send
    requests: list[dict[str, Any]] = field(default_factory=list)  # their request bodies

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.problems})

    @property
    def total_rows(self) -> int:
        return len(self.frame)

    def summary(self) -> list[str]:
        """One message per (column, problem), naming the rows: what a person reads first."""
        groups: dict[tuple[str, str], list[RowProblem]] = {}
        for p in self.problems:
            groups.setdefault((p.column, p.problem), []).append(p)
        order = {name: i for i, name in enumerate(schema.FEATURES)}
        messages = []
        for (column, problem), items in sorted(
            groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])
        ):
            rows = _list_rows([p.row for p in items])
            values = sorted({p.value for p in items if p.value != ""})
            shown = f" (found {', '.join(repr(v) for v in values[:5])}{', …' if len(values) > 5 else ''})"
            hint = f"; {items[0].hint}" if items[0].hint else ""
            noun = "row" if len(items) == 1 else "rows"
            messages.append(f"Column '{column}': {problem} in {noun} {rows}{shown if values else ''}{hint}.")
        return messages

    def problems_frame(self) -> pd.DataFrame:
        """The problems as a table: row, line, column, value, problem."""
        return pd.DataFrame(
            [
                {
                    "Row": p.row,
                    "Line in file": p.line,
                    "Column": p.column,
                    "Value": p.value,
                    "Problem": p.problem + (f" ({p.hint})" if p.hint else ""),
                }
                for p in sorted(self.problems, key=lambda p: (p.row, p.column))
            ],
            columns=["Row", "Line in file", "Column", "Value", "Problem"],
        )

    def rejected_frame(self) -> pd.DataFrame:
        """The bad rows as uploaded, with a column saying what is wrong with each."""
        reasons: dict[int, list[str]] = {}
        for p in self.problems:
            reasons.setdefault(p.row, []).append(f"{p.column}: {p.problem}")
        bad = self.frame.loc[self.bad_rows].copy()
        bad.insert(0, "problems", ["; ".join(reasons[r]) for r in bad.index])
        bad.insert(0, "row", bad.index)
        return bad.reset_index(drop=True)

    def add_api_problems(self, problems: Sequence[RowProblem]) -> None:
        """Record problems the API found, and stop treating those rows as good."""
        self.problems.extend(problems)
        bad = {p.row for p in problems}
        keep = [i for i, row in enumerate(self.good_rows) if row not in bad]
        self.good_rows = [self.good_rows[i] for i in keep]
        self.requests = [self.requests[i] for i in keep]


class UnreadableFile(ValueError):
    """The upload is not a CSV that can be read."""


def read_csv(data: bytes, file_name: str = "upload.csv") -> pd.DataFrame:
    """The file as strings, header names trimmed, rows indexed from 1. Raises UnreadableFile."""
    if not data.strip():
        raise UnreadableFile(f"{file_name} is empty.")
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise UnreadableFile(f"{file_name} is not a text file (it looks binary); upload a CSV.")
    try:
        text = data.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"{file_name} is not UTF-8 text: {exc}.") from exc
    try:
        # Strings only: every conversion below is explicit, so nothing is coerced silently.
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise UnreadableFile(f"{file_name} could not be read as CSV: {str(exc).strip()}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.apply(lambda col: col.str.strip())
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


def check_csv(data: bytes, file_name: str = "upload.csv") -> BatchCheck:
    """Read and check an upload; the good rows come back as ``POST /predict`` feature rows."""
    try:
        frame = read_csv(data, file_name)
    except UnreadableFile as exc:
        return BatchCheck(file_name=file_name, frame=pd.DataFrame(), fatal=str(exc))
    return check_frame(frame, file_name)


def check_frame(frame: pd.DataFrame, file_name: str = "upload.csv") -> BatchCheck:
    """Check a frame of strings as read by ``read_csv``."""
    check = BatchCheck(file_name=file_name, frame=frame)
    missing = [c for c in REQUIRED_FEATURES if c not in frame.columns]
    if missing:
        by_lower = {c.lower(): c for c in frame.columns}
        near = [f"'{by_lower[m.lower()]}' for '{m}'" for m in missing if m.lower() in by_lower]
        check.fatal = (
            f"{file_name} is missing the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)}, so no row can be predicted. "
            f"A batch needs at least: {', '.join(REQUIRED_FEATURES)}"
            + (f" (optional: {', '.join(schema.OPTIONAL_FEATURES)})." if schema.OPTIONAL_FEATURES else ".")
            + (f" Column names are case-sensitive: found {', '.join(near)}." if near else "")
        )
        return check
    if frame.empty:
        check.fatal = f"{file_name} has a header but no rows."
        return check

    ignored = [c for c in frame.columns if c not in schema.FEATURES]
    if ignored:
        known = sum(c in schema.COLUMNS_BY_NAME for c in ignored)
        check.notes.append(
            f"{len(ignored)} column{'s' if len(ignored) > 1 else ''} not used by the model "
            f"{'are' if len(ignored) > 1 else 'is'} ignored"
            + (f" ({known} of them from the dataset format)" if known else "")
            + f": {', '.join(ignored[:8])}{', …' if len(ignored) > 8 else ''}."
        )
    for name in schema.OPTIONAL_FEATURES:
        if name not in frame.columns:
            check.notes.append(f"No '{name}' column: {_optional_meaning(name)}")

    values: dict[str, pd.Series] = {}
    for name in schema.FEATURES:
        if name not in frame.columns:
            continue
        raw = frame[name]
        checker = _CHECKERS[name]
        parsed, problems = checker(name, raw)
        values[name] = parsed
        check.problems.extend(problems)

    blanks = {name: int((frame[name] == "").sum()) for name in schema.OPTIONAL_FEATURES if name in frame}
    for name, count in blanks.items():
        if count:
            check.notes.append(
                f"{count} row{'s' if count > 1 else ''} without '{name}': {_optional_meaning(name)}"
            )

    bad = {p.row for p in check.problems}
    check.good_rows = [int(r) for r in frame.index if r not in bad]
    # Column by column, then zipped: a per-cell lookup is far too slow for 100,000-row files.
    names = [name for name in schema.FEATURES if name in values]
    columns = [[_plain(v, name) for v in values[name].loc[check.good_rows].tolist()] for name in names]
    check.requests = [dict(zip(names, cells, strict=True)) for cells in zip(*columns, strict=True)]
    check.problems.sort(key=lambda p: (p.row, schema.FEATURES.index(p.column)))
    return check


_OPTIONAL_MEANING = {
    "start_time": "the API takes the time of the request as the outage start.",
    "system_load_before_outage": (
        f"the API assumes {schema.DEFAULT_SYSTEM_LOAD:g} % and records that it was assumed."
    ),
}


def _optional_meaning(name: str) -> str:
    return _OPTIONAL_MEANING.get(name, "the API fills it in.")


Checker = Callable[[str, pd.Series], tuple[pd.Series, list[RowProblem]]]


def _problems(name: str, raw: pd.Series, mask: pd.Series, problem: str, hint: str = "") -> list[RowProblem]:
    return [RowProblem(int(row), name, str(raw.at[row]), problem, hint) for row in raw.index[mask.to_numpy()]]


def _check_category(name: str, raw: pd.Series) -> tuple[pd.Series, list[RowProblem]]:
    allowed = schema.categories_of(name)
    hint = f"allowed: {', '.join(allowed)}"
    empty = raw == ""
    unknown = ~raw.isin(allowed) & ~empty
    return raw, _problems(name, raw, empty, "missing value", hint) + _problems(
        name, raw, unknown, "unknown category", hint
    )


def _check_integer(name: str, raw: pd.Series) -> tuple[pd.Series, list[RowProblem]]:
    low, high = schema.bounds_of(name)
    empty = raw == ""
    number = pd.to_numeric(raw.where(~empty), errors="coerce")
    not_number = number.isna() & ~empty
    fractional = number.notna() & (number % 1 != 0)
    problems = _problems(name, raw, empty, "missing value", "a whole number is required")
    problems += _problems(name, raw, not_number, "not a number", "expected a whole number")
    problems += _problems(name, raw, fractional, "not a whole number")
    problems += _range_problems(name, raw, number, low, high)
    return number, problems


def _check_float(name: str, raw: pd.Series) -> tuple[pd.Series, list[RowProblem]]:
    low, high = schema.bounds_of(name)
    empty = raw == ""
    number = pd.to_numeric(raw.where(~empty), errors="coerce")
    not_number = number.isna() & ~empty
    problems = _problems(name, raw, not_number, "not a number", _range_text(low, high))
    if name not in schema.OPTIONAL_FEATURES:
        problems += _problems(name, raw, empty, "missing value", "a number is required")
    problems += _range_problems(name, raw, number, low, high)
    return number, problems


def _check_timestamp(name: str, raw: pd.Series) -> tuple[pd.Series, list[RowProblem]]:
    empty = raw == ""
    # Naive times are UTC, as the API reads them; format="mixed" takes the dataset's
    # "2025-06-30 10:18:08.524480" as well as ISO 8601 with offsets.
    parsed = pd.to_datetime(raw.where(~empty), errors="coerce", utc=True, format="mixed")
    bad = parsed.isna() & ~empty
    problems = _problems(name, raw, bad, "not a date and time", "e.g. 2025-06-30 10:18:08")
    if name not in schema.OPTIONAL_FEATURES:
        problems += _problems(name, raw, empty, "missing value")
    return parsed, problems


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"expected a number from {low:g} to {high:g}"
    if low is not None:
        return f"expected a number of at least {low:g}"
    return ""


def _range_problems(
    name: str, raw: pd.Series, number: pd.Series, low: float | None, high: float | None
) -> list[RowProblem]:
    problems: list[RowProblem] = []
    if low is not None:
        problems += _problems(name, raw, number < low, "out of range", _range_text(low, high))
    if high is not None:
        problems += _problems(name, raw, number > high, "out of range", _range_text(low, high))
    return problems


def _checker_for(name: str) -> Checker:
    column = schema.COLUMNS_BY_NAME[name]
    if column.categories is not None:
        return _check_category
    if column.kind is schema.Kind.INTEGER:
        return _check_integer
    if column.kind is schema.Kind.FLOAT:
        return _check_float
    if column.kind is schema.Kind.TIMESTAMP:
        return _check_timestamp
    raise ValueError(f"no check for feature {name} of kind {column.kind}")  # pragma: no cover


_CHECKERS: dict[str, Checker] = {name: _checker_for(name) for name in schema.FEATURES}


def _plain(value: Any, name: str) -> Any:
    """A JSON-ready scalar: None for blanks, int for integer columns, ISO 8601 text for times."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if name in schema.INTEGER_COLUMNS:
        return int(value)
    return value


def _list_rows(rows: Sequence[int]) -> str:
    rows = sorted(set(rows))
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    return shown + (f" and {len(rows) - MAX_ROWS_LISTED} more" if len(rows) > MAX_ROWS_LISTED else "")


# ---------------------------------------------------------------- sending
PredictFn = Callable[[Sequence[dict[str, Any]], ChunkCallback | None], list[dict[str, Any]]]
# The API reports validation errors for at most this many rounds before we give up.
_MAX_API_REJECTION_ROUNDS = 3


@dataclass
class BatchRun:
    """Predictions of a checked batch so far, by row number, and what is still to send."""

    predictions: dict[int, dict[str, Any]] = field(default_factory=dict)
    error: ApiProblem | None = None

    def pending(self, check: BatchCheck) -> list[int]:
        return [r for r in check.good_rows if r not in self.predictions]


def predict_checked(
    check: BatchCheck, predict: PredictFn, run: BatchRun | None = None, on_chunk: ChunkCallback | None = None
) -> BatchRun:
    """Send the good rows not yet predicted; keep what came back even when a later chunk fails.

    A 422 answer naming rows (a rule the client does not know) moves those rows to the
    problems and the rest is sent again. Other failures end the run with ``run.error`` set, so
    a retry sends only the rows still pending (rows already stored are never sent twice).
    """
    run = run or BatchRun()
    run.error = None
    for _ in range(_MAX_API_REJECTION_ROUNDS + 1):
        pending = run.pending(check)
        if not pending:
            return run
        index = {row: i for i, row in enumerate(check.good_rows)}
        bodies = [check.requests[index[row]] for row in pending]
        try:
            results = predict(bodies, on_chunk)
        except ApiProblem as exc:
            done = exc.partial_results
            run.predictions.update(zip(pending[: len(done)], done, strict=True))
            rejected = exc.field_errors if isinstance(exc, ApiError) and exc.status == 422 else []
            if not rejected:
                run.error = exc
                return run
            check.add_api_problems(
                [
                    RowProblem(
                        pending[e.row],
                        e.field or "(row)",
                        _value_of(check, pending[e.row], e.field),
                        "rejected by the API",
                        e.message,
                    )
                    for e in rejected
                    if 0 <= e.row < len(pending)
                ]
            )
            continue
        run.predictions.update(zip(pending, results, strict=True))
        return run
    run.error = ApiProblem("The API kept rejecting rows; the remaining rows were not sent.")
    return run


def _value_of(check: BatchCheck, row: int, column: str | None) -> str:
    if column and column in check.frame.columns:
        return str(check.frame.at[row, column])
    return ""
