"""``camforge simulate`` (one chart → raw.dng + quicklook.png + meta.json) and ``camforge demo``.

Both are thin wrappers over the library: :meth:`camforge.Camera.chart`,
:meth:`camforge.Camera.capture`, :func:`camforge.io.write_dng` and
:func:`camforge.io.quicklook`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import typer

from camforge.cli import app
from camforge.errors import ConfigError, InputError

#: The unit of each stage of the simulation, written to every meta.json.
UNITS = {
    "scene_radiance": "W·sr⁻¹·m⁻²·nm⁻¹",
    "irradiance": "W·m⁻²·nm⁻¹",
    "electrons": "e⁻",
    "raw": "DN",
    "exposure": "s",
    "illuminance": "lx",
    "wavelength": "nm",
}

DEFAULT_DESIGN = "phone_main_12mp.yaml"

_SCENE_HELP = "Test chart: slanted-edge, colorchecker, flat, step, dead-leaves, star or grid."


def _chart_names() -> list[str]:
    from camforge.scene import CHARTS

    return list(CHARTS)


def find_examples_designs() -> Path | None:
    """The ``examples/designs`` folder of the source checkout camforge runs from, if any.

    Walks up from the package folder (``src/camforge`` in a checkout) looking for
    ``examples/designs``; an installed wheel has none.
    """
    import camforge

    here = Path(camforge.__file__).resolve().parent
    for parent in (here, *here.parents):
        d = parent / "examples" / "designs"
        if d.is_dir():
            return d
    return None


def resolve_design(design: str | Path) -> Path:
    """A design file path; a bare name (``automotive_2mp``) is looked up in ``examples/designs``."""
    p = Path(design)
    if p.is_file():
        return p
    if p.suffix == "" and p.parent == Path("."):
        d = find_examples_designs()
        if d is not None and (d / f"{p.name}.yaml").is_file():
            return d / f"{p.name}.yaml"
    if p.is_dir():
        raise ConfigError(f"expected a design YAML file, got a folder: {p}")
    raise ConfigError(f"design file not found: {p} (give a path to a YAML design, e.g. examples/designs/{DEFAULT_DESIGN})")


def default_design() -> Path:
    """``examples/designs/phone_main_12mp.yaml`` of the checkout; ConfigError if absent."""
    d = find_examples_designs()
    if d is None or not (d / DEFAULT_DESIGN).is_file():
        raise ConfigError(
            f"default design examples/designs/{DEFAULT_DESIGN} not found next to the camforge package "
            "(installed without the source checkout?); pass --design PATH to a design YAML"
        )
    return d / DEFAULT_DESIGN


def prepare_out_dir(out: Path) -> Path:
    """Create ``out`` (and parents) and check it can be written, before any slow work."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} exists and is a file; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output folder {out}: {e.strerror or e}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"output folder {out} is not writable; choose another --out")
    return out


def _check_lux(lux: float) -> float:
    if not math.isfinite(lux) or lux <= 0:
        raise InputError(f"--lux must be a positive illuminance in lux, got {lux:g}")
    return float(lux)


def _check_scene(scene: str) -> str:
    names = _chart_names()
    if scene not in names:
        raise InputError(f"unknown scene {scene!r}; use one of {', '.join(names)}")
    return scene


def _check_illuminant(name: str) -> str:
    from camforge.spectral import get_grid, illuminant_irradiance

    illuminant_irradiance(name, 1.0, get_grid(False))  # InputError listing the known names
    return name


def as_shot_neutral(cam, scene) -> tuple[float, float, float] | None:
    """Camera RGB of a perfect white under the scene's illuminant (DNG AsShotNeutral)."""
    return cam.as_shot_neutral(scene.illuminant)


