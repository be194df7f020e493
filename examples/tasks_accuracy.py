"""Task-based image quality: how well do small vision models see through a camera, vs light?

Run from the repository root:

    .venv/bin/python examples/tasks_accuracy.py

1. Recognition accuracy and segmentation mIoU (bootstrap 95 % CIs) of the shipped task
   models on captures through the 12 MP phone design (a 64-px centre window), from 1000 lx
   down to 0.3 lx, each level exposed as the camera's auto exposure exposes a white sheet.
2. The physics experiment: the same lens and sensor area with 3 µm or 1.5 µm pixels, at equal
   exposure — smaller pixels add read noise per area and lose accuracy in dim light; the
   Spearman correlation of accuracy with SNR and MTF50 over all conditions.
3. The same metric as an optimisation objective (one number per design).
"""

from __future__ import annotations

from pathlib import Path

from camforge.camera import Camera
from camforge.tasks import pixel_size_cameras, task_accuracy, task_iq_study, task_objective

HERE = Path(__file__).resolve().parent

phone = Camera.from_yaml(HERE / "designs" / "phone_main_12mp.yaml")
print("1. phone_main_12mp, 64-px centre window")
for r in task_accuracy(phone, [1000, 100, 10, 1, 0.3], n_images=64, seed=0):
    lo, hi = r["ci95"]
    print(f"   {r['metric']:<24} {r['value']:.3f}  [{lo:.3f}, {hi:.3f}]   exposure "
          f"{r['condition']['exposure_s'] * 1e3:.1f} ms, gain {r['condition']['analog_gain']:.1f}")

print("2. pixel size at equal exposure")
study = task_iq_study(pixel_size_cameras((3.0, 1.5)), [100, 3, 0.5], n_images=64, seed=0)
for c in study.conditions:
    print(f"   {c['design']:<12} {c['lux']:>5g} lx: accuracy {c['accuracy']:.3f}, mIoU {c['miou']:.3f}, "
          f"SNR {c['snr_db']:.1f} dB, MTF50 {c['mtf50_cy_per_px'] or float('nan'):.3f} cy/px")
for k, v in study.spearman.items():
    print(f"   Spearman {k}: rho = {v['rho']:+.2f} (p = {v['p']:.2g})")

print("3. as an objective")
print(f"   task accuracy at 10 lx: {task_objective(phone, lux=10.0, n_images=64):.3f}")
