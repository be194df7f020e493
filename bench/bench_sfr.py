"""Benchmark: ISO 12233 e-SFR speed and accuracy (camforge.metrics.sfr / .edges).

Run:  .venv/bin/python bench/bench_sfr.py [--reps 20] [--quick]

Prints
1. the time of one 128×128 edge ROI (median of many calls; with and without the bootstrap
   interval);
2. the time to find and measure every edge of a simulated 12 MP chart (phone_main_12mp
   design, slanted-edge "field" chart; the capture is cached in /tmp) and how many of the
   chart's 36 edges were found, with their position error against the simulator truth;
3. the accuracy table on analytic edges (Gaussian σ ⊗ square pixel, 16-bit, SNR ∞/200/100/50):
   the bias (median error over seeded realisations) per case and the single-realisation
   spread.

Peer: MTF Mapper (the open accuracy leader) needs OpenCV, Eigen and TCLAP C++ headers that
this environment does not have (no system packages beyond PyPI), so it is not run here; its
published median MTF50 error on comparable synthetic edges is about 0.2 %. No Python
package on PyPI implements ISO 12233 e-SFR to compare with in-process.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "camforge_bench_sfr_12mp_v1.npz"


def _timeit(fn, n: int) -> float:
    fn()
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return float(np.median(t))


def bench_roi(n: int) -> None:
    from camforge.metrics.sfr import analytic_edge, sfr

    rng = np.random.default_rng(0)
    a = analytic_edge((128, 128), 5.0, 1.0, dark=12500.0, light=50000.0)
    a = np.round(a + rng.normal(0, 375.0, a.shape)).astype(np.uint16)  # SNR 100
    c0 = time.process_time()
    t0 = _timeit(lambda: sfr(a, bootstrap=0), n)
    cpu0 = (time.process_time() - c0) / (n + 1)
    t1 = _timeit(lambda: sfr(a, bootstrap=200), max(10, n // 4))
    t2 = _timeit(lambda: sfr(a, bootstrap=0, npol=1, refine=False, smooth_tails=False, window_px="roi"), n)
    tracemalloc.start()
    sfr(a, bootstrap=200)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print("1. one 128x128 edge ROI (SNR 100, npol 5)")
    print(f"   sfr(bootstrap=0)    {t0 * 1e3:7.2f} ms wall (median), {cpu0 * 1e3:.2f} ms CPU (mean)   (target <= 10 ms)")
    print(f"   sfr(bootstrap=200)  {t1 * 1e3:7.2f} ms   peak traced memory {peak / 2**20:.1f} MiB")
    print(f"   plain ISO 12233:2017-style (npol 1, no refinement/tail smoothing, ROI-wide window) {t2 * 1e3:.2f} ms")


def _chart_12mp():
    from camforge.camera import Camera
    from camforge.types import Raw, RawMeta

    cam = Camera.from_yaml(REPO / "examples" / "designs" / "phone_main_12mp.yaml")
    scene = cam.chart("slanted-edge", layout="field")
    truth = []
    for t in scene.truth["edges"]:
        col, row = cam.scene_to_pixel(scene, t["center"][0], t["center"][1])
        truth.append((float(col), float(row), t["direction"], t["orientation"]))
    if CACHE.exists():
        z = np.load(CACHE, allow_pickle=False)
        raw = Raw(z["data"][None, None], RawMeta(cfa=str(z["cfa"]), black_level_dn=tuple(z["black"]),
                                                   white_level_dn=float(z["white"]), bit_depth=int(z["bits"])))
        return raw, truth, 0.0
    t0 = time.perf_counter()
    raw = cam.capture(scene, seed=0, psf=True)
    dt = time.perf_counter() - t0
    np.savez(CACHE, data=raw.numpy(0), cfa=raw.meta.cfa, black=np.array(raw.meta.black_level_dn),
             white=raw.meta.white_level_dn, bits=raw.meta.bit_depth)
    return raw, truth, dt


def bench_chart() -> None:
    from camforge.metrics.edges import measure_edges

    raw, truth, sim_s = _chart_12mp()
    print(f"2. find + measure every edge of a simulated {raw.width}x{raw.height} raw chart (RGGB, CFA mode)")
    if sim_s:
        print(f"   (simulated the capture in {sim_s:.1f} s, cached in {CACHE})")
    measure_edges(raw)  # warm-up (imports)
    walls, cpus = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        res = measure_edges(raw)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    tracemalloc.start()  # separate run: tracing slows Python down several-fold
    measure_edges(raw)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    found, errs = 0, []
    for col, row, direction, orient in truth:
        e = min(res.edges, key=lambda m: math.hypot(m.center_xy_px[0] - col, m.center_xy_px[1] - row))
        d = math.hypot(e.center_xy_px[0] - col, e.center_xy_px[1] - row)
        if d < 8 and e.direction == direction and e.orientation == orient:
            found += 1
            errs.append(d)
    print(f"   measure_edges: {np.median(walls):.2f} s wall, {np.median(cpus):.2f} s CPU (median of 3; target <= 3 s), "
          f"peak traced memory {peak / 2**20:.0f} MiB")
    print(f"   {len(res.edges)} edges measured, {len(res.rejected)} candidates rejected; "
          f"{found}/{len(truth)} truth edges matched (direction + orientation), centre error median "
          f"{np.median(errs):.2f} px, max {np.max(errs):.2f} px")
    for band in ((0.0, 0.2), (0.4, 0.6), (0.7, 1.0)):
        sel = [e for e in res.edges if band[0] <= e.field < band[1]]
        for o in ("meridional", "sagittal"):
            v = [e.mtf50_cy_per_px for e in sel if e.orientation == o]
            if v:
                print(f"   field {band[0]:.1f}-{band[1]:.1f} {o:10s}: MTF50 (green) mean {np.mean(v):.3f} cy/px "
                      f"over {len(v)} edges")


def bench_accuracy(reps: int) -> None:
    from camforge.metrics.sfr import analytic_edge, analytic_mtf50, sfr

    sigmas = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5)
    angles = (2.0, 3.0, 5.0, 8.0, 11.0, 15.0, 20.0)
    print(f"3. analytic edges 128x128, 16-bit, 4:1 contrast; sigma {sigmas} px x angles {angles} deg")
    print("   SNR     cases  bias |mean err| median / worst (+-SE of worst)   one-realisation sd median / worst")
    rng = np.random.default_rng(12233)
    for snr in (None, 200, 100, 50):
        biases, sds = [], []
        for s in sigmas:
            for ang in angles:
                ref = analytic_mtf50(ang, s)
                e = []
                for _ in range(reps if snr else 1):
                    a = analytic_edge((128, 128), ang, s, center_xy=(63.5 + rng.uniform(-0.5, 0.5), 63.5),
                                      dark=12500.0, light=50000.0)
                    if snr:
                        a = a + rng.normal(0, 37500.0 / snr, a.shape)
                    a = np.clip(np.round(a), 0, 65535).astype(np.uint16)
                    e.append(sfr(a, bootstrap=0).mtf50_cy_per_px / ref - 1)
                biases.append(abs(float(np.mean(e))) * 100)
                sds.append(float(np.std(e)) * 100)
        name = "inf" if snr is None else str(snr)
        worst = int(np.argmax(biases))
        se = sds[worst] / math.sqrt(reps) if snr else 0.0
        sd_txt = "-" if snr is None else f"{np.median(sds):.2f} % / {np.max(sds):.2f} %"
        print(f"   {name:>5s}   {len(biases):5d}  {np.median(biases):.3f} % / {biases[worst]:.3f} % (+-{se:.3f} %)"
              f"{'':14s}{sd_txt}")
    print(f"   (noisy rows: {reps} seeded realisations per case, bias = mean error; target bias median <= 0.15 %, "
          "worst <= 0.5 %; MTF Mapper ~0.2 % median)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=50, help="noise realisations per accuracy case")
    p.add_argument("--quick", action="store_true", help="fewer timing calls and realisations")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    n = 50 if args.quick else 200
    print(f"camforge e-SFR benchmark (numpy {np.__version__}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; set OPENBLAS_NUM_THREADS=1 on a shared machine)")
    bench_roi(n)
    bench_chart()
    bench_accuracy(5 if args.quick else args.reps)
    print("MTF Mapper: not built (needs OpenCV, Eigen and TCLAP C++ headers; not installable from PyPI here).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
