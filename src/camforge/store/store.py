"""The results database: designs, runs and measurements (SQLAlchemy 2.x).

    >>> store = Store()                                    # ~/.local/share/camforge/results.db
    >>> with store.run(cam.design, kind="evaluate", plan=plan) as run:   # doctest: +SKIP
    ...     for cond in conditions:
    ...         run.add_measurements(measure(cond))        # each batch: its own transaction
    >>> store.runs(kind="evaluate")[0].status              # doctest: +SKIP
    'complete'

Guarantees:

- a run row is committed (``status="running"``) before any work starts;
- every :meth:`RunHandle.add_measurements` call is one transaction: all its rows or none;
- leaving the ``with`` block normally marks the run ``complete``; an exception marks it
  ``failed`` with the error text and is re-raised; a process killed mid-way leaves the run
  ``running`` with every committed batch intact (``camforge db list`` flags it);
- several processes may write into one SQLite file at once (WAL, ``BEGIN IMMEDIATE``,
  retry on "database is locked"): no row is lost;
- the same code runs on PostgreSQL (any SQLAlchemy URL).

A :class:`Store` (and a :class:`RunHandle`) pickles as its URL (and run id): sent to a
worker process it reconnects there, so workers can add measurements to a run directly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import numbers
import os
import socket
import uuid as uuid_mod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from camforge.errors import CamforgeError, DependencyError, InputError, StoreError
from camforge.store._json import canonical_json, condition_key, design_hash, json_safe
from camforge.store.engine import (
    describe_connect_error,
    display_url,
    make_engine,
    resolve_url,
    sqlite_path,
    with_retry,
)
from camforge.store.migrations import LATEST_VERSION, current_version, migrate
from camforge.store.models import Artifact, Design, Measurement, Run, utcnow

T = TypeVar("T")

#: Keys a measurement row may have (``name`` is accepted for ``metric``).
MEASUREMENT_KEYS = ("metric", "value", "unit", "condition", "ci95", "ci_low", "ci_high", "extra")
EXPORT_FORMATS = ("csv", "parquet")


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DesignRecord:
    """A stored design: ``spec`` is the design dictionary (units in field names)."""

    id: int
    content_hash: str
    name: str
    created_at: dt.datetime
    spec: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": _iso(self.created_at)}


@dataclass(frozen=True)
class RunRecord:
    """One run: what ran (``kind``, design, plan), where, when (UTC) and how it ended."""

    id: int
    uuid: str
    kind: str
    status: str
    design_id: int | None
    design_name: str | None
    design_hash: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    updated_at: dt.datetime | None
    camforge_version: str
    host: str
    pid: int | None
    plan: Any
    meta: Any
    error: str | None
    n_measurements: int

    @property
    def duration_s(self) -> float | None:
        """Wall time from start to finish (None while running)."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def process_alive(self) -> bool | None:
        """For a ``running`` run started on this host: is its process still alive?

        None when it cannot be known (another host, no pid, or the run has finished).
        A dead process means the run was killed mid-way and will never complete.
        """
        if self.status != "running" or self.pid is None or self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        except OSError:
            return None
        return True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("started_at", "finished_at", "updated_at"):
            d[k] = _iso(d[k])
        d["duration_s"] = self.duration_s
        return d


@dataclass(frozen=True)
class MeasurementRecord:
    """One measured number: ``metric`` under ``condition``, in ``unit``, with its 95 % CI."""

    id: int
    run_id: int
    condition: dict[str, Any]
    condition_key: str
    metric: str
    value: float | None
    unit: str
    ci_low: float | None
    ci_high: float | None
    extra: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ArtifactRecord:
    """A file a run wrote: ``kind`` (e.g. ``report``, ``scorecard``), path and SHA-256."""

    run_id: int
    kind: str
    path: str
    sha256: str | None
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": _iso(self.created_at)}


@dataclass(frozen=True)
class MetricSummary:
    """One metric of a run over all its conditions: count, missing values, min/mean/max."""

    metric: str
    unit: str
    n: int
    n_missing: int
    min: float | None
    mean: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunDetail:
    """A run with its design, artifacts, number of conditions and per-metric summary."""

    run: RunRecord
    design: DesignRecord | None
    artifacts: tuple[ArtifactRecord, ...]
    n_conditions: int
    metrics: tuple[MetricSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.to_dict(),
            "design": self.design.to_dict() if self.design else None,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "n_conditions": self.n_conditions,
            "metrics": [m.to_dict() for m in self.metrics],
        }


