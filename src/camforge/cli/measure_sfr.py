"""``camforge measure sfr`` and ``camforge measure edges``: slanted-edge SFR (ISO 12233:2023).

``sfr`` measures one edge (the whole image or ``--roi x,y,w,h``); ``edges`` finds and
measures every usable slanted edge of a chart. ``--json`` prints
``{"edges": [{"mtf50": <cy/px>, "angle_deg": ..., "roi": [x, y, w, h], "freq": [...],
"mtf": [...], ...}, ...]}``; ``--plot out.png`` draws the SFR curves with MTF50 marked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from camforge.cli.measure import measure_app
from camforge.cli._parse import load_measurement
from camforge.errors import InputError

_RAW_HELP = "Headerless raw: "


def _parse_roi(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        vals = [int(round(float(p))) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise InputError(f"--roi must be x,y,width,height in pixels (e.g. 100,80,64,128), got {text!r}")
    return tuple(vals)  # type: ignore[return-value]


def _channel(text: str) -> str | int:
    return int(text) if text.strip().isdigit() else text


def _fmt(v: float | None, nd: int = 4) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{nd}f}"


def _plot(path: Path, curves: list[tuple[str, object]], title: str) -> None:
    """SFR curves (label, SFRResult) with MTF50 marked; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from camforge.io import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    colors = {"r": "tab:red", "g": "tab:green", "b": "tab:blue", "luminance": "black"}
    for label, r in curves:
        c = colors.get(r.channel) if len(curves) <= 4 else None
        line, = ax.plot(r.freq_cy_per_px, r.mtf, lw=1.4 if len(curves) <= 4 else 0.8, color=c, label=label)
        if math.isfinite(r.mtf50_cy_per_px):
            ax.plot([r.mtf50_cy_per_px], [0.5], "o", ms=4, color=line.get_color())
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.axvline(0.5, color="0.6", lw=0.8, ls="--")
    ax.text(0.505, 0.95, "Nyquist", fontsize=8, color="0.4", va="top")
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, max(1.05, max(float(r.mtf[r.freq_cy_per_px <= 1].max()) for _, r in curves) * 1.05))
    ax.set_xlabel("spatial frequency [cy/px]")
    ax.set_ylabel("SFR")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(curves) <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


@measure_app.command("sfr")
def sfr_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Image (PNG/TIFF/JPEG) or raw (DNG, ..., headerless .raw)."),
    roi: str | None = typer.Option(None, "--roi", help="Edge region x,y,width,height (px); default the whole image."),
    channel: str = typer.Option("luminance", "--channel",
                                help="luminance, r, g, b, all (RGB), cfa (raw: each CFA colour), or an index."),
    npol: int = typer.Option(5, "--npol", help="Edge-fit polynomial order, 1 (line) to 5."),
    window: str = typer.Option("tukey", "--window", help="LSF window: tukey, hamming or none."),
    bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples for the MTF50 95% interval (0 = off)."),
    width: int | None = typer.Option(None, "--width", help=_RAW_HELP + "width (px)."),
    height: int | None = typer.Option(None, "--height", help=_RAW_HELP + "height (px)."),
    bits: int | None = typer.Option(None, "--bits", help=_RAW_HELP + "ADC bit depth."),
    cfa: str | None = typer.Option(None, "--cfa", help="CFA pattern of a raw (RGGB, BGGR, GRBG, GBRG, MONO...)."),
    black: str | None = typer.Option(None, "--black", help="Black level [DN]: one value or one per CFA site."),
    white: str | None = typer.Option(None, "--white", help="White (clip) level [DN]."),
    byte_order: str = typer.Option("little", "--byte-order", help=_RAW_HELP + "little or big endian."),
    as_json: bool = typer.Option(False, "--json", help='Print {"edges": [{"mtf50", "angle_deg", "roi", "freq", "mtf", ...}]}.'),
    plot: Path | None = typer.Option(None, "--plot", help="Write the SFR curves to this PNG."),
) -> None:
    """Slanted-edge SFR of one edge (ISO 12233:2023 e-SFR)."""
    from camforge.metrics.sfr import sfr

    inp = load_measurement(image, width, height, bits, cfa, black, white, byte_order)
    r = sfr(inp, _parse_roi(roi), channel=_channel(channel), npol=npol, window=window, bootstrap=bootstrap)
    if plot is not None:
        curves = [(k, v) for k, v in r.per_channel.items()] if r.per_channel else [(r.channel, r)]
        _plot(plot, curves, f"{image.name}: MTF50 {_fmt(r.mtf50_cy_per_px)} cy/px ({r.channel})")
    if as_json:
        typer.echo(json.dumps({"edges": [r.to_dict(curves=False)]}))
        return
    ci = r.mtf50_ci95_cy_per_px
    ci_txt = f" (95% CI {_fmt(ci[0])}-{_fmt(ci[1])})" if ci else ""
    typer.echo(f"{image.name}  roi {list(r.roi)}  {r.direction} edge, angle {r.angle_deg:.2f} deg, "
               f"channel {r.channel}, npol {r.npol}")
    typer.echo(f"  MTF50   {_fmt(r.mtf50_cy_per_px)} cy/px{ci_txt}")
    typer.echo(f"  MTF50P  {_fmt(r.mtf50p_cy_per_px)} cy/px   MTF10 {_fmt(r.mtf10_cy_per_px)} cy/px")
    typer.echo(f"  MTF at Nyquist/2 {_fmt(r.mtf_at_nyquist_half, 3)}   at Nyquist {_fmt(r.mtf_at_nyquist, 3)}   "
               f"sampling efficiency {100 * r.sampling_efficiency:.0f}%")
    if r.per_channel:
        for k, v in r.per_channel.items():
            typer.echo(f"  {k:9s} MTF50 {_fmt(v.mtf50_cy_per_px)} cy/px")


