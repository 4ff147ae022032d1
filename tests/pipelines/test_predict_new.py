"""Scheduled predictions against live API servers: exactly once across crashes and API outages."""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.pool import NullPool

from outagecast.clients.api import ApiClient
from outagecast.datasets.generate import write_dataset
from outagecast.pipelines.predict_new import has_new_data, predict_new_once
from outagecast.settings import Settings
from tests.api.conftest import postgres_server, sqlite_server, trained_home  # noqa: F401 - fixtures
from tests.utils.server import RunningServer, free_port

CHUNK = 150


class Crash(BaseException):
    """A process killed right after the API confirmed a chunk, before the ledger recorded it."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, trained_home: Path) -> tuple[RunningServer, str]:  # noqa: F811
    """Each live server with its database (the job's ledger lives there too, as in production)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_server"), f"sqlite:///{trained_home}/api.db"
    return request.getfixturevalue("postgres_server"), request.getfixturevalue("postgres_url")


def _settings(home: Path, db_url: str, api_url: str, **extra) -> Settings:
    return Settings(
        outagecast_home=home,
        database_url=db_url,
        api_url=api_url,
        max_batch_rows=CHUNK,
        predict_max_attempts=2,
        predict_retry_backoff_seconds=0,
        **extra,
    )


def _good_file(settings: Settings, rows: int) -> tuple[str, str]:
    """A fresh good-data file (unique name and content); returns (name, sha256)."""
    folder = settings.folder("good_data")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"batch_{uuid.uuid4().hex[:10]}.csv"
    made = write_dataset(settings.var_path / name, rows, uuid.uuid4().int % 2**31, progress=False)
    shutil.copyfile(made, folder / name)
    return name, hashlib.sha256((folder / name).read_bytes()).hexdigest()


def _stored(db_url: str, sha: str, chunks: int) -> tuple[int, set[str]]:
    """(rows stored for the file's chunk keys, their sources)."""
    keys = [hashlib.sha256(f"{sha}:{i}".encode()).hexdigest() for i in range(chunks)]
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT source FROM predictions WHERE request_id IN :keys").bindparams(
                    bindparam("keys", expanding=True)
                ),
                {"keys": keys},
            ).all()
            return len(found), {r[0] for r in found}
    finally:
        engine.dispose()


def _ledger(db_url: str, name: str) -> dict:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT state, rows, chunks_total, chunks_done FROM predicted_files WHERE filename = :n"
                ),
                {"n": name},
            ).one()
            return dict(row._mapping)
    finally:
        engine.dispose()


def test_new_files_are_predicted_once_in_chunks(served, tmp_path: Path) -> None:
    server, db_url = served
    settings = _settings(tmp_path, db_url, server.url)
    (a, sha_a), (b, sha_b) = _good_file(settings, 400), _good_file(settings, 120)
    assert has_new_data(settings)

    result = predict_new_once(settings)

    assert result.status == "ok", result.as_dict()
    assert {f.filename: (f.state, f.rows, f.chunks_total) for f in result.files} == {
        a: ("done", 400, 3),
        b: ("done", 120, 1),
    }
    assert _stored(db_url, sha_a, 3) == (400, {"scheduled"})
    assert _stored(db_url, sha_b, 1) == (120, {"scheduled"})
    # The ledger, not modification times, decides: touching a file does not predict it again.
    (settings.folder("good_data") / a).touch()
    assert not has_new_data(settings)
    assert predict_new_once(settings).status == "nothing_new"
    assert _stored(db_url, sha_a, 3) == (400, {"scheduled"})


def test_a_crash_after_a_confirmed_chunk_resumes_without_duplicates(served, tmp_path: Path) -> None:
    server, db_url = served
    settings = _settings(tmp_path, db_url, server.url)
    name, sha = _good_file(settings, 400)
    client = ApiClient.from_settings(settings)
    real_send, calls = client._send, []

    def send_then_crash(*args, **kwargs):
        calls.append(kwargs.get("headers"))
        answer = real_send(*args, **kwargs)
        if len(calls) == 2:
            raise Crash  # the API stored chunk 1; the ledger never heard of it
        return answer

    client._send = send_then_crash
    with pytest.raises(Crash):
        predict_new_once(settings, client=client)
    client.close()
    assert _ledger(db_url, name)["chunks_done"] == 1
    assert _stored(db_url, sha, 3)[0] == 300  # chunks 0 and 1 reached the API

    result = predict_new_once(settings)  # chunk 1 is re-sent with its key: answered, not stored again

    assert result.status == "ok" and result.files[0].chunks_sent == 2
    assert _ledger(db_url, name) == {"state": "done", "rows": 400, "chunks_total": 3, "chunks_done": 3}
    assert _stored(db_url, sha, 3) == (400, {"scheduled"})


def test_api_down_leaves_the_file_pending_then_the_next_run_finishes(
    served, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, db_url = served
    down = _settings(tmp_path, db_url, f"http://127.0.0.1:{free_port()}", api_timeout_seconds=2)
    name, sha = _good_file(down, 200)
    pauses: list[float] = []

    with caplog.at_level(logging.ERROR, logger="outagecast.pipelines.predict_new"):
        result = predict_new_once(down, sleep=pauses.append)

    assert result.status == "api_unavailable" and result.exit_code == 1
    assert result.files[0].state == "pending"
    assert len(pauses) == 1  # two attempts, one back-off between them
    assert any("left pending for the next run" in r.getMessage() for r in caplog.records)
    assert _ledger(db_url, name)["state"] == "pending"
    assert _stored(db_url, sha, 2)[0] == 0

    result = predict_new_once(_settings(tmp_path, db_url, server.url))

    assert result.status == "ok"
    assert _ledger(db_url, name)["state"] == "done"
    assert _stored(db_url, sha, 2) == (200, {"scheduled"})


def test_rate_limited_chunks_wait_as_told_and_stay_pending(trained_home: Path, tmp_path: Path) -> None:  # noqa: F811
    """A 429 is not a refusal of the rows: the job waits Retry-After and leaves the file pending."""
    from tests.api.conftest import _serve

    db_url = f"sqlite:///{tmp_path}/limited.db"
    server = _serve(trained_home, db_url, "rate-limited-api", RATE_LIMIT_PER_MINUTE="1")
    try:
        settings = _settings(tmp_path, db_url, server.url)
        name, sha = _good_file(settings, 2 * CHUNK)  # two chunks: the second one is over the limit
        pauses: list[float] = []

        result = predict_new_once(settings, sleep=pauses.append)

        assert result.status == "api_unavailable"
        assert _ledger(db_url, name) == {
            "state": "pending",
            "rows": 2 * CHUNK,
            "chunks_total": 2,
            "chunks_done": 1,
        }
        assert _stored(db_url, sha, 2) == (CHUNK, {"scheduled"})
        # One back-off between the two attempts, as long as the API's Retry-After (about a minute).
        assert len(pauses) == 1 and pauses[0] >= 1
    finally:
        server.stop()
