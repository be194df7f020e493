"""``camforge measure color|noise|tone|shading|distortion|texture|lateral-ca``: image-quality
measurements other than SFR.

Every command takes an image (PNG/TIFF/JPEG) or a raw (DNG, camera raw, or a headerless dump
with ``--width --height --bits --cfa [--black --white]``), an optional ``--roi x,y,w,h``,
``--json`` (the result's ``to_dict()``) and ``--plot out.png``. Errors a user can cause
print one line and exit 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import typer

from camforge.cli.measure import measure_app
from camforge.cli._parse import load_measurement, numbers
from camforge.errors import MeasurementError

_RAW = "Headerless raw: "


# ---------------------------------------------------------------------------- shared options


def _as_raw(inp):
    """A camforge Raw from a raw MeasurementInput (for the ISP)."""
    import torch

    from camforge.types import Raw

    return Raw(torch.as_tensor(np.asarray(inp.data, dtype=np.float32))[None, None], inp.meta)


def _emit(result, as_json: bool, lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(result.to_dict(), allow_nan=False))
    else:
        for line in lines:
            typer.echo(line)


def _f(v, nd=2, unit="") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{nd}f}{unit}"


def _figure(path: Path, draw, figsize=(7.0, 4.6)) -> None:
    """Draw with ``draw(fig)`` and write the PNG atomically (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from camforge.io import atomic_path

    fig = plt.figure(figsize=figsize, dpi=110)
    try:
        draw(fig)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def _display(inp) -> np.ndarray:
    """An 8-bit-like preview array [h, w, 3] in 0–1 of an input (raw: quick look)."""
    if inp.meta is not None:
        from camforge.io import quicklook

        q = quicklook(_as_raw(inp)).astype(np.float64) / 255.0
        return np.kron(q, np.ones((2, 2, 1)))[: inp.data.shape[0], : inp.data.shape[1]] if inp.is_mosaic else q
    a = inp.data if inp.data.ndim == 3 else np.repeat(inp.data[..., None], 3, axis=2)
    top = inp.white_level or max(float(np.percentile(a, 99.5)), 1e-12)
    return np.clip(a / top, 0, 1)


RAW_OPTS = dict(
    width=typer.Option(None, "--width", help=_RAW + "width (px)."),
    height=typer.Option(None, "--height", help=_RAW + "height (px)."),
    bits=typer.Option(None, "--bits", help=_RAW + "ADC bit depth."),
    cfa=typer.Option(None, "--cfa", help="CFA pattern of a raw (RGGB, BGGR, GRBG, GBRG, MONO, ...)."),
    black=typer.Option(None, "--black", help="Black level (DN): one value or one per CFA site."),
    white=typer.Option(None, "--white", help="White (clip) level (DN)."),
)


# ---------------------------------------------------------------------------- color


@measure_app.command("color")
def color_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Image of a ColorChecker Classic (or a raw: rendered by the ISP)."),
    roi: str | None = typer.Option(None, "--roi", help="Search the chart inside x,y,w,h (px)."),
    corners: str | None = typer.Option(None, "--corners",
                                       help="Manual chart: x1,y1,...,x4,y4 outer patch corners, dark skin first, clockwise."),
    color_space: str = typer.Option("srgb", "--color-space", help="srgb (encoded) or linear_srgb."),
    reference: str = typer.Option("ColorChecker24 - After November 2014", "--reference",
                                  help="colour-science ColorChecker data set."),
    no_normalize: bool = typer.Option(False, "--no-normalize", help="Use absolute levels (no exposure normalisation)."),
    width: int | None = RAW_OPTS["width"], height: int | None = RAW_OPTS["height"], bits: int | None = RAW_OPTS["bits"],
    cfa: str | None = RAW_OPTS["cfa"], black: str | None = RAW_OPTS["black"], white: str | None = RAW_OPTS["white"],
    as_json: bool = typer.Option(False, "--json", help="Print the ColorResult as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the chart with each patch's ΔE00 to this PNG."),
) -> None:
    """Colour accuracy on a ColorChecker Classic: ΔE*ab, ΔE00, ΔC, white balance, saturation."""
    from camforge.metrics.color import measure_color

    inp = load_measurement(image, width, height, bits, cfa, black, white)
    data = inp
    if inp.is_mosaic:
        try:
            from camforge.isp import render_srgb
        except ImportError:
            raise MeasurementError("a raw mosaic must be rendered to sRGB first (camforge.isp is not available)") from None
        data = render_srgb(_as_raw(inp))
        color_space = "srgb"
    c = numbers(corners, "--corners", count=8)
    res = measure_color(data, corners=None if c is None else np.reshape(c, (4, 2)), roi=roi, color_space=color_space,
                        reference=reference, normalize_exposure=not no_normalize)
    if plot is not None:
        from camforge.metrics._common import as_hwc

        shown = as_hwc(data, channels=3, unit=True)
        if color_space == "linear_srgb":
            from camforge.metrics.color import srgb_encode

            shown = srgb_encode(np.clip(shown, 0, 1))

        def draw(fig):
            import matplotlib.cm as cm

            ax = fig.add_subplot(111)
            ax.imshow(np.clip(shown, 0, 1))
            vmax = max(10.0, res.delta_e00_max)
            for (x, y), de in zip(res.patch_centers_px, res.delta_e00):
                col = cm.viridis(min(de / vmax, 1.0))
                ax.text(x, y, f"{de:.1f}", ha="center", va="center", fontsize=7, color="white",
                        bbox={"facecolor": col, "alpha": 0.85, "pad": 1.5, "edgecolor": "none"})
            ax.set_title(f"{image.name}: ΔE00 mean {res.delta_e00_mean:.2f}, max {res.delta_e00_max:.2f}", fontsize=10)
            ax.axis("off")

        _figure(plot, draw, figsize=(8.0, 8.0 * shown.shape[0] / shown.shape[1] + 0.6))
    lines = [f"{image.name}: ColorChecker ({res.detection_method}), reference {res.reference}, adapted to D65 ({res.adaptation})",
             f"  ΔE00  mean {_f(res.delta_e00_mean)}  max {_f(res.delta_e00_max)}    "
             f"ΔE*ab mean {_f(res.delta_e76_mean)}  max {_f(res.delta_e76_max)}",
             f"  ΔC    mean {_f(res.delta_c_ab_mean)}  max {_f(res.delta_c_ab_max)}    "
             f"white balance ΔC {_f(res.white_balance_error_dc_ab)}   saturation {_f(res.saturation_pct, 1)} %",
             f"  exposure scale {_f(res.exposure_scale, 3)}",
             "  patch               ΔE00   ΔE*ab  ΔC"]
    for name, a, b, c_ in zip(res.patch_names, res.delta_e00, res.delta_e76, res.delta_c_ab):
        lines.append(f"  {name[:18]:18s} {a:6.2f} {b:6.2f} {c_:6.2f}")
    _emit(res, as_json, lines)


