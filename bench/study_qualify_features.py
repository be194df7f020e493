"""Study: how much a feature detector's faint-dust AUROC depends on its self-trained features.

    .venv/bin/python bench/study_qualify_features.py [--detector padim|patchcore] [--seeds 0,1,2,3]

Not a benchmark of shipped behaviour: a study for issue 7 (learned detectors not robust
across pretext seeds). Same held-back lot as ``bench_qualify.py`` (100 good modules, 20 per
area-defect kind, ``dust_low`` = 0.5–2 % peak contrast; 40 good modules to fit), and for each
pretext seed two feature sets of the same trained :class:`FeatureNet`:

  base   ``features="encoder"`` (encoder levels 2 and 3, pooled; the default before this study);
  den    ``features="denoised"`` (the default since): the network's own output — its estimate of the smooth structure under the noise —
         at ½ resolution, box-averaged over 3, 5, 9, 15 and 25 map pixels (a learned
         multi-scale matched filter; 5 dimensions instead of 96).

Selection on synthetic validation: 24 other good modules, and the same modules with one
injected dust shadow of 0.4–3 % contrast (``inject_area_defects``), give a validation AUROC
per candidate; ensembles average the candidates' scores, each standardised by its scores on
the validation good modules. The classical blemish detector is the baseline. Prints a table;
``--json`` saves it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_qualify as BQ  # noqa: E402  (same design and lot)

from camforge.qualify.detectors import inject_area_defects, make_detector  # noqa: E402
from camforge.qualify.simulate import DefectsConfig, simulate_module  # noqa: E402

KINDS = ["dust", "dust_low", "scratch", "shading", "contamination"]
def _auroc_per_kind(scores, kinds):
    from sklearn.metrics import roc_auc_score

    good = np.array([k == "good" for k in kinds])
    out = {}
    for kd in KINDS:
        sel = good | np.array([k == kd for k in kinds])
        out[kd] = float(roc_auc_score(~good[sel], np.asarray(scores)[sel]))
    return out


def main() -> None:
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--steps", type=int, default=300, help="pretext training steps")
    ap.add_argument("--detector", default="padim", choices=["padim", "patchcore"])
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    fit = [simulate_module(BQ.DESIGN, i, seed=101, force_kinds=[]).captures["flat_hi"] for i in range(40)]
    test, kinds = [], []
    for i in range(100):
        test.append(simulate_module(BQ.DESIGN, i, seed=202, force_kinds=[]).captures["flat_hi"])
        kinds.append("good")
    for j, kind in enumerate(KINDS):
        for i in range(20):
            m = simulate_module(BQ.DESIGN, 1000 * (j + 1) + i, seed=202, force_kinds=["dust" if kind == "dust_low" else kind],
                                config=BQ.LOW if kind == "dust_low" else None)
            test.append(m.captures["flat_hi"])
            kinds.append(kind)
    vgood = [simulate_module(BQ.DESIGN, i, seed=505, force_kinds=[]).captures["flat_hi"] for i in range(24)]
    rng = np.random.default_rng(7)
    vbad = [inject_area_defects(r, rng, ["dust"], pitch_um=2.8, f_number=2.0,
                                config=DefectsConfig(dust_contrast=(0.004, 0.03)))[0] for r in vgood]
    print(f"lots simulated in {time.perf_counter() - t0:.1f} s")
    rows, store = [], {}
    blem = make_detector("blemish")
    blem.fit(fit, calibration=fit[:10])
    rows.append(("classical blemish", "—", _auroc_per_kind([blem.score(r)[0] for r in test], kinds)))
    for seed in [int(s) for s in a.seeds.split(",")]:
        for variant in ("base", "den"):
            # the flat-field normalisation of the study (2026-11-25): per-module radial shading and
            # one global noise σ (the defaults became a golden reference and a local σ later)
            norm = {"shading": "radial", "noise": "global"} | ({"position_norm": False} if a.detector == "padim" else {})
            det = make_detector(a.detector, threads=2, seed=seed, pretext_steps=a.steps,
                                features="denoised" if variant == "den" else "encoder", **norm)
            det.fit(fit, calibration=fit[:10])
            vs = np.array([det.score(r)[0] for r in vgood + vbad])
            va = float(roc_auc_score([0] * len(vgood) + [1] * len(vbad), vs))
            sc = np.array([det.score(r)[0] for r in test])
            store[(variant, seed)] = (vs, sc, va)
            rows.append((f"{a.detector} {variant} seed {seed}", f"{va:.3f}", _auroc_per_kind(sc, kinds)))
            print(f"  {rows[-1][0]}: validation {va:.3f}, dust_low {rows[-1][2]['dust_low']:.3f}", flush=True)

    def ensemble(keys):
        z = [(store[k][1] - store[k][0][:len(vgood)].mean()) / store[k][0][:len(vgood)].std() for k in keys]
        return _auroc_per_kind(np.mean(z, axis=0), kinds)

    keys = list(store)
    top = sorted(keys, key=lambda k: -store[k][2])
    rows.append(("ensemble: all candidates", "—", ensemble(keys)))
    rows.append(("ensemble: top 4 by validation", "—", ensemble(top[:4])))
    rows.append(("selected: best validation", f"{store[top[0]][2]:.3f}", _auroc_per_kind(store[top[0]][1], kinds)))
    print(f"\n{'detector':32s} {'valid.':>7s} " + " ".join(f"{k:>13s}" for k in KINDS))
    for name, va, r in rows:
        print(f"{name:32s} {va:>7s} " + " ".join(f"{r[k]:13.4f}" for k in KINDS))
    if a.json:
        Path(a.json).write_text(json.dumps([{"detector": n, "validation": v, **r} for n, v, r in rows], indent=1))


if __name__ == "__main__":
    main()
