"""Simulate a small production lot, qualify it against a spec, and write the HTML lot report.

    .venv/bin/python examples/qualify_lot.py [OUT_DIR]

Same as the CLI:
    camforge qualify simulate DESIGN --modules 24 --defect-rate 0.3 --out OUT/lot --size 256x192
    camforge qualify run OUT/lot --spec examples/specs/eol_basic.yaml
"""

import sys
import tempfile
from pathlib import Path

from camforge.qualify import run_lot, simulate_lot

DESIGN = {
    "name": "qual-test",
    "lens": {"focal_length_mm": 4.4, "f_number": 2.0, "relative_illumination": {"cra_corner_deg": 28},
             "aberrations": [{"field": 0.0, "defocus_um": 0.12},
                             {"field": 1.0, "defocus_um": 0.12, "astigmatism_0_um": 0.12}]},
    "sensor": {"width_px": 256, "height_px": 192, "pixel_pitch_um": 2.8, "full_well_e": 9000, "prnu_pct": 0.8,
               "adc_bits": 12, "black_level_dn": 64},
}

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
sim = simulate_lot(DESIGN, 24, out / "lot", defect_rate=0.3, seed=1)
print(f"simulated {sim.n_modules} modules, {sim.n_defective} with defects: {sim.kinds}")
spec = Path(__file__).parent / "specs" / "eol_basic.yaml"
# spec figures only; add detector="blemish" (fixed 1 % contrast threshold) or a trained model
# folder (camforge qualify train) for the anomaly_score limit
res = run_lot(out / "lot", spec, report=out / "report.html")
s = res.summary
print(f"yield {s.yield_pct:.1f} %  ({s.n_pass} pass, {s.n_fail} fail, {s.n_error} error)")
for m in res.modules:
    if m.status != "pass":
        print(f"  {m.module_id} {m.status}: {m.text}   [injected: {', '.join(m.truth['kinds']) or 'none'}]")
print(f"report: {res.report_path}")
