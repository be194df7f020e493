"""Scoring a detector against the ground truth of a simulated lot (or in-memory modules)."""

from __future__ import annotations

from typing import Any

import numpy as np

from camforge.errors import CamforgeError, InputError
from camforge.qualify.metrics import aupro, auroc, pixel_auroc, reject_rates


def evaluate_scores(labels, scores, maps, masks, kinds, *, threshold: float | None = None,
                    covers: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Image AUROC, pixel AUROC, AUPRO, FRR/escape (overall and per defect kind).

    ``kinds[i]`` are the injected kinds of module ``i`` (empty = good). With ``covers``, modules
    whose every kind lies outside it are left out (the detector is not meant to see them) and
    mask pixels of uncovered kinds are ignored.
    """
    n = len(labels)
    if not (len(scores) == len(maps) == len(masks) == len(kinds) == n):
        raise InputError("labels, scores, maps, masks and kinds must have one entry per module")
    keep = [i for i in range(n) if not kinds[i] or covers is None or set(kinds[i]) & set(covers)]
    y = np.array([bool(labels[i]) for i in keep])
    s = np.array([scores[i] for i in keep], dtype=float)
    out: dict[str, Any] = {"modules": len(keep), "defective": int(y.sum())}
    out["image_auroc"] = auroc(y, s) if 0 < y.sum() < y.size else float("nan")
    dm = [masks[i] for i in keep]
    mp = [maps[i] for i in keep]
    if any(m.any() for m in dm):
        out["pixel_auroc"] = pixel_auroc(dm, mp)
        out["aupro"] = aupro(dm, mp)
    if threshold is not None:
        out.update({k: v for k, v in reject_rates(y, s, threshold).to_dict().items()})
    per: dict[str, Any] = {}
    all_kinds = sorted({k for i in keep for k in kinds[i]})
    good = [j for j, i in enumerate(keep) if not kinds[i]]
    for k in all_kinds:
        sel = [j for j, i in enumerate(keep) if kinds[i] and k in kinds[i]]
        if not sel or not good:
            continue
        ys = np.array([False] * len(good) + [True] * len(sel))
        ss = np.concatenate([s[good], s[sel]])
        d = {"n": len(sel), "image_auroc": auroc(ys, ss)}
        if any(dm[j].any() for j in sel):
            d["pixel_auroc"] = pixel_auroc([dm[j] for j in good + sel], [mp[j] for j in good + sel])
        else:
            d["pixel_auroc"] = float("nan")
        if threshold is not None:
            d["escape_rate"] = float(np.mean(s[sel] <= threshold))
        per[k] = d
    out["per_kind"] = per
    return out


def evaluate_detector(detector, lot) -> dict[str, Any]:
    """Score every readable module's ``flat_hi`` of a simulated lot against its truth."""
    from camforge.qualify.lot import read_capture
    from camforge.qualify.simulate import KINDS

    covers = tuple(detector.covers) or None
    labels, scores, maps, masks, kinds = [], [], [], [], []
    skipped = 0
    for m in lot.modules:
        t = lot.truth(m.module_id)
        if t is None or "flat_hi" not in m.captures:
            skipped += 1
            continue
        try:
            raw = read_capture(m.captures["flat_hi"])
        except CamforgeError:
            skipped += 1
            continue
        lab = lot.truth_mask(m.module_id)
        mk = np.zeros(raw.data.shape[-2:], bool) if lab is None else lab > 0
        if covers is not None and lab is not None:
            ok = np.isin(lab, [KINDS.index(k) + 1 for k in covers if k in KINDS])
            mk = mk & ok
        sc, mp = detector.score(raw)
        labels.append(bool(t.get("defective")))
        scores.append(sc)
        maps.append(mp)
        masks.append(mk)
        kinds.append(list(t.get("kinds", [])))
    if not labels:
        raise InputError(f"{lot.root}: no module with ground truth and a readable flat_hi")
    res = evaluate_scores(labels, scores, maps, masks, kinds, threshold=detector.threshold, covers=covers)
    res["skipped"] = skipped
    res["detector"] = detector.name
    return res


__all__ = ["evaluate_detector", "evaluate_scores"]
