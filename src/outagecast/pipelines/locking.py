"""One run of a job at a time, across threads, processes and (on PostgreSQL) hosts.

``job_lock`` takes two locks, both released by the operating system or the server when their
holder dies, so a ``kill -9`` never leaves a job locked out:

- an ``fcntl.flock`` on a hidden file in the folder the job works on: serialises the embedded
  scheduler, a manual CLI run and Airflow tasks on one host (and on shared storage whose lock
  manager honours ``flock``);
- on PostgreSQL, a session advisory lock named after the job and that folder: serialises
  hosts that share the database even where the folder's file system has no working locks.
  The advisory lock lives on a connection of its own, held for the whole run.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait(deadline: float) -> bool:
    """Sleep one poll interval; False once the deadline has passed."""
    if time.monotonic() >= deadline:
        return False
    time.sleep(POLL_SECONDS)
    return True


def _advisory_lock(engine: Engine, name: str, deadline: float) -> Connection | None:
    connection = engine.connect()
    try:
        while True:
            # hashtextextended: a stable 64-bit key from the name (PostgreSQL >= 11).
            held = connection.execute(
                text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))"), {"name": name}
            ).scalar_one()
            connection.commit()  # no transaction left open while we hold the lock
            if held:
                return connection
            if not _wait(deadline):
                connection.close()
                return None
    except BaseException:
        connection.close()
        raise


def _advisory_unlock(connection: Connection, name: str) -> None:
    try:
        connection.execute(text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))"), {"name": name})
        connection.commit()
    except Exception as exc:  # the lock goes with the connection anyway
        log.warning("could not release advisory lock %s cleanly: %s", name, exc)
    finally:
        connection.close()


@contextmanager
def job_lock(
    name: str, *, lock_dir: Path, engine: Engine | None = None, timeout: float = 0.0
) -> Iterator[bool]:
    """Hold the lock of job ``name`` for the block; yields False if another holder kept it for ``timeout`` s.

    Args:
        name: the job (one lock per job name and folder).
        lock_dir: the folder the job works on; the lock file ``.<name>.lock`` is created in it.
        engine: the job's database; on PostgreSQL an advisory lock is taken as well.
        timeout: seconds to wait for a busy lock (0: try once).
    """
    deadline = time.monotonic() + max(timeout, 0.0)
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while not _try_flock(fd):
            if not _wait(deadline):
                yield False
                return
        connection = None
        pg_name = f"outagecast:{name}:{lock_dir.resolve()}"
        if engine is not None and engine.dialect.name == "postgresql":
            connection = _advisory_lock(engine, pg_name, deadline)
            if connection is None:
                yield False
                return
        try:
            yield True
        finally:
            if connection is not None:
                _advisory_unlock(connection, pg_name)
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
