r"""Ingestion: every raw batch validated once, routed to good/bad, counted and reported — exactly once.

Folders (inside ``DATA_DIR``)::

    raw_data/<name> --rename--> processing/<claim id>__<name> --> good_data/<out>: valid rows
                                      |                       \-> bad_data/<out>: bad rows + _row, _errors
                                      |                           (unreadable: whole file + <out>.reason.txt)
                                      \-- content seen before --> archived_data/<name>

``<out>`` is the source name, or ``<stem>__<sha256[:8]><suffix>`` when that name is taken.

Which files: every regular, non-hidden file of ``raw_data/`` older than
``INGEST_SETTLE_SECONDS`` (a copy in progress is left alone). Hidden files (``.*``: temporary
files of atomic writers) and the corruptor's ground-truth records (``*.injected.csv``) are not
data and are left where they are, untouched: the ground truth belongs to whoever corrupted the
batch (tests compare against it), and moving it would only hide it.

Exactly once, crash-safe. Each step is idempotent and the ledger (``ingested_files``) says
how far a claim got:

1. **Claim**: ``os.rename`` into ``processing/`` (atomic: two runs never claim one file).
2. **Register**: hash the content; one transaction inserts the ledger row (state ``claimed``,
   output name reserved). ``content_key`` is unique, so a content already owned by a done,
   quarantined or live claim makes this claim a ``duplicate``: archived, not counted again.
3. **Validate** once (``read_incident_csv`` + ``validate_frame``, Data Docs written).
4. **Write outputs** atomically (temp file + fsync + ``os.replace``), overwriting a crashed
   attempt's; the good rows' actual durations go to ``incident_outcomes`` (idempotent), where
   monitoring matches them with predictions (realised error).
5. **Record**, in ONE transaction: the ``ingestion_stats`` row (only if the ledger row has none:
   a conditional update keyed by the content's ledger row), counts, state ``done`` or
   ``quarantined``.
6. **Alert** (medium/high criticality), then mark ``alerted_at``.
7. **Delete** the claimed file.

Recovery runs first in every run, under the run lock: a file left in ``processing/`` is finished
from wherever its ledger row says it stopped (a ``done`` row: alert if still owed, delete the
claim; otherwise redo 3-7, which never inserts a second stats row). A kill between 6 and its
mark may repeat an alert (at-least-once); nothing else can repeat or get lost.

Environment failures (disk full, unwritable folder, database down) roll the claim back: the
partial outputs of this claim are removed, the ledger row becomes ``released`` and the file is
renamed back into ``raw_data/`` to be retried by the next run, which stops there. Content
problems never stop a run: unreadable files are quarantined with their reason, and an
unexpected error while validating one file quarantines that file (reason ``internal_error``;
``outagecast requeue`` brings it back once fixed).

One run at a time: ``job_lock`` (flock in ``DATA_DIR``, plus an advisory lock on PostgreSQL).
Airflow splits the steps over tasks (``dag_*`` functions): a claim made by a DAG run carries a
lease (``INGEST_LEASE_SECONDS``) that recovery respects, and the tasks pass only claim ids and
small summaries; the validation verdict travels through sidecar files in ``processing/``.

Great Expectations is imported on the first validation only, never when this module loads.
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import hashlib
import io
import json
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote

from sqlalchemy.exc import SQLAlchemyError

from outagecast.pipelines.locking import job_lock
from outagecast.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from sqlalchemy.orm import Session, sessionmaker

    from outagecast.db.models import IngestedFile

log = logging.getLogger(__name__)

JOB_NAME: Final = "ingest"
ALERT_KIND: Final = "ingestion"
PROCESSING_DIR: Final = "processing"
CLAIM_SEPARATOR: Final = "__"
CLAIM_ID_LENGTH: Final = 16
GROUND_TRUTH_SUFFIX: Final = ".injected.csv"
REASON_SUFFIX: Final = ".reason.txt"
ROW_COLUMN: Final = "_row"  # bad_data only: 0-based data row of the source file
ERRORS_COLUMN: Final = "_errors"  # bad_data only: the broken rules, "rule;rule"
ANNOTATION_COLUMNS: Final = (ROW_COLUMN, ERRORS_COLUMN)
DATA_DOCS_URL_PREFIX: Final = "/data-docs/"
ALERT_CRITICALITIES: Final = ("medium", "high")
UNREADABLE_ERROR_TYPE: Final = "unreadable_file"
INTERNAL_ERROR: Final = "internal_error"
STALE_TEMP_SECONDS: Final = 3600.0
_HASH_CHUNK: Final = 1 << 22

FileState = Literal["done", "quarantined", "duplicate", "released"]


class ClaimLost(RuntimeError):
    """An Airflow task's claim expired and another run took the file over."""


# ---------------------------------------------------------------- folders and small file helpers


@dataclass(frozen=True, slots=True)
class Folders:
    """The data folders one ingestion works on."""

    root: Path
    raw: Path
    processing: Path
    good: Path
    bad: Path
    archived: Path

    @classmethod
    def of(cls, settings: Settings) -> Folders:
        root = settings.data_path
        return cls(
            root=root,
            raw=settings.folder("raw_data"),
            processing=root / PROCESSING_DIR,
            good=settings.folder("good_data"),
            bad=settings.folder("bad_data"),
            archived=settings.folder("archived_data"),
        )

    def ensure(self) -> None:
        """Create the folders and prove each writable (a probe file: as root, permissions prove nothing).

        Raises:
            OSError: a folder cannot be created or written.
        """
        for folder in (self.raw, self.processing, self.good, self.bad, self.archived):
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".probe.{uuid.uuid4().hex[:8]}.tmp"
            probe.write_bytes(b"")
            probe.unlink()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A hidden temp path beside ``path``; on success it is fsynced and renamed onto ``path``.

    fsync before the rename (and of the folder after it): the ledger commit that follows says
    the outputs exist, so they must be on disk before it, even across a power cut.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_atomic(source: Path, target: Path) -> None:
    with _atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def _write_text_atomic(target: Path, content: str) -> None:
    with _atomic_path(target) as tmp:
        tmp.write_text(content, encoding="utf-8")


