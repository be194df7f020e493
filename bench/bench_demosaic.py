"""Demosaicing speed and quality: camforge vs colour-demosaicing, side by side, same run.

For every Kodak image (RGGB mosaic of the 8-bit PNG / 255): the median time of each
algorithm over ``--repeat`` runs (after one warm-up) and the CPSNR (10·log10(1/MSE) over the
three channels, 10-pixel border excluded). Prints per-method medians, the speed ratio and
the mean CPSNR of both, then the process's peak RSS.

    .venv/bin/python bench/bench_demosaic.py [--kodak ../shared/data/kodak] [--threads 2] [--repeat 5]

Targets (issue 3): each camforge method ≥ 3× faster than colour-demosaicing's, CPSNR within
0.05 dB of it or better.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from camforge.isp import demosaic  # noqa: E402

PEERS = {"bilinear": "demosaicing_CFA_Bayer_bilinear", "malvar": "demosaicing_CFA_Bayer_Malvar2004",
         "menon": "demosaicing_CFA_Bayer_Menon2007"}


def cpsnr(x: np.ndarray, ref: np.ndarray, border: int = 10) -> float:
    d = (x - ref)[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean(d**2)))


def median_time(fn, repeat: int) -> tuple[float, object]:
    out = fn()  # warm-up
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kodak", default=os.environ.get("CAMFORGE_DATA", str(REPO.parent / "shared" / "data")) + "/kodak")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peer-repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=24, help="number of Kodak images")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        import colour_demosaicing as cd
        import imageio.v3 as iio
    except ImportError as e:
        print(f"colour-demosaicing / imageio missing ({e}); pip install colour-demosaicing")
        return 1
    files = sorted(Path(args.kodak).glob("kodim*.png"))[: args.limit]
    if not files:
        print(f"no Kodak images in {args.kodak}")
        return 1
    print(f"{len(files)} Kodak images, torch {torch.__version__}, threads={args.threads}, load={os.getloadavg()[0]:.2f}")
    res = {m: {"ours_s": [], "peer_s": [], "ours_db": [], "peer_db": []} for m in PEERS}
    for f in files:
        img = iio.imread(f).astype(np.float64) / 255.0
        cfa = cd.mosaicing_CFA_Bayer(img, "RGGB")
        x = torch.from_numpy(cfa.astype(np.float32))[None, None]
        for m, peer_name in PEERS.items():
            peer = getattr(cd, peer_name)
            with torch.no_grad():
                t, out = median_time(lambda: demosaic(x, "RGGB", m), args.repeat)
            res[m]["ours_s"].append(t)
            res[m]["ours_db"].append(cpsnr(out[0].permute(1, 2, 0).double().numpy(), img))
            t, out = median_time(lambda: peer(cfa, "RGGB"), args.peer_repeat)
            res[m]["peer_s"].append(t)
            res[m]["peer_db"].append(cpsnr(out, img))
    print(f"\n{'method':<10}{'camforge ms':>13}{'colour-dem. ms':>16}{'speed-up':>10}{'camforge dB':>13}{'colour-dem. dB':>16}{'Δ dB':>8}")
    ok = True
    for m, r in res.items():
        ours, peer = np.median(r["ours_s"]) * 1e3, np.median(r["peer_s"]) * 1e3
        db_o, db_p = np.mean(r["ours_db"]), np.mean(r["peer_db"])
        print(f"{m:<10}{ours:>13.2f}{peer:>16.1f}{peer / ours:>9.1f}×{db_o:>13.3f}{db_p:>16.3f}{db_o - db_p:>+8.3f}")
        ok &= peer / ours >= 3 and db_o >= db_p - 0.05
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {rss:.0f} MiB; targets (≥3× faster, ≥ peer − 0.05 dB): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
