"""The API is killed (SIGKILL) during a batch: after a restart the batch is stored whole or not at all.

Each round sends one 10,000-row batch under its own Idempotency-Key and kills the server at a
chosen moment: early (body parsing or model running, before any write), and while PostgreSQL is receiving
the batch's COPY (seen in ``pg_stat_activity``), the moment a torn write would be possible. After
the restart, the rows stored under the key are 0 or 10,000, never in between; a retry with the
same key then completes the batch exactly once (nothing lost, nothing doubled).
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.loadtest import random_row
from outagecast.api.routes.predict import idempotency_hash
from tests.utils.server import RunningServer, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BATCH = 10_000
KILL_WAIT_LIMIT_S = 60.0


def _serve(home: Path, db: str, name: str) -> RunningServer:
    return start_server(
        home=home, env={"DATABASE_URL": db, "MODEL_REFRESH_SECONDS": "0"}, log_path=home / f"{name}.log"
    )


def _count(engine: Engine, key: str) -> tuple[int, int]:
    """(prediction rows, prediction_requests rows) stored under ``key``."""
    h = idempotency_hash(key)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM predictions WHERE request_id = :h"), {"h": h}
        ).scalar_one()
        claims = conn.execute(
            text("SELECT count(*) FROM prediction_requests WHERE key = :h"), {"h": h}
        ).scalar_one()
    return int(rows), int(claims)


def _copy_in_progress(engine: Engine, database: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid() "
                    "AND query ILIKE 'COPY predictions%' AND state = 'active'"
                ),
                {"d": database},
            ).scalar_one()
        )


def _send_and_kill(
    server: RunningServer, body: dict, key: str, moment: str, engine: Engine, database: str
) -> None:
    """Send ``body`` under ``key`` and SIGKILL the server at ``moment``; the client must get no answer."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(
            httpx.post, server.url + "/predict", json=body, headers={"Idempotency-Key": key}, timeout=120
        )
        deadline = time.monotonic() + KILL_WAIT_LIMIT_S
        if moment == "early":
            time.sleep(0.2)  # the body is being parsed or the model runs: nothing written yet
        else:
            while not _copy_in_progress(engine, database):
                assert not future.done(), "the batch finished before its COPY was seen"
                assert time.monotonic() < deadline, "no COPY seen"
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=30)
        with pytest.raises(httpx.HTTPError):
            future.result(timeout=60)  # the client saw the connection die: no answer, no promise
    finally:
        pool.shutdown(wait=True)
        server.stop()


def test_killed_batch_is_stored_whole_or_not_at_all(trained_home: Path, shared_pg_database: str) -> None:
    rng = random.Random(7)
    body = {"features": [random_row(rng) for _ in range(BATCH)]}
    engine = create_engine(shared_pg_database, poolclass=NullPool)
    database = make_url(shared_pg_database).database
    keys = {moment: f"kill-{moment}" for moment in ("early", "during-copy")}
    try:
        server = _serve(trained_home, shared_pg_database, "kill-0")
        for n, (moment, key) in enumerate(keys.items(), start=1):
            _send_and_kill(server, body, key, moment, engine, database)
            server = _serve(trained_home, shared_pg_database, f"kill-{n}")  # the restart
            rows, claims = _count(engine, key)
            print(f"killed {moment}: after the restart {rows} rows and {claims} request claims stored")
            assert (rows, claims) in ((0, 0), (BATCH, 1)), (moment, rows, claims)
        # The client retries with the same key (what the scheduled job does): exactly one batch each.
        for key in keys.values():
            retry = httpx.post(
                server.url + "/predict", json=body, headers={"Idempotency-Key": key}, timeout=120
            )
            assert retry.status_code == 200, retry.text
            assert len(retry.json()["predictions"]) == BATCH
            assert _count(engine, key) == (BATCH, 1)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM predictions")).scalar_one() == BATCH * len(keys)
    finally:
        server.stop()
        engine.dispose()
