"""Spatial non-uniformity per EMVA 1288 Release 4.0 Linear §8: DSNU1288, PRNU1288 with
row, column and pixel parts, spectrograms, accumulated histograms and defect maps.

Variance decomposition (R4 §8.2). The average ⟨y⟩ of L frames (M rows × N columns) is
modelled as μ + c[n] + r[m] + p[m, n] (column, row and pixel patterns). With

    s²_y     = var(⟨y⟩)                 − σ²_stack / L           (total)
    s²_y.cav = var over n of the column means − σ²_stack / (L M)
    s²_y.rav = var over m of the row means    − σ²_stack / (L N)

the expectations s²_y = c + r + p, s²_cav = c + p/M, s²_rav = r + p/N give

    s²_pixel = MN/(MN − M − N) · (s²_y − s²_cav − s²_rav)
    s²_col   = s²_cav − s²_pixel / M
    s²_row   = s²_rav − s²_pixel / N

(σ²_stack: the mean per-pixel temporal variance of the stack). DSNU1288 = s_y.dark / K
[e⁻]; PRNU1288 = √(s²_y − s²_y.dark) / (μ_y − μ_y.dark) [%]; the parts likewise.

Spectrograms (R4 §8.3): the DFT of each line of the average minus its mean,
p(f) = ⟨|Y(f)|²⟩ / N over lines, reported as the amplitude √p(f) (so the mean of p over
all N frequencies equals the spatial variance, Parseval).

Defect pixels (R4 §8.4): accumulated histograms of the absolute deviation from the mean —
the dark average as is (DSNU) and the bright − dark average high-pass filtered by
subtracting a 5 × 5 box mean (PRNU, which removes shading), in % of the mean signal.
"""

from __future__ import annotations

import math

import numpy as np

from camforge.characterize.result import DefectPixels, Histogram, Spectrogram


def variance_parts(avg: np.ndarray, stack_var_dn2: float, n_frames: int) -> dict:
    """Temporal-noise corrected total, row, column and pixel variances of an average image [DN²]."""
    M, N = avg.shape
    L = max(int(n_frames), 1)
    mean = float(avg.mean())
    s2 = float(avg.var(ddof=1)) - stack_var_dn2 / L
    s2_cav = float(avg.mean(axis=0).var(ddof=1)) - stack_var_dn2 / (L * M)
    s2_rav = float(avg.mean(axis=1).var(ddof=1)) - stack_var_dn2 / (L * N)
    denom = M * N - M - N
    s2_pix = M * N / denom * (s2 - s2_cav - s2_rav)
    s2_col = s2_cav - s2_pix / M
    s2_row = s2_rav - s2_pix / N
    return {"mean": mean, "s2": s2, "s2_cav": s2_cav, "s2_rav": s2_rav, "s2_pixel": s2_pix, "s2_col": s2_col,
            "s2_row": s2_row}


def _sqrt(v: float) -> float:
    return math.sqrt(v) if v >= 0 else float("nan")


def spectrogram(img: np.ndarray, direction: str, scale: float, unit: str, temporal_var: float) -> Spectrogram:
    """Amplitude spectrogram of ``img`` (minus its mean) along rows (``horizontal``) or columns.

    ``scale`` converts DN to the reported unit; ``temporal_var`` [DN²] the residual
    temporal variance in the image (its white floor).
    """
    x = (img - img.mean()) * scale
    if direction == "vertical":
        x = x.T
    n = x.shape[1]
    from scipy import fft as sfft

    spec = sfft.rfft(x, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).mean(axis=0) / n
    freq = np.arange(power.size) / n
    floor = math.sqrt(max(temporal_var, 0.0)) * abs(scale)
    return Spectrogram(direction, unit, freq, np.sqrt(power), floor)


def _box5(img: np.ndarray) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return uniform_filter(img, size=5, mode="reflect")


