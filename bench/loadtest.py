"""``make loadtest``: a bounded load test of ``outagecast serve`` on PostgreSQL, over loopback only.

N concurrent clients (asyncio + httpx) send a mix of single-row predictions, 100-row batch
predictions and past-prediction queries for a fixed time or until a fixed request count is
reached, whichever comes first; the run then stops by itself. The server is started here, on a
fresh PostgreSQL database (created on ``TEST_POSTGRES_URL``'s server and dropped afterwards)
and a trained model home (a small model is trained unless ``--home`` names one).

Floors checked at the end (``--json`` prints them with every figure):

- zero 5xx answers and zero transport errors (timeouts, refused or reset connections);
- zero lost writes: the rows in ``predictions`` equal the rows of every 200 answer of /predict.

Usage: ``python -m bench.loadtest --clients 32 --seconds 60 [--max-requests N] [--json]``.
Exit status 0 when the floors hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.utils.server import start_server

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MODEL_DATASET_ROWS = 8000  # enough for a real LightGBM model; trains in seconds
BATCH_ROWS = 100
# Shares of the request kinds: most traffic is interactive single predictions, the web app's
# history page reads often, and batch uploads are rarer but 100x heavier.
MIX: dict[str, float] = {"single": 0.5, "batch": 0.2, "past": 0.3}
REQUEST_TIMEOUT_S = 30.0
KINDS = tuple(MIX)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class KindStats:
    """What the clients saw for one request kind."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    rows_acknowledged: int = 0  # predictions in 200 answers (predict kinds only)

    def summary(self) -> dict[str, Any]:
        ms = np.array(self.latencies_s) * 1000
        pct = {f"p{p}_ms": round(float(np.percentile(ms, p)), 1) if ms.size else None for p in (50, 95, 99)}
        return {
            "requests": len(self.latencies_s) + self.transport_errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": self.transport_errors,
            **pct,
            "max_ms": round(float(ms.max()), 1) if ms.size else None,
            "rows_acknowledged": self.rows_acknowledged,
        }


def random_row(rng: random.Random) -> dict[str, Any]:
    """One valid incident, varied enough that the model and the insert do real work."""
    from outagecast import schema

    return {
        "cloud_provider": rng.choice(schema.CLOUD_PROVIDERS),
        "service": rng.choice(schema.SERVICES),
        "severity": rng.choice(schema.SEVERITIES),
        "system_load_before_outage": round(rng.uniform(10, 99), 1),
        "number_of_customers_affected": rng.randint(0, 50_000),
        "ticket_count": rng.randint(0, 500),
        "backup_system_triggered": rng.choice(schema.YES_NO),
    }


async def _client(
    index: int,
    url: str,
    deadline: float,
    budget: list[int],
    stats: dict[str, KindStats],
) -> None:
    """One client: sends requests back to back until the deadline or the shared budget runs out."""
    rng = random.Random(index)
    kinds, weights = list(MIX), list(MIX.values())
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1  # one event loop: no lock needed
            kind = rng.choices(kinds, weights)[0]
            if kind == "past":
                request = client.build_request("GET", "/past-predictions", params={"limit": 100})
            else:
                n = 1 if kind == "single" else BATCH_ROWS
                body = {"features": [random_row(rng) for _ in range(n)], "source": "webapp"}
                request = client.build_request("POST", "/predict", json=body)
            started = time.perf_counter()
            try:
                response = await client.send(request)
            except httpx.HTTPError as exc:
                stats[kind].transport_errors += 1
                _log(f"client {index}: {kind} failed: {type(exc).__name__}: {exc}")
                continue
            stats[kind].latencies_s.append(time.perf_counter() - started)
            stats[kind].statuses[response.status_code] = stats[kind].statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                _log(f"client {index}: {kind} -> {response.status_code} {response.text[:200]}")
            elif response.status_code == 200 and kind != "past":
                stats[kind].rows_acknowledged += len(response.json()["predictions"])


async def run_load(url: str, *, clients: int, seconds: float, max_requests: int) -> dict[str, KindStats]:
    """Drive ``url`` with ``clients`` concurrent clients for ``seconds`` or ``max_requests`` requests."""
    stats = {kind: KindStats() for kind in KINDS}
    budget = [max_requests]
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_client(i, url, deadline, budget, stats) for i in range(clients)))
    return stats


