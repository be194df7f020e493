"""Benchmark: camforge EMVA 1288 analysis vs the emva1288 reference package, same data, same run.

    .venv/bin/python bench/bench_emva1288.py [--data ../shared/data/emva1288_refset001] [--repeat 5]

Both analyse the staged EMVA reference set 001 (12-bit CCD, a 120-frame subset of the
published 300 frames) from its descriptor: parse, load and reduce the frames, compute every
result (emva1288: ``ParseEmvaDescriptorFile`` → ``LoadImageData`` → ``Data1288`` →
``Results1288.results``; camforge: ``characterize_emva1288``, which also computes
spectrograms, histograms and defect maps). emva1288 cannot skip the missing files, so it
gets a filtered copy of the descriptor (absolute image paths) in a temporary folder, built
before the clock starts. emva1288 1.x calls ``np.asfarray``, removed in NumPy 2; the bench
(not the package) restores it as ``np.asarray(a, dtype=float)``.

Prints the values side by side (with the published reference results of the full set),
the best wall time and the best process CPU time of ``--repeat`` runs of each (alternating
is not needed: both are best-of), the ratios, and the peak Python heap of one run of each
(tracemalloc, which sees NumPy buffers). On a shared, loaded machine the wall-time ratio
swings with the load; the CPU-time ratio is the steadier figure.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

if not hasattr(np, "asfarray"):  # NumPy 2 removed it; emva1288 1.x still calls it (shim only, package untouched)
    np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)

REPO = Path(__file__).resolve().parents[1]

# published results of the full reference set 001 (emva1288 docs, datasets_results.rst; see shared/data/SOURCES.md)
PUBLISHED = {
    "K": 0.280769280926, "inverse_K": 3.56164319936, "QE": 45.1356082834, "R": 0.126726922819,
    "sigma_y_dark": 3.07341849276, "sigma_d": 10.8980275235, "u_p_min": 25.3600660517, "u_p_sat": 30957.0,
    "u_e_sat": 13972.6302563, "SNR_max": 118.205880802, "DR": 1220.69871336, "LE_min": -0.615797581149,
    "LE_max": 0.480448332752, "DSNU1288": 0.551787767644, "PRNU1288": 0.432704411062, "u_I_mean": 28.4074312749,
    "u_I_var": 8.26281507974, "index_u_ysat": 36,
}


def filtered_descriptor(descriptor: Path, out_dir: Path) -> Path:
    """A copy of the descriptor listing only existing images (absolute paths), steps with >= 2 images."""
    base = descriptor.parent
    header, blocks, cur = [], [], None
    for line in descriptor.read_text().splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        key = s.split()[0]
        if key in ("b", "d"):
            cur = [s, []]
            blocks.append(cur)
        elif key == "i" and cur is not None:
            p = base / s.split(None, 1)[1].replace("\\", "/")
            if p.is_file():
                cur[1].append(f"i {p.resolve()}")
        elif key in ("v", "n"):
            header.append(s)
    lines = list(header)
    for head, imgs in blocks:
        if len(imgs) >= 2:
            lines.append(head)
            lines.extend(imgs)
    out = out_dir / "EMVA1288_Data_filtered.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def run_emva1288(descriptor: Path):
    from emva1288.process import Data1288, LoadImageData, ParseEmvaDescriptorFile, Results1288

    parser = ParseEmvaDescriptorFile(str(descriptor), path="/", loglevel=logging.ERROR)
    loader = LoadImageData(parser.images, loglevel=logging.ERROR)
    data = Data1288(loader.data, loglevel=logging.ERROR)
    res = Results1288(data.data, loglevel=logging.ERROR)
    _ = res.results  # every result the package computes (sensitivity, linearity, spatial, histograms, ...)
    return res


def run_camforge(path: Path):
    from camforge.characterize import characterize_emva1288

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return characterize_emva1288(path)


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall time and best CPU time (all threads of the process) of ``repeat`` runs."""
    best, best_cpu, out = math.inf, math.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, out


def peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "emva1288_refset001")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    descriptor = args.data / "EMVA1288_Data.txt"
    if not descriptor.is_file():
        raise SystemExit(f"descriptor not found: {descriptor}")
    with tempfile.TemporaryDirectory() as tmp:
        filtered = filtered_descriptor(descriptor, Path(tmp))
        # warm both (imports, file cache)
        run_emva1288(filtered)
        run_camforge(args.data)
        t_ref, c_ref, ref = timed(lambda: run_emva1288(filtered), args.repeat)
        t_cf, c_cf, res = timed(lambda: run_camforge(args.data), args.repeat)
        mem_ref = peak_mb(lambda: run_emva1288(filtered))
        mem_cf = peak_mb(lambda: run_camforge(args.data))

    m, sp, dc = res.main, res.main.spatial, res.main.dark_current
    ours = {
        "K": m.k_dn_per_e, "inverse_K": m.inv_k_e_per_dn, "QE": 100 * m.qe, "R": m.responsivity_dn_per_p,
        "sigma_y_dark": m.sigma_y_dark_dn, "sigma_d": m.sigma_d_e, "u_p_min": m.mu_p_min, "u_p_sat": m.mu_p_sat,
        "u_e_sat": m.mu_e_sat, "SNR_max": m.snr_max, "DR": m.dr, "LE_min": m.le_min_pct, "LE_max": m.le_max_pct,
        "DSNU1288": sp.dsnu_e, "PRNU1288": sp.prnu_pct, "u_I_mean": dc.from_mean_e_per_s,
        "u_I_var": dc.from_var_e_per_s, "index_u_ysat": m.saturation_step,
    }

    def val(name):
        v = getattr(ref, name)
        return v() if callable(v) else v

    theirs = {k: val(k) for k in ours}
    # emva1288 indexes its own (subset) arrays: map its saturation photon count to the descriptor step number
    ptc = m.photon_transfer
    theirs["index_u_ysat"] = int(ptc.step_index[int(np.argmin(np.abs(ptc.photons_per_px - ref.u_p_sat)))])
    print(f"EMVA 1288 reference set 001 subset: {res.n_frames} frames {res.width_px}x{res.height_px} {res.bits}-bit")
    print(f"{'quantity':<14}{'camforge':>16}{'emva1288':>16}{'ratio':>10}{'published (full set)':>24}")
    for k in ours:
        a, b, p = float(ours[k]), float(theirs[k]), PUBLISHED[k]
        r = a / b if b not in (0.0,) and math.isfinite(b) else float("nan")
        print(f"{k:<14}{a:>16.6g}{b:>16.6g}{r:>10.4f}{p:>24.6g}")
    print("notes: u_p_min uses the Release 4 exact SNR=1 threshold in camforge, the Release 3 approximation in "
          "emva1288;\n       index_u_ysat of emva1288 converted from its subset array index to the descriptor step.")
    from camforge.characterize.frames import INFLATE

    print(f"wall  camforge {t_cf * 1e3:8.1f} ms   emva1288 {t_ref * 1e3:8.1f} ms   speed-up x{t_ref / t_cf:.2f} "
          f"(best of {args.repeat}; camforge decodes PNG with {INFLATE}, {os.cpu_count()} CPUs)")
    print(f"cpu   camforge {c_cf * 1e3:8.1f} ms   emva1288 {c_ref * 1e3:8.1f} ms   ratio    x{c_ref / c_cf:.2f} "
          "(process CPU time, all threads)")
    print(f"peak  camforge {mem_cf:8.1f} MiB  emva1288 {mem_ref:8.1f} MiB  (tracemalloc, one run)")


if __name__ == "__main__":
    main()
