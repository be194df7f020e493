"""Colour accuracy of a real camera: ColorChecker raw → camforge ISP → automatic chart detection →
ΔE00 per patch, before and after a fitted colour correction matrix.

Run from the repository root:

    .venv/bin/python examples/measure_color.py [OUT_DIR]

Uses the Infinite-ISP ColorChecker frame from the shared test data (1920 × 1080, 12-bit BGGR,
headerless; black level 128 DN assumed — the source does not state it). Writes
``color_before.png`` and ``color_after.png`` (the chart with each patch's ΔE00) in OUT_DIR.
The same as ``camforge measure color FILE --width 1920 --height 1080 --bits 12 --cfa BGGR --black 128``
for the "before" numbers.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from camforge.io import read_headerless, write_png
from camforge.isp import Pipeline, render_srgb
from camforge.metrics.color import (
    apply_ccm,
    color_metrics_from_patches,
    colorchecker_reference,
    fit_ccm,
    measure_color,
    srgb_encode,
)
from camforge.metrics.colorchecker import detect_colorchecker, patch_statistics

REPO = Path(__file__).resolve().parents[1]
RAW = REPO.parent / "shared" / "data" / "infinite_isp" / "ColorCheckerRAW_1920x1080_12bit_BGGR.raw"


def main(out_dir: Path) -> None:
    raw = read_headerless(RAW, 1920, 1080, 12, "BGGR", black_level=128)

    # before: the default ISP (no colour matrix is known for a headerless dump)
    srgb = render_srgb(raw)
    before = measure_color(srgb)
    print(f"before CCM: ΔE00 mean {before.delta_e00_mean:.2f}, max {before.delta_e00_max:.2f}, "
          f"saturation {before.saturation_pct:.0f} %, white balance ΔC {before.white_balance_error_dc_ab:.2f}")

    # fit a CCM on the ISP's linear, white-balanced camera RGB (stopped after demosaic)
    lin = Pipeline()(raw, stop="demosaic").data[0].permute(1, 2, 0).double().numpy()
    chart = detect_colorchecker(lin, color_space="linear_srgb")
    print(f"chart found: {chart.n_detected} of 24 patches segmented, rotation {chart.rotation_deg:.1f}°, "
          f"fit residual {chart.residual_px:.2f} px")
    means, _, _ = patch_statistics(lin, chart)
    ref = colorchecker_reference()
    x = means / means[19, 1] * ref.linear_srgb_array[19, 1]  # exposure: neutral 8 matches the reference
    for method in ("least_squares", "white_preserving", "delta_e00"):
        ccm = fit_ccm(x, ref.linear_srgb_array, method=method)
        after = color_metrics_from_patches(apply_ccm(x, ccm.matrix_array), color_space="linear_srgb")
        print(f"after {method:16s} CCM: ΔE00 mean {after.delta_e00_mean:.2f}, max {after.delta_e00_max:.2f}, "
              f"saturation {after.saturation_pct:.0f} %")
    print("matrix (ΔE00-optimised, rows sum to 1):")
    print(np.array2string(ccm.matrix_array, precision=3))
    print("patch               before  after")
    for name, b, a in zip(before.patch_names, before.delta_e00, after.delta_e00):
        print(f"  {name[:18]:18s} {b:6.2f} {a:6.2f}")

    # the corrected image, for a look
    corrected = srgb_encode(np.clip(apply_ccm(lin / means[19, 1] * ref.linear_srgb_array[19, 1], ccm.matrix_array), 0, 1))
    write_png(out_dir / "color_after.png", np.round(corrected * 255), bit_depth=8)
    write_png(out_dir / "color_before.png", np.round(srgb.data[0].permute(1, 2, 0).numpy() * 255), bit_depth=8)
    print(f"images in {out_dir}")


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="camforge_color_"))
    out.mkdir(parents=True, exist_ok=True)
    main(out)
