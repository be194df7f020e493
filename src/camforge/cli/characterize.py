"""``camforge characterize ...``: sensor characterization per EMVA 1288 Release 4.0 Linear.

    camforge characterize emva1288 PATH [--out DIR] [--json] [--cfa RGGB]
    camforge characterize simulate DESIGN --out DIR [--size 256x256] [--analyze] [--json]

``PATH`` is an EMVA descriptor file or a folder holding one (see
:mod:`camforge.characterize.descriptor` for the layout). ``--out`` receives
``emva1288.json``, ``emva1288.xml`` and the HTML data sheet ``emva1288.html``.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import typer

from camforge.cli import app
from camforge.errors import InputError

characterize_app = typer.Typer(
    help="Characterize a sensor per EMVA 1288 Release 4.0 (real image stacks or the simulator).",
    no_args_is_help=True,
)
app.add_typer(characterize_app, name="characterize")


def _print_warnings(caught) -> None:
    for w in caught:
        print(f"warning: {' '.join(str(w.message).split())}", file=sys.stderr)


def _summary(result, outputs: dict | None = None) -> dict:
    d = result.headline()
    d.update({"channel": result.main_channel, "cfa": result.cfa, "bits": result.bits, "width_px": result.width_px,
              "height_px": result.height_px, "standard": result.standard, "source": result.source,
              "warnings": list(result.warnings)})
    if len(result.channels) > 1:
        d["channels"] = {}
        for name, ch in result.channels.items():
            d["channels"][name] = {
                "K": ch.k_dn_per_e, "qe": ch.qe, "sigma_d_e": ch.sigma_d_e, "sigma_y_dark_dn": ch.sigma_y_dark_dn,
                "mu_e_sat": ch.mu_e_sat, "mu_p_min": ch.mu_p_min, "snr_max_db": ch.snr_max_db, "dr_db": ch.dr_db,
                "le_min_pct": ch.le_min_pct, "le_max_pct": ch.le_max_pct, "dsnu_e": ch.dsnu_e, "prnu_pct": ch.prnu_pct,
            }
    if result.truth is not None:
        d["truth"] = {k: v for k, v in result.truth.items() if not isinstance(v, dict)}
    if outputs:
        d["outputs"] = {k: str(v) for k, v in outputs.items()}
    from camforge.characterize.result import _clean

    return _clean(d)


def _print_text(result, outputs: dict | None) -> None:
    m = result.main
    lines = [
        f"EMVA 1288 (Release 4.0 Linear), channel {result.main_channel} of {result.cfa}, "
        f"{result.width_px} x {result.height_px}, {result.bits}-bit",
        f"  K          {m.k_dn_per_e:.5g} DN/e-  (1/K {m.inv_k_e_per_dn:.5g} e-/DN)",
        f"  QE         {100 * m.qe:.4g} %",
        f"  sigma_d    {m.sigma_d_e:.4g} e-   sigma_y.dark {m.sigma_y_dark_dn:.4g} DN",
        f"  mu_e.sat   {m.mu_e_sat:.5g} e-   mu_p.sat {m.mu_p_sat:.5g} p (step {m.saturation_step})",
        f"  mu_p.min   {m.mu_p_min:.4g} p",
        f"  SNR_max    {m.snr_max_db:.4g} dB   DR {m.dr_db:.4g} dB",
        f"  LE         {m.le_min_pct:.3g} .. {m.le_max_pct:.3g} %",
        f"  DSNU1288   {m.dsnu_e:.4g} e-   PRNU1288 {m.prnu_pct:.4g} %",
    ]
    for k, v in (outputs or {}).items():
        lines.append(f"  {k:10s} {v}")
    print("\n".join(lines))


@characterize_app.command("emva1288")
def emva1288_cmd(
    path: Path = typer.Argument(..., help="EMVA descriptor file, or a folder holding one and the images."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for emva1288.json / .xml / .html."),
    json_out: bool = typer.Option(False, "--json", help="Print the headline results as JSON."),
    cfa: str | None = typer.Option(None, "--cfa", help="CFA pattern of the frames (MONO, RGGB, ...)."),
    wavelength_nm: float | None = typer.Option(None, "--wavelength-nm", help="Wavelength of the light source."),
    pixel_pitch_um: float | None = typer.Option(None, "--pixel-pitch-um", help="Pixel pitch (per-area figures)."),
    html: bool = typer.Option(True, "--html/--no-html", help="Write the HTML data sheet."),
) -> None:
    """Characterize a sensor from an EMVA 1288 image stack (descriptor + 8-16-bit PNG/TIFF frames)."""
    from camforge.characterize import characterize_emva1288
    from camforge.characterize.report import write_report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = characterize_emva1288(path, cfa=cfa, wavelength_nm=wavelength_nm, pixel_pitch_um=pixel_pitch_um)
        outputs = write_report(result, out, html=html) if out is not None else None
    _print_warnings(caught)
    if json_out:
        print(json.dumps(_summary(result, outputs), indent=2, allow_nan=False))
    else:
        _print_text(result, outputs)


def _parse_size(size: str) -> tuple[int, int] | None:
    if size.lower() == "full":
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must be WIDTHxHEIGHT (e.g. 256x256) or 'full', got {size!r}") from None
    return w, h


def _load_sensor(design: Path):
    from camforge.config import read_yaml

    data = read_yaml(design)
    if isinstance(data, dict) and "sensor" in data:
        from camforge.camera import Camera

        return Camera.from_yaml(design).sensor
    from camforge.config import validate
    from camforge.sensor import Sensor, SensorConfig

    return Sensor(validate(SensorConfig, data, str(design)))


@characterize_app.command("simulate")
def simulate_cmd(
    design: Path = typer.Argument(..., help="Camera design YAML (its sensor is measured) or a sensor YAML."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for the descriptor, images and reports."),
    size: str = typer.Option("256x256", "--size", help="Simulated crop WIDTHxHEIGHT, or 'full' (slow for MP sensors)."),
    steps: int = typer.Option(50, "--steps", help="Bright steps from dark to past saturation."),
    spatial_frames: int = typer.Option(16, "--spatial-frames", help="Frames of the bright/dark spatial stacks."),
    wavelength_nm: float = typer.Option(525.0, "--wavelength-nm", help="Wavelength of the light source."),
    temperatures: str | None = typer.Option(None, "--temperatures", help="Extra dark-series temperatures, e.g. 35,45."),
    seed: int = typer.Option(0, "--seed", help="Temporal-noise seed."),
    analyze: bool = typer.Option(False, "--analyze", help="Also run the EMVA 1288 analysis."),
    images: bool = typer.Option(True, "--images/--no-images", help="Write the descriptor and PNG stack."),
    json_out: bool = typer.Option(False, "--json", help="Print the analysis headline as JSON (implies --analyze)."),
) -> None:
    """Simulate an EMVA 1288 measurement of a design's sensor (descriptor + 16-bit PNGs) and/or analyse it."""
    from camforge.characterize import characterize_emva1288
    from camforge.characterize.descriptor import write_descriptor
    from camforge.characterize.report import write_report
    from camforge.characterize.simulate import simulate_stack

    if not design.exists():
        raise InputError(f"design file not found: {design}")
    if out is None and not (analyze or json_out):
        raise InputError("nothing to do: give --out DIR (descriptor + images) and/or --analyze / --json")
    temps = None
    if temperatures:
        try:
            temps = [float(t) for t in temperatures.split(",") if t.strip()]
        except ValueError:
            raise InputError(f"--temperatures must be numbers separated by commas, got {temperatures!r}") from None
    if steps < 3:
        raise InputError("--steps must be at least 3")
    sensor = _load_sensor(design)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stack = simulate_stack(sensor, n_steps=steps, spatial_frames=spatial_frames, wavelength_nm=wavelength_nm,
                               temperatures_c=temps, size=_parse_size(size), seed=seed)
        outputs: dict = {}
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            if images:
                outputs["descriptor"] = write_descriptor(stack, out)
        result = None
        if analyze or json_out:
            result = characterize_emva1288(stack)
            if out is not None:
                outputs.update(write_report(result, out))
    _print_warnings(caught)
    if result is None:
        for k, v in outputs.items():
            print(f"{k}: {v}")
        return
    if json_out:
        print(json.dumps(_summary(result, outputs), indent=2, allow_nan=False))
    else:
        _print_text(result, outputs)
