"""Pareto fronts and hypervolume.

Objective vectors are in natural units with a direction per objective (``maximize`` /
``minimize``). The hypervolume is the Lebesgue measure of the region dominated by the
front and bounded by a reference point (Zitzler & Thiele 1998), exactly: for two objectives
by a sweep along the first (O(n log n)); for three by slicing along the third and summing the
two-objective volumes of the slices (the "HSO" slicing of While et al., "A faster algorithm
for calculating hypervolume", IEEE TEC 10(1), 2006; O(n² log n)); for more objectives by
BoTorch's box-decomposition algorithm
(:class:`botorch.utils.multi_objective.hypervolume.Hypervolume`) — which is also the
independent reference of the 2- and 3-objective sweeps in tests/test_design_pareto.py.
Minimised objectives are flipped first. Only feasible points that strictly dominate the
reference point contribute.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from camforge.errors import InputError


def _signs(directions: Sequence[str]) -> np.ndarray:
    bad = [d for d in directions if d not in ("maximize", "minimize")]
    if bad:
        raise InputError(f"directions must be 'maximize' or 'minimize', got {bad}")
    return np.array([1.0 if d == "maximize" else -1.0 for d in directions])


def _as_points(points, m: int) -> np.ndarray:
    Y = np.asarray(points, dtype=np.float64)
    if Y.size == 0:
        return np.zeros((0, m))
    if Y.ndim != 2 or Y.shape[1] != m:
        raise InputError(f"objective values must be an n × {m} array, got shape {Y.shape}")
    return Y


def pareto_mask(points, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows (NaN rows are never on the front)."""
    s = _signs(directions)
    Y = _as_points(points, len(s)) * s
    n = len(Y)
    ok = np.isfinite(Y).all(1)
    mask = ok.copy()
    for i in np.flatnonzero(ok):
        if not mask[i]:
            continue
        others = Y[ok]
        dom = (others >= Y[i]).all(1) & (others > Y[i]).any(1)
        if dom.any():
            mask[i] = False
    return mask if n else np.zeros(0, bool)


def hypervolume(points, directions: Sequence[str], reference: Sequence[float]) -> float:
    """Hypervolume of ``points`` (n × m, natural units) w.r.t. ``reference`` (natural units)."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    s = _signs(directions)
    r = np.asarray(reference, dtype=np.float64) * s
    if r.shape != s.shape or not np.isfinite(r).all():
        raise InputError(f"reference point must have {len(s)} finite values, got {reference!r}")
    Y = _as_points(points, len(s)) * s
    Y = Y[np.isfinite(Y).all(1)]
    Y = Y[(Y > r).all(1)]
    if len(Y) == 0:
        return 0.0
    if len(s) <= 3:
        return _hv_sweep(Y - r)
    Y = Y[pareto_mask(Y, ["maximize"] * len(s))]
    hv = Hypervolume(ref_point=torch.as_tensor(r, dtype=torch.float64))
    return float(hv.compute(torch.as_tensor(Y, dtype=torch.float64)))


def _hv2(P: np.ndarray) -> float:
    """Area dominated by the rows of ``P`` (n × 2, all > 0; maximisation; reference 0)."""
    o = np.argsort(-P[:, 0], kind="stable")
    x = P[o, 0]
    y = np.maximum.accumulate(P[o, 1])
    return float(np.sum((x - np.append(x[1:], 0.0)) * y))


def _hv_sweep(P: np.ndarray) -> float:
    """Exact hypervolume of the rows of ``P`` (n × m, m ≤ 3, all > 0; maximisation; reference 0)."""
    m = P.shape[1]
    if m == 1:
        return float(P[:, 0].max())
    if m == 2:
        return _hv2(P)
    o = np.argsort(-P[:, 2], kind="stable")
    P = P[o]
    z = np.append(P[:, 2], 0.0)
    total = 0.0
    for k in range(len(P)):
        dz = z[k] - z[k + 1]
        if dz > 0:
            total += dz * _hv2(P[: k + 1, :2])
    return float(total)


def hypervolume_curve(points, feasible, directions: Sequence[str], reference: Sequence[float]) -> np.ndarray:
    """Hypervolume of the feasible points among the first k evaluations, for k = 1 … n."""
    Y = _as_points(points, len(directions))
    feas = np.asarray(feasible, dtype=bool)
    out = np.zeros(len(Y))
    s = _signs(directions)
    r = np.asarray(reference, dtype=np.float64) * s
    front = np.zeros((0, len(s)))
    hv = 0.0
    for k in range(len(Y)):
        y = Y[k] * s
        if feas[k] and np.isfinite(y).all() and (y > r).all():
            dominated = len(front) and ((front >= y).all(1)).any()
            if not dominated:
                front = np.vstack([front[~((y >= front).all(1))], y])
                hv = hypervolume(front * s, directions, reference)
        out[k] = hv
    return out


def evaluations_to_reach(curve: Sequence[float], target: float) -> int | None:
    """Evaluations (1-based) after which ``curve`` first reaches ``target``; None if never."""
    c = np.asarray(curve, dtype=np.float64)
    hit = np.flatnonzero(c >= target)
    return int(hit[0]) + 1 if hit.size else None


__all__ = ["evaluations_to_reach", "hypervolume", "hypervolume_curve", "pareto_mask"]
