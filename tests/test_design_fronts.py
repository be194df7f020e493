"""The shipped reference Pareto fronts: consistent files, recomputable, reproducible designs."""

from __future__ import annotations

import numpy as np
import pytest

from camforge.design import Problem, bundled_spaces, hypervolume, reference_front
from camforge.errors import ConfigError


@pytest.mark.parametrize("name", ["phone_main", "automotive_front"])
def test_reference_front_is_a_front_with_its_hypervolume_and_reproducible_designs(name):
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    assert name in bundled_spaces()
    ref = reference_front(name)
    pr = Problem(name, "fast")
    assert ref["objectives"] == [o.name for o in pr.objectives] and ref["directions"] == pr.directions
    assert ref["reference_point"] == pr.reference_point
    s = np.array(pr.signs)
    Y = np.array(ref["front"]) * s
    r = np.array(ref["reference_point"]) * s
    assert len(Y) == ref["n_points"] == len(ref["params"]) >= 3
    inside = (Y > r).all(1)  # only designs better than the reference point in every objective add volume
    assert inside.sum() >= 3
    for i in range(len(Y)):  # mutually non-dominated, by definition
        assert not ((Y >= Y[i]).all(1) & (Y > Y[i]).any(1)).any()
    # the stored hypervolume, recomputed (our sweep is checked against BoTorch in test_design_pareto);
    # BoTorch itself on a subset of the front against our sweep on the same subset
    assert ref["hypervolume"] == pytest.approx(hypervolume(ref["front"], pr.directions, pr.reference_point), rel=1e-12)
    sub = Y[inside][:: max(1, int(inside.sum()) // 60)]
    want = float(Hypervolume(ref_point=torch.as_tensor(r)).compute(torch.as_tensor(sub)))
    assert hypervolume(sub * s, pr.directions, pr.reference_point) == pytest.approx(want, rel=1e-12)
    assert "--make-fronts" in ref["command"] and ref["runs"]
    # designs on the front re-evaluate to the stored objectives (the fast evaluator is deterministic)
    for i in np.linspace(0, len(Y) - 1, 3).astype(int):
        ev = pr.evaluate(ref["params"][i])
        assert ev.feasible
        np.testing.assert_allclose(ev.objectives, ref["front"][i], rtol=1e-6)


def test_unknown_reference_front():
    with pytest.raises(ConfigError, match="no reference front"):
        reference_front("nope")
