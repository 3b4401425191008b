"""Where the results database is and how to open it: a URL or a path, an engine, one-line errors.

- nothing given: ``$ATTNBENCH_STORE``, else the embedded SQLite file ``results/attnbench.sqlite``;
- a path (``results/attnbench.sqlite``) or ``sqlite:///PATH``: an SQLite file, created on first use;
- ``postgresql://user:pass@host:port/db`` (psycopg 3 is used whatever driver the URL names).

SQLite is opened in WAL mode with a long busy timeout and every transaction begun IMMEDIATE, so
several processes writing at once (xdist workers, two sweeps ending together) wait for each other
instead of failing or deadlocking on a read-to-write upgrade.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

STORE_ENV = "ATTNBENCH_STORE"
DEFAULT_PATH = Path("results") / "attnbench.sqlite"
ACCEPTED = "a path to an SQLite file, sqlite:///PATH, or postgresql://USER:PASSWORD@HOST:PORT/DB"
SQLITE_BUSY_SECONDS = 120


class StoreError(Exception):
    """The store cannot be used (bad URL, missing driver, unreachable server); the message is one line."""


def resolve_url(text: str | os.PathLike | None = None, default_dir: Path | None = None) -> URL:
    """The store's URL from an option's text, else $ATTNBENCH_STORE, else ``<default_dir or results>/attnbench.sqlite``."""
    if text is None or str(text) == "":
        text = os.environ.get(STORE_ENV) or str((default_dir / DEFAULT_PATH.name) if default_dir else DEFAULT_PATH)
    text = str(text)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser().resolve()))
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreError(f"store URL {text!r} is not a URL (accepted: {ACCEPTED})") from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return url
    raise StoreError(f"store URL {url.render_as_string(hide_password=True)!r}: {backend} is not supported (accepted: {ACCEPTED})")


def display(url: URL) -> str:
    """The URL as it can be printed: no password."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401 - only to say what is missing
        except ImportError:
            raise StoreError("a PostgreSQL store needs psycopg 3: pip install 'attnbench[postgres]' (or psycopg[binary])") from None
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
    _serialize_sqlite_writers(engine)
    return engine


def _serialize_sqlite_writers(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # the driver must not open transactions itself: we begin them
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def open_store(url: URL | str | None = None) -> Engine:
    """An engine on the store, its schema created or migrated to this version; StoreError if it cannot be reached."""
    from sqlalchemy.exc import SQLAlchemyError

    from .migrations import migrate

    url = url if isinstance(url, URL) else resolve_url(url)
    engine = make_engine(url)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot use the store {display(url)}: {one_line(exc)}") from None
    return engine


def one_line(exc: BaseException) -> str:
    """A database error's first line, without SQLAlchemy's background link."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
