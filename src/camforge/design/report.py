"""HTML reports of design studies: Pareto fronts, hypervolume over evaluations, parallel
coordinates (matplotlib, embedded in one self-contained page by :mod:`camforge.report`)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

from camforge.report import Figure, Section, Table, figure_to_data_uri, write_page


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _label(problem, i: int) -> str:
    o = problem.objectives[i]
    arrow = "↑" if o.direction == "maximize" else "↓"
    return f"{o.name} [{o.unit}] {arrow}" if o.unit else f"{o.name} {arrow}"


def pareto_figures(res) -> list[Figure]:
    """2-D projections of the objective space: every evaluation, feasible ones and the front."""
    plt = _plt()
    Y = res.objectives()
    feas = res.feasible()
    front = np.zeros(len(Y), bool)
    front[res.pareto] = True
    m = Y.shape[1]
    pairs = list(itertools.combinations(range(m), 2)) or [(0, 0)]
    figs = []
    for i, j in pairs:
        fig, ax = plt.subplots(figsize=(4.6, 3.8))
        ok = np.isfinite(Y).all(1)
        ax.scatter(Y[ok & ~feas, i], Y[ok & ~feas, j], s=10, c="#bbbbbb", label="infeasible")
        ax.scatter(Y[feas & ~front, i], Y[feas & ~front, j], s=12, c="#4c78a8", alpha=0.7, label="feasible")
        ax.scatter(Y[front, i], Y[front, j], s=26, c="#e45756", edgecolors="k", linewidths=0.4, label="Pareto front")
        ref = res.problem.reference_point
        if ref is not None and i != j:
            ax.axvline(ref[i], color="k", lw=0.6, ls=":")
            ax.axhline(ref[j], color="k", lw=0.6, ls=":")
        ax.set_xlabel(_label(res.problem, i))
        ax.set_ylabel(_label(res.problem, j))
        for k, idx in ((i, "x"), (j, "y")):
            col = Y[ok, k]
            if len(col) and (col > 0).all() and col.max() / col.min() > 30:
                getattr(ax, f"set_{idx}scale")("log")
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
        figs.append(Figure(figure_to_data_uri(fig), f"Pareto front: {res.problem.objectives[i].name} vs "
                                                    f"{res.problem.objectives[j].name}", alt="pareto front"))
    return figs


def hypervolume_figure(curves: dict[str, list[np.ndarray]], reference_hv: float | None = None,
                       title: str = "") -> Figure:
    """Hypervolume vs evaluations; several runs per label are drawn as median and IQR band."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colors = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d"]
    for (label, runs), c in zip(curves.items(), itertools.cycle(colors)):
        runs = [np.asarray(r, float) for r in runs if len(r)]
        if not runs:
            continue
        n = max(len(r) for r in runs)
        M = np.full((len(runs), n), np.nan)
        for k, r in enumerate(runs):
            M[k, : len(r)] = r
            M[k, len(r):] = r[-1]  # runs stopped at the target keep their last value
        x = np.arange(1, n + 1)
        med = np.nanmedian(M, 0)
        ax.plot(x, med, color=c, label=f"{label} (n={len(runs)})")
        if len(runs) > 1:
            ax.fill_between(x, np.nanpercentile(M, 25, 0), np.nanpercentile(M, 75, 0), color=c, alpha=0.2)
    if reference_hv:
        ax.axhline(reference_hv, color="k", lw=0.8, ls="--", label="reference front")
        ax.axhline(0.95 * reference_hv, color="k", lw=0.6, ls=":", label="95 % of reference")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume")
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return Figure(figure_to_data_uri(fig), "Hypervolume of the feasible designs found vs evaluations"
                  + (" (median and interquartile range over seeds)" if any(len(v) > 1 for v in curves.values()) else ""),
                  alt="hypervolume")


def parallel_coordinates_figure(res) -> Figure:
    """Parallel coordinates: every parameter (scaled to its range) and objective (min–max)."""
    plt = _plt()
    sp = res.problem.space
    evs = res.evaluations
    names = list(sp.parameters) + [o.name for o in res.problem.objectives]
    rows = []
    for e in evs:
        x = list(sp.encode(e.params, onehot=False))
        rows.append(x + list(e.objectives))
    A = np.asarray(rows, float)
    k = len(sp.parameters)
    for j in range(k, A.shape[1]):
        col = A[:, j]
        ok = np.isfinite(col)
        if ok.any():
            lo, hi = col[ok].min(), col[ok].max()
            A[:, j] = (col - lo) / (hi - lo) if hi > lo else 0.5
    feas = res.feasible()
    front = np.zeros(len(A), bool)
    front[res.pareto] = True
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(names)), 4.0))
    x = np.arange(len(names))
    for sel, c, a, lw in ((~feas, "#cccccc", 0.35, 0.6), (feas & ~front, "#4c78a8", 0.35, 0.7),
                          (front, "#e45756", 0.9, 1.3)):
        for r in A[sel]:
            ax.plot(x, r, color=c, alpha=a, lw=lw)
    ax.set_xticks(x)
    ax.set_xticklabels([n.replace("_", " ") for n in names], rotation=30, ha="right", fontsize=7)
    ax.axvline(k - 0.5, color="k", lw=0.6)
    ax.set_ylabel("scaled value (parameters: range; objectives: min–max)")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3, axis="x")
    return Figure(figure_to_data_uri(fig), "Parallel coordinates: grey infeasible, blue feasible, red Pareto front",
                  alt="parallel coordinates")


