"""Noise and dynamic range of a simulated sensor, measured like a lab and compared with the
sensor's own model.

Run from the repository root:

    .venv/bin/python examples/measure_noise_tone.py

1. Eight frames of a flat field: temporal noise and fixed-pattern noise (pixel / column / row)
   separated with the unbiased EMVA 1288 estimators, next to the values the sensor parameters
   imply; the noise power spectrum shows the column pattern.
2. A grey-step chart (20 steps, density 0–4): OECF, SNR per step and the dynamic range at
   SNR = 1 and SNR = 10, next to the analytic values.
"""

from __future__ import annotations

import math

import torch
from scipy.optimize import brentq

from camforge.camera import Camera
from camforge.metrics.noise import noise_power_spectrum, temporal_fixed_pattern
from camforge.metrics.tone import measure_tone, step_chart_rois
from camforge.scene import flat_field
from camforge.types import Raw

DESIGN = {"name": "example", "lens": {"focal_length_mm": 4.0, "f_number": 2.0, "psf": {"enabled": False},
                                      "relative_illumination": {"cos4": False}},
          "sensor": {"width_px": 480, "height_px": 360, "pixel_pitch_um": 1.4, "full_well_e": 8000, "adc_bits": 12,
                     "read_noise_e": 2.5, "prnu_pct": 1.0, "dsnu_e": 1.5, "column_fpn_e": 1.0,
                     "dark_current_e_per_s": 0.0, "seed": 3}}


def main() -> None:
    torch.set_num_threads(1)
    cam = Camera(DESIGN)
    s = cam.design.sensor

    # 1. temporal vs fixed pattern
    rate = cam.electron_rate(flat_field(lux=100, spectral=False))
    frames = [cam.sensor(rate, 0.005, seed=i) for i in range(8)]
    raw = Raw(torch.cat([f.data for f in frames]), frames[0].meta)
    K = raw.meta.conversion_gain_dn_per_e
    res = temporal_fixed_pattern(raw)
    print("channel  mean[DN]  temporal σ (model)   pixel FPN σ (model)   column FPN σ (model)   [DN]")
    for ch in res.channels:
        mu_e = ch.mean / K
        t = math.sqrt(K * K * (mu_e + s.read_noise_e**2) + 1 / 12)
        p = K * math.hypot(s.dsnu_e, s.prnu_pct / 100 * mu_e)
        print(f"  {ch.channel:5s} {ch.mean:8.1f}   {ch.sigma_temporal:6.3f} ({t:6.3f})     {ch.sigma_fpn_pixel:6.3f} ({p:6.3f})"
              f"      {ch.sigma_fpn_col:6.3f} ({K * s.column_fpn_e:6.3f})")
    nps = noise_power_spectrum(raw[0], block_px=64)
    c = nps.block_px // 2
    print(f"NPS ({nps.channel}): variance {nps.variance:.2f} DN², f_y = 0 line / elsewhere = "
          f"{nps.nps_2d[c, c + 2:].mean() / nps.nps_2d[c + 2:, c + 2:].mean():.2f} (the column pattern)")

    # 2. OECF and dynamic range
    scene = cam.chart("step", lux=300, spectral=False, n_steps=20, max_density=4.0)
    raw = cam.capture(scene, seed=1)
    rois, refl = step_chart_rois(scene, cam)
    tone = measure_tone(raw, rois, relative_exposures=refl)
    K = raw.meta.conversion_gain_dn_per_e
    var = lambda m: m + s.read_noise_e**2 + s.dsnu_e**2 + s.column_fpn_e**2 + (s.prnu_pct / 100 * m) ** 2 + 1 / (12 * K * K)  # noqa: E731
    sat = min(s.full_well_e, (s.white_level_dn - s.black_level_dn) / K)
    m1 = brentq(lambda m: m / math.sqrt(var(m)) - 1, 1e-3, 1e3)
    m10 = brentq(lambda m: m / math.sqrt(var(m)) - 10, 1e-3, 1e4)
    print(f"\nOECF slope {tone.oecf_slope:.1f} DN per unit reflectance, linearity error {tone.linearity_error_max_pct:.2f} %")
    print(f"DR (SNR = 1)  {tone.dynamic_range_snr1_db:.1f} dB = {tone.dynamic_range_snr1_stops:.2f} stops "
          f"(model {20 * math.log10(sat / m1):.1f} dB)")
    print(f"DR (SNR = 10) {tone.dynamic_range_snr10_db:.1f} dB = {tone.dynamic_range_snr10_stops:.2f} stops "
          f"(model {20 * math.log10(sat / m10):.1f} dB)")
    print("step  log10 H   signal [DN]  SNR [dB]")
    for i, (h, sig, db) in enumerate(zip(tone.log10_exposure, tone.signal, tone.snr_db)):
        print(f"  {i:3d} {h:7.2f} {sig:11.2f} {db:8.1f}")


if __name__ == "__main__":
    main()
