"""Full-reference metrics against scikit-image (PSNR, SSIM) and colour-science (ΔE00)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camforge.errors import InputError
from camforge.metrics.reference import SSIMLoss, compare_images, delta_e00_map, psnr, ssim

skm = pytest.importorskip("skimage.metrics")
colour = pytest.importorskip("colour")


def _pair(seed=0, shape=(64, 80, 3)):
    rng = np.random.default_rng(seed)
    from scipy.ndimage import gaussian_filter

    ref = gaussian_filter(rng.random(shape), (2, 2, 0)[: len(shape)])
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    test = np.clip(ref + rng.normal(0, 0.05, shape), 0, 1)
    return test, ref


def test_psnr_matches_skimage():
    test, ref = _pair()
    ours = float(psnr(test, ref, 1.0)[0])
    assert ours == pytest.approx(skm.peak_signal_noise_ratio(ref, test, data_range=1.0), rel=1e-12)
    assert float(psnr(ref, ref)[0]) == np.inf


@pytest.mark.parametrize("shape", [(64, 80, 3), (48, 50)])
def test_ssim_matches_skimage(shape):
    test, ref = _pair(1, shape)
    kw = {"channel_axis": -1} if len(shape) == 3 else {}
    theirs = skm.structural_similarity(ref, test, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, **kw)
    assert float(ssim(test, ref, 1.0)[0]) == pytest.approx(theirs, abs=1e-10)
    assert float(ssim(ref, ref)[0]) == pytest.approx(1.0, abs=1e-12)


def test_ssim_is_batched_and_differentiable():
    torch.manual_seed(0)
    ref = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    x = (ref + 0.1 * torch.randn_like(ref)).requires_grad_(True)
    s = ssim(x, ref)
    assert s.shape == (2,)
    assert float(s[0].detach()) == pytest.approx(float(ssim(x[:1], ref[:1])[0].detach()), abs=1e-12)
    assert torch.autograd.gradcheck(lambda a: ssim(a, ref[:, :1, :12, :12]), (x[:, :1, :12, :12].detach().requires_grad_(),))
    assert torch.autograd.gradcheck(lambda a: psnr(a, ref[:, :1, :8, :8]), (x[:, :1, :8, :8].detach().requires_grad_(),))
    loss = SSIMLoss()(x.float(), ref.float())
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_delta_e00_map_matches_colour_science_and_compare_images():
    test, ref = _pair(2)
    de = delta_e00_map(test, ref)
    lab = lambda a: colour.XYZ_to_Lab(colour.sRGB_to_XYZ(a))  # noqa: E731
    np.testing.assert_allclose(de, colour.delta_E(lab(test), lab(ref), method="CIE 2000"), atol=1e-8)
    r = compare_images((test * 255).round().astype(np.uint8), (ref * 255).round().astype(np.uint8))
    assert r.data_range == 255
    t8, r8 = (test * 255).round().astype(np.uint8), (ref * 255).round().astype(np.uint8)
    assert r.psnr_db == pytest.approx(skm.peak_signal_noise_ratio(r8, t8), rel=1e-9)
    assert r.delta_e00_mean == pytest.approx(float(delta_e00_map(t8, r8).mean()), rel=1e-9)
    assert set(r.to_dict()) >= {"psnr_db", "ssim", "delta_e00_mean"}


def test_full_reference_bad_input():
    test, ref = _pair()
    with pytest.raises(InputError, match="differ in shape"):
        psnr(test[:10], ref)
    with pytest.raises(InputError, match="NaN"):
        ssim(np.full_like(ref, np.nan), ref)
    with pytest.raises(InputError, match="at least 11"):
        ssim(test[:8, :8], ref[:8, :8])
    with pytest.raises(InputError, match="RGB"):
        delta_e00_map(test[..., 0], ref[..., 0])
