"""HTML lot report: yield, failure Pareto, figure distributions against the limits, and the
failing modules with thumbnails and defect overlays (red: defect pixels and lines, amber:
blemishes, magenta: detector anomaly above threshold). One self-contained file."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from camforge.qualify.measure import FIGURES
from camforge.report import Figure, Section, Table, figure_to_data_uri, write_page


def _pareto_figure(pareto):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p[0] for p in pareto][:12]
    counts = np.array([p[1] for p in pareto][:12], dtype=float)
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    ax.bar(range(len(names)), counts, color="#c0504d")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("modules failing")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax2 = ax.twinx()
    ax2.plot(range(len(names)), 100 * np.cumsum(counts) / max(counts.sum(), 1), "o-", color="#1f3b57")
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("cumulative %")
    ax.set_title("Failure Pareto")
    return figure_to_data_uri(fig)


def _histogram(name, values, limit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    ax.hist(values, bins=30, color="#4f81bd")
    for v in (limit.min, limit.max):
        if v is not None:
            ax.axvline(v, color="#c0504d", lw=1.5)
    unit = FIGURES.get(name, ("",))[0]
    ax.set_xlabel(f"{name}" + (f" [{unit}]" if unit else ""), fontsize=8)
    ax.set_ylabel("modules", fontsize=8)
    ax.tick_params(labelsize=7)
    return figure_to_data_uri(fig, dpi=90)


def write_lot_report(result, path: str | Path, *, max_thumbnails: int = 40) -> Path:
    """Write the HTML report of a :class:`~camforge.qualify.run.LotResult`."""
    s = result.summary
    sections = []

    def pct(v):
        return "—" if v is None else f"{v:.1f} %"

    summary = Table(["item", "value"], [
        ["lot", result.lot], ["spec", result.spec.name], ["detector", result.detector or "none"],
        ["modules", s.n_modules], ["pass", s.n_pass], ["fail", s.n_fail], ["error (unreadable)", s.n_error],
        ["yield (pass / measured)", pct(s.yield_pct)], ["first-pass yield (pass / all)", pct(s.first_pass_yield_pct)],
        ["throughput", f"{result.modules_per_s:.2f} modules/s ({result.executor})"],
    ])
    paras = [f"{s.n_fail} of {s.n_modules} modules fail the spec, {s.n_error} could not be read."]
    paras += [f"Lot problem: {p}" for p in result.lot_problems]
    sections.append(Section("Summary", paragraphs=paras, tables=[summary]))
    if s.pareto:
        sections.append(Section("Failure Pareto", tables=[Table(["figure", "modules"], [list(p) for p in s.pareto])],
                                figures=[Figure(_pareto_figure(s.pareto), "Failing modules per figure (each module counted "
                                                                          "once per figure) and the cumulative share.",
                                                alt="failure Pareto")]))
    limits = Table(["figure", "unit", "min", "max", "fails"], [
        [k, FIGURES[k][0], lim.min, lim.max, dict(s.pareto).get(k, 0)] for k, lim in result.spec.limits.items()])
    hists = []
    for k, lim in list(result.spec.limits.items())[:8]:
        vals = [m.figures[k] for m in result.modules if k in m.figures and np.isfinite(m.figures[k])]
        if len(vals) >= 3:
            hists.append(Figure(_histogram(k, vals, lim), f"{k}: distribution over the lot; red lines: limits.",
                                alt=f"histogram of {k}"))
    sections.append(Section("Spec limits", tables=[limits], figures=hists))
    failing = [m for m in result.modules if m.status == "fail"]
    if failing:
        rows = [[m.module_id, m.text, ", ".join(m.truth.get("kinds", [])) if m.truth else "—"] for m in failing]
        figs = []
        for m in failing[:max_thumbnails]:
            if m.thumbnail_png:
                uri = "data:image/png;base64," + base64.b64encode(m.thumbnail_png).decode("ascii")
                figs.append(Figure(uri, f"{m.module_id}: {m.text[:160]}", alt=f"module {m.module_id}"))
        sections.append(Section("Failing modules", paragraphs=[
            "Thumbnails: flat field (relative response); red = defect pixels and lines, amber = blemishes, "
            "magenta = detector anomaly above its threshold."],
            tables=[Table(["module", "reasons", "injected (truth)"], rows)], figures=figs))
    errors = [m for m in result.modules if m.status == "error"]
    if errors:
        sections.append(Section("Modules that could not be measured",
                                tables=[Table(["module", "error"], [[m.module_id, m.error] for m in errors])]))
    return write_page(path, f"Lot report — {Path(result.lot).name}", sections,
                      subtitle=f"spec {result.spec.name} · {s.n_modules} modules · yield {pct(s.yield_pct)}",
                      footer="camforge qualify")


__all__ = ["write_lot_report"]