@dataclass(frozen=True)
class ExportResult:
    """What :meth:`Store.export` wrote."""

    path: str
    format: str
    n_rows: int
    n_runs: int
    columns: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "columns": list(self.columns)}


# --------------------------------------------------------------------------- rows


def _number(v: Any, where: str) -> float | None:
    t = type(v)
    if t is float:
        return v if v == v else None  # NaN → None
    if t is int or v is None:
        return None if v is None else float(v)
    if isinstance(v, bool):  # pass/fail verdicts
        return float(v)
    if not isinstance(v, numbers.Real):
        if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:  # numpy / torch scalars
            return _number(v.item(), where)
        raise InputError(f"{where} must be a number or None, got {type(v).__name__} {v!r}; put text in 'extra'")
    f = float(v)
    return f if not math.isnan(f) else None


def normalize_measurement(row: Mapping[str, Any] | Any, index: int = 0, *,
                          _conditions: dict[int, tuple[Any, str]] | None = None) -> dict[str, Any]:
    """Check one measurement row and return the column values to insert.

    A row is a mapping with ``metric`` (or ``name``), ``value`` (number, bool stored as
    1/0, or None; NaN is stored as None), ``unit`` (default ``""``), ``condition`` (mapping), either ``ci95``
    (``(low, high)``) or ``ci_low``/``ci_high``, and ``extra`` (JSON-safe mapping).
    A :class:`MeasurementRecord` is accepted too.

    Raises:
        InputError: names the row index and the field that is wrong.
    """
    if isinstance(row, MeasurementRecord):
        row = row.to_dict()
    if not isinstance(row, Mapping):
        raise InputError(f"measurement row {index} must be a mapping, got {type(row).__name__}")
    row = dict(row)
    if "name" in row and "metric" not in row:
        row["metric"] = row.pop("name")
    row.pop("id", None), row.pop("run_id", None), row.pop("condition_key", None)
    unknown = sorted(set(row) - set(MEASUREMENT_KEYS))
    if unknown:
        raise InputError(
            f"measurement row {index} has unknown field(s) {', '.join(unknown)}; "
            f"use {', '.join(MEASUREMENT_KEYS)} (put anything else in 'extra')"
        )
    metric = row.get("metric")
    if not isinstance(metric, str) or not metric.strip() or len(metric) > 128:
        raise InputError(
            f"measurement row {index}: 'metric' must be a non-empty name of ≤128 characters, got {metric!r}")
    where = f"measurement row {index} ({metric})"
    unit = row.get("unit") or ""
    if not isinstance(unit, str) or len(unit) > 32:
        raise InputError(f"{where}: 'unit' must be a string of ≤32 characters, got {unit!r}")
    raw_cond = row.get("condition") or {}
    if not isinstance(raw_cond, Mapping):
        raise InputError(
            f"{where}: 'condition' must be a mapping such as {{'lux': 100}}, got {type(raw_cond).__name__}")
    # Rows of one condition usually share its dict: convert it once per batch.
    cached = _conditions.get(id(raw_cond)) if _conditions is not None else None
    if cached is None:
        cond = json_safe(raw_cond, f"{where} condition")
        cached = (cond, canonical_json(cond))
        if _conditions is not None:
            _conditions[id(raw_cond)] = cached
    cond, key = cached
    ci_low, ci_high = row.get("ci_low"), row.get("ci_high")
    if row.get("ci95") is not None:
        ci = row["ci95"]
        if ci_low is not None or ci_high is not None:
            raise InputError(f"{where}: give either 'ci95' or 'ci_low'/'ci_high', not both")
        try:
            ci_low, ci_high = ci
        except (TypeError, ValueError):
            raise InputError(f"{where}: 'ci95' must be a (low, high) pair, got {ci!r}") from None
    extra = row.get("extra")
    if extra is not None and not isinstance(extra, Mapping):
        raise InputError(f"{where}: 'extra' must be a mapping, got {type(extra).__name__}")
    return {
        "metric": metric,
        "value": _number(row.get("value"), f"{where} value"),
        "unit": unit,
        "condition": cond,
        "condition_key": key,
        "ci_low": _number(ci_low, f"{where} ci_low"),
        "ci_high": _number(ci_high, f"{where} ci_high"),
        "extra": json_safe(extra, f"{where} extra") if extra is not None else None,
    }


