"""Read a raw incident CSV batch as text, or say precisely why it cannot be read.

``read_incident_csv`` never raises on bad input: it returns a ``ReadResult`` holding either the
frame or a ``reason_code`` (a short slug for the database and alerts) and a ``reason`` (a
sentence for people). Every column is read as text (pandas ``str`` dtype) with only empty cells
turned into nulls, so validation sees the raw values: ``NOT_A_NUMBER`` stays a string to be
flagged, and ``None`` stays the category it is (``external_factors``) instead of becoming null.

The file is checked in one streaming pass first (NUL bytes, UTF-8), then parsed with pyarrow;
when pyarrow rejects the file, pandas' C parser reads it again because it explains problems with
line numbers and accepts short rows (their missing cells become nulls, which validation reports
per row). pyarrow comes first for speed only: at 1M rows x 40 columns the C parser needs ~20 s to
produce text columns, pyarrow ~5 s.
"""

from __future__ import annotations

import codecs
import os
import re
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

import pandas as pd

from outagecast import schema

_CHUNK_BYTES: Final = 1 << 24
_SNIFF_BYTES: Final = 1 << 16
_OTHER_DELIMITERS: Final = {";": "semicolons", "\t": "tabs", "|": "pipes"}
# Bytes that do not occur in text; a sample made of more than this share of them is binary.
_BINARY_BYTES: Final = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D} | {0x7F}
_BINARY_SHARE: Final = 0.10
_UTF16_32_BOMS: Final = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_READ_OPTIONS: Final = {"dtype": str, "keep_default_na": False, "na_values": [""], "encoding": "utf-8"}


class ReadProblem(StrEnum):
    """Why a file yields no frame (the ``reason_code`` of a ``ReadResult``)."""

    UNREADABLE = "unreadable"  # missing file, permissions, a directory...
    EMPTY_FILE = "empty_file"
    HEADER_ONLY = "header_only"
    BINARY_CONTENT = "binary_content"
    BAD_ENCODING = "bad_encoding"
    WRONG_DELIMITER = "wrong_delimiter"
    PARSER_ERROR = "parser_error"  # ragged rows, unbalanced quotes
    NO_KNOWN_COLUMNS = "no_known_columns"


@dataclass(frozen=True, slots=True, eq=False)
class ReadResult:
    """A frame of text columns, or the reason there is none."""

    frame: pd.DataFrame | None
    reason_code: ReadProblem | None = None
    reason: str | None = None
    line: int | None = None  # 1-based line of the file where the problem was found, when known

    @property
    def ok(self) -> bool:
        return self.frame is not None


def _fail(code: ReadProblem, reason: str, line: int | None = None) -> ReadResult:
    return ReadResult(frame=None, reason_code=code, reason=reason, line=line)


def _looks_binary(sample: bytes) -> bool:
    return bool(sample) and sum(b in _BINARY_BYTES for b in sample) / len(sample) > _BINARY_SHARE


