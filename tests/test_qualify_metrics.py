"""Detection metrics against scikit-learn and brute-force definitions."""

import itertools

import numpy as np
import pytest
from scipy import ndimage

from camforge.errors import InputError
from camforge.qualify.metrics import aupro, auroc, iou, pixel_auroc, reject_rates, threshold_for_frr


def brute_auroc(y, s):
    pos = [v for v, t in zip(s, y) if t]
    neg = [v for v, t in zip(s, y) if not t]
    tot = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return tot / (len(pos) * len(neg))


def test_auroc_against_pairwise_and_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.3
    s = np.round(rng.normal(size=300) + 0.8 * y, 1)  # rounded: many ties
    assert auroc(y, s) == pytest.approx(brute_auroc(y, s), abs=1e-12)
    assert auroc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auroc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0


def test_pixel_auroc_is_auroc_over_pixels():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    masks = [rng.random((20, 30)) < 0.1 for _ in range(3)]
    maps = [rng.random((20, 30)) + 0.5 * m for m in masks]
    ref = sk.roc_auc_score(np.concatenate([m.ravel() for m in masks]), np.concatenate([a.ravel() for a in maps]))
    assert pixel_auroc(masks, maps) == pytest.approx(ref, abs=1e-12)


def brute_aupro(masks, maps, fpr_limit=0.3):
    """Every distinct score as a threshold; PRO averaged over regions; step-wise exact curve."""
    regions = []
    for m, s in zip(masks, maps):
        lab, n = ndimage.label(m, structure=np.ones((3, 3)))
        regions += [s[lab == i] for i in range(1, n + 1)]
    neg = np.concatenate([s[~m] for m, s in zip(masks, maps)])
    thr = np.unique(np.concatenate([neg, [np.inf]]))[::-1]
    fpr = np.array([(neg > t).mean() for t in thr])
    pro = np.array([np.mean([(r > t).mean() for r in regions]) for t in thr])
    keep = fpr <= fpr_limit
    x, y = fpr[keep], pro[keep]
    x, y = np.append(x, fpr_limit), np.append(y, y[-1])
    return float(np.trapezoid(y, x) / fpr_limit)


def test_aupro_against_brute_force():
    rng = np.random.default_rng(3)
    masks, maps = [], []
    for _ in range(3):
        m = np.zeros((24, 24), bool)
        m[3:8, 4:10] = True
        m[15:22, 14:16] = True
        masks.append(m)
        maps.append(rng.random((24, 24)) + 0.6 * m * rng.random((24, 24)))
    got = aupro(masks, maps, n_thresholds=3000)
    assert got == pytest.approx(brute_aupro(masks, maps), abs=2e-3)
    # a perfect map: PRO = 1 from FPR 0 on
    assert aupro(masks, [m.astype(float) for m in masks]) == pytest.approx(1.0, abs=1e-9)


def test_iou_and_rates():
    a = np.zeros((10, 10), bool)
    a[2:6, 2:6] = True
    b = np.zeros((10, 10), bool)
    b[4:8, 4:8] = True
    assert iou(a, b) == pytest.approx(4 / 28)
    assert iou(a, a) == 1.0 and iou(~a & a, ~a & a) == 1.0
    r = reject_rates([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.9, 0.3, 0.8, 0.25], threshold=0.5)
    assert r.false_reject_rate == pytest.approx(0.25) and r.escape_rate == pytest.approx(0.5)


def test_threshold_for_target_frr_uses_good_modules_only():
    s = np.arange(1, 101, dtype=float)  # 100 good modules
    t = threshold_for_frr(s, 0.05)
    assert np.mean(s > t) <= 0.05 and np.mean(s > t - 1) > 0.05
    assert threshold_for_frr(s, 0.0) == 100.0
    with pytest.raises(InputError):
        threshold_for_frr([], 0.01)


def test_bad_input():
    with pytest.raises(InputError, match="both classes"):
        auroc([1, 1], [0.1, 0.2])
    with pytest.raises(InputError, match="same length"):
        auroc([1, 0], [0.1])
    with pytest.raises(InputError, match="NaN"):
        auroc([1, 0], [np.nan, 0.1])
    with pytest.raises(InputError, match="region"):
        aupro([np.zeros((4, 4), bool)], [np.zeros((4, 4))])
