"""Persistence: ORM models, engines and sessions, migrations and repository functions.

Import the submodules (``outagecast.db.models``, ``.session``, ``.repository``, ``.migrate``);
nothing here connects to a database at import time.
"""
