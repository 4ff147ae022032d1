"""Helpers of the ingestion tests: settings on a temp home, dropping files, reading results, a webhook."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from outagecast.db.session import make_engine
from outagecast.settings import Settings


def settings_for(home: Path, db_url: str, **overrides: Any) -> Settings:
    """Settings on ``home`` (data/ and var/ inside) and ``db_url``; files are claimable at once."""
    values: dict[str, Any] = {
        "outagecast_home": home,
        "database_url": db_url,
        "ingest_settle_seconds": 0,
        "alert_webhook_url": None,
        "alert_retry_backoff_seconds": 0.01,
    }
    return Settings(**{**values, **overrides})


def drop(settings: Settings, source: Path, name: str | None = None) -> Path:
    """Copy ``source`` into raw_data/ the way a well-behaved producer does (temp file + rename)."""
    raw = settings.folder("raw_data")
    raw.mkdir(parents=True, exist_ok=True)
    target = raw / (name or source.name)
    tmp = raw / f".{target.name}.tmp"
    shutil.copyfile(source, tmp)
    tmp.rename(target)
    return target


def read_text_csv(path: Path) -> pd.DataFrame:
    """A CSV as text, only empty cells missing (how ingestion reads it)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def query(db_url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of ``sql`` on ``db_url`` as dicts."""
    engine = make_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def visible_files(folder: Path) -> list[str]:
    """Names of the non-hidden files of ``folder`` (empty if it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


@dataclass
class Receiver:
    """A real HTTP server on loopback that records JSON posts and answers with scripted statuses."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # consumed per request; then 200
    delay_seconds: float = 0.0

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """Start a ``Receiver`` in a thread for the block."""
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body or b"null")}
            )
            if receiver.delay_seconds:
                time.sleep(receiver.delay_seconds)
            code = receiver.statuses.pop(0) if receiver.statuses else 200
            payload = b"1" if code < 400 else b"error"
            try:
                self.send_response(code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                pass

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
