"""Simulation speed: seconds and peak memory per 12 MP frame.

Cases (each run in its own subprocess so peak RSS is per case):
  rgb       — phone main design, 3-band fast path, slanted-edge chart, field-dependent PSF
  spectral  — the same with 31 bands (400–700 nm)
  sensor    — camforge sensor noise only (Sensor.forward on a uniform electron image)
  emva      — emva1288.camera.Camera.grab at the same resolution, monochromatic QE (sensor noise only)
  emva-default — emva1288 with its default 100-wavelength QE (1 MP only: it needs ~3.3 GB per MP)

Usage:  .venv/bin/python bench/bench_simulate.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "examples" / "designs" / "phone_main_12mp.yaml"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(case: str, repeat: int) -> dict:
    import numpy as np
    import torch

    times = []
    if case in ("rgb", "spectral"):
        from camforge.camera import Camera

        cam = Camera.from_yaml(DESIGN)
        scene = cam.chart("slanted-edge", lux=100, spectral=(case == "spectral"))
        for i in range(repeat):
            t = time.perf_counter()
            raw = cam.capture(scene, seed=i)
            times.append(time.perf_counter() - t)
        shape = tuple(raw.data.shape)
    elif case == "sensor":
        from camforge.camera import Camera

        cam = Camera.from_yaml(DESIGN)
        s = cam.design.sensor
        e = torch.full((1, 3, s.height_px, s.width_px), 2.0e5)
        cam.sensor.fixed_pattern()
        for i in range(repeat):
            t = time.perf_counter()
            raw = cam.sensor(e, 0.01, seed=i)
            times.append(time.perf_counter() - t)
        shape = tuple(raw.data.shape)
    elif case in ("emva", "emva-default"):
        from emva1288.camera.camera import Camera as EmvaCamera
        from emva1288.camera.routines import Qe

        w, h = (4032, 3024) if case == "emva" else (1024, 1024)
        qe = None
        if case == "emva":
            qe = Qe(qe=np.full((h, w, 1), 0.6), wavelength=np.array([525.0]), width=w, height=h)
        cam = EmvaCamera(width=w, height=h, bit_depth=10, qe=qe, seed=0)
        rad = cam.get_radiance_for(mean=300)
        for _ in range(repeat):
            t = time.perf_counter()
            img = cam.grab(rad)
            times.append(time.perf_counter() - t)
        shape = img.shape
    else:
        raise SystemExit(f"unknown case {case}")
    return {"case": case, "median_s": statistics.median(times), "min_s": min(times), "peak_rss_mb": _peak_mb(),
            "shape": list(shape), "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.repeat)))
        return
    results = {}
    for case in ("rgb", "spectral", "sensor", "emva", "emva-default"):
        out = subprocess.run([sys.executable, __file__, "--case", case, "--repeat", str(args.repeat)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{case}: failed\n{out.stderr[-2000:]}")
            continue
        results[case] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{'case':<14}{'frame':>14}{'median s':>10}{'min s':>9}{'peak RSS MB':>13}")
    for r in results.values():
        fr = "x".join(str(v) for v in r["shape"][-2:])
        print(f"{r['case']:<14}{fr:>14}{r['median_s']:>10.3f}{r['min_s']:>9.3f}{r['peak_rss_mb']:>13.0f}")
    if "sensor" in results and "emva" in results:
        ratio = results["emva"]["median_s"] / results["sensor"]["median_s"]
        print(f"\nsensor noise, 12 MP: camforge is {ratio:.1f}x faster than emva1288 Camera.grab (monochromatic QE)")
    if "emva-default" in results:
        per_mp = results["emva-default"]["median_s"] / 1.048576
        print(f"emva1288 with its default 100-band QE: {per_mp:.2f} s and ~{results['emva-default']['peak_rss_mb']:.0f} MB "
              "per MP (a 12 MP frame would need ~12x that memory)")
    if "spectral" in results:
        print(f"12 MP spectral frame with PSF: {results['spectral']['median_s']:.2f} s (target <= 10 s)")


if __name__ == "__main__":
    main()
