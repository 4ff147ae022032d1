"""Fixtures of the reliability tests: a private PostgreSQL cluster, fresh databases, a trained home.

Tests that stop or cut the database never touch the shared server on 5432: ``private_cluster``
runs a throw-away PostgreSQL 15 cluster of its own (``initdb`` + ``pg_ctl`` as the ``postgres``
user, data and unix-socket folder in a temp folder, a free loopback port), stopped and deleted at
the end of the module even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bench.loadtest import fresh_postgres_database
from tests.api.conftest import trained_home  # noqa: F401 - the same small trained model, for this package
from tests.utils.server import free_port

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(*args: str) -> list[str]:
    # initdb and the server refuse to run as root; as root we become the postgres user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster this test session owns: it may be stopped and started at will."""

    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), *args),
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections (``pg_ctl -w``)."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"  # a test cluster: speed over crash safety of the OS
        )
        self._pg_ctl("-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every connection at once; ``immediate`` is a crash."""
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def create_database(self) -> str:
        """A new empty database on this cluster; its URL."""
        name = f"oc_{uuid.uuid4().hex[:10]}"
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))  # a generated name, not input
        finally:
            admin.dispose()
        return self.url(name)


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[PrivateCluster]:
    """A running PostgreSQL cluster of this module only; stopped and removed afterwards."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL server binaries not found in {PG_BIN} (set PG_BIN)")
    root = Path(tempfile.mkdtemp(prefix="oc-pgcluster-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(root=root, port=free_port())
    try:
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            try:
                cluster.stop("immediate")
            except subprocess.SubprocessError:
                pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
                os.kill(pid, 9)
                time.sleep(1)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def shared_pg_database() -> Iterator[str]:
    """A fresh database on the shared test server (``TEST_POSTGRES_URL``), dropped afterwards.

    For tests that only count rows in it: nothing else writes there.
    """
    stack = contextlib.ExitStack()
    try:
        url = stack.enter_context(fresh_postgres_database())
    except SQLAlchemyError as exc:  # unreachable server: fail in CI, skip elsewhere
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL test server not usable: {exc}")
    with stack:  # dropped after the test, whatever its outcome
        yield url