# ---------------------------------------------------------------------------- noise


@measure_app.command("noise")
def noise_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Image or raw of uniform patches (flat field, chart)."),
    roi: list[str] = typer.Option(None, "--roi", help="Patch x,y,w,h (px) (repeat for several); default the whole frame."),
    auto: bool = typer.Option(False, "--auto", help="Find uniform square patches automatically."),
    detrend: int = typer.Option(1, "--detrend", help="Polynomial order removed in each patch (-1: mean only)."),
    width: int | None = RAW_OPTS["width"], height: int | None = RAW_OPTS["height"], bits: int | None = RAW_OPTS["bits"],
    cfa: str | None = RAW_OPTS["cfa"], black: str | None = RAW_OPTS["black"], white: str | None = RAW_OPTS["white"],
    as_json: bool = typer.Option(False, "--json", help="Print the NoiseResult as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write SNR (dB) against signal to this PNG."),
) -> None:
    """Mean, σ and SNR of uniform patches per channel (raw: per CFA site, black level subtracted)."""
    from camforge.metrics.noise import measure_noise

    inp = load_measurement(image, width, height, bits, cfa, black, white)
    rois = "auto" if auto else (list(roi) if roi else None)
    res = measure_noise(inp, rois, detrend_order=None if detrend < 0 else detrend)
    if plot is not None:
        def draw(fig):
            ax = fig.add_subplot(111)
            for ch in res.channels:
                pts = sorted((p.mean, p.snr_db) for p in res.for_channel(ch) if p.mean > 0 and math.isfinite(p.snr_db))
                if pts:
                    ax.semilogx(*zip(*pts), "o-", ms=3, label=ch)
            ax.set_xlabel(f"signal [{res.units}]")
            ax.set_ylabel("SNR [dB]")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
            ax.set_title(f"{image.name}: {len(res.patches)} patch × channel", fontsize=10)

        _figure(plot, draw)
    lines = [f"{image.name}: {len(res.patches)} patch/channel measurements (detrend order {res.detrend_order})",
             "  roi                   channel      mean     sigma    SNR    SNR [dB]"]
    for p in res.patches:
        lines.append(f"  {str(list(p.roi)):21s} {p.channel:7s} {p.mean:10.3f} {p.sigma:9.3f} {p.snr:7.2f} {p.snr_db:8.2f}")
    _emit(res, as_json, lines)