def rows_from_metrics(metrics: Mapping[str, Any], condition: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Measurement rows from a scorecard-style ``{name: {"value", "unit", "ci95"?, ...}}``.

    A plain number is accepted for an entry (``{"snr_db": 38.2}``); keys other than
    ``value``, ``unit``, ``ci95``, ``ci_low``, ``ci_high`` go to ``extra``.
    """
    rows = []
    for name, m in metrics.items():
        if not isinstance(m, Mapping):
            m = {"value": m}
        core = {k: m[k] for k in ("value", "unit", "ci95", "ci_low", "ci_high") if k in m}
        rest = {k: v for k, v in m.items() if k not in core and k != "extra"}
        extra = {**dict(m.get("extra") or {}), **rest} or None
        rows.append({"metric": str(name), "condition": dict(condition or {}), **core, "extra": extra})
    return rows


# --------------------------------------------------------------------------- store


def _design_input(design: Any, name: str | None) -> tuple[dict[str, Any], str, str]:
    """(spec dict, content hash, name) of a design given as a mapping, CameraDesign or Camera."""
    obj = getattr(design, "design", design)  # a Camera has .design
    if hasattr(obj, "to_dict") and hasattr(obj, "content_hash"):
        spec = obj.to_dict()
        h = obj.content_hash()
    elif isinstance(obj, Mapping):
        spec = json_safe(obj, "design")
        h = design_hash(spec)
    else:
        raise InputError(
            f"a design must be a mapping, a CameraDesign or a Camera, got {type(design).__name__}"
        )
    name = name or str(spec.get("name") or h[:12])
    return spec, h, name


class Store:
    """The results database at ``url`` (see :func:`camforge.store.engine.resolve_url`).

    ``url=None`` uses ``$CAMFORGE_DB`` or ``~/.local/share/camforge/results.db``. Opening
    connects, checks the schema and applies pending migrations in one transaction.
    ``create=False`` refuses to create a new SQLite file (for read-only commands).

    Raises:
        StoreError: cannot connect / open / write, or the schema is newer than camforge.
        DependencyError: the database driver is not installed.
    """

    def __init__(self, url: str | os.PathLike | None = None, *, create: bool = True):
        self.url, self.is_default = resolve_url(url)
        self.path = sqlite_path(self.url)
        if self.path is not None:
            self._check_sqlite_file(create)
        self.engine = make_engine(self.url)
        try:
            self.schema_version_before, self.schema_version = with_retry(self._migrate)
        except StoreError:
            self.engine.dispose()
            raise
        except (sa_exc.DBAPIError, sa_exc.InterfaceError, OSError) as e:
            self.engine.dispose()
            raise StoreError(describe_connect_error(self.url, e)) from None

    # ---------------------------------------------------------------- plumbing

    def _check_sqlite_file(self, create: bool) -> None:
        path = self.path
        if path.is_dir():
            raise StoreError(f"database path {path} is a folder; give a file such as {path / 'results.db'}")
        if path.exists():
            return
        if not create:
            raise StoreError(f"no results database at {path}; run an evaluation first or pass --db URL")
        folder = path.parent
        if not folder.exists():
            if not self.is_default:
                raise StoreError(f"cannot create database {path}: folder {folder} does not exist")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create database folder {folder}: {e.strerror or e}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(f"cannot create database {path}: folder {folder} is not writable")

    def _migrate(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            return migrate(conn)

    def _tx(self, fn: Callable[[Session], T], *, write: bool = False,
            passthrough: tuple[type[BaseException], ...] = ()) -> T:
        """Run ``fn(session)`` in one transaction (retried on lock conflicts)."""

        def once() -> T:
            with self.engine.connect() as conn:
                if write and conn.dialect.name == "sqlite":
                    conn.execution_options(camforge_begin="IMMEDIATE")
                with Session(bind=conn, expire_on_commit=False) as s, s.begin():
                    return fn(s)

        try:
            return with_retry(once)
        except passthrough:
            raise
        except CamforgeError:
            raise
        except (sa_exc.DBAPIError, sa_exc.InterfaceError) as e:
            msg = " ".join(str(getattr(e, "orig", None) or e).split())
            if isinstance(e, sa_exc.OperationalError) and ("connect" in msg.lower() or "refused" in msg.lower()):
                raise StoreError(describe_connect_error(self.url, e)) from e
            raise StoreError(f"database error on {display_url(self.url)}: {msg}") from e

    def __repr__(self) -> str:
        return f"Store({display_url(self.url)!r})"

    def __reduce__(self):
        if self.url.get_backend_name() == "sqlite" and self.path is None:
            raise InputError("an in-memory database cannot be sent to another process; use a SQLite file")
        return (_reopen_store, (self.url.render_as_string(hide_password=False),))

    def close(self) -> None:
        """Release all connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def display_url(self) -> str:
        """The URL with its password hidden."""
        return display_url(self.url)

    def info(self) -> dict[str, Any]:
        """Where the database is, its schema version and how many rows each table has."""

        def tx(s: Session) -> dict[str, Any]:
            return {
                "url": self.display_url,
                "backend": self.url.get_backend_name(),
                "path": str(self.path) if self.path else None,
                "schema_version": current_version(s.connection()),
                "latest_schema_version": LATEST_VERSION,
                "designs": s.scalar(select(func.count()).select_from(Design)),
                "runs": s.scalar(select(func.count()).select_from(Run)),
                "measurements": s.scalar(select(func.count()).select_from(Measurement)),
                "artifacts": s.scalar(select(func.count()).select_from(Artifact)),
            }

        return self._tx(tx)

    # ---------------------------------------------------------------- designs

    def add_design(self, design: Any, *, content_hash: str | None = None, name: str | None = None) -> int:
        """Store a design once; return its id (the existing id if the hash is known).

        ``design`` is a mapping, a :class:`camforge.CameraDesign` or a :class:`camforge.Camera`.
        ``content_hash`` defaults to the design's own content hash (SHA-256 of its JSON
        with sorted keys). Safe to call from several processes at once.
        """
        spec, h, name = _design_input(design, name)
        if content_hash is not None:
            if not isinstance(content_hash, str) or not 8 <= len(content_hash) <= 64:
                raise InputError(f"content_hash must be a hex string of 8..64 characters, got {content_hash!r}")
            h = content_hash
        spec_text = canonical_json(spec)

        def find(s: Session) -> int | None:
            return s.scalar(select(Design.id).where(Design.content_hash == h))

        def tx(s: Session) -> int:
            found = find(s)
            if found is not None:
                return found
            d = Design(content_hash=h, name=name[:200], spec_json=spec_text, created_at=utcnow())
            s.add(d)
            s.flush()
            return d.id

        try:
            return self._tx(tx, write=True, passthrough=(sa_exc.IntegrityError,))
        except sa_exc.IntegrityError:  # another process inserted the same hash first
            found = self._tx(find)
            if found is None:
                raise StoreError(f"cannot store design {name!r}: integrity error on {self.display_url}") from None
            return found

    def design(self, ref: int | str) -> DesignRecord:
        """A stored design by id, content hash, or unique hash prefix (≥ 6 characters)."""

        def tx(s: Session) -> DesignRecord:
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 6):
                d = s.get(Design, int(ref))
            else:
                rows = s.scalars(select(Design).where(Design.content_hash.startswith(str(ref))).limit(2)).all()
                if len(str(ref)) < 6 or len(rows) > 1:
                    raise InputError(f"design {ref!r} is ambiguous; give more of its hash")
                d = rows[0] if rows else None
            if d is None:
                raise InputError(f"no design {ref!r} in {self.display_url}")
            return _design_record(d)

        return self._tx(tx)

    # ---------------------------------------------------------------- runs

    def run(self, design: Any = None, kind: str = "evaluate", plan: Any = None, *,
            meta: Mapping[str, Any] | None = None, design_name: str | None = None) -> RunHandle:
        """Start a run: its row is committed at once with ``status="running"``.

        ``design`` is a design (mapping, CameraDesign, Camera), a stored design's id or
        content hash, or None (e.g. an optimization over many designs). ``plan`` and ``meta`` are JSON-safe.
        Use the handle as a context manager: normal exit → ``complete``; an exception →
        ``failed`` with the error, re-raised. Without ``with``, call
        :meth:`RunHandle.complete` / :meth:`RunHandle.fail` yourself.
        """
        import camforge

        if not isinstance(kind, str) or not kind or len(kind) > 32:
            raise InputError(f"run kind must be a short name such as 'evaluate', got {kind!r}")
        if design is None:
            design_id = None
        elif isinstance(design, int) and not isinstance(design, bool):
            self.design(design)  # InputError if unknown
            design_id = design
        elif isinstance(design, str):  # content hash (prefix) of a stored design
            design_id = self.design(design).id
        else:
            design_id = self.add_design(design, name=design_name)
        plan_json = json_safe(plan, "plan") if plan is not None else None
        meta_json = json_safe(dict(meta), "meta") if meta is not None else None
        run_uuid = str(uuid_mod.uuid4())
        now = utcnow()

        def tx(s: Session) -> int:
            r = Run(uuid=run_uuid, design_id=design_id, kind=kind, status="running", started_at=now,
                    updated_at=now, camforge_version=str(camforge.__version__)[:32],
                    host=socket.gethostname()[:255], pid=os.getpid(), plan=plan_json, meta=meta_json)
            s.add(r)
            s.flush()
            return r.id

        run_id = self._tx(tx, write=True)
        return RunHandle(self, run_id, run_uuid, design_id, kind)

    def _resolve_run(self, s: Session, ref: int | str) -> Run:
        if isinstance(ref, bool):
            raise InputError(f"run id must be a number or UUID, got {ref!r}")
        if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
            r = s.get(Run, int(ref))
            if r is None:
                raise InputError(f"no run {ref} in {self.display_url}; `camforge db list` shows the runs")
            return r
        text = str(ref).strip().lower()
        if len(text) < 4:
            raise InputError(f"run {ref!r}: give a run id or at least 4 characters of its UUID")
        rows = s.scalars(select(Run).where(Run.uuid.startswith(text)).limit(2)).all()
        if not rows:
            raise InputError(f"no run {ref!r} in {self.display_url}; `camforge db list` shows the runs")
        if len(rows) > 1:
            raise InputError(f"run {ref!r} is ambiguous; give more of its UUID")
        return rows[0]

    def runs(self, *, kind: str | None = None, status: str | None = None, design: int | str | None = None,
             limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally filtered by kind, status and design (id or hash prefix)."""

        def tx(s: Session) -> list[RunRecord]:
            q = _run_query()
            if kind:
                q = q.where(Run.kind == kind)
            if status:
                q = q.where(Run.status == status)
            if design is not None:
                if isinstance(design, int) or str(design).isdigit():
                    q = q.where(Run.design_id == int(design))
                else:
                    q = q.where(or_(Design.content_hash.startswith(str(design)), Design.name == str(design)))
            q = q.order_by(Run.started_at.desc(), Run.id.desc())
            if limit is not None:
                q = q.limit(int(limit))
            return [_run_record(*row) for row in s.execute(q).all()]

        return self._tx(tx)

    def get_run(self, ref: int | str) -> RunRecord:
        """One run by id or (prefix of) UUID."""

        def tx(s: Session) -> RunRecord:
            r = self._resolve_run(s, ref)
            return _run_record(*s.execute(_run_query().where(Run.id == r.id)).one())

        return self._tx(tx)

    def run_detail(self, ref: int | str) -> RunDetail:
        """A run with its design, artifacts and a per-metric summary over its conditions."""

        def tx(s: Session) -> RunDetail:
            r = self._resolve_run(s, ref)
            rec = _run_record(*s.execute(_run_query().where(Run.id == r.id)).one())
            d = s.get(Design, r.design_id) if r.design_id is not None else None
            arts = s.scalars(select(Artifact).where(Artifact.run_id == r.id).order_by(Artifact.id)).all()
            n_cond = s.scalar(select(func.count(func.distinct(Measurement.condition_key)))
                              .where(Measurement.run_id == r.id))
            q = (select(Measurement.metric, Measurement.unit, func.count(), func.count(Measurement.value),
                        func.min(Measurement.value), func.avg(Measurement.value), func.max(Measurement.value))
                 .where(Measurement.run_id == r.id)
                 .group_by(Measurement.metric, Measurement.unit)
                 .order_by(Measurement.metric, Measurement.unit))
            metrics = tuple(
                MetricSummary(metric=m, unit=u, n=int(n), n_missing=int(n) - int(nv),
                              min=_f(lo), mean=_f(mean), max=_f(hi))
                for m, u, n, nv, lo, mean, hi in s.execute(q).all()
            )
            return RunDetail(run=rec, design=_design_record(d) if d else None,
                             artifacts=tuple(_artifact_record(a) for a in arts),
                             n_conditions=int(n_cond or 0), metrics=metrics)

        return self._tx(tx)

    def measurements(self, ref: int | str, *, metric: str | None = None,
                     limit: int | None = None) -> list[MeasurementRecord]:
        """The measurements of a run in the order they were added."""

        def tx(s: Session) -> list[MeasurementRecord]:
            r = self._resolve_run(s, ref)
            q = select(Measurement).where(Measurement.run_id == r.id)
            if metric:
                q = q.where(Measurement.metric == metric)
            q = q.order_by(Measurement.id)
            if limit is not None:
                q = q.limit(int(limit))
            return [_measurement_record(m) for m in s.scalars(q).all()]

        return self._tx(tx)

    # ---------------------------------------------------------------- export

    def export(self, path: str | os.PathLike, format: str | None = None,
               run_ids: Sequence[int | str] | None = None, *, chunk_rows: int = 50_000) -> ExportResult:
        """Write measurements (all runs, or ``run_ids``) to CSV or Parquet, atomically.

        One row per measurement with its run (``run_id``, ``run_uuid``, ``run_kind``,
        ``run_status``, ``run_started_at``), design (``design_name``, ``design_hash``), one
        ``cond_<key>`` column per condition key (e.g. ``cond_lux``), ``condition_key``,
        ``metric``, ``value``, ``unit``, ``ci_low``, ``ci_high`` and ``extra`` (JSON).
        ``format`` defaults to the file suffix. Rows are streamed in chunks, so memory does
        not grow with the database.
        """
        from camforge.store.export import write_export

        path = Path(path)
        fmt = (format or path.suffix.lstrip(".")).lower()
        if fmt == "pq":
            fmt = "parquet"
        if fmt not in EXPORT_FORMATS:
            raise InputError(f"cannot export to {path.name!r}: use a .csv or .parquet file (or format='csv'|'parquet')")
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise DependencyError("Parquet export needs pyarrow: pip install pyarrow") from None

        ids = None
        if run_ids is not None:
            ids = sorted({r.id for r in (self.get_run(ref) for ref in run_ids)})
        try:
            return write_export(self, path, fmt, ids, chunk_rows=chunk_rows)
        except (sa_exc.DBAPIError, sa_exc.InterfaceError) as e:
            msg = " ".join(str(getattr(e, "orig", None) or e).split())
            raise StoreError(f"database error on {self.display_url} while exporting: {msg}") from e


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


def _reopen_store(url: str) -> Store:
    return Store(url)


def _run_query():
    n = (select(func.count()).where(Measurement.run_id == Run.id).correlate(Run).scalar_subquery())
    return select(Run, Design.name, Design.content_hash, n).outerjoin(Design, Run.design_id == Design.id)


def _run_record(r: Run, design_name: str | None, design_hash_: str | None, n: int) -> RunRecord:
    return RunRecord(
        id=r.id, uuid=r.uuid, kind=r.kind, status=r.status, design_id=r.design_id, design_name=design_name,
        design_hash=design_hash_, started_at=r.started_at, finished_at=r.finished_at, updated_at=r.updated_at,
        camforge_version=r.camforge_version, host=r.host, pid=r.pid, plan=r.plan, meta=r.meta, error=r.error,
        n_measurements=int(n or 0),
    )


def _design_record(d: Design) -> DesignRecord:
    return DesignRecord(id=d.id, content_hash=d.content_hash, name=d.name, created_at=d.created_at,
                        spec=json.loads(d.spec_json))


def _artifact_record(a: Artifact) -> ArtifactRecord:
    return ArtifactRecord(run_id=a.run_id, kind=a.kind, path=a.path, sha256=a.sha256, created_at=a.created_at)


def _measurement_record(m: Measurement) -> MeasurementRecord:
    return MeasurementRecord(id=m.id, run_id=m.run_id, condition=m.condition or {}, condition_key=m.condition_key,
                             metric=m.metric, value=m.value, unit=m.unit, ci_low=m.ci_low, ci_high=m.ci_high,
                             extra=m.extra)


# --------------------------------------------------------------------------- run handle


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt)"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RunHandle:
    """A run being recorded. Add measurements in batches; each batch is one transaction.

    Pickles as (store URL, run id): a worker process that receives it reconnects and can
    add measurements and artifacts; only the process that owns the ``with`` block should
    complete or fail the run.
    """

    def __init__(self, store: Store, run_id: int, run_uuid: str, design_id: int | None, kind: str):
        self.store = store
        self.id = run_id
        self.uuid = run_uuid
        self.design_id = design_id
        self.kind = kind

    def __repr__(self) -> str:
        return f"RunHandle(id={self.id}, uuid={self.uuid!r}, kind={self.kind!r}, store={self.store!r})"

    def __reduce__(self):
        return (_reopen_run, (self.store, self.id, self.uuid, self.design_id, self.kind))

    # -- recording

    def add_measurements(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert ``rows`` (see :func:`normalize_measurement`) in one transaction; return the count.

        Raises:
            InputError: a row is malformed (nothing is inserted) or the run has finished.
        """
        rows = list(rows)  # keeps every condition dict alive while its id() is cached
        conditions: dict[int, tuple[Any, str]] = {}
        values = [normalize_measurement(r, i, _conditions=conditions) for i, r in enumerate(rows)]
        for v in values:
            v["run_id"] = self.id
        now = utcnow()

        def tx(s: Session) -> int:
            self._check_running(s)
            if values:
                s.execute(insert(Measurement.__table__), values)  # Core executemany: no ORM overhead
            s.execute(update(Run).where(Run.id == self.id).values(updated_at=now))
            return len(values)

        return self.store._tx(tx, write=True)

    def add_measurement(self, metric: str, value: float | None, unit: str = "", *,
                        condition: Mapping[str, Any] | None = None,
                        ci95: tuple[float, float] | None = None,
                        extra: Mapping[str, Any] | None = None) -> None:
        """Insert one measurement (its own transaction; prefer batches for many rows)."""
        self.add_measurements([{"metric": metric, "value": value, "unit": unit, "condition": condition,
                                "ci95": ci95, "extra": extra}])

    def add_metrics(self, metrics: Mapping[str, Any], condition: Mapping[str, Any] | None = None) -> int:
        """Insert a scorecard-style ``{name: {"value", "unit", "ci95"?, ...}}`` for one condition."""
        return self.add_measurements(rows_from_metrics(metrics, condition))

    def add_artifact(self, kind: str, path: str | os.PathLike, *, sha256: str | None = None) -> None:
        """Record a file the run wrote; its SHA-256 is computed when the file exists."""
        p = Path(path)
        if sha256 is None and p.is_file():
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            sha256 = h.hexdigest()
        if not isinstance(kind, str) or not kind or len(kind) > 32:
            raise InputError(f"artifact kind must be a short name such as 'report', got {kind!r}")

        def tx(s: Session) -> None:
            s.add(Artifact(run_id=self.id, kind=kind, path=os.fspath(path), sha256=sha256, created_at=utcnow()))

        self.store._tx(tx, write=True)

    def _check_running(self, s: Session) -> None:
        status = s.scalar(select(Run.status).where(Run.id == self.id))
        if status is None:
            raise InputError(f"run {self.id} no longer exists in {self.store.display_url}")
        if status != "running":
            raise InputError(f"run {self.id} is {status}; cannot add to a finished run")

    # -- finishing

    def _finish(self, status: str, error: str | None) -> bool:
        now = utcnow()

        def tx(s: Session) -> bool:
            res = s.execute(update(Run).where(Run.id == self.id, Run.status == "running")
                            .values(status=status, finished_at=now, updated_at=now, error=error))
            return res.rowcount == 1

        return self.store._tx(tx, write=True)

    def complete(self) -> bool:
        """Mark the run complete (no-op, returning False, if it already finished)."""
        return self._finish("complete", None)

    def fail(self, error: BaseException | str) -> bool:
        """Mark the run failed with ``error`` (no-op, returning False, if it already finished)."""
        text = error if isinstance(error, str) else _error_text(error)
        return self._finish("failed", text[:10_000])

    @property
    def status(self) -> str:
        return self.store.get_run(self.id).status

    def __enter__(self) -> RunHandle:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.complete()
        else:
            # Never let a database problem while recording the failure hide the real error.
            with contextlib.suppress(Exception):
                self.fail(exc)
        return False


def _reopen_run(store: Store, run_id: int, run_uuid: str, design_id: int | None, kind: str) -> RunHandle:
    return RunHandle(store, run_id, run_uuid, design_id, kind)


__all__ = [
    "ArtifactRecord",
    "DesignRecord",
    "EXPORT_FORMATS",
    "ExportResult",
    "MEASUREMENT_KEYS",
    "MeasurementRecord",
    "MetricSummary",
    "RunDetail",
    "RunHandle",
    "RunRecord",
    "Store",
    "condition_key",
    "normalize_measurement",
    "rows_from_metrics",
]