@contextmanager
def fresh_postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """A new, empty PostgreSQL database on ``admin_url``'s server, dropped on exit."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    server = make_url(admin_url)
    if server.drivername in ("postgresql", "postgres"):
        server = server.set(drivername="postgresql+psycopg")
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"oc_load_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # a generated name, not input
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def stored_predictions(database_url: str) -> int:
    """Rows in the ``predictions`` table."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM predictions")).scalar_one())
    finally:
        engine.dispose()


def train_home(home: Path) -> Path:
    """Generate a small dataset and train the champion model in ``home``."""
    from outagecast.ml.bootstrap import ensure_model
    from outagecast.settings import Settings

    ensure_model(Settings(outagecast_home=home, dataset_rows=MODEL_DATASET_ROWS))
    return home


def loadtest(
    *, home: Path, clients: int, seconds: float, max_requests: int, database_url: str | None = None
) -> dict[str, Any]:
    """Start a server on ``home`` and a fresh PostgreSQL database, load it, check the floors."""
    with nullcontext(database_url) if database_url else fresh_postgres_database() as db:
        log_path = home / f"loadtest-server-{uuid.uuid4().hex[:6]}.log"
        server = start_server(
            home=home,
            env={"DATABASE_URL": db, "DATASET_ROWS": str(MODEL_DATASET_ROWS), "LOG_LEVEL": "WARNING"},
            log_path=log_path,
        )
        try:
            _log(f"loading {server.url}: {clients} clients, {seconds:g} s, at most {max_requests} requests")
            wall = time.monotonic()
            stats = asyncio.run(
                run_load(server.url, clients=clients, seconds=seconds, max_requests=max_requests)
            )
            wall = time.monotonic() - wall
        finally:
            server.stop()
        stored = stored_predictions(db)
    acknowledged = sum(s.rows_acknowledged for s in stats.values())
    per_kind = {kind: s.summary() for kind, s in stats.items()}
    total = sum(k["requests"] for k in per_kind.values())
    server_errors = sum(n for s in stats.values() for code, n in s.statuses.items() if code >= 500)
    transport = sum(s.transport_errors for s in stats.values())
    return {
        "clients": clients,
        "seconds_requested": seconds,
        "seconds_run": round(wall, 2),
        "max_requests": max_requests,
        "requests": total,
        "requests_per_second": round(total / wall, 1) if wall else None,
        "by_kind": per_kind,
        "server_errors_5xx": server_errors,
        "transport_errors": transport,
        "rows_acknowledged": acknowledged,
        "rows_stored": stored,
        "lost_writes": max(acknowledged - stored, 0),
        "unacknowledged_writes": max(stored - acknowledged, 0),
        "floors_ok": server_errors == 0 and transport == 0 and stored == acknowledged,
    }


def _print_table(result: dict[str, Any]) -> None:
    print(
        f"{result['clients']} clients, {result['seconds_run']} s, {result['requests']} requests "
        f"({result['requests_per_second']}/s)"
    )
    print(f"{'kind':<8}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    for kind, s in result["by_kind"].items():
        print(
            f"{kind:<8}{s['requests']:>10}{s['p50_ms']!s:>9}{s['p95_ms']!s:>9}{s['p99_ms']!s:>9}"
            f"{s['max_ms']!s:>9}  {s['statuses']}"
        )
    print(
        f"5xx: {result['server_errors_5xx']}  transport errors: {result['transport_errors']}  "
        f"rows acknowledged: {result['rows_acknowledged']}  stored: {result['rows_stored']}  "
        f"lost writes: {result['lost_writes']}  -> floors {'OK' if result['floors_ok'] else 'FAILED'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests")
    parser.add_argument("--home", type=Path, help="a trained model home to reuse (default: train one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="oc-load-") as tmp:
        home = args.home or train_home(Path(tmp))
        result = loadtest(
            home=home, clients=args.clients, seconds=args.seconds, max_requests=args.max_requests
        )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0 if result["floors_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
