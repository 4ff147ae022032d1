"""Alembic environment for OutageCast.

The database URL comes from the caller, never from the environment: ``upgrade_to_head``
passes it (with an open, locked connection) in ``config.attributes``; the ``alembic``
command line passes it as ``-x url=...`` (see alembic.ini beside this file).
"""

from __future__ import annotations

from alembic import context

from outagecast.db.migrate import context_options, migration_connection
from outagecast.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: call upgrade_to_head(url) or pass `-x url=...` to alembic")
    return url


def run_migrations_offline() -> None:
    """Write the migration SQL for ``--sql`` instead of running it."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the caller's connection, or on a newly locked one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with migration_connection(_url()) as connection:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, **context_options())
    # The connection is already inside the locked transaction: this adds no second one.
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
