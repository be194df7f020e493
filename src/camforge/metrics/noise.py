"""Noise: patch statistics and SNR, temporal vs fixed-pattern noise, noise power spectrum.

* :func:`measure_noise` — mean, standard deviation and SNR (ratio and dB) of uniform
  patches, per colour channel (per CFA site on raw frames, black level subtracted). A
  low-order polynomial is removed inside each patch first (``detrend_order``), so slow
  shading does not count as noise (ISO 15739:2023 §6 recommends removing such
  non-uniformity); the variance is divided by n − (number of fitted terms), which keeps it
  unbiased for white noise.
* :func:`temporal_fixed_pattern` — separates temporal noise from fixed-pattern noise
  (FPN) with N ≥ 2 frames of the same scene, and splits the FPN into row, column and pixel
  parts, with the unbiased estimators of EMVA 1288 Release 4.0 §8 (stated in the function).
* :func:`noise_power_spectrum` — the 2-D and radially averaged noise power spectrum
  (NPS) of a uniform region, averaged over overlapping detrended blocks, normalised so
  that its integral over frequency (cycles/pixel) is the variance (IEC 62220-1-1:2015 §4.7
  style, in pixel units).

Inputs are numpy arrays, torch tensors, :class:`camforge.types.Image` or
:class:`camforge.types.Raw`; results are frozen dataclasses with ``to_dict()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._common import Planes, _check_roi_in, _plane_roi, _Result, detrend, image_planes, parse_roi

# ============================================================================ patch noise


@dataclass(frozen=True)
class PatchNoise(_Result):
    """Statistics of one patch in one channel.

    Attributes:
        roi: ``(x, y, w, h)`` [px, full frame].
        channel: plane name (``R``, ``Gr``, ``Gb``, ``B`` for Bayer raw; ``R``, ``G``, ``B`` or ``Y``).
        mean: mean signal (raw: black level subtracted) [input units, DN for raw].
        sigma: standard deviation after detrending [same units].
        snr: mean / sigma; snr_db: 20·log10(snr).
        n_pixels: samples used.
        clipped_fraction: fraction of samples at the white level (raw only, else 0).
    """

    roi: tuple[int, int, int, int]
    channel: str
    mean: float
    sigma: float
    snr: float
    snr_db: float
    n_pixels: int
    clipped_fraction: float


@dataclass(frozen=True)
class NoiseResult(_Result):
    """Noise of one or more uniform patches (one :class:`PatchNoise` per patch and channel)."""

    patches: tuple[PatchNoise, ...]
    channels: tuple[str, ...]
    detrend_order: int | None
    units: str

    def for_channel(self, channel: str) -> tuple[PatchNoise, ...]:
        return tuple(p for p in self.patches if p.channel == channel)


def _snr(mean: float, sigma: float) -> tuple[float, float]:
    if sigma <= 0:
        return math.inf, math.inf
    snr = mean / sigma
    return snr, (20 * math.log10(snr) if snr > 0 else -math.inf)


def patch_stats(values: np.ndarray, detrend_order: int | None = 1) -> tuple[float, float, int]:
    """(mean, unbiased σ after detrending, n) of a 2-D patch."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 2:
        raise MeasurementError(f"a noise patch needs at least 2 × 2 samples, got {v.shape}")
    res, k = detrend(v, detrend_order)
    n = v.size
    if n <= k + 1:
        raise MeasurementError(f"patch of {n} samples is too small for a detrend of order {detrend_order}")
    var = float(np.sum(res * res) / (n - k))
    return float(v.mean()), math.sqrt(var), n


