"""Task accuracy across designs and light levels, and its correlation with MTF50 and SNR.

:func:`task_iq_study` measures accuracy and mIoU (with bootstrap 95 % CIs), SNR and MTF50 of
what the models see, for every (design, lux) condition, at a shared exposure per lux level
(the same exposure time and analog gain for every design, from the first design's auto
exposure on a white sheet), and reports Spearman rank correlations
(:func:`scipy.stats.spearmanr`) of accuracy and mIoU with MTF50 and SNR over the conditions.
:func:`pixel_size_cameras` builds the physics experiment: one lens, one sensor area, several
pixel pitches (full well and dark current ∝ pixel area, read noise per pixel unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from camforge.errors import InputError
from camforge.tasks.evaluate import (
    _render_px, _resolve_camera, centred_window, evaluation_scenes, measure_condition, resolve_models, white_exposure,
)
from camforge.tasks.models import TaskModels


def pixel_size_cameras(
    pitches_um: Sequence[float] = (3.0, 1.5),
    *,
    field_um: float = 192.0,
    sensor_mm: float = 1.2,
    focal_length_mm: float = 4.4,
    f_number: float = 2.0,
    full_well_e_per_um2: float = 2000.0,
    read_noise_e: float = 2.0,
    dark_current_e_per_s_per_um2: float = 0.5,
    isp: dict | None = None,
) -> dict[str, tuple[Any, int]]:
    """Cameras that differ only in pixel pitch: ``{name: (Camera, window_px)}``.

    Same lens (``focal_length_mm``, ``f_number``, diffraction-limited), same sensor area
    (``sensor_mm`` square) and QE; full well and dark current scale with the pixel area;
    read noise per pixel is the same. ``window_px`` covers the same ``field_um`` of the image
    plane (so the same field of view) for every pitch.
    """
    from camforge.camera import Camera

    out = {}
    for p in pitches_um:
        p = float(p)
        if not (0.3 <= p <= 20):
            raise InputError(f"pixel pitch must be between 0.3 and 20 um, got {p}")
        n = int(round(sensor_mm * 1000 / p / 2)) * 2
        w = int(round(field_um / p / 2)) * 2
        design = {
            "name": f"pitch-{p:g}um",
            "lens": {"focal_length_mm": focal_length_mm, "f_number": f_number},
            "sensor": {"width_px": n, "height_px": n, "pixel_pitch_um": p, "full_well_e": full_well_e_per_um2 * p * p,
                       "read_noise_e": read_noise_e, "dark_current_e_per_s": dark_current_e_per_s_per_um2 * p * p,
                       "adc_bits": 12, "black_level_dn": 256},
        }
        if isp is not None:
            design["isp"] = isp
        out[design["name"]] = (Camera(design), w)
    return out


@dataclass(frozen=True)
class TaskStudy:
    """Result of :func:`task_iq_study`.

    Attributes:
        conditions: one dict per (design, lux): ``design``, ``lux``, ``accuracy``,
            ``accuracy_ci95``, ``miou``, ``miou_ci95``, ``snr_db``, ``mtf50_cy_per_px`` (cycles
            per model pixel), ``exposure_s``, ``analog_gain``, ``window_px``.
        spearman: ``{"accuracy_vs_snr": {"rho", "p", "n"}, ...}`` over all conditions.
        monotone: per design, whether accuracy and mIoU never rise (beyond the CI) as lux falls.
    """

    conditions: tuple[dict[str, Any], ...]
    spearman: dict[str, dict[str, float]] = field(default_factory=dict)
    monotone: dict[str, dict[str, bool]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"conditions": list(self.conditions), "spearman": self.spearman, "monotone": self.monotone}

    def rows(self) -> list[dict[str, Any]]:
        """Scorecard rows (one per design, lux and metric, plus the correlations)."""
        from camforge.tasks.evaluate import _row

        out = []
        for c in self.conditions:
            cond = {"design": c["design"], "lux": c["lux"], "exposure_s": c["exposure_s"],
                    "analog_gain": c["analog_gain"], "window_px": c["window_px"]}
            out.append(_row(f"task_accuracy_{c['lux']:g}lx", c["accuracy"], "fraction", cond, c["accuracy_ci95"]))
            out.append(_row(f"task_miou_{c['lux']:g}lx", c["miou"], "fraction", cond, c["miou_ci95"]))
        for k, v in self.spearman.items():
            out.append(_row(f"spearman_{k}", v["rho"], "rho", {"p": v["p"], "n": v["n"]}))
        return out


def monotone_in_lux(lux: Sequence[float], value: Sequence[float], ci95: Sequence[Sequence[float]]) -> bool:
    """True when ``value`` never rises as lux falls by more than its confidence interval
    allows: for every pair of levels, the value at the lower level is at most the upper CI
    bound at the higher level."""
    order = np.argsort(-np.asarray(lux, float))
    v = np.asarray(value, float)[order]
    hi = np.asarray([c[1] for c in ci95], float)[order]
    for i in range(len(v)):
        for j in range(i + 1, len(v)):
            if v[j] > hi[i] + 1e-12:
                return False
    return True


def spearman(x: Sequence[float | None], y: Sequence[float | None]) -> dict[str, float]:
    """Spearman rank correlation (:func:`scipy.stats.spearmanr`) over the pairs where both
    are finite: ``{"rho", "p", "n"}`` (NaN when fewer than 3 pairs or a constant input)."""
    from scipy.stats import spearmanr

    a = np.array([np.nan if v is None else float(v) for v in x])
    b = np.array([np.nan if v is None else float(v) for v in y])
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return {"rho": float("nan"), "p": float("nan"), "n": n}
    r = spearmanr(a[ok], b[ok])
    return {"rho": float(r.statistic), "p": float(r.pvalue), "n": n}


def task_iq_study(
    cameras: Mapping[str, Any],
    lux_levels: Sequence[float] = (1000.0, 100.0, 10.0, 1.0, 0.3),
    *,
    n_images: int = 200,
    seed: int = 0,
    illuminant: str = "D65",
    models: TaskModels | str | None = None,
    shared_exposure: bool = True,
    with_iq: bool = True,
    n_boot: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> TaskStudy:
    """Task accuracy / mIoU, SNR and MTF50 for every design and lux level, and their Spearman
    correlations.

    Args:
        cameras: ``{name: camera}`` or ``{name: (camera, window_px)}`` (cameras, designs or
            YAML paths; ``window_px`` default: the model input, 64 px).
        shared_exposure: every design gets the exposure time and analog gain that the first
            design's auto exposure picks for a white sheet at that lux (equal exposure);
            ``False``: each design's own auto exposure.
    """
    if not cameras:
        raise InputError("the study needs at least one camera")
    models = resolve_models(models)
    entries = []
    for name, v in cameras.items():
        cam, w = (v if isinstance(v, tuple) else (v, None))
        entries.append((str(name), _resolve_camera(cam), int(w or models.input_px)))
    levels = [float(x) for x in lux_levels]
    if not levels or any(not (math.isfinite(x) and x > 0) for x in levels):
        raise InputError(f"lux levels must be positive numbers, got {list(lux_levels)}")
    # the same scenes for every design (rendered finely enough for the largest window)
    rpx = max(_render_px(w, models.input_px) for _, _, w in entries)
    scenes = evaluation_scenes(n_images, seed, rpx)
    conds = []
    total, done = len(levels) * len(entries), 0
    for lux in levels:
        t = g = None
        if shared_exposure:
            _, cam0, w0 = entries[0]
            t, g = white_exposure(cam0, lux, illuminant, centred_window(cam0, w0))
        for name, cam, w in entries:
            r = measure_condition(cam, lux, models=models, scenes=scenes, seed=seed, illuminant=illuminant,
                                  window_px=w, exposure_s=t, analog_gain=g, n_boot=n_boot, with_iq=with_iq)
            sc = r["scores"]
            conds.append({"design": name, "lux": lux, "accuracy": sc.accuracy, "accuracy_ci95": list(sc.accuracy_ci95),
                          "miou": sc.miou, "miou_ci95": list(sc.miou_ci95), "snr_db": r.get("snr_db"),
                          "mtf50_cy_per_px": r.get("mtf50_cy_per_px"), "exposure_s": r["exposure_s"],
                          "analog_gain": r["analog_gain"], "window_px": w, "n_images": sc.n_images})
            done += 1
            if progress is not None:
                progress(done, total)
    sp = {}
    if with_iq:
        for metric in ("accuracy", "miou"):
            for iq, key in (("snr", "snr_db"), ("mtf50", "mtf50_cy_per_px")):
                sp[f"{metric}_vs_{iq}"] = spearman([c[metric] for c in conds], [c[key] for c in conds])
    mono = {}
    for name, _, _ in entries:
        cs = [c for c in conds if c["design"] == name]
        mono[name] = {m: monotone_in_lux([c["lux"] for c in cs], [c[m] for c in cs], [c[f"{m}_ci95"] for c in cs])
                      for m in ("accuracy", "miou")}
    return TaskStudy(tuple(conds), sp, mono)