# ---------------------------------------------------------------------------- tone


@measure_app.command("tone")
def tone_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Image or raw of a grey-step (OECF) chart."),
    roi: str | None = typer.Option(None, "--roi", help="Search the steps inside x,y,w,h (px)."),
    densities: str | None = typer.Option(None, "--densities",
                                         help="Step densities, bright to dark (comma list), or 'first,last' to space them evenly."),
    channel: str | None = typer.Option(None, "--channel", help="G (default), R, B, Gr, Gb, Y or an index."),
    saturation: float | None = typer.Option(None, "--saturation", help="Output at saturation (DN above black)."),
    width: int | None = RAW_OPTS["width"], height: int | None = RAW_OPTS["height"], bits: int | None = RAW_OPTS["bits"],
    cfa: str | None = RAW_OPTS["cfa"], black: str | None = RAW_OPTS["black"], white: str | None = RAW_OPTS["white"],
    as_json: bool = typer.Option(False, "--json", help="Print the ToneResult as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the OECF and SNR curves to this PNG."),
) -> None:
    """OECF (ISO 14524) and dynamic range at SNR = 1 and 10 from a step chart (steps found automatically)."""
    from camforge.metrics.colorchecker import find_uniform_patches
    from camforge.metrics.tone import measure_tone

    inp = load_measurement(image, width, height, bits, cfa, black, white)
    d = numbers(densities, "--densities")
    if d is not None and len(d) == 2:
        n = len(find_uniform_patches(inp, roi=roi))
        d = list(np.linspace(d[0], d[1], n)) if n >= 3 else d
    ch = int(channel) if channel is not None and channel.strip().isdigit() else channel
    res = measure_tone(inp, "auto", densities=d, channel=ch, saturation_level=saturation, search_roi=roi)
    if plot is not None:
        def draw(fig):
            ax1 = fig.add_subplot(121)
            ax2 = fig.add_subplot(122)
            x = res.log10_exposure if d is not None else list(range(len(res.signal)))
            ax1.plot(x, res.signal, "o-", ms=3)
            if min(res.signal) > 0:
                ax1.set_yscale("log")
            ax1.set_xlabel("log10 relative exposure" if d is not None else "step (dark → bright)")
            ax1.set_ylabel(f"signal [{res.units}]")
            ax1.set_title("OECF", fontsize=10)
            ax1.grid(alpha=0.3)
            ax2.plot(x, res.snr_db, "o-", ms=3, color="tab:orange")
            for lvl in (0.0, 20.0):
                ax2.axhline(lvl, color="0.6", lw=0.8, ls=":")
            ax2.set_xlabel(ax1.get_xlabel())
            ax2.set_ylabel("SNR [dB]")
            ax2.set_title(f"DR (SNR=1) {_f(res.dynamic_range_snr1_db, 1)} dB", fontsize=10)
            ax2.grid(alpha=0.3)

        _figure(plot, draw, figsize=(9, 4))
    lines = [f"{image.name}: {len(res.signal)} steps, channel {res.channel}",
             f"  dynamic range SNR=1  {_f(res.dynamic_range_snr1_db, 1)} dB  ({_f(res.dynamic_range_snr1_stops, 2)} stops)"
             f"{'  (extrapolated)' if res.snr1_extrapolated else ''}",
             f"  dynamic range SNR=10 {_f(res.dynamic_range_snr10_db, 1)} dB  ({_f(res.dynamic_range_snr10_stops, 2)} stops)",
             f"  OECF slope {_f(res.oecf_slope, 4)}  offset {_f(res.oecf_offset, 3)}  "
             f"linearity error {_f(res.linearity_error_max_pct, 2)} %",
             "  step  log10 H    signal      sigma     SNR [dB]"]
    for i, (h, s, sd, db) in enumerate(zip(res.log10_exposure, res.signal, res.sigma, res.snr_db)):
        lines.append(f"  {i:4d} {_f(h, 3):>8s} {s:10.3f} {sd:10.3f} {db:9.2f}")
    _emit(res, as_json, lines)


