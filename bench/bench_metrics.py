"""Benchmark: the non-SFR image-quality metrics (colour, noise, shading, distortion, lateral
colour, texture, full reference), side by side with the peer libraries where one exists.

Run:  .venv/bin/python bench/bench_metrics.py [--quick]

Prints, per case, the median wall time of repeated calls, the peak memory of one call in a
fresh process (RSS sampled every 0.5 ms during the call, above the RSS just before it), and the ratio to
the peer run in the same process:

* PSNR / SSIM — camforge (torch, float32 and float64; batched) vs scikit-image
  ``peak_signal_noise_ratio`` / ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, channel_axis=-1)`` on 1024 × 1024 RGB; plus the largest
  difference between the two SSIM values.
* ΔE00 map — camforge ``delta_e00_map`` vs colour-science called directly (camforge wraps it).
* CCM least squares — camforge ``fit_ccm`` vs colour-science ``matrix_colour_correction``
  (Cheung 2004, 3 terms); the ΔE00-optimised fit for scale.
* ColorChecker detection — the real Infinite-ISP frame (quick look, 960 × 540) and an
  8 MP synthetic chart. Peer: colour-checker-detection needs OpenCV (not installed here),
  so it is not run.
* Noise (patch statistics, temporal/FPN on 8 × 1 MP frames, NPS), shading (12 MP flat),
  distortion (8 MP dot grid), lateral colour (per edge), texture (1024² patch): camforge
  only — no in-process peer implements these.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def _median_time(fn, n: int) -> float:
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


# ---------------------------------------------------------------------------- inputs (deterministic)


def _pair(n=1024):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    ref = gaussian_filter(rng.random((n, n, 3)), (2, 2, 0))
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    return np.clip(ref + rng.normal(0, 0.03, ref.shape), 0, 1), ref


def _chart(width=3456, height=2304):
    sys.path.insert(0, str(REPO / "tests"))
    from test_metrics_color import _chart_image

    from camforge.metrics.color import colorchecker_reference

    img, _ = _chart_image(np.clip(colorchecker_reference().linear_srgb_array, 0, 1), width=width, height=height,
                          rotation_deg=4.0)
    return (img * 255).round().astype(np.uint8)


def _dots(width=3264, height=2448, k1=-0.08):
    """A dot grid seen through a barrel lens (distance to the nearest ideal dot, vectorised)."""
    c = np.array([(width - 1) / 2, (height - 1) / 2])
    n = math.hypot(width / 2, height / 2)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = xx - c[0], yy - c[1]
    rd2 = (dx * dx + dy * dy) / n**2
    s = 1 - k1 * rd2  # first-order inverse of the radial model
    ux, uy = dx * s, dy * s
    pitch = 80.0
    ex = ux - pitch * np.round(ux / pitch)
    ey = uy - pitch * np.round(uy / pitch)
    return np.clip(1 - 0.8 * np.clip(12.5 - np.hypot(ex, ey) * s, 0, 1), 0, 1).astype(np.float32)


# ---------------------------------------------------------------------------- cases (also run in child processes)


def case(name: str):
    """Return a zero-argument callable that runs one benchmark case once."""
    import torch

    torch.set_num_threads(1)
    if name in ("psnr_camforge", "psnr_skimage", "ssim_camforge32", "ssim_camforge64", "ssim_skimage", "de00_camforge",
                "de00_colour"):
        test, ref = _pair()
        if name == "psnr_camforge":
            from camforge.metrics.reference import psnr

            return lambda: psnr(test, ref)
        if name == "psnr_skimage":
            from skimage.metrics import peak_signal_noise_ratio

            return lambda: peak_signal_noise_ratio(ref, test, data_range=1.0)
        if name.startswith("ssim_camforge"):
            from camforge.metrics.reference import ssim

            dt = torch.float32 if name.endswith("32") else torch.float64
            a = torch.from_numpy(np.moveaxis(test, -1, 0)[None].copy()).to(dt)
            b = torch.from_numpy(np.moveaxis(ref, -1, 0)[None].copy()).to(dt)
            return lambda: ssim(a, b)
        if name == "ssim_skimage":
            from skimage.metrics import structural_similarity

            return lambda: structural_similarity(ref, test, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                                 use_sample_covariance=False, channel_axis=-1)
        if name == "de00_camforge":
            from camforge.metrics.reference import delta_e00_map

            return lambda: delta_e00_map(test, ref)
        import colour

        return lambda: colour.delta_E(colour.XYZ_to_Lab(colour.sRGB_to_XYZ(test)), colour.XYZ_to_Lab(colour.sRGB_to_XYZ(ref)),
                                      method="CIE 2000")
    if name == "detect_chart_8mp":
        from camforge.metrics.color import measure_color

        img = _chart()
        return lambda: measure_color(img)
    if name == "distortion_8mp":
        from camforge.metrics.distortion import measure_distortion

        img = _dots()
        return lambda: measure_distortion(img, n_terms=1)
    if name == "shading_12mp":
        from camforge.metrics.shading import measure_shading
        from camforge.types import Raw, RawMeta

        rng = np.random.default_rng(0)
        frame = (1000 + rng.normal(0, 10, (3000, 4000))).astype(np.float32)
        raw = Raw(frame, RawMeta(cfa="RGGB", black_level_dn=64, white_level_dn=4095, bit_depth=12))
        return lambda: measure_shading(raw)
    if name == "fpn_8x1mp":
        from camforge.metrics.noise import temporal_fixed_pattern

        rng = np.random.default_rng(0)
        frames = (1000 + rng.normal(0, 10, (8, 1000, 1000))).astype(np.float32)
        return lambda: temporal_fixed_pattern(frames)
    raise KeyError(name)


def _rss_mb() -> float:
    """Current resident set size [MB] (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _child(name: str, q) -> None:
    import threading

    fn = case(name)
    fn()  # warm up (lazy imports, caches)
    base = _rss_mb()
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.0005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    fn()
    stop.set()
    th.join()
    q.put(max(peak[0], _rss_mb()) - base)


def peak_mb(name: str) -> float:
    """Peak RSS growth [MB] during one call of ``name`` in a fresh process (inputs built and one
    warm-up call done before; RSS sampled every 0.5 ms)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(name, q))
    p.start()
    p.join()
    return q.get() if not q.empty() else float("nan")


# ---------------------------------------------------------------------------- report


def row(label: str, t: float, mem: float | None = None, ratio: float | None = None, extra: str = "") -> None:
    m = "" if mem is None else f"{mem:8.1f} MB"
    r = "" if ratio is None else f"  ×{ratio:6.2f} vs peer"
    print(f"  {label:46s} {1e3 * t:10.2f} ms {m:>11s}{r} {extra}")


def main(quick: bool) -> None:
    import torch

    torch.set_num_threads(1)
    n = 3 if quick else 7
    print(f"camforge metrics benchmark (1 thread; median of {n}; peak RSS of one call in a fresh process)")
    print(f"torch {torch.__version__}, numpy {np.__version__}")

    print("\nFull reference, 1024 × 1024 RGB")
    times = {k: _median_time(case(k), n) for k in ("psnr_camforge", "psnr_skimage", "ssim_camforge32", "ssim_camforge64",
                                                     "ssim_skimage", "de00_camforge", "de00_colour")}
    mems = {k: peak_mb(k) for k in times} if not quick else {k: None for k in times}
    row("PSNR camforge (torch float64)", times["psnr_camforge"], mems["psnr_camforge"],
        times["psnr_camforge"] / times["psnr_skimage"])
    row("PSNR scikit-image", times["psnr_skimage"], mems["psnr_skimage"])
    for k, lab in (("ssim_camforge32", "SSIM camforge (torch float32)"), ("ssim_camforge64", "SSIM camforge (torch float64)")):
        row(lab, times[k], mems[k], times[k] / times["ssim_skimage"])
    row("SSIM scikit-image", times["ssim_skimage"], mems["ssim_skimage"])
    test, ref = _pair()
    from skimage.metrics import structural_similarity

    from camforge.metrics.reference import ssim

    d = abs(float(ssim(test, ref)[0]) - structural_similarity(ref, test, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                                             use_sample_covariance=False, channel_axis=-1))
    print(f"  |SSIM camforge − scikit-image| = {d:.2e}")
    batch = torch.from_numpy(np.stack([np.moveaxis(test, -1, 0)] * 8)).float()
    rb = torch.from_numpy(np.stack([np.moveaxis(ref, -1, 0)] * 8)).float()
    tb = _median_time(lambda: ssim(batch, rb), max(2, n // 2))
    row("SSIM camforge batch of 8 (float32)", tb, None, tb / (8 * times["ssim_skimage"]), "(vs 8 scikit-image calls)")
    row("ΔE00 map camforge (wraps colour-science)", times["de00_camforge"], mems["de00_camforge"],
        times["de00_camforge"] / times["de00_colour"])
    row("ΔE00 map colour-science direct", times["de00_colour"], mems["de00_colour"])

    print("\nColour")
    import colour

    from camforge.metrics.color import colorchecker_reference, fit_ccm

    rng = np.random.default_rng(0)
    y = colorchecker_reference().linear_srgb_array
    x = y @ np.linalg.inv([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.0, -0.5, 1.5]]).T + rng.normal(0, 0.004, (24, 3))
    t_ls = _median_time(lambda: fit_ccm(x, y), 20)
    t_ch = _median_time(lambda: colour.characterisation.matrix_colour_correction(x, y, method="Cheung 2004", terms=3), 20)
    row("CCM least squares camforge (+ ΔE00 report)", t_ls, None, t_ls / t_ch)
    row("CCM colour-science Cheung 2004", t_ch)
    row("CCM ΔE00-optimised camforge", _median_time(lambda: fit_ccm(x, y, method="delta_e00"), 2))
    raw_path = DATA / "infinite_isp" / "ColorCheckerRAW_1920x1080_12bit_BGGR.raw"
    if raw_path.exists():
        from camforge.io import quicklook, read_headerless
        from camforge.metrics.colorchecker import detect_colorchecker

        q = quicklook(read_headerless(raw_path, 1920, 1080, 12, "BGGR", black_level=128))
        row("ColorChecker detection, real frame 960 × 540", _median_time(lambda: detect_colorchecker(q), n))
    row("measure_color incl. detection, 8 MP chart", _median_time(case("detect_chart_8mp"), max(2, n // 2)),
        peak_mb("detect_chart_8mp") if not quick else None)

    print("\nNoise, shading, distortion")
    row("temporal/FPN, 8 frames × 1 MP", _median_time(case("fpn_8x1mp"), max(2, n // 2)),
        peak_mb("fpn_8x1mp") if not quick else None)
    from camforge.metrics.noise import measure_noise, noise_power_spectrum

    flat = (1000 + np.random.default_rng(1).normal(0, 10, (1024, 1024))).astype(np.float32)
    row("patch SNR, 1024² patch", _median_time(lambda: measure_noise(flat), n))
    row("NPS, 1024² patch, 64² blocks, 50 % overlap", _median_time(lambda: noise_power_spectrum(flat), n))
    row("shading, 12 MP Bayer raw flat", _median_time(case("shading_12mp"), max(2, n // 2)),
        peak_mb("shading_12mp") if not quick else None)
    row("distortion, 8 MP dot grid (1 200 dots)", _median_time(case("distortion_8mp"), max(2, n // 2)),
        peak_mb("distortion_8mp") if not quick else None)

    print("\nTexture, lateral colour")
    from scipy.special import ndtr

    from camforge.metrics.chroma import measure_lateral_ca
    from camforge.metrics.texture import measure_texture

    field = np.random.default_rng(2).random((1024, 1024)) + 1.0
    row("texture MTF (power-law reference), 1024²", _median_time(lambda: measure_texture(field), n))
    row("texture MTF (map reference 3×), 1024²",
        _median_time(lambda: measure_texture(field[:512, :512], reference=np.kron(field[:512, :512], np.ones((3, 3))),
                                             reference_px_per_px=3), n))
    yy, xx = np.mgrid[0:80, 0:80].astype(float)
    dd = (xx - 40) * math.cos(0.09) - (yy - 40) * math.sin(0.09)
    img = np.stack([0.2 + 0.6 * ndtr((dd - s) / 1.0) for s in (0.3, 0.0, -0.2)], -1)
    row("lateral CA, one 80 × 80 RGB edge", _median_time(lambda: measure_lateral_ca(img, (0, 0, 80, 80)), n))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, no memory measurements")
    main(ap.parse_args().quick)
