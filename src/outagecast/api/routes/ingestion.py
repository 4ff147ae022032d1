"""``GET /ingestion-stats`` and ``GET /ingestion-stats/{id}/bad-rows``: what ingestion made of each file.

The bad rows are read from ``bad_data/`` (the first ``limit`` only), where the ingestion job
wrote them with their broken rules; the API shares the data folder with the jobs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, status
from fastapi import Path as PathParam

from outagecast.api.deps import SessionDep, SettingsDep
from outagecast.api.schemas import BadRowsOut, IngestionStatOut, IngestionStatsFilters
from outagecast.db import repository
from outagecast.db.models import IngestedFile, IngestionStat

router = APIRouter(tags=["ingestion"])

# The columns the ingestion job adds to bad_data files (outagecast.pipelines.ingest); not
# imported from there, which would load the pipeline's dependencies into the API.
ROW_COLUMN: Final = "_row"
ERRORS_COLUMN: Final = "_errors"
REASON_SUFFIX: Final = ".reason.txt"


def _stat_out(stat: IngestionStat, ledger: IngestedFile | None) -> dict[str, Any]:
    state = ledger.state if ledger is not None and ledger.state in ("done", "quarantined") else None
    has_bad = state == "quarantined" or stat.invalid_rows > 0
    return {
        "id": stat.id,
        "timestamp": stat.timestamp,
        "filename": stat.filename,
        "total_rows": stat.total_rows,
        "valid_rows": stat.valid_rows,
        "invalid_rows": stat.invalid_rows,
        "criticality": stat.criticality,
        "error_types": stat.error_types or {},
        "data_docs_url": stat.data_docs_url,
        "state": state,
        "reason": ledger.reason if state == "quarantined" and ledger is not None else None,
        "bad_rows_url": f"/ingestion-stats/{stat.id}/bad-rows" if has_bad and ledger is not None else None,
    }


@router.get("/ingestion-stats", response_model=list[IngestionStatOut])
def list_ingestion_stats(
    session: SessionDep, filters: Annotated[IngestionStatsFilters, Query()]
) -> list[dict[str, Any]]:
    """Ingested files, newest first; `end_date` is inclusive, `limit` at most 500."""
    records = repository.list_ingestion_records(session, **filters.model_dump())
    return [_stat_out(stat, ledger) for stat, ledger in records]


def _read_bad_rows(path: Path, limit: int) -> pd.DataFrame:
    # Text as written, only empty cells missing (as the ingestion reader does: "None" is a category).
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], nrows=limit)


@router.get(
    "/ingestion-stats/{stat_id}/bad-rows",
    response_model=BadRowsOut,
    responses={404: {"description": "No such ingestion, or its bad rows are gone (requeued or deleted)"}},
)
def list_bad_rows(
    stat_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)],  # a bigint column: larger ids cannot exist
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many rows.")] = 100,
) -> dict[str, Any]:
    """The rejected rows of one ingested file with the rules each broke (or why the file was rejected)."""
    record = repository.get_ingestion_record(session, stat_id=stat_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No ingestion with id {stat_id}")
    stat, ledger = record
    if ledger is None or ledger.state not in ("done", "quarantined") or not ledger.output_name:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="No bad-rows file is recorded for this ingestion"
        )
    body: dict[str, Any] = {
        "id": stat.id,
        "filename": stat.filename,
        "state": ledger.state,
        "reason": ledger.reason if ledger.state == "quarantined" else None,
        "invalid_rows": stat.invalid_rows,
        "returned": 0,
        "columns": [],
        "rows": [],
    }
    if ledger.state == "done" and stat.invalid_rows == 0:
        return body
    path = settings.folder("bad_data") / ledger.output_name
    if not path.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="The bad rows of this file are gone (requeued or deleted)"
        )
    if ledger.state == "quarantined":
        return body  # the file is not a readable CSV: its reason is all there is to show
    frame = _read_bad_rows(path, limit)
    columns = [c for c in frame.columns if c not in (ROW_COLUMN, ERRORS_COLUMN)]
    rows_at = frame[ROW_COLUMN] if ROW_COLUMN in frame else pd.Series(pd.NA, index=frame.index)
    errors = frame[ERRORS_COLUMN] if ERRORS_COLUMN in frame else pd.Series("", index=frame.index)
    values = frame[columns].astype(object).where(frame[columns].notna(), None).to_dict(orient="records")
    body["columns"] = columns
    body["rows"] = [
        {
            "row": None if pd.isna(at) else int(at),
            "errors": [e for e in str(err).split(";") if e] if isinstance(err, str) else [],
            "values": cells,
        }
        for at, err, cells in zip(rows_at, errors, values, strict=True)
    ]
    body["returned"] = len(body["rows"])
    return body