def measure_noise(
    image,
    rois: Sequence | str | None = None,
    *,
    detrend_order: int | None = 1,
    min_samples: int = 64,
) -> NoiseResult:
    """Mean, σ and SNR of uniform patches, per channel.

    Args:
        image: raw frame (:class:`~camforge.types.Raw`, measured per CFA site with the
            black level subtracted, in DN) or an image (numpy / tensor / Image, per channel,
            in its own units).
        rois: one ``(x, y, w, h)`` or ``"x,y,w,h"``, a list of them, ``None`` (the whole
            frame) or ``"auto"`` (uniform square patches found by
            :func:`camforge.metrics.colorchecker.find_uniform_patches`).
        detrend_order: polynomial removed inside each patch (1 = plane; ``None`` = mean only).
        min_samples: smallest number of samples per patch and channel.

    Raises:
        MeasurementError: a patch is too small or (raw) more than half clipped.
    """
    planes = image_planes(image)
    H, W = planes.full_shape
    if isinstance(rois, str) and rois.strip().lower() == "auto":
        from camforge.metrics.colorchecker import find_uniform_patches

        found = find_uniform_patches(image)
        if not found:
            raise MeasurementError("no uniform patches found; pass rois=(x, y, w, h) boxes")
        roi_list = [p.roi for p in found]
    elif rois is None:
        roi_list = [(0, 0, W, H)]
    elif isinstance(rois, str) or (len(rois) == 4 and all(isinstance(v, (int, float, np.integer, np.floating)) for v in rois)):
        roi_list = [parse_roi(rois)]
    else:
        roi_list = [parse_roi(r) for r in rois]
    out = []
    for roi in roi_list:
        roi = _check_roi_in(roi, H, W)
        ys, xs = _plane_roi(planes, roi)
        for k, name in enumerate(planes.names):
            block = planes.data[k, ys, xs]
            if block.size < min_samples:
                raise MeasurementError(
                    f"ROI {roi} holds only {block.size} samples of channel {name} (need >= {min_samples}); use a bigger ROI"
                )
            clipped = 0.0
            if planes.white_level is not None:
                clipped = float(np.mean(block >= planes.white_level - 0.5 - (0 if not planes.is_raw else 0)))
                if clipped > 0.5:
                    raise MeasurementError(f"ROI {roi} is clipped in channel {name} ({100 * clipped:.0f} % at white); lower the exposure")
            mean, sigma, n = patch_stats(block, detrend_order)
            snr, snr_db = _snr(mean, sigma)
            out.append(PatchNoise(roi, name, mean, sigma, snr, snr_db, n, clipped))
    return NoiseResult(tuple(out), planes.names, detrend_order, "DN" if planes.is_raw else "input")


# ============================================================================ temporal vs FPN


@dataclass(frozen=True)
class ChannelFPN(_Result):
    """Temporal and fixed-pattern noise of one channel [input units, DN for raw].

    ``sigma_fpn`` is the total spatial (fixed-pattern) σ; ``sigma_fpn_row``,
    ``sigma_fpn_col`` and ``sigma_fpn_pixel`` split it (σ² add up to ``sigma_fpn``² up to
    estimation noise). A negative variance estimate (pure noise) is reported as 0.
    """

    channel: str
    mean: float
    sigma_temporal: float
    sigma_fpn: float
    sigma_fpn_row: float
    sigma_fpn_col: float
    sigma_fpn_pixel: float
    sigma_total: float
    n_frames: int
    n_pixels: int


@dataclass(frozen=True)
class TemporalFPNResult(_Result):
    """:func:`temporal_fixed_pattern` result, one :class:`ChannelFPN` per channel."""

    channels: tuple[ChannelFPN, ...]
    roi: tuple[int, int, int, int]
    detrend_order: int | None
    units: str

    def channel(self, name: str) -> ChannelFPN:
        for c in self.channels:
            if c.channel == name:
                return c
        raise InputError(f"no channel {name!r}; have {', '.join(c.channel for c in self.channels)}")


def _frames_planes(frames) -> tuple[list[Planes], str]:
    from camforge.types import Raw

    if isinstance(frames, Raw):
        frames = [frames[i] for i in range(frames.batch)]
    elif hasattr(frames, "detach") and frames.ndim == 4 and frames.shape[1] == 1:
        frames = [frames[i, 0] for i in range(frames.shape[0])]
    elif hasattr(frames, "detach") and frames.ndim == 3:
        frames = [frames[i] for i in range(frames.shape[0])]
    elif isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = [frames[i] for i in range(frames.shape[0])]
    if not isinstance(frames, (list, tuple)):
        raise InputError("frames must be a Raw batch, a [N, H, W] array or a list of frames")
    if len(frames) < 2:
        raise MeasurementError(f"temporal/fixed-pattern separation needs at least 2 frames, got {len(frames)}")
    planes = [image_planes(f) for f in frames]
    shapes = {(p.data.shape, p.names) for p in planes}
    if len(shapes) != 1:
        raise InputError("all frames must have the same size and channels")
    return planes, ("DN" if planes[0].is_raw else "input")


