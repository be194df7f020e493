"""Render the two real sensor frames of the shared test data through the camforge ISP.

    .venv/bin/python examples/isp_render_real.py [--data ../shared/data] [--out isp_out]

Writes ``openisp.png`` (openISP test.RAW, 10-bit RGGB, black 0) and ``colorchecker.png``
(Infinite-ISP ColorChecker frame, 12-bit BGGR, black level estimated), prints the per-stage
timings and the CIELAB values of the ColorChecker's neutral patches (a*, b* ≈ 0 when the
white balance is right).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import colour
import numpy as np
import torch

from camforge.io import read_headerless, write_png
from camforge.isp import Pipeline

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CAMFORGE_DATA", HERE.parent.parent / "shared" / "data")))
    ap.add_argument("--out", type=Path, default=Path("isp_out"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pipe = Pipeline.from_yaml(HERE / "isp" / "default.yaml")  # as_shot AWB falls back to grey world
    frames = {
        "openisp": read_headerless(args.data / "openisp" / "test.RAW", 1920, 1080, 10, "RGGB", black_level=0),
        "colorchecker": read_headerless(args.data / "infinite_isp" / "ColorCheckerRAW_1920x1080_12bit_BGGR.raw",
                                        1920, 1080, 12, "BGGR"),
    }
    for name, raw in frames.items():
        if raw.meta.black_level_estimated:
            print(f"{name}: black level estimated {raw.meta.black_level_dn} DN")
        with torch.no_grad():
            img = pipe(raw)
        arr = np.rint(img.data[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        write_png(args.out / f"{name}.png", arr)
        t = ", ".join(f"{k} {1e3 * v:.0f} ms" for k, v in pipe.timings.items())
        print(f"{name}: wrote {args.out / (name + '.png')}  [{t}]")
        if name == "colorchecker":
            x = img.data[0].permute(1, 2, 0).double().numpy()
            for label, (cy, cx) in zip(("white", "n8", "n6.5", "n5", "n3.5", "black"),
                                       [(856, c) for c in (574, 716, 856, 994, 1140, 1284)]):
                rgb = x[cy - 15 : cy + 15, cx - 15 : cx + 15].reshape(-1, 3).mean(0)
                L, a, b = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb))
                print(f"  {label:6s} L* {L:5.1f}  a* {a:+5.2f}  b* {b:+5.2f}")


if __name__ == "__main__":
    main()