def _move_no_clobber(source: Path, folder: Path, name: str) -> Path:
    """Move ``source`` into ``folder`` as ``name`` (``<stem>__2<suffix>``... if taken); never overwrites.

    A hard link fails atomically when the target exists, so a file arriving at that moment
    under the same name is never replaced; where links are unsupported, a checked rename.
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 10_000):
        target = folder / (name if n == 1 else f"{stem}{CLAIM_SEPARATOR}{n}{suffix}")
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if target.exists():
                continue
            os.rename(source, target)
            return target
        source.unlink()
        return target
    raise FileExistsError(f"no free name for {name} in {folder}")


def _fingerprint(path: Path) -> tuple[str, int, bool]:
    """(sha256, size, whether the bytes hold a double quote), in one streaming pass."""
    digest = hashlib.sha256()
    size = 0
    quoted = False
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            quoted = quoted or b'"' in chunk
    return digest.hexdigest(), size, quoted


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_claim_id() -> str:
    return uuid.uuid4().hex[:CLAIM_ID_LENGTH]


# ---------------------------------------------------------------- results


@dataclass(slots=True)
class FileOutcome:
    """What one run did with one file."""

    filename: str
    claim_id: str
    state: FileState
    total_rows: int | None = None
    valid_rows: int | None = None
    invalid_rows: int | None = None
    criticality: str | None = None
    error_types: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    good_path: str | None = None
    bad_path: str | None = None
    archived_path: str | None = None
    ingestion_stat_id: int | None = None
    data_docs_url: str | None = None
    alert: str | None = None  # sent / failed / logged / suppressed, when one was due
    recovered: bool = False  # finished for a run that crashed
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def line(self) -> str:
        """One human-readable line for the CLI."""
        if self.state == "duplicate":
            return f"{self.filename}: duplicate, not counted again -> {self.archived_path} ({self.reason})"
        if self.state == "released":
            return f"{self.filename}: not finished, retried by the next run: {self.reason}"
        if self.state == "quarantined":
            return f"{self.filename}: quarantined -> {self.bad_path} ({self.reason})"
        errors = ", ".join(f"{k}={v}" for k, v in self.error_types.items()) or "no errors"
        note = " [recovered]" if self.recovered else ""
        return (
            f"{self.filename}: {self.total_rows} rows, {self.valid_rows} good, {self.invalid_rows} bad, "
            f"criticality {self.criticality} ({errors}){note}"
        )


@dataclass(slots=True)
class IngestRunResult:
    """What one ingestion run did."""

    status: Literal["ok", "error", "busy"] = "ok"
    files: list[FileOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=_utcnow)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0: every file handled (quarantined or not); 1: could not run or stopped; 75: another run busy."""
        return {"ok": 0, "error": 1, "busy": 75}[self.status]

    def fail(self, message: str) -> IngestRunResult:
        self.status = "error"
        self.errors.append(message)
        log.error("ingestion: %s", message)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "errors": list(self.errors),
            "files": [f.as_dict() for f in self.files],
        }


# ---------------------------------------------------------------- validation summary and verdict


@dataclass(slots=True)
class Summary:
    """The small, JSON-able result of validating one claimed file (an Airflow XCom value)."""

    claim_id: str
    ledger_id: int
    filename: str
    output_name: str
    sha256: str
    unreadable: bool  # True: the whole file is quarantined (reason_code/reason say why)
    total_rows: int
    valid_rows: int
    invalid_rows: int
    criticality: str
    error_types: dict[str, int]
    rule_counts: dict[str, int] = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)
    reason_code: str | None = None
    reason: str | None = None
    data_docs_url: str | None = None
    quoted: bool = True  # the source holds a '"': outputs quote text cells (else none needs it)
    annotations_stripped: bool = False  # the source carried our _row/_errors columns (a requeue)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        return cls(**data)


@dataclass(slots=True)
class _Validated:
    summary: Summary
    frame: pd.DataFrame | None = None  # None for unreadable files
    bad_rows: np.ndarray | None = None  # positions of the bad rows, ascending
    bad_errors: np.ndarray | None = None  # "rule;rule" for each of bad_rows


# ---------------------------------------------------------------- ledger access


