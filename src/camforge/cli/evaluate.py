"""``camforge evaluate DESIGN``: the main job — scorecard, HTML report, results database."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from camforge.cli import app


def _console():
    from rich.console import Console

    return Console()


def print_scorecard(card, console=None) -> None:
    from rich.table import Table

    console = console or _console()
    t = Table(title=f"{card.design.get('name', '')} — plan {card.plan.get('name', '')}", show_lines=False)
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("unit")
    t.add_column("95 % CI")
    from camforge.evaluate.scorecard import HEADLINE

    for name, value, unit, ci in card.summary_rows():
        if name not in HEADLINE and not name.startswith("snr_18pct_db"):
            continue
        t.add_row(name, "—" if value is None else f"{value:.4g}", unit, ci)
    console.print(t)


@app.command("evaluate")
def evaluate_cmd(
    design: str = typer.Argument(..., help="Camera design YAML (lens, sensor, isp), or a bundled name such as phone_main_12mp."),
    plan: str = typer.Option("default", "--plan", help="Test plan YAML or a bundled plan: default, quick."),
    out: Path = typer.Option(None, "--out", help="Output folder for scorecard.json, report.html and captures/ (default: out/<design name>)."),
    db: str = typer.Option(None, "--db", help="Results database: SQLite path or SQLAlchemy URL (default: $CAMFORGE_DB or ~/.local/share/camforge/results.db)."),
    no_db: bool = typer.Option(False, "--no-db", help="Do not store the run in the results database."),
    executor: str = typer.Option("local", "--executor", help="Where conditions run: serial, local, local:N, ray, ray://host:port."),
    as_json: bool = typer.Option(False, "--json", help="Print the scorecard as JSON on stdout."),
) -> None:
    """Evaluate a camera design end to end: capture the plan's charts through the design's lens,
    sensor and ISP, measure them (ISO 12233 MTF, SNR vs lux, ΔE00, OECF/DR, shading,
    distortion, lateral CA, texture, EMVA 1288) and write a scorecard, an HTML report and a
    results-database run."""
    from camforge.cli.simulate import resolve_design
    from camforge.evaluate import evaluate, load_design, make_output_folder
    from camforge.parallel import progress_bar

    path = resolve_design(design)
    d = load_design(path)
    out = make_output_folder(out or Path("out") / d.name)  # before the database, which may live in it
    store = None
    if not no_db:
        from camforge.store import Store

        store = Store(db)
    try:
        with progress_bar(f"evaluating {d.name}") as bar:
            card = evaluate(d, plan, out=out, db=store, executor=executor, progress=bar)
    finally:
        if store is not None:
            store.close()
    if as_json:
        typer.echo(card.to_json(with_plots=False))
        return
    print_scorecard(card)
    where = f"; run {card.run_id} in the results database" if card.run_id is not None else ""
    typer.echo(f"report: {out / 'report.html'}  scorecard: {out / 'scorecard.json'}{where}  "
               f"({card.timings_s.get('total', 0):.1f} s)")


@app.command("compare")
def compare_cmd(
    items: list[str] = typer.Argument(..., help="Two or more designs (YAML or bundled names) or run ids from the results database."),
    plan: str = typer.Option("default", "--plan", help="Test plan for designs that are evaluated now."),
    out: Path = typer.Option(Path("out/compare"), "--out", help="Output folder for compare.html and compare.json."),
    db: str = typer.Option(None, "--db", help="Results database (runs are read from it; new evaluations are stored in it)."),
    executor: str = typer.Option("local", "--executor", help="Where conditions run: serial, local, local:N, ray, ray://host:port."),
    as_json: bool = typer.Option(False, "--json", help="Print the side-by-side table as JSON."),
) -> None:
    """Compare designs or stored runs side by side: one table and overlaid plots in one HTML page."""
    from camforge.errors import InputError

    if len(items) < 2:
        raise InputError("compare needs at least two designs or run ids")
    from camforge.cli.simulate import resolve_design
    from camforge.evaluate import evaluate, load_design, make_output_folder
    from camforge.evaluate.report import write_comparison
    from camforge.evaluate.scorecard import Scorecard
    from camforge.io import atomic_write_text
    from camforge.store import Store

    make_output_folder(out)  # before the database, which may live in it
    store = Store(db)
    cards, names = [], []
    try:
        for it in items:
            if it.isdigit() or (Path(it).suffix == "" and not Path(it).exists() and _looks_like_uuid(it)):
                cards.append(scorecard_from_run(store, it))
            else:
                d = load_design(resolve_design(it))
                cards.append(evaluate(d, plan, out=out / d.name, db=store, executor=executor))
            names.append(cards[-1].design.get("name", it) or it)
    finally:
        store.close()
    names = [n if names.count(n) == 1 else f"{n} #{i + 1}" for i, n in enumerate(names)]
    out.mkdir(parents=True, exist_ok=True)
    write_comparison(cards, names, out / "compare.html")
    table = {n: {k: c.value(k) for k in c.metrics} for n, c in zip(names, cards)}
    atomic_write_text(out / "compare.json", json.dumps(table, indent=2))
    if as_json:
        typer.echo(json.dumps(table, indent=2))
        return
    _ = Scorecard
    typer.echo(f"comparison: {out / 'compare.html'}")


def _looks_like_uuid(s: str) -> bool:
    return len(s) >= 6 and all(c in "0123456789abcdef-" for c in s.lower())


def scorecard_from_run(store, ref):
    """A scorecard for a stored run: its scorecard.json artifact when the file still exists,
    otherwise rebuilt from the run's measurements (no plots)."""
    from camforge.errors import InputError
    from camforge.evaluate.scorecard import Scorecard

    detail = store.run_detail(int(ref) if str(ref).isdigit() else ref)
    if detail.run.kind != "evaluate":
        raise InputError(f"run {ref} is a {detail.run.kind} run, not an evaluation")
    for a in detail.artifacts:
        if a.kind == "scorecard" and Path(a.path).is_file():
            card = Scorecard.from_dict(json.loads(Path(a.path).read_text(encoding="utf-8")))
            card.run_id = detail.run.id
            return card
    metrics = {}
    for m in store.measurements(detail.run.id):
        metrics[m.metric] = {"value": m.value, "unit": m.unit, "condition": m.condition,
                             **({"ci95": [m.ci_low, m.ci_high]} if m.ci_low is not None else {})}
    spec = detail.design.spec if detail.design is not None else {"name": f"run {ref}"}
    return Scorecard(design=spec, plan={}, metrics=metrics, run_id=detail.run.id)