def learning_curve_figure(episodes: list[list[float]]) -> Figure:
    """RL learning curve: episode return vs evaluations (and its running mean)."""
    plt = _plt()
    E = np.asarray(episodes, float).reshape(-1, 2)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.plot(E[:, 0], E[:, 1], ".", color="#4c78a8", alpha=0.5, label="episode return")
    if len(E) >= 5:
        w = max(5, len(E) // 10)
        run = np.convolve(E[:, 1], np.ones(w) / w, mode="valid")
        ax.plot(E[w - 1 :, 0], run, color="#e45756", label=f"running mean ({w} episodes)")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("episode return (utility gained)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return Figure(figure_to_data_uri(fig), "Reinforcement learning: learning curve", alt="learning curve")


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return v


def study_sections(res) -> list[Section]:
    """The sections of a study report."""
    pr = res.problem
    sp = pr.space
    hv = res.hypervolume[-1] if res.hypervolume else None
    summary = Table(["study", "method", "space", "evaluator", "evaluations", "feasible", "Pareto designs",
                     "final hypervolume", "wall time [s]"],
                    [[res.name, res.method, sp.name, pr.evaluator.kind, len(res.evaluations), int(res.feasible().sum()),
                      len(res.pareto), hv, res.wall_time_s]],
                    caption=f"storage: {res.storage}")
    obj = Table(["objective", "direction", "reference point", "unit"],
                [[o.name, o.direction, o.reference, o.unit] for o in pr.objectives])
    cons = Table(["constraint", "kind"], [[k.text, "analytic" if k in sp.analytic_constraints else "outcome"]
                                         for k in pr.constraints])
    params = Table(["parameter", "type", "range / choices", "unit", "meaning"],
                   [[r["name"], r["type"], r["range"], r["unit"], r["description"]] for r in sp.describe()])
    sections = [Section("Study", [sp.config.description or ""], [summary, obj, cons, params])]
    if len(res.evaluations):
        sections.append(Section("Pareto front", [
            "Every evaluated design in the objective space (2-D projections); red: the feasible "
            "non-dominated designs; dotted lines: the hypervolume reference point."], figures=pareto_figures(res)))
    if res.hypervolume:
        sections.append(Section("Hypervolume", [
            "Hypervolume of the feasible designs among the first k evaluations (reference point above)."],
            figures=[hypervolume_figure({res.method: [np.asarray(res.hypervolume)]})]))
    if len(res.evaluations) > 1:
        sections.append(Section("Parallel coordinates", figures=[parallel_coordinates_figure(res)]))
    if res.pareto:
        cols = ["trial"] + list(sp.parameters) + [o.name for o in pr.objectives]
        rows = []
        for i in res.pareto[:50]:
            e = res.evaluations[i]
            rows.append([res.trial_numbers[i]] + [_fmt(e.params[k]) for k in sp.parameters] + [_fmt(v) for v in e.objectives])
        sections.append(Section("Pareto designs", tables=[Table(cols, rows, caption="first 50 Pareto designs")]))
    eps = res.log.get("episodes") if isinstance(res.log, dict) else None
    if eps:
        sections.append(Section("Learning curve", figures=[learning_curve_figure(eps)]))
    return sections


def write_study_report(res, path: str | Path) -> Path:
    """Write ``study.html`` for a :class:`~camforge.design.study.StudyResult`."""
    return write_page(path, f"Design study {res.name}", study_sections(res),
                      subtitle=f"{res.problem.space.name} · {res.method} · {len(res.evaluations)} evaluations",
                      footer="camforge design study")


def write_gradient_report(result, loss, out: str | Path) -> Path:
    """``gradient.html``: loss per step and the parameter trajectories."""
    plt = _plt()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.plot(np.arange(1, len(result.losses) + 1), result.losses, color="#4c78a8")
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({loss.spec.loss})")
    ax.grid(alpha=0.3)
    figs = [Figure(figure_to_data_uri(fig), "Image-quality loss per gradient step", alt="loss")]
    if result.params:
        fig, ax = plt.subplots(figsize=(6.0, 3.6))
        for p in loss.params:
            v = np.array([q[p.name] for q in result.params])
            ax.plot(np.arange(1, len(v) + 1), (v - p.low) / (p.high - p.low), label=p.name)
        ax.set_xlabel("step")
        ax.set_ylabel("parameter (fraction of its range)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        figs.append(Figure(figure_to_data_uri(fig), "Parameter trajectories", alt="parameters"))
    best, bp = result.best if result.losses else (None, {})
    t = Table(["parameter", "low", "high", "best"], [[p.name, p.low, p.high, bp.get(p.name)] for p in loss.params],
              caption=f"best loss {best}")
    sec = Section("Gradient descent through the camera", [
        f"Scene {loss.spec.scene} at {loss.spec.lux:g} lx, {loss.spec.frames} noise realisation(s), "
        f"loss {loss.spec.loss} against the ideal rendering."], tables=[t], figures=figs)
    return write_page(out / "gradient.html", f"Gradient tuning — {loss.space.name}", [sec])


__all__ = ["hypervolume_figure", "learning_curve_figure", "parallel_coordinates_figure", "pareto_figures",
           "study_sections", "write_gradient_report", "write_study_report"]
