"""Task-based image quality: accuracy / mIoU vs lux and vs pixel size, with Spearman correlations.

1. Pixel-size study (:func:`camforge.tasks.pixel_size_cameras`): one diffraction-limited f/2
   lens, one sensor area, pixel pitches ``--pitches`` (full well and dark current ∝ area, read
   noise 2 e⁻ per pixel), the same field of view and, at each illuminance, the same exposure
   time and analog gain (the largest pixel's auto exposure on a white sheet). Accuracy and
   mIoU with bootstrap 95 % CIs, SNR (18 % grey) and MTF50 of what the models see; Spearman
   correlations over all conditions; the monotone-trend checks.
2. The bundled designs (``examples/designs``): a 64-px centre window of each sensor at equal
   exposure per lux level.
3. Throughput: capture + ISP + models per image, and the training time recorded with the
   shipped weights.

    .venv/bin/python bench/bench_tasks.py [--n-images 200] [--lux 1000,100,10,3,1,0.3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from camforge.camera import Camera  # noqa: E402
from camforge.tasks import load_task_models, pixel_size_cameras, task_iq_study  # noqa: E402


def table(st, title: str) -> None:
    print(f"\n{title}")
    print(f"{'design':<18} {'lux':>7} {'exposure':>10} {'gain':>5} {'accuracy [95% CI]':>22} {'mIoU [95% CI]':>22} "
          f"{'SNR dB':>7} {'MTF50':>6}")
    for c in st.conditions:
        m = "—" if c["mtf50_cy_per_px"] is None else f"{c['mtf50_cy_per_px']:.3f}"
        print(f"{c['design']:<18} {c['lux']:>7g} {c['exposure_s'] * 1e3:>8.2f}ms {c['analog_gain']:>5.1f} "
              f"{c['accuracy']:>6.3f} [{c['accuracy_ci95'][0]:.3f}, {c['accuracy_ci95'][1]:.3f}] "
              f"{c['miou']:>6.3f} [{c['miou_ci95'][0]:.3f}, {c['miou_ci95'][1]:.3f}] {c['snr_db']:>7.1f} {m:>6}")
    for k, v in st.spearman.items():
        print(f"  Spearman {k:<20} rho = {v['rho']:+.3f}  p = {v['p']:.2g}  n = {v['n']}")
    for k, v in st.monotone.items():
        print(f"  monotone as lux falls, {k}: accuracy {v['accuracy']}, mIoU {v['miou']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=200)
    ap.add_argument("--lux", default="1000,100,10,3,1,0.3")
    ap.add_argument("--pitches", default="3.0,1.5")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-designs", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    lux = [float(v) for v in args.lux.split(",")]
    models = load_task_models()
    cfg = models.config
    print(f"task models {cfg['weights_sha256'][:12]}: clean accuracy {cfg['clean_accuracy']:.3f}, clean mIoU "
          f"{cfg['clean_miou']:.3f}; trained in {cfg['duration_s'] / 60:.1f} min wall, {cfg.get('cpu_s', 0) / 60:.1f} "
          f"CPU-min ({cfg['train']['threads']} threads); torch {torch.__version__}, threads={args.threads}, "
          f"load={os.getloadavg()[0]:.2f}")
    out = {}
    t0 = time.perf_counter()
    cams = pixel_size_cameras([float(v) for v in args.pitches.split(",")])
    st = task_iq_study(cams, lux, n_images=args.n_images, seed=args.seed, models=models)
    dt = time.perf_counter() - t0
    table(st, f"Pixel-size study ({args.n_images} images per task and condition, equal exposure) — {dt:.0f} s")
    out["pixel_size"] = st.to_dict()
    n_cond = len(st.conditions)
    if not args.skip_designs:
        designs = {p.stem: Camera.from_yaml(p) for p in sorted((REPO / "examples" / "designs").glob("*.yaml"))}
        t0 = time.perf_counter()
        st2 = task_iq_study(designs, lux, n_images=args.n_images, seed=args.seed, models=models)
        table(st2, f"Bundled designs (64-px centre window, equal exposure) — {time.perf_counter() - t0:.0f} s")
        out["designs"] = st2.to_dict()
    per_image = dt / (n_cond * 2 * args.n_images)
    print(f"\nthroughput: {per_image * 1e3:.1f} ms per labelled image (capture + ISP + model, pixel study incl. "
          f"SNR/MTF captures); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
