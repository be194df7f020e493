"""Pipeline: YAML config, start/stop, timings, toggles (no dead wiring), tiling, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from camforge import Camera, CameraDesign
from camforge.errors import ConfigError, InputError
from camforge.isp import STAGES, IspConfig, Pipeline, render_srgb
from camforge.types import Image, Raw, RawMeta

REPO = Path(__file__).resolve().parents[1]
DEFAULT_YAML = REPO / "examples" / "isp" / "default.yaml"


@pytest.fixture(scope="module")
def sim_raw():
    """A noisy, shaded, defective colour capture of a chart (simulated, 192 × 256)."""
    lens = {"focal_length_mm": 4.4, "f_number": 2.0,
            "relative_illumination": {"cra_corner_deg": 30.0, "vignetting_stop_ratio": 1.3, "vignetting_shift_corner": 0.6}}
    sensor = {"width_px": 256, "height_px": 192, "pixel_pitch_um": 1.4, "full_well_e": 6000,
              "defects": {"hot_ppm": 500, "dead_ppm": 500, "stuck_ppm": 300}}
    cam = Camera({"name": "t", "lens": lens, "sensor": sensor})
    return cam.capture(cam.chart("colorchecker", lux=300), seed=0)


def full_config(**over) -> dict:
    cfg = {
        "black_level": {"enable": True},
        "dpc": {"enable": True},
        "lsc": {"enable": True, "radial": [0.6, 0.2]},
        "awb": {"enable": True, "method": "grey_world"},
        "denoise": {"enable": True, "strength": 0.03},
        "demosaic": {"enable": True, "method": "menon"},
        "ccm": {"enable": True, "source": "matrix", "matrix": [[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.0, -0.5, 1.5]]},
        "tone": {"enable": True, "auto_exposure": True},
        "sharpen": {"enable": True, "amount": 0.8},
        "yuv": {"enable": True},
    }
    for k, v in over.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    return cfg


# ---------------------------------------------------------------------------- config
def test_default_yaml_documents_the_defaults():
    assert IspConfig.from_yaml(DEFAULT_YAML) == IspConfig()
    text = DEFAULT_YAML.read_text()
    for name in STAGES:
        section = getattr(IspConfig(), name)
        assert f"\n{name}:" in text
        for field in type(section).model_fields:
            assert f"  {field}:" in text, f"{name}.{field} undocumented in default.yaml"


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="demosaic.methd"):
        Pipeline({"demosaic": {"methd": "menon"}})
    with pytest.raises(ConfigError, match="lsc"):
        Pipeline({"lsc": {"enable": True}})
    with pytest.raises(ConfigError, match="demosaic is disabled"):
        Pipeline({"demosaic": {"enable": False}})
    with pytest.raises(ConfigError, match="odd"):
        Pipeline({"denoise": {"search_window": 4}})
    p = tmp_path / "bad.yaml"
    p.write_text("awb:\n  method: gray_world\n")
    with pytest.raises(ConfigError, match="awb.method"):
        Pipeline.from_yaml(p)


def test_camera_design_isp_section_is_an_isp_config():
    design = CameraDesign.model_validate({
        "lens": {"focal_length_mm": 4.4, "f_number": 2.0},
        "sensor": {"width_px": 64, "height_px": 48, "pixel_pitch_um": 1.4, "full_well_e": 6000},
        "isp": {"demosaic": {"method": "malvar"}, "denoise": {"enable": True}},
    })
    cfg = IspConfig.from_design_section(design.isp)
    assert cfg.demosaic.method == "malvar" and cfg.denoise.enable
    assert IspConfig.from_design_section(None) == IspConfig()
    with pytest.raises(ConfigError, match="isp section"):
        IspConfig.from_design_section({"tone": {"curve": "log"}})


# ---------------------------------------------------------------------------- running
def test_run_stop_start_and_timings(sim_raw):
    pipe = Pipeline(full_config(tone={"auto_exposure": False}, yuv={"enable": False}))
    out = pipe(sim_raw)
    assert isinstance(out, Image) and out.color_space == "srgb" and out.data.shape == (1, 3, 192, 256)
    assert set(pipe.timings) >= set(pipe.enabled) | {"total"}
    assert all(v >= 0 for v in pipe.timings.values())
    stats = pipe.statistics(sim_raw)
    mid_raw = pipe(sim_raw, stop="awb")
    assert isinstance(mid_raw, Raw) and mid_raw.meta.extra["isp_normalized"]
    lin = pipe(mid_raw, start="denoise", stop="ccm", stats=stats)
    assert lin.color_space == "linear_srgb"
    rest = pipe(lin, start="tone")
    assert torch.allclose(rest.data, out.data, atol=1e-5)
    assert pipe(sim_raw, stop="demosaic").color_space == "camera"


def test_stage_names_and_order_errors(sim_raw):
    pipe = Pipeline()
    with pytest.raises(InputError, match="unknown ISP stage"):
        pipe(sim_raw, stop="gamma")
    with pytest.raises(InputError, match="before"):
        pipe(sim_raw, start="tone", stop="awb")
    with pytest.raises(InputError, match="start after demosaic"):
        pipe(pipe(sim_raw, stop="ccm"), start="awb")
    with pytest.raises(InputError, match="raw stage or demosaic"):
        pipe(sim_raw, start="tone")
    assert Pipeline({"denoise": {"domain": "rgb"}}).order.index("denoise") == STAGES.index("denoise")
    assert Pipeline().order.index("denoise") < Pipeline().order.index("demosaic")


@pytest.mark.parametrize("stage", STAGES)
def test_toggling_each_stage_changes_the_output(sim_raw, stage):
    """No dead wiring: with every stage on, switching any one off changes the result."""
    on = Pipeline(full_config())(sim_raw)
    if stage == "demosaic":  # without demosaic only the raw stages can run
        raw_only = {s: {"enable": False} for s in ("ccm", "tone", "sharpen", "yuv", "denoise")}
        a = Pipeline(full_config(**raw_only, demosaic={"enable": False}))(sim_raw)
        b = Pipeline(full_config(**raw_only))(sim_raw)
        assert isinstance(a, Raw) and isinstance(b, Image)
        return
    over = {stage: {"enable": False}}
    if stage == "tone":
        over["yuv"] = {"enable": False}
        on = Pipeline(full_config(yuv={"enable": False}))(sim_raw)
    off = Pipeline(full_config(**over))(sim_raw)
    assert off.data.shape == on.data.shape
    diff = float((off.data - on.data).abs().max())
    assert diff > 1e-2, f"{stage}: max change {diff}"


@pytest.mark.parametrize("domain", ["raw", "rgb"])
def test_tiled_equals_untiled(sim_raw, domain):
    """Tiles with the computed halo reproduce the untiled frame (global AWB/AE frozen)."""
    cfg = full_config(denoise={"domain": domain})
    pipe = Pipeline(cfg)
    full = pipe(sim_raw)
    calls = []
    tiled = pipe.run_tiled(sim_raw, tile=64, progress=lambda i, n: calls.append((i, n)))
    assert calls[-1] == (12, 12)
    assert tiled.data.shape == full.data.shape
    assert float((tiled.data - full.data).abs().max()) < 1e-5
    # too small an overlap shows seams: the halo matters
    bad = pipe.run_tiled(sim_raw, tile=64, overlap=2)
    assert float((bad.data - full.data).abs().max()) > 1e-3


def test_render_srgb_default_pipeline(sim_raw):
    img = render_srgb(sim_raw)
    assert img.color_space == "srgb"
    x = img.data
    assert bool(torch.isfinite(x).all()) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert 0.1 < float(x.mean()) < 0.9
    # a yuv section is ignored by render_srgb
    assert render_srgb(sim_raw, {"yuv": {"enable": True}}).color_space == "srgb"


def test_batched_frames_are_independent(sim_raw):
    pipe = Pipeline({"awb": {"method": "grey_world"}, "tone": {"auto_exposure": True}})
    two = Raw(torch.cat([sim_raw.data, sim_raw.data * 0.5 + 32]), sim_raw.meta)
    out = pipe(two)
    one = pipe(Raw(two.data[1:], sim_raw.meta))
    assert torch.allclose(out.data[1:], one.data, atol=1e-5)


# ---------------------------------------------------------------------------- bad input
def test_bad_raw_input_raises_clear_errors(sim_raw):
    pipe = Pipeline()
    meta = sim_raw.meta
    nan = sim_raw.data.clone()
    nan[0, 0, 5, 5] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        pipe(Raw(nan, meta))
    with pytest.raises(InputError, match="all zeros"):
        pipe(Raw(torch.zeros_like(sim_raw.data), meta))
    with pytest.raises(InputError, match="multiple of the 2 × 2 CFA tile"):
        pipe(Raw(sim_raw.data[..., :-1], meta))
    with pytest.raises(InputError, match="unknown CFA"):
        RawMeta(cfa="RGBW")
    with pytest.raises(InputError, match="Raw"):
        pipe(np.zeros((4, 4)))
    with pytest.raises(InputError, match="Bayer"):
        pipe(Raw(sim_raw.data, RawMeta(cfa="QUAD_RGGB", black_level_dn=64.0, white_level_dn=1023)))
    with pytest.raises(InputError, match="too small"):
        pipe(Raw(torch.ones(1, 1, 2, 2), meta))


def test_mono_sensor_renders_grey():
    raw = Raw(64 + 500 * torch.rand(1, 1, 32, 32), RawMeta(cfa="MONO", black_level_dn=64.0, white_level_dn=1023))
    img = Pipeline()(raw, stop="sharpen")
    assert img.data.shape == (1, 1, 32, 32) and img.color_space == "mono"


def _dng_checker(tmp_path):
    """A ColorChecker (D65) seen by a camera with a known DNG ColorMatrix, written as a DNG."""
    colour = pytest.importorskip("colour")
    io = pytest.importorskip("camforge.io")
    CM = np.array([[0.70, 0.20, -0.10], [-0.30, 1.20, 0.10], [0.05, -0.20, 0.95]])  # XYZ → camera
    d65 = colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    cc = colour.CCS_COLOURCHECKERS["ColorChecker24 - After November 2014"]
    XYZ = colour.chromatic_adaptation(colour.xyY_to_XYZ(np.array(list(cc.data.values()))),
                                      colour.xy_to_XYZ(cc.illuminant), d65, method="Von Kries", transform="Bradford")
    cam = XYZ @ CM.T
    neutral = CM @ d65
    P = 32
    img = np.zeros((4 * P, 6 * P, 3))
    for i in range(24):
        r, c = divmod(i, 6)
        img[r * P : (r + 1) * P, c * P : (c + 1) * P] = cam[i] * 0.8 / (cam / neutral).max()
    mosaic = np.stack([img[0::2, 0::2, 0], img[0::2, 1::2, 1], img[1::2, 0::2, 1], img[1::2, 1::2, 2]])
    full = np.zeros(img.shape[:2])
    full[0::2, 0::2], full[0::2, 1::2], full[1::2, 0::2], full[1::2, 1::2] = mosaic
    dn = np.rint(256 + full * (4095 - 256)).astype(np.float32)
    meta = RawMeta(cfa="RGGB", black_level_dn=256.0, white_level_dn=4095, bit_depth=12,
                   color_matrix=tuple(CM.ravel()), as_shot_neutral=tuple(neutral / neutral[1]))
    path = io.write_dng(Raw(torch.from_numpy(dn), meta), tmp_path / "checker.dng")
    return io.read_raw(path), path, XYZ, P


def _patches(x: np.ndarray, P: int) -> np.ndarray:
    return np.array([x[r * P + 8 : (r + 1) * P - 8, c * P + 8 : (c + 1) * P - 8].reshape(-1, 3).mean(0)
                     for r, c in (divmod(i, 6) for i in range(24))])


def test_dng_colour_path_matches_colour_science_and_rawpy(tmp_path):
    """ColorMatrix + AsShotNeutral from a DNG → linear sRGB equals colour-science's XYZ → sRGB
    (up to one exposure scale); the display render agrees in chromaticity with LibRaw's."""
    colour = pytest.importorskip("colour")
    rawpy = pytest.importorskip("rawpy")
    raw, path, XYZ, P = _dng_checker(tmp_path)
    cfg = {"dpc": {"enable": False}, "sharpen": {"enable": False}}
    lin = _patches(Pipeline(cfg)(raw, stop="ccm").data[0].permute(1, 2, 0).double().numpy(), P)
    ref = colour.XYZ_to_RGB(XYZ, "sRGB", chromatic_adaptation_transform=None)
    k = np.sum(lin * ref) / np.sum(ref * ref)
    assert np.max(np.abs(lin - k * ref)) < 2e-3  # 12-bit quantisation
    ours = _patches(Pipeline(cfg)(raw).data[0].permute(1, 2, 0).double().numpy(), P)
    with rawpy.imread(str(path)) as rp:
        lr = rp.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16, gamma=(2.4, 12.92),
                            output_color=rawpy.ColorSpace.sRGB, user_flip=0).astype(np.float64) / 65535
    theirs = _patches(lr, P)
    xy_o = colour.XYZ_to_xy(colour.sRGB_to_XYZ(ours))
    xy_t = colour.XYZ_to_xy(colour.sRGB_to_XYZ(theirs))
    ok = theirs.max(1) < 0.99  # LibRaw scales brighter and clips the top patches
    assert ok.sum() >= 18
    assert np.max(np.linalg.norm(xy_o - xy_t, axis=1)[ok]) < 0.005
