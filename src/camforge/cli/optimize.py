"""``camforge optimize SPACE``: search a design space (studies in Optuna storage, resumable)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from camforge.cli import app
from camforge.cli._parse import key_values

_METHODS = "random, sobol, nsga2, bo, bo-optuna, rl, generative, gradient"


@app.command("optimize")
def optimize_cmd(
    space: str = typer.Argument(..., help="Design space YAML, or a bundled benchmark problem (phone_main, automotive_front)."),
    method: str = typer.Option("bo", "--method", "-m", help=f"Optimizer: {_METHODS}."),
    budget: int = typer.Option(50, "--budget", "-n", help="Evaluations the study should hold (gradient: steps)."),
    executor: str = typer.Option("local", "--executor", help="Where evaluations run: serial, local, local:N, ray, ray:local, ray://host:port."),
    storage: str = typer.Option(None, "--storage", help="Optuna storage: SQLite path or URL (postgresql://...). Default: OUT/study.db."),
    out: Path = typer.Option(None, "--out", help="Folder for study.html, study.json and the default study.db (default: out/<space>-<method>)."),
    name: str = typer.Option(None, "--name", help="Study name (default: <space>-<method>-s<seed>); an existing study of that name is resumed."),
    seed: int = typer.Option(0, "--seed", help="Seed of the method."),
    evaluator: str = typer.Option(None, "--evaluator", help="Score designs with 'scorecard' (camforge evaluate) or 'fast' (physics model); default: the space's."),
    plan: str = typer.Option(None, "--plan", help="Test plan for the evaluator (default: the space's, usually quick)."),
    batch: int = typer.Option(None, "--batch", help="Designs evaluated in parallel per step (default per method)."),
    option: list[str] = typer.Option(None, "--option", "-o", help="Method option key=value (repeatable), e.g. population_size=20."),
    as_json: bool = typer.Option(False, "--json", help="Print the study summary as JSON."),
) -> None:
    """Optimize a camera design: random/Sobol search, NSGA-II, multi-objective Bayesian
    optimization (BoTorch qLogNEHVI), reinforcement learning (PPO), generative inverse design
    (conditional VAE), or gradient descent through the differentiable camera. Every evaluation
    is a trial of an Optuna study; rerunning the same command resumes it."""
    from camforge.design import load_space
    from camforge.parallel import progress_bar

    sp = load_space(space)
    m = method.lower()
    out = out or Path("out") / f"{sp.name}-{m}"
    opts = {k.replace("-", "_"): v for k, v in key_values(option, "--option").items()}
    if m == "gradient":
        from camforge.design.gradient import run_gradient_study

        if batch is not None or evaluator is not None or plan is not None:
            from camforge.errors import ConfigError

            raise ConfigError("--batch, --evaluator and --plan do not apply to --method gradient (it tunes the "
                              "space's image_loss)")
        unknown = set(opts) - {"lr"}
        if unknown:
            from camforge.errors import ConfigError

            raise ConfigError(f"gradient: unknown option(s) {', '.join(sorted(unknown))} (known: lr)")
        with progress_bar(f"gradient {sp.name}") as bar:
            res, url, study_name = run_gradient_study(sp, budget, storage=storage, study_name=name, out=out,
                                                      seed=seed, progress=bar, **opts)
        best, params = res.best
        summary = {"study": study_name, "storage": url, "method": "gradient", "steps": len(res.losses),
                   "initial_loss": res.losses[0], "best_loss": best, "best_params": params,
                   "report": str(out / "gradient.html")}
        if as_json:
            typer.echo(json.dumps(summary, indent=1))
            return
        typer.echo(f"gradient: {len(res.losses)} steps, loss {res.losses[0]:.4g} -> best {best:.4g}")
        for k, v in params.items():
            typer.echo(f"  {k} = {v:.4g}")
        typer.echo(f"report: {out / 'gradient.html'}  study: {study_name} in {url}")
        return
    from camforge.design import run_study

    if m == "rl" and "checkpoint" not in opts:
        opts["checkpoint"] = str(out / "rl_policy.zip")
    with progress_bar(f"{m} on {sp.name}") as bar:
        res = run_study(sp, method=m, budget=budget, evaluator=evaluator, plan=plan, storage=storage,
                        study_name=name, executor=executor, out=out, seed=seed, batch_size=batch, options=opts,
                        progress=bar)
    hv = res.hypervolume[-1] if res.hypervolume else None
    summary = {"study": res.name, "storage": res.storage, "method": res.method, "space": sp.name,
               "evaluations": len(res.evaluations), "feasible": int(res.feasible().sum()), "pareto": len(res.pareto),
               "hypervolume": hv, "wall_time_s": res.wall_time_s, "report": str(res.report) if res.report else None}
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{sp.name} — {res.method}: {len(res.evaluations)} evaluations, {summary['feasible']} feasible, "
                    f"{len(res.pareto)} on the Pareto front")
    for col in list(sp.parameters) + res.objective_names:
        t.add_column(col, justify="right")
    for i in res.pareto[:15]:
        e = res.evaluations[i]
        t.add_row(*[_cell(e.params[k]) for k in sp.parameters], *[_cell(v) for v in e.objectives])
    Console().print(t)
    typer.echo(f"hypervolume: {hv:.6g}" if hv is not None else "hypervolume: (no reference point in the space)")
    typer.echo(f"report: {res.report}  study: {res.name} in {res.storage} (rerun to resume)")


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
