"""Calibrate an ISP for a simulated camera, then tune it by gradient descent.

    .venv/bin/python examples/isp_calibrate_and_tune.py

1. Lens shading: a flat-field capture → per-CFA-site gain grids (calibrate_lsc).
2. Colour: a ColorChecker capture → patch means → white-preserving CCM (fit_ccm).
3. Tuning: the ISP's NLM strength and sharpening amount are nn.Parameters; Adam lowers the
   error between the rendered noisy capture and the rendered noise-free capture.
"""

from __future__ import annotations

import colour
import numpy as np
import torch

from camforge import Camera
from camforge.isp import Pipeline, calibrate_lsc, fit_ccm

DESIGN = {
    "name": "example",
    "lens": {"focal_length_mm": 4.4, "f_number": 2.0,
             "relative_illumination": {"cra_corner_deg": 30.0, "vignetting_stop_ratio": 1.3, "vignetting_shift_corner": 0.6}},
    "sensor": {"width_px": 320, "height_px": 240, "pixel_pitch_um": 1.4, "full_well_e": 6000, "read_noise_e": 3.0},
}


def patch_means(img: torch.Tensor, cam: Camera, scene) -> np.ndarray:
    """Mean of the central half of each ColorChecker patch ``[24, 3]``."""
    out = []
    for p in scene.truth["patches"]:
        (cu, cv), hs = p["center"], p["half_size"] * 0.5
        c0, r0 = cam.scene_to_pixel(scene, cu - hs, cv - hs)
        c1, r1 = cam.scene_to_pixel(scene, cu + hs, cv + hs)
        r0, r1, c0, c1 = (int(round(float(v))) for v in (r0, r1, c0, c1))
        out.append(img[0, :, r0:r1, c0:c1].reshape(3, -1).mean(1).numpy())
    return np.array(out)


def main() -> None:
    torch.manual_seed(0)
    cam = Camera(DESIGN)
    # 1. lens shading from a flat field
    lsc = calibrate_lsc(cam.capture(cam.chart("flat", lux=1000), seed=1), grid=(9, 13))
    print(f"LSC: fall-off {max(lsc.falloff_pct):.0f} %, max gain {lsc.max_gain:.2f}, fit residual {lsc.fit_residual_pct:.2f} %")
    # 2. CCM from a ColorChecker capture (white-balanced camera RGB → linear sRGB)
    scene = cam.chart("colorchecker", lux=500)
    raw = cam.capture(scene, seed=2)
    base = {"lsc": lsc.to_config(), "awb": {"method": "grey_world"}, "ccm": {"source": "identity"}}
    cam_rgb = patch_means(Pipeline(base)(raw, stop="ccm").data, cam, scene)
    cam_rgb = cam_rgb / cam_rgb[18] * 0.9  # white patch (18) → its reflectance, neutral
    cc = colour.CCS_COLOURCHECKERS["ColorChecker24 - After November 2014"]
    ref = colour.XYZ_to_RGB(colour.xyY_to_XYZ(np.array(list(cc.data.values()))), "sRGB", illuminant=cc.illuminant,
                            chromatic_adaptation_transform="Bradford")
    fit = fit_ccm(cam_rgb, ref, "white_preserving", white=18)
    print("CCM (white preserving):\n", np.round(fit.matrix, 3), f"\nrms error {fit.rms_error:.4f}")
    # 3. gradient tuning of denoise strength and sharpening against the noise-free render
    cfg = {**base, "ccm": fit.to_config(), "denoise": {"enable": True, "strength": 0.01},
           "sharpen": {"amount": 1.0}}
    pipe = Pipeline(cfg)
    with torch.no_grad():
        target = pipe(cam.capture(scene, exposure_s=raw.meta.exposure_s, analog_gain=raw.meta.analog_gain, seed=2,
                                  noise=False)).data
    params = [pipe.stages["denoise"].strength, pipe.stages["sharpen"].amount]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=0.004)
    for step in range(15):
        opt.zero_grad()
        loss = torch.mean((pipe(raw).data - target) ** 2)
        loss.backward()
        opt.step()
        with torch.no_grad():
            params[0].clamp_(min=1e-3)
            params[1].clamp_(min=0.0)
        if step % 5 == 0 or step == 14:
            print(f"step {step:2d}: mse {float(loss.detach()):.2e}  nlm strength {float(params[0].detach()):.4f}  sharpen {float(params[1].detach()):.3f}")


if __name__ == "__main__":
    main()
