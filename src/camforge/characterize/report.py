"""Outputs of an EMVA 1288 characterization: JSON, EMVA-style XML and an HTML data sheet.

* :func:`write_json` — ``result.to_dict()`` (headline figures at the top level, every
  channel under ``channels``);
* :func:`write_xml` — the element names of the EMVA 1288 reference implementation's XML
  output (``<results><sensitivity><K><Value>…``), sections ``info``, ``sensitivity``,
  ``linearity``, ``spatial``, ``dark_current``, ``defect_pixel``; colour sensors add a
  ``<channels>`` element with the same sections per CFA site;
* :func:`write_html` — a self-contained data sheet (jinja2 template, matplotlib figures
  embedded as base64 PNG): photon transfer, sensitivity, SNR (measured, model and ideal),
  linearity and its deviation, dark current, spectrograms and accumulated histograms.

Every file is written atomically (temporary file + rename).
"""

from __future__ import annotations

import base64
import io
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from camforge.characterize.result import Emva1288Channel, Emva1288Result
from camforge.errors import InputError


def _atomic_text(path: Path, text: str) -> Path:
    from camforge.io.atomic import atomic_write_text

    return atomic_write_text(path, text)


def _outdir(directory) -> Path:
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise InputError(f"output path {d} exists and is not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output folder {d}: {e.strerror or e}") from None
    return d


def to_json(result: Emva1288Result) -> str:
    return json.dumps(result.to_dict(), indent=2, allow_nan=False)


