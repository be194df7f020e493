"""``camforge isp RAW --out out.png``: render a raw frame through the ISP.

Camera raw files (DNG, NEF, CR2, ... via rawpy, with the file's black/white levels, white
balance and colour matrix) and ``.raw`` + YAML sidecar files are read with
:func:`camforge.io.read_raw`; headerless dumps need ``--width --height --bits --cfa``
(:func:`camforge.io.read_headerless`). Without ``--black`` the black level of a headerless
frame is estimated from the data, and the command says so on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from camforge.cli import app
from camforge.cli._parse import numbers
from camforge.errors import InputError

_CAMERA_RAW = {".dng", ".nef", ".nrw", ".cr2", ".cr3", ".crw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf",
               ".pef", ".srw", ".3fr", ".iiq", ".erf", ".kdc", ".mos", ".mrw", ".x3f", ".dcr", ".rwl"}


def load_raw(path: Path, width=None, height=None, bits=None, cfa=None, black=None, white=None, byte_order="little"):
    """Read ``path`` as the CLI does (camera raw / sidecar via read_raw, else headerless)."""
    import dataclasses

    from camforge import io

    black_v = numbers(black, "--black", nonnegative=True, example="64 or 64,64,64,64")
    white_v = numbers(white, "--white", nonnegative=True, example="1023")
    if white_v is not None and len(white_v) != 1:
        raise InputError("--white takes a single value [DN]")
    headerless_opts = any(v is not None for v in (width, height, bits, cfa))
    has_sidecar = path.with_suffix(".yaml").exists() or path.with_suffix(".yml").exists()
    if path.suffix.lower() in _CAMERA_RAW or (has_sidecar and not headerless_opts):
        raw = io.read_raw(path)
        upd = {}
        if black_v is not None:
            upd["black_level_dn"] = tuple(black_v)
            upd["black_level_estimated"] = False
        if white_v is not None:
            upd["white_level_dn"] = white_v[0]
        if upd:
            raw = type(raw)(raw.data, dataclasses.replace(raw.meta, **upd))
        return raw
    missing = [n for n, v in (("--width", width), ("--height", height), ("--bits", bits), ("--cfa", cfa)) if v is None]
    if missing:
        raise InputError(
            f"{path.name} is not a camera raw file (DNG/NEF/CR2...) and has no YAML sidecar: a headerless raw needs "
            f"{', '.join(missing)} (e.g. --width 1920 --height 1080 --bits 10 --cfa RGGB)"
        )
    return io.read_headerless(path, int(width), int(height), int(bits), cfa, byte_order=byte_order,
                              black_level=black_v, white_level=None if white_v is None else white_v[0])


@app.command("isp")
def isp_command(
    raw_path: Path = typer.Argument(..., metavar="RAW", help="Raw file: DNG/NEF/CR2/... or a headerless .raw dump."),
    out: Path = typer.Option(..., "--out", "-o", help="Output PNG (sRGB)."),
    width: int | None = typer.Option(None, "--width", help="Headerless raw: width (pixels)."),
    height: int | None = typer.Option(None, "--height", help="Headerless raw: height (pixels)."),
    bits: int | None = typer.Option(None, "--bits", help="Headerless raw: ADC bit depth."),
    cfa: str | None = typer.Option(None, "--cfa", help="Headerless raw: CFA pattern (RGGB, BGGR, GRBG, GBRG, MONO...)."),
    black: str | None = typer.Option(None, "--black", help="Black level (DN): one value or one per CFA site (64,64,64,64). Estimated when omitted."),
    white: str | None = typer.Option(None, "--white", help="White (clip) level (DN); default 2^bits - 1 or the file's."),
    byte_order: str = typer.Option("little", "--byte-order", help="Headerless raw: little or big endian."),
    config: Path | None = typer.Option(None, "--config", "-c", help="ISP YAML (see examples/isp/default.yaml)."),
    out_bits: int = typer.Option(8, "--out-bits", help="PNG bit depth: 8 or 16."),
    tile: int | None = typer.Option(None, "--tile", help="Process in tiles of this size in pixels (bounded memory)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print per-stage timings."),
):
    """Render a raw frame to an sRGB PNG through the camforge ISP."""
    import numpy as np
    import torch

    from camforge import io
    from camforge.isp import IspConfig, Pipeline

    if out_bits not in (8, 16):
        raise InputError(f"--out-bits must be 8 or 16, got {out_bits}")
    if out.suffix.lower() != ".png":
        raise InputError(f"--out must be a .png file, got {out.name}")
    cfg = IspConfig.from_yaml(config) if config is not None else IspConfig()
    raw = load_raw(raw_path, width, height, bits, cfa, black, white, byte_order)
    if raw.meta.black_level_estimated:
        vals = ", ".join(f"{v:g}" for v in raw.meta.black_level_dn)
        print(f"black level estimated: {vals} DN (per CFA site, from the darkest pixels; pass --black to set it)",
              file=sys.stderr)
    pipe = Pipeline(cfg)
    with torch.no_grad():
        if tile:
            img = pipe.run_tiled(raw, tile=tile, stop="sharpen")
        else:
            img = pipe(raw, stop="sharpen")
    top = 2**out_bits - 1
    x = img.data[0].clamp(0.0, 1.0)
    arr = np.rint(x.permute(1, 2, 0).numpy() * top) if x.shape[0] == 3 else np.rint(x[0].numpy() * top)
    arr = arr.astype(np.uint8 if out_bits == 8 else np.uint16)
    io.write_png(out, arr, bit_depth=out_bits)
    summary = {
        "raw": str(raw_path),
        "out": str(out),
        "width_px": raw.width,
        "height_px": raw.height,
        "cfa": raw.meta.cfa,
        "black_level_dn": list(raw.meta.black_level_dn),
        "black_level_estimated": bool(raw.meta.black_level_estimated),
        "white_level_dn": raw.meta.white_level_dn,
        "stages": [s for s in pipe.enabled if s != "yuv"],
        "timings_s": {k: round(v, 6) for k, v in pipe.timings.items()},
    }
    g = img.meta.get("stats", {}).get("awb_gains")
    if g is not None:
        summary["awb_gains"] = [round(float(v), 6) for v in g[0]]
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {out} ({raw.width}x{raw.height}, {out_bits}-bit sRGB)")
    if verbose:
        for k, v in pipe.timings.items():
            print(f"  {k:<12s} {1000 * v:8.1f} ms", file=sys.stderr if as_json else sys.stdout)
