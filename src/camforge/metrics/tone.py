"""Tone reproduction (OECF) and dynamic range from a grey-step chart.

* OECF — opto-electronic conversion function (ISO 14524:2009): mean output of each step
  against its relative exposure (step reflectance or transmittance, 10^−D for density D).
  On linear (raw) data the OECF is fitted with a straight line S = a·H + b over the steps
  between 2 % and 90 % of saturation; ``linearity_error_max_pct`` is the largest deviation
  from it relative to the fitted value (in the spirit of EMVA 1288 R4.0 §6.5).
* SNR per step = mean / σ (σ of the step patch after removing a plane; per channel).
* Dynamic range (ISO 15739:2023 §7 style, with the plain SNR): DR = H_sat / H_min where
  H_min is the exposure at which SNR = 1 (or 10 for the "SNR = 10" figure), found by linear
  interpolation of log SNR against log H between the bracketing steps (extrapolated from the
  two darkest steps if the chart does not reach it — flagged), and H_sat is the exposure at
  which the output reaches saturation: the ``saturation_level`` (default: the raw white
  level minus black, or the image's white level) on the OECF, extrapolated with the linear
  fit above the brightest step when it is not clipped, or the exposure at which the OECF
  reaches its plateau when steps are clipped (where the straight-line fit meets the
  plateau for linear data — linearity error < 5 % — else where the interpolated OECF
  reaches 98 % of it). Reported in dB (20·log10) and stops (log2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._common import _Result, _check_roi_in, _plane_roi, image_planes, parse_roi
from camforge.metrics.noise import patch_stats

#: Largest OECF linearity error [%] for which the response is treated as linear (saturation
#: from the straight-line fit).
_LINEAR_PCT = 5.0


@dataclass(frozen=True)
class ToneResult(_Result):
    """OECF and dynamic range of one channel (see module notes). Steps are sorted by
    increasing exposure; exposures are relative (the brightest step of the chart = its
    reflectance, e.g. 1.0 for density 0)."""

    channel: str
    rois: tuple[tuple[int, int, int, int], ...]
    relative_exposure: tuple[float, ...]
    log10_exposure: tuple[float, ...]
    signal: tuple[float, ...]
    sigma: tuple[float, ...]
    snr: tuple[float, ...]
    snr_db: tuple[float, ...]
    clipped: tuple[bool, ...]
    oecf_slope: float | None
    oecf_offset: float | None
    linearity_error_max_pct: float | None
    saturation_level: float
    saturation_exposure: float | None
    saturation_extrapolated: bool
    snr1_exposure: float | None
    snr1_extrapolated: bool
    snr10_exposure: float | None
    snr10_extrapolated: bool
    dynamic_range_snr1_db: float | None
    dynamic_range_snr1_stops: float | None
    dynamic_range_snr10_db: float | None
    dynamic_range_snr10_stops: float | None
    units: str


def _cross_exposure(logH: np.ndarray, logS: np.ndarray, target: float) -> tuple[float | None, bool]:
    """log-exposure where log SNR crosses ``target`` coming up from the dark end."""
    lt = math.log10(target)
    above = logS >= lt
    if above.all():  # darkest step already above the target: extrapolate from the two darkest
        if len(logH) < 2 or logS[1] == logS[0]:
            return None, True
        t = (lt - logS[0]) / (logS[1] - logS[0])
        return float(10 ** (logH[0] + t * (logH[1] - logH[0]))), True
    if not above.any():
        return None, False
    k = int(np.argmax(above))  # first step at or above the target
    if k == 0:
        return float(10 ** logH[0]), False
    t = (lt - logS[k - 1]) / (logS[k] - logS[k - 1])
    return float(10 ** (logH[k - 1] + t * (logH[k] - logH[k - 1]))), False


def _pick_channel(names: Sequence[str], channel) -> list[int]:
    if channel is None:
        g = [i for i, n in enumerate(names) if n.startswith("G")]
        return g or [0]
    if isinstance(channel, (int, np.integer)):
        if not 0 <= int(channel) < len(names):
            raise InputError(f"channel index {channel} out of range (have {', '.join(names)})")
        return [int(channel)]
    sel = [i for i, n in enumerate(names) if n == channel or (channel == "G" and n.startswith("G"))]
    if not sel:
        raise InputError(f"no channel {channel!r}; have {', '.join(names)}")
    return sel


def measure_tone(
    image,
    rois: Sequence | str = "auto",
    *,
    relative_exposures: Sequence[float] | None = None,
    densities: Sequence[float] | None = None,
    channel: str | int | None = None,
    detrend_order: int | None = 1,
    saturation_level: float | None = None,
    search_roi=None,
) -> ToneResult:
    """OECF and dynamic range from the steps of a grey-step chart.

    Args:
        image: raw frame (measured per CFA site, black level subtracted, in DN) or an image.
        rois: the step patches as ``(x, y, w, h)`` boxes, or ``"auto"`` — uniform patches
            found by :func:`camforge.metrics.colorchecker.find_uniform_patches`, ordered
            from bright to dark.
        relative_exposures: exposure of each step (reflectance / transmittance), in ``rois``
            order (for ``"auto"``: bright to dark).
        densities: optical densities instead (exposure = 10^−D).
        channel: ``"G"`` (default: both green sites of a Bayer raw pooled), ``"R"``, ``"Gr"``, ... or an index.
        detrend_order: polynomial removed inside each step before σ (1 = plane).
        saturation_level: output at saturation [DN above black for raw]; default the white level.
        search_roi: ``(x, y, w, h)`` to look for the steps in (``rois="auto"`` only).

    Without exposures the OECF is reported against step order only and the dynamic range
    is not computed (``None``).
    """
    planes = image_planes(image)
    H, W = planes.full_shape
    auto = False
    if isinstance(rois, str):
        if rois.strip().lower() != "auto":
            rois = [parse_roi(rois)]
        else:
            from camforge.metrics.colorchecker import find_uniform_patches

            found = find_uniform_patches(image, roi=search_roi)
            if len(found) < 3:
                raise MeasurementError(f"found {len(found)} uniform step patches (need >= 3); pass the step boxes as rois")
            rois = [p.roi for p in found]
            auto = True
    else:
        rois = [parse_roi(r) for r in rois]
    if len(rois) < 3:
        raise MeasurementError(f"an OECF needs at least 3 steps, got {len(rois)}")
    if relative_exposures is not None and densities is not None:
        raise InputError("give relative_exposures or densities, not both")
    expo = None
    if densities is not None:
        expo = 10.0 ** (-np.asarray(densities, dtype=np.float64))
    elif relative_exposures is not None:
        expo = np.asarray(relative_exposures, dtype=np.float64)
    if expo is not None and (expo.shape != (len(rois),) or not np.all(np.isfinite(expo)) or np.any(expo <= 0)):
        raise InputError(f"need {len(rois)} positive finite exposures (one per step), got {expo.shape[0] if expo.ndim else 0}")
    ks = _pick_channel(planes.names, channel)
    name = planes.names[ks[0]] if len(ks) == 1 else "G"
    sig, sd, clip_frac = [], [], []
    white = planes.white_level
    for roi in rois:
        roi = _check_roi_in(roi, H, W)
        ys, xs = _plane_roi(planes, roi)
        blocks = [planes.data[k, ys, xs] for k in ks]
        if min(b.size for b in blocks) < 16:
            raise MeasurementError(f"step ROI {roi} holds fewer than 16 samples of channel {name}")
        stats = [patch_stats(b, detrend_order) for b in blocks]
        n = sum(s[2] for s in stats)
        sig.append(sum(s[0] * s[2] for s in stats) / n)
        sd.append(math.sqrt(sum(s[1] ** 2 * s[2] for s in stats) / n))
        clip_frac.append(0.0 if white is None else float(np.mean([np.mean(b >= white - 0.5) for b in blocks])))
    sig, sd = np.array(sig), np.array(sd)
    rois = [tuple(int(v) for v in r) for r in rois]
    if expo is None:
        order = np.argsort(sig) if auto else np.arange(len(sig))
    else:
        order = np.argsort(expo)
    sig, sd = sig[order], sd[order]
    rois = [rois[i] for i in order]
    clipped = np.array(clip_frac)[order] > 0.5
    snr = np.where(sd > 0, sig / np.where(sd > 0, sd, 1), np.inf)
    sat = float(saturation_level) if saturation_level is not None else (float(white) if white is not None else float("nan"))
    if not math.isfinite(sat):
        sat = float(sig.max())
    result = dict(channel=name, rois=tuple(rois), signal=tuple(float(v) for v in sig), sigma=tuple(float(v) for v in sd),
                  snr=tuple(float(v) for v in snr),
                  snr_db=tuple(float(20 * math.log10(v)) if v > 0 else -math.inf for v in snr),
                  clipped=tuple(bool(c) for c in clipped), saturation_level=sat,
                  units="DN" if planes.is_raw else "input")
    none = dict(oecf_slope=None, oecf_offset=None, linearity_error_max_pct=None, saturation_exposure=None,
                saturation_extrapolated=False, snr1_exposure=None, snr1_extrapolated=False, snr10_exposure=None,
                snr10_extrapolated=False, dynamic_range_snr1_db=None, dynamic_range_snr1_stops=None,
                dynamic_range_snr10_db=None, dynamic_range_snr10_stops=None)
    if expo is None:
        return ToneResult(relative_exposure=tuple(float("nan") for _ in sig), log10_exposure=tuple(float("nan") for _ in sig),
                          **result, **none)
    H_ = expo[order]
    out = dict(none)
    # linear OECF fit on the steps between 2 % and 90 % of saturation (raw/linear data)
    fit_sel = (sig > 0.02 * sat) & (sig < 0.9 * sat) & ~clipped
    if fit_sel.sum() >= 2:
        a, b = np.polyfit(H_[fit_sel], sig[fit_sel], 1)
        pred = a * H_[fit_sel] + b
        out.update(oecf_slope=float(a), oecf_offset=float(b),
                   linearity_error_max_pct=float(100 * np.max(np.abs(sig[fit_sel] - pred) / pred)))
    # saturation exposure
    linear = out["linearity_error_max_pct"] is not None and out["linearity_error_max_pct"] < _LINEAR_PCT
    if clipped.any() or sig.max() >= 0.98 * sat:
        plateau = float(sig[clipped].mean()) if clipped.any() else float(sig.max())
        if linear and out["oecf_slope"] > 0:  # where the linear response meets the plateau
            h_sat = float((plateau - out["oecf_offset"]) / out["oecf_slope"])
        else:  # where the measured OECF reaches 98 % of the plateau
            k = int(np.argmax(sig >= 0.98 * plateau))
            if k == 0:
                h_sat = float(H_[0])
            else:
                t = (0.98 * plateau - sig[k - 1]) / (sig[k] - sig[k - 1])
                h_sat = float(H_[k - 1] + t * (H_[k] - H_[k - 1]))
        out.update(saturation_exposure=h_sat, saturation_extrapolated=False)
    elif linear and out["oecf_slope"] > 0:
        out.update(saturation_exposure=float((sat - out["oecf_offset"]) / out["oecf_slope"]), saturation_extrapolated=True)
    # SNR crossings (unclipped steps with positive SNR only)
    ok = ~clipped & (snr > 0) & np.isfinite(snr)
    if ok.sum() >= 2:
        logH, logS = np.log10(H_[ok]), np.log10(snr[ok])
        for target, key in ((1.0, "snr1"), (10.0, "snr10")):
            h, extra = _cross_exposure(logH, logS, target)
            out[f"{key}_exposure"] = h
            out[f"{key}_extrapolated"] = extra
            hs = out["saturation_exposure"]
            if h is not None and hs is not None and h > 0 and hs > h:
                dr = hs / h
                out[f"dynamic_range_{key}_db"] = float(20 * math.log10(dr))
                out[f"dynamic_range_{key}_stops"] = float(math.log2(dr))
    return ToneResult(relative_exposure=tuple(float(v) for v in H_), log10_exposure=tuple(float(v) for v in np.log10(H_)),
                      **result, **out)


def step_chart_rois(scene, camera, *, fraction: float = 0.5) -> tuple[list[tuple[int, int, int, int]], list[float]]:
    """Step boxes (central ``fraction`` of each patch) and reflectances of a camforge
    :func:`~camforge.scene.step_chart` as seen by ``camera`` (through its distortion)."""
    rois, refl = [], []
    for p in scene.truth.get("patches", []):
        if "reflectance" not in p:
            raise InputError("step_chart_rois needs a camforge step chart (truth patches with reflectance)")
        cu, cv = p["center"]
        hs = p["half_size"] * fraction
        c0, r0 = camera.scene_to_pixel(scene, cu - hs, cv - hs)
        c1, r1 = camera.scene_to_pixel(scene, cu + hs, cv + hs)
        x0, y0 = int(math.ceil(float(c0))), int(math.ceil(float(r0)))
        x1, y1 = int(math.floor(float(c1))), int(math.floor(float(r1)))
        rois.append((x0, y0, max(1, x1 - x0 + 1), max(1, y1 - y0 + 1)))
        refl.append(float(p["reflectance"]))
    if not rois:
        raise InputError("the scene has no step patches in its truth")
    return rois, refl


__all__ = ["ToneResult", "measure_tone", "step_chart_rois"]
