"""Per-module figures from the end-of-line captures.

=================================  =========  ===================================================================
figure                             capture    definition
=================================  =========  ===================================================================
``dark_offset_dn``                 dark       median of the dark frame above the black level [DN]
``hot_pixel_count``                dark       pixels above their same-colour 3×3 median by > max(10 σ, 20 DN)
``dead_pixel_count``               flat_hi    relative response < 0.5 of their same-colour median
``bright_pixel_count``             flat_hi    relative response > 1.5 of their same-colour median (not hot/stuck)
``stuck_pixel_count``              all three  a defect pixel whose value is the same (±2 DN) in dark, flat_lo, flat_hi
``defect_pixel_count``             all three  hot + dead + bright + stuck (each pixel once)
``largest_cluster_px``             all three  largest 8-connected group of defect pixels
``cluster_count``                  all three  groups of ≥ 2 defect pixels
``column_defect_count``            flat_hi    columns whose (outlier-free) median response or dark offset departs from
``row_defect_count``               + dark     the neighbouring lines by > 6 robust σ (and > 1 % / 3 DN)
``blemish_count``                  flat_hi    dark spots of the relative response (smoothed, σ = 1.5 CFA tiles)
``blemish_contrast_max_pct``       flat_hi    deeper than 5 σ of the smoothed noise (and 0.4 %); contrast = the
``blemish_area_max_px``            flat_hi    deepest deficit [%]; area in full-resolution px
``shading_corner_min_pct``         flat_hi    :func:`camforge.metrics.measure_shading` luma corner / centre, min [%]
``shading_asymmetry_pct``          flat_hi    max − min of the four corner values [% points]
``color_shading_max_pct``          flat_hi    max |R/G − 1|, |B/G − 1| over the block maps [%]
``mtf50_center_cy_per_px``         chart      median MTF50 of the edges within 30 % field [cy/px]
``mtf50_corner_min_cy_per_px``     chart      lowest of the four corners' median MTF50 (edges beyond 65 % field)
``mtf50_corner_ratio``             chart      ``mtf50_corner_min / mtf50_center`` [–]
``anomaly_score``                  flat_hi    the area detector's score / its threshold (> 1: anomalous) [–]
=================================  =========  ===================================================================

Each figure is measured independently: one that cannot be measured (missing capture, no
edge found, ...) is recorded with its reason, and the spec decides what that means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from camforge.errors import CamforgeError, MeasurementError
from camforge.qualify.flatfield import (
    analysis_map, black_subtracted, flat_relative, noise_sigma, pack, plane_median3, tile_size,
)
from camforge.types import Raw

#: figure name → (unit, capture(s) needed, description)
FIGURES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "dark_offset_dn": ("DN", ("dark",), "dark-frame offset above black"),
    "hot_pixel_count": ("px", ("dark",), "hot pixels"),
    "dead_pixel_count": ("px", ("flat_hi",), "dead pixels"),
    "bright_pixel_count": ("px", ("flat_hi",), "bright pixels in the flat field"),
    "stuck_pixel_count": ("px", ("dark", "flat_lo", "flat_hi"), "stuck pixels"),
    "defect_pixel_count": ("px", ("dark", "flat_lo", "flat_hi"), "defect pixels of every kind"),
    "largest_cluster_px": ("px", ("dark", "flat_lo", "flat_hi"), "largest cluster of defect pixels"),
    "cluster_count": ("", ("dark", "flat_lo", "flat_hi"), "clusters of >= 2 defect pixels"),
    "column_defect_count": ("", ("flat_hi",), "defective columns"),
    "row_defect_count": ("", ("flat_hi",), "defective rows"),
    "blemish_count": ("", ("flat_hi",), "blemishes (dark spots)"),
    "blemish_contrast_max_pct": ("%", ("flat_hi",), "contrast of the deepest blemish"),
    "blemish_area_max_px": ("px", ("flat_hi",), "area of the largest blemish"),
    "shading_corner_min_pct": ("%", ("flat_hi",), "darkest corner / centre"),
    "shading_asymmetry_pct": ("%", ("flat_hi",), "brightest - darkest corner"),
    "color_shading_max_pct": ("%", ("flat_hi",), "largest colour-shading deviation"),
    "mtf50_center_cy_per_px": ("cy/px", ("chart",), "MTF50 at the centre"),
    "mtf50_corner_min_cy_per_px": ("cy/px", ("chart",), "MTF50 of the worst corner"),
    "mtf50_corner_ratio": ("", ("chart",), "worst corner MTF50 / centre MTF50"),
    "anomaly_score": ("", ("flat_hi",), "area detector score / threshold"),
}


@dataclass
class ModuleMeasurement:
    """Figures of one module; ``missing`` maps a figure to why it could not be measured.

    ``defect_mask`` (pixels, clusters, lines) and ``blemish_mask`` are full-resolution
    boolean maps for overlays; ``anomaly_map`` is the detector's map (or None).
    """

    figures: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    defect_mask: np.ndarray | None = None
    blemish_mask: np.ndarray | None = None
    anomaly_map: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def rows(self, condition: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Measurement rows for :meth:`camforge.store.RunHandle.add_measurements`."""
        out = []
        for name, v in self.figures.items():
            out.append({"metric": name, "value": float(v), "unit": FIGURES.get(name, ("",))[0],
                        "condition": dict(condition or {})})
        for name, why in self.missing.items():
            out.append({"metric": name, "value": None, "unit": FIGURES.get(name, ("",))[0],
                        "condition": dict(condition or {}), "extra": {"error": why}})
        return out