def temporal_fixed_pattern(frames, *, roi=None, detrend_order: int | None = None) -> TemporalFPNResult:
    """Separate temporal noise from fixed-pattern noise with N frames of the same scene.

    Estimators (per channel, P pixels, N frames, y_np the value of pixel p in frame n):

    * temporal variance: σ²_t = (1/P) Σ_p s²_p with s²_p = 1/(N−1) Σ_n (y_np − ȳ_p)² —
      unbiased for the mean per-pixel temporal variance;
    * the mean image ȳ_p still holds σ²_t / N of temporal noise, so the total FPN is
      σ²_FPN = s²(ȳ) − σ²_t / N with s²(ȳ) the spatial variance of the (detrended) mean
      image, divided by P − (fitted terms) (EMVA 1288 Release 4.0, §8.2);
    * row/column/pixel split (two-way analysis of variance of the H × W mean image, after
      EMVA 1288 R4.0 §8.3): with r_ij = ȳ_ij − ȳ_i· − ȳ_·j + ȳ_··,
      s²_pix = Σ r² / ((H−1)(W−1)), σ²_pixel = s²_pix − σ²_t / N,
      σ²_col = var(ȳ_·j) − s²_pix / H, σ²_row = var(ȳ_i·) − s²_pix / W (ddof = 1).

    The row/column split assumes temporal noise uncorrelated between pixels (temporal row
    noise shows up partly as row FPN / N). ``detrend_order`` removes a polynomial from the
    mean image before the FPN estimates (to exclude lens shading; ``None``: mean only).

    Args:
        frames: a :class:`~camforge.types.Raw` batch, ``[N, H, W]`` array/tensor, or a list
            of frames (Raw frames are split per CFA site, black level subtracted).
        roi: ``(x, y, w, h)`` on the full frame (default: everything).
    """
    planes, units = _frames_planes(frames)
    H, W = planes[0].full_shape
    roi = (0, 0, W, H) if roi is None else _check_roi_in(roi, H, W)
    ys, xs = _plane_roi(planes[0], roi)
    stack = np.stack([p.data[:, ys, xs] for p in planes])  # [N, C, h, w]
    N, C, h, w = stack.shape
    if h < 2 or w < 2:
        raise MeasurementError(f"ROI {roi} is too small (need at least 2 × 2 samples per channel)")
    out = []
    for k in range(C):
        y = stack[:, k]
        m = y.mean(axis=0)
        var_t = float(np.mean(y.var(axis=0, ddof=1)))
        res, nterms = detrend(m, detrend_order)
        P = m.size
        s2_mean = float(np.sum(res * res) / (P - nterms))
        var_fpn = s2_mean - var_t / N
        row_m = res.mean(axis=1)
        col_m = res.mean(axis=0)
        r = res - row_m[:, None] - col_m[None, :] + res.mean()
        s2_pix = float(np.sum(r * r) / ((h - 1) * (w - 1)))
        var_pix = s2_pix - var_t / N
        var_col = float(np.var(col_m, ddof=1)) - s2_pix / h
        var_row = float(np.var(row_m, ddof=1)) - s2_pix / w
        sq = lambda v: math.sqrt(max(v, 0.0))  # noqa: E731
        out.append(ChannelFPN(
            channel=planes[0].names[k],
            mean=float(m.mean()),
            sigma_temporal=math.sqrt(var_t),
            sigma_fpn=sq(var_fpn),
            sigma_fpn_row=sq(var_row),
            sigma_fpn_col=sq(var_col),
            sigma_fpn_pixel=sq(var_pix),
            sigma_total=sq(var_t + max(var_fpn, 0.0)),
            n_frames=N,
            n_pixels=P,
        ))
    return TemporalFPNResult(tuple(out), roi, detrend_order, units)


# ============================================================================ noise power spectrum