# ---------------------------------------------------------------------------- shading


@measure_app.command("shading")
def shading_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Flat-field image or raw."),
    roi: str | None = typer.Option(None, "--roi", help="Analyse only x,y,w,h (px)."),
    grid: str | None = typer.Option(None, "--grid", help="Block map rows,columns (default 16 columns)."),
    roi_fraction: float = typer.Option(0.1, "--roi-fraction", help="Centre / corner ROI size (fraction of width, height)."),
    color_space: str = typer.Option("linear", "--color-space", help="linear or srgb (decoded first)."),
    width: int | None = RAW_OPTS["width"], height: int | None = RAW_OPTS["height"], bits: int | None = RAW_OPTS["bits"],
    cfa: str | None = RAW_OPTS["cfa"], black: str | None = RAW_OPTS["black"], white: str | None = RAW_OPTS["white"],
    as_json: bool = typer.Option(False, "--json", help="Print the ShadingResult as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the luma and colour shading maps to this PNG."),
) -> None:
    """Luma and colour shading of a flat field (corner/centre %, R/G and B/G deviation)."""
    from camforge.metrics.shading import measure_shading

    inp = load_measurement(image, width, height, bits, cfa, black, white)
    g = numbers(grid, "--grid", count=2)
    res = measure_shading(inp, grid=None if g is None else (int(g[0]), int(g[1])), roi_fraction=roi_fraction, roi=roi,
                          color_space=color_space)
    if plot is not None:
        def draw(fig):
            maps = [("luma [%]", 100 * np.asarray(res.luma_map))] + [
                (f"{k} [%]", 100 * (np.asarray(v) - 1)) for k, v in res.color_maps.items()]
            for i, (title, m) in enumerate(maps):
                ax = fig.add_subplot(1, len(maps), i + 1)
                im = ax.imshow(m, cmap="viridis" if i == 0 else "coolwarm")
                fig.colorbar(im, ax=ax, fraction=0.046)
                ax.set_title(title, fontsize=9)
                ax.axis("off")

        _figure(plot, draw, figsize=(4 + 3.5 * (len(res.color_maps)), 3.5))
    lines = [f"{image.name}: flat-field shading ({', '.join(res.channels)}), grid {res.grid[0]} × {res.grid[1]}",
             "  corner / centre [%]  TL {:.1f}  TR {:.1f}  BL {:.1f}  BR {:.1f}".format(*res.corner_pct),
             f"  luma map min {res.luma_min_pct:.1f} %  max {res.luma_max_pct:.1f} %"]
    for k, v in res.color_deviation_max_pct.items():
        lines.append(f"  colour shading {k}: max deviation {v:.2f} %")
    _emit(res, as_json, lines)


# ---------------------------------------------------------------------------- distortion


