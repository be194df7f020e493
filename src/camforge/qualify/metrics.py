"""Detection metrics: image and pixel AUROC, AUPRO, IoU, false-reject and escape rates.

* AUROC — the probability that a randomly chosen anomalous sample scores higher than a
  randomly chosen normal one (ties count ½): the Mann–Whitney U statistic divided by
  n₊·n₋, computed from average ranks (Hanley & McNeil 1982). Image AUROC uses one score per
  module; pixel AUROC every pixel of the anomaly maps against the ground-truth masks.
* AUPRO — area under the per-region-overlap curve up to a false-positive rate of 0.3,
  divided by 0.3 (Bergmann et al., "The MVTec Anomaly Detection Dataset", IJCV 2021): for a
  threshold, PRO is the mean over every connected ground-truth region (8-connectivity) of
  the fraction of its pixels above the threshold, FPR the fraction of normal pixels above it.
* IoU of the thresholded map with the mask; FRR (false-reject rate: good modules failed)
  and escape rate (defective modules passed) at a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, stats

from camforge.errors import InputError


def _labels_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InputError(f"labels ({y.size}) and scores ({s.size}) must have the same length")
    if not np.isfinite(s).all():
        raise InputError("scores contain NaN or infinite values")
    return y, s


def auroc(labels, scores) -> float:
    """Area under the ROC curve (labels: True = anomalous; higher score = more anomalous)."""
    y, s = _labels_scores(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InputError(f"AUROC needs both classes, got {n_pos} anomalous and {n_neg} normal samples")
    r = stats.rankdata(s)  # average ranks for ties
    u = r[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def pixel_auroc(masks, maps) -> float:
    """AUROC over every pixel of ``maps`` against boolean ``masks`` (same shapes; lists allowed)."""
    m = np.concatenate([np.asarray(a).astype(bool).ravel() for a in _as_list(masks)])
    s = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in _as_list(maps)])
    return auroc(m, s)


def _as_list(x) -> list:
    if isinstance(x, np.ndarray) and x.ndim == 2:
        return [x]
    return list(x)


def aupro(masks, maps, *, fpr_limit: float = 0.3, n_thresholds: int = 300) -> float:
    """Normalised area under the PRO curve up to ``fpr_limit`` (MVTec AD protocol).

    Thresholds are the normal-pixel score quantiles at ``n_thresholds`` FPR steps from 0 to
    ``fpr_limit``; the curve is integrated with the trapezoid rule and divided by ``fpr_limit``.
    """
    masks = [np.asarray(a).astype(bool) for a in _as_list(masks)]
    maps = [np.asarray(a, dtype=np.float64) for a in _as_list(maps)]
    if len(masks) != len(maps) or any(a.shape != b.shape for a, b in zip(masks, maps)):
        raise InputError("masks and maps must be lists of arrays of the same shapes")
    regions = []
    for m, s in zip(masks, maps):
        lab, n = ndimage.label(m, structure=np.ones((3, 3)))
        for i in range(1, n + 1):
            regions.append(np.sort(s[lab == i]))
    if not regions:
        raise InputError("AUPRO needs at least one ground-truth region")
    neg = np.sort(np.concatenate([s[~m] for m, s in zip(masks, maps)]))
    if neg.size == 0:
        raise InputError("AUPRO needs normal pixels")
    fprs = np.linspace(0.0, fpr_limit, n_thresholds + 1)
    # threshold t_k: the largest value with P(neg > t) <= fpr_k
    idx = np.clip(np.ceil((1.0 - fprs) * neg.size).astype(int) - 1, 0, neg.size - 1)
    thr = neg[idx]
    thr[0] = np.inf if fprs[0] == 0 else thr[0]
    fpr_actual = 1.0 - np.searchsorted(neg, thr, side="right") / neg.size
    pro = np.zeros_like(fprs)
    for r in regions:
        pro += 1.0 - np.searchsorted(r, thr, side="right") / r.size
    pro /= len(regions)
    # integrate PRO over the actual FPR, clipped at the limit
    order = np.argsort(fpr_actual, kind="stable")
    x, y = fpr_actual[order], pro[order]
    keep = x <= fpr_limit
    x, y = x[keep], y[keep]
    if x[-1] < fpr_limit:
        x = np.append(x, fpr_limit)
        y = np.append(y, y[-1])
    return float(np.trapezoid(y, x) / fpr_limit)


def iou(mask, pred) -> float:
    """Intersection over union of two boolean maps (1.0 when both are empty)."""
    a = np.asarray(mask).astype(bool)
    b = np.asarray(pred).astype(bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


@dataclass(frozen=True)
class RateResult:
    """False-reject rate (good modules rejected) and escape rate (defective modules passed)."""

    threshold: float
    false_reject_rate: float
    escape_rate: float
    n_good: int
    n_defective: int

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "false_reject_rate": self.false_reject_rate,
                "escape_rate": self.escape_rate, "n_good": self.n_good, "n_defective": self.n_defective}


def reject_rates(labels, scores, threshold: float) -> RateResult:
    """FRR and escape rate when modules scoring above ``threshold`` are rejected."""
    y, s = _labels_scores(labels, scores)
    rej = s > threshold
    ng, nd = int((~y).sum()), int(y.sum())
    return RateResult(float(threshold), float(rej[~y].mean()) if ng else float("nan"),
                      float((~rej[y]).mean()) if nd else float("nan"), ng, nd)


def threshold_for_frr(normal_scores, target_frr: float = 0.01) -> float:
    """Score threshold rejecting at most ``target_frr`` of ``normal_scores`` (good modules only).

    The smallest observed normal score such that the fraction strictly above it is ≤ the
    target (an empirical quantile; with few good modules the effective FRR is coarse).
    """
    s = np.sort(np.asarray(normal_scores, dtype=np.float64).ravel())
    if s.size == 0:
        raise InputError("threshold calibration needs scores of good modules")
    if not 0.0 <= target_frr < 1.0:
        raise InputError(f"target false-reject rate must be in [0, 1), got {target_frr}")
    k = int(np.ceil((1.0 - target_frr) * s.size)) - 1
    return float(s[min(max(k, 0), s.size - 1)])


__all__ = ["RateResult", "aupro", "auroc", "iou", "pixel_auroc", "reject_rates", "threshold_for_frr"]
