"""Schema migrations of the results database: an explicit, ordered list.

Each :class:`Migration` has a version number and a function that applies its DDL (and any
data backfill) with SQLAlchemy Core on an open connection. :func:`migrate` runs, inside
one transaction, every migration newer than the database's ``schema_version`` and records
each one; a failure rolls the whole upgrade back. Concurrent openers are serialized
(``BEGIN IMMEDIATE`` on SQLite, a transaction-level advisory lock on PostgreSQL), so two
processes opening a new database at once create it once.

Each migration's tables are written out as they were at that version (their own
``MetaData``), not taken from :mod:`camforge.store.models`: the models describe only the
latest schema, and an old migration must keep building the old schema.

To change the schema: add ``Migration(N + 1, "what", _vN_plus_1)`` at the end of
:data:`MIGRATIONS`, update :mod:`camforge.store.models` to match, and extend
``tests/test_store.py::test_upgrade_from_v1``. Never edit a released migration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.schema import CreateColumn

from camforge.errors import StoreError
from camforge.store._json import condition_key
from camforge.store.models import BigID, JSONType, UTCDateTime, utcnow


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply(conn)`` moves the database from ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _add_column(conn: Connection, table: str, column: Column) -> None:
    """``ALTER TABLE table ADD COLUMN ...`` rendered for the connection's dialect."""
    ddl = CreateColumn(column).compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {ddl}"))


def _v1(conn: Connection) -> None:
    """designs, runs, measurements, schema_version."""
    md = MetaData()
    Table(
        "schema_version", md,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("description", String(200), nullable=False),
        Column("applied_at", UTCDateTime, nullable=False),
    )
    Table(
        "designs", md,
        Column("id", Integer, primary_key=True),
        Column("content_hash", String(64), unique=True, nullable=False),
        Column("name", String(200), nullable=False),
        Column("spec_json", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
    )
    runs = Table(
        "runs", md,
        Column("id", Integer, primary_key=True),
        Column("uuid", String(36), unique=True, nullable=False),
        Column("design_id", Integer, ForeignKey("designs.id"), nullable=True),
        Column("kind", String(32), nullable=False),
        Column("status", String(16), nullable=False),
        Column("started_at", UTCDateTime, nullable=False),
        Column("finished_at", UTCDateTime, nullable=True),
        Column("camforge_version", String(32), nullable=False),
        Column("host", String(255), nullable=False),
        Column("plan", JSONType, nullable=True),
        Column("meta", JSONType, nullable=True),
        Column("error", Text, nullable=True),
    )
    Index("ix_runs_design_id", runs.c.design_id)
    Index("ix_runs_started_at", runs.c.started_at)
    Table(
        "measurements", md,
        Column("id", BigID, primary_key=True),
        Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
        Column("condition", JSONType, nullable=True),
        Column("metric", String(128), nullable=False),
        Column("value", Double(), nullable=True),
        Column("unit", String(32), nullable=False),
        Column("ci_low", Double(), nullable=True),
        Column("ci_high", Double(), nullable=True),
        Column("extra", JSONType, nullable=True),
    )
    md.create_all(conn)


def _v2(conn: Connection) -> None:
    """artifacts table; runs.pid and runs.updated_at; measurements.condition_key (backfilled)
    and an index on measurements (run_id, metric)."""
    md = MetaData()
    Table("runs", md, Column("id", Integer, primary_key=True))
    artifacts = Table(
        "artifacts", md,
        Column("id", Integer, primary_key=True),
        Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
        Column("kind", String(32), nullable=False),
        Column("path", Text, nullable=False),
        Column("sha256", String(64), nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
    )
    Index("ix_artifacts_run_id", artifacts.c.run_id)
    artifacts.create(conn)

    _add_column(conn, "runs", Column("pid", Integer, nullable=True))
    _add_column(conn, "runs", Column("updated_at", UTCDateTime, nullable=True))
    _add_column(conn, "measurements", Column("condition_key", Text, nullable=False, server_default="{}"))

    meas = Table(
        "measurements", MetaData(),
        Column("id", BigID, primary_key=True),
        Column("run_id", Integer),
        Column("metric", String(128)),
        Column("condition", JSONType),
        Column("condition_key", Text),
    )
    Index("ix_measurements_run_metric", meas.c.run_id, meas.c.metric).create(conn)
    # Backfill the canonical key of every existing condition, in pages.
    last_id = 0
    while True:
        page = conn.execute(
            select(meas.c.id, meas.c.condition).where(meas.c.id > last_id).order_by(meas.c.id).limit(5000)
        ).all()
        if not page:
            break
        updates = [{"_id": row.id, "_key": condition_key(row.condition)} for row in page]
        conn.execute(
            update(meas).where(meas.c.id == bindparam("_id")).values(condition_key=bindparam("_key")),
            updates,
        )
        last_id = page[-1].id


#: Every schema version, oldest first. The last one is the schema of :mod:`models`.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema: designs, runs, measurements", _v1),
    Migration(2, "artifacts; run pid and heartbeat; canonical condition keys", _v2),
)

LATEST_VERSION = MIGRATIONS[-1].version

# Key of the PostgreSQL advisory lock that serializes migrations (any fixed 64-bit number).
_PG_LOCK_KEY = 0x63616D66  # "camf"
_SCHEMA_VERSION = Table(
    "schema_version", MetaData(),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200)),
    Column("applied_at", UTCDateTime),
)
_OUR_TABLES = {"designs", "runs", "measurements", "artifacts"}


def current_version(conn: Connection) -> int:
    """The schema version of the database on ``conn`` (0: empty database).

    Raises:
        StoreError: the database holds tables named like ours but no ``schema_version``.
    """
    names = set(inspect(conn).get_table_names())
    if "schema_version" not in names:
        clash = sorted(names & _OUR_TABLES)
        if clash:
            raise StoreError(
                f"the database has tables {', '.join(clash)} but no camforge schema_version table: "
                "it is not a camforge results database; use another --db"
            )
        return 0
    version = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(version or 0)


def migrate(conn: Connection, target: int | None = None) -> tuple[int, int]:
    """Upgrade the database on ``conn`` to ``target`` (default: latest) in one transaction.

    ``conn`` must not be in a transaction. Returns ``(version_before, version_after)``.

    Raises:
        StoreError: the database is newer than this camforge, or a migration failed.
    """
    target = LATEST_VERSION if target is None else int(target)
    if not 0 <= target <= LATEST_VERSION:
        raise StoreError(f"schema version {target} does not exist (this camforge knows 1..{LATEST_VERSION})")
    if conn.dialect.name == "sqlite":
        conn.execution_options(camforge_begin="IMMEDIATE")
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        before = current_version(conn)
        if before > LATEST_VERSION:
            raise StoreError(
                f"the results database has schema version {before}, newer than this camforge "
                f"(which knows up to {LATEST_VERSION}); upgrade camforge to read it"
            )
        for m in MIGRATIONS:
            if before < m.version <= target:
                try:
                    m.apply(conn)
                except StoreError:
                    raise
                except Exception as e:
                    raise StoreError(f"schema migration to version {m.version} failed: {e}") from e
                conn.execute(insert(_SCHEMA_VERSION).values(
                    version=m.version, description=m.description, applied_at=utcnow()))
    return before, max(before, target)


__all__ = ["LATEST_VERSION", "MIGRATIONS", "Migration", "current_version", "migrate"]
