"""Fit the classical and learned detectors on good modules, compare them on a held-back set.

    .venv/bin/python examples/qualify_detectors.py

Small settings (a minute or two on 2 cores); bench/bench_qualify.py runs the full comparison.
"""

import numpy as np

from camforge.qualify import auroc, make_detector, simulate_module

DESIGN = {
    "name": "qual-test",
    "lens": {"focal_length_mm": 4.4, "f_number": 2.0, "relative_illumination": {"cra_corner_deg": 28}},
    "sensor": {"width_px": 256, "height_px": 192, "pixel_pitch_um": 2.8, "full_well_e": 9000, "prnu_pct": 0.8,
               "adc_bits": 12, "black_level_dn": 64},
}
LOW = {"defects": {"dust_contrast": (0.005, 0.02)}}  # low-contrast dust: 0.5–2 %

good = [simulate_module(DESIGN, i, seed=1, force_kinds=[]).captures["flat_hi"] for i in range(16)]
test = [simulate_module(DESIGN, 100 + i, seed=2, force_kinds=[]).captures["flat_hi"] for i in range(10)]
test += [simulate_module(DESIGN, 200 + i, seed=2, force_kinds=["dust"], config=LOW).captures["flat_hi"]
         for i in range(10)]
labels = [False] * 10 + [True] * 10

for name, kw in [("blemish", {}), ("padim", {"pretext_steps": 80}), ("unet", {"steps": 150})]:
    det = make_detector(name, **kw).fit(good, target_frr=0.05)
    scores = [det.score(x)[0] for x in test]
    caught = np.mean(np.array(scores[10:]) > det.threshold)
    print(f"{name:8s} low-contrast dust: AUROC {auroc(labels, scores):.3f}, caught {100 * caught:.0f} % "
          f"at the threshold set on good modules ({det.threshold:.3g})")
