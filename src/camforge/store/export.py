"""Export measurements to CSV or Parquet (streamed, written atomically).

Used by :meth:`camforge.store.Store.export`; the columns are documented there. Condition
keys become typed ``cond_<key>`` columns: integers, floats, booleans and strings keep
their type (in Parquet), anything mixed or nested is written as JSON text.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, select, type_coerce

from camforge.store.models import Design, Measurement, Run

if TYPE_CHECKING:
    from camforge.store.store import ExportResult, Store

FIXED_HEAD = ("run_id", "run_uuid", "run_kind", "run_status", "run_started_at", "design_name", "design_hash")
FIXED_TAIL = ("condition_key", "metric", "value", "unit", "ci_low", "ci_high", "extra")


def _kind_of(values: list[Any]) -> str:
    types = {type(v) for v in values if v is not None}
    if not types:
        return "string"
    if types == {bool}:
        return "bool"
    if types == {int}:
        return "int64"
    if types <= {int, float}:
        return "float64"
    if types == {str}:
        return "string"
    return "json"


def _cond_value(v: Any, kind: str) -> Any:
    if v is None:
        return None
    if kind == "float64":
        return float(v)
    if kind == "json":
        return v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return v


def _condition_columns(conn, where) -> dict[str, str]:
    """{condition key: column kind} over the distinct conditions of the selected rows."""
    keys = conn.execute(select(Measurement.condition_key).where(*where).distinct()).scalars().all()
    values: dict[str, list[Any]] = {}
    for k in keys:
        for name, v in json.loads(k or "{}").items():
            values.setdefault(name, []).append(v)
    return {name: _kind_of(vs) for name, vs in sorted(values.items())}


def write_export(store: Store, path: Path, fmt: str, run_ids: list[int] | None, *, chunk_rows: int) -> ExportResult:
    from camforge.io.atomic import atomic_path
    from camforge.store.store import ExportResult

    where = [Measurement.run_id.in_(run_ids)] if run_ids is not None else []
    q = (
        # The condition is read from its canonical key (same content, one parse per distinct
        # condition) and ``extra`` as its JSON text where the driver gives text.
        select(Run.id, Run.uuid, Run.kind, Run.status, Run.started_at, Design.name, Design.content_hash,
               Measurement.condition_key, Measurement.metric, Measurement.value,
               Measurement.unit, Measurement.ci_low, Measurement.ci_high, type_coerce(Measurement.extra, Text))
        .select_from(Measurement)
        .join(Run, Measurement.run_id == Run.id)
        .outerjoin(Design, Run.design_id == Design.id)
        .where(*where)
        .order_by(Measurement.run_id, Measurement.id)
    )
    n_rows = 0
    seen_runs: set[int] = set()
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # one snapshot for both passes
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            cond_cols = _condition_columns(conn, where)
            columns = (*FIXED_HEAD, *(f"cond_{k}" for k in cond_cols), *FIXED_TAIL)
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(q)

            cond_cache: dict[str, dict[str, Any]] = {}

            def cond_values(key: str) -> dict[str, Any]:
                got = cond_cache.get(key)
                if got is None:
                    if len(cond_cache) > 100_000:
                        cond_cache.clear()
                    cond = json.loads(key or "{}")
                    got = cond_cache[key] = {f"cond_{k}": _cond_value(cond.get(k), kind)
                                             for k, kind in cond_cols.items()}
                return got

            def rows_of(chunk) -> list[dict[str, Any]]:
                out = []
                for (rid, ruuid, rkind, rstatus, rstart, dname, dhash, ckey, metric, value, unit,
                     lo, hi, extra) in chunk:
                    seen_runs.add(rid)
                    if extra is not None and not isinstance(extra, str):
                        extra = json.dumps(extra, sort_keys=True)
                    out.append({"run_id": rid, "run_uuid": ruuid, "run_kind": rkind, "run_status": rstatus,
                                "run_started_at": rstart, "design_name": dname, "design_hash": dhash,
                                **cond_values(ckey), "condition_key": ckey, "metric": metric, "value": value,
                                "unit": unit, "ci_low": lo, "ci_high": hi, "extra": extra})
                return out

            with atomic_path(path) as tmp:
                if fmt == "csv":
                    with open(tmp, "w", newline="", encoding="utf-8") as f:
                        w = csv.DictWriter(f, fieldnames=columns)
                        w.writeheader()
                        iso: dict[Any, str] = {}
                        for chunk in result.partitions(chunk_rows):
                            rows = rows_of(chunk)
                            for row in rows:
                                t = row["run_started_at"]
                                row["run_started_at"] = iso.get(t) or iso.setdefault(t, t.isoformat())
                            w.writerows(rows)
                            n_rows += len(rows)
                else:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    schema = _arrow_schema(pa, columns, cond_cols)
                    with pq.ParquetWriter(tmp, schema) as writer:
                        for chunk in result.partitions(chunk_rows):
                            rows = rows_of(chunk)
                            table = pa.Table.from_pydict({c: [r[c] for r in rows] for c in columns}, schema=schema)
                            writer.write_table(table)
                            n_rows += len(rows)
    return ExportResult(path=str(path), format=fmt, n_rows=n_rows, n_runs=len(seen_runs), columns=columns)


def _arrow_schema(pa, columns, cond_cols: dict[str, str]):
    types = {
        "run_id": pa.int64(), "run_started_at": pa.timestamp("us", tz="UTC"),
        "value": pa.float64(), "ci_low": pa.float64(), "ci_high": pa.float64(),
    }
    kind_types = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(), "string": pa.string(),
                  "json": pa.string()}
    for k, kind in cond_cols.items():
        types[f"cond_{k}"] = kind_types[kind]
    return pa.schema([pa.field(c, types.get(c, pa.string())) for c in columns])
