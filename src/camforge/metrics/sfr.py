"""Slanted-edge SFR / MTF per ISO 12233:2023 (e-SFR).

:func:`sfr` measures the spatial frequency response of one edge region of interest (ROI)
following the e-SFR method of ISO 12233:2023 (Annex D) and Burns' reference implementation
sfrmat5, with three documented accuracy refinements (marked ★, each can be switched off):

1. *Linearise and combine*: optional OECF linearisation (``oecf``), then the analysis
   plane: luminance ``Y = Σ wᵢ Cᵢ`` (BT.601 weights by default), one colour plane, or each
   CFA colour of a raw mosaic on its own sub-grid.
2. *Orient*: a near-horizontal edge is transposed so the edge is near-vertical; each line
   (row) then crosses it.
3. *Edge location per line*: centroid of the line's first difference (2-tap ``[-½, ½]``,
   half-pixel phase accounted for) inside a Hann window centred on the current edge
   estimate (coarse peak → robust line → windowed centroids).
   ★ ``refine``: each line's edge position is then refined by least-squares matching of the
   line to the ESF template (Gauss–Newton, two rounds) — the Cramér–Rao-efficient shift
   estimate, several times less noisy than a centroid.
4. *Edge fit*: least-squares polynomial ``x = p(y)`` of order ``npol`` (1 = the line fit of
   ISO 12233:2017, up to 5 per ISO 12233:2023), with one round of outlier-line rejection.
   The edge angle comes from the straight-line fit.
5. *Line count*: the ROI is trimmed (centred) to the largest number of lines holding an
   integer number of phase cycles (``floor(N |slope|) / |slope|``), so every sub-pixel phase
   is sampled equally often.
6. *Projection and binning*: every pixel is projected along the edge (distance
   ``x − p(y)``) into bins of ``1/oversample`` pixel (4× by default); empty bins are filled
   by linear interpolation (too many empty bins — an edge near 0°, 18.4°, 26.6° or 45° — is
   an error).
   ★ ``smooth_tails``: more than two 10–90 % edge widths from the edge, the ESF is
   box-smoothed with a box that widens with distance (to ±max(2 px, one edge width)) —
   the plateaus carry only noise there (the idea of MTF Mapper's tail smoother).
7. *LSF*: the standard's centred difference ``[-½, 0, ½]`` of the binned edge-spread
   function (ESF).
8. *Window*: a Tukey (default, flat over the central half, ``window_alpha=0.5``) or Hamming
   window centred on the fitted edge.
   ★ ``window_px="auto"``: the window's half-length is 10 edge widths (at least 20 px, at
   most the ROI) instead of the whole ROI — the MTF noise grows with the window length;
   ``window_px="roi"`` reaches the ROI ends as the standard does.
9. *DFT*: ``|DFT|`` normalised to 1 at zero frequency.
10. *Corrections*: divide by the transfer functions of the discrete derivative,
    ``sinc(2 f Δ)``, and of the projection bins, ``sinc(f Δ)`` (Δ the bin width normal to the
    edge). sfrmat applies an approximate version of the first one only (``fir2fix``); both
    are exact here (MTF Mapper makes the same two corrections).
11. *Frequency scale*: the bin width normal to the edge is ``Δ = cos θ / oversample``
    pixels, so frequencies are in cycles per pixel **along the edge normal** (sfrmat4/5).

Summary values: MTF50, MTF50P (50 % of the peak, for sharpened images), MTF10, MTF at
Nyquist/2 (0.25 cy/px) and Nyquist (0.5 cy/px), and the ISO 12233 sampling efficiency
``min(f_MTF10, f_Nyq) / f_Nyq`` (sfrmat5 reports ``round(100 f_MTF10 / 0.495)`` %). They are
read from an 8×-zero-padded DFT, not by linear interpolation between coarse frequency
samples. MTF50 gets a 95 % confidence interval from a bootstrap over the ROI lines (the
edge fit is kept; the ESF, LSF and MTF are rebuilt from lines drawn with replacement; its
coverage on noisy analytic edges is ≈ 95 %).

Accuracy (tests/test_sfr.py, bench/bench_sfr.py): on exact analytic edges (Gaussian σ
0.5–2.5 px ⊗ square pixel, 2–20°, 16-bit, 128×128) the MTF50 error is 0.001 % median /
0.05 % worst without noise, and the bias stays below 0.1 % median / 0.3 % worst at SNR 50.
On sfrmat's demo edges (h_edge/v_edge) the result is 0.200 cy/px against sfrmat5's
published 0.202/0.203. ``refine=False, smooth_tails=False, window_px="roi",
window_alpha=1`` gives the plain standard pipeline (0.1955 cy/px on the same edges).

On raw Bayer data (``channel="cfa"``, which ``"luminance"`` means on a mosaic), each CFA
colour is measured on its own sub-grid: the edge is located on the green samples (both
green sub-grids), every colour's pixels are projected onto that edge in full-mosaic pixel
coordinates and binned at ``tile / oversample`` = 0.5 px. **Frequencies are in cycles per
pixel of the full mosaic** (the Nyquist frequency of a colour sub-grid is therefore
0.25 cy/px). The top-level result is green; ``per_channel`` holds r, g and b. Each colour
sees half the lines, so per-colour SFR needs edges of at least ~120 mosaic lines to be
precise (check ``mtf50_ci95_cy_per_px``).

References:
    ISO 12233:2023, Digital cameras — Resolution and spatial frequency responses, Annex D.
    P. D. Burns, "Slanted-edge MTF for digital camera and scanner analysis", Proc. PICS
    2000, 135–138. P. D. Burns, sfrmat5 (2023), github.com/t-kuha/sfrmat5 (BSD).
    F. van den Bergh, "Robust edge-spread function construction methods to counter
    poor sample spacing uniformity in the slanted-edge method", JOSA A 36(7), 2019
    (MTF Mapper).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from camforge.errors import InputError, MeasurementError
from camforge.metrics._image import LUMA_601, MeasurementInput, as_input, luminance

# Limits (documented in :func:`sfr`).
MIN_ACROSS_PX = 10  # pixels across the edge
MIN_LINES = 10  # lines along the edge
MAX_ANGLE_DEG = 44.5  # 45° edges give a degenerate phase distribution
MAX_EMPTY_BIN_FRACTION = 0.15  # of the bins near the edge
MAX_CLIPPED_FRACTION = 0.01  # of the ROI pixels at the white level (or at 0)
AUTO_WINDOW_WIDTHS = 10.0  # automatic LSF window half-length, in 10–90 % edge widths ...
AUTO_WINDOW_MIN_PX = 20.0  # ... but at least this many pixels
TAIL_START_WIDTHS = 2.0  # ESF tail smoothing starts this many 10–90 % widths from the edge ...
TAIL_MAX_HALF_PX = 2.0  # ... and its box grows to ± max(this many pixels, ...
TAIL_MAX_HALF_WIDTHS = 1.0  # ... this many 10–90 % widths)
NYQUIST_CY_PER_PX = 0.5

_CHANNELS = ("luminance", "r", "g", "b", "all", "cfa")


# ----------------------------------------------------------------------------- results
def _frozen(a) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class SFRResult:
    """Result of one slanted-edge SFR measurement (:func:`sfr`).

    Frequencies are in cycles per pixel along the edge normal (per pixel of the full mosaic
    for CFA channels). Positions are in pixels of the input image (x = column, y = row,
    pixel centres at integers). ``NaN`` means "not reached in the measured band".

    Attributes:
        freq_cy_per_px: frequency grid [cy/px], 0 to 1 cy/px.
        mtf: SFR (MTF) on ``freq_cy_per_px``, 1 at zero frequency [–].
        esf_position_px: positions of the ESF/LSF bins along the edge normal [px], 0 at the edge.
        esf: binned, oversampled edge-spread function (dark → light) [input units].
        lsf: line-spread function (derivative of the ESF, per pixel, before windowing).
        angle_deg: edge angle in sfrmat's convention: about 0 for a near-vertical edge,
            about 90 for a near-horizontal one (``-atan(slope)``, +90 when rotated) [deg].
        tilt_deg: signed tilt of the edge from the nearest pixel axis (same sign convention) [deg].
        direction: ``"vertical"`` or ``"horizontal"`` (the edge line, not its normal).
        edge_poly: polynomial coefficients (lowest order first) of the edge position along
            the lines as a function of the line index, in ROI coordinates: ``x(y)`` for a
            vertical edge, ``y(x)`` for a horizontal one [px].
        npol: order of the edge fit.
        edge_fit_rms_px: RMS residual of the per-line edge locations about the fit [px].
        center_xy_px: edge centre (middle line of the ROI) in image coordinates [px].
        normal_xy: unit normal of the edge pointing from the dark to the light side (image axes).
        sampling_efficiency: ISO 12233 sampling efficiency ``min(f10, 0.5) / 0.5`` [–].
        mtf50_cy_per_px: frequency where the SFR first falls to 0.5 [cy/px].
        mtf50p_cy_per_px: frequency where the SFR falls to 50 % of its peak [cy/px].
        mtf10_cy_per_px: frequency where the SFR first falls to 0.1 [cy/px].
        mtf_at_nyquist_half: SFR at 0.25 cy/px [–].
        mtf_at_nyquist: SFR at 0.5 cy/px [–].
        mtf50_ci95_cy_per_px: bootstrap 95 % interval of MTF50 over lines, or None [cy/px].
        roi: ``(x, y, w, h)`` of the measured region in image pixels.
        channel: measured plane (``"luminance"``, ``"r"``, ``"g"``, ``"b"``, ``"0"``...).
        light_level, dark_level: ESF plateaus on each side [input units, after OECF].
        contrast: Michelson contrast ``(light − dark) / (light + dark)`` [–].
        edge_snr: edge step over the pixel noise (robust estimate) [–].
        lines_used: number of lines kept (integer number of phase cycles).
        clipped_fraction_high, clipped_fraction_low: fraction of ROI pixels at the white
            level / at zero (before OECF) [–].
        window: window applied to the LSF (``"tukey:0.5"``, ``"hamming"``, ``"none"``).
        oversample: projection oversampling factor.
        per_channel: results per plane when several were measured (CFA colours, or r/g/b/
            luminance for ``channel="all"``), else None.
    """

    freq_cy_per_px: np.ndarray
    mtf: np.ndarray
    esf_position_px: np.ndarray
    esf: np.ndarray
    lsf: np.ndarray
    angle_deg: float
    tilt_deg: float
    direction: str
    edge_poly: tuple[float, ...]
    npol: int
    edge_fit_rms_px: float
    center_xy_px: tuple[float, float]
    normal_xy: tuple[float, float]
    sampling_efficiency: float
    mtf50_cy_per_px: float
    mtf50p_cy_per_px: float
    mtf10_cy_per_px: float
    mtf_at_nyquist_half: float
    mtf_at_nyquist: float
    mtf50_ci95_cy_per_px: tuple[float, float] | None
    roi: tuple[int, int, int, int]
    channel: str
    light_level: float
    dark_level: float
    contrast: float
    edge_snr: float
    lines_used: int
    clipped_fraction_high: float
    clipped_fraction_low: float
    window: str
    oversample: int
    per_channel: dict[str, SFRResult] | None = field(default=None)

    @property
    def clipped(self) -> bool:
        """True when any ROI pixel sits at the white level or at zero."""
        return self.clipped_fraction_high > 0 or self.clipped_fraction_low > 0

    def mtf_at(self, freq_cy_per_px) -> np.ndarray | float:
        """SFR at the given frequencies [cy/px] (linear interpolation; NaN beyond 1 cy/px)."""
        f = np.asarray(freq_cy_per_px, dtype=np.float64)
        out = np.interp(f, self.freq_cy_per_px, self.mtf, right=np.nan)
        return float(out) if out.ndim == 0 else out

    def to_dict(self, *, curves: bool = True) -> dict[str, Any]:
        """JSON-safe dict (NaN → None). ``curves=False`` leaves out the ESF/LSF arrays."""
        d: dict[str, Any] = {
            "mtf50": _num(self.mtf50_cy_per_px),
            "mtf50_cy_per_px": _num(self.mtf50_cy_per_px),
            "mtf50p_cy_per_px": _num(self.mtf50p_cy_per_px),
            "mtf10_cy_per_px": _num(self.mtf10_cy_per_px),
            "mtf_at_nyquist_half": _num(self.mtf_at_nyquist_half),
            "mtf_at_nyquist": _num(self.mtf_at_nyquist),
            "mtf50_ci95_cy_per_px": None if self.mtf50_ci95_cy_per_px is None
            else [_num(v) for v in self.mtf50_ci95_cy_per_px],
            "sampling_efficiency": _num(self.sampling_efficiency),
            "angle_deg": _num(self.angle_deg),
            "tilt_deg": _num(self.tilt_deg),
            "direction": self.direction,
            "roi": [int(v) for v in self.roi],
            "channel": self.channel,
            "center_xy_px": [float(v) for v in self.center_xy_px],
            "normal_xy": [float(v) for v in self.normal_xy],
            "edge_poly": [float(v) for v in self.edge_poly],
            "npol": int(self.npol),
            "edge_fit_rms_px": _num(self.edge_fit_rms_px),
            "light_level": _num(self.light_level),
            "dark_level": _num(self.dark_level),
            "contrast": _num(self.contrast),
            "edge_snr": _num(self.edge_snr),
            "lines_used": int(self.lines_used),
            "clipped_fraction_high": float(self.clipped_fraction_high),
            "clipped_fraction_low": float(self.clipped_fraction_low),
            "window": self.window,
            "oversample": int(self.oversample),
            "freq": [float(v) for v in self.freq_cy_per_px],
            "mtf": [float(v) for v in self.mtf],
        }
        if curves:
            d["esf_position_px"] = [float(v) for v in self.esf_position_px]
            d["esf"] = [float(v) for v in self.esf]
            d["lsf"] = [float(v) for v in self.lsf]
        if self.per_channel is not None:
            d["per_channel"] = {k: v.to_dict(curves=curves) for k, v in self.per_channel.items()}
        return d


# ----------------------------------------------------------------------------- analytic edges
def _g2(u: np.ndarray) -> np.ndarray:
    """Second antiderivative of the normal CDF: G2'' = Φ, G2(−∞) = 0."""
    return 0.5 * ((u * u + 1.0) * special.ndtr(u) + u * np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi))


def _g1(u: np.ndarray) -> np.ndarray:
    """First antiderivative of the normal CDF."""
    return u * special.ndtr(u) + np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)


def analytic_edge(
    shape: tuple[int, int],
    angle_deg: float,
    sigma_px: float,
    *,
    center_xy: tuple[float, float] | None = None,
    dark: float = 0.0,
    light: float = 1.0,
) -> np.ndarray:
    """Exact image of a Gaussian-blurred straight edge sampled by 100 %-fill square pixels.

    The scene is ``dark + (light − dark) · Φ(t / σ)`` with ``t = (x − x₀) cos θ + (y − y₀) sin θ``
    the signed distance from the edge line (x to the right, y down, θ the tilt of the edge
    from the vertical; the light side is at +t). Each pixel ``(row r, col c)`` integrates it
    over ``[c − ½, c + ½] × [r − ½, r + ½]`` in closed form,
    ``∫∫ Φ(a x + b y − d) dx dy = Δ²G2 / (a b)`` with ``G2(u) = ((u² + 1) Φ(u) + u φ(u)) / 2``.

    Its MTF along the edge normal is :func:`analytic_edge_mtf`.

    Args:
        shape: ``(rows, cols)``.
        angle_deg: tilt of the edge from the vertical [deg], in (−45, 45).
        sigma_px: Gaussian blur σ [px] (> 0).
        center_xy: a point on the edge [px]; default the image centre.
        dark, light: levels on the two sides.
    """
    rows, cols = int(shape[0]), int(shape[1])
    if sigma_px <= 0:
        raise InputError("sigma_px must be > 0")
    th = math.radians(angle_deg)
    c, s = math.cos(th), math.sin(th)
    x0, y0 = center_xy if center_xy is not None else ((cols - 1) / 2, (rows - 1) / 2)
    a, b = c / sigma_px, s / sigma_px
    x = np.arange(cols, dtype=np.float64)[None, :] - x0
    y = np.arange(rows, dtype=np.float64)[:, None] - y0
    if abs(b) < 1e-9:
        cover = (_g1(a * (x + 0.5) + b * y) - _g1(a * (x - 0.5) + b * y)) / a
    else:
        def u(dx, dy):
            return a * (x + dx) + b * (y + dy)

        cover = (_g2(u(0.5, 0.5)) - _g2(u(0.5, -0.5)) - _g2(u(-0.5, 0.5)) + _g2(u(-0.5, -0.5))) / (a * b)
    return dark + (light - dark) * np.clip(cover, 0.0, 1.0)


def analytic_edge_mtf(freq_cy_per_px, angle_deg: float, sigma_px: float) -> np.ndarray:
    """MTF along the normal of :func:`analytic_edge`: ``exp(−2π²σ²f²) |sinc(f cos θ) sinc(f sin θ)|``.

    The square pixel aperture, projected on the edge normal, is the convolution of two
    boxes of widths ``|cos θ|`` and ``|sin θ|``; the Gaussian blur is isotropic.
    """
    f = np.asarray(freq_cy_per_px, dtype=np.float64)
    th = math.radians(angle_deg)
    return np.exp(-2 * (math.pi * sigma_px * f) ** 2) * np.abs(np.sinc(f * math.cos(th)) * np.sinc(f * math.sin(th)))


def analytic_mtf50(angle_deg: float, sigma_px: float, level: float = 0.5) -> float:
    """Frequency [cy/px] where :func:`analytic_edge_mtf` first falls to ``level`` (root-finding)."""
    from scipy.optimize import brentq

    f = np.linspace(0, 2, 4001)
    m = analytic_edge_mtf(f, angle_deg, sigma_px) - level
    i = int(np.argmax(m < 0))
    return float(brentq(lambda v: float(analytic_edge_mtf(v, angle_deg, sigma_px)) - level, f[i - 1], f[i],
                        xtol=1e-14, rtol=1e-14))


# ----------------------------------------------------------------------------- helpers
def _parse_roi(roi, height: int, width: int) -> tuple[int, int, int, int]:
    if roi is None:
        return (0, 0, width, height)
    try:
        x, y, w, h = (int(round(float(v))) for v in roi)
    except (TypeError, ValueError):
        raise InputError(f"roi must be (x, y, width, height) in pixels, got {roi!r}") from None
    if w <= 0 or h <= 0:
        raise InputError(f"roi width and height must be positive, got {w}x{h}")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise InputError(f"roi ({x}, {y}, {w}, {h}) lies outside the {width}x{height} image")
    return (x, y, w, h)


def _apply_oecf(a: np.ndarray, oecf) -> np.ndarray:
    if oecf is None:
        return a
    if callable(oecf):
        out = np.asarray(oecf(a), dtype=np.float64)
        if out.shape != a.shape:
            raise InputError(f"oecf callable changed the data shape {a.shape} → {out.shape}")
    else:
        lut = np.asarray(oecf, dtype=np.float64).ravel()
        if lut.size < 2 or not np.isfinite(lut).all():
            raise InputError("oecf lookup table must hold at least 2 finite values (linear value per DN)")
        out = np.interp(a, np.arange(lut.size, dtype=np.float64), lut)
    if not np.isfinite(out).all():
        raise InputError("oecf produced non-finite values")
    return out


def _hann_centroids(d: np.ndarray, xpos: np.ndarray, centers: np.ndarray, half_width: float) -> np.ndarray:
    """Per-line centroid of ``d`` (lines × samples) in a Hann window centred on ``centers``."""
    t = (xpos[None, :] - centers[:, None]) / half_width
    w = np.where(np.abs(t) < 1, 0.5 * (1 + np.cos(np.pi * t)), 0.0)
    dw = d * w
    den = dw.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (dw * xpos[None, :]).sum(axis=1) / den


def _robust_polyfit(y: np.ndarray, x: np.ndarray, order: int, y_mid: float, floor_px: float = 0.25):
    """Polynomial fit x(y) with one round of outlier rejection; returns (coeffs low→high in y−y_mid, keep, rms)."""
    ok = np.isfinite(x)
    yc = y - y_mid
    if ok.sum() < order + 2:
        raise MeasurementError("too few lines with a detectable edge to fit the edge")
    c = np.polynomial.polynomial.polyfit(yc[ok], x[ok], order)
    res = x - np.polynomial.polynomial.polyval(yc, c)
    mad = np.median(np.abs(res[ok]))
    keep = ok & (np.abs(res) <= max(5 * 1.4826 * mad, floor_px))
    if keep.sum() >= max(order + 2, 0.5 * ok.sum()):
        c = np.polynomial.polynomial.polyfit(yc[keep], x[keep], order)
    else:
        keep = ok
    res = x - np.polynomial.polynomial.polyval(yc, c)
    rms = float(np.sqrt(np.mean(res[keep] ** 2)))
    return c, keep, rms


def _shift_poly(c_mid: np.ndarray, y_mid: float) -> np.ndarray:
    """Coefficients in (y − y_mid) → coefficients in y (both lowest order first)."""
    p = np.polynomial.Polynomial(c_mid)
    q = p(np.polynomial.Polynomial([-y_mid, 1.0]))
    out = np.zeros(len(c_mid))
    out[: len(q.coef)] = q.coef
    return out


@dataclass
class _Grid:
    """A regular sub-grid of the (working-frame) ROI: ``values[j, i]`` sits at
    ``x = x0 + step·i``, ``y = y0 + step·j``."""

    values: np.ndarray
    x0: int
    y0: int
    step: int


@dataclass
class _EdgeFit:
    coef: np.ndarray  # polynomial x(y) in (y − y_mid), lowest order first
    line_coef: np.ndarray  # straight line fit (same variable)
    y_mid: float
    slope: float
    rms_px: float
    width_px: float  # 10–90 % rise distance estimate
    sign: float  # +1 when light is at +x
    npol: int
    dark: float = 0.0  # plateau levels from the quick ESF
    light: float = 0.0

    def x_at(self, y: np.ndarray) -> np.ndarray:
        return np.polynomial.polynomial.polyval(y - self.y_mid, self.coef)


def _noise_sigma(a: np.ndarray) -> float:
    """Robust pixel-noise σ from differences along the lines' direction (columns of a near-vertical edge)."""
    if a.shape[0] < 2:
        return 0.0
    d = np.diff(a, axis=0).ravel()
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def _quick_width(grids: Sequence[_Grid], fit_x, sign: float) -> tuple[float, float, float]:
    """10–90 % rise distance [px] and (dark, light) plateaus from a ½-px binned ESF along x − fit(y)."""
    xs, vs = [], []
    for g in grids:
        ny, nx = g.values.shape
        x = g.x0 + g.step * np.arange(nx)
        y = g.y0 + g.step * np.arange(ny)
        xs.append((x[None, :] - fit_x(y)[:, None]).ravel())
        vs.append(g.values.ravel())
    dx = np.concatenate(xs)
    v = np.concatenate(vs)
    k = np.floor(dx * 2).astype(np.int64)
    kmin = int(k.min())
    cnt = np.bincount(k - kmin)
    tot = np.bincount(k - kmin, v)
    ok = cnt > 0
    esf = sign * tot[ok] / cnt[ok]
    pos = (np.nonzero(ok)[0] + kmin + 0.5) / 2
    q = max(1, len(esf) // 6)
    lo, hi = float(np.median(esf[:q])), float(np.median(esf[-q:]))
    if not hi > lo:
        return float("inf"), sign * lo, sign * hi
    e = (esf - lo) / (hi - lo)
    if len(e) >= 3:
        e = np.convolve(np.pad(e, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    centre = int(np.argmin(np.abs(pos)))
    i10 = centre
    while i10 > 0 and e[i10] > 0.1:
        i10 -= 1
    i90 = centre
    while i90 < len(e) - 1 and e[i90] < 0.9:
        i90 += 1
    dark, light = (lo, hi) if sign > 0 else (-hi, -lo)
    return float(pos[i90] - pos[i10]), dark, light


def _grid_lines(g: _Grid) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = g.values.shape
    return g.y0 + g.step * np.arange(ny), g.x0 + g.step * np.arange(nx)


def _polarity(grids: Sequence[_Grid]) -> float:
    left = right = 0.0
    for g in grids:
        k = max(1, g.values.shape[1] // 10)
        left += float(g.values[:, :k].mean())
        right += float(g.values[:, -k:].mean())
    return 1.0 if right >= left else -1.0


def _matched_locations(grids: Sequence[_Grid], fit_x, half_width: float, bin_px: float) -> np.ndarray:
    """Edge position of every line by least-squares matching to the ESF template (one Gauss–Newton step).

    The template ``E(t)`` is the binned ESF of all lines about the current fit. A line whose
    edge sits ``δ`` further along x reads ``E(t − δ) ≈ E(t) − δ E'(t)``, so
    ``δ = −Σ (v − E) E' / Σ E'²`` over ``|t| ≤ half_width``. The variance of ``δ`` is
    ``σ² / Σ E'²`` — the Cramér–Rao bound for a known profile, far below that of a centroid.
    """
    ts, vs = [], []
    for g in grids:
        yl, xl = _grid_lines(g)
        ts.append(xl[None, :] - fit_x(yl)[:, None])
        vs.append(g.values)
    t_all = np.concatenate([t.ravel() for t in ts])
    v_all = np.concatenate([v.ravel() for v in vs])
    k = np.floor(t_all / bin_px + 0.5).astype(np.int64)
    kmin = int(k.min())
    cnt = np.bincount(k - kmin)
    with np.errstate(invalid="ignore", divide="ignore"):
        esf = np.bincount(k - kmin, v_all) / cnt
    esf = _fill_empty(esf, cnt)
    pos = (np.arange(len(esf)) + kmin) * bin_px
    desf = np.gradient(esf, bin_px)
    out = []
    for g, t, v in zip(grids, ts, vs):
        yl, _ = _grid_lines(g)
        m = np.interp(t, pos, esf)
        dm = np.interp(t, pos, desf) * (np.abs(t) <= half_width)
        den = (dm * dm).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = -((v - m) * dm).sum(axis=1) / den
        delta = np.where(np.isfinite(delta) & (np.abs(delta) < half_width), delta, np.nan)
        out.append(fit_x(yl) + delta)
    return np.concatenate(out)


def _locate_edge(grids: Sequence[_Grid], npol: int, y_mid: float, x_extent: float, refine: bool = True) -> _EdgeFit:
    """Edge location per line (windowed centroid of the first difference, then optionally
    matched to the ESF template) and polynomial fit."""
    from scipy.ndimage import uniform_filter1d

    sign = _polarity(grids)
    # pass 1: peak of the smoothed derivative on each line, robust straight line
    ys, xs, ds, dpos = [], [], [], []
    for g in grids:
        yl, xl = _grid_lines(g)
        d = sign * np.diff(g.values, axis=1)
        xp = xl[:-1] + g.step / 2  # a 2-tap difference sits half-way between its samples
        sm = uniform_filter1d(uniform_filter1d(d, 3, axis=1, mode="nearest"), 3, axis=0, mode="nearest")
        ys.append(yl)
        xs.append(xp[np.argmax(sm, axis=1)])
        ds.append(d)
        dpos.append(xp)
    y_all = np.concatenate(ys)
    c1, _, _ = _robust_polyfit(y_all, np.concatenate(xs), 1, y_mid, floor_px=1.0)

    def fit_of(c):
        return lambda y: np.polynomial.polynomial.polyval(np.asarray(y, dtype=np.float64) - y_mid, c)

    width, _, _ = _quick_width(grids, fit_of(c1), sign)
    step = grids[0].step
    half_width = float(np.clip(4.0 * width + 2.0 * step, 4.0 * step, max(4.0 * step, x_extent / 2)))
    if not math.isfinite(half_width):
        half_width = max(4.0 * step, x_extent / 2)

    # passes 2 and 3: windowed centroids around the current fit, polynomial of order npol
    c = c1
    for _ in range(1 if refine else 2):
        locs = [_hann_centroids(d, xp, fit_of(c)(yl), half_width) for d, xp, yl in zip(ds, dpos, ys)]
        x_all = np.concatenate(locs)
        c, keep, rms = _robust_polyfit(y_all, x_all, npol, y_mid)
    if refine:
        for _ in range(2):
            x_all = _matched_locations(grids, fit_of(c), half_width, step / 4.0)
            c, keep, rms = _robust_polyfit(y_all, x_all, npol, y_mid)
    cl, _, _ = _robust_polyfit(y_all[keep], x_all[keep], 1, y_mid)
    width, dark, light = _quick_width(grids, fit_of(c), sign)
    return _EdgeFit(coef=c, line_coef=cl, y_mid=y_mid, slope=float(cl[1]), rms_px=rms, width_px=width,
                    sign=sign, npol=npol, dark=dark, light=light)


def _window(n: int, centre: float, kind: str, alpha: float, half: float | None = None) -> np.ndarray:
    """LSF window centred on bin ``centre``; ``half`` = half-length in bins (default: reach every bin)."""
    k = np.arange(n, dtype=np.float64)
    if half is None:
        half = max(centre, n - 1 - centre) + 1.0
    t = np.abs(k - centre) / half
    if kind == "none":
        return (t <= 1).astype(np.float64) if half is not None else np.ones(n)
    if kind == "hamming":
        return np.where(t <= 1, 0.54 + 0.46 * np.cos(np.pi * np.minimum(t, 1)), 0.0)
    flat = 1.0 - alpha
    w = np.where(t <= 1, 1.0, 0.0)
    taper = (t > flat) & (t <= 1)
    w[taper] = 0.5 * (1 + np.cos(np.pi * (t[taper] - flat) / max(alpha, 1e-12)))
    return w


def _fill_empty(esf: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """Linear interpolation over empty bins (last axis); ``esf`` already divided where cnt > 0."""
    empty = cnt == 0
    if not empty.any():
        return esf
    out = esf.copy()
    k = np.arange(esf.shape[-1])
    if esf.ndim == 1:
        out[empty] = np.interp(k[empty], k[~empty], esf[~empty])
        return out
    for i in np.nonzero(empty.any(axis=1))[0]:
        e = empty[i]
        out[i, e] = np.interp(k[e], k[~e], esf[i, ~e])
    return out


def _smooth_tails(esf: np.ndarray, centre: float, start_bins: float, max_half_bins: int) -> np.ndarray:
    """Box-smooth the ESF (last axis) away from the edge; the box half-width grows from 0 at
    ``start_bins`` from ``centre`` by one bin per two bins of distance, up to ``max_half_bins``.

    Far from the edge the ESF is a slowly varying plateau, so the smoothing removes noise
    that a long LSF window would otherwise pass into the MTF while leaving the transition
    untouched (the idea of MTF Mapper's tail smoother, van den Bergh 2019).
    """
    n = esf.shape[-1]
    k = np.arange(n)
    d = np.abs(k - centre) - start_bins
    h = np.clip(np.floor(d / 2.0), 0, max_half_bins).astype(np.int64)
    h = np.minimum(h, np.minimum(k, n - 1 - k))  # stay inside the array (symmetric box)
    if not h.any():
        return esf
    cs = np.concatenate([np.zeros(esf.shape[:-1] + (1,)), np.cumsum(esf, axis=-1)], axis=-1)
    return (cs[..., k + h + 1] - cs[..., k - h]) / (2 * h + 1)


def _lsf(esf: np.ndarray) -> np.ndarray:
    """ISO 12233 centred difference ``[-½, 0, ½]`` along the last axis (per bin)."""
    d = np.empty_like(esf)
    d[..., 1:-1] = 0.5 * (esf[..., 2:] - esf[..., :-2])
    d[..., 0] = d[..., 1]
    d[..., -1] = d[..., -2]
    return d


def _mtf(lsf_w: np.ndarray, n: int) -> np.ndarray:
    """|DFT| of the windowed LSF, normalised at DC and corrected for derivative and binning."""
    F = np.abs(np.fft.rfft(lsf_w, n=n, axis=-1))
    j = np.arange(F.shape[-1]) / n
    corr = np.maximum(np.sinc(2 * j) * np.sinc(j), 0.1)  # correction limited to 10×, as sfrmat
    with np.errstate(invalid="ignore", divide="ignore"):
        return F / F[..., :1] / corr


def _crossing(f: np.ndarray, m: np.ndarray, level, start=None) -> np.ndarray:
    """First frequency where ``m`` (…, n) drops below ``level`` (after index ``start``); NaN if never."""
    m2 = np.atleast_2d(m)
    level = np.broadcast_to(np.asarray(level, dtype=np.float64), m2.shape[:1])
    idx = np.arange(m2.shape[1])[None, :]
    st = np.zeros(m2.shape[0], dtype=np.int64) if start is None else np.broadcast_to(np.asarray(start), m2.shape[:1])
    below = (m2 < level[:, None]) & (idx > st[:, None])
    i = np.argmax(below, axis=1)
    ok = below.any(axis=1) & (i > 0)
    i = np.where(ok, i, 1)
    r = np.arange(m2.shape[0])
    m0, m1 = m2[r, i - 1], m2[r, i]
    with np.errstate(invalid="ignore", divide="ignore"):
        fx = f[i - 1] + (m0 - level) / (m0 - m1) * (f[i] - f[i - 1])
    out = np.where(ok, fx, np.nan)
    return out if m.ndim > 1 else out[0]


@dataclass
class _Opts:
    npol: int
    window: str
    window_alpha: float
    oversample: int
    bootstrap: int
    seed: int
    window_px: float | str = "auto"
    refine: bool = True
    smooth_tails: bool = True


def _bootstrap_mtf50(S, C, esf, win, centre, sign, n_out, freq, opts: _Opts, tails) -> tuple[float, float] | None:
    """95 % interval of MTF50 from ``opts.bootstrap`` resamples of the lines (rows of ``S``/``C``).

    Each resample draws the lines with replacement; its ESF is the count-weighted mean of
    the drawn lines' bins (empty bins take the full-data ESF). Only the bins the window
    reaches (plus the smoothing margin) are processed.
    """
    n_boot, n_lines = opts.bootstrap, S.shape[0]
    support = np.nonzero(win > 0)[0]
    margin = (tails[1] if tails else 0) + 2
    lo = max(0, int(support[0]) - margin)
    hi = min(S.shape[1], int(support[-1]) + margin + 1)
    rng = np.random.default_rng(opts.seed)
    draws = rng.integers(0, n_lines, size=(n_boot, n_lines))
    Wt = np.bincount((np.arange(n_boot)[:, None] * n_lines + draws).ravel(),
                     minlength=n_boot * n_lines).reshape(n_boot, n_lines).astype(np.float64)
    Sb, Cb = Wt @ S[:, lo:hi], Wt @ C[:, lo:hi]
    with np.errstate(invalid="ignore", divide="ignore"):
        eb = np.where(Cb > 0, Sb / Cb, esf[None, lo:hi])
    if tails:
        eb = _smooth_tails(eb, centre - lo, tails[0], tails[1])
    wb = np.zeros(hi - lo)
    wb[:] = win[lo:hi]
    n_fft = max(256, 2 * _next_pow2(hi - lo))  # ≥ 2× zero padding; the interval needs no finer grid
    fb = np.arange(n_fft // 2 + 1) * (freq[1] * n_out / n_fft)  # same bin width, coarser zero padding
    keep = fb <= freq[-1] + 1e-12
    F = _mtf(_lsf(eb * sign) * wb, n_fft)[:, keep]
    m50 = _crossing(fb[keep], F, 0.5)
    m50 = m50[np.isfinite(m50)]
    if m50.size < max(10, n_boot // 2):
        return None
    return (float(np.percentile(m50, 2.5)), float(np.percentile(m50, 97.5)))


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def _measure_channel(
    grids: Sequence[_Grid],
    fit: _EdgeFit,
    lines: tuple[int, int],
    opts: _Opts,
    noise_sigma: float,
) -> dict[str, Any]:
    """ESF → LSF → MTF and summary values for one plane, with the given edge fit."""
    step = grids[0].step
    bin_px = step / opts.oversample
    y_lo, y_hi = lines
    dxs, vs, ls = [], [], []
    for g in grids:
        yl, xl = _grid_lines(g)
        sel = (yl >= y_lo) & (yl < y_hi)
        yl = yl[sel]
        vals = g.values[sel]
        dxs.append((xl[None, :] - fit.x_at(yl)[:, None]).ravel())
        vs.append(vals.ravel())
        ls.append(np.repeat(yl - y_lo, len(xl)))
    dx = np.concatenate(dxs)
    v = np.concatenate(vs)
    line = np.concatenate(ls).astype(np.int64)
    k = np.floor(dx / bin_px + 0.5).astype(np.int64)
    kmin = int(k.min())
    nb = int(k.max()) - kmin + 1
    n_lines = y_hi - y_lo
    flat = line * nb + (k - kmin)
    S = np.bincount(flat, v, minlength=n_lines * nb).reshape(n_lines, nb)
    C = np.bincount(flat, minlength=n_lines * nb).reshape(n_lines, nb).astype(np.float64)
    cnt = C.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        esf = S.sum(axis=0) / cnt
    pos = (np.arange(nb) + kmin) * bin_px  # along x; × cos θ below
    core = np.abs(pos) <= max(3.0 * fit.width_px if math.isfinite(fit.width_px) else 0.0, 2.0 * step)
    empty_core = float(np.mean(cnt[core] == 0)) if core.any() else 1.0
    if empty_core > MAX_EMPTY_BIN_FRACTION:
        raise MeasurementError(
            f"the edge angle ({math.degrees(math.atan(fit.slope)):.2f}° from the pixel axis) leaves "
            f"{empty_core:.0%} of the oversampled bins near the edge empty: angles near 0°, 18.4°, 26.6° and 45° "
            "sample too few sub-pixel phases; tilt the edge (about 5° is ideal) or use more lines"
        )
    esf = _fill_empty(esf, cnt)
    cos_t = 1.0 / math.sqrt(1.0 + fit.slope**2)
    dn = bin_px * cos_t  # bin width along the edge normal [px]
    centre = float(-kmin)  # bin of the fitted edge
    data_half = max(centre, nb - 1 - centre) + 1.0
    if opts.window_px == "roi":
        half = data_half
    elif opts.window_px == "auto":
        w_px = fit.width_px if math.isfinite(fit.width_px) else 0.0
        half = min(data_half, max(AUTO_WINDOW_MIN_PX * step, AUTO_WINDOW_WIDTHS * w_px) / dn)
    else:
        half = min(data_half, float(opts.window_px) / dn)
    win = _window(nb, centre, opts.window, opts.window_alpha, half)
    start = tail_half = 0
    if opts.smooth_tails and math.isfinite(fit.width_px):
        start = max(TAIL_START_WIDTHS * fit.width_px, 2.0 * step) / bin_px
        tail_half = int(round(max(TAIL_MAX_HALF_PX * step, TAIL_MAX_HALF_WIDTHS * fit.width_px) / bin_px))
        esf_s = _smooth_tails(esf, centre, start, tail_half)
    else:
        esf_s = esf
    lsf = _lsf(esf_s * fit.sign)
    n_out = 2 * _next_pow2(nb)
    n_fine = 8 * n_out
    j_max = min(int(math.floor(1.0 * n_out * dn)), n_out // 2)  # up to 1 cy/px (or the bins' Nyquist)
    freq = np.arange(j_max + 1) / (n_out * dn)
    mtf = _mtf(lsf * win, n_out)[: j_max + 1]
    jf = min(int(math.floor(1.0 * n_fine * dn)), n_fine // 2)
    ff = np.arange(jf + 1) / (n_fine * dn)
    mf = _mtf(lsf * win, n_fine)[: jf + 1]
    mtf50 = float(_crossing(ff, mf, 0.5))
    mtf10 = float(_crossing(ff, mf, 0.1))
    band = ff <= NYQUIST_CY_PER_PX + 1e-12
    ip = int(np.argmax(np.where(band, mf, -np.inf)))
    mtf50p = float(_crossing(ff, mf, 0.5 * mf[ip], start=ip))
    at = np.interp([0.25, 0.5], ff, mf)
    se = 1.0 if not math.isfinite(mtf10) else min(mtf10, NYQUIST_CY_PER_PX) / NYQUIST_CY_PER_PX

    ci = None
    if opts.bootstrap and opts.bootstrap > 1 and n_lines >= 4:
        ci = _bootstrap_mtf50(S, C, esf, win, centre, fit.sign, n_out, freq, opts,
                              (start, tail_half) if (opts.smooth_tails and math.isfinite(fit.width_px)) else None)

    q = max(1, nb // 8)
    lo, hi = float(np.median(esf[:q])), float(np.median(esf[-q:]))
    dark, light = (lo, hi) if fit.sign > 0 else (hi, lo)
    step_v = abs(light - dark)
    contrast = step_v / (light + dark) if (light + dark) > 0 else float("nan")
    snr = step_v / noise_sigma if noise_sigma > 0 else float("inf")
    pos_n, lsf_n = pos * cos_t, lsf / dn
    if fit.sign < 0:  # present the ESF from the dark to the light side
        pos_n, esf, lsf_n = -pos_n[::-1], esf[::-1], lsf_n[::-1]
    return {
        "freq": freq, "mtf": mtf, "pos": pos_n, "esf": esf, "lsf": lsf_n,
        "mtf50": mtf50, "mtf50p": mtf50p, "mtf10": mtf10, "nyq2": float(at[0]), "nyq": float(at[1]),
        "se": se, "ci": ci, "light": light, "dark": dark, "contrast": contrast, "snr": snr,
    }


def _channel_key(channel) -> str | int:
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        return int(channel)
    if not isinstance(channel, str):
        raise InputError(f"channel must be one of {', '.join(_CHANNELS)} or a channel index, got {channel!r}")
    key = channel.strip().lower()
    key = {"lum": "luminance", "y": "luminance", "l": "luminance", "red": "r", "green": "g", "blue": "b"}.get(key, key)
    if key not in _CHANNELS:
        raise InputError(f"unknown channel {channel!r}; use one of {', '.join(_CHANNELS)} or a channel index")
    return key


def _check_opts(npol, window, window_alpha, oversample, bootstrap) -> _Opts:
    if isinstance(npol, bool) or not isinstance(npol, (int, np.integer)) or not 1 <= npol <= 5:
        raise InputError(f"npol (edge-fit polynomial order) must be an integer from 1 to 5, got {npol!r}")
    if window not in ("tukey", "hamming", "none"):
        raise InputError(f"window must be 'tukey', 'hamming' or 'none', got {window!r}")
    if not 0.0 < float(window_alpha) <= 1.0:
        raise InputError(f"window_alpha (Tukey taper fraction) must be in (0, 1], got {window_alpha!r}")
    if isinstance(oversample, bool) or not isinstance(oversample, (int, np.integer)) or not 1 <= oversample <= 16:
        raise InputError(f"oversample must be an integer from 1 to 16 (ISO uses 4), got {oversample!r}")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise InputError(f"bootstrap must be a non-negative integer (0 = off), got {bootstrap!r}")
    return _Opts(int(npol), window, float(window_alpha), int(oversample), int(bootstrap), 0)


def _bayer_grids(a: np.ndarray, cmap: np.ndarray, color: int) -> list[_Grid]:
    n = cmap.shape[0]
    out = []
    for i in range(n):
        for j in range(n):
            if cmap[i, j] == color and i < a.shape[0] and j < a.shape[1]:
                out.append(_Grid(a[i::n, j::n], j, i, n))
    return out


def sfr(
    image,
    roi: Sequence[int] | None = None,
    *,
    channel: str | int = "luminance",
    cfa: str | None = None,
    weights: Sequence[float] = LUMA_601,
    npol: int = 5,
    window: str = "tukey",
    window_alpha: float = 0.5,
    window_px: float | str = "auto",
    refine: bool = True,
    smooth_tails: bool = True,
    oversample: int = 4,
    oecf: Callable[[np.ndarray], np.ndarray] | Sequence[float] | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    white_level: float | None = None,
) -> SFRResult:
    """ISO 12233:2023 e-SFR of the slanted edge in ``roi`` (see the module docstring for the method).

    Args:
        image: numpy ``(H, W)`` / ``(H, W, C)``, torch ``[H, W]`` / ``[C, H, W]`` / ``[B, C, H, W]``,
            :class:`~camforge.types.Image` or :class:`~camforge.types.Raw` (first item of a batch).
        roi: ``(x, y, width, height)`` in image pixels; default the whole image. The edge
            must cross two opposite sides of the ROI.
        channel: ``"luminance"`` (weighted sum of RGB; a grey image as is; the CFA colours of
            a raw mosaic), ``"r"``, ``"g"``, ``"b"`` or a channel index, ``"all"`` (RGB:
            r, g, b and luminance in ``per_channel``), ``"cfa"`` (raw mosaic: each CFA colour
            on its own sub-grid, green on top).
        cfa: CFA pattern of a mosaic given as a plain array (a :class:`Raw` carries its own).
        weights: luminance weights for RGB (BT.601 by default, as sfrmat).
        npol: order of the edge-position polynomial, 1 (line, ISO 12233:2017) to 5 (default).
        window: LSF window: ``"tukey"`` (default), ``"hamming"`` (ISO 12233:2017) or ``"none"``.
        window_alpha: fraction of the Tukey window's half-length that tapers (0.5: flat
            over the central half; 1.0 reproduces sfrmat5's default).
        window_px: half-length of the LSF window along the edge normal: ``"auto"``
            (default: 10× the 10–90 % edge rise distance, at least 20 px, at most the ROI —
            the noise in the MTF grows with the window length), ``"roi"`` (reach the ends of
            the ROI, as ISO 12233 / sfrmat) or a number of pixels.
        smooth_tails: box-smooth the ESF more than two edge widths from the edge, with a box
            growing to ±2 px (default True; cuts the noise of the MTF about 2× at no
            measurable bias on smooth LSFs; False = the standard's plain ESF).
        refine: refine each line's edge position by least-squares matching to the ESF
            (default True; False keeps the standard's windowed centroids only).
        oversample: projection bins per pixel (per CFA tile on a mosaic); ISO uses 4.
        oecf: linearisation of the data before analysis — a callable ``f(DN) -> linear``
            or a lookup table (linear value per integer DN, interpolated). It receives the
            values as stored (a raw's black level included).
        bootstrap: number of bootstrap resamples of the ROI lines for the MTF50 95 % interval
            (0 = off).
        seed: random seed of the bootstrap.
        white_level: clip level of the data [DN]; default from the raw metadata or the
            integer dtype of the input.

    Returns:
        :class:`SFRResult` (per-colour results in ``per_channel`` for CFA / ``"all"``).

    Raises:
        InputError: bad arguments (ROI outside the image, unknown channel, NaN data, ...).
        MeasurementError: no measurable edge — uniform ROI, edge too weak for the noise,
            edge not straight or leaving the ROI, angle too close to 0° or 45° (or a
            rational slope that leaves sub-pixel phases unsampled), ROI too small, or
            more than 1 % of the pixels clipped.
    """
    opts = _check_opts(npol, window, window_alpha, oversample, bootstrap)
    opts.seed = int(seed)
    if isinstance(window_px, str):
        if window_px not in ("auto", "roi"):
            raise InputError(f"window_px must be 'auto', 'roi' or a half-length in pixels, got {window_px!r}")
    elif not (isinstance(window_px, (int, float)) and math.isfinite(window_px) and window_px > 0):
        raise InputError(f"window_px must be 'auto', 'roi' or a positive half-length in pixels, got {window_px!r}")
    opts.window_px = window_px
    opts.refine = bool(refine)
    opts.smooth_tails = bool(smooth_tails)
    inp: MeasurementInput = as_input(image)
    data = inp.data
    H, W = data.shape[:2]
    x0, y0, w, h = _parse_roi(roi, H, W)
    key = _channel_key(channel)

    cfa_name = cfa if cfa is not None else (inp.meta.cfa if inp.meta is not None else None)
    if cfa_name is not None:
        from camforge.cfa import cfa_tile, normalize_cfa

        cfa_name = normalize_cfa(cfa_name)
    mosaic = cfa_name is not None and cfa_name != "MONO"
    if mosaic and data.ndim != 2:
        raise InputError(f"a CFA mosaic must be a single 2-D plane, got shape {data.shape}")
    if key == "cfa" and not mosaic:
        raise InputError("channel='cfa' needs a raw mosaic: pass a camforge Raw or give cfa='RGGB' (or the pattern)")

    a = data[y0:y0 + h, x0:x0 + w]
    white = white_level if white_level is not None else inp.white_level
    clip_hi = float(np.mean(a >= white)) if white is not None else 0.0
    clip_lo = float(np.mean(a <= 0)) if white is not None else 0.0
    if clip_hi > MAX_CLIPPED_FRACTION or clip_lo > MAX_CLIPPED_FRACTION:
        side, frac = ("white level", clip_hi) if clip_hi >= clip_lo else ("zero", clip_lo)
        raise MeasurementError(
            f"the edge is clipped: {frac:.1%} of the ROI pixels sit at {side}"
            f"{f' ({white:g})' if side == 'white level' else ''}; an SFR of a clipped edge is wrong — "
            "lower the exposure (or raise the black level) and capture again"
        )
    a = _apply_oecf(a, oecf)

    # ---- analysis planes and the plane used to orient / locate the edge
    planes: dict[str, np.ndarray] = {}
    if mosaic:
        tile = cfa_tile(cfa_name)
        n = tile.shape[0]
        cmap = np.roll(np.roll(tile, -(y0 % n), axis=0), -(x0 % n), axis=1)
        guide = a
        names = {"luminance": ["g", "r", "b"], "cfa": ["g", "r", "b"], "all": ["g", "r", "b"],
                 "r": ["r"], "g": ["g"], "b": ["b"], 0: ["r"], 1: ["g"], 2: ["b"]}
        if key not in names:
            raise InputError(f"channel {channel!r} does not exist on a {cfa_name} mosaic (use r, g, b or cfa)")
        wanted = names[key]
    elif a.ndim == 3:
        nc = a.shape[2]
        idx = {"r": 0, "g": 1, "b": 2}
        if key == "luminance":
            planes["luminance"] = luminance(a, weights)
        elif key == "all":
            planes["luminance"] = luminance(a, weights)
            for nm in ("r", "g", "b")[:nc]:
                planes[nm] = a[..., idx[nm]]
        else:
            ci = idx.get(key, key) if isinstance(key, str) else key
            if not 0 <= ci < nc:
                raise InputError(f"channel {channel!r} does not exist in a {nc}-channel image")
            planes[key if isinstance(key, str) else str(key)] = a[..., ci]
        guide = next(iter(planes.values()))
        wanted = list(planes)
    else:
        if key not in ("luminance", "all", 0):
            raise InputError(f"channel {channel!r} does not exist in a single-plane (grey) image")
        planes["luminance"] = a
        guide = a
        wanted = ["luminance"]

    if min(h, w) < MIN_ACROSS_PX:
        raise MeasurementError(
            f"the ROI is too small: {w} x {h} px; need at least {MIN_ACROSS_PX} px each way (80 x 80 px or more "
            "recommended)"
        )
    if float(np.ptp(guide)) == 0.0:
        raise MeasurementError("the ROI is uniform (every pixel has the same value): there is no edge to measure")

    # ---- orientation: make the edge near-vertical (lines = rows cross it)
    k = max(1, min(guide.shape) // 10)
    dv = abs(float(guide[-k:, :].mean() - guide[:k, :].mean()))
    dh = abs(float(guide[:, -k:].mean() - guide[:, :k].mean()))
    horizontal = dv > dh
    if horizontal:
        guide = guide.T
        planes = {nm: p.T for nm, p in planes.items()}
        if mosaic:
            a = a.T
            cmap = cmap.T
    n_lines, n_across = guide.shape
    step = cmap.shape[0] if mosaic else 1
    if n_across < MIN_ACROSS_PX * step or n_lines < MIN_LINES * step:
        raise MeasurementError(
            f"the ROI is too small: {n_across} px across the edge and {n_lines} lines along it; "
            f"need at least {MIN_ACROSS_PX * step} x {MIN_LINES * step} (80 x 80 px or more recommended)"
        )
    if n_lines < 2 * (opts.npol + 1) * step:
        raise MeasurementError(f"the ROI has {n_lines} lines: too few for an order-{opts.npol} edge fit; "
                               "use a taller ROI or npol=1")

    y_mid = (n_lines - 1) / 2
    if mosaic:
        loc_grids = _bayer_grids(a, cmap, 1)
    else:
        loc_grids = [_Grid(guide, 0, 0, 1)]
    noise = float(np.median([_noise_sigma(g.values) for g in loc_grids]))
    fit = _locate_edge(loc_grids, opts.npol, y_mid, float(n_across), opts.refine)

    # ---- is there a usable edge?
    step_v = abs(fit.light - fit.dark)
    if noise > 0 and step_v < 3.0 * noise / math.sqrt(max(1, n_lines // 4)) + 1.0 * noise:
        raise MeasurementError(
            f"no edge found in the ROI: the step across it ({step_v:.3g}) is not above the pixel noise "
            f"({noise:.3g}); select a ROI that contains one dark/light edge"
        )
    if fit.rms_px > max(1.0, 0.1 * n_across):
        raise MeasurementError(
            f"no straight edge found in the ROI: per-line edge positions scatter by {fit.rms_px:.1f} px about the "
            "fit; select a ROI that contains one straight edge crossing it"
        )
    theta = math.degrees(math.atan(fit.slope))
    if abs(theta) > MAX_ANGLE_DEG:
        raise MeasurementError(
            f"the edge is at {abs(theta):.1f}° from the pixel axes, too close to 45° (every line samples the same "
            "sub-pixel phases there): slanted-edge SFR needs edges 1–44° from the axes (about 5° is ideal)"
        )
    period = float(step)
    n_cycles = math.floor(n_lines * abs(fit.slope) / period)
    if n_cycles < 1:
        if abs(fit.slope) < 1e-6:
            why = "the edge is parallel to the pixel axis (0°)"
        else:
            why = (f"the edge is at {abs(theta):.2f}° from the pixel axes: too close to 0° for {n_lines} lines (one "
                   f"sub-pixel phase cycle needs {period / abs(fit.slope):.0f} lines)")
        raise MeasurementError(f"{why}; tilt the edge (about 5° is ideal) or use a longer ROI")
    xs_fit = fit.x_at(np.arange(n_lines, dtype=np.float64))
    margin = 2.0 * step
    if xs_fit.min() < margin or xs_fit.max() > n_across - 1 - margin:
        raise MeasurementError(
            "the edge leaves the ROI (it must cross two opposite sides, away from the others): centre the ROI "
            f"on the edge (edge position spans {xs_fit.min():.1f}..{xs_fit.max():.1f} px of {n_across})"
        )
    # one edge, not a bar or a line: the two sides must differ by most of the ROI's range
    k_side = max(1, int(n_across // 8))
    g0 = loc_grids[0].values
    left_v, right_v = float(np.median(g0[:, :max(1, k_side // step)])), float(np.median(g0[:, -max(1, k_side // step):]))
    lo_p, hi_p = np.percentile(g0, [2, 98])
    if abs(right_v - left_v) < 0.5 * (hi_p - lo_p):
        raise MeasurementError(
            "the ROI holds more than one edge (a bar, a line or a corner): both sides of it have about the same "
            "level; select a ROI that contains a single dark/light edge"
        )
    used = int(round(n_cycles * period / abs(fit.slope)))
    used = min(max(used, 1), n_lines)
    first = (n_lines - used) // 2
    lines = (first, first + used)

    results: dict[str, SFRResult] = {}
    for nm in wanted:
        if mosaic:
            grids = _bayer_grids(a, cmap, {"r": 0, "g": 1, "b": 2}[nm])
            ch_fit = fit
        else:
            grids = [_Grid(planes[nm], 0, 0, 1)]
            ch_fit = fit if nm == wanted[0] else _locate_edge(grids, opts.npol, y_mid, float(n_across), opts.refine)
        m = _measure_channel(grids, ch_fit, lines, opts, noise)
        results[nm] = _assemble(m, ch_fit, opts, horizontal, (x0, y0, w, h), nm, n_lines, used, clip_hi, clip_lo)
    top = results[wanted[0]]
    if len(results) > 1:
        order = {"r": 0, "g": 1, "b": 2, "luminance": 3}
        top = _replace(top, per_channel=dict(sorted(results.items(), key=lambda kv: order.get(kv[0], 9))))
    return top


def _replace(r: SFRResult, **kw) -> SFRResult:
    import dataclasses

    return dataclasses.replace(r, **kw)


def _assemble(m, fit: _EdgeFit, opts: _Opts, horizontal: bool, roi, channel: str, n_lines: int, used: int,
              clip_hi: float, clip_lo: float) -> SFRResult:
    x0, y0, _, _ = roi
    s = fit.slope
    tilt_work = math.degrees(math.atan(s))
    y_mid = (n_lines - 1) / 2
    x_mid = float(fit.x_at(np.array([y_mid]))[0])
    nrm = np.array([1.0, -s]) / math.hypot(1.0, s) * fit.sign  # (along x, along lines), dark → light
    if horizontal:
        angle = 90.0 + tilt_work
        tilt = tilt_work
        center = (x0 + y_mid, y0 + x_mid)
        normal = (float(nrm[1]), float(nrm[0]))
    else:
        angle = -tilt_work
        tilt = -tilt_work
        center = (x0 + x_mid, y0 + y_mid)
        normal = (float(nrm[0]), float(nrm[1]))
    win = f"tukey:{opts.window_alpha:g}" if opts.window == "tukey" else opts.window
    return SFRResult(
        freq_cy_per_px=_frozen(m["freq"]), mtf=_frozen(m["mtf"]), esf_position_px=_frozen(m["pos"]),
        esf=_frozen(m["esf"]), lsf=_frozen(m["lsf"]), angle_deg=angle, tilt_deg=tilt,
        direction="horizontal" if horizontal else "vertical",
        edge_poly=tuple(float(v) for v in _shift_poly(fit.coef, y_mid)), npol=fit.npol,
        edge_fit_rms_px=fit.rms_px, center_xy_px=(float(center[0]), float(center[1])), normal_xy=normal,
        sampling_efficiency=m["se"], mtf50_cy_per_px=m["mtf50"], mtf50p_cy_per_px=m["mtf50p"],
        mtf10_cy_per_px=m["mtf10"], mtf_at_nyquist_half=m["nyq2"], mtf_at_nyquist=m["nyq"],
        mtf50_ci95_cy_per_px=m["ci"], roi=tuple(int(v) for v in roi), channel=channel,
        light_level=m["light"], dark_level=m["dark"], contrast=m["contrast"], edge_snr=m["snr"],
        lines_used=used, clipped_fraction_high=clip_hi, clipped_fraction_low=clip_lo, window=win,
        oversample=opts.oversample,
    )


__all__ = ["SFRResult", "sfr", "analytic_edge", "analytic_edge_mtf", "analytic_mtf50"]
