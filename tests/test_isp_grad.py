"""Every ISP stage passes gradients to its parameters (gradcheck, float64, small inputs)."""

from __future__ import annotations

import torch
from torch.autograd import gradcheck

from camforge.isp import (
    Pipeline, apply_ccm, bilateral, bilateral_raw, black_level, demosaic, dpc, lens_shading, nlm, nlm_raw,
    rgb_to_yuv, tone, unsharp_mask, white_balance,
)

D = torch.float64


def _mosaic(seed=0, h=8, w=8, lo=0.2, hi=0.8):
    g = torch.Generator().manual_seed(seed)
    return (lo + (hi - lo) * torch.rand(1, 1, h, w, generator=g, dtype=D)).requires_grad_()


def _image(seed=0, h=8, w=8):
    g = torch.Generator().manual_seed(seed)
    return (0.1 + 0.8 * torch.rand(1, 3, h, w, generator=g, dtype=D)).requires_grad_()


def p(v):
    return torch.tensor(v, dtype=D, requires_grad=True)


def test_black_level_grad():
    x = _mosaic() * 1000
    assert gradcheck(lambda x, b, w: black_level(x, "RGGB", b, w), (x, p([60.0, 64.0, 66.0, 62.0]), p(1023.0)))


def test_dpc_grad():
    x = _mosaic(1).detach().clone()
    x[0, 0, 4, 4] = 0.95  # a bright outlier near the detection threshold
    x.requires_grad_()
    # wide softness so the flags are in their smooth range for the numerical derivative
    assert gradcheck(lambda x, t, r, k: dpc(x, "RGGB", threshold=t, threshold_rel=r, threshold_texture=k, softness=0.5),
                     (x, p(0.05), p(0.3), p(1.5)))


def test_lsc_grad():
    x = _mosaic(2)
    grid = (1.0 + 0.2 * torch.rand(4, 3, 3, dtype=D)).requires_grad_()
    assert gradcheck(lambda x, g, s: lens_shading(x, "RGGB", g, strength=s), (x, grid, p(0.8)))
    assert gradcheck(lambda x, k: lens_shading(x, "BGGR", radial=k), (x, p([0.3, 0.1])))


def test_awb_grad():
    x = _mosaic(3)
    assert gradcheck(lambda x, g: white_balance(x, "RGGB", g), (x, p([1.8, 1.0, 1.4])))
    for m in ("grey_world", "white_patch", "grey_edge"):
        assert gradcheck(lambda x: white_balance(x, "GBRG", method=m, percentile=90.0), (x,)), m


def test_demosaic_grad():
    x = _mosaic(4, 8, 8)
    for m in ("bilinear", "malvar", "menon"):
        assert gradcheck(lambda x: demosaic(x, "RGGB", m), (x,)), m


def test_denoise_grad():
    x = _image(5)
    assert gradcheck(lambda x, h: nlm(x, h, 3, 3), (x, p(0.05)))
    assert gradcheck(lambda x, s, ss: bilateral(x, s, ss, 3), (x, p(0.05), p(1.2)))
    m = _mosaic(6)
    assert gradcheck(lambda m, h: nlm_raw(m, "RGGB", h, 3, 1), (m, p(0.05)))
    assert gradcheck(lambda m, s: bilateral_raw(m, "RGGB", s, 1.0, 3), (m, p(0.05)))


def test_ccm_grad():
    M = p([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.0, -0.5, 1.5]])
    assert gradcheck(apply_ccm, (_image(7), M))


def test_tone_grad():
    x = _image(8)
    assert gradcheck(lambda x, e: tone(x, "srgb", exposure_gain=e), (x, p(0.9)))
    assert gradcheck(lambda x, g: tone(x, "gamma", gamma=g), (x, p(2.2)))
    assert gradcheck(lambda x, g, c, v: tone(x, "s_curve", gamma=g, contrast=c, pivot=v), (x, p(2.2), p(1.5), p(0.45)))


def test_sharpen_grad():
    x = _image(9, 10, 10)
    assert gradcheck(lambda x, a, s: unsharp_mask(x, a, s, 0.0, "luma", clip=False), (x, p(0.7), p(1.1)))
    assert gradcheck(lambda x, a, t: unsharp_mask(x, a, 1.0, t, "rgb", clip=False), (x, p(0.7), p(0.01)))


def test_yuv_grad():
    x = _image(10)
    for std in ("bt601", "bt709"):
        for rng in ("full", "limited"):
            assert gradcheck(lambda x: rgb_to_yuv(x, std, rng), (x,))


def test_pipeline_gradients_reach_every_parameter():
    """The assembled pipeline (float32) back-propagates to the parameters of every stage."""
    from camforge.types import Raw, RawMeta

    cfg = {
        "black_level": {"black_level_dn": 64.0},
        "dpc": {"enable": True, "softness": 0.5},
        "lsc": {"enable": True, "gains": [[[1.2, 1.1], [1.1, 1.3]]] * 4},
        "awb": {"method": "manual", "gains": [1.8, 1.0, 1.5]},
        "denoise": {"enable": True, "strength": 0.05},
        "ccm": {"source": "matrix", "matrix": [[1.5, -0.3, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.4, 1.4]]},
        "tone": {"curve": "s_curve"},
        "sharpen": {"amount": 0.8, "threshold": 0.001},
        "yuv": {"enable": True},
    }
    pipe = Pipeline(cfg)
    params = dict(pipe.named_parameters())
    for t in params.values():
        t.requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    raw = Raw(64 + 300 * torch.rand(1, 1, 16, 16, generator=g), RawMeta(cfa="RGGB", white_level_dn=1023))
    out = pipe(raw)
    out.data.square().mean().backward()
    stages = {name.split(".")[1] for name in params}
    assert stages == {"black_level", "dpc", "lsc", "awb", "denoise", "ccm", "tone", "sharpen"}
    for name, t in params.items():
        assert t.grad is not None and torch.isfinite(t.grad).all(), name
        assert t.grad.abs().sum() > 0, name
