"""Results database and executor throughput against their raw peers, in the same process.

    .venv/bin/python bench/bench_store.py

- insert: ``RunHandle.add_measurements`` (one transaction per 1000-row batch) against the
  bare driver (``sqlite3`` / ``psycopg`` ``executemany``, one transaction per batch, same
  journal settings); on SQLite and, when the Debian server is installed, PostgreSQL
  (started with tests/pg.py);
- export: ``Store.export`` to CSV / Parquet against ``sqlite3`` + ``csv.writer`` and
  ``pyarrow.parquet.write_table`` of the same rows, with the peak Python heap;
- executor overhead per task: ``LocalExecutor(2).map`` against
  ``concurrent.futures.ProcessPoolExecutor.map`` on a trivial task.

Prints times, rows/s and ratios (camforge / peer). A script, not a test.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import json
import multiprocessing
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

N_BATCHES, BATCH = 50, 1000
ROOT = Path(__file__).resolve().parents[1]


def rows_for(b: int) -> list[dict]:
    return [{"metric": f"m{i % 20}", "value": b * BATCH + i + 0.5, "unit": "dB", "ci95": (i - 1.0, i + 1.0),
             "condition": {"chart": "flat", "lux": 10 * (b % 5 + 1), "module": b * BATCH + i}}
            for i in range(BATCH)]


def bench_insert_camforge(url: str) -> float:
    from camforge.store import Store

    store = Store(url)
    data = [rows_for(b) for b in range(N_BATCHES)]
    t = time.perf_counter()
    with store.run({"name": "bench"}, kind="bench") as run:
        for rows in data:
            run.add_measurements(rows)
    dt = time.perf_counter() - t
    store.close()
    return dt


def _flat(rows, run_id):
    return [(run_id, json.dumps(r["condition"]), json.dumps(r["condition"], sort_keys=True, separators=(",", ":")),
             r["metric"], r["value"], r["unit"], r["ci95"][0], r["ci95"][1], None) for r in rows]


DDL = ("CREATE TABLE m (id INTEGER PRIMARY KEY, run_id INTEGER, condition TEXT, condition_key TEXT, metric TEXT, "
       "value DOUBLE PRECISION, unit TEXT, ci_low DOUBLE PRECISION, ci_high DOUBLE PRECISION, extra TEXT)")
INSERT = ("INSERT INTO m (run_id, condition, condition_key, metric, value, unit, ci_low, ci_high, extra) "
          "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})")


def bench_insert_sqlite3(path: Path) -> float:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(DDL)
    data = [rows_for(b) for b in range(N_BATCHES)]
    t = time.perf_counter()
    for rows in data:
        con.execute("BEGIN IMMEDIATE")
        con.executemany(INSERT.format(p="?"), _flat(rows, 1))  # JSON encoding counted, as in camforge
        con.execute("COMMIT")
    dt = time.perf_counter() - t
    con.close()
    return dt


def bench_insert_psycopg(server) -> float:
    import psycopg

    url = server.new_database("bench_raw")
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", port=server.port, user=server.superuser, dbname=dbname) as con:
        con.execute(DDL.replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"))
        con.commit()
        data = [rows_for(b) for b in range(N_BATCHES)]
        t = time.perf_counter()
        for rows in data:
            with con.cursor() as cur:
                cur.executemany(INSERT.format(p="%s"), _flat(rows, 1))
            con.commit()
        return time.perf_counter() - t


def peak(fn):
    """(seconds, peak Python heap MiB): timed without tracemalloc, then traced in a second run."""
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    tracemalloc.start()
    fn()
    p = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return dt, p


def noop(x):
    return x


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="camforge-bench-") as d:
        run_all(Path(d))


def run_all(tmp: Path) -> None:
    n = N_BATCHES * BATCH
    print(f"insert {n} measurements in {N_BATCHES} transactions of {BATCH}")
    ours = bench_insert_camforge(f"sqlite:///{tmp / 'cf.db'}")
    peer = bench_insert_sqlite3(tmp / "raw.db")
    print(f"  sqlite      camforge {ours:6.2f} s ({n / ours:8.0f} rows/s)   sqlite3 {peer:6.2f} s "
          f"({n / peer:8.0f} rows/s)   ratio {ours / peer:5.2f}")
    server = None
    try:
        sys.path.insert(0, str(ROOT / "tests"))
        import pg

        server = pg.start_server()
    except Exception as e:  # noqa: BLE001 - a benchmark reports and goes on
        print(f"  postgresql  skipped: {e}")
    if server is not None:
        try:
            ours = bench_insert_camforge(server.new_database("bench_cf"))
            peer = bench_insert_psycopg(server)
            print(f"  postgresql  camforge {ours:6.2f} s ({n / ours:8.0f} rows/s)   psycopg {peer:6.2f} s "
                  f"({n / peer:8.0f} rows/s)   ratio {ours / peer:5.2f}")
        finally:
            server.stop()

    from camforge.store import Store

    store = Store(tmp / "cf.db")
    print(f"export {n} measurements")
    ours, ours_mib = peak(lambda: store.export(tmp / "out.csv"))

    def raw_csv():
        con = sqlite3.connect(tmp / "cf.db")
        with open(tmp / "raw.csv", "w", newline="") as f:
            w = csv.writer(f)
            cur = con.execute("SELECT m.run_id, r.uuid, r.kind, r.status, r.started_at, d.name, d.content_hash, "
                              "m.condition, m.condition_key, m.metric, m.value, m.unit, m.ci_low, m.ci_high, m.extra "
                              "FROM measurements m JOIN runs r ON r.id = m.run_id LEFT JOIN designs d "
                              "ON d.id = r.design_id ORDER BY m.run_id, m.id")
            while chunk := cur.fetchmany(50_000):
                w.writerows(chunk)
        con.close()

    peer, peer_mib = peak(raw_csv)
    print(f"  csv      camforge {ours:6.2f} s (peak heap {ours_mib:5.1f} MiB)   sqlite3+csv {peer:6.2f} s "
          f"({peer_mib:5.1f} MiB)   ratio {ours / peer:5.2f}")
    ours, ours_mib = peak(lambda: store.export(tmp / "out.parquet"))

    def raw_parquet():
        import pyarrow as pa
        import pyarrow.parquet as pq

        con = sqlite3.connect(tmp / "cf.db")
        cols = ["run_id", "metric", "value", "unit", "ci_low", "ci_high", "condition_key"]
        data = con.execute(f"SELECT {', '.join(cols)} FROM measurements ORDER BY run_id, id").fetchall()
        pq.write_table(pa.table({c: [r[i] for r in data] for i, c in enumerate(cols)}), tmp / "raw.parquet")
        con.close()

    peer, peer_mib = peak(raw_parquet)
    print(f"  parquet  camforge {ours:6.2f} s (peak heap {ours_mib:5.1f} MiB)   sqlite3+pyarrow (7 columns, "
          f"one table) {peer:6.2f} s ({peer_mib:5.1f} MiB)   ratio {ours / peer:5.2f}")
    store.close()

    from camforge.parallel import LocalExecutor

    k = 2000
    print(f"executor overhead, {k} trivial tasks, 2 processes (pools already started)")
    with LocalExecutor(2) as ex:
        ex.map(noop, range(4))
        t = time.perf_counter()
        ex.map(noop, range(k))
        ours = time.perf_counter() - t
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(noop, range(4)))
        t = time.perf_counter()
        list(pool.map(noop, range(k)))
        peer = time.perf_counter() - t
    print(f"  camforge LocalExecutor {ours / k * 1e3:6.3f} ms/task   ProcessPoolExecutor.map "
          f"{peer / k * 1e3:6.3f} ms/task   ratio {ours / peer:5.2f}")


if __name__ == "__main__":
    main()
