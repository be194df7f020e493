"""Pareto fronts and hypervolume against exact and Monte-Carlo references."""

from __future__ import annotations

import numpy as np
import pytest

from camforge.design import evaluations_to_reach, hypervolume, hypervolume_curve, pareto_mask
from camforge.errors import InputError


def brute_pareto(Y: np.ndarray) -> np.ndarray:
    """Non-dominated rows for maximisation, by definition."""
    n = len(Y)
    return np.array([not any((Y[j] >= Y[i]).all() and (Y[j] > Y[i]).any() for j in range(n)) for i in range(n)])


def hv2d_exact(Y: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume (maximisation): sweep the front sorted by the first objective."""
    P = Y[(Y > ref).all(1)]
    P = P[brute_pareto(P)]
    P = P[np.argsort(-P[:, 0])]
    hv, y_prev = 0.0, ref[1]
    for x, y in P:
        hv += (x - ref[0]) * (y - y_prev)
        y_prev = y
    return hv


def test_pareto_mask_matches_the_definition():
    rng = np.random.default_rng(0)
    Y = rng.random((60, 3))
    Y[5] = Y[6]  # duplicates are both non-dominated when on the front
    assert (pareto_mask(Y, ["maximize"] * 3) == brute_pareto(Y)).all()
    # minimisation of one objective is maximisation of its negative
    dirs = ["maximize", "minimize", "maximize"]
    assert (pareto_mask(Y, dirs) == brute_pareto(Y * np.array([1, -1, 1]))).all()
    Y[3, 1] = np.nan
    assert not pareto_mask(Y, dirs)[3]


def test_hypervolume_2d_exact_and_directions():
    rng = np.random.default_rng(1)
    Y = rng.random((40, 2))
    ref = np.array([0.1, 0.05])
    assert hypervolume(Y, ["maximize", "maximize"], ref) == pytest.approx(hv2d_exact(Y, ref), rel=1e-12)
    # the same problem written with a minimised objective (negated values and reference)
    Z = Y * np.array([1, -1])
    assert hypervolume(Z, ["maximize", "minimize"], ref * np.array([1, -1])) == pytest.approx(hv2d_exact(Y, ref))
    # one point: a rectangle
    assert hypervolume([[3.0, 1.0]], ["maximize", "minimize"], [1.0, 4.0]) == pytest.approx(2.0 * 3.0)
    # points not dominating the reference add nothing
    assert hypervolume([[0.0, 5.0]], ["maximize", "minimize"], [1.0, 4.0]) == 0.0


def test_hypervolume_3d_against_monte_carlo():
    rng = np.random.default_rng(2)
    Y = rng.random((25, 3)) ** 0.5
    ref = np.zeros(3)
    exact = hypervolume(Y, ["maximize"] * 3, ref)
    S = rng.random((400_000, 3))
    dominated = np.zeros(len(S), bool)
    for y in Y:
        dominated |= (S <= y).all(1)
    mc = dominated.mean()
    se = np.sqrt(mc * (1 - mc) / len(S))
    assert exact == pytest.approx(mc, abs=4 * se)


def test_hypervolume_curve_and_evaluations_to_reach():
    Y = np.array([[1, 1], [2, 0.5], [0.5, 3], [3, 3], [0.1, 0.1]], float)
    feas = np.array([True, True, True, False, True])
    c = hypervolume_curve(Y, feas, ["maximize", "maximize"], [0, 0])
    expected = [hv2d_exact(Y[: k + 1][feas[: k + 1]], np.zeros(2)) for k in range(len(Y))]
    assert np.allclose(c, expected)
    assert (np.diff(c) >= 0).all()
    assert evaluations_to_reach(c, 0.95 * c[-1]) == 3
    assert evaluations_to_reach(c, 100.0) is None


def test_hypervolume_bad_input():
    with pytest.raises(InputError, match="directions"):
        hypervolume([[1, 2]], ["up", "down"], [0, 0])
    with pytest.raises(InputError, match="reference point"):
        hypervolume([[1, 2]], ["maximize", "maximize"], [0, float("nan")])
    with pytest.raises(InputError, match="n × 2"):
        hypervolume([[1, 2, 3]], ["maximize", "maximize"], [0, 0])


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_sweep_matches_botorch_box_decomposition(m):
    # the 2-/3-objective sweep against BoTorch's exact box decomposition (an independent algorithm)
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    rng = np.random.default_rng(10 + m)
    for n in (1, 7, 80):
        Y = rng.random((n, m)) ** 0.7
        Y[0] = Y[-1]  # a duplicate
        ref = np.full(m, 0.05)
        P = Y[(Y > ref).all(1)]
        P = P[brute_pareto(P)]
        want = float(Hypervolume(ref_point=torch.as_tensor(ref)).compute(torch.as_tensor(P))) if len(P) else 0.0
        assert hypervolume(Y, ["maximize"] * m, ref) == pytest.approx(want, rel=1e-12, abs=1e-15)