@measure_app.command("distortion")
def distortion_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Image or raw of a regular dot grid."),
    roi: str | None = typer.Option(None, "--roi", help="Use only the dots inside x,y,w,h (px)."),
    focal_length_px: float | None = typer.Option(None, "--focal-length-px",
                                                 help="Focal length / pixel pitch: k1, k2 in the OpenCV convention."),
    terms: int = typer.Option(2, "--terms", help="Radial terms to fit: 1 (k1) or 2 (k1, k2)."),
    polarity: str = typer.Option("auto", "--polarity", help="dark (dots on light), light, or auto."),
    width: int | None = RAW_OPTS["width"], height: int | None = RAW_OPTS["height"], bits: int | None = RAW_OPTS["bits"],
    cfa: str | None = RAW_OPTS["cfa"], black: str | None = RAW_OPTS["black"], white: str | None = RAW_OPTS["white"],
    as_json: bool = typer.Option(False, "--json", help="Print the DistortionResult as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the distortion vectors (measured − ideal) to this PNG."),
) -> None:
    """Radial distortion (k1, k2) and SMIA TV distortion from a dot grid."""
    from camforge.metrics.distortion import measure_distortion

    inp = load_measurement(image, width, height, bits, cfa, black, white)
    res = measure_distortion(inp, focal_length_px=focal_length_px, n_terms=terms, polarity=polarity, roi=roi)
    if plot is not None:
        def draw(fig):
            ax = fig.add_subplot(111)
            d = np.asarray(res.dots_px)
            u = np.asarray(res.ideal_px)
            v = d - u
            ax.quiver(u[:, 0], u[:, 1], v[:, 0], v[:, 1], np.hypot(v[:, 0], v[:, 1]), angles="xy", cmap="viridis")
            ax.set_xlim(0, inp.data.shape[1])
            ax.set_ylim(inp.data.shape[0], 0)
            ax.set_aspect("equal")
            ax.set_title(f"{image.name}: SMIA TV distortion {res.smia_tv_distortion_pct:.2f} %, k1 {res.k1:.4g}",
                         fontsize=10)

        _figure(plot, draw)
    lines = [f"{image.name}: {res.n_dots} dots, RMS fit residual {res.rms_residual_px:.3f} px",
             f"  k1 {res.k1:.5g}  k2 {res.k2:.5g}  (normalised by {res.normalization}, {res.normalization_px:.1f} px)",
             f"  SMIA TV distortion {res.smia_tv_distortion_pct:.3f} %   (traditional TV {res.tv_distortion_pct:.3f} %)",
             f"  local distortion at the corner {res.local_distortion_corner_pct:.3f} %"]
    _emit(res, as_json, lines)


# ---------------------------------------------------------------------------- texture


@measure_app.command("texture")
def texture_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Image or raw of a dead-leaves chart."),
    roi: str | None = typer.Option(None, "--roi", help="Dead-leaves region x,y,w,h (px) (default: whole frame)."),
    reference: Path | None = typer.Option(None, "--reference", help="The chart's own image (reflectance map)."),
    reference_scale: float | None = typer.Option(None, "--reference-scale", help="Reference pixels per image pixel."),
    flat: Path | None = typer.Option(None, "--flat", help="Flat (uniform) capture for noise subtraction."),
    flat_roi: str | None = typer.Option(None, "--flat-roi", help="Region of --flat to use."),
    color_space: str = typer.Option("linear", "--color-space", help="linear or srgb (decoded first)."),
    width: int | None = RAW_OPTS["width"], height: int | None = RAW_OPTS["height"], bits: int | None = RAW_OPTS["bits"],
    cfa: str | None = RAW_OPTS["cfa"], black: str | None = RAW_OPTS["black"], white: str | None = RAW_OPTS["white"],
    as_json: bool = typer.Option(False, "--json", help="Print the TextureResult as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the texture MTF to this PNG."),
) -> None:
    """Dead-leaves texture MTF (Cao et al. 2010; IEEE 1858) and CPIQ acutance."""
    from camforge.metrics._image import as_array, luminance
    from camforge.metrics.texture import measure_texture

    inp = load_measurement(image, width, height, bits, cfa, black, white)
    ref = None
    if reference is not None:
        r_inp = load_measurement(reference, None, None, None, None, None, None)
        ref = luminance(as_array(r_inp)) if r_inp.data.ndim == 3 else r_inp.data
    fl = load_measurement(flat, width, height, bits, cfa, black, white) if flat is not None else None
    res = measure_texture(inp, roi=roi, reference=ref, reference_px_per_px=reference_scale, flat=fl, flat_roi=flat_roi,
                          color_space=color_space)
    if plot is not None:
        def draw(fig):
            ax = fig.add_subplot(111)
            ax.plot(res.frequency_cy_per_px, res.mtf, lw=1.4)
            ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
            ax.set_xlim(0, 0.5)
            ax.set_ylim(0, 1.2)
            ax.set_xlabel("spatial frequency [cy/px]")
            ax.set_ylabel("texture MTF")
            ax.set_title(f"{image.name}: texture MTF50 {_f(res.mtf50_cy_per_px, 3)} cy/px, acutance {_f(res.acutance, 3)}",
                         fontsize=10)
            ax.grid(alpha=0.3)

        _figure(plot, draw)
    lines = [f"{image.name}: dead-leaves texture MTF ({res.reference} reference, channel {res.channel})",
             f"  texture MTF50 {_f(res.mtf50_cy_per_px, 4)} cy/px   acutance {_f(res.acutance, 3)}"]
    for f0 in (0.05, 0.1, 0.2, 0.3, 0.4):
        i = int(np.argmin(np.abs(np.asarray(res.frequency_cy_per_px) - f0)))
        lines.append(f"  MTF at {f0:.2f} cy/px: {_f(res.mtf[i], 3)}")
    _emit(res, as_json, lines)


