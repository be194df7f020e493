"""Results database: runs, crashes, concurrency, migrations and export — on SQLite and on a
real PostgreSQL server started for the session (tests/pg.py).

The references are the inputs themselves: every value written must come back bit for bit
(``==`` on floats), every row written by every process must be present exactly once.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
import os
import pickle
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text

import pg
from camforge.errors import CamforgeError, InputError, StoreError
from camforge.store import LATEST_VERSION, RunHandle, Store, condition_key
from camforge.store.engine import make_engine, resolve_url
from camforge.store.migrations import migrate
from camforge.store.models import Base

REPO = Path(__file__).resolve().parents[1]
DESIGN = {"name": "tiny", "lens": {"focal_length_mm": 4.4, "f_number": 2.0},
          "sensor": {"width_px": 64, "height_px": 48, "pixel_pitch_um": 1.4, "full_well_e": 6000}}


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = pg.start_server()
    except pg.PgUnavailable as e:
        pytest.skip(f"PostgreSQL tests skipped: {e}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


def _rows(n: int, *, lux: float = 100.0, tag: str = "") -> list[dict]:
    # Values chosen to catch lossy storage: non-representable decimals, extremes, negatives.
    special = [0.1 + 0.2, 1e-300, -2.5e17, math.pi, 1 / 3, 123456789.123456789]
    return [
        {"metric": f"m{i % 3}{tag}", "value": special[i % len(special)] * (i + 1), "unit": "dB",
         "condition": {"chart": "flat", "lux": lux, "illuminant": "D65", "i": i},
         "ci95": (special[i % len(special)] * i - 1, special[i % len(special)] * i + 1),
         "extra": {"i": i, "note": "ünïcode"}}
        for i in range(n)
    ]


def _same(stored, rows) -> None:
    assert len(stored) == len(rows)
    for m, r in zip(stored, rows, strict=True):
        assert m.metric == r["metric"]
        assert m.value == r["value"]  # exact: float64 round trip
        assert (m.ci_low, m.ci_high) == tuple(r["ci95"])
        assert m.unit == r["unit"]
        assert m.condition == r["condition"]
        assert m.condition_key == condition_key(r["condition"])
        assert m.extra == r["extra"]


# --------------------------------------------------------------------------- runs


def test_two_evaluations_store_two_runs(store):
    rows1, rows2 = _rows(7, lux=100), _rows(5, lux=10.5)
    with store.run(DESIGN, kind="evaluate", plan={"charts": ["flat"], "lux": [100]}) as r1:
        assert r1.status == "running"
        assert r1.add_measurements(rows1[:4]) == 4
        assert r1.add_measurements(rows1[4:]) == 3
    with store.run(DESIGN, kind="evaluate", plan={"lux": [10.5]}) as r2:
        r2.add_measurements(rows2)
    runs = store.runs()
    assert [r.id for r in runs] == [r2.id, r1.id]  # newest first
    assert all(r.status == "complete" and r.finished_at >= r.started_at for r in runs)
    assert [r.n_measurements for r in runs] == [5, 7]
    assert runs[0].design_id == runs[1].design_id  # the design is stored once, by hash
    assert store.info()["designs"] == 1
    assert runs[1].plan == {"charts": ["flat"], "lux": [100]}
    _same(store.measurements(r1.id), rows1)
    _same(store.measurements(r2.uuid), rows2)  # by UUID too
    detail = store.run_detail(r1.uuid[:8])
    assert detail.run.id == r1.id and detail.design.spec == DESIGN
    assert detail.n_conditions == 7
    m0 = next(m for m in detail.metrics if m.metric == "m0")
    vals = [r["value"] for r in rows1 if r["metric"] == "m0"]
    assert m0.n == len(vals) and m0.min == min(vals) and m0.max == max(vals)
    assert m0.mean == pytest.approx(sum(vals) / len(vals), rel=1e-12)


def test_failed_run_keeps_batches_and_reraises(store):
    rows = _rows(6)
    with pytest.raises(ZeroDivisionError):
        with store.run(DESIGN, kind="qualify") as run:
            run.add_measurements(rows[:3])
            raise ZeroDivisionError("division by zero")
    rec = store.get_run(run.id)
    assert rec.status == "failed"
    assert rec.error.startswith("ZeroDivisionError")
    assert rec.finished_at is not None
    _same(store.measurements(run.id), rows[:3])
    with pytest.raises(InputError, match="failed"):
        run.add_measurements(rows[3:])  # a finished run takes no more rows


def test_bad_batch_inserts_nothing(store):
    with store.run(DESIGN) as run:
        bad = _rows(3)
        bad[2] = {"metric": "x", "value": "high"}
        with pytest.raises(InputError, match="row 2"):
            run.add_measurements(bad)
        with pytest.raises(InputError, match="unknown field"):
            run.add_measurements([{"metric": "x", "value": 1, "colour": "red"}])
        # NaN and numpy scalars: NaN is stored as missing, numpy values as floats
        run.add_measurements([{"metric": "nan", "value": float("nan")},
                              {"metric": "np", "value": np.float32(0.5), "condition": {"lux": np.int64(3)}},
                              {"metric": "pass", "value": True}])
    ms = store.measurements(run.id)
    assert [(m.metric, m.value) for m in ms] == [("nan", None), ("np", 0.5), ("pass", 1.0)]
    assert ms[1].condition == {"lux": 3}


def test_metrics_dict_and_artifacts(store, tmp_path):
    card = tmp_path / "scorecard.json"
    card.write_text('{"ok": true}')
    with store.run(DESIGN) as run:
        n = run.add_metrics({"mtf50_cy_per_px": {"value": 0.31, "unit": "cy/px", "ci95": [0.3, 0.32], "n_edges": 4},
                             "snr_db": 38.25}, condition={"chart": "slanted-edge", "lux": 100})
        run.add_artifact("scorecard", card)
    assert n == 2
    ms = {m.metric: m for m in store.measurements(run.id)}
    assert ms["mtf50_cy_per_px"].extra == {"n_edges": 4}
    assert (ms["mtf50_cy_per_px"].ci_low, ms["mtf50_cy_per_px"].ci_high) == (0.3, 0.32)
    assert ms["snr_db"].value == 38.25 and ms["snr_db"].unit == ""
    import hashlib

    (art,) = store.run_detail(run.id).artifacts
    assert art.sha256 == hashlib.sha256(card.read_bytes()).hexdigest()


def test_run_lookup_errors(store):
    with store.run(None, kind="optimize") as run:
        pass
    assert store.get_run(str(run.id)).kind == "optimize"
    design_id = store.add_design(DESIGN)
    assert store.add_design(dict(DESIGN)) == design_id  # idempotent by content hash
    h = store.design(design_id).content_hash
    with store.run(h[:10], kind="evaluate") as by_hash, store.run(design_id) as by_id:
        pass
    assert store.get_run(by_hash.id).design_id == store.get_run(by_id.id).design_id == design_id
    with pytest.raises(InputError, match="no design"):
        store.run(987654)
    with pytest.raises(InputError, match="no run 999"):
        store.get_run(999)
    with pytest.raises(InputError, match="no run"):
        store.get_run("ffffffff-0000")
    with pytest.raises(InputError, match="at least 4"):
        store.get_run("ab")


def test_store_and_run_handle_pickle(store):
    with store.run(DESIGN) as run:
        clone = pickle.loads(pickle.dumps(run))
        assert isinstance(clone, RunHandle) and clone.store is not store
        clone.add_measurements(_rows(2))
        clone.store.close()
    assert store.get_run(run.id).n_measurements == 2


# --------------------------------------------------------------------------- crashes and concurrency

# Writers run in forked processes: real separate processes with their own connections,
# started without re-importing torch (the parent has closed its connections first).
_fork = multiprocessing.get_context("fork")


def _killed_writer(url: str, fd: int) -> None:
    store = Store(url)
    run = store.run({"name": "victim"}, kind="evaluate")
    os.write(fd, f"{run.id}\n".encode())
    b = 0
    while True:
        run.add_measurements([{"metric": "m", "value": b * 1000 + i, "condition": {"batch": b}} for i in range(50)])
        b += 1
        os.write(fd, f"{b}\n".encode())


def test_killed_run_stays_running_and_keeps_committed_batches(db_url):
    read_fd, write_fd = os.pipe()
    proc = _fork.Process(target=_killed_writer, args=(db_url, write_fd))
    proc.start()
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as lines:
            run_id = int(lines.readline())
            for _ in range(3):
                assert lines.readline(), "writer died early"
            os.kill(proc.pid, signal.SIGKILL)  # mid-way, possibly inside a transaction
    finally:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
    with Store(db_url) as store:
        rec = store.get_run(run_id)
        assert rec.status == "running" and rec.finished_at is None and rec.error is None
        assert rec.process_alive() is False  # `camforge db list` flags it
        ms = store.measurements(run_id)
        n_batches = len(ms) // 50
        assert n_batches >= 3 and len(ms) == 50 * n_batches  # whole batches only
        assert sorted(m.value for m in ms) == [b * 1000 + i for b in range(n_batches) for i in range(50)]
        # the database is intact and usable
        if store.path is not None:
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        with store.run({"name": "next"}) as run:
            run.add_measurements(_rows(1))
        assert store.get_run(run.id).status == "complete"


N_BATCHES, N_ROWS = 15, 20


def _concurrent_writer(url: str, shared_id: int, k: int, barrier, out) -> None:
    store = Store(url)
    shared = RunHandle(store, shared_id, "", None, "evaluate")
    barrier.wait(60)  # start writing together
    with store.run({"name": "same design for all"}, kind="evaluate") as own:
        for b in range(N_BATCHES):
            rows = [{"metric": "w", "value": k * 10000 + b * 100 + i, "condition": {"writer": k, "batch": b}}
                    for i in range(N_ROWS)]
            own.add_measurements(rows)
            shared.add_measurements(rows)
    out.put((k, own.id))


def test_concurrent_writers_lose_no_rows(db_url):
    n_writers = 4
    with Store(db_url) as store:
        shared = store.run(DESIGN, kind="evaluate")
    barrier, out = _fork.Barrier(n_writers), _fork.Queue()
    procs = [_fork.Process(target=_concurrent_writer, args=(db_url, shared.id, k, barrier, out))
             for k in range(n_writers)]
    for p in procs:
        p.start()
    own_ids = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * n_writers
    expected = {k: sorted(k * 10000 + b * 100 + i for b in range(N_BATCHES) for i in range(N_ROWS))
                for k in range(n_writers)}
    with Store(db_url) as store:
        shared.store = store
        shared.complete()
        for k, run_id in own_ids.items():
            rec = store.get_run(run_id)
            assert rec.status == "complete"
            assert sorted(m.value for m in store.measurements(run_id)) == expected[k]
        got = sorted(m.value for m in store.measurements(shared.id))
        assert got == sorted(v for vals in expected.values() for v in vals)  # every row, exactly once
        assert len({store.get_run(i).design_id for i in own_ids.values()}) == 1  # added concurrently: one row
        assert store.info()["designs"] == 2


def _opener(url: str, barrier, out) -> None:
    barrier.wait(60)
    with Store(url) as s:
        out.put((s.schema_version_before, s.schema_version))


def test_concurrent_first_open_creates_schema_once(db_url):
    n = 4
    barrier, out = _fork.Barrier(n), _fork.Queue()
    procs = [_fork.Process(target=_opener, args=(db_url, barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    versions = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * n
    assert versions == [(0, LATEST_VERSION)] + [(LATEST_VERSION, LATEST_VERSION)] * (n - 1)  # one migrated
    engine = create_engine(resolve_url(db_url)[0])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
    engine.dispose()
    assert rows == list(range(1, LATEST_VERSION + 1))


# --------------------------------------------------------------------------- schema


def test_schema_matches_models(store):
    insp = inspect(store.engine)
    assert set(insp.get_table_names()) == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        cols = {c["name"]: c["nullable"] for c in insp.get_columns(name)}
        assert cols == {c.name: c.nullable for c in table.columns}, name
    assert store.info()["schema_version"] == LATEST_VERSION


def test_upgrade_from_v1(db_url):
    url, _ = resolve_url(db_url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert migrate(conn, target=1) == (0, 1)
    with engine.begin() as conn:  # rows as camforge with schema 1 wrote them
        conn.execute(text("INSERT INTO designs (content_hash, name, spec_json, created_at) "
                          "VALUES ('abcdef0123456789', 'old', '{\"name\": \"old\"}', '2024-01-02 03:04:05')"))
        design_id = conn.execute(text("SELECT id FROM designs")).scalar()
        conn.execute(text("INSERT INTO runs (uuid, design_id, kind, status, started_at, finished_at, "
                          "camforge_version, host, plan) VALUES ('11111111-2222-3333-4444-555555555555', :d, "
                          "'evaluate', 'complete', '2024-01-02 03:04:05', '2024-01-02 03:05:05', '0.0.1', 'h', NULL)"),
                     {"d": design_id})
        run_id = conn.execute(text("SELECT id FROM runs")).scalar()
        for i, cond in enumerate(['{"lux": 100, "chart": "flat"}', None, '{"b": [1, 2], "a": "x"}']):
            conn.execute(text("INSERT INTO measurements (run_id, condition, metric, value, unit) "
                              "VALUES (:r, :c, 'snr_db', :v, 'dB')"), {"r": run_id, "c": cond, "v": 30.0 + i})
    assert set(inspect(engine).get_table_names()) == {"schema_version", "designs", "runs", "measurements"}
    engine.dispose()

    with Store(db_url) as store:
        assert (store.schema_version_before, store.schema_version) == (1, LATEST_VERSION)
        ms = store.measurements(run_id)
        assert [m.value for m in ms] == [30.0, 31.0, 32.0]
        assert [m.condition_key for m in ms] == [condition_key({"lux": 100, "chart": "flat"}), "{}",
                                                 condition_key({"a": "x", "b": [1, 2]})]
        rec = store.get_run(run_id)
        assert rec.pid is None and rec.duration_s == 60.0 and rec.design_name == "old"
        handle = RunHandle(store, run_id, rec.uuid, design_id, "evaluate")
        with pytest.raises(InputError, match="complete"):
            handle.add_measurements(_rows(1))
        with store.run(None) as run:
            run.add_artifact("report", "/nonexistent/report.html")
        assert store.run_detail(run.id).artifacts[0].sha256 is None
    with Store(db_url) as store:  # reopening applies nothing
        assert (store.schema_version_before, store.schema_version) == (LATEST_VERSION, LATEST_VERSION)


def test_newer_schema_is_refused(db_url):
    Store(db_url).close()
    engine = create_engine(resolve_url(db_url)[0])
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO schema_version (version, description, applied_at) "
                          "VALUES (99, 'future', '2030-01-01 00:00:00')"))
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this camforge"):
        Store(db_url)


def test_foreign_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE runs (x INTEGER)"))
    engine.dispose()
    with pytest.raises(StoreError, match="not a camforge results database"):
        Store(path)


# --------------------------------------------------------------------------- export


def test_export_csv_and_parquet(store, tmp_path):
    import pyarrow.parquet as pq

    rows_a = _rows(5, lux=100.0)  # float here, int below: one float column
    rows_b = [{"metric": "verdict", "value": 1, "condition": {"lot": "L7", "module": m, "lux": 5},
               "extra": {"why": None}} for m in range(3)]
    with store.run(DESIGN, kind="evaluate") as a:
        a.add_measurements(rows_a)
    with store.run(DESIGN, kind="qualify") as b:
        b.add_measurements(rows_b)

    res = store.export(tmp_path / "all.csv")
    assert (res.n_rows, res.n_runs, res.format) == (8, 2, "csv")
    with open(tmp_path / "all.csv", newline="", encoding="utf-8") as f:
        got = list(csv.DictReader(f))
    assert [float(r["value"]) for r in got] == [r["value"] for r in rows_a + rows_b]  # repr round-trips
    assert [r["cond_lux"] for r in got] == ["100.0"] * 5 + ["5.0"] * 3  # int and float lux → float column
    assert [r["cond_lot"] for r in got] == [""] * 5 + ["L7"] * 3
    assert got[0]["run_uuid"] == a.uuid and got[0]["design_name"] == "tiny" and got[0]["unit"] == "dB"
    assert float(got[1]["ci_low"]) == rows_a[1]["ci95"][0]

    res = store.export(tmp_path / "b.parquet", run_ids=[b.uuid])
    assert (res.n_rows, res.n_runs) == (3, 1)
    t = pq.read_table(tmp_path / "b.parquet")
    assert t.column("cond_module").type == "int64" and t.column("cond_module").to_pylist() == [0, 1, 2]
    assert t.column("cond_lot").to_pylist() == ["L7"] * 3
    assert t.column("value").to_pylist() == [1.0, 1.0, 1.0]
    assert str(t.schema.field("run_started_at").type) == "timestamp[us, tz=UTC]"
    assert t.column("run_started_at").to_pylist()[0] == store.get_run(b.id).started_at

    res = store.export(tmp_path / "all.parquet")
    t = pq.read_table(tmp_path / "all.parquet")
    assert t.num_rows == 8 and t.column("value").to_pylist() == [r["value"] for r in rows_a + rows_b]

    # failures leave existing files untouched and no temporary files behind
    before = (tmp_path / "all.csv").read_bytes()
    with pytest.raises(InputError):
        store.export(tmp_path / "all.csv", run_ids=[999])
    with pytest.raises(InputError, match="does not exist"):
        store.export(tmp_path / "missing" / "x.csv")
    with pytest.raises(InputError, match=r"\.csv or \.parquet"):
        store.export(tmp_path / "x.xlsx")
    assert (tmp_path / "all.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --------------------------------------------------------------------------- locations and errors


def test_default_location_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("CAMFORGE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with Store() as s:
        assert s.path == tmp_path / "xdg" / "camforge" / "results.db" and s.path.exists()
    monkeypatch.setenv("CAMFORGE_DB", str(tmp_path / "env.db"))
    with Store() as s:
        assert s.path == tmp_path / "env.db"
    with pytest.raises(StoreError, match="no results database"):
        Store(tmp_path / "absent.db", create=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_and_bad_urls(tmp_path):
    port = _closed_port()
    t0 = time.monotonic()
    with pytest.raises(StoreError) as e:
        Store(f"postgresql://me:s3cret@127.0.0.1:{port}/camforge")
    msg = str(e.value)
    assert f"cannot connect to postgresql://me:***@127.0.0.1:{port}/camforge" in msg
    assert "connection refused" in msg and "s3cret" not in msg and "\n" not in msg
    assert time.monotonic() - t0 < 15
    with pytest.raises(StoreError, match="folder .* does not exist"):
        Store(tmp_path / "no" / "such" / "dir" / "r.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        Store(junk)
    with pytest.raises(StoreError, match="unknown database type"):
        Store("nosuchdb://host/x")
    with pytest.raises(StoreError, match="cannot parse"):
        Store("postgresql://host:notaport/x")
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable"):
            Store(ro / "r.db")
    finally:
        ro.chmod(0o700)


def test_errors_are_camforge_errors():
    assert issubclass(StoreError, CamforgeError)


def test_folder_not_writable_message(tmp_path, monkeypatch):
    # Root ignores permissions, so the check's message is tested with os.access answering "no".
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(StoreError, match=f"folder {tmp_path} is not writable"):
        Store(tmp_path / "r.db")


def test_sqlite_wal_readers_do_not_wait_for_a_writer(tmp_path):
    with Store(tmp_path / "r.db") as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            conn.rollback()
            conn.execution_options(camforge_begin="IMMEDIATE")
            with conn.begin():  # holds the write lock
                conn.execute(text("INSERT INTO designs (content_hash, name, spec_json, created_at) "
                                  "VALUES ('0123456789abcdef', 'w', '{}', '2024-01-01 00:00:00')"))
                t0 = time.monotonic()
                assert store.runs() == [] and store.info()["designs"] == 0  # the uncommitted row is unseen
                assert time.monotonic() - t0 < 2.0


def test_retry_on_locked_only():
    from sqlalchemy.exc import OperationalError

    from camforge.store.engine import with_retry

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT ...", {}, Exception("database is locked"))
        return "ok"

    assert with_retry(flaky, base_delay_s=0.001) == "ok" and len(calls) == 3

    def broken():
        calls.append(1)
        raise OperationalError("INSERT ...", {}, Exception("no such table: runs"))

    calls.clear()
    with pytest.raises(OperationalError):
        with_retry(broken, base_delay_s=0.001)
    assert len(calls) == 1


def test_design_identity_is_camera_design_content_hash(tmp_path):
    from camforge import Camera

    cam = Camera(DESIGN)
    with Store(tmp_path / "r.db") as store:
        ids = {store.add_design(cam), store.add_design(cam.design), store.add_design(cam.design.to_dict())}
        assert len(ids) == 1
        rec = store.design(ids.pop())
        assert rec.content_hash == cam.design.content_hash() and rec.spec == cam.design.to_dict()
        assert rec.name == "tiny"
