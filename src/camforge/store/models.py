"""ORM models of the results database (the schema at the latest migration).

Five tables:

``designs``
    One row per distinct camera design, identified by ``content_hash`` (SHA-256 of the
    canonical JSON of the design, as :meth:`camforge.CameraDesign.content_hash`); the
    design itself is kept as canonical JSON text in ``spec_json``.
``runs``
    One row per evaluation / qualification lot / optimization: ``kind``, ``status``
    (``running`` → ``complete`` | ``failed``), UTC timestamps, the camforge version and host
    that ran it, the test plan (JSON) and the error text of a failed run.
``measurements``
    One row per measured number: the run, the condition it was measured under (JSON, e.g.
    ``{"chart": "slanted-edge", "lux": 100, "illuminant": "D65"}``, plus its canonical string
    ``condition_key`` for grouping), the metric name, value, unit, 95 % confidence bounds
    and free-form ``extra`` JSON.
``artifacts``
    Files a run wrote (reports, raws): kind, path, SHA-256.
``schema_version``
    One row per applied migration (see :mod:`camforge.store.migrations`).

These classes describe the schema the migrations build; ``tests/test_store.py`` checks
that a freshly migrated database has exactly these tables and columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Double, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Statuses of a run. A run starts ``running``; a process killed mid-way leaves it so.
RUN_STATUSES = ("running", "complete", "failed")


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no time zone: values are stored as naive UTC and come back as aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


#: JSON column: ``json`` text on SQLite, ``jsonb`` on PostgreSQL.
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
#: 64-bit integer primary key (SQLite needs plain INTEGER for its rowid alias).
BigID = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(String(200), nullable=False)
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class Design(Base):
    __tablename__ = "designs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    spec_json: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_design_id", "design_id"), Index("ix_runs_started_at", "started_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    design_id: Mapped[int | None] = mapped_column(ForeignKey("designs.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    camforge_version: Mapped[str] = mapped_column(String(32), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    plan: Mapped[Any] = mapped_column(JSONType, nullable=True)
    meta: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Measurement(Base):
    __tablename__ = "measurements"
    __table_args__ = (Index("ix_measurements_run_metric", "run_id", "metric"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), nullable=False)
    condition: Mapped[Any] = mapped_column(JSONType, nullable=True)
    metric: Mapped[str] = mapped_column(String(128), nullable=False)
    value: Mapped[float | None] = mapped_column(Double, nullable=True)
    unit: Mapped[str] = mapped_column(String(32), nullable=False)
    ci_low: Mapped[float | None] = mapped_column(Double, nullable=True)
    ci_high: Mapped[float | None] = mapped_column(Double, nullable=True)
    extra: Mapped[Any] = mapped_column(JSONType, nullable=True)
    condition_key: Mapped[str] = mapped_column(Text, nullable=False, server_default="{}")


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_run_id", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


__all__ = ["Artifact", "Base", "Design", "Measurement", "RUN_STATUSES", "Run", "SchemaVersion", "UTCDateTime", "utcnow"]
