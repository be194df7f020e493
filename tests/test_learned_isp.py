"""Learned demosaic + denoise stage: noise model against the simulator, network properties
(homogeneity, receptive field, CFA phases, tiling, gradients), the shipped weights, the ISP
config registration and reproducible training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from camforge.camera import Camera
from camforge.errors import ConfigError, FormatError, InputError
from camforge.isp import IspConfig, Pipeline, demosaic
from camforge.isp._common import pack, unpack
from camforge.isp.learned import (
    DemosaicNet, LearnedDemosaic, NoiseModel, learned_demosaic, load_demosaic_net, noise_sigma_planes,
)
from camforge.sensor import Sensor
from camforge.tasks.learned_isp import (
    LearnedIspTrainConfig, RawSimulator, default_sensor_config, train_learned_demosaic,
)


@pytest.fixture(scope="module")
def shipped():
    return load_demosaic_net()[0]


def test_noise_map_matches_simulated_sensor():
    """σ of the noise map = the temporal noise of camforge's sensor (Poisson + read + row +
    ADC noise + quantisation) on flat, white-balanced fields at several levels and gains."""
    cfg = default_sensor_config().model_copy(update={"width_px": 256, "height_px": 256, "dsnu_e": 0.0,
                                                     "prnu_pct": 0.0, "row_noise_e": 0.0})
    s = Sensor(cfg)
    t = 1 / 30
    gains = torch.tensor([2.0, 1.0, 1.5])
    for e_green, ag in ((30.0, 8.0), (400.0, 2.0), (3.0, 16.0)):
        rate = torch.ones(1, 3, 256, 256) * (e_green / t) / gains.reshape(1, 3, 1, 1)
        a = s(rate, t, analog_gain=ag, seed=1).data
        b = s(rate, t, analog_gain=ag, seed=2).data
        nm = NoiseModel.from_sensor(s, t, ag)
        black, white = float(cfg.black_level_dn), float(cfg.white_level_dn)
        pa = pack((a - black) / (white - black), 2)[0] * gains[[0, 1, 1, 2]].reshape(4, 1, 1)
        pb = pack((b - black) / (white - black), 2)[0] * gains[[0, 1, 1, 2]].reshape(4, 1, 1)
        measured = ((pa - pb).flatten(1).var(1) / 2).sqrt()  # temporal σ from a frame difference
        sig = noise_sigma_planes(pa[None], gains[None], nm.k_per_e, nm.dark_noise_e)[0].flatten(1).mean(1)
        np.testing.assert_allclose(sig.numpy(), measured.numpy(), rtol=0.04)


def test_noise_model_errors():
    with pytest.raises(InputError):
        NoiseModel(0.0, 2.0)
    with pytest.raises(InputError, match="white level"):
        NoiseModel.from_levels(1.0, 100.0, 50.0, 2.0)


def test_network_is_homogeneous_and_local():
    torch.manual_seed(0)
    net = DemosaicNet((4, 6, 8)).double()
    p = torch.rand(1, 4, 32, 32, dtype=torch.float64)
    s = 0.05 * torch.rand(1, 4, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        y = net(p, s)
        np.testing.assert_allclose(net(7.5 * p, 7.5 * s).numpy(), 7.5 * y.numpy(), rtol=1e-10, atol=1e-12)
        # receptive field: a change at one plane pixel reaches at most radius_planes() around it
        q = p.clone()
        q[0, 1, 16, 16] += 1.0
        d = (net(q, s) - y).abs().sum(1)[0]
    rows, cols = torch.nonzero(d > 0, as_tuple=True)
    r = net.radius_planes()
    assert rows.numel() > 0
    assert int((rows // 2 - 16).abs().max()) <= r and int((cols // 2 - 16).abs().max()) <= r


def test_gradients_flow_to_the_mosaic():
    torch.manual_seed(1)
    net = DemosaicNet((2, 3)).double()
    x = (0.2 + 0.6 * torch.rand(1, 1, 8, 8, dtype=torch.float64)).requires_grad_()
    nm = NoiseModel(0.01, 2.0)
    f = lambda m: learned_demosaic(m, "RGGB", noise=nm, net=net, band_rows=None)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)


def test_other_bayer_phases_match_rggb(shipped):
    """A GRBG mosaic is the RGGB mosaic shifted by one column: the outputs agree away from
    the borders."""
    torch.manual_seed(2)
    img = torch.rand(1, 3, 96, 98) * 0.3
    from camforge.cfa import color_index_map

    def mosaic(x, cfa):
        idx = color_index_map(cfa, x.shape[-2], x.shape[-1])
        return torch.gather(x, 1, idx[None, None].expand(1, 1, -1, -1))

    nm = NoiseModel(0.003, 2.0)
    a = learned_demosaic(mosaic(img[..., :96], "RGGB"), "RGGB", noise=nm, net=shipped)
    # the GRBG frame starts one column to the right: say so (origin), so the network's pooling
    # grid, fixed to sensor coordinates for seamless tiles, falls on the same pixels
    b = learned_demosaic(mosaic(img[..., 1:97], "GRBG"), "GRBG", noise=nm, net=shipped, origin=(0, 1))
    np.testing.assert_allclose(a[..., 32:-32, 33:-32].numpy(), b[..., 32:-32, 32:-33].numpy(), atol=1e-5)
    # without it the grid is one plane off: a U-Net is not shift-invariant, the outputs differ
    c = learned_demosaic(mosaic(img[..., 1:97], "GRBG"), "GRBG", noise=nm, net=shipped)
    assert float((a[..., 32:-32, 33:-32] - c[..., 32:-32, 32:-33]).abs().max()) > 1e-3


def test_bands_and_pipeline_tiles_equal_one_pass(shipped):
    torch.manual_seed(3)
    x = torch.rand(1, 1, 96, 80) * 0.2
    nm = NoiseModel(0.004, 2.0)
    one = learned_demosaic(x, "RGGB", noise=nm, net=shipped, band_rows=None)
    bands = learned_demosaic(x, "RGGB", noise=nm, net=shipped, band_rows=24)
    np.testing.assert_allclose(bands.numpy(), one.numpy(), atol=1e-5)
    cam = Camera({"name": "t", "lens": {"focal_length_mm": 4.4, "f_number": 2.0},
                  "sensor": {"width_px": 160, "height_px": 128, "pixel_pitch_um": 1.4, "full_well_e": 6000},
                  "isp": {"demosaic": {"method": "learned"}, "dpc": {"enable": False}}})
    assert isinstance(cam.isp.stages["demosaic"], LearnedDemosaic)
    raw = cam.capture(cam.chart("dead-leaves", lux=20, spectral=False, size_px=256), seed=0)
    full = cam.isp(raw)
    tiled = cam.isp.run_tiled(raw, tile=64)
    assert full.data.shape == (1, 3, 128, 160) and bool(torch.isfinite(full.data).all())
    np.testing.assert_allclose(tiled.data.numpy(), full.data.numpy(), atol=2e-4)


def test_shipped_weights_denoise_a_kodak_crop(shipped, data):
    """At a white level of 50 e⁻ (gain 8) the learned stage beats Menon without denoising by
    a wide margin on a Kodak crop (the weights never saw Kodak)."""
    from PIL import Image

    from camforge.isp.tone import srgb_encode

    f = data / "kodak" / "kodim23.png"
    if not f.exists():
        pytest.skip(f"missing {f}")
    with Image.open(f) as im:
        ref = np.asarray(im.convert("RGB"), dtype=np.float64)[200:328, 300:428] / 255.0
    import colour

    lin = torch.from_numpy(colour.cctf_decoding(ref, function="sRGB").transpose(2, 0, 1).copy()).float()
    sim = RawSimulator(default_sensor_config(), size_px=128)
    gains = sim.gains["D65"]
    p, _, _, sc = sim.simulate(lin, 50.0, 8.0, gains, seed=0)

    def cpsnr(x):
        d = srgb_encode(x / sc).clamp(0, 1)[0].permute(1, 2, 0).double().numpy() - ref
        return 10 * math.log10(1 / np.mean(d[10:-10, 10:-10] ** 2))

    x = unpack(p[None], 2)
    learned = cpsnr(learned_demosaic(x, "RGGB", noise=sim.noise_model(8.0), gains=gains, net=shipped))
    menon = cpsnr(demosaic(x, "RGGB", "menon"))
    assert learned > menon + 5.0, (learned, menon)


def test_isp_config_registration(tmp_path):
    cfg = IspConfig.model_validate({"demosaic": {"method": "learned", "weights": None, "dark_noise_e": 1.5}})
    pipe = Pipeline(cfg)
    st = pipe.stages["demosaic"]
    assert isinstance(st, LearnedDemosaic) and st.dark_noise_e == 1.5
    with pytest.raises(ConfigError, match="weigths"):
        Pipeline({"demosaic": {"method": "learned", "weigths": "x"}})
    with pytest.raises(FormatError, match="no config.json"):
        Pipeline({"demosaic": {"method": "learned", "weights": str(tmp_path)}})
    # a raw without the system gain K needs it in the config
    from camforge.types import Raw, RawMeta

    raw = Raw(torch.full((1, 1, 16, 16), 300.0), RawMeta(cfa="RGGB", black_level_dn=64, white_level_dn=1023))
    with pytest.raises(InputError, match="conversion_gain_dn_per_e"):
        pipe(raw)
    pipe2 = Pipeline({"demosaic": {"method": "learned", "conversion_gain_dn_per_e": 1.2}})
    assert pipe2(raw, stop="demosaic").data.shape == (1, 3, 16, 16)


def test_training_is_reproducible(tmp_path):
    cfg = LearnedIspTrainConfig(widths=(4, 8), steps=3, batch=2, patch_px=16, natural_fraction=0.0, n_leaves=1,
                                leaves_px=64, threads=1)
    a = train_learned_demosaic(tmp_path / "a", config=cfg)
    b = train_learned_demosaic(tmp_path / "b", config=cfg)
    c = train_learned_demosaic(tmp_path / "c", config=LearnedIspTrainConfig(**{**cfg.__dict__, "seed": 5}))
    assert a.weights_sha256 == b.weights_sha256 != c.weights_sha256
    assert (tmp_path / "a" / "weights.npz").read_bytes() == (tmp_path / "b" / "weights.npz").read_bytes()
    net, conf = load_demosaic_net(tmp_path / "a")
    assert conf["train"]["seed"] == 0 and net.widths == (4, 8)