@measure_app.command("edges")
def edges_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Chart image or raw with dark tilted squares on a light ground."),
    roi: str | None = typer.Option(None, "--roi", help="Search only inside x,y,width,height (px)."),
    channel: str = typer.Option("luminance", "--channel", help="luminance, r, g, b or cfa (raw)."),
    npol: int = typer.Option(5, "--npol", help="Edge-fit polynomial order, 1 to 5."),
    min_length: float = typer.Option(40.0, "--min-length", help="Shortest usable edge (px)."),
    width: int | None = typer.Option(None, "--width", help=_RAW_HELP + "width (px)."),
    height: int | None = typer.Option(None, "--height", help=_RAW_HELP + "height (px)."),
    bits: int | None = typer.Option(None, "--bits", help=_RAW_HELP + "ADC bit depth."),
    cfa: str | None = typer.Option(None, "--cfa", help="CFA pattern of a raw (RGGB, BGGR, GRBG, GBRG, MONO...)."),
    black: str | None = typer.Option(None, "--black", help="Black level [DN]: one value or one per CFA site."),
    white: str | None = typer.Option(None, "--white", help="White (clip) level [DN]."),
    byte_order: str = typer.Option("little", "--byte-order", help=_RAW_HELP + "little or big endian."),
    as_json: bool = typer.Option(False, "--json", help='Print {"edges": [{"mtf50", "angle_deg", "roi", "freq", "mtf", ...}]}.'),
    plot: Path | None = typer.Option(None, "--plot", help="Write the SFR curves of all edges to this PNG."),
) -> None:
    """Find every slanted edge on a chart and measure its SFR (MTF Mapper style)."""
    from camforge.metrics.edges import measure_edges

    inp = load_measurement(image, width, height, bits, cfa, black, white, byte_order)
    res = measure_edges(inp, channel=_channel(channel), npol=npol, min_length_px=min_length, region=_parse_roi(roi))
    rows = [e.to_dict(curves=False) for e in res.edges]
    if plot is not None:
        curves = [(f"{e.orientation[0]} {e.field:.2f}", e.sfr) for e in res.edges]
        _plot(plot, curves, f"{image.name}: {len(res.edges)} edges (m = meridional, s = sagittal; field)")
    if as_json:
        typer.echo(json.dumps({"edges": rows, "image_size": list(res.image_size), "rejected": len(res.rejected)}))
        return
    typer.echo(f"{image.name}: {len(res.edges)} edges measured, {len(res.rejected)} candidates rejected")
    typer.echo("   x       y      field  orient.     dir.        tilt   MTF50 [cy/px]")
    for d in rows:
        typer.echo(f"  {d['center_xy_px'][0]:7.1f} {d['center_xy_px'][1]:7.1f}  {d['field']:.3f}  "
                   f"{d['orientation']:11s} {d['direction']:10s} {d['tilt_from_axis_deg']:5.2f}   {_fmt(d['mtf50'])}")
