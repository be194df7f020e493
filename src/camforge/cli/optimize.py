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
    propose: int = typer.Option(0, "--propose", help="With --method generative: after the study, propose this many new "
                                "designs for the space's target spec (CVAE screened by a GP critic, trained on every "
                                "evaluation) into OUT/proposals.json; they are not evaluated."),
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

    if propose and m != "generative":
        from camforge.errors import ConfigError

        raise ConfigError(f"--propose needs --method generative (got {m})")
    if propose and not sp.target:
        from camforge.errors import ConfigError

        raise ConfigError(f"--propose: design space {sp.name!r} has no target spec (add target: [...] to it)")
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
    if propose:
        summary["proposals"] = str(_propose(res, propose, seed, opts, out))
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
    if propose:
        typer.echo(f"proposals for the target spec: {summary['proposals']}")


def _propose(res, n: int, seed: int, opts: dict, out: Path) -> Path:
    """``n`` designs for the space's target from a CVAE + GP critic trained on the study."""
    import math

    from camforge.design.optimizers.generative import GenerativeOptimizer, TargetSurrogate
    from camforge.io.atomic import atomic_write_text

    pr = res.problem
    keep = {"latent_dim", "epochs", "oversample"}
    g = GenerativeOptimizer(seed=seed, **{k: v for k, v in opts.items() if k in keep})
    g.bind(pr)
    g.setup(pr, None, res.evaluations)
    props = g.propose_for_target(n)
    ok = [e for e in res.evaluations if e.ok and all(math.isfinite(v) for v in e.objectives)]
    prob = g.log.get("target_probability")  # the critic that screened them (absent: too few candidates)
    if prob is None or len(prob) != len(props):
        prob = TargetSurrogate(pr, ok, seed=seed).probability(props) if props else []
    doc = {"space": pr.space.name, "target": [k.text for k in pr.space.target], "study": res.name,
           "trained_on": len(ok), "proposals": [{"params": p, "p_meets_target": float(q)} for p, q in zip(props, prob)]}
    path = atomic_write_text(Path(out) / "proposals.json", json.dumps(doc, indent=1))
    return path


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
