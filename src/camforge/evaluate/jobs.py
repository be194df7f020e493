"""The measurement jobs of an evaluation: capture → ISP → measure, one plan section each.

Jobs are plain functions of a picklable dict (the design, the plan and the section), so the
executor can run them in worker processes or on a Ray cluster. Each returns measurement
rows (``metric``, ``value``, ``unit``, ``ci95``, ``condition``), small plot data and quick-look
PNGs.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

import numpy as np
import torch

from camforge.evaluate.plan import TestPlan
from camforge.evaluate.scorecard import metric_row as _row

_CAMERAS: dict[str, Any] = {}


def _camera(design: dict):
    from camforge.camera import Camera, CameraDesign

    d = CameraDesign.model_validate(design)
    key = d.content_hash()
    if key not in _CAMERAS:
        if len(_CAMERAS) > 4:
            _CAMERAS.clear()
        _CAMERAS[key] = Camera(d)
    return _CAMERAS[key]


def _png(rgb: np.ndarray, max_width: int = 480) -> bytes:
    from PIL import Image as PILImage

    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    im = PILImage.fromarray(a)
    if im.width > max_width:
        im = im.resize((max_width, max(1, round(im.height * max_width / im.width))), PILImage.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _srgb_array(img) -> np.ndarray:
    return img.data[0].detach().permute(1, 2, 0).clamp(0, 1).numpy()


def _window_around(cam, scene, u0, u1, v0, v1, margin_px: int = 8) -> tuple[int, int, int, int]:
    """Pixel window (x0, y0, w, h) covering the scene box [u0, u1] × [v0, v1], clipped to the sensor."""
    us = [u0, u1, u0, u1, (u0 + u1) / 2, (u0 + u1) / 2, u0, u1]
    vs = [v0, v0, v1, v1, v0, v1, (v0 + v1) / 2, (v0 + v1) / 2]
    cols, rows = zip(*(cam.scene_to_pixel(scene, u, v) for u, v in zip(us, vs)))
    s = cam.design.sensor
    x0 = max(0, int(math.floor(min(float(c) for c in cols))) - margin_px)
    y0 = max(0, int(math.floor(min(float(r) for r in rows))) - margin_px)
    x1 = min(s.width_px, int(math.ceil(max(float(c) for c in cols))) + margin_px + 1)
    y1 = min(s.height_px, int(math.ceil(max(float(r) for r in rows))) + margin_px + 1)
    n = 4  # keep the CFA phase (Bayer and Quad Bayer tiles): origin and size on the tile
    x0, y0 = x0 - x0 % n, y0 - y0 % n
    w, h = x1 - x0, y1 - y0
    return x0, y0, w - w % n, h - h % n


def _centre_window(cam, size: int) -> tuple[int, int, int, int]:
    s = cam.design.sensor
    w, h = min(size, s.width_px), min(size, s.height_px)
    x0 = (s.width_px - w) // 2
    y0 = (s.height_px - h) // 2
    return x0 - x0 % 4, y0 - y0 % 4, w - w % 4, h - h % 4


# ---------------------------------------------------------------------------- sections


def sharpness(cam, plan: TestPlan, seed: int) -> dict:
    """MTF50 of the edges of the squares at the requested field positions (sRGB output,
    linearised by the sRGB decoding, as Imatest does for JPEGs), and lateral CA at the corner."""
    from camforge.metrics import measure_lateral_ca, sfr
    from camforge.metrics.color import srgb_decode

    p = plan.sharpness
    # squares of at least 120 px, so each edge ROI spans 70+ lines whatever the sensor size
    size = max(p.square_size, 120.0 / cam.design.sensor.width_px)
    scene = cam.chart("slanted-edge", lux=p.lux, illuminant=p.illuminant, spectral=p.spectral,
                      angle_deg=p.angle_deg, square_size=size, layout="field")
    pick = {0.0: 0, 0.5: 3, 0.85: 7}  # centre; the top-right squares of the half field and the corner
    rows, plots, looks = [], {"mtf": []}, {}
    cx, cy = (cam.design.sensor.width_px - 1) / 2, (cam.design.sensor.height_px - 1) / 2
    for field in p.fields:
        i = pick[field]
        sq = scene.truth["squares"][i]
        (cu, cv), half = sq["center"], sq["size"] / 2
        ext = half * 1.6
        win = _window_around(cam, scene, cu - ext, cu + ext, cv - ext, cv + ext)
        raw = cam.capture(scene, seed=seed + i, window=win)
        img = cam.isp(raw)
        looks[f"sharpness_field{field:g}"] = _png(_srgb_array(img))
        side_px = abs(float(cam.scene_to_pixel(scene, cu + half, cv)[0]) - float(cam.scene_to_pixel(scene, cu - half, cv)[0]))
        ca_rois = []
        by_orient: dict[str, list] = {"sagittal": [], "meridional": []}
        for e in scene.truth["edges"][4 * i : 4 * i + 4]:
            ex, ey = (float(t) for t in cam.scene_to_pixel(scene, *e["center"]))
            ex, ey = ex - win[0], ey - win[1]
            along, across = 0.32 * side_px, 0.22 * side_px
            vertical = e["direction"] == "vertical"
            w_, h_ = (2 * across, 2 * along) if vertical else (2 * along, 2 * across)
            roi = (int(round(ex - w_ / 2)), int(round(ey - h_ / 2)), int(round(w_)), int(round(h_)))
            ca_rois.append(roi)
            r = sfr(img, roi=roi, channel="luminance", oecf=srgb_decode,
                    bootstrap=p.bootstrap, seed=seed)
            by_orient[e["orientation"]].append(r)
            plots["mtf"].append({"field": field, "orientation": e["orientation"], "freq": list(r.freq_cy_per_px),
                                 "mtf": list(r.mtf), "mtf50": r.mtf50_cy_per_px})
        cond = {"chart": "slanted-edge", "lux": p.lux, "illuminant": p.illuminant, "field": field}
        for orient, rs in by_orient.items():
            vals = [r.mtf50_cy_per_px for r in rs if r.mtf50_cy_per_px is not None]
            if not vals:
                continue
            ci = None
            cis = [r.mtf50_ci95_cy_per_px for r in rs if r.mtf50_ci95_cy_per_px is not None]
            if len(cis) == len(vals):
                ci = (float(np.mean([c[0] for c in cis])), float(np.mean([c[1] for c in cis])))
            name = f"mtf50_{_field_name(field)}" + ("" if field == 0.0 else f"_{orient}")
            if field == 0.0:
                vals = [r.mtf50_cy_per_px for v in by_orient.values() for r in v if r.mtf50_cy_per_px is not None]
            rows.append(_row(name, float(np.mean(vals)), "cy/px", cond, ci))
            rows.append(_row(name.replace("mtf50", "mtf50_lp_per_mm"), float(np.mean(vals)) / (cam.design.sensor.pixel_pitch_um * 1e-3),
                             "lp/mm", cond))
            if field == 0.0:
                break
        if field == max(p.fields) and cam.sensor.n_channels == 3:
            ca = measure_lateral_ca(raw, rois=ca_rois, center_px=(cx - win[0], cy - win[1]))
            half_diag = math.hypot(cam.design.sensor.width_px, cam.design.sensor.height_px) / 2
            rows.append(_row("lateral_ca_px", ca.max_abs_px, "px", cond))
            rows.append(_row("lateral_ca_pct", 100 * ca.max_abs_px / half_diag, "% of half diagonal", cond))
    return {"rows": rows, "plots": plots, "quicklooks": looks}


def _field_name(field: float) -> str:
    return {0.0: "center", 0.5: "half_field", 0.85: "corner"}[field]


def color(cam, plan: TestPlan, seed: int, illuminant: str) -> dict:
    """ΔE00 / ΔE*ab / white balance / saturation of the ColorChecker under one light."""
    from camforge.metrics import measure_color

    p = plan.color
    scene = cam.chart("colorchecker", lux=p.lux, illuminant=illuminant, spectral=True, fill=p.fill)
    hu, hv = scene.truth["chart_half_size"]
    win = _window_around(cam, scene, -hu, hu, -hv, hv)
    raw = cam.capture(scene, seed=seed, window=win, psf=False, oversample=1)  # patch means: blur is irrelevant
    img = cam.isp(raw)
    P = scene.truth["patches"]
    h = P[0]["half_size"]
    corners = []
    for idx, (su, sv) in ((0, (-1, -1)), (5, (1, -1)), (23, (1, 1)), (18, (-1, 1))):
        u, v = P[idx]["center"]
        x, y = cam.scene_to_pixel(scene, u + su * h, v + sv * h)
        corners.append((float(x) - win[0], float(y) - win[1]))
    r = measure_color(img, corners=corners, color_space="srgb")
    cond = {"chart": "colorchecker", "lux": p.lux, "illuminant": illuminant}
    rows = [
        _row(f"delta_e00_mean_{illuminant}", r.delta_e00_mean, "ΔE00", cond),
        _row(f"delta_e00_max_{illuminant}", r.delta_e00_max, "ΔE00", cond),
        _row(f"delta_e76_mean_{illuminant}", r.delta_e76_mean, "ΔE*ab", cond),
        _row(f"white_balance_error_{illuminant}", r.white_balance_error_dc_ab, "ΔC*ab", cond),
        _row(f"saturation_{illuminant}", r.saturation_pct, "%", cond),
    ]
    plots = {"color": {"illuminant": illuminant, "names": list(r.patch_names), "delta_e00": list(r.delta_e00),
                       "lab_measured": [list(x) for x in r.lab_measured], "lab_reference": [list(x) for x in r.lab_reference]}}
    return {"rows": rows, "plots": plots, "quicklooks": {f"color_{illuminant}": _png(_srgb_array(img))}}


def noise(cam, plan: TestPlan, seed: int) -> dict:
    """SNR of an 18 % grey target at each illuminance, exposed as the camera's auto exposure
    would expose a white sheet at that illuminance (so grey sits at 18 % of the AE target)."""
    from camforge.scene import flat_field

    p = plan.noise
    win = _centre_window(cam, p.window_px)
    rows, curve = [], []
    for i, lux in enumerate(p.lux):
        white = flat_field(lux=lux, illuminant=p.illuminant, spectral=False, aspect=cam.aspect)
        rate_white = cam.electron_rate(white, window=win, psf=False, oversample=1)
        t, gain = cam.auto_exposure(rate_white)
        grey = flat_field(lux=lux, illuminant=p.illuminant, spectral=False, reflectance=p.reflectance, aspect=cam.aspect)
        raw = cam.capture(grey, exposure_s=t, analog_gain=gain, seed=seed + i, window=win,
                          e_rate=rate_white * p.reflectance)
        lin = cam.isp(raw, stop=plan.isp_stop_linear).data[0].double()
        y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] if lin.shape[0] == 3 else lin[0]
        y = y[8:-8, 8:-8]  # away from the window border
        snr = float(y.mean() / y.std()) if float(y.std()) > 0 else float("inf")
        # raw green (or mono) sites, black subtracted
        from camforge.cfa import color_index_map

        d = raw.data[0, 0].double()
        idx = color_index_map(raw.meta.cfa, d.shape[0], d.shape[1])
        g = (d[idx == (1 if raw.meta.cfa != "MONO" else 0)] - float(np.mean(raw.meta.black_level_dn)))
        snr_raw = float(g.mean() / g.std()) if float(g.std()) > 0 else float("inf")
        cond = {"chart": "flat-18%", "lux": lux, "illuminant": p.illuminant}
        rows.append(_row(f"snr_18pct_db_{lux:g}lx", 20 * math.log10(max(snr, 1e-9)), "dB", cond,
                         exposure_s=t, analog_gain=gain))
        rows.append(_row(f"snr_18pct_raw_db_{lux:g}lx", 20 * math.log10(max(snr_raw, 1e-9)), "dB", cond))
        curve.append({"lux": lux, "snr": snr, "snr_raw": snr_raw, "exposure_s": t, "analog_gain": gain})
    # low-light limit: illuminance where SNR = snr_limit, interpolated in (log lux, dB)
    lim = low_light_limit([c["lux"] for c in curve], [c["snr"] for c in curve], p.snr_limit)
    cond = {"chart": "flat-18%", "illuminant": p.illuminant, "snr_limit": p.snr_limit}
    rows.append(_row("low_light_limit_lux", lim["lux"], "lx", cond, bound=lim["bound"]))
    return {"rows": rows, "plots": {"snr": curve}, "quicklooks": {}}


def low_light_limit(lux: list[float], snr: list[float], limit: float) -> dict:
    """Illuminance at which SNR crosses ``limit``, interpolating 20·log10(SNR) linearly in
    log10(lux). ``bound`` is ``"<"`` or ``">"`` when the crossing lies outside the range."""
    order = np.argsort(lux)
    L = np.log10(np.asarray(lux, float)[order])
    S = 20 * np.log10(np.maximum(np.asarray(snr, float)[order], 1e-12))
    target = 20 * math.log10(limit)
    if S[0] >= target:
        return {"lux": float(10 ** L[0]), "bound": "<="}
    if S[-1] < target:
        return {"lux": float(10 ** L[-1]), "bound": ">"}
    j = int(np.nonzero(S >= target)[0][0])
    t = (target - S[j - 1]) / (S[j] - S[j - 1])
    return {"lux": float(10 ** (L[j - 1] + t * (L[j] - L[j - 1]))), "bound": "="}


def tone(cam, plan: TestPlan, seed: int) -> dict:
    """OECF and dynamic range (SNR = 1 and 10) from an OECF step chart on the raw data.

    As in ISO 15739 the exposure is set so the brightest steps saturate (twice the auto
    exposure); the dark level is measured on a dark frame at the same exposure and gain; each
    step's exposure is its transmittance times the lens' relative illumination at its place.
    """
    from camforge.cfa import cfa_tile
    from camforge.metrics import measure_tone, step_chart_rois
    from camforge.scene import flat_field

    p = plan.tone
    scene = cam.chart("step", lux=p.lux, illuminant=p.illuminant, spectral=False, n_steps=p.n_steps,
                      max_density=p.max_density)
    rate = cam.electron_rate(scene, psf=False, oversample=1)  # patch statistics: no blur needed
    t, gain = cam.auto_exposure(rate)
    raw = cam.capture(scene, exposure_s=2 * t, analog_gain=gain, seed=seed, e_rate=rate)
    dark = cam.capture(flat_field(lux=0.0, spectral=False, aspect=cam.aspect), exposure_s=2 * t, analog_gain=gain,
                       seed=seed + 1, e_rate=torch.zeros_like(rate))
    n = cfa_tile(raw.meta.cfa).shape[0]
    d = dark.data[0, 0].double()
    raw.meta.black_level_dn = tuple(float(d[i::n, j::n].mean()) for i in range(n) for j in range(n))
    rois, refl = step_chart_rois(scene, cam)
    g = cam.geometry
    expo = []
    for (x, y, w, h), rf in zip(rois, refl):
        xm, ym = g.pixel_to_mm(x + w / 2, y + h / 2)
        ri = float(cam.lens.relative_illumination(torch.tensor(math.hypot(xm, ym), dtype=torch.float64),
                                                   g.half_diagonal_mm))
        expo.append(rf * ri)
    r = measure_tone(raw, rois=rois, relative_exposures=expo)
    cond = {"chart": "step", "lux": p.lux, "illuminant": p.illuminant, "max_density": p.max_density}
    rows = [
        _row("dynamic_range_db", r.dynamic_range_snr1_db, "dB", cond, snr=1, extrapolated=r.snr1_extrapolated),
        _row("dynamic_range_snr10_db", r.dynamic_range_snr10_db, "dB", cond, snr=10),
    ]
    plots = {"oecf": {"exposure": list(r.relative_exposure), "signal": list(r.signal), "snr_db": list(r.snr_db)}}
    from camforge.io import quicklook

    return {"rows": rows, "plots": plots, "quicklooks": {"tone": _png(quicklook(raw))}}


def shading(cam, plan: TestPlan, seed: int) -> dict:
    """Luma and colour shading of a flat field on the raw data (before lens-shading correction)."""
    from camforge.metrics import measure_shading

    p = plan.shading
    scene = cam.chart("flat", lux=p.lux, illuminant=p.illuminant, spectral=False)
    raw = cam.capture(scene, seed=seed, psf=False, oversample=1)
    r = measure_shading(raw)
    cond = {"chart": "flat", "lux": p.lux, "illuminant": p.illuminant}
    color_dev = max(r.color_deviation_max_pct.values()) if r.color_deviation_max_pct else None
    rows = [
        _row("luma_shading_corner_pct", r.corner_min_pct, "% of centre", cond),
        _row("color_shading_max_pct", color_dev, "%", cond),
    ]
    from camforge.io import quicklook

    return {"rows": rows, "plots": {"shading": {"luma_map": [list(x) for x in r.luma_map]}},
            "quicklooks": {"shading": _png(quicklook(raw))}}


def distortion(cam, plan: TestPlan, seed: int) -> dict:
    from camforge.metrics import measure_distortion

    p = plan.distortion
    scene = cam.chart("grid", lux=p.lux, illuminant=p.illuminant, spectral=False, n_cols=p.n_cols)
    raw = cam.capture(scene, seed=seed, psf=False, oversample=1)  # dot centroids: blur is irrelevant
    from camforge.io import quicklook

    # dots are found on the half-resolution quick look (one RGB pixel per 2 x 2 tile)
    ql = quicklook(raw)
    step = raw.width / ql.shape[1]
    f_px = float(cam.lens.focal_length_mm) / (cam.design.sensor.pixel_pitch_um * 1e-3) / step
    r = measure_distortion(ql, focal_length_px=f_px)
    cond = {"chart": "grid", "lux": p.lux, "illuminant": p.illuminant}
    rows = [
        _row("tv_distortion_pct", r.smia_tv_distortion_pct, "% (SMIA TV)", cond),
        _row("distortion_k1", r.k1, "", cond, normalization=r.normalization),
    ]
    return {"rows": rows, "plots": {}, "quicklooks": {"distortion": _png(ql)}}


def texture(cam, plan: TestPlan, seed: int) -> dict:
    """Dead-leaves texture MTF and acutance at the centre (linear ISP output)."""
    from camforge.metrics import measure_texture
    from camforge.scene import dead_leaves

    p = plan.texture
    win = _centre_window(cam, p.window_px)
    hw_mm = win[2] * cam.design.sensor.pixel_pitch_um * 1e-3 / 2
    fov = 2 * math.degrees(math.atan(hw_mm / float(cam.lens.focal_length_mm)))
    size = 2 * win[2]
    scene = dead_leaves(lux=p.lux, illuminant=p.illuminant, spectral=False, size_px=size,
                        aspect=win[3] / win[2], fov_deg=fov, seed=seed, r_min=2.0 / size, r_max=0.25)
    raw = cam.capture(scene, seed=seed, window=win)
    lin = cam.isp(raw, stop=plan.isp_stop_linear)
    ref = scene.maps[0, 0].numpy()
    r = measure_texture(lin, reference=ref, reference_px_per_px=ref.shape[1] / win[2], color_space="linear")
    cond = {"chart": "dead-leaves", "lux": p.lux, "illuminant": p.illuminant}
    rows = [
        _row("texture_acutance", r.acutance, "", cond),
        _row("texture_mtf50", r.mtf50_cy_per_px, "cy/px", cond),
    ]
    plots = {"texture": {"freq": list(r.frequency_cy_per_px), "mtf": list(r.mtf)}}
    return {"rows": rows, "plots": plots, "quicklooks": {"texture": _png(_srgb_array(cam.isp(raw)))}}


def sensor(cam, plan: TestPlan, seed: int) -> dict:
    """Sensor figures from a simulated EMVA 1288 Release 4.0 run on a window of the sensor."""
    from camforge.characterize import characterize_emva1288
    from camforge.characterize.simulate import simulate_stack

    import warnings

    p = plan.sensor
    # EMVA light is monochromatic (525 nm); the figures are those of the first green site (the
    # red and blue sites may not reach saturation: that is recorded in the notes)
    stack = simulate_stack(cam, n_steps=p.n_steps, spatial_frames=p.spatial_frames, size=(p.size_px, p.size_px),
                           seed=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = characterize_emva1288(stack)
    notes = sorted({str(w.message) for w in caught})
    h = r.headline()
    cond = {"test": "EMVA 1288 (simulated)", "size_px": p.size_px}
    ci_k = h.get("K_ci95")
    rows = [
        _row("sensor_K_dn_per_e", h["K"], "DN/e⁻", cond, ci_k),
        _row("sensor_read_noise_e", h["sigma_d_e"], "e⁻", cond),
        _row("sensor_full_well_e", h["mu_e_sat"], "e⁻", cond),
        _row("sensor_dynamic_range_db", h["dr_db"], "dB", cond),
        _row("sensor_snr_max_db", h["snr_max_db"], "dB", cond),
        _row("sensor_qe", h["qe"], "", cond),
    ]
    if notes:
        rows[0].setdefault("extra", {})["notes"] = notes
    return {"rows": rows, "plots": {"emva": {"K": h["K"], "photon_transfer": _ptc(r)}}, "quicklooks": {}}


def tasks(cam, plan: TestPlan, seed: int) -> dict:
    """Task-based image quality: accuracy and mIoU of camforge's small recognition and
    segmentation models on labelled scenes captured through the design (:mod:`camforge.tasks`)."""
    from camforge.tasks import scorecard_section

    p = plan.tasks
    return scorecard_section(cam, lux_levels=p.lux, n_images=p.n_images, seed=seed, illuminant=p.illuminant,
                             window_px=p.window_px, models=p.models)


def _ptc(result) -> dict:
    """Photon-transfer points of the main channel (mean and temporal variance, dark subtracted)."""
    pt = result.main.photon_transfer
    mean = np.asarray(pt.mean_dn, float) - np.asarray(pt.dark_mean_dn, float)
    var = np.asarray(pt.var_dn2, float) - np.asarray(pt.dark_var_dn2, float)
    return {"mean_dn": mean.tolist(), "var_dn2": var.tolist(), "saturation_step": result.main.saturation_step}


SECTIONS = {
    "sharpness": sharpness,
    "noise": noise,
    "tone": tone,
    "shading": shading,
    "distortion": distortion,
    "texture": texture,
    "sensor": sensor,
    "tasks": tasks,
}


def plan_jobs(design: dict, plan: TestPlan) -> list[dict]:
    """The independent jobs of an evaluation (one per section, one per colour illuminant)."""
    jobs = []
    d = plan.to_dict()
    for name in SECTIONS:
        if getattr(plan, name).enabled:
            jobs.append({"section": name, "design": design, "plan": d, "args": {}})
    if plan.color.enabled:
        for ill in plan.color.illuminants:
            jobs.append({"section": "color", "design": design, "plan": d, "args": {"illuminant": ill}})
    # longest first, so a pool finishes sooner
    cost = {"color": 5, "sharpness": 4, "tone": 3, "distortion": 3, "shading": 2, "texture": 2, "sensor": 2, "noise": 1,
            "tasks": 6}
    jobs.sort(key=lambda j: -cost.get(j["section"], 1))
    return jobs


def run_job(job: dict) -> dict:
    """Run one job (in any process): returns rows, plots, quick looks and its duration."""
    t0 = time.perf_counter()
    cam = _camera(job["design"])
    plan = TestPlan.model_validate(job["plan"])
    fn = color if job["section"] == "color" else SECTIONS[job["section"]]
    with torch.no_grad():
        out = fn(cam, plan, plan.seed, **job["args"])
    out["section"] = job["section"]
    out["args"] = job["args"]
    out["duration_s"] = time.perf_counter() - t0
    return out
