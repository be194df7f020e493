"""Repair of defect pixels and blemishes, measured against the clean truth."""

import numpy as np
import pytest

from camforge.errors import InputError
from camforge.qualify.inpaint import (
    LearnedInpainter, estimate_transmission, random_defect_mask, repair_blemish, repair_error, repair_pixels,
)
from camforge.qualify.simulate import KINDS, simulate_module

from test_qualify_sim import DESIGN

SMALL = {"size": (128, 96)}


def _defect_mask(m):
    lab = m.truth.mask
    return np.isin(lab, [KINDS.index(k) + 1 for k in ("dead_pixels", "stuck_pixels", "cluster")])


def test_median_repair_of_defect_pixels_on_a_chart():
    m = simulate_module(DESIGN, 1, seed=3, force_kinds=["dead_pixels", "cluster"], config=SMALL, clean=True)
    mask = _defect_mask(m)
    assert mask.sum() >= 10
    chart, clean = m.captures["chart"], m.clean["chart"]
    before = repair_error(chart, clean, mask)
    after = repair_error(repair_pixels(chart, mask), clean, mask)
    assert after["rmse_dn"] < 0.25 * before["rmse_dn"]
    # pixels outside the mask are untouched
    out = repair_pixels(chart, mask).data[0, 0].numpy()
    assert np.array_equal(out[~mask], chart.data[0, 0].numpy()[~mask])


def test_shading_aware_blemish_repair():
    cfg = {**SMALL, "defects": {"dust_contrast": (0.2, 0.3), "dust_shadow_frac": (0.2, 0.25)}}
    m = simulate_module(DESIGN, 2, seed=4, force_kinds=["dust"], config=cfg, clean=True)
    mask = m.truth.mask > 0
    T = estimate_transmission(m.captures["flat_hi"], mask)
    assert T[mask].min() < 0.85 and np.all(T[~mask][:5] == 1.0)
    chart, clean = m.captures["chart"], m.clean["chart"]
    before = repair_error(chart, clean, mask)
    after = repair_error(repair_blemish(chart, T), clean, mask)
    assert after["rmse_dn"] < 0.5 * before["rmse_dn"]


def test_learned_inpainter_trains_saves_and_reloads(tmp_path):
    clean = [simulate_module(DESIGN, i, seed=5, force_kinds=[], config=SMALL).captures["chart"] for i in range(3)]
    net = LearnedInpainter(width=12, steps=60, crop=32, seed=2).fit(clean)
    target = simulate_module(DESIGN, 9, seed=6, force_kinds=[], config=SMALL).captures["chart"]
    mask = random_defect_mask(np.random.default_rng(1), 96, 128, n_pixels=60, n_clusters=4, n_lines=0)
    broken = repair_pixels(target, np.zeros_like(mask))  # a copy
    d = broken.data[0, 0].numpy().copy()
    d[mask] = 0.0
    from camforge.types import Raw
    import torch

    broken = Raw(torch.from_numpy(d)[None, None], target.meta)
    e_learned = repair_error(net.repair(broken, mask), target, mask)["rmse_dn"]
    e_none = repair_error(broken, target, mask)["rmse_dn"]
    assert e_learned < 0.5 * e_none
    net.save(tmp_path / "inp")
    again = LearnedInpainter.load(tmp_path / "inp")
    assert np.array_equal(again.repair(broken, mask).data.numpy(), net.repair(broken, mask).data.numpy())


def test_bad_masks():
    m = simulate_module(DESIGN, 1, seed=3, force_kinds=[], config=SMALL)
    with pytest.raises(InputError, match="mask"):
        repair_pixels(m.captures["flat_hi"], np.zeros((10, 10), bool))
    with pytest.raises(InputError, match="transmission"):
        repair_blemish(m.captures["flat_hi"], np.zeros((96, 128)))
    with pytest.raises(InputError, match="not trained"):
        LearnedInpainter().repair(m.captures["flat_hi"], np.zeros((96, 128), bool))
