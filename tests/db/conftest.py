"""Fixtures of the database tests: a migrated database, an engine and a session on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` migrated to head (both backends)."""
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session on the migrated database; whatever the test left uncommitted is rolled back."""
    with make_session_factory(db_engine)() as session:
        yield session
