"""HTML report of a scorecard (and of several, side by side, for ``camforge compare``)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from camforge.evaluate.scorecard import Scorecard
from camforge.report import Figure, Section, Table, figure_to_data_uri, write_page

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fig_mtf(cards: list[Scorecard], names: list[str]):
    plt = _plt()
    fields = sorted({c["field"] for s in cards for c in s.plots.get("mtf", [])})
    if not fields:
        return None
    fig, axes = plt.subplots(1, len(fields), figsize=(4.2 * len(fields), 3.4), squeeze=False)
    for ax, f in zip(axes[0], fields):
        for k, (s, nm) in enumerate(zip(cards, names)):
            for c in s.plots.get("mtf", []):
                if c["field"] != f:
                    continue
                ls = "-" if c["orientation"] == "meridional" else "--"
                ax.plot(c["freq"], c["mtf"], ls, color=_COLORS[k % len(_COLORS)], lw=1.2,
                        label=f"{nm} {c['orientation'][:3]}" if len(cards) > 1 else c["orientation"])
        ax.axhline(0.5, color="0.6", lw=0.8)
        ax.set_xlim(0, 1.0)
        ax.set_ylim(0, 1.1)
        ax.set_xlabel("spatial frequency [cy/px]")
        ax.set_title({0.0: "centre", 0.5: "0.5 field", 0.85: "corner (0.85)"}.get(f, str(f)))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("MTF (sRGB output, linearised)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    axes[0][-1].legend(uniq.values(), uniq.keys(), fontsize=7)
    return fig


def _fig_field(cards, names):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    any_ = False
    for k, (s, nm) in enumerate(zip(cards, names)):
        for orient, ls in (("sagittal", "--o"), ("meridional", "-s")):
            xs, ys = [], []
            for f, key in ((0.0, "mtf50_center"), (0.5, f"mtf50_half_field_{orient}"), (0.85, f"mtf50_corner_{orient}")):
                v = s.value(key)
                if v is not None:
                    xs.append(f)
                    ys.append(v)
            if xs:
                any_ = True
                ax.plot(xs, ys, ls, color=_COLORS[k % len(_COLORS)], label=f"{nm} {orient}" if len(cards) > 1 else orient)
    if not any_:
        plt.close(fig)
        return None
    ax.set_xlabel("field position (fraction of half diagonal)")
    ax.set_ylabel("MTF50 [cy/px]")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def _fig_snr(cards, names):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    any_ = False
    for k, (s, nm) in enumerate(zip(cards, names)):
        pts = s.plots.get("snr", [])
        if not pts:
            continue
        any_ = True
        lux = [p["lux"] for p in pts]
        ax.semilogx(lux, [20 * np.log10(max(p["snr"], 1e-9)) for p in pts], "-o", color=_COLORS[k % len(_COLORS)],
                    label=f"{nm} ISP output" if len(cards) > 1 else "ISP output")
        ax.semilogx(lux, [20 * np.log10(max(p["snr_raw"], 1e-9)) for p in pts], "--", color=_COLORS[k % len(_COLORS)],
                    alpha=0.6, label=f"{nm} raw" if len(cards) > 1 else "raw (green)")
    if not any_:
        plt.close(fig)
        return None
    ax.axhline(20.0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("illuminance [lx]")
    ax.set_ylabel("SNR of 18 % grey [dB]")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return fig


def _fig_de(s: Scorecard):
    plt = _plt()
    cols = [c for c in s.plots.get("color", [])]
    if not cols:
        return None
    fig, axes = plt.subplots(1, len(cols), figsize=(3.6 * len(cols), 2.8), squeeze=False)
    for ax, c in zip(axes[0], cols):
        de = np.asarray(c["delta_e00"], float).reshape(4, 6)
        im = ax.imshow(de, cmap="RdYlGn_r", vmin=0, vmax=max(6.0, float(de.max())))
        for i in range(4):
            for j in range(6):
                ax.text(j, i, f"{de[i, j]:.1f}", ha="center", va="center", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"ΔE00 under {c['illuminant']} (mean {de.mean():.2f})", fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    return fig


def _fig_oecf(s: Scorecard):
    plt = _plt()
    o = s.plots.get("oecf")
    if not o:
        return None
    H = np.asarray(o["exposure"], float)
    S = np.asarray(o["signal"], float)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    a1.loglog(H, np.maximum(S, 1e-3), "o-", ms=3)
    a1.set_xlabel("relative exposure")
    a1.set_ylabel("signal [DN above dark]")
    a1.grid(alpha=0.3, which="both")
    a1.set_title("OECF (raw)")
    a2.semilogx(H, o["snr_db"], "o-", ms=3)
    a2.axhline(0, color="0.5", lw=0.8)
    a2.axhline(20, color="0.5", lw=0.8, ls=":")
    a2.set_xlabel("relative exposure")
    a2.set_ylabel("SNR [dB]")
    a2.grid(alpha=0.3, which="both")
    return fig


def _fig_shading(s: Scorecard):
    plt = _plt()
    sh = s.plots.get("shading")
    if not sh:
        return None
    m = np.asarray(sh["luma_map"], float)
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    im = ax.imshow(m, cmap="viridis")
    ax.set_title("luma relative to centre (1 = centre)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax)
    return fig


def _fig_ptc(s: Scorecard):
    plt = _plt()
    e = s.plots.get("emva", {}).get("photon_transfer")
    if not e or not e.get("mean_dn"):
        return None
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    mu = np.asarray(e["mean_dn"], float)
    var = np.asarray(e["var_dn2"], float)
    ax.plot(mu, var, "o", ms=3)
    K = s.plots["emva"].get("K")
    if K:
        x = np.linspace(0, float(np.nanmax(mu)), 50)
        ax.plot(x, K * x, "-", lw=0.8, label=f"slope K = {K:.4g} DN/e⁻")
        ax.legend(fontsize=7)
    ax.set_xlabel("mean signal μ_y − μ_y.dark [DN]")
    ax.set_ylabel("temporal variance σ²_y − σ²_y.dark [DN²]")
    ax.set_title("photon transfer (simulated EMVA 1288)", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def _design_table(d: dict) -> Table:
    lens, sensor = d.get("lens", {}), d.get("sensor", {})
    rows = [
        ["focal length", lens.get("focal_length_mm"), "mm"], ["f-number", lens.get("f_number"), ""],
        ["transmission", lens.get("transmission"), ""],
        ["resolution", f"{sensor.get('width_px')} × {sensor.get('height_px')}", "px"],
        ["pixel pitch", sensor.get("pixel_pitch_um"), "µm"], ["CFA", sensor.get("cfa"), ""],
        ["full well", sensor.get("full_well_e"), "e⁻"], ["read noise", sensor.get("read_noise_e"), "e⁻"],
        ["ADC", sensor.get("adc_bits"), "bits"], ["dark current", sensor.get("dark_current_e_per_s"), "e⁻/s"],
        ["temperature", sensor.get("temperature_c"), "°C"],
    ]
    return Table(["parameter", "value", "unit"], [[a, b, c] for a, b, c in rows], caption="design under test")


def _fig_tasks(cards, names):
    """Task accuracy and mIoU vs illuminance with their bootstrap 95 % CIs."""
    plt = _plt()
    if not any(s.plots.get("tasks") for s in cards):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for k, (s, nm) in enumerate(zip(cards, names)):
        pts = sorted(s.plots.get("tasks", []), key=lambda p: p["lux"])
        if not pts:
            continue
        lux = np.array([p["lux"] for p in pts])
        for ax, key, title in ((axes[0], "accuracy", "recognition accuracy"), (axes[1], "miou", "segmentation mIoU")):
            v = np.array([p[key] for p in pts])
            ci = [p.get(f"{key}_ci95") for p in pts]
            ax.semilogx(lux, v, "-o", color=_COLORS[k % len(_COLORS)], label=nm)
            if all(c is not None for c in ci):
                ax.fill_between(lux, [c[0] for c in ci], [c[1] for c in ci], color=_COLORS[k % len(_COLORS)], alpha=0.2)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("illuminance [lx]")
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3, which="both")
    if len(cards) > 1:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _figs(*pairs) -> list[Figure]:
    out = []
    for fig, caption in pairs:
        if fig is not None:
            out.append(Figure(figure_to_data_uri(fig), caption, alt=caption))
    return out


def write_report(card: Scorecard, path: str | Path, quicklooks: dict[str, bytes] | None = None) -> Path:
    """A self-contained HTML report of one evaluation."""
    summary = Table(["metric", "value", "unit", "95 % CI"], [list(r) for r in card.summary_rows()],
                    caption="every metric of the run; condition details in scorecard.json")
    sections = [
        Section("Summary", [f"{card.design.get('description', '')}"], [summary]),
        Section("Design", tables=[_design_table(card.design)]),
        Section("Sharpness", figures=_figs((_fig_mtf([card], [card.design.get("name", "")]), "MTF curves (solid: meridional, dashed: sagittal)"),
                                           (_fig_field([card], [card.design.get("name", "")]), "MTF50 across the field"))),
        Section("Noise", figures=_figs((_fig_snr([card], [card.design.get("name", "")]), "SNR of 18 % grey vs illuminance; dotted line: SNR = 10"))),
        Section("Colour", figures=_figs((_fig_de(card), "ColorChecker ΔE00 per patch"))),
        Section("Tone", figures=_figs((_fig_oecf(card), "OECF and SNR vs exposure (step chart)"))),
        Section("Shading", figures=_figs((_fig_shading(card), "luma shading map (raw)"))),
        Section("Sensor", figures=_figs((_fig_ptc(card), "photon transfer"))),
        Section("Vision tasks", figures=_figs((_fig_tasks([card], [card.design.get("name", "")]),
                                               "task accuracy vs illuminance (shaded: bootstrap 95 % CI)"))),
    ]
    if quicklooks:
        figs = [Figure("data:image/png;base64," + base64.b64encode(b).decode("ascii"), name, alt=name)
                for name, b in sorted(quicklooks.items())]
        sections.append(Section("Captures", ["Quick looks of the captures (windows of the sensor where the plan uses them)."],
                                figures=figs))
    sections = [s for s in sections if s.tables or s.figures or s.paragraphs and s.title == "Summary"]
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in card.timings_s.items())
    return write_page(path, f"camforge evaluation — {card.design.get('name', '')}", sections,
                      subtitle=f"plan {card.plan.get('name', '')} · {card.created} · camforge {card.camforge_version}",
                      footer=f"job times: {timing}")


def write_comparison(cards: list[Scorecard], names: list[str], path: str | Path) -> Path:
    """Side-by-side table and overlaid plots of several scorecards."""
    metrics = [n for n in cards[0].metrics]
    for c in cards[1:]:
        metrics += [n for n in c.metrics if n not in metrics]
    rows = []
    for n in metrics:
        unit = next((c.metrics[n].get("unit", "") for c in cards if n in c.metrics), "")
        rows.append([n] + [c.value(n) for c in cards] + [unit])
    table = Table(["metric"] + names + ["unit"], rows, caption="one column per design / run")
    sections = [
        Section("Side by side", tables=[table]),
        Section("Sharpness", figures=_figs((_fig_mtf(cards, names), "MTF curves"), (_fig_field(cards, names), "MTF50 across the field"))),
        Section("Noise", figures=_figs((_fig_snr(cards, names), "SNR of 18 % grey vs illuminance"))),
        Section("Vision tasks", figures=_figs((_fig_tasks(cards, names), "task accuracy vs illuminance"))),
    ]
    for c, nm in zip(cards, names):
        figs = _figs((_fig_de(c), f"{nm}: ColorChecker ΔE00"))
        if figs:
            sections.append(Section(f"Colour — {nm}", figures=figs))
    sections = [s for s in sections if s.tables or s.figures]
    return write_page(path, "camforge comparison — " + " vs ".join(names), sections)