def write_json(result: Emva1288Result, path) -> Path:
    """Write ``result.to_dict()`` as JSON to ``path`` (a file name, or a folder → ``emva1288.json``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "emva1288.json"
    return _atomic_text(p, to_json(result) + "\n")


# ---------------------------------------------------------------------- XML
def _f(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "nan"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


def _item(parent, name, value, unit="", short="", symbol="", ci=None):
    e = ET.SubElement(parent, name)
    ET.SubElement(e, "Short").text = short
    ET.SubElement(e, "Symbol").text = symbol
    ET.SubElement(e, "Value").text = _f(value)
    ET.SubElement(e, "Unit").text = unit
    if ci is not None:
        ET.SubElement(e, "CI95Low").text = _f(ci[0])
        ET.SubElement(e, "CI95High").text = _f(ci[1])
    return e


def _channel_sections(root, ch: Emva1288Channel, K: float, pixel_area_um2: float | None):
    s = ET.SubElement(root, "sensitivity")
    _item(s, "K", ch.k_dn_per_e, "DN/e-", "System gain", "K", ch.k_ci95)
    _item(s, "inverse_K", ch.inv_k_e_per_dn, "e-/DN", "Inverse of overall system gain", "1/K")
    _item(s, "R", ch.responsivity_dn_per_p, "DN/p", "Responsivity", "R")
    _item(s, "QE", 100.0 * ch.qe, "%", "Quantum efficiency", "eta", (100.0 * ch.qe_ci95[0], 100.0 * ch.qe_ci95[1]))
    _item(s, "sigma_y_dark", ch.sigma_y_dark_dn, "DN", "Temporal Dark Noise", "sigma_y.dark")
    _item(s, "sigma_d", ch.sigma_d_e, "e-", "Temporal Dark Noise" + (" (upper limit)" if ch.sigma_d_is_upper_limit else ""),
          "sigma_d", ch.sigma_d_ci95)
    _item(s, "u_p_min", ch.mu_p_min, "p", "Absolute sensitivity threshold", "mu_p.min")
    _item(s, "u_e_min", ch.mu_e_min, "e-", "Sensitivity threshold", "mu_e.min")
    _item(s, "u_p_sat", ch.mu_p_sat, "p", "Saturation Capacity", "mu_p.sat")
    _item(s, "u_e_sat", ch.mu_e_sat, "e-", "Saturation Capacity", "mu_e.sat")
    if pixel_area_um2:
        _item(s, "u_p_min_area", ch.mu_p_min / pixel_area_um2, "p/um2", "Sensitivity threshold", "mu_p.min.area")
        _item(s, "u_e_min_area", ch.mu_e_min / pixel_area_um2, "e-/um2", "Sensitivity threshold", "mu_e.min.area")
        _item(s, "u_p_sat_area", ch.mu_p_sat / pixel_area_um2, "p/um2", "Saturation Capacity", "mu_p.sat.area")
        _item(s, "u_e_sat_area", ch.mu_e_sat / pixel_area_um2, "e-/um2", "Saturation Capacity", "mu_e.sat.area")
    _item(s, "SNR_max", ch.snr_max, "", "Signal-to-Noise Ratio", "SNR_max")
    _item(s, "SNR_max_dB", ch.snr_max_db, "dB", "Maximum Signal to Noise Ratio in dB", "SNR_max.dB")
    _item(s, "SNR_max_bit", ch.snr_max_bits, "bit", "Maximum Signal to Noise Ratio in Bits", "SNR_max.bit")
    _item(s, "inverse_SNR_max", ch.inv_snr_max_pct, "%", "Inverse Maximum Signal to Noise Ratio", "1/SNR_max")
    _item(s, "DR", ch.dr, "", "Dynamic Range", "DR")
    _item(s, "DR_dB", ch.dr_db, "dB", "Dynamic Range", "DR_dB")
    _item(s, "DR_bit", ch.dr_bits, "bit", "Dynamic Range in bits", "DR_bit")
    _item(s, "index_u_ysat", ch.saturation_step, "", "Saturation index (descriptor step)", "")
    _item(s, "index_sensitivity_min", ch.sensitivity_fit_range[0], "", "Sensitivity fit minimum index", "")
    _item(s, "index_sensitivity_max", ch.sensitivity_fit_range[1], "", "Sensitivity fit maximum index", "")
    lin = ET.SubElement(root, "linearity")
    _item(lin, "LE_min", ch.le_min_pct, "%", "Min Linearity error", "LE_min")
    _item(lin, "LE_max", ch.le_max_pct, "%", "Max Linearity error", "LE_max")
    _item(lin, "LE", ch.le_pct, "%", "Linearity error (Release 4)", "LE")
    _item(lin, "index_linearity_min", ch.linearity_fit_range[0], "", "Linearity fit minimum index", "")
    _item(lin, "index_linearity_max", ch.linearity_fit_range[1], "", "Linearity fit maximum index", "")
    sp = ch.spatial
    if sp is not None:
        e = ET.SubElement(root, "spatial")
        _item(e, "DSNU1288", sp.dsnu_e, "e-", "DSNU", "DSNU_1288")
        _item(e, "DSNU1288_DN", sp.dsnu_dn, "DN", "DSNU in DN", "DSNU_1288.DN")
        _item(e, "DSNU1288_row", sp.dsnu_row_e, "e-", "DSNUrow", "DSNU_1288.row")
        _item(e, "DSNU1288_col", sp.dsnu_col_e, "e-", "DSNUcol", "DSNU_1288.col")
        _item(e, "DSNU1288_pixel", sp.dsnu_pixel_e, "e-", "DSNUpixel", "DSNU_1288.pixel")
        _item(e, "PRNU1288", sp.prnu_pct, "%", "PRNU", "PRNU_1288")
        _item(e, "PRNU1288_row", sp.prnu_row_pct, "%", "PRNUrow", "PRNU_1288.row")
        _item(e, "PRNU1288_col", sp.prnu_col_pct, "%", "PRNUcol", "PRNU_1288.col")
        _item(e, "PRNU1288_pixel", sp.prnu_pixel_pct, "%", "PRNUpixel", "PRNU_1288.pixel")
        _item(e, "s_2_y", sp.s2_y_dn2, "DN2", "Spatial variance from image", "s2_y")
        _item(e, "s_2_y_dark", sp.s2_y_dark_dn2, "DN2", "Spatial variance from image", "s2_y.dark")
        _item(e, "s_2_y_row", sp.s2_y_row_dn2, "DN2", "Spatial variance from image", "s2_y.row")
        _item(e, "s_2_y_col", sp.s2_y_col_dn2, "DN2", "Spatial variance from image", "s2_y.col")
        _item(e, "s_2_y_pixel", sp.s2_y_pixel_dn2, "DN2", "Spatial variance from image", "s2_y.pixel")
        _item(e, "s_2_y_row_dark", sp.s2_y_dark_row_dn2, "DN2", "Spatial variance from image", "s2_y.row.dark")
        _item(e, "s_2_y_col_dark", sp.s2_y_dark_col_dn2, "DN2", "Spatial variance from image", "s2_y.col.dark")
        _item(e, "s_2_y_pixel_dark", sp.s2_y_dark_pixel_dn2, "DN2", "Spatial variance from image", "s2_y.pixel.dark")
        _item(e, "sigma_2_y_stack", sp.stack_var_dn2, "DN2", "Temporal variance stack", "sigma2_y.stack")
        _item(e, "sigma_2_y_stack_dark", sp.dark_stack_var_dn2, "DN2", "Temporal variance stack dark",
              "sigma2_y.stack.dark")
        if sp.defects is not None:
            dp = ET.SubElement(root, "defect_pixel")
            _item(dp, "defect_threshold_sigma", sp.defects.threshold_sigma, "", "Defect threshold (robust sigma)", "")
            _item(dp, "n_defect_dark", sp.defects.n_dark, "", "Pixels beyond the DSNU threshold", "")
            _item(dp, "n_defect_bright", sp.defects.n_bright, "", "Pixels beyond the PRNU threshold", "")
    dc = ch.dark_current
    if dc is not None:
        e = ET.SubElement(root, "dark_current")
        _item(e, "u_I_mean", dc.from_mean_e_per_s, "e-/s", "Dark Current from mean", "mu_I.mean", dc.from_mean_ci95)
        _item(e, "u_I_mean_DN", dc.from_mean_e_per_s * K, "DN/s", "Dark Current from mean", "mu_I.mean.DN")
        _item(e, "u_I_var", dc.from_var_e_per_s, "e-/s", "Dark Current from variance", "mu_I.var", dc.from_var_ci95)
        _item(e, "u_I_var_DN", dc.from_var_e_per_s * K * K, "DN2/s", "Dark Current from variance", "mu_I.var.DN")
        if math.isfinite(dc.doubling_temperature_k):
            _item(e, "T_d", dc.doubling_temperature_k, "K", "Doubling temperature of the dark current", "T_d",
                  dc.doubling_temperature_ci95)


def to_xml(result: Emva1288Result) -> str:
    """EMVA-style XML text of a result (see the module docstring)."""
    root = ET.Element("results")
    info = ET.SubElement(root, "info")
    _item(info, "index_start", 0, "", "The array indexes start at", "")
    ET.SubElement(info, "standard").text = result.standard
    ET.SubElement(info, "channel").text = result.main_channel
    ET.SubElement(info, "cfa").text = result.cfa
    ET.SubElement(info, "bits").text = str(result.bits)
    ET.SubElement(info, "width").text = str(result.width_px)
    ET.SubElement(info, "height").text = str(result.height_px)
    ET.SubElement(info, "source").text = result.source
    if result.wavelength_nm:
        ET.SubElement(info, "wavelength_nm").text = _f(result.wavelength_nm)
    area = result.pixel_pitch_um**2 if result.pixel_pitch_um else None
    _channel_sections(root, result.main, result.main.k_dn_per_e, area)
    if len(result.channels) > 1:
        chs = ET.SubElement(root, "channels")
        for name, ch in result.channels.items():
            c = ET.SubElement(chs, "channel", {"name": name})
            _channel_sections(c, ch, ch.k_dn_per_e, area)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_xml(result: Emva1288Result, path) -> Path:
    """Write the EMVA-style XML to ``path`` (a folder → ``emva1288.xml``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "emva1288.xml"
    return _atomic_text(p, to_xml(result))


# ---------------------------------------------------------------------- HTML
_COLOURS = {"mono": "k", "R": "tab:red", "Gr": "tab:green", "Gb": "olive", "B": "tab:blue"}

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>EMVA 1288 data sheet — {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figs img { width: 49%; } .note { color: #a60; font-size: 0.9em; }
</style></head><body>
<h1>EMVA 1288 data sheet</h1>
<p>{{ standard }} · source <code>{{ source }}</code> · {{ width }} × {{ height }} px, {{ bits }}-bit, CFA {{ cfa }}
{% if wavelength %} · λ = {{ wavelength }} nm{% endif %}{% if temperature is not none %} · {{ temperature }} °C{% endif %}
· {{ n_frames }} frames</p>
{% for w in warnings %}<p class="note">⚠ {{ w }}</p>{% endfor %}
<h2>Summary</h2>
<table><tr><th>quantity</th><th>unit</th>{% for c in channels %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr><td>{{ row[0] }}</td><td>{{ row[1] }}</td>{% for v in row[2] %}<td class="num">{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p>{{ confidence }}</p>
{% for section in figures %}<h2>{{ section[0] }}</h2>
<div class="figs">{% for img in section[1] %}<img alt="{{ section[0] }}" src="data:image/png;base64,{{ img }}">{% endfor %}</div>
{% endfor %}
<p style="color:#888;font-size:0.8em">Written by camforge. Figures per EMVA Standard 1288 Release 4.0 Linear.</p>
</body></html>
"""


def _fmt(v, digits=4) -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{v:.{digits}g}"


def _rows(result: Emva1288Result) -> list:
    chs = list(result.channels.values())

    def row(label, unit, fn, digits=4):
        vals = []
        for c in chs:
            try:
                vals.append(_fmt(fn(c), digits))
            except (AttributeError, TypeError):
                vals.append("—")
        return (label, unit, vals)

    def dc(c, attr):
        return getattr(c.dark_current, attr) if c.dark_current is not None else None

    def sp(c, attr):
        return getattr(c.spatial, attr) if c.spatial is not None else None

    return [
        row("System gain K", "DN/e⁻", lambda c: c.k_dn_per_e),
        row("K 95 % interval", "DN/e⁻", lambda c: f"{c.k_ci95[0]:.4g} … {c.k_ci95[1]:.4g}"),
        row("1/K", "e⁻/DN", lambda c: c.inv_k_e_per_dn),
        row("Quantum efficiency η", "%", lambda c: 100 * c.qe),
        row("η 95 % interval", "%", lambda c: f"{100 * c.qe_ci95[0]:.4g} … {100 * c.qe_ci95[1]:.4g}"),
        row("Responsivity R", "DN/p", lambda c: c.responsivity_dn_per_p),
        row("Temporal dark noise σ_y.dark", "DN", lambda c: c.sigma_y_dark_dn),
        row("Temporal dark noise σ_d", "e⁻", lambda c: c.sigma_d_e),
        row("σ_d is an upper limit", "", lambda c: c.sigma_d_is_upper_limit),
        row("Absolute sensitivity threshold μ_p.min", "p", lambda c: c.mu_p_min),
        row("μ_e.min", "e⁻", lambda c: c.mu_e_min),
        row("Saturation capacity μ_p.sat", "p", lambda c: c.mu_p_sat),
        row("Saturation capacity μ_e.sat", "e⁻", lambda c: c.mu_e_sat),
        row("Saturation step", "", lambda c: c.saturation_step),
        row("SNR_max", "", lambda c: c.snr_max),
        row("SNR_max", "dB", lambda c: c.snr_max_db),
        row("SNR_max", "bit", lambda c: c.snr_max_bits),
        row("Dynamic range", "", lambda c: c.dr),
        row("Dynamic range", "dB", lambda c: c.dr_db),
        row("Dynamic range", "bit", lambda c: c.dr_bits),
        row("Linearity error LE_min", "%", lambda c: c.le_min_pct),
        row("Linearity error LE_max", "%", lambda c: c.le_max_pct),
        row("Linearity error LE", "%", lambda c: c.le_pct),
        row("DSNU1288", "e⁻", lambda c: sp(c, "dsnu_e")),
        row("DSNU1288 row / col / pixel", "e⁻", lambda c: " / ".join(
            _fmt(sp(c, a), 3) for a in ("dsnu_row_e", "dsnu_col_e", "dsnu_pixel_e"))),
        row("PRNU1288", "%", lambda c: sp(c, "prnu_pct")),
        row("PRNU1288 row / col / pixel", "%", lambda c: " / ".join(
            _fmt(sp(c, a), 3) for a in ("prnu_row_pct", "prnu_col_pct", "prnu_pixel_pct"))),
        row("Defect pixels (dark / bright)", "", lambda c: f"{c.spatial.defects.n_dark} / {c.spatial.defects.n_bright}"),
        row("Dark current (from mean)", "e⁻/s", lambda c: dc(c, "from_mean_e_per_s")),
        row("Dark current (from variance)", "e⁻/s", lambda c: dc(c, "from_var_e_per_s")),
        row("Doubling temperature T_d", "K", lambda c: dc(c, "doubling_temperature_k")),
    ]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.subplots_adjust(left=0.15, right=0.97, bottom=0.13, top=0.91)
    fig.savefig(buf, format="png", dpi=90)  # fixed margins: one draw (bbox_inches="tight" draws twice)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(result: Emva1288Result) -> list:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    chs = result.channels
    col = lambda n: _COLOURS.get(n, None)  # noqa: E731
    sections = []

    # photon transfer and sensitivity
    f1, ax = plt.subplots(figsize=(6, 4.2))
    f2, bx = plt.subplots(figsize=(6, 4.2))
    for n, c in chs.items():
        p = c.photon_transfer
        lo, hi = c.sensitivity_fit_range
        ax.plot(p.signal_dn, p.signal_var_dn2, "o", ms=3, color=col(n), label=f"{n} data")
        x = np.linspace(0, p.signal_dn[hi], 50)
        ax.plot(x, c.k_dn_per_e * x, "-", color=col(n), lw=1, label=f"{n} fit K = {c.k_dn_per_e:.4g} DN/e⁻")
        bx.plot(p.photons_per_px, p.signal_dn, "o", ms=3, color=col(n), label=f"{n} data")
        x = np.linspace(0, p.photons_per_px[hi], 50)
        bx.plot(x, c.responsivity_dn_per_p * x, "-", color=col(n), lw=1, label=f"{n} fit R = {c.responsivity_dn_per_p:.4g} DN/p")
    ax.set(xlabel="μ_y − μ_y.dark [DN]", ylabel="σ²_y − σ²_y.dark [DN²]", title="Photon transfer")
    bx.set(xlabel="μ_p [photons/pixel]", ylabel="μ_y − μ_y.dark [DN]", title="Sensitivity")
    ax.legend(fontsize=7)
    bx.legend(fontsize=7)
    sections.append(("Photon transfer and sensitivity", [_png(f1), _png(f2)]))

    # SNR
    f, ax = plt.subplots(figsize=(6, 4.2))
    for n, c in chs.items():
        p = c.photon_transfer
        good = (p.signal_dn > 0) & (p.photons_per_px <= c.mu_p_sat)
        ax.loglog(p.photons_per_px[good], p.snr[good], "o", ms=3, color=col(n), label=f"{n} data")
        x = np.logspace(np.log10(max(c.mu_p_min * 0.5, 1e-3)), np.log10(c.mu_p_sat), 200)
        ax.loglog(x, c.snr_model(x), "-", color=col(n), lw=1, label=f"{n} model")
    c = result.main
    x = np.logspace(np.log10(max(c.mu_p_min * 0.5, 1e-3)), np.log10(c.mu_p_sat), 200)
    ax.loglog(x, np.sqrt(x), "--", color="grey", lw=1, label="ideal √μ_p")
    ax.axvline(c.mu_p_min, color="grey", lw=0.5, ls=":")
    ax.axvline(c.mu_p_sat, color="grey", lw=0.5, ls=":")
    ax.set(xlabel="μ_p [photons/pixel]", ylabel="SNR", title="Signal-to-noise ratio")
    ax.legend(fontsize=7)
    sections.append(("Signal-to-noise ratio", [_png(f)]))

    # linearity
    f1, ax = plt.subplots(figsize=(6, 4.2))
    f2, bx = plt.subplots(figsize=(6, 4.2))
    for n, c in chs.items():
        p = c.photon_transfer
        lo, hi = c.linearity_fit_range
        ax.plot(p.photons_per_px, p.signal_dn, "o", ms=3, color=col(n), label=f"{n} data")
        ax.plot(p.photons_per_px, c.linearity_slope_dn_per_p * p.photons_per_px + c.linearity_offset_dn, "-",
                color=col(n), lw=1, label=f"{n} fit")
        bx.plot(p.photons_per_px[lo:hi + 1], c.linearity_deviation_pct[lo:hi + 1], "o-", ms=3, color=col(n), label=n)
    ax.set(xlabel="μ_p [photons/pixel]", ylabel="μ_y − μ_y.dark [DN]", title="Linearity")
    bx.axhline(0, color="grey", lw=0.5)
    bx.set(xlabel="μ_p [photons/pixel]", ylabel="deviation δ [%]", title="Deviation from linearity (5–95 %)")
    ax.legend(fontsize=7)
    bx.legend(fontsize=7)
    sections.append(("Linearity", [_png(f1), _png(f2)]))

    # dark current
    if any(c.dark_current is not None for c in chs.values()):
        f1, ax = plt.subplots(figsize=(6, 4.2))
        f2, bx = plt.subplots(figsize=(6, 4.2))
        for n, c in chs.items():
            d = c.dark_current
            if d is None:
                continue
            ax.plot(d.exposure_s * 1e3, d.dark_mean_dn, "o", ms=3, color=col(n), label=n)
            bx.plot(d.exposure_s * 1e3, d.dark_var_dn2, "o", ms=3, color=col(n), label=n)
        ax.set(xlabel="exposure time [ms]", ylabel="μ_y.dark [DN]", title="Dark signal")
        bx.set(xlabel="exposure time [ms]", ylabel="σ²_y.dark [DN²]", title="Dark temporal variance")
        ax.legend(fontsize=7)
        bx.legend(fontsize=7)
        imgs = [_png(f1), _png(f2)]
        d = result.main.dark_current
        if d is not None and len(d.temperatures_c) >= 2:
            f3, cx = plt.subplots(figsize=(6, 4.2))
            cx.semilogy(d.temperatures_c, d.per_temperature_e_per_s, "o-")
            cx.set(xlabel="temperature [°C]", ylabel="dark current [e⁻/s]",
                   title=f"Dark current vs temperature (T_d = {d.doubling_temperature_k:.3g} K)")
            imgs.append(_png(f3))
        sections.append(("Dark current", imgs))

    # spatial: spectrograms and histograms
    if any(c.spatial is not None for c in chs.values()):
        imgs = []
        for k, title in enumerate(("DSNU horizontal spectrogram", "DSNU vertical spectrogram",
                                   "PRNU horizontal spectrogram", "PRNU vertical spectrogram")):
            f, ax = plt.subplots(figsize=(6, 4.2))
            unit = "e⁻" if k < 2 else "%"
            for n, c in chs.items():
                if c.spatial is None:
                    continue
                s = c.spatial.spectrograms[k]
                ax.semilogy(s.frequency_cy_per_px[1:], np.maximum(s.amplitude[1:], 1e-12), lw=0.8, color=col(n), label=n)
                ax.axhline(s.temporal_floor, color=col(n) or "grey", lw=0.5, ls="--")
            ax.set(xlabel="spatial frequency [cycles/pixel]", ylabel=f"standard deviation [{unit}]", title=title)
            ax.legend(fontsize=7)
            imgs.append(_png(f))
        sections.append(("Spectrograms", imgs))
        imgs = []
        for k, title in enumerate(("DSNU histogram", "PRNU histogram (high-pass filtered)")):
            f1, ax = plt.subplots(figsize=(6, 4.2))
            f2, bx = plt.subplots(figsize=(6, 4.2))
            for n, c in chs.items():
                if c.spatial is None:
                    continue
                h = c.spatial.histograms[k]
                centres = 0.5 * (h.bin_edges[1:] + h.bin_edges[:-1])
                ax.semilogy(centres, np.maximum(h.counts, 0.5), ".", ms=3, color=col(n), label=f"{n}")
                ax.semilogy(centres, np.maximum(h.model_counts, 0.5), "-", lw=0.7, color=col(n))
                good = (h.accumulated_pct > 0) & (h.accumulated_edges > 0)
                bx.loglog(h.accumulated_edges[good], h.accumulated_pct[good], "-", color=col(n), label=n)
            unit = "e⁻" if k == 0 else "%"
            ax.set(xlabel=f"deviation from mean [{unit}]", ylabel="number of pixels", title=title)
            bx.set(xlabel=f"|deviation| [{unit}]", ylabel="pixels ≥ deviation [%]", title="Accumulated " + title)
            ax.legend(fontsize=7)
            bx.legend(fontsize=7)
            imgs += [_png(f1), _png(f2)]
        sections.append(("Defect pixels: histograms", imgs))
    return sections


def to_html(result: Emva1288Result) -> str:
    """The self-contained HTML data sheet of a result."""
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    tpl = env.from_string(_TEMPLATE)
    return tpl.render(
        title=Path(result.source).name if result.source else "sensor", standard=result.standard, source=result.source,
        width=result.width_px, height=result.height_px, bits=result.bits, cfa=result.cfa,
        wavelength=_fmt(result.wavelength_nm) if result.wavelength_nm else None,
        temperature=_fmt(result.temperature_c) if result.temperature_c is not None else None,
        n_frames=result.n_frames, warnings=result.warnings, channels=list(result.channels), rows=_rows(result),
        confidence=result.confidence_method, figures=_figures(result),
    )


def write_html(result: Emva1288Result, path) -> Path:
    """Write the HTML data sheet to ``path`` (a folder → ``emva1288.html``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "emva1288.html"
    return _atomic_text(p, to_html(result))


def write_report(result: Emva1288Result, directory, *, html: bool = True) -> dict:
    """Write ``emva1288.json``, ``emva1288.xml`` and (``html=True``) ``emva1288.html`` into ``directory``."""
    d = _outdir(directory)
    out = {"json": write_json(result, d / "emva1288.json"), "xml": write_xml(result, d / "emva1288.xml")}
    if html:
        out["html"] = write_html(result, d / "emva1288.html")
    return out


__all__ = ["to_html", "to_json", "to_xml", "write_html", "write_json", "write_report", "write_xml"]