def _histogram(name: str, unit: str, dev: np.ndarray, quantum: float = 0.0, n_bins: int = 256) -> Histogram:
    """Histogram of signed deviations and the accumulated histogram of |deviation|.

    ``quantum``: the step of the data (an average of L integer frames moves in steps of
    1/L DN); bins are whole multiples of it, centred on the possible values, so that no
    bin is empty by construction (as R4 asks for its defect-pixel histograms).
    """
    d = dev.ravel()
    lo, hi = float(d.min()), float(d.max())
    span = max(hi - lo, 1e-12)
    if quantum > 0:
        width = quantum * max(1, math.ceil(span / quantum / n_bins))
        start = lo - 0.5 * quantum
    else:
        width = span / n_bins
        start = lo
    nb = max(1, int(math.floor((hi - start) / width)) + 1)
    edges = start + width * np.arange(nb + 1)
    # O(N) binning (np.histogram with explicit edges sorts the data); one float and one int scratch
    t = np.subtract(d, start)
    t /= width
    idx = t.astype(np.intp)
    np.clip(idx, 0, nb - 1, out=idx)
    counts = np.bincount(idx, minlength=nb)
    sd = float(d.std())
    centres = 0.5 * (edges[1:] + edges[:-1])
    if sd > 0:
        model = d.size * width / (math.sqrt(2 * math.pi) * sd) * np.exp(-0.5 * ((centres - d.mean()) / sd) ** 2)
    else:
        model = np.zeros_like(centres)
    a = np.abs(d, out=t)
    amax = float(a.max()) if a.size else 0.0
    step = width if width > 0 else 1.0
    n_acc = int(math.floor(amax / step)) + 2
    acc_edges = step * np.arange(n_acc)
    # pixels with |deviation| >= edge k: reverse cumulative count of floor(|d| / step)
    a /= step
    idx[...] = a
    np.minimum(idx, n_acc - 1, out=idx)
    h_abs = np.bincount(idx, minlength=n_acc)
    acc = 100.0 * np.cumsum(h_abs[::-1])[::-1] / d.size
    return Histogram(name, unit, edges, counts, model, acc_edges, acc)