@dataclass(frozen=True)
class NPSResult(_Result):
    """Noise power spectrum of one channel.

    ``nps_2d`` is ``[B, B]`` (zero frequency at the centre, ``fftshift`` order) and
    ``frequency_cy_per_px`` the radial bin centres; both NPS are in (units)²·px², so
    Σ nps_2d · Δf² = ``variance`` (Δf = 1/B cycles/px).
    """

    channel: str
    frequency_cy_per_px: tuple[float, ...]
    nps_radial: tuple[float, ...]
    nps_2d: np.ndarray
    variance: float
    block_px: int
    n_blocks: int
    detrend_order: int | None

    def to_dict(self) -> dict[str, Any]:  # the 2-D array is summarised, not dumped
        d = super().to_dict()
        d["nps_2d"] = {"shape": list(self.nps_2d.shape), "note": "2-D array omitted from JSON"}
        return d


def noise_power_spectrum(
    image,
    *,
    roi=None,
    block_px: int = 64,
    overlap: float = 0.5,
    detrend_order: int | None = 1,
    channel: str | int | None = None,
) -> NPSResult:
    """Noise power spectrum of a uniform region.

    The ROI is cut into ``block_px`` × ``block_px`` blocks overlapping by ``overlap``;
    each block is detrended (2-D polynomial of ``detrend_order``) and its periodogram
    |DFT|² / B² averaged: NPS(f_x, f_y) [units²·px²] with Σ NPS Δf² = σ². The radial NPS
    averages annuli of width Δf = 1/B up to 0.5 cycles/px.

    Args:
        image: raw frame (one CFA site, black level subtracted; ``channel`` picks it,
            default the first green) or an image (``channel`` picks R/G/B/Y, default G/Y).
        roi: ``(x, y, w, h)`` of a uniform region (default: the whole frame).
    """
    planes = image_planes(image)
    H, W = planes.full_shape
    roi = (0, 0, W, H) if roi is None else _check_roi_in(roi, H, W)
    ys, xs = _plane_roi(planes, roi)
    names = planes.names
    if channel is None:
        k = next((i for i, n in enumerate(names) if n.startswith("G")), 0)
    elif isinstance(channel, (int, np.integer)):
        k = int(channel)
        if not 0 <= k < len(names):
            raise InputError(f"channel index {k} out of range (have {', '.join(names)})")
    else:
        if channel not in names:
            raise InputError(f"no channel {channel!r}; have {', '.join(names)}")
        k = names.index(channel)
    data = planes.data[k, ys, xs]
    B = int(block_px)
    if B < 8:
        raise InputError("block_px must be at least 8")
    if not 0 <= overlap < 1:
        raise InputError("overlap must be in [0, 1)")
    h, w = data.shape
    if h < B or w < B:
        raise MeasurementError(f"the ROI holds {w} × {h} samples of channel {names[k]}, fewer than one {B} × {B} block; "
                               "use a bigger ROI or a smaller block_px")
    stride = max(1, int(round(B * (1 - overlap))))
    acc = np.zeros((B, B))
    n = 0
    for y0 in range(0, h - B + 1, stride):
        for x0 in range(0, w - B + 1, stride):
            res, _ = detrend(data[y0 : y0 + B, x0 : x0 + B], detrend_order)
            acc += np.abs(np.fft.fft2(res)) ** 2
            n += 1
    nps = np.fft.fftshift(acc / n / (B * B))
    f = np.fft.fftshift(np.fft.fftfreq(B))
    fr = np.hypot(f[None, :], f[:, None])
    edges = np.arange(0.5 / B, 0.5 + 1e-12, 1.0 / B)
    idx = np.digitize(fr, edges)  # bin 0: DC; bin i: annulus around i/B
    radial_f, radial = [], []
    for i in range(1, len(edges)):
        sel = idx == i
        if sel.any():
            radial_f.append(i / B)
            radial.append(float(nps[sel].mean()))
    return NPSResult(
        channel=names[k],
        frequency_cy_per_px=tuple(radial_f),
        nps_radial=tuple(radial),
        nps_2d=nps,
        variance=float(nps.sum() / (B * B)),
        block_px=B,
        n_blocks=n,
        detrend_order=detrend_order,
    )


__all__ = [
    "ChannelFPN",
    "NPSResult",
    "NoiseResult",
    "PatchNoise",
    "Planes",
    "TemporalFPNResult",
    "detrend",
    "image_planes",
    "measure_noise",
    "noise_power_spectrum",
    "parse_roi",
    "patch_stats",
    "temporal_fixed_pattern",
]
