"""Learned demosaic + denoise vs Menon + the best classical denoiser, on Kodak, at low light.

Noise levels are physical: the 1.4 µm phone sensor of ``examples/designs/phone_main_12mp.yaml``
(full well 6000 e⁻, read noise 2 e⁻, row noise 0.3 e⁻, ADC noise 0.3 DN, DSNU 0.6 e⁻,
PRNU 0.6 %, 10-bit) at analog gain 8, exposure 1/30 s, with a white pixel collecting
``--levels`` electrons (default 20, 50, 100, 200 e⁻). Each Kodak image (sRGB-decoded, taken as
white-balanced camera RGB, white = 1) is divided by the sensor's D65 white-balance gains,
mosaicked RGGB and read out by camforge's :class:`~camforge.sensor.Sensor` (Poisson shot noise
and the rest); the ISP front end (black level, normalisation, white balance) gives the
mosaic every method starts from. Output: linear RGB / white level → sRGB → CPSNR against the
original 8-bit image (10-pixel border excluded), like ``bench_demosaic.py``.

Baselines (camforge.isp): Menon 2007 demosaic after raw-domain NLM or bilateral, or
before RGB-domain NLM or bilateral, with the filter strength (and search window) chosen per
noise level for the best mean CPSNR on *non-Kodak* tuning images (crops of scikit-image's
photographs, dead leaves excluded); ``--kodak-tuned`` adds the same search on Kodak itself
(an upper bound for the baseline). The learned stage uses the shipped weights (or
``--weights DIR``), which never saw a Kodak image.

    .venv/bin/python bench/bench_learned_isp.py [--limit 24] [--levels 20,50,100,200] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from camforge.isp import bilateral, bilateral_raw, demosaic, nlm, nlm_raw  # noqa: E402
from camforge.isp._common import unpack  # noqa: E402
from camforge.isp.learned import learned_demosaic, load_demosaic_net  # noqa: E402
from camforge.isp.tone import srgb_encode  # noqa: E402
from camforge.tasks.learned_isp import RawSimulator, default_sensor_config, wb_gains  # noqa: E402

GAIN = 8.0
STRENGTHS = [0.01 * 1.5**i for i in range(12)]  # 0.01 … 0.86
METHODS = ("nlm_raw", "bilateral_raw", "nlm_rgb", "bilateral_rgb")


def cpsnr(srgb: torch.Tensor, ref: np.ndarray, border: int = 10) -> float:
    x = srgb[0].permute(1, 2, 0).double().numpy()
    d = (x - ref)[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean(d**2)))


def to_srgb(lin: torch.Tensor, scale: float) -> torch.Tensor:
    return srgb_encode(lin / scale).clamp(0.0, 1.0)


def classical(planes: torch.Tensor, scale: float, method: str, strength: float, window: int) -> torch.Tensor:
    """Menon + a classical denoiser on white-balanced planes [4, h, w]; linear RGB, white = 1."""
    x = unpack(planes[None] / scale, 2)
    if method == "none":
        return demosaic(x, "RGGB", "menon")
    if method == "nlm_raw":
        return demosaic(nlm_raw(x, "RGGB", strength, window, 3), "RGGB", "menon")
    if method == "bilateral_raw":
        return demosaic(bilateral_raw(x, "RGGB", strength, 1.5, window), "RGGB", "menon")
    rgb = demosaic(x, "RGGB", "menon")
    if method == "nlm_rgb":
        return nlm(rgb, strength, window, 3)
    if method == "bilateral_rgb":
        return bilateral(rgb, strength, 1.5, window)
    raise ValueError(method)


def load_kodak(folder: Path, limit: int) -> list[np.ndarray]:
    from PIL import Image

    files = sorted(folder.glob("kodim*.png"))[:limit]
    out = []
    for f in files:
        with Image.open(f) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0)
    return out


def tuning_images(n: int = 6, size: int = 256) -> list[np.ndarray]:
    """Non-Kodak tuning crops (scikit-image photographs, 2x downscaled), as sRGB arrays."""
    from camforge.tasks.textures import natural_images, random_crops

    g = torch.Generator().manual_seed(1234)
    crops = random_crops(natural_images(2, grey=False), n, size, g, augment=False)
    return [srgb_encode(c).permute(1, 2, 0).double().numpy() for c in crops]


def simulate(sim: RawSimulator, img_srgb: np.ndarray, white_e: float, gains, seed: int):
    import colour

    lin = torch.from_numpy(colour.cctf_decoding(img_srgb, function="sRGB").transpose(2, 0, 1).copy()).float()
    return sim.simulate(lin, white_e, GAIN, gains, seed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kodak", default=os.environ.get("CAMFORGE_DATA", str(REPO.parent / "shared" / "data")) + "/kodak")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--levels", default="20,50,100,200", help="electrons at white")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--windows", default="5,7", help="search windows tried for the classical denoisers")
    ap.add_argument("--kodak-tuned", action="store_true", help="also tune the baseline on Kodak (upper bound)")
    ap.add_argument("--json", default=None, help="write the table as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    levels = [float(v) for v in args.levels.split(",")]
    windows = [int(v) for v in args.windows.split(",")]
    kodak = load_kodak(Path(args.kodak), args.limit)
    if not kodak:
        print(f"no Kodak images in {args.kodak}")
        return 1
    net, cfg = load_demosaic_net(args.weights)
    print(f"{len(kodak)} Kodak images; learned weights {cfg.get('weights_sha256', '')[:12]} "
          f"({sum(p.numel() for p in net.parameters())} parameters); torch {torch.__version__}, "
          f"threads={args.threads}, load={os.getloadavg()[0]:.2f}")
    sim = RawSimulator(default_sensor_config(), size_px=768)
    gains = wb_gains(sim.sensor, "D65")
    print(f"sensor: 1.4 um, gain {GAIN:g}, K = {float(sim.sensor.system_gain(GAIN)):.3f} DN/e-, "
          f"sigma_0 = {sim.noise_model(GAIN).dark_noise_e:.2f} e-, D65 WB gains {[round(float(v), 3) for v in gains]}")
    tune = tuning_images()
    rows = []
    for level in levels:
        t0 = time.perf_counter()
        # 1. tune the baseline on non-Kodak crops
        tsets = [simulate(sim, im, level, gains, seed=100 + i) for i, im in enumerate(tune)]
        best = {}
        with torch.no_grad():
            for method in METHODS:
                for w in windows:
                    for s in STRENGTHS:
                        v = np.mean([cpsnr(to_srgb(classical(p, sc, method, s, w), 1.0), im)
                                     for (p, _, _, sc), im in zip(tsets, tune)])
                        if method not in best or v > best[method][0]:
                            best[method] = (v, s, w)
        # 2. Kodak
        res = {m: [] for m in ("menon", *METHODS, "learned")}
        t_learned, t_base = [], []
        with torch.no_grad():
            for i, im in enumerate(kodak):
                p, sg, _, sc = simulate(sim, im, level, gains, seed=i)
                res["menon"].append(cpsnr(to_srgb(classical(p, sc, "none", 0, 5), 1.0), im))
                for method in METHODS:
                    _, s, w = best[method]
                    t = time.perf_counter()
                    res[method].append(cpsnr(to_srgb(classical(p, sc, method, s, w), 1.0), im))
                    t_base.append(time.perf_counter() - t)
                t = time.perf_counter()
                out = learned_demosaic(unpack(p[None], 2), "RGGB", noise=sim.noise_model(GAIN), gains=gains, net=net)
                t_learned.append(time.perf_counter() - t)
                res["learned"].append(cpsnr(to_srgb(out, sc), im))
        means = {k: float(np.mean(v)) for k, v in res.items()}
        best_base = max(METHODS, key=lambda m: means[m])
        row = {"white_e": level, "menon_db": means["menon"],
               **{f"{m}_db": means[m] for m in METHODS},
               "best_baseline": best_base, "best_baseline_db": means[best_base],
               "best_baseline_params": {"strength": best[best_base][1], "search_window": best[best_base][2]},
               "learned_db": means["learned"], "gain_db": means["learned"] - means[best_base],
               "learned_wins": int(sum(a > b for a, b in zip(res["learned"], res[best_base]))),
               "n_images": len(kodak), "learned_s_per_image": float(np.median(t_learned)),
               "baseline_s_per_image": float(np.median(t_base))}
        if args.kodak_tuned:
            kt = {}
            with torch.no_grad():
                sims = [simulate(sim, im, level, gains, seed=i) for i, im in enumerate(kodak)]
                for method in METHODS:
                    _, s0, w = best[method]
                    j0 = STRENGTHS.index(s0)
                    for s in STRENGTHS[max(0, j0 - 2) : j0 + 3]:
                        v = float(np.mean([cpsnr(to_srgb(classical(p, sc, method, s, w), 1.0), im)
                                           for (p, _, _, sc), im in zip(sims, kodak)]))
                        if method not in kt or v > kt[method][0]:
                            kt[method] = (v, s)
            bm = max(kt, key=lambda m: kt[m][0])
            row.update({"kodak_tuned_baseline": bm, "kodak_tuned_baseline_db": kt[bm][0],
                        "kodak_tuned_strength": kt[bm][1], "gain_vs_kodak_tuned_db": means["learned"] - kt[bm][0]})
        rows.append(row)
        print(f"white {level:5.0f} e-: Menon {means['menon']:.2f} dB | "
              + " | ".join(f"{m} {means[m]:.2f}" for m in METHODS)
              + f" | best {best_base} (s={best[best_base][1]:.3f}, w={best[best_base][2]}) {means[best_base]:.2f} dB"
              + f" | learned {means['learned']:.2f} dB | gain {row['gain_db']:+.2f} dB"
              + (f" (vs Kodak-tuned {row['gain_vs_kodak_tuned_db']:+.2f})" if args.kodak_tuned else "")
              + f" | wins {row['learned_wins']}/{len(kodak)} | {time.perf_counter() - t0:.0f} s")
    print(f"timing per image: learned {np.median([r['learned_s_per_image'] for r in rows]):.2f} s, "
          f"best baseline {np.median([r['baseline_s_per_image'] for r in rows]):.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