def _scan(path: Path) -> ReadResult | None:
    """One streaming pass over the bytes: empty, binary and encoding problems; None when fine."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = 0  # newlines in the chunks already scanned
    only_blank = True
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        if head.startswith(_UTF16_32_BOMS):
            return _fail(
                ReadProblem.BAD_ENCODING,
                "The file is encoded as UTF-16 or UTF-32; save it as UTF-8.",
                line=1,
            )
        chunk = head
        while chunk:
            nul = chunk.find(b"\x00")
            if nul >= 0:
                line = lines_before + chunk.count(b"\n", 0, nul) + 1
                return _fail(
                    ReadProblem.BINARY_CONTENT,
                    f"The file contains NUL bytes (first on line {line}): it is binary, not a CSV text file.",
                    line=line,
                )
            only_blank = only_blank and chunk.isspace()
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                position = max(exc.start - pending, 0)
                line = lines_before + chunk.count(b"\n", 0, position) + 1
                if _looks_binary(head):
                    return _fail(
                        ReadProblem.BINARY_CONTENT,
                        "The file is binary, not a CSV text file.",
                        line=line,
                    )
                byte = chunk[position] if position < len(chunk) else 0
                return _fail(
                    ReadProblem.BAD_ENCODING,
                    f"The file is not valid UTF-8 (byte 0x{byte:02x} on line {line}); it is probably "
                    "Latin-1 or Windows-1252: save it as UTF-8.",
                    line=line,
                )
            lines_before += chunk.count(b"\n")
            chunk = handle.read(_CHUNK_BYTES)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return _fail(
                ReadProblem.BAD_ENCODING,
                "The file ends in the middle of a UTF-8 character: it is truncated or not UTF-8.",
                line=lines_before + 1,
            )
    if only_blank:
        return _fail(ReadProblem.EMPTY_FILE, "The file is empty.")
    if _looks_binary(head):
        return _fail(ReadProblem.BINARY_CONTENT, "The file is binary, not a CSV text file.")
    return None


def _header_line(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    return next((line for line in text.splitlines() if line.strip()), "")


def _other_delimiter(header: str) -> str | None:
    # A header without a single comma but with another separator is a file in the wrong dialect.
    if "," in header:
        return None
    return next((d for d in _OTHER_DELIMITERS if d in header), None)


_LINE_IN_MESSAGE: Final = re.compile(r"\bline (\d+)")
_ROW_IN_MESSAGE: Final = re.compile(r"\brow (\d+)")  # pandas counts these from 0


def _parser_failure(message: str) -> ReadResult:
    message = " ".join(message.split())
    if match := _LINE_IN_MESSAGE.search(message):
        line: int | None = int(match.group(1))
    elif match := _ROW_IN_MESSAGE.search(message):
        line = int(match.group(1)) + 1
    else:
        line = None
    where = f" on line {line}" if line else ""
    detail = message.removeprefix("Error tokenizing data. ").removeprefix("C error: ")
    if detail.startswith("EOF inside string"):
        # pandas' words for it; found by fuzzing the reader (tests/reliability/test_fuzz_reader.py).
        detail = "a quoted value is never closed (an unbalanced double quote)"
    return _fail(
        ReadProblem.PARSER_ERROR,
        f"The file is not a well-formed CSV{where}: {detail.rstrip('.')}.",
        line=line,
    )


def _parse(path: Path) -> pd.DataFrame | ReadResult:
    try:
        return pd.read_csv(path, engine="pyarrow", **_READ_OPTIONS)
    except Exception:  # noqa: BLE001 - whatever pyarrow dislikes, the C parser explains or accepts
        pass
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops the surplus) when the first data row is longer than the
            # header; a later long row raises a ParserError naming its line.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, engine="c", index_col=False, **_READ_OPTIONS)
    except pd.errors.EmptyDataError:
        return _fail(ReadProblem.EMPTY_FILE, "The file has no header row (it holds only blank lines).")
    except pd.errors.ParserWarning:
        return _fail(
            ReadProblem.PARSER_ERROR,
            "The file is not a well-formed CSV on line 2: the first row has more fields than the "
            "header (a trailing delimiter or a shifted column?).",
            line=2,
        )
    except Exception as exc:  # noqa: BLE001 - bad input must become a reason, never an exception
        return _parser_failure(str(exc) or type(exc).__name__)


def read_incident_csv(path: str | os.PathLike[str]) -> ReadResult:
    """Read an incident batch with every column as text, or explain why it cannot be read.

    Never raises because of the file's content (or absence): problems come back as
    ``reason_code`` + ``reason``. Header names are stripped of surrounding blanks.
    """
    path = Path(path)
    try:
        problem = _scan(path)
        if problem is not None:
            return problem
        delimiter = _other_delimiter(_header_line(path))
    except OSError as exc:
        return _fail(ReadProblem.UNREADABLE, f"The file cannot be read: {exc.strerror or exc}.")
    if delimiter is not None:
        return _fail(
            ReadProblem.WRONG_DELIMITER,
            f"The file is separated by {_OTHER_DELIMITERS[delimiter]}, not commas.",
            line=1,
        )
    parsed = _parse(path)
    if isinstance(parsed, ReadResult):
        return parsed
    frame = parsed
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame.columns) == 1 and (delimiter := _other_delimiter(frame.columns[0])):
        return _fail(
            ReadProblem.WRONG_DELIMITER,
            f"The file is separated by {_OTHER_DELIMITERS[delimiter]}, not commas.",
            line=1,
        )
    if len(frame) == 0:
        return _fail(ReadProblem.HEADER_ONLY, "The file has a header but no data rows.", line=2)
    if not set(frame.columns) & set(schema.COLUMN_NAMES):
        shown = ", ".join(repr(c) for c in list(frame.columns)[:5])
        return _fail(
            ReadProblem.NO_KNOWN_COLUMNS,
            f"None of the header names is an incident column (header starts {shown}); "
            "is the header row missing?",
            line=1,
        )
    return ReadResult(frame=frame)