@dataclass(frozen=True, slots=True)
class Claim:
    """A file renamed into ``processing/``."""

    claim_id: str
    filename: str
    path: Path

    @classmethod
    def parse(cls, path: Path) -> Claim | None:
        claim_id, sep, filename = path.name.partition(CLAIM_SEPARATOR)
        if not sep or not filename or len(claim_id) != CLAIM_ID_LENGTH:
            return None
        try:
            int(claim_id, 16)
        except ValueError:
            return None
        return cls(claim_id, filename, path)

    def as_dict(self) -> dict[str, str]:
        return {"claim_id": self.claim_id, "filename": self.filename, "path": str(self.path)}


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger row, detached from its session."""

    id: int
    claim_id: str
    filename: str
    content_sha256: str
    state: str
    output_name: str | None
    lease_expires_at: datetime | None
    total_rows: int | None
    valid_rows: int | None
    invalid_rows: int | None
    criticality: str | None
    ingestion_stat_id: int | None
    outputs_written_at: datetime | None
    alerted_at: datetime | None
    reason: str | None

    @classmethod
    def of(cls, row: IngestedFile) -> Entry:
        return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})

    @property
    def alert_due(self) -> bool:
        return self.criticality in ALERT_CRITICALITIES and self.alerted_at is None


@dataclass(slots=True)
class _Ctx:
    settings: Settings
    folders: Folders
    session_factory: sessionmaker[Session]
    lease: bool = False  # claims carry a lease (Airflow tasks) instead of relying on the run lock

    def lease_until(self) -> datetime | None:
        return _utcnow() + timedelta(seconds=self.settings.ingest_lease_seconds) if self.lease else None


def _entry(ctx: _Ctx, *, claim_id: str | None = None, ledger_id: int | None = None) -> Entry | None:
    from outagecast.db import repository

    with ctx.session_factory() as session:
        row = repository.get_ingested_file(session, claim_id=claim_id, ledger_id=ledger_id)
        return Entry.of(row) if row is not None else None


def _output_name(session: Session, folders: Folders, filename: str, sha256: str) -> str:
    from outagecast.db import repository

    stem, suffix = Path(filename).stem, Path(filename).suffix
    candidates = [filename, f"{stem}{CLAIM_SEPARATOR}{sha256[:8]}{suffix}"]
    candidates += [f"{stem}{CLAIM_SEPARATOR}{sha256[:8]}-{n}{suffix}" for n in range(2, 1000)]
    for name in candidates:
        on_disk = (folders.good / name, folders.bad / name, folders.bad / (name + REASON_SUFFIX))
        if not any(p.exists() for p in on_disk) and not repository.output_name_in_use(session, name=name):
            return name
    raise FileExistsError(f"no free output name for {filename}")


def _is_stale(ctx: _Ctx, owner: IngestedFile) -> bool:
    # A claim's file stays in processing/ until its row is done, so a claimed row without its
    # file was left by a run that died while handing the file back to raw_data/ (or someone
    # removed it): the content arriving again takes the row over. Registration runs under the
    # run lock, so no claim is half-way between raw_data/ and processing/ meanwhile.
    claimed_path = ctx.folders.processing / f"{owner.claim_id}{CLAIM_SEPARATOR}{owner.filename}"
    return not claimed_path.exists()


def _register(
    ctx: _Ctx, claim: Claim
) -> tuple[Entry, Literal["new", "resume", "takeover", "duplicate"], bool]:
    """Find or create the ledger row of ``claim``; returns (entry, how, whether the file holds quotes)."""
    from outagecast.db import repository

    sha256, size, quoted = _fingerprint(claim.path)
    now = _utcnow()
    with ctx.session_factory() as session, session.begin():
        repository.serialize_writers(session, name="outagecast:ingest-ledger")
        row = repository.get_ingested_file(session, claim_id=claim.claim_id)
        if row is not None:
            return Entry.of(row), "resume", quoted
        owner = repository.content_owner(session, sha256=sha256)
        if owner is None:
            row = repository.insert_ingested_file(
                session,
                claim_id=claim.claim_id,
                filename=claim.filename,
                content_sha256=sha256,
                content_key=sha256,
                size_bytes=size,
                state="claimed",
                output_name=_output_name(session, ctx.folders, claim.filename, sha256),
                claimed_at=now,
                lease_expires_at=ctx.lease_until(),
            )
            return Entry.of(row), "new", quoted
        if owner.state == "claimed" and _is_stale(ctx, owner):
            # Keep its output name: a crashed attempt may have written there.
            repository.update_ingested_file(
                session,
                ledger_id=owner.id,
                claim_id=claim.claim_id,
                filename=claim.filename,
                claimed_at=now,
                lease_expires_at=ctx.lease_until(),
                reason=None,
            )
            row = repository.get_ingested_file(session, ledger_id=owner.id)
            assert row is not None
            return Entry.of(row), "takeover", quoted
        row = repository.insert_ingested_file(
            session,
            claim_id=claim.claim_id,
            filename=claim.filename,
            content_sha256=sha256,
            content_key=None,
            size_bytes=size,
            state="duplicate",
            claimed_at=now,
            finished_at=now,
            reason=f"duplicate file: same content as {owner.filename} (ledger #{owner.id}, {owner.state})",
        )
        return Entry.of(row), "duplicate", quoted


def _renew_lease(ctx: _Ctx, claim_id: str) -> Entry:
    """Extend a DAG claim's lease; raises ClaimLost when another run has taken the file over."""
    from outagecast.db import repository

    with ctx.session_factory() as session, session.begin():
        row = repository.get_ingested_file(session, claim_id=claim_id)
        if row is None:
            raise ClaimLost(f"claim {claim_id} is not in the ledger (taken over by another run?)")
        if row.state == "claimed":
            repository.update_ingested_file(
                session, ledger_id=row.id, where={"claim_id": claim_id}, lease_expires_at=ctx.lease_until()
            )
            row = repository.get_ingested_file(session, ledger_id=row.id)
            assert row is not None
        return Entry.of(row)


# ---------------------------------------------------------------- the steps


def _unreadable_summary(entry: Entry, code: str, reason: str, quoted: bool) -> Summary:
    from outagecast.validation import criticality

    return Summary(
        claim_id=entry.claim_id,
        ledger_id=entry.id,
        filename=entry.filename,
        output_name=entry.output_name or entry.filename,
        sha256=entry.content_sha256,
        unreadable=True,
        total_rows=0,
        valid_rows=0,
        invalid_rows=0,
        criticality=str(criticality(0, 0, schema_error=True)),
        error_types={UNREADABLE_ERROR_TYPE: 1},
        reason_code=code,
        reason=reason,
        quoted=quoted,
    )


def _read(path: Path) -> tuple[pd.DataFrame | None, Any, bool]:
    """(frame without our annotation columns, read result, whether annotations were stripped).

    Raises:
        OSError: the claimed file itself cannot be read (an environment problem, not its content).
    """
    from outagecast.validation import ReadProblem, read_incident_csv

    read = read_incident_csv(path)
    if not read.ok:
        if read.reason_code is ReadProblem.UNREADABLE:
            raise OSError(errno.EIO, read.reason or "unreadable", str(path))
        return None, read, False
    frame = read.frame
    stripped = [c for c in ANNOTATION_COLUMNS if c in frame.columns]
    if stripped:
        frame = frame.drop(columns=stripped)
    return frame, read, bool(stripped)


def _validate(ctx: _Ctx, claim: Claim, entry: Entry, quoted: bool) -> _Validated:
    """Read and validate the claimed file once; content problems become a quarantine summary."""
    import numpy as np

    from outagecast.validation import validate_frame

    frame, read, stripped = _read(claim.path)
    if frame is None:
        code, reason = str(read.reason_code), read.reason or "unreadable"
        return _Validated(_unreadable_summary(entry, code, reason, quoted))
    try:
        report = validate_frame(frame, data_docs_dir=ctx.settings.data_docs_path, batch_name=entry.filename)
    except (OSError, MemoryError, SQLAlchemyError):
        raise
    except Exception:
        # Data Docs are secondary (GX rebuilds the site index from files a killed run may have
        # cut short): a verdict without a page beats quarantining good data.
        log.exception("validating %s with Data Docs failed; validating without them", entry.filename)
        try:
            report = validate_frame(frame, batch_name=entry.filename)
        except (OSError, MemoryError, SQLAlchemyError):
            raise
        except Exception as exc:  # a bug met on this file's content: quarantine it, keep the run going
            log.exception("validation of %s failed unexpectedly; quarantining it", entry.filename)
            reason = f"Internal error while validating the file ({type(exc).__name__}: {exc})."
            return _Validated(_unreadable_summary(entry, INTERNAL_ERROR, reason, quoted))
    bad = np.flatnonzero(~report.valid_mask)
    errors = report.row_errors.reindex(frame.index[bad]).to_numpy(dtype=object)
    docs_url = DATA_DOCS_URL_PREFIX + quote(report.data_docs_path) if report.data_docs_path else None
    summary = Summary(
        claim_id=entry.claim_id,
        ledger_id=entry.id,
        filename=entry.filename,
        output_name=entry.output_name or entry.filename,
        sha256=entry.content_sha256,
        unreadable=False,
        total_rows=report.total_rows,
        valid_rows=report.valid_rows,
        invalid_rows=report.invalid_rows,
        criticality=str(report.criticality),
        error_types={str(k): int(v) for k, v in report.error_counts.items()},
        rule_counts=dict(report.rule_counts),
        schema_errors=list(report.schema_errors),
        data_docs_url=docs_url,
        quoted=quoted,
        annotations_stripped=stripped,
    )
    return _Validated(summary, frame=frame, bad_rows=bad, bad_errors=errors)