def simulate_to_dir(
    cam,
    design_path: Path | None,
    scene_name: str,
    out: Path,
    *,
    lux: float,
    illuminant: str,
    seed: int,
    exposure_s: float | None,
    spectral: bool,
    progress=None,
) -> dict[str, Any]:
    """Capture ``scene_name`` with ``cam`` and write raw.dng, quicklook.png, meta.json to ``out``.

    Quad Bayer sensors get ``raw.raw`` + ``raw.yaml`` instead of a DNG (LibRaw cannot read a
    4×4 CFA repeat). Returns the meta dictionary written to meta.json.
    """
    import camforge
    from camforge.io import atomic_write_text, quicklook, write_dng, write_png, write_raw_sidecar

    scene = cam.chart(scene_name, lux=lux, illuminant=illuminant, spectral=spectral)
    raw = cam.capture(scene, exposure_s=exposure_s, seed=seed, progress=progress)
    if raw.meta.cfa.startswith("QUAD_"):
        # LibRaw cannot read a 4x4 CFA repeat from DNG: keep the exact mosaic as .raw + .yaml
        write_raw_sidecar(raw, out / "raw.raw")
        files = {"raw": "raw.raw", "raw_sidecar": "raw.yaml"}
    else:
        write_dng(raw, out / "raw.dng", model=cam.name)
        files = {"raw": "raw.dng"}
    write_png(out / "quicklook.png", quicklook(raw))
    frame = raw.numpy(0)
    meta = {
        "camforge_version": camforge.__version__,
        "design": cam.design.to_dict(),
        "design_hash": cam.design.content_hash(),
        "design_path": str(design_path) if design_path is not None else None,
        "scene": scene.to_dict(),
        "capture": {
            "exposure_s": raw.meta.exposure_s,
            "analog_gain": raw.meta.analog_gain,
            "auto_exposure": exposure_s is None,
            "seed": int(seed),
            "lux": lux,
            "illuminant": illuminant,
            "spectral": bool(spectral),
            "n_bands": scene.grid.n,
        },
        "raw": {
            **raw.meta.to_dict(),
            "width_px": raw.width,
            "height_px": raw.height,
            "mean_dn": float(frame.mean()),
            "max_dn": float(frame.max()),
            "saturated_fraction": float((frame >= raw.meta.white_level_dn).mean()),
        },
        "units": UNITS,
        "files": {**files, "quicklook": "quicklook.png", "meta": "meta.json"},
    }
    meta = json.loads(json.dumps(meta, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def _progress_bar(description: str):
    """A Rich progress bar on stderr; returns (context manager, callback(done, total))."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    prog = Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )
    task = prog.add_task(description, total=None)

    def callback(done: int, total: int) -> None:
        prog.update(task, completed=done, total=total)

    return prog, callback


@app.command("simulate")
def simulate_cmd(
    design: str = typer.Argument(..., metavar="DESIGN", help="Camera design YAML (lens + sensor), e.g. examples/designs/phone_main_12mp.yaml, "
                                           "or the name of a bundled design such as automotive_2mp."),
    scene: str = typer.Option("slanted-edge", "--scene", "-s", help=_SCENE_HELP),
    lux: float = typer.Option(100.0, "--lux", help="Illuminance on the chart, in lux."),
    illuminant: str = typer.Option("D65", "--illuminant", help="Light source: D65, D50, A, F2, F11, LED, ..."),
    seed: int = typer.Option(0, "--seed", help="Temporal-noise seed: same seed, same raw, bit for bit."),
    exposure_s: float | None = typer.Option(
        None, "--exposure-s", help="Exposure time in seconds; default: the design's auto exposure (which may also raise gain)."),
    spectral: bool = typer.Option(True, "--spectral/--rgb", help="31-band spectral simulation (default) or the fast 3-band RGB path."),
    out: Path = typer.Option(Path("sim-out"), "--out", "-o", help="Output folder (created if needed)."),
    as_json: bool = typer.Option(False, "--json", help="Print meta.json on stdout instead of a summary."),
) -> None:
    """Simulate a camera capturing a test chart: writes OUT/raw.dng, OUT/quicklook.png and OUT/meta.json.

    Light flows scene radiance → lens → sensor irradiance → electrons → raw DN. meta.json records the design and its hash, the scene, the exposure and gain used, the seed and the unit of each stage.

    Example: camforge simulate examples/designs/automotive_2mp.yaml --scene colorchecker --lux 50 --rgb --out out/
    """
    from camforge.camera import Camera

    _check_scene(scene)
    lux = _check_lux(lux)
    _check_illuminant(illuminant)
    if exposure_s is not None and not (math.isfinite(exposure_s) and exposure_s > 0):
        raise InputError(f"--exposure-s must be a positive time in seconds, got {exposure_s:g}")
    path = resolve_design(design)
    cam = Camera.from_yaml(path)
    out = prepare_out_dir(out)
    prog, callback = _progress_bar(f"simulating {scene}")
    with prog:
        meta = simulate_to_dir(cam, path, scene, out, lux=lux, illuminant=illuminant, seed=seed,
                               exposure_s=exposure_s, spectral=spectral, progress=callback)
    if as_json:
        typer.echo(json.dumps(meta, indent=2, ensure_ascii=False))
        return
    c = meta["capture"]
    typer.echo(
        f"{cam.name}: {scene} at {lux:g} lx {illuminant} -> {out / meta['files']['raw']} "
        f"(exposure {c['exposure_s'] * 1e3:.3g} ms, gain {c['analog_gain']:.3g}x, mean {meta['raw']['mean_dn']:.1f} DN)"
    )


@app.command("demo")
def demo_cmd(
    design: Path | None = typer.Option(None, "--design", help=f"Camera design YAML (default: examples/designs/{DEFAULT_DESIGN})."),
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output folder; each chart goes to OUT/<chart>/."),
    lux: float = typer.Option(100.0, "--lux", help="Illuminance on the charts, in lux."),
    illuminant: str = typer.Option("D65", "--illuminant", help="Light source: D65, D50, A, F2, F11, LED, ..."),
    seed: int = typer.Option(0, "--seed", help="Temporal-noise seed."),
    spectral: bool = typer.Option(True, "--spectral/--rgb", help="31-band spectral simulation (default) or the fast 3-band RGB path."),
) -> None:
    """Simulate every test chart with one design (the 12 MP phone camera by default).

    Writes OUT/<chart>/raw.dng, quicklook.png and meta.json for each of the 7 charts and prints the exposure, gain and mean raw level of each. Use --rgb for a faster run.
    """
    from rich.console import Console
    from rich.table import Table

    from camforge.camera import Camera

    lux = _check_lux(lux)
    _check_illuminant(illuminant)
    path = resolve_design(design) if design is not None else default_design()
    cam = Camera.from_yaml(path)
    out = prepare_out_dir(out)
    charts = _chart_names()
    table = Table(title=f"{cam.name}: {lux:g} lx {illuminant}, {'spectral' if spectral else 'RGB'}",
                  caption=f"written to {out}/<chart>/ (raw.dng, quicklook.png, meta.json)")
    for col, just in (("chart", "left"), ("exposure (ms)", "right"), ("gain (x)", "right"),
                      ("mean (DN)", "right"), ("clipped (%)", "right")):
        table.add_column(col, justify=just)
    for i, name in enumerate(charts, 1):
        sub = prepare_out_dir(out / name)
        prog, callback = _progress_bar(f"[{i}/{len(charts)}] {name}")
        with prog:
            meta = simulate_to_dir(cam, path, name, sub, lux=lux, illuminant=illuminant, seed=seed,
                                   exposure_s=None, spectral=spectral, progress=callback)
        c, r = meta["capture"], meta["raw"]
        table.add_row(name, f"{c['exposure_s'] * 1e3:.3g}", f"{c['analog_gain']:.3g}", f"{r['mean_dn']:.1f}",
                      f"{100 * r['saturated_fraction']:.2f}")
    Console().print(table)
