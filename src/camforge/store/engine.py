"""Database URLs, engines and error translation for the results database.

Where the database is (:func:`resolve_url`):

1. the ``url`` argument (``--db`` on the command line): any SQLAlchemy URL
   (``sqlite:///path/results.db``, ``postgresql://user:pass@host:5432/camforge``) or a plain
   file path, which means a SQLite file;
2. else the ``CAMFORGE_DB`` environment variable (same forms);
3. else the SQLite file ``$XDG_DATA_HOME/camforge/results.db``, i.e.
   ``~/.local/share/camforge/results.db`` (its folder is created on first use).

``postgresql://`` URLs use psycopg 3 when psycopg2 is not installed.

SQLite is opened in WAL mode (readers never block the writer), with a 30 s busy timeout,
foreign keys on, and every write transaction started with ``BEGIN IMMEDIATE`` so that
concurrent writers queue for the write lock instead of failing half-way; the rare
"database is locked" that is left (a wait longer than the timeout) is retried by
:func:`with_retry`. WAL needs a local file system (not NFS).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from camforge.errors import DependencyError, StoreError

T = TypeVar("T")

#: How long SQLite waits for another writer's lock before giving up (then retried).
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Seconds a PostgreSQL connection attempt may take.
CONNECT_TIMEOUT_S = 10


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/camforge/results.db`` (default ``~/.local/share/camforge/results.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "camforge" / "results.db"


def resolve_url(url: str | os.PathLike | None = None) -> tuple[URL, bool]:
    """The SQLAlchemy URL of the results database and whether it is the default location.

    Raises:
        StoreError: the URL cannot be parsed.
    """
    is_default = False
    if url is None or (isinstance(url, str) and not url.strip()):
        url = os.environ.get("CAMFORGE_DB") or None
    if url is None:
        url, is_default = default_db_path(), True
    if isinstance(url, os.PathLike) or "://" not in str(url):
        path = Path(os.path.expanduser(os.fspath(url))).absolute()
        return URL.create("sqlite", database=str(path)), is_default
    try:
        parsed = make_url(str(url).strip())
    except (sa_exc.ArgumentError, ValueError):
        raise StoreError(
            f"cannot parse database URL {_mask(str(url))!r}; use e.g. sqlite:///path/results.db "
            "or postgresql://user@host:5432/dbname"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+" + _pg_driver())
    return parsed, is_default


def _pg_driver() -> str:
    import importlib.util

    if importlib.util.find_spec("psycopg2") is not None:
        return "psycopg2"
    return "psycopg"


def _mask(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def display_url(url: URL) -> str:
    """The database for messages and listings: a SQLite file's path, else the URL with its
    password hidden (``***``) and without the driver camforge picked (``postgresql://``)."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql")
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (None for in-memory or another backend)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def make_engine(url: URL) -> Engine:
    """An engine for ``url`` with camforge's SQLite settings (WAL, busy timeout, BEGIN IMMEDIATE).

    Raises:
        DependencyError: the database driver is not installed.
        StoreError: the URL names an unknown database.
    """
    backend = url.get_backend_name()
    kwargs: dict = {}
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
        if sqlite_path(url) is None:  # in-memory: one shared connection
            kwargs["connect_args"]["check_same_thread"] = False
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True  # a server restart must not break the next transaction
        if backend == "postgresql" and "connect_timeout" not in url.query:
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(url, **kwargs)
    except sa_exc.NoSuchModuleError:
        raise StoreError(
            f"unknown database type in {display_url(url)!r}; camforge supports sqlite:/// and postgresql://"
        ) from None
    except ModuleNotFoundError as e:
        package = {"psycopg2": "psycopg2-binary", "psycopg": "psycopg[binary]"}.get(e.name or "", e.name)
        raise DependencyError(
            f"the database driver for {display_url(url)} is not installed: pip install '{package}'"
        ) from None
    if backend == "sqlite":
        _configure_sqlite(engine, wal=sqlite_path(url) is not None)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event below emit BEGIN, not the sqlite3 module.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cur.execute("PRAGMA foreign_keys = ON")
            if wal:
                cur.execute("PRAGMA journal_mode = WAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("camforge_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _orig_message(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    return " ".join(str(orig).split())


def is_retryable(e: BaseException) -> bool:
    """True for transient lock conflicts: SQLite "database is locked", PostgreSQL
    serialization failures and deadlocks."""
    if not isinstance(e, sa_exc.DBAPIError):
        return False
    msg = _orig_message(e).lower()
    if "database is locked" in msg or "database table is locked" in msg or "database is busy" in msg:
        return True
    code = getattr(getattr(e, "orig", None), "sqlstate", None) or getattr(getattr(e, "orig", None), "pgcode", None)
    return code in ("40001", "40P01")


def with_retry(fn: Callable[[], T], *, attempts: int = 8, base_delay_s: float = 0.05) -> T:
    """Call ``fn`` (one whole transaction); retry it on transient lock conflicts.

    Backoff doubles from ``base_delay_s`` with jitter; other errors propagate at once.
    """
    for attempt in range(attempts):
        try:
            return fn()
        except sa_exc.DBAPIError as e:
            if not is_retryable(e) or attempt == attempts - 1:
                raise
            time.sleep(base_delay_s * (2 ** attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def describe_connect_error(url: URL, e: BaseException) -> str:
    """One line: why ``url`` cannot be opened, and what to do."""
    msg = _orig_message(e)
    low = msg.lower()
    where = display_url(url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if "file is not a database" in low:
            return f"{path} is not a SQLite database (or is corrupt); use another --db"
        if "unable to open database file" in low:
            folder = path.parent if path else None
            if folder is not None and not folder.exists():
                return f"cannot open database {path}: folder {folder} does not exist"
            return f"cannot open database {path}: permission denied or not a file; check the path and its folder"
        if "readonly" in low or "read-only" in low:
            return f"cannot write database {path}: it is read-only"
        if "disk i/o error" in low:
            return f"cannot use database {path}: disk I/O error (WAL needs a local file system, not NFS)"
        return f"cannot use database {path}: {msg}"
    if "connection refused" in low:
        reason = "connection refused — is the server running and listening there?"
    elif "password authentication failed" in low or "authentication failed" in low:
        reason = "authentication failed — check the user name and password in the URL"
    elif "could not translate host name" in low or "name or service not known" in low \
            or "nodename nor servname" in low or "failed to resolve host" in low:
        reason = "unknown host name — check the host in the URL"
    elif "timeout expired" in low or "timed out" in low:
        reason = "connection timed out — is the host reachable and the port open?"
    elif "does not exist" in low:
        reason = msg.split("FATAL:")[-1].strip()
        reason = reason[reason.find("database"):] if "database" in reason else reason
        reason += " — create it first (createdb)"
    elif "no such file or directory" in low:
        reason = "no server socket there — is the server running?"
    else:
        reason = msg
    return f"cannot connect to {where}: {reason}"


__all__ = [
    "CONNECT_TIMEOUT_S",
    "SQLITE_BUSY_TIMEOUT_S",
    "default_db_path",
    "describe_connect_error",
    "display_url",
    "is_retryable",
    "make_engine",
    "resolve_url",
    "sqlite_path",
    "with_retry",
]
