"""Classical detectors: lab-style blemish detection and defect-pixel maps.

:class:`BlemishDetector` (``blemish``) — what blemish testers do: the CFA-binned flat
field is smoothed with a small Gaussian (σ = ``sigma_small`` tiles, suppresses noise) and
divided by a heavily smoothed copy (σ = ``sigma_large``, follows the shading); the
anomaly map is the absolute deviation |small / large − 1| (a contrast), the image score its
maximum. Blind to pixel defects (they are replaced before binning), good on high-contrast
spots; a shadow wider than ``sigma_large`` is partly taken for shading, and a shallow one
drowns in the noise left after ``sigma_small``.

:class:`DefectPixelDetector` (``defect_pixels``) — the defect-pixel map: each pixel's
deviation from its same-colour 3×3 median, and each column's / row's mean deviation from
its neighbours, both in units of their robust noise; the map is the larger of the two and
the score its maximum. Covers hot/dead/stuck pixels (in flat fields), clusters, columns and
rows — defects a few pixels wide that the area detectors deliberately ignore.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from camforge.qualify.detectors.base import Detector, register
from camforge.qualify.flatfield import AnalysisMap, as_raw, flat_relative, noise_sigma, pack, plane_median3


@register
class BlemishDetector(Detector):
    kind = "blemish"
    covers = ("dust", "particle", "scratch", "shading", "contamination")
    defaults = {"bin": 1, "degree": 4, "shading": "radial", "sigma_small": 1.5, "sigma_large": 8.0, "topk_px": 256}

    def _score_map(self, am: AnalysisMap) -> np.ndarray:
        m = am.rel_binned.astype(np.float64)
        s = ndimage.gaussian_filter(m, self.params["sigma_small"], mode="nearest")
        big = ndimage.gaussian_filter(m, self.params["sigma_large"], mode="nearest")
        return np.abs(s / np.maximum(big, 1e-9) - 1.0)


@register
class DefectPixelDetector(Detector):
    kind = "defect_pixels"
    covers = ("dead_pixels", "stuck_pixels", "cluster", "column", "row", "particle")
    defaults = {"bin": 1}

    def prepare(self, image):
        return as_raw(image)

    def score(self, image):
        if not self.fitted:
            from camforge.errors import InputError

            raise InputError("the defect_pixels detector is not fitted: call fit() or load a saved model")
        m = self._map(self.prepare(image))
        return float(m.max()), m

    def calibrate(self, normal_images, *, target_frr: float = 0.01) -> float:
        from camforge.qualify.metrics import threshold_for_frr

        scores = [self.score(x)[0] for x in normal_images]
        self.threshold = threshold_for_frr(scores, target_frr)
        self.target_frr = float(target_frr)
        self.info["calibration_scores"] = [float(s) for s in scores]
        return self.threshold

    def _map(self, raw) -> np.ndarray:
        fr = flat_relative(raw)
        rel = fr.rel.astype(np.float64)
        med = plane_median3(rel, fr.n)
        dev = rel - med
        s = noise_sigma(pack(rel, fr.n)[0]) or 1e-6
        pix = np.abs(dev) / s
        # lines: mean deviation of each column/row (outlier pixels excluded) vs its neighbours
        x = np.where(pix > 6, np.nan, dev)
        maps = [pix]
        for axis in (0, 1):
            prof = np.nanmean(x, axis=axis)
            base = ndimage.median_filter(np.nan_to_num(prof), size=9, mode="nearest")
            d = prof - base
            sd = 1.4826 * np.median(np.abs(d - np.median(d))) + 1e-12
            z = np.abs(d) / sd
            maps.append(np.broadcast_to(z[None, :] if axis == 0 else z[:, None], rel.shape))
        out = np.maximum.reduce(maps).astype(np.float32)
        H, W = raw.data.shape[-2:]
        full = np.zeros((H, W), np.float32)
        full[: out.shape[0], : out.shape[1]] = out
        return full

    def fit(self, normal_images, *, target_frr: float = 0.01, calibration=None, progress=None, **kwargs):
        imgs = [as_raw(x) for x in normal_images]
        self.fitted = True
        self.calibrate(imgs if calibration is None else [as_raw(x) for x in calibration], target_frr=target_frr)
        return self