def _sample(x: np.ndarray, n: int = 65536) -> np.ndarray:
    """A regular subsample of at most ``n`` values (for robust location and scale)."""
    flat = x.ravel()
    return flat[:: max(1, flat.size // n)]


def _robust_sigma(x: np.ndarray) -> float:
    """1.4826 × median absolute deviation (of a regular subsample of ≤ 65 536 pixels)."""
    s = _sample(x)
    med = np.median(s)
    return float(1.4826 * np.median(np.abs(s - med)))


def _coords(mask: np.ndarray, tile: tuple, offset: tuple, limit: int = 1000) -> tuple:
    rows, cols = np.nonzero(mask)
    th, tw = tile
    r0, c0 = offset
    return tuple((int(r * th + r0), int(c * tw + c0)) for r, c in zip(rows[:limit], cols[:limit]))


def spatial_parts(bright_avg, bright_stack_var, n_bright, dark_avg, dark_stack_var, n_dark, *,
                  defect_sigma: float = 6.0) -> dict:
    """The part of :func:`analyze_spatial` that needs no system gain K (DN and % only).

    Variance parts of both averages, the PRNU spectrograms and histogram, the high-pass
    PRNU defect map and the DSNU spectrograms in DN. It depends on the two spatial stacks
    alone, so :func:`~camforge.characterize.reduce.reduce_stack` starts it while the
    temporal pairs are still decoding; :func:`analyze_spatial` finishes with K.
    """
    b = variance_parts(bright_avg, bright_stack_var, n_bright)
    d = variance_parts(dark_avg, dark_stack_var, n_dark)
    signal = b["mean"] - d["mean"]
    photo = bright_avg - dark_avg
    photo_var = bright_stack_var / max(n_bright, 1) + dark_stack_var / max(n_dark, 1)
    pct = 100.0 / signal if signal > 0 else float("nan")
    dark_var = dark_stack_var / max(n_dark, 1)
    spectra_dn = (spectrogram(dark_avg, "horizontal", 1.0, "dn", dark_var),
                  spectrogram(dark_avg, "vertical", 1.0, "dn", dark_var),
                  spectrogram(photo, "horizontal", pct, "pct", photo_var),
                  spectrogram(photo, "vertical", pct, "pct", photo_var))
    bright_dev_pct = (photo - _box5(photo)) * pct
    hist_prnu = _histogram("prnu", "pct", bright_dev_pct)
    thr_b = defect_sigma * _robust_sigma(bright_dev_pct)
    bmap = np.abs(bright_dev_pct) > thr_b if thr_b > 0 else np.zeros(dark_avg.shape, bool)
    bmap.setflags(write=False)
    # DSNU histogram and defect map in DN: both scale with 1/K as a whole (bins are centred on
    # the 1/n-DN steps of the averaged data, so no value sits near a bin edge)
    dark_dev = dark_avg - d["mean"]
    hist_dsnu_dn = _histogram("dsnu", "dn", dark_dev, quantum=1.0 / max(n_dark, 1))
    thr_d_dn = defect_sigma * _robust_sigma(dark_dev)
    dmap = np.abs(dark_dev - np.median(_sample(dark_dev))) > thr_d_dn if thr_d_dn > 0 else \
        np.zeros(dark_avg.shape, bool)
    dmap.setflags(write=False)
    return {"b": b, "d": d, "signal": signal, "spectra_dn": spectra_dn, "hist_prnu": hist_prnu, "thr_b": thr_b,
            "bmap": bmap, "hist_dsnu_dn": hist_dsnu_dn, "thr_d_dn": thr_d_dn, "dmap": dmap,
            "defect_sigma": defect_sigma, "inputs": (bright_avg, dark_avg)}


def analyze_spatial(bright_avg, bright_stack_var, n_bright, dark_avg, dark_stack_var, n_dark, K: float, *,
                    exposure_s: float, photons_per_px: float, tile=(1, 1), offset=(0, 0),
                    defect_sigma: float = 6.0, parts: dict | None = None):
    """DSNU/PRNU, spectrograms, histograms and defect maps from the averaged stacks of one channel.

    ``parts``: :func:`spatial_parts` of these very arrays, if already computed.
    """
    from camforge.characterize.result import SpatialNonuniformity

    if parts is None or parts["inputs"][0] is not bright_avg or parts["inputs"][1] is not dark_avg \
            or parts["defect_sigma"] != defect_sigma:
        parts = spatial_parts(bright_avg, bright_stack_var, n_bright, dark_avg, dark_stack_var, n_dark,
                              defect_sigma=defect_sigma)
    b, d, signal = parts["b"], parts["d"], parts["signal"]
    prnu = lambda vb, vd: 100.0 * _sqrt(vb - vd) / signal if signal > 0 else float("nan")  # noqa: E731
    # DSNU spectrograms from DN to e⁻: the amplitude scales with 1/K
    sd_h, sd_v, sp_h, sp_v = parts["spectra_dn"]
    spectra = tuple(Spectrogram(x.direction, "e", x.frequency_cy_per_px, x.amplitude / abs(K), x.temporal_floor / abs(K))
                    for x in (sd_h, sd_v)) + (sp_h, sp_v)
    h = parts["hist_dsnu_dn"]  # DN → e⁻: the edges scale, the counts stay
    k_inv = 1.0 / abs(K)
    hists = (Histogram("dsnu", "e", h.bin_edges * k_inv, h.counts, h.model_counts, h.accumulated_edges * k_inv,
                       h.accumulated_pct), parts["hist_prnu"])
    thr_d = parts["thr_d_dn"] * k_inv
    thr_b, bmap, dmap = parts["thr_b"], parts["bmap"], parts["dmap"]
    defects = DefectPixels(defect_sigma, thr_d, thr_b, int(dmap.sum()), int(bmap.sum()),
                           _coords(dmap, tile, offset), _coords(bmap, tile, offset), dmap, bmap)
    ba, da = bright_avg.view(), dark_avg.view()  # read-only views of the reduced averages
    ba.setflags(write=False)
    da.setflags(write=False)
    return SpatialNonuniformity(
        exposure_s=exposure_s, photons_per_px=photons_per_px, n_frames=n_bright, n_frames_dark=n_dark,
        mean_dn=b["mean"], dark_mean_dn=d["mean"], stack_var_dn2=bright_stack_var, dark_stack_var_dn2=dark_stack_var,
        s2_y_dn2=b["s2"], s2_y_row_dn2=b["s2_row"], s2_y_col_dn2=b["s2_col"], s2_y_pixel_dn2=b["s2_pixel"],
        s2_y_dark_dn2=d["s2"], s2_y_dark_row_dn2=d["s2_row"], s2_y_dark_col_dn2=d["s2_col"],
        s2_y_dark_pixel_dn2=d["s2_pixel"],
        dsnu_e=_sqrt(d["s2"]) / K, dsnu_dn=_sqrt(d["s2"]), dsnu_row_e=_sqrt(d["s2_row"]) / K,
        dsnu_col_e=_sqrt(d["s2_col"]) / K, dsnu_pixel_e=_sqrt(d["s2_pixel"]) / K,
        prnu_pct=prnu(b["s2"], d["s2"]), prnu_row_pct=prnu(b["s2_row"], d["s2_row"]),
        prnu_col_pct=prnu(b["s2_col"], d["s2_col"]), prnu_pixel_pct=prnu(b["s2_pixel"], d["s2_pixel"]),
        spectrograms=spectra, histograms=hists, defects=defects, dark_mean_image_dn=da, mean_image_dn=ba,
    )


__all__ = ["analyze_spatial", "spatial_parts", "spectrogram", "variance_parts"]
