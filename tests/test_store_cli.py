"""``camforge db list|show|export|info`` on a SQLite file, and their errors (one line, exit 2)."""

from __future__ import annotations

import csv
import json
import socket

import pytest

from camforge.cli import main
from camforge.store import Store

DESIGN = {"name": "cli-design", "lens": {"focal_length_mm": 4.4}}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "results.db"
    with Store(path) as store:
        with store.run(DESIGN, kind="evaluate", plan={"lux": [100, 10]}) as run:
            for lux in (100, 10):
                run.add_metrics({"snr_db": {"value": 30.0 + lux / 10, "unit": "dB", "ci95": [29.0, 41.0]},
                                 "mtf50_cy_per_px": {"value": 0.3, "unit": "cy/px"}},
                                condition={"chart": "flat", "lux": lux})
        with pytest.raises(RuntimeError):
            with store.run(DESIGN, kind="qualify") as failed:
                raise RuntimeError("sensor exploded")
    return path, run, failed


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_list_show_export(db, capsys, tmp_path):
    path, run, failed = db
    assert main(["db", "list", "--db", str(path), "--json"]) == 0
    out = _json(capsys)
    assert [r["id"] for r in out["runs"]] == [failed.id, run.id]
    assert [r["status"] for r in out["runs"]] == ["failed", "complete"]
    assert out["runs"][0]["error"] == "RuntimeError: sensor exploded"

    assert main(["db", "list", "--db", str(path), "--status", "complete", "--json"]) == 0
    assert [r["id"] for r in _json(capsys)["runs"]] == [run.id]

    assert main(["db", "list", "--db", str(path)]) == 0
    text = capsys.readouterr().out
    assert "evaluate" in text and "failed" in text and "cli-design" in text

    assert main(["db", "show", run.uuid[:8], "--db", str(path), "--json"]) == 0
    out = _json(capsys)
    assert out["run"]["id"] == run.id and out["design"]["spec"] == DESIGN
    snr = sorted(m["value"] for m in out["measurements"] if m["metric"] == "snr_db")
    assert snr == [31.0, 40.0]
    summary = {m["metric"]: m for m in out["metrics"]}
    assert summary["snr_db"]["min"] == 31.0 and summary["snr_db"]["max"] == 40.0 and summary["snr_db"]["n"] == 2

    assert main(["db", "show", str(run.id), "--db", str(path), "-m"]) == 0
    text = capsys.readouterr().out
    assert "snr_db" in text and "cy/px" in text and "complete" in text

    out_csv = tmp_path / "out.csv"
    assert main(["db", "export", str(out_csv), "--db", str(path), "--run", str(run.id)]) == 0
    assert "wrote 4 measurements of 1 runs" in capsys.readouterr().out
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(float(r["value"]) for r in rows if r["metric"] == "snr_db") == [31.0, 40.0]
    assert {r["cond_lux"] for r in rows} == {"100", "10"}

    assert main(["db", "export", str(tmp_path / "all.parquet"), "--db", str(path), "--json"]) == 0
    assert _json(capsys)["n_rows"] == 4

    assert main(["db", "info", "--db", str(path), "--json"]) == 0
    info = _json(capsys)
    assert (info["runs"], info["designs"], info["measurements"]) == (2, 1, 4)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv, expected", [
    (["db", "list", "--db", "postgresql://u:pw@127.0.0.1:{port}/x"], "connection refused"),
    (["db", "list", "--db", "{tmp}/missing.db"], "no results database"),
    (["db", "show", "999", "--db", "{db}"], "no run 999"),
    (["db", "export", "{tmp}/x.xlsx", "--db", "{db}"], ".csv or .parquet"),
    (["db", "list", "--db", "{db}", "--status", "weird"], "--status must be one of"),
    (["db", "list", "--db", "{tmp}/nodir/x.db"], "no results database"),
])
def test_errors_one_line_exit_2(db, capsys, tmp_path, argv, expected):
    path, _, _ = db
    argv = [a.format(port=_closed_port(), tmp=tmp_path, db=path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err
    assert "pw@" not in err  # the password is never printed


def test_empty_database(tmp_path, capsys):
    Store(tmp_path / "empty.db").close()
    assert main(["db", "list", "--db", str(tmp_path / "empty.db")]) == 0
    assert "no runs" in capsys.readouterr().out
