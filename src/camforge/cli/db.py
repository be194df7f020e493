"""``camforge db ...``: look into the results database (runs, measurements) and export it.

``--db`` takes a SQLAlchemy URL or a SQLite file path; without it ``$CAMFORGE_DB``, else
``~/.local/share/camforge/results.db`` (see :mod:`camforge.store.engine`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from camforge.cli import app

db_app = typer.Typer(
    help="Results database: list runs, show one run, export measurements to CSV or Parquet.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")

_DB_HELP = ("Database: a SQLAlchemy URL (sqlite:///file.db, postgresql://user@host/db) or a SQLite file; "
            "default $CAMFORGE_DB, else ~/.local/share/camforge/results.db.")
_STATUS_STYLE = {"complete": "green", "failed": "red", "running": "yellow"}


def _open(db: str | None, *, create: bool = False):
    from camforge.store import Store

    return Store(db, create=create)


def _console():
    from rich.console import Console

    return Console()


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def _when(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t is not None else "—"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _status_text(run) -> str:
    status = run.status
    if status == "running" and run.process_alive() is False:
        status = "running (process gone)"
    style = _STATUS_STYLE.get(run.status, "")
    return f"[{style}]{status}[/]" if style else status


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.6g}"


@db_app.command("list")
def list_runs(
    db: str = typer.Option(None, "--db", help=_DB_HELP),
    kind: str = typer.Option(None, "--kind", help="Only runs of this kind (evaluate, qualify, optimize, ...)."),
    status: str = typer.Option(None, "--status", help="Only runs with this status (running, complete, failed)."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many runs (newest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List runs, newest first."""
    from rich import box
    from rich.table import Table

    from camforge.errors import InputError
    from camforge.store import RUN_STATUSES

    if status is not None and status not in RUN_STATUSES:
        raise InputError(f"--status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
    with _open(db) as store:
        runs = store.runs(kind=kind, status=status, limit=limit)
        if as_json:
            _print_json({"database": store.display_url, "runs": [r.to_dict() for r in runs]})
            return
        console = _console()
        if not runs:
            console.print(f"no runs in {store.display_url}")
            return
        table = Table(title=f"runs in {store.display_url}", title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False, show_edge=False, collapse_padding=True)
        for col, kw in (("id", {"justify": "right", "no_wrap": True}), ("kind", {"min_width": 8}),
                        ("status", {"min_width": 8}), ("design", {"min_width": 10, "max_width": 24}),
                        ("started UTC", {"no_wrap": True}), ("time", {"justify": "right", "no_wrap": True}),
                        ("rows", {"justify": "right", "no_wrap": True}),
                        ("error", {"overflow": "ellipsis", "no_wrap": True, "max_width": 40})):
            table.add_column(col, **kw)
        for r in runs:
            table.add_row(str(r.id), r.kind, _status_text(r), r.design_name or "—",
                          r.started_at.strftime("%m-%d %H:%M"),
                          _duration(r.duration_s), str(r.n_measurements), r.error or "")
        console.print(table)


@db_app.command("show")
def show_run(
    run: str = typer.Argument(..., help="Run id or (the start of) its UUID."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
    measurements: bool = typer.Option(False, "--measurements", "-m", help="Also list every measurement."),
    limit: int = typer.Option(200, "--limit", min=1, help="With -m: list at most this many measurements."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with every measurement) instead of tables."),
) -> None:
    """Show one run: design, plan, per-metric summary, artifacts (and measurements with -m)."""
    from rich.table import Table

    with _open(db) as store:
        detail = store.run_detail(run)
        if as_json:
            out = detail.to_dict()
            out["measurements"] = [m.to_dict() for m in store.measurements(detail.run.id)]
            _print_json(out)
            return
        r = detail.run
        console = _console()
        info = Table.grid(padding=(0, 2))
        info.add_column(style="bold")
        info.add_column()
        design = f"{detail.design.name} ({detail.design.content_hash[:12]})" if detail.design else "—"
        for k, v in (("run", f"{r.id}  {r.uuid}"), ("kind", r.kind), ("status", _status_text(r)),
                     ("design", design), ("started", _when(r.started_at)), ("finished", _when(r.finished_at)),
                     ("duration", _duration(r.duration_s)), ("host", f"{r.host} (pid {r.pid})"),
                     ("camforge", r.camforge_version), ("conditions", str(detail.n_conditions)),
                     ("measurements", str(r.n_measurements))):
            info.add_row(k, v)
        if r.plan is not None:
            info.add_row("plan", _short_json(r.plan))
        if r.error:
            info.add_row("error", f"[red]{r.error}[/]")
        console.print(info)
        if detail.metrics:
            t = Table(title="metrics over all conditions", title_justify="left")
            for col in ("metric", "unit", "n", "missing", "min", "mean", "max"):
                t.add_column(col, justify="left" if col in ("metric", "unit") else "right")
            for m in detail.metrics:
                t.add_row(m.metric, m.unit, str(m.n), str(m.n_missing), _num(m.min), _num(m.mean), _num(m.max))
            console.print(t)
        if detail.artifacts:
            t = Table(title="artifacts", title_justify="left")
            for col in ("kind", "path", "sha256"):
                t.add_column(col)
            for a in detail.artifacts:
                t.add_row(a.kind, a.path, (a.sha256 or "—")[:16])
            console.print(t)
        if measurements:
            rows = store.measurements(r.id, limit=limit)
            t = Table(title=f"measurements (first {len(rows)} of {r.n_measurements})", title_justify="left")
            for col in ("condition", "metric", "value", "unit", "95 % CI"):
                t.add_column(col, justify="right" if col == "value" else "left")
            for m in rows:
                ci = f"{_num(m.ci_low)} … {_num(m.ci_high)}" if m.ci_low is not None or m.ci_high is not None else ""
                t.add_row(_short_json(m.condition, 60), m.metric, _num(m.value), m.unit, ci)
            console.print(t)


def _short_json(obj: Any, width: int = 100) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


@db_app.command("export")
def export(
    out: Path = typer.Argument(..., help="Output file: .csv or .parquet (written atomically)."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
    runs: list[str] = typer.Option(None, "--run", help="Export only this run (id or UUID); repeat for several."),
    fmt: str = typer.Option(None, "--format", help="csv or parquet (default: from the file suffix)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Export measurements (one row each, with run, design and condition columns)."""
    with _open(db) as store:
        res = store.export(out, format=fmt, run_ids=runs or None)
    if as_json:
        _print_json(res.to_dict())
    else:
        typer.echo(f"wrote {res.n_rows} measurements of {res.n_runs} runs to {res.path} ({res.format})")


@db_app.command("info")
def info(
    db: str = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Where the database is, its schema version and row counts."""
    with _open(db) as store:
        d = store.info()
    if as_json:
        _print_json(d)
        return
    for k, v in d.items():
        typer.echo(f"{k}: {v}")