def _same_colour_median(x: np.ndarray, n: int) -> np.ndarray:
    return plane_median3(x, n)


def hot_pixels(dark: Raw, *, sigma: float = 10.0, min_dn: float = 20.0) -> np.ndarray:
    """Hot-pixel map of a dark frame (see the module table)."""
    d = black_subtracted(dark)
    n = tile_size(dark.meta.cfa)
    med = _same_colour_median(d, n)
    s = noise_sigma(pack(d, n)[0])
    return (d - med) > max(sigma * s, min_dn)


def flat_defects(rel: np.ndarray, n: int, *, low: float = 0.5, high: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """(dead, bright) maps from a relative response: outside [low, high] × same-colour median."""
    med = _same_colour_median(rel, n)
    ratio = rel / np.maximum(med, 1e-6)
    return ratio < low, ratio > high


def line_defects(rel: np.ndarray, exclude: np.ndarray, dark_sub: np.ndarray | None, axis: int, *,
                 k: float = 6.0, min_rel: float = 0.01, min_dn: float = 3.0, period: int = 1) -> list[int]:
    """Indices of defective columns (``axis=0``: mean over rows) or rows (``axis=1``).

    A partial line is found too: each line is split into 4 segments and the worst one counts.
    Segment values are medians (a blemish or a cluster crossing the line does not move them).
    ``period`` is the CFA tile size: lines of different CFA phases (e.g. the R/G and the G/B
    columns of a Bayer mosaic) see different signal and noise, so each line is compared with
    its same-phase neighbours (a 9-line median) and the robust σ of its own phase — pooling
    the phases biases the deviations by half their level difference and flags good lines.
    """
    x = np.where(exclude, np.nan, rel)
    L = x.shape[axis]
    segs = np.array_split(np.arange(L), 4)
    found: set[int] = set()

    def _flag(prof_list, thr_abs):
        for prof in prof_list:
            for ph in range(period):  # each CFA phase against its own neighbours and its own σ
                p = prof[ph::period]
                base = ndimage.median_filter(np.nan_to_num(p, nan=np.nanmedian(p)), size=9, mode="nearest")
                d = p - base
                s = 1.4826 * np.nanmedian(np.abs(d - np.nanmedian(d))) + 1e-12
                bad = np.nonzero(np.abs(d) > max(k * s, thr_abs))[0]
                found.update(int(b) * period + ph for b in bad)

    profs = [np.nanmedian(np.take(x, seg, axis=axis), axis=axis) for seg in segs]
    _flag(profs, min_rel)
    if dark_sub is not None:
        dk = np.where(exclude, np.nan, dark_sub)
        _flag([np.nanmedian(np.take(dk, seg, axis=axis), axis=axis) for seg in segs], min_dn)
    return sorted(found)


def _cluster_stats(defect: np.ndarray) -> tuple[int, int]:
    lab, n = ndimage.label(defect, structure=np.ones((3, 3)))
    if n == 0:
        return 0, 0
    sizes = np.bincount(lab.ravel())[1:]
    return int(sizes.max()), int((sizes >= 2).sum())


def blemishes(flat: Raw, *, smooth_tiles: float = 1.5, k: float = 5.0, min_contrast: float = 0.004,
              min_area_tiles: int = 3, response=None, exclude: np.ndarray | None = None,
              ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Dark spots of a flat field: ``([{contrast_pct, area_px, bbox}], mask)`` (see the module table).

    ``exclude`` marks pixels already explained (defect pixels, defective lines); they are
    replaced by their same-colour median first.
    """
    am = analysis_map(flat, bin=1, response=response, exclude=exclude)
    m = am.rel_binned.astype(np.float64)
    # normalised convolution: the frame edge truncates the Gaussian, so the smoothed noise
    # grows there; the threshold follows it (σ_s² = σ² Σg² / (Σg)² over the frame)
    ones = np.ones_like(m)
    den = ndimage.gaussian_filter(ones, smooth_tiles, mode="constant")
    s = ndimage.gaussian_filter(m, smooth_tiles, mode="constant") / den
    g2 = ndimage.gaussian_filter(ones, smooth_tiles / np.sqrt(2), mode="constant") / (4 * np.pi * smooth_tiles**2)
    sig = noise_sigma(m) * np.sqrt(g2) / den
    deficit = 1.0 - s
    thr = np.maximum(k * sig, min_contrast)
    lab, nlab = ndimage.label(deficit > thr, structure=np.ones((3, 3)))
    out = []
    keep = np.zeros_like(deficit, dtype=bool)
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        reg = lab[sl] == i
        if reg.sum() < min_area_tiles:
            continue
        c = float(deficit[sl][reg].max())
        sc = am.scale
        out.append({"contrast_pct": 100 * c, "area_px": int(reg.sum()) * sc * sc,
                    "bbox": [sl[1].start * sc, sl[0].start * sc, (sl[1].stop - sl[1].start) * sc,
                             (sl[0].stop - sl[0].start) * sc]})
        keep[sl] |= reg
    from camforge.qualify.flatfield import upsample_map

    return sorted(out, key=lambda b: -b["contrast_pct"]), upsample_map(keep, am.scale, am.full_shape)


def chart_mtf(chart: Raw, *, min_length_px: float = 24.0) -> dict[str, float]:
    """MTF50 at the centre and in the four corners of a slanted-edge chart capture.

    Edges are found with :func:`camforge.metrics.find_edges`; only those within 30 % field
    (centre) or beyond 65 % field (corners) are measured with the ISO 12233 e-SFR
    (:func:`camforge.metrics.sfr`, no bootstrap, 3rd-order edge fit).
    """
    from camforge.metrics import find_edges, sfr

    H, W = chart.data.shape[-2:]
    cands = [c for c in find_edges(chart, min_length_px=min_length_px) if c.field <= 0.3 or c.field >= 0.65]
    centre, corners = [], {0: [], 1: [], 2: [], 3: []}
    for c in cands:
        try:
            r = sfr(chart, c.roi, npol=3, bootstrap=0)
        except MeasurementError:
            continue
        v = r.mtf50_cy_per_px
        if not np.isfinite(v):
            continue
        x, y = r.center_xy_px
        field = float(np.hypot(x + 0.5 - W / 2, y + 0.5 - H / 2) / np.hypot(W / 2, H / 2))
        if field <= 0.3:
            centre.append(v)
        elif field >= 0.65:
            corners[(y > H / 2) * 2 + (x > W / 2)].append(v)
    if not centre:
        raise MeasurementError("no measurable edge near the chart centre")
    got = {q: float(np.median(v)) for q, v in corners.items() if v}
    if len(got) < 4:
        raise MeasurementError(f"edges measured in only {len(got)} of the 4 corners")
    c = float(np.median(centre))
    worst = min(got.values())
    return {"mtf50_center_cy_per_px": c, "mtf50_corner_min_cy_per_px": worst, "mtf50_corner_ratio": worst / c,
            "_corners": got}


def measure_module(captures: dict[str, Raw], *, detector=None, figures: list[str] | None = None) -> ModuleMeasurement:
    """Measure every figure the captures allow (or only ``figures``).

    ``captures`` maps capture kinds (``dark``, ``flat_lo``, ``flat_hi``, ``chart``) to frames;
    ``detector`` (a fitted :class:`camforge.qualify.detectors.Detector`) adds ``anomaly_score``.
    """
    want = set(figures or FIGURES)
    res = ModuleMeasurement()

    def need(names, caps):
        missing = [c for c in caps if c not in captures]
        if missing:
            for nme in names:
                if nme in want:
                    res.missing[nme] = f"no {', '.join(missing)} capture"
            return False
        return True

    def attempt(names, fn):
        try:
            fn()
        except CamforgeError as e:
            for nme in names:
                if nme in want and nme not in res.figures:
                    res.missing[nme] = str(e)

    dark = captures.get("dark")
    fh = captures.get("flat_hi")
    fl = captures.get("flat_lo")
    H = W = None
    if fh is not None:
        H, W = fh.data.shape[-2:]
    hot = None
    if need(["dark_offset_dn", "hot_pixel_count"], ["dark"]):
        def _dark():
            nonlocal hot
            d = black_subtracted(dark)
            res.figures["dark_offset_dn"] = float(np.median(d))
            hot = hot_pixels(dark)
            res.figures["hot_pixel_count"] = float(hot.sum())
        attempt(["dark_offset_dn", "hot_pixel_count"], _dark)
    pixel_figs = ["dead_pixel_count", "bright_pixel_count", "stuck_pixel_count", "defect_pixel_count",
                  "largest_cluster_px", "cluster_count", "column_defect_count", "row_defect_count"]
    fr = None
    if need(pixel_figs + ["blemish_count", "blemish_contrast_max_pct", "blemish_area_max_px",
                          "shading_corner_min_pct", "shading_asymmetry_pct", "color_shading_max_pct",
                          "anomaly_score"], ["flat_hi"]):
        def _pixels():
            nonlocal fr
            fr = flat_relative(fh)
            n = fr.n
            dead, bright = flat_defects(fr.rel, n)
            h, w = fr.rel.shape
            hot_c = hot[:h, :w] if hot is not None and hot.shape[0] >= h else np.zeros((h, w), bool)
            stuck = np.zeros((h, w), bool)
            if dark is not None and fl is not None:
                a = [c.data[0, 0].numpy()[:h, :w] for c in (dark, fl, fh)]
                same = (np.abs(a[0] - a[1]) <= 2) & (np.abs(a[1] - a[2]) <= 2)
                dsub0 = black_subtracted(dark)[:h, :w]
                lit = dsub0 > max(10 * noise_sigma(pack(dsub0, n)[0]), 20.0)  # stuck high, not dead (at black)
                stuck = same & lit & (dead | bright | hot_c)
            bright = bright & ~hot_c & ~stuck
            dead = dead & ~stuck
            hot_only = hot_c & ~stuck
            defect = dead | bright | stuck | hot_only
            dsub = black_subtracted(dark)[:h, :w] if dark is not None else None
            cols = line_defects(fr.rel, defect, dsub, axis=0, period=n)
            rows = line_defects(fr.rel, defect, dsub, axis=1, period=n)
            line_mask = np.zeros((h, w), bool)
            line_mask[:, cols] = True
            line_mask[rows, :] = True
            # pixels on a defective line are the line's, not separate defect pixels
            defect &= ~line_mask
            dead &= ~line_mask
            bright &= ~line_mask
            stuck &= ~line_mask
            hot_only &= ~line_mask
            if dark is not None:
                res.figures["hot_pixel_count"] = float(hot_only.sum())
            res.figures["dead_pixel_count"] = float(dead.sum())
            res.figures["bright_pixel_count"] = float(bright.sum())
            if dark is not None and fl is not None:
                res.figures["stuck_pixel_count"] = float(stuck.sum())
            else:
                res.missing["stuck_pixel_count"] = "needs dark, flat_lo and flat_hi captures"
            res.figures["defect_pixel_count"] = float(defect.sum())
            big, ncl = _cluster_stats(defect)
            res.figures["largest_cluster_px"] = float(big)
            res.figures["cluster_count"] = float(ncl)
            res.figures["column_defect_count"] = float(len(cols))
            res.figures["row_defect_count"] = float(len(rows))
            full = np.zeros((H, W), bool)
            full[:h, :w] = defect | line_mask
            res.defect_mask = full
            res.details.update({"columns": cols, "rows": rows})
        attempt(pixel_figs, _pixels)

        def _blem():
            bl, mask = blemishes(fh, response=fr, exclude=res.defect_mask)
            res.figures["blemish_count"] = float(len(bl))
            res.figures["blemish_contrast_max_pct"] = float(bl[0]["contrast_pct"]) if bl else 0.0
            res.figures["blemish_area_max_px"] = float(max((b["area_px"] for b in bl), default=0))
            full = np.zeros((H, W), bool)
            full[: mask.shape[0], : mask.shape[1]] = mask
            res.blemish_mask = full
            res.details["blemishes"] = bl[:20]
        attempt(["blemish_count", "blemish_contrast_max_pct", "blemish_area_max_px"], _blem)

        def _shading():
            from camforge.metrics import measure_shading

            s = measure_shading(fh)
            res.figures["shading_corner_min_pct"] = float(s.corner_min_pct)
            res.figures["shading_asymmetry_pct"] = float(max(s.corner_pct) - min(s.corner_pct))
            if s.color_deviation_max_pct:
                res.figures["color_shading_max_pct"] = float(max(s.color_deviation_max_pct.values()))
            else:
                res.missing["color_shading_max_pct"] = "monochrome sensor: no colour shading"
        attempt(["shading_corner_min_pct", "shading_asymmetry_pct", "color_shading_max_pct"], _shading)

        if detector is not None and "anomaly_score" in want:
            def _det():
                score, amap = detector.score(fh)
                res.figures["anomaly_score"] = float(score / detector.threshold) if detector.threshold else float(score)
                res.anomaly_map = amap
                res.details["detector"] = detector.name
            attempt(["anomaly_score"], _det)
    mtf = ["mtf50_center_cy_per_px", "mtf50_corner_min_cy_per_px", "mtf50_corner_ratio"]
    if want & set(mtf) and need(mtf, ["chart"]):
        def _mtf():
            m = chart_mtf(captures["chart"])
            res.details["mtf50_corners"] = m.pop("_corners")
            res.figures.update(m)
        attempt(mtf, _mtf)
    for k in list(res.figures):
        if k not in want:
            del res.figures[k]
    for k in list(res.missing):
        if k not in want or k in res.figures:
            del res.missing[k]
    return res


__all__ = ["FIGURES", "ModuleMeasurement", "blemishes", "chart_mtf", "flat_defects", "hot_pixels", "line_defects",
           "measure_module"]