def _write_table(table: pa.Table, target: Path, *, quoted: bool) -> None:
    """Write ``table`` as CSV the way the dataset is written: header unquoted, cells quoted only if needed.

    pyarrow writes 1M rows in ~0.5 s where pandas' to_csv needs ~17 s. Its "needed" style quotes
    every text cell, so when the source holds no '"' at all (hence no cell that needs quoting)
    the "none" style is used, which reproduces the source's formatting.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.column_names)
    styles = ("needed",) if quoted else ("none", "needed")
    for style in styles:
        try:
            with _atomic_path(target) as tmp, open(tmp, "wb") as handle:
                handle.write(header.getvalue().encode("utf-8"))
                options = pa_csv.WriteOptions(include_header=False, quoting_style=style)
                pa_csv.write_csv(table, handle, write_options=options)
            return
        except pa.ArrowInvalid:  # "none" met a cell that needs quotes after all
            if style == styles[-1]:
                raise


def _output_paths(ctx: _Ctx, output_name: str) -> tuple[Path, Path, Path]:
    folders = ctx.folders
    return folders.good / output_name, folders.bad / output_name, folders.bad / (output_name + REASON_SUFFIX)


def _reason_text(summary: Summary) -> str:
    return (
        f"file: {summary.filename}\nreason_code: {summary.reason_code}\nreason: {summary.reason}\n"
        f"sha256: {summary.sha256}\n"
    )


def _write_outputs(ctx: _Ctx, claim: Claim, validated: _Validated) -> None:
    """Write the claim's good and bad files (overwriting a crashed attempt's) and remove stale ones.

    Every row of the source ends in exactly one of them; checked before anything is written.
    """
    import numpy as np
    import pyarrow as pa

    summary = validated.summary
    good, bad, reason = _output_paths(ctx, summary.output_name)
    if summary.unreadable:
        _copy_atomic(claim.path, bad)
        _write_text_atomic(reason, _reason_text(summary))
        good.unlink(missing_ok=True)
        return
    frame = validated.frame
    assert frame is not None and validated.bad_rows is not None and validated.bad_errors is not None
    bad_rows = validated.bad_rows
    if summary.valid_rows + len(bad_rows) != len(frame) or summary.invalid_rows != len(bad_rows):
        raise AssertionError(f"{summary.filename}: verdicts do not cover every row exactly once")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    keep = np.ones(len(frame), dtype=bool)
    keep[bad_rows] = False
    if len(bad_rows) == 0 and not summary.annotations_stripped:
        _copy_atomic(claim.path, good)  # untouched: byte for byte what was delivered
    elif summary.valid_rows:
        _write_table(table.filter(pa.array(keep)), good, quoted=summary.quoted)
    else:
        good.unlink(missing_ok=True)
    if summary.valid_rows:
        _record_outcomes(ctx, frame[keep], summary.filename)
    if len(bad_rows):
        bad_table = table.take(pa.array(bad_rows, type=pa.int64()))
        bad_table = bad_table.append_column(ROW_COLUMN, pa.array(bad_rows, type=pa.int64()))
        bad_table = bad_table.append_column(ERRORS_COLUMN, pa.array(validated.bad_errors, type=pa.string()))
        _write_table(bad_table, bad, quoted=summary.quoted)
    else:
        bad.unlink(missing_ok=True)
    reason.unlink(missing_ok=True)


def _record_outcomes(ctx: _Ctx, good: pd.DataFrame, filename: str) -> int:
    """The actual duration (end - start, hours) of every good row's incident into ``incident_outcomes``.

    Monitoring matches them with the predictions made for those incidents (realised error).
    Vectorised, one bulk insert; idempotent (an incident already recorded is kept), so a crashed
    attempt written again, or the same incident in a later file, neither fails nor duplicates.
    Rows without an id or an end time (an ongoing incident) are skipped.
    """
    import pandas as pd

    from outagecast import schema
    from outagecast.db import repository

    start_column, end_column = schema.OUTAGE_INTERVAL
    if not {schema.ID_COLUMN, start_column, end_column} <= set(good.columns):
        return 0
    start = pd.to_datetime(good[start_column], errors="coerce", format="ISO8601", utc=True)
    end = pd.to_datetime(good[end_column], errors="coerce", format="ISO8601", utc=True)
    hours = (end - start).dt.total_seconds() / 3600.0
    ids = good[schema.ID_COLUMN].astype("string").str.strip()
    usable = (ids.notna() & (ids != "") & hours.notna() & (hours >= 0)).to_numpy(dtype=bool)
    outcomes = pd.DataFrame(
        {"incident_id": ids[usable].astype(object), "actual_hours": hours[usable], "filename": filename}
    ).drop_duplicates("incident_id")
    if outcomes.empty:
        return 0
    # One plain datetime for the batch (all learnt now), so no default is evaluated row by row.
    outcomes["observed_at"] = pd.Series([_utcnow()] * len(outcomes), index=outcomes.index, dtype=object)
    with ctx.session_factory() as session, session.begin():
        return repository.insert_incident_outcomes(session, rows=outcomes.to_dict(orient="records"))


def _record(
    ctx: _Ctx, summary: Summary, *, statistics: bool, outputs_written: bool
) -> tuple[Entry, int | None]:
    """One transaction: counts on the ledger row, the stats row if asked and none exists, completion.

    The first statement updates the ledger row, which locks it (PostgreSQL row lock, SQLite
    write lock) until commit, so concurrent tasks on one claim run this one after the other.
    Returns the entry afterwards and the id of a stats row inserted now (None if none was).
    """
    from outagecast.db import repository

    now = _utcnow()
    values: dict[str, Any] = {
        "total_rows": summary.total_rows,
        "valid_rows": summary.valid_rows,
        "invalid_rows": summary.invalid_rows,
        "criticality": summary.criticality,
    }
    if outputs_written:
        values["outputs_written_at"] = now
    inserted = None
    with ctx.session_factory() as session, session.begin():
        repository.update_ingested_file(
            session, ledger_id=summary.ledger_id, where={"state": "claimed"}, **values
        )
        row = repository.get_ingested_file(session, ledger_id=summary.ledger_id)
        assert row is not None
        if statistics and row.state == "claimed" and row.ingestion_stat_id is None:
            inserted = repository.attach_ingestion_stat(
                session,
                ledger_id=row.id,
                values={
                    "filename": summary.filename,
                    "total_rows": summary.total_rows,
                    "valid_rows": summary.valid_rows,
                    "invalid_rows": summary.invalid_rows,
                    "criticality": summary.criticality,
                    "error_types": summary.error_types,
                    "data_docs_url": summary.data_docs_url,
                },
            )
            if inserted is None:  # pragma: no cover - we hold the row lock, so nobody else attached one
                raise RuntimeError(f"ledger row {row.id} got a stats row concurrently")
        final = "quarantined" if summary.unreadable else "done"
        if final == "quarantined":
            repository.update_ingested_file(
                session, ledger_id=row.id, where={"state": "claimed"}, reason=summary.reason
            )
        repository.complete_ingested_file(session, ledger_id=row.id, state=final, finished_at=now)
        row = repository.get_ingested_file(session, ledger_id=row.id)
        assert row is not None
        return Entry.of(row), inserted


def _public_url(ctx: _Ctx, path: str | None) -> str | None:
    if not path:
        return None
    base = (ctx.settings.public_api_url or ctx.settings.api_url).rstrip("/")
    return base + path


def _alert(ctx: _Ctx, summary: Summary) -> str | None:
    """Send the alert a medium/high file is owed (once: ``alerted_at``); returns its status."""
    from outagecast import alerts
    from outagecast.db import repository

    if summary.criticality not in ALERT_CRITICALITIES:
        return None
    entry = _entry(ctx, ledger_id=summary.ledger_id)
    if entry is None or entry.alerted_at is not None:
        return None
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(summary.error_types.items(), key=lambda kv: -kv[1]))
    facts: dict[str, Any] = {
        "File": summary.filename,
        "Criticality": summary.criticality,
        "Rows": summary.total_rows,
        "Valid rows": summary.valid_rows,
        "Invalid rows": summary.invalid_rows,
        "Errors": errors or "none",
    }
    if summary.schema_errors:
        facts["Missing columns"] = ", ".join(summary.schema_errors)
    if summary.unreadable:
        facts["Reason"] = summary.reason
        text = f"The file could not be read and was quarantined whole in bad_data/: {summary.reason}"
    else:
        share = summary.invalid_rows / summary.total_rows if summary.total_rows else 1.0
        text = f"{summary.invalid_rows} of {summary.total_rows} rows ({share:.0%}) failed validation."
    result = alerts.send_alert(
        ctx.settings,
        ALERT_KIND,
        f"OutageCast ingestion: {summary.filename} has {summary.criticality} criticality",
        facts,
        text,
        _public_url(ctx, summary.data_docs_url),
        level="critical" if summary.criticality == "high" else "warning",
        link_label="Open Data Docs",
        session_factory=ctx.session_factory,
    )
    with ctx.session_factory() as session, session.begin():
        repository.update_ingested_file(
            session, ledger_id=summary.ledger_id, where={"alerted_at": None}, alerted_at=_utcnow()
        )
    return result.status


def _sidecars(ctx: _Ctx, claim_id: str) -> tuple[Path, Path]:
    folder = ctx.folders.processing
    return folder / f".{claim_id}.summary.json", folder / f".{claim_id}.errors.parquet"


def _finish(ctx: _Ctx, claim: Claim) -> bool:
    """Delete the claimed file once its ledger row is complete and its alert handled."""
    entry = _entry(ctx, claim_id=claim.claim_id)
    if entry is None or entry.state not in ("done", "quarantined") or entry.alert_due:
        return False
    claim.path.unlink(missing_ok=True)
    for sidecar in _sidecars(ctx, claim.claim_id):
        sidecar.unlink(missing_ok=True)
    return True


def _outcome(claim: Claim, entry: Entry, summary: Summary | None, ctx: _Ctx, **extra: Any) -> FileOutcome:
    good, bad, _ = _output_paths(ctx, entry.output_name or claim.filename)
    state: FileState = "quarantined" if entry.state == "quarantined" else "done"
    return FileOutcome(
        filename=claim.filename,
        claim_id=claim.claim_id,
        state=state,
        total_rows=entry.total_rows,
        valid_rows=entry.valid_rows,
        invalid_rows=entry.invalid_rows,
        criticality=entry.criticality,
        error_types=dict(summary.error_types) if summary else {},
        reason=entry.reason,
        good_path=str(good) if good.exists() else None,
        bad_path=str(bad) if bad.exists() else None,
        ingestion_stat_id=entry.ingestion_stat_id,
        data_docs_url=summary.data_docs_url if summary else None,
        **extra,
    )


def _archive_duplicate(ctx: _Ctx, claim: Claim, entry: Entry) -> FileOutcome:
    target = _move_no_clobber(claim.path, ctx.folders.archived, claim.filename)
    log.warning("%s: %s; moved to %s", claim.filename, entry.reason, target)
    return FileOutcome(
        filename=claim.filename,
        claim_id=claim.claim_id,
        state="duplicate",
        reason=entry.reason,
        archived_path=str(target),
    )


def _release(ctx: _Ctx, claim: Claim, entry: Entry | None, error: BaseException) -> FileOutcome:
    """Roll a claim back after an environment failure: outputs removed, file back in raw_data/."""
    from outagecast.db import repository

    message = f"{type(error).__name__}: {error}"
    if entry is not None and entry.state != "claimed":
        # Already counted: only its alert or the clean-up failed. The claim stays in processing/
        # for the next run's recovery; handing it back would only make it a duplicate.
        log.error("%s: %s; left in processing/ for the next run to finish", claim.filename, message)
        return FileOutcome(filename=claim.filename, claim_id=claim.claim_id, state="released", reason=message)
    log.error("%s: %s; handing it back to raw_data/ for the next run", claim.filename, message)
    if entry is not None and entry.state == "claimed" and entry.output_name:
        for path in _output_paths(ctx, entry.output_name):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not remove partial output %s: %s", path, exc)
    if entry is not None:
        try:
            with ctx.session_factory() as session, session.begin():
                repository.update_ingested_file(
                    session,
                    ledger_id=entry.id,
                    where={"state": "claimed", "claim_id": claim.claim_id},
                    state="released",
                    content_key=None,
                    finished_at=_utcnow(),
                    lease_expires_at=None,
                    reason=f"released after an error: {message}"[:2000],
                )
        except SQLAlchemyError as exc:  # the next claim of this content takes the stale row over
            log.warning("could not mark claim %s released: %s", claim.claim_id, exc)
    try:
        _move_no_clobber(claim.path, ctx.folders.raw, claim.filename)
    except OSError as exc:  # it stays in processing/; the next run's recovery finishes it
        log.error("could not move %s back to raw_data/: %s", claim.path, exc)
    for sidecar in _sidecars(ctx, claim.claim_id):
        sidecar.unlink(missing_ok=True)
    return FileOutcome(filename=claim.filename, claim_id=claim.claim_id, state="released", reason=message)


def _ensure_outputs(ctx: _Ctx, claim: Claim, entry: Entry, quoted: bool) -> None:
    """For a claim already done: rewrite its outputs if one is missing (it was deleted since)."""
    good, bad, _ = _output_paths(ctx, entry.output_name or claim.filename)
    missing = (bool(entry.valid_rows) and not good.exists()) or (
        (bool(entry.invalid_rows) or entry.state == "quarantined") and not bad.exists()
    )
    if missing:
        log.warning("%s: outputs of a finished claim are missing; writing them again", claim.filename)
        _write_outputs(ctx, claim, _validate(ctx, claim, entry, quoted))


_ENVIRONMENT_ERRORS: Final = (OSError, MemoryError, SQLAlchemyError)


def _process(ctx: _Ctx, claim: Claim, *, recovered: bool) -> FileOutcome:
    """Take one claimed file through every remaining step; see the module docstring."""
    started = time.monotonic()
    entry: Entry | None = None
    quoted = True
    summary: Summary | None = None
    alert = None
    try:
        entry, how, quoted = _register(ctx, claim)
        if how == "duplicate" or entry.state == "duplicate":
            return _archive_duplicate(ctx, claim, entry)
        if entry.state == "released":  # crashed while handing it back: finish that
            target = _move_no_clobber(claim.path, ctx.folders.raw, claim.filename)
            reason = f"returned to {target} ({entry.reason})"
            return FileOutcome(claim.filename, claim.claim_id, "released", reason=reason, recovered=True)
        if entry.state == "claimed":
            validated = _validate(ctx, claim, entry, quoted)
            summary = validated.summary
            _write_outputs(ctx, claim, validated)
            entry, _ = _record(ctx, summary, statistics=True, outputs_written=True)
        else:  # done or quarantined by a run that died before deleting the claim
            _ensure_outputs(ctx, claim, entry, quoted)
            summary = _summary_of_entry(ctx, entry, quoted)
        if entry.alert_due:
            alert = _alert(ctx, summary)
        _finish(ctx, claim)
        entry = _entry(ctx, ledger_id=entry.id) or entry
    except _ENVIRONMENT_ERRORS as exc:
        return _release(ctx, claim, entry, exc)
    except Exception as exc:  # a bug met on this file: quarantine it rather than block every later run
        log.exception("unexpected error while ingesting %s", claim.filename)
        try:
            entry = _quarantine_after_bug(ctx, claim, quoted, exc)
        except Exception as inner:
            return _release(ctx, claim, entry, inner)
        if entry is None:
            return _release(ctx, claim, entry, exc)
    outcome = _outcome(claim, entry, summary, ctx, alert=alert, recovered=recovered)
    outcome.seconds = time.monotonic() - started
    log.info("ingested %s", outcome.line())
    return outcome


def _summary_of_entry(ctx: _Ctx, entry: Entry, quoted: bool) -> Summary:
    """The summary of a claim finished by an earlier run, rebuilt from its ledger and stats rows."""
    from outagecast.db import repository

    error_types: dict[str, int] = {}
    docs_url = None
    if entry.ingestion_stat_id is not None:
        with ctx.session_factory() as session:
            record = repository.get_ingestion_record(session, stat_id=entry.ingestion_stat_id)
            if record is not None:
                error_types = {str(k): int(v) for k, v in (record[0].error_types or {}).items()}
                docs_url = record[0].data_docs_url
    return Summary(
        claim_id=entry.claim_id,
        ledger_id=entry.id,
        filename=entry.filename,
        output_name=entry.output_name or entry.filename,
        sha256=entry.content_sha256,
        unreadable=entry.state == "quarantined",
        total_rows=entry.total_rows or 0,
        valid_rows=entry.valid_rows or 0,
        invalid_rows=entry.invalid_rows or 0,
        criticality=entry.criticality or "high",
        error_types=error_types,
        reason=entry.reason,
        data_docs_url=docs_url,
        quoted=quoted,
    )


def _quarantine_after_bug(ctx: _Ctx, claim: Claim, quoted: bool, error: Exception) -> Entry | None:
    """Quarantine a claim whose processing hit an unexpected error, so it cannot block later files.

    Only while the claim is still open: a finished claim's outputs are never rewritten.
    """
    entry = _entry(ctx, claim_id=claim.claim_id)
    if entry is None or entry.state != "claimed":
        return entry
    reason = f"Internal error while processing the file ({type(error).__name__}: {error})."
    summary = _unreadable_summary(entry, INTERNAL_ERROR, reason, quoted)
    _write_outputs(ctx, claim, _Validated(summary))
    entry, _ = _record(ctx, summary, statistics=True, outputs_written=True)
    if entry.alert_due:
        _alert(ctx, summary)
    _finish(ctx, claim)
    return _entry(ctx, ledger_id=entry.id) or entry


# ---------------------------------------------------------------- discovery, claiming, recovery


def pending_files(settings: Settings, folders: Folders | None = None) -> list[Path]:
    """The files of ``raw_data/`` a run would claim now, oldest first (see the module docstring)."""
    folders = folders or Folders.of(settings)
    now = time.time()
    found: list[tuple[float, str, Path]] = []
    try:
        entries = list(os.scandir(folders.raw))
    except FileNotFoundError:
        return []
    for item in entries:
        if item.name.startswith(".") or item.name.endswith(GROUND_TRUTH_SUFFIX):
            continue
        try:
            info = item.stat(follow_symlinks=False)
        except FileNotFoundError:  # claimed by someone else meanwhile
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        if now - info.st_mtime < settings.ingest_settle_seconds:
            log.debug("%s is still being written (modified %.1f s ago)", item.name, now - info.st_mtime)
            continue
        found.append((info.st_mtime, item.name, Path(item.path)))
    return [path for _, _, path in sorted(found)]


def claim_file(folders: Folders, path: Path) -> Claim | None:
    """Rename ``path`` into ``processing/``; None when another run claimed it first."""
    claim_id = _new_claim_id()
    target = folders.processing / f"{claim_id}{CLAIM_SEPARATOR}{path.name}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        # The claim prefix makes the name too long: leave the file, it would fail every run.
        log.error("%s: name too long to claim (rename the file): %s", path.name, exc)
        return None
    return Claim(claim_id, path.name, target)


def _remove_stale_temp_files(folders: Folders) -> None:
    # Atomic writers' temp files survive a kill -9; after an hour none can still be in use.
    cutoff = time.time() - STALE_TEMP_SECONDS
    for folder in (folders.good, folders.bad, folders.archived, folders.raw, folders.processing):
        for path in folder.glob(".*.tmp"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue


def recover(ctx: _Ctx) -> list[FileOutcome]:
    """Finish what crashed runs left in ``processing/`` (claims under a live lease excepted).

    Must run under the run lock. Stops at the first environment failure (the claim is handed
    back to ``raw_data/``) and says so with a ``released`` outcome.
    """
    outcomes: list[FileOutcome] = []
    now = _utcnow()
    for path in sorted(ctx.folders.processing.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        claim = Claim.parse(path)
        if claim is None:
            log.warning("%s is not a claim of this job; leaving it alone", path)
            continue
        entry = _entry(ctx, claim_id=claim.claim_id)
        if (
            entry is not None
            and entry.state == "claimed"
            and entry.lease_expires_at is not None
            and entry.lease_expires_at > now
        ):
            log.debug(
                "%s is being processed by an Airflow run (lease until %s)", path.name, entry.lease_expires_at
            )
            continue
        log.warning("recovering %s, left in processing/ by a run that stopped", path.name)
        outcome = _process(ctx, claim, recovered=True)
        outcomes.append(outcome)
        if outcome.state == "released" and not outcome.recovered:
            break  # an environment failure: stop, the next run tries again
    live = {p.name.partition(CLAIM_SEPARATOR)[0] for p in ctx.folders.processing.iterdir()}
    for sidecar in ctx.folders.processing.glob(".*.summary.json"):
        if sidecar.name[1:].partition(".")[0] not in live:
            sidecar.unlink(missing_ok=True)
    for sidecar in ctx.folders.processing.glob(".*.errors.parquet"):
        if sidecar.name[1:].partition(".")[0] not in live:
            sidecar.unlink(missing_ok=True)
    _remove_stale_temp_files(ctx.folders)
    return outcomes


# ---------------------------------------------------------------- one run (CLI, embedded scheduler)


@contextmanager
def _open_context(
    settings: Settings, session_factory: sessionmaker[Session] | None, *, lease: bool = False
) -> Iterator[_Ctx]:
    """Folders checked, database migrated and connected; raises OSError / SQLAlchemyError otherwise."""
    folders = Folders.of(settings)
    folders.ensure()
    engine = None
    if session_factory is None:
        from outagecast.db.migrate import upgrade_to_head
        from outagecast.db.session import make_engine, make_session_factory

        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        session_factory = make_session_factory(engine)
    try:
        yield _Ctx(settings=settings, folders=folders, session_factory=session_factory, lease=lease)
    finally:
        if engine is not None:
            engine.dispose()


def _engine_of(ctx: _Ctx) -> Any:
    return ctx.session_factory.kw.get("bind")


def ingest_once(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    limit: int | None = None,
    lock_timeout: float = 0.0,
    should_stop: Callable[[], bool] | None = None,
) -> IngestRunResult:
    """Process every file in ``raw_data/`` now (after finishing what crashed runs left).

    Args:
        settings: where the data folders and the database are.
        session_factory: sessions on a migrated database (default: made from DATABASE_URL,
            migrated first, disposed of at the end).
        limit: claim at most this many new files (recovered claims are always finished).
        lock_timeout: seconds to wait when another run holds the lock (then status ``busy``).
        should_stop: polled between files; True stops the run cleanly (scheduler shutdown).

    Returns:
        The per-file outcomes; ``status`` is ``error`` when the run could not start or an
        environment failure stopped it (the file is back in ``raw_data/``), else ``ok``/``busy``.
    """
    result = IngestRunResult()
    started = time.monotonic()
    try:
        with _open_context(settings, session_factory) as ctx:
            with job_lock(
                JOB_NAME, lock_dir=ctx.folders.root, engine=_engine_of(ctx), timeout=lock_timeout
            ) as held:
                if not held:
                    result.status = "busy"
                    log.info("another ingestion run is in progress; nothing done")
                    return result
                _run(ctx, result, limit=limit, should_stop=should_stop)
            if result.status == "ok":
                from outagecast import alerts

                alerts.flush_suppressed(settings, ALERT_KIND, session_factory=ctx.session_factory)
    except OSError as exc:
        result.fail(f"data folders unusable: {exc}")
    except SQLAlchemyError as exc:
        result.fail(f"database unavailable: {exc}")
    finally:
        result.seconds = time.monotonic() - started
    return result


def _run(
    ctx: _Ctx, result: IngestRunResult, *, limit: int | None, should_stop: Callable[[], bool] | None
) -> None:
    outcomes = recover(ctx)
    result.files.extend(outcomes)
    if outcomes and outcomes[-1].state == "released" and not outcomes[-1].recovered:
        result.fail(f"stopped while recovering: {outcomes[-1].reason}")
        return
    claimed = 0
    for path in pending_files(ctx.settings, ctx.folders):
        if limit is not None and claimed >= limit:
            break
        if should_stop is not None and should_stop():
            log.info("ingestion asked to stop; the remaining files wait for the next run")
            break
        claim = claim_file(ctx.folders, path)
        if claim is None:
            continue
        claimed += 1
        outcome = _process(ctx, claim, recovered=False)
        result.files.append(outcome)
        if outcome.state == "released":
            result.fail(f"{claim.filename}: {outcome.reason}; stopped, files are retried next run")
            return


def run_scheduled(settings: Settings, *, should_stop: Callable[[], bool] | None = None) -> IngestRunResult:
    """The scheduled job (embedded scheduler): one run, skipped quietly if another is in progress."""
    result = ingest_once(settings, should_stop=should_stop)
    if result.files or result.status != "ok":
        log.info(
            "ingestion run: %s, %d file(s) in %.1f s%s",
            result.status,
            len(result.files),
            result.seconds,
            f"; errors: {result.errors}" if result.errors else "",
        )
    return result


# ---------------------------------------------------------------- requeue


def requeue(settings: Settings, name: str | Path) -> Path:
    """Send a quarantined file (from ``bad_data/`` or ``archived_data/``) back to ``raw_data/``.

    The file is moved as it is: our ``_row``/``_errors`` columns are dropped when it is read
    again, and its reason sidecar is removed. Its content differs from what was counted (or
    was fixed), so it is ingested anew; an unchanged duplicate is recognised as one again.

    Raises:
        FileNotFoundError: no such file in ``bad_data/`` or ``archived_data/``.
    """
    folders = Folders.of(settings)
    path = Path(name)
    candidates = (
        [path]
        if path.is_absolute() or path.parent != Path(".")
        else [folders.bad / path.name, folders.archived / path.name]
    )
    allowed = (folders.bad.resolve(), folders.archived.resolve())
    for candidate in candidates:
        if candidate.is_file() and candidate.resolve().parent in allowed:
            folders.raw.mkdir(parents=True, exist_ok=True)
            target = _move_no_clobber(candidate, folders.raw, candidate.name)
            (candidate.parent / (candidate.name + REASON_SUFFIX)).unlink(missing_ok=True)
            log.info("requeued %s as %s", candidate, target)
            return target
    raise FileNotFoundError(f"{name}: not a file in {folders.bad} or {folders.archived}")


# ---------------------------------------------------------------- Airflow steps (dags/ingestion_dag.py)


def dag_read(settings: Settings, *, lock_timeout: float = 300.0) -> list[dict[str, str]]:
    """Task ``read``: recover what crashed runs left, then claim up to ``INGEST_DAG_MAX_FILES`` files.

    Duplicates are archived here and not returned. Returns small claim descriptions (XCom).
    """
    with (
        _open_context(settings, None, lease=True) as ctx,
        job_lock(JOB_NAME, lock_dir=ctx.folders.root, engine=_engine_of(ctx), timeout=lock_timeout) as held,
    ):
        if not held:
            log.info("another ingestion run holds the lock; this DAG run claims nothing")
            return []
        for outcome in recover(ctx):
            if outcome.state == "released" and not outcome.recovered:
                raise RuntimeError(f"recovery stopped: {outcome.reason}")
        claims: list[dict[str, str]] = []
        for path in pending_files(settings, ctx.folders)[: settings.ingest_dag_max_files]:
            claim = claim_file(ctx.folders, path)
            if claim is None:
                continue
            entry = None
            try:
                entry, how, _ = _register(ctx, claim)
                if how == "duplicate":
                    _archive_duplicate(ctx, claim, entry)
                    continue
            except _ENVIRONMENT_ERRORS as exc:
                _release(ctx, claim, entry, exc)
                raise
            claims.append(claim.as_dict())
        return claims


def _claim_of(data: dict[str, Any]) -> Claim:
    return Claim(data["claim_id"], data["filename"], Path(data["path"]))


def dag_validate(settings: Settings, claim: dict[str, str]) -> dict[str, Any]:
    """Task ``validate``: read and validate the claimed file once; returns the summary (XCom).

    The per-row verdict goes to a sidecar (``processing/.<claim>.errors.parquet``) for
    ``split_and_save``; a retried task returns the summary it already wrote.
    """
    import pandas as pd

    with _open_context(settings, None, lease=True) as ctx:
        parsed = _claim_of(claim)
        entry = _renew_lease(ctx, parsed.claim_id)
        if entry.state != "claimed":  # finished meanwhile by another run's recovery: nothing to do
            return _summary_of_entry(ctx, entry, quoted=True).as_dict()
        summary_path, errors_path = _sidecars(ctx, parsed.claim_id)
        if summary_path.exists():
            return json.loads(summary_path.read_text(encoding="utf-8"))
        _, _, quoted = _fingerprint(parsed.path)
        validated = _validate(ctx, parsed, entry, quoted)
        if validated.bad_rows is not None:
            verdict = pd.DataFrame({ROW_COLUMN: validated.bad_rows, ERRORS_COLUMN: validated.bad_errors})
            with _atomic_path(errors_path) as tmp:
                verdict.to_parquet(tmp, index=False)
        _write_text_atomic(summary_path, json.dumps(validated.summary.as_dict()))
        return validated.summary.as_dict()


def _load_validated(ctx: _Ctx, claim: Claim, summary: Summary) -> _Validated:
    import numpy as np
    import pandas as pd

    if summary.unreadable:
        return _Validated(summary)
    frame, _, _ = _read(claim.path)
    if frame is None:  # pragma: no cover - validate read the same bytes a moment ago
        raise RuntimeError(f"{claim.path} could not be read again")
    _, errors_path = _sidecars(ctx, claim.claim_id)
    verdict = pd.read_parquet(errors_path)
    return _Validated(
        summary,
        frame=frame,
        bad_rows=verdict[ROW_COLUMN].to_numpy(dtype=np.int64),
        bad_errors=verdict[ERRORS_COLUMN].to_numpy(dtype=object),
    )


def _dag_step(
    settings: Settings, summary_data: dict[str, Any], step: Callable[[_Ctx, Claim, Summary], Any]
) -> Any:
    summary = Summary.from_dict(summary_data)
    with _open_context(settings, None, lease=True) as ctx:
        claim = Claim(
            summary.claim_id,
            summary.filename,
            ctx.folders.processing / f"{summary.claim_id}{CLAIM_SEPARATOR}{summary.filename}",
        )
        entry = _renew_lease(ctx, claim.claim_id)
        value = step(ctx, claim, summary) if entry.state == "claimed" or entry.alert_due else None
        _finish(ctx, claim)
        return value


def dag_save_statistics(settings: Settings, summary: dict[str, Any]) -> int | None:
    """Task ``save_statistics``: the ``ingestion_stats`` row (once per content); returns its id."""

    def step(ctx: _Ctx, claim: Claim, s: Summary) -> int | None:
        entry, _ = _record(ctx, s, statistics=True, outputs_written=False)
        return entry.ingestion_stat_id

    return _dag_step(settings, summary, step)


def dag_send_alerts(settings: Settings, summary: dict[str, Any]) -> str | None:
    """Task ``send_alerts``: the alert of a medium/high file (once); returns its status."""
    return _dag_step(settings, summary, lambda ctx, claim, s: _alert(ctx, s))


def dag_split_and_save(settings: Settings, summary: dict[str, Any]) -> dict[str, str | None]:
    """Task ``split_and_save``: good rows to good_data/, bad rows (with reasons) to bad_data/."""

    def step(ctx: _Ctx, claim: Claim, s: Summary) -> dict[str, str | None]:
        _write_outputs(ctx, claim, _load_validated(ctx, claim, s))
        _record(ctx, s, statistics=False, outputs_written=True)
        good, bad, _ = _output_paths(ctx, s.output_name)
        return {"good": str(good) if good.exists() else None, "bad": str(bad) if bad.exists() else None}

    return _dag_step(settings, summary, step)