# ---------------------------------------------------------------------------- lateral colour


@measure_app.command("lateral-ca")
def lateral_ca_cmd(
    image: Path = typer.Argument(..., metavar="IMAGE", help="Image or Bayer raw with straight (slanted) edges."),
    roi: list[str] = typer.Option(None, "--roi", help="Edge box x,y,w,h (px) (repeat); default: find the edges."),
    width: int | None = RAW_OPTS["width"], height: int | None = RAW_OPTS["height"], bits: int | None = RAW_OPTS["bits"],
    cfa: str | None = RAW_OPTS["cfa"], black: str | None = RAW_OPTS["black"], white: str | None = RAW_OPTS["white"],
    as_json: bool = typer.Option(False, "--json", help="Print the LateralCAResult as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write R−G and B−G against field height to this PNG."),
) -> None:
    """Lateral chromatic aberration (R − G, B − G edge displacement) in px and % of the half diagonal."""
    from camforge.metrics.chroma import measure_lateral_ca

    inp = load_measurement(image, width, height, bits, cfa, black, white)
    res = measure_lateral_ca(inp, list(roi) if roi else None)
    if plot is not None:
        def draw(fig):
            ax = fig.add_subplot(111)
            for key, col, lab in (("r_minus_g_radial_px", "tab:red", "R − G"), ("b_minus_g_radial_px", "tab:blue", "B − G")):
                pts = [(e.field, getattr(e, key)) for e in res.edges if getattr(e, key) is not None]
                if pts:
                    ax.plot(*zip(*pts), "o", ms=3, color=col, label=lab)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_xlabel("field (fraction of half diagonal)")
            ax.set_ylabel("radial displacement [px] (+ outward)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            ax.set_title(f"{image.name}: lateral colour", fontsize=10)

        _figure(plot, draw)
    lines = [f"{image.name}: {len(res.edges)} edges",
             f"  at the corner: R−G {_f(res.r_minus_g_corner_px, 3)} px ({_f(res.r_minus_g_corner_pct, 3)} %)   "
             f"B−G {_f(res.b_minus_g_corner_px, 3)} px ({_f(res.b_minus_g_corner_pct, 3)} %)",
             f"  largest |displacement| along an edge normal {res.max_abs_px:.3f} px",
             "   field    R−G [px]  B−G [px]  (along the edge normal)"]
    for e in res.edges:
        lines.append(f"   {e.field:5.3f}  {e.r_minus_g_px:+8.3f}  {e.b_minus_g_px:+8.3f}")
    _emit(res, as_json, lines)
