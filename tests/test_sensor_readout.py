"""The fused CPU read-out (Sensor._chain_blocks) against the plain composition of its steps.

The CPU path samples the CFA, forms the mean electrons, draws Poisson counts and applies the
rest of the chain piece by piece (pieces of rows on worker threads). Noise-free, it must give
exactly the frame that the whole-frame steps give — for every CFA, batches, windows and piece
boundaries on odd rows (a 4×4 Quad-Bayer tile then starts mid-tile) — and with noise, its
per-pixel mean and variance must follow the model.
"""

from __future__ import annotations

import math

import pytest
import torch

from camforge.camera import Camera
from camforge.sensor import sensor as sensor_mod


def _camera(cfa: str, w: int = 1001, h: int = 300):
    return Camera({"name": "r", "lens": {"focal_length_mm": 4.0, "f_number": 2.0},
                   "sensor": {"width_px": w, "height_px": h, "pixel_pitch_um": 1.0, "full_well_e": 6000, "cfa": cfa,
                              "dark_current_e_per_s": 50.0, "dsnu_e": 1.5, "prnu_pct": 1.0, "column_fpn_e": 0.8}})


def _reference(S, e, t, x0=0, y0=0):
    h, w = e.shape[-2:]
    m = S._maps(x0, y0, h, w, torch.float32)
    y = S.mosaic(e).clone().mul_(m["gain"]).add_(m["dark"]).mul_(t).clamp_(min=0).clamp_(max=float(S.full_well_e))
    K = float(S.conversion_gain_dn_per_e) * float(S.analog_gain)
    y = y.add_(m["offset"]).mul_(K).add_(float(S.black_level_dn)).round_().clamp_(0, float(S.config.white_level_dn))
    if m["stuck"] is not None:
        c = S.config
        y.masked_fill_(m["stuck"], float(c.white_level_dn) if c.defects.stuck_dn is None else float(c.defects.stuck_dn))
    return y


@pytest.mark.parametrize("cfa", ["RGGB", "GBRG", "QUAD_GRBG", "MONO"])
def test_fused_noise_free_read_out_equals_the_plain_chain(cfa, monkeypatch):
    monkeypatch.setattr(sensor_mod, "_PIECE_PX", 7 * 1001)  # pieces of 7 rows: boundaries on odd rows
    S = _camera(cfa).sensor
    g = torch.Generator().manual_seed(0)
    e = torch.rand((2, S.n_channels, 300, 1001), generator=g) * 2e5
    got = S(e, 0.01, noise=False).data
    assert torch.equal(got, _reference(S, e, 0.01))
    # a window: fixed patterns and CFA phase from that part of the sensor
    win = e[:, :, 40:200, 100:600]
    got_w = S(win, 0.01, noise=False, window=(100, 40)).data
    assert torch.equal(got_w, _reference(S, win, 0.01, 100, 40))


def test_fused_read_out_noise_follows_the_model():
    """Flat 2000 e⁻ on a sensor without fixed patterns: per-pixel mean = K·μ + black and variance
    = K²(μ + σ_r²) + σ_adc² + 1/12 (quantisation), over 1.2 M pixels (relative standard error of
    the variance ≈ 0.13 %; tolerance 1 %)."""
    cam = Camera({"name": "n", "lens": {"focal_length_mm": 4.0, "f_number": 2.0},
                  "sensor": {"width_px": 1200, "height_px": 1000, "pixel_pitch_um": 1.0, "full_well_e": 50000,
                             "adc_bits": 14, "read_noise_e": 3.0, "dark_current_e_per_s": 0.0, "dsnu_e": 0.0,
                             "prnu_pct": 0.0, "column_fpn_e": 0.0, "row_fpn_e": 0.0, "row_noise_e": 0.0,
                             "cfa": "MONO"}})
    S = cam.sensor
    mu = 2000.0
    raw = S(torch.full((1, 1, 1000, 1200), mu / 0.01), 0.01, seed=3).data.double()
    K = float(S.conversion_gain_dn_per_e) * float(S.analog_gain)
    var = K * K * (mu + 9.0) + float(S.adc_noise_dn) ** 2 + 1 / 12
    assert float(raw.mean()) == pytest.approx(K * mu + float(S.black_level_dn), rel=2e-4)
    assert float(raw.var()) == pytest.approx(var, rel=0.01)
    # same seed, same frame; and a frame does not depend on the number of threads
    again = S(torch.full((1, 1, 1000, 1200), mu / 0.01), 0.01, seed=3).data.double()
    assert torch.equal(raw, again)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = S(torch.full((1, 1, 1000, 1200), mu / 0.01), 0.01, seed=3).data.double()
    finally:
        torch.set_num_threads(n)
    assert torch.equal(raw, one)
    assert math.isfinite(float(raw.sum()))
