"""The schema's version and its migrations.

A new database gets every table as declared in ``store/schema.py`` and is stamped with
``SCHEMA_VERSION``. An existing one is brought forward by the steps in ``MIGRATIONS`` above its
stamped version, in order, each in the same transaction as its stamp. A later change to the tables
edits schema.py, raises SCHEMA_VERSION and adds the step that alters older databases to match.

Two processes opening a new database at once must not both create it: on PostgreSQL the
migration holds a transaction-scoped advisory lock; on SQLite the transaction is BEGIN IMMEDIATE
(store/db.py), which serializes writers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection, Engine, func, inspect, select, text

from .db import StoreError
from .schema import SCHEMA_VERSION, metadata, schema_version

ADVISORY_LOCK_KEY = 0x61_74_74_6E  # "attn": one number every attnbench process agrees on

# version → (what it changes, the step that alters a database stamped with the version before it)
MIGRATIONS: dict[int, tuple[str, Callable[[Connection], None]]] = {}


def stamped_version(conn: Connection) -> int:
    """The database's schema version; 0 when it has no attnbench tables yet."""
    if not inspect(conn).has_table(schema_version.name):
        return 0
    return conn.execute(select(func.max(schema_version.c.version))).scalar() or 0


def _stamp(conn: Connection, version: int, description: str) -> None:
    conn.execute(schema_version.insert().values(version=version, applied=dt.datetime.now(dt.timezone.utc), description=description))


def migrate(engine: Engine, target: int = SCHEMA_VERSION, migrations: dict | None = None) -> int:
    """Create or bring the schema to ``target``; returns the version found before."""
    migrations = MIGRATIONS if migrations is None else migrations
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        found = stamped_version(conn)
        if found > target:
            raise StoreError(f"the store's schema is version {found}, newer than this attnbench's {target}: upgrade attnbench "
                             "to write to it")
        if found == 0:
            metadata.create_all(conn)
            _stamp(conn, target, "tables as declared in store/schema.py")
            return found
        for version in range(found + 1, target + 1):
            if version not in migrations:
                raise StoreError(f"no migration from schema version {version - 1} to {version} (this attnbench knows "
                                 f"{', '.join(map(str, sorted(migrations))) or 'none'})")
            description, step = migrations[version]
            step(conn)
            _stamp(conn, version, description)
    return found
