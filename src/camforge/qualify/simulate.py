"""Simulated production lots: module-to-module spread and injected defects with ground truth.

:func:`simulate_lot` builds ``n_modules`` camera modules from one design and captures, for
each, a dark frame, two flat fields (``flat_lo``, ``flat_hi``) and a slanted-edge chart, then
writes them as a lot (:mod:`camforge.qualify.lot`) with ground truth. Everything is a
deterministic function of the lot ``seed`` and the module index.

Manufacturing spread of every module (:class:`SpreadConfig`):

* sensor instance: its own PRNU/DSNU pattern (sensor seed) and PRNU level;
* lens transmission, optical-centre decentre (the relative-illumination map is shifted by
  the decentre, so corner shading becomes asymmetric) and colour shading (each colour
  channel's extra radial fall-off, e.g. from the IR-cut filter's angle dependence);
* focus error and lens tilt: the image plane is tilted against the sensor, so the focus
  error varies linearly across the field, Δz(x, y) = Δz₀ + tan θ (x cos φ + y sin φ); the
  chart is blurred at each position by the geometric defocus disc of diameter |Δz| / N on
  top of the design's own PSF (this composition of blurs is an approximation), which makes
  the MTF vary across the field and between corners.

Injected defects (:data:`KINDS`, ground truth masks and parameters in ``truth/``):

* ``hot_pixels``, ``dead_pixels``, ``stuck_pixels``, ``cluster`` — through the sensor's own
  defect map (:class:`camforge.sensor.config.DefectConfig`);
* ``column``, ``row`` — a column/row amplifier with a gain error (flat fields) and an offset
  (every capture), whole or partial;
* ``dust`` — particles on the cover glass: soft shadows from :mod:`camforge.qualify.blemish`
  (size and contrast follow the f-number and the height above the pixels);
* ``particle`` — a particle on the pixels themselves (height ≈ 0): a small, sharp, dark spot;
* ``scratch`` — a line on the cover glass (its shadow is the line blurred by the light cone);
* ``shading`` — a shading anomaly (a dark region entering from the frame border: a
  misplaced holder or baffle vignetting the light);
* ``contamination`` — contamination flare: light scattered by a smudge on the lens adds a
  broad glow (veiling glare);
* ``tilt`` — an excessive lens tilt (MTF loss toward one side; no pixel mask).

Shadows and glare are applied to the photo-electron image before the sensor, so shot noise
and PRNU stay right.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import ndimage, signal

from camforge.config import load_yaml, validate
from camforge.errors import ConfigError, InputError
from camforge.qualify.blemish import Occluder, disc_kernel, half_max_mask, ideal_detectability, single_shadow
from camforge.types import Raw

#: Defect kinds; a truth mask pixel holds ``KINDS.index(kind) + 1``.
KINDS = ("hot_pixels", "dead_pixels", "stuck_pixels", "cluster", "column", "row", "dust", "particle", "scratch",
         "shading", "contamination", "tilt")
#: Kinds the area detectors (blemish, learned) are meant for; the rest belong to the
#: defect-pixel maps (pixels, clusters, lines) and the MTF spec (tilt).
AREA_KINDS = ("dust", "particle", "scratch", "shading", "contamination")
PIXEL_KINDS = ("hot_pixels", "dead_pixels", "stuck_pixels", "cluster", "column", "row")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpreadConfig(_Strict):
    """Module-to-module manufacturing spread (1σ unless stated)."""

    prnu_rel: float = Field(0.2, ge=0, description="relative spread of the PRNU level")
    transmission_rel: float = Field(0.02, ge=0, description="relative spread of the lens transmission")
    decentre_frac: float = Field(0.03, ge=0, description="optical-centre decentre / half-diagonal")
    color_shading_pct: float = Field(1.5, ge=0, description="corner gain spread of R and B relative to G [%]")
    focus_um: float = Field(1.0, ge=0, description="focus error [µm]")
    tilt_deg: float = Field(0.15, ge=0, description="lens tilt [deg]")
    hot_pixels_max: int = Field(2, ge=0, description="good modules carry 0..this many hot pixels")


class DefectsConfig(_Strict):
    """What an injected defect looks like (ranges are sampled uniformly; contrasts log-uniformly)."""

    kinds: dict[str, float] = Field(
        default_factory=lambda: {"hot_pixels": 1, "dead_pixels": 1, "stuck_pixels": 0.5, "cluster": 1, "column": 1,
                                 "row": 0.5, "dust": 3, "particle": 1, "scratch": 1, "shading": 1,
                                 "contamination": 1, "tilt": 1},
        description="relative frequency of each kind among defective modules")
    max_per_module: int = Field(2, ge=1, le=5)
    dust_contrast: tuple[float, float] = (0.01, 0.3)
    dust_shadow_frac: tuple[float, float] = Field((0.04, 0.2), description="shadow diameter / frame width")
    particle_size_px: tuple[float, float] = (1.5, 4.0)
    particle_z_um: tuple[float, float] = (0.0, 10.0)
    scratch_contrast: tuple[float, float] = (0.015, 0.15)
    scratch_length_frac: tuple[float, float] = (0.15, 0.5)
    shading_depth: tuple[float, float] = (0.05, 0.15)
    contamination_level: tuple[float, float] = (0.03, 0.10)
    defect_pixels: tuple[int, int] = (12, 40)
    clusters: tuple[int, int] = (1, 3)
    line_gain_error: tuple[float, float] = (0.04, 0.12)
    line_offset_dn: tuple[float, float] = (6.0, 20.0)
    tilt_deg: tuple[float, float] = (1.5, 3.0)

    @field_validator("kinds")
    @classmethod
    def _check(cls, v):
        bad = sorted(set(v) - set(KINDS))
        if bad:
            raise ValueError(f"unknown defect kind(s) {', '.join(bad)}; use {', '.join(KINDS)}")
        if not any(x > 0 for x in v.values()):
            raise ValueError("at least one defect kind needs a frequency > 0")
        return v


class LotSimConfig(_Strict):
    """Settings of :func:`simulate_lot` (YAML-able)."""

    size: tuple[int, int] | None = Field(None, description="(width, height) of the modules' frames; None = design")
    f_number: float | None = Field(None, gt=0, description="f-number of the captures (default: the design's)")
    flat_levels: tuple[float, float] = Field((0.2, 0.6), description="flat_lo, flat_hi signal / saturation")
    dark_exposure_s: float = Field(0.05, gt=0)
    chart_square_size: float = Field(0.3, gt=0, lt=0.6)
    chart_angle_deg: float = Field(8.0, gt=2, lt=20, description="tilt of the chart's edges [deg]")
    format: str = Field("raw", pattern="^(raw|dng|png)$")
    spread: SpreadConfig = Field(default_factory=SpreadConfig)
    defects: DefectsConfig = Field(default_factory=DefectsConfig)


# ----------------------------------------------------------------------------- design helpers
def resized_design(design: dict[str, Any], width: int, height: int) -> dict[str, Any]:
    """The design with its sensor area sampled by ``width × height`` pixels.

    The image area (and so the optics, shading and blemish geometry in µm) is kept: the
    pixel pitch grows by ``design width / width``; full well (and an explicit conversion
    gain) scale with the pixel area. ``height`` crops or extends the sensor vertically.
    """
    d = json.loads(json.dumps(design))
    s = d["sensor"]
    f = s["width_px"] / float(width)
    s["pixel_pitch_um"] = s["pixel_pitch_um"] * f
    s["full_well_e"] = s["full_well_e"] * f * f
    if s.get("conversion_gain_dn_per_e"):
        s["conversion_gain_dn_per_e"] = s["conversion_gain_dn_per_e"] / (f * f)
    s["width_px"], s["height_px"] = int(width), int(height)
    return d


def _seed(*parts) -> int:
    h = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


_CACHE: dict[str, Any] = {}


def _nominal(design: dict[str, Any], cfg: LotSimConfig):
    """Per-process cache: camera, nominal flat and chart electron rates, chart blur stack."""
    from camforge.camera import Camera

    key = hashlib.sha256(json.dumps([design, cfg.chart_square_size, cfg.chart_angle_deg],
                                    sort_keys=True).encode()).hexdigest()
    if key in _CACHE:
        return _CACHE[key]
    with torch.no_grad():
        cam = Camera(design)
        flat = cam.chart("flat", lux=100.0)
        e_flat = cam.electron_rate(flat, psf=False)[0].double().numpy()  # [C, H, W]
        chart = cam.chart("slanted-edge", lux=100.0, square_size=cfg.chart_square_size, angle_deg=cfg.chart_angle_deg)
        e_chart = cam.electron_rate(chart)[0].double().numpy()
        t_chart, g_chart = cam.auto_exposure(torch.from_numpy(e_chart)[None].float())
    blur_px = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
    stack = []
    for d in blur_px:
        k = disc_kernel(d, supersample=8)
        if k.size == 1:
            stack.append(e_chart)
        else:
            pad = k.shape[0] // 2
            stack.append(np.stack([signal.fftconvolve(np.pad(c, pad, mode="edge"), k, mode="valid") for c in e_chart]))
    nom = {"camera": cam, "e_flat": e_flat, "e_chart": e_chart, "t_chart": float(t_chart), "g_chart": float(g_chart),
           "blur_px": np.array(blur_px), "blur_stack": np.stack(stack)}
    _CACHE.clear()
    _CACHE[key] = nom
    return nom


# ----------------------------------------------------------------------------- module
@dataclass
class ModuleTruth:
    """Ground truth of one simulated module."""

    module_id: str
    defective: bool
    defects: list[dict[str, Any]]
    params: dict[str, Any]
    mask: np.ndarray  # [H, W] uint8 labels

    @property
    def kinds(self) -> list[str]:
        return sorted({d["kind"] for d in self.defects})

    def to_dict(self) -> dict[str, Any]:
        return {"module_id": self.module_id, "defective": self.defective, "kinds": self.kinds,
                "defects": self.defects, "params": self.params}


@dataclass
class SimulatedModule:
    """Captures (``dark``, ``flat_lo``, ``flat_hi``, ``chart``) and the truth of one module.

    ``clean`` holds the same captures without the injected defects (same sensor, same noise
    seeds) when asked for — the reference for inpainting.
    """

    captures: dict[str, Raw]
    truth: ModuleTruth
    clean: dict[str, Raw] | None = None
    exposures_s: dict[str, float] = field(default_factory=dict)


def _loguniform(rng, lo, hi):
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _radial_map(H, W, cx, cy, half_diag_px):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    return np.hypot(xx + 0.5 - cx, yy + 0.5 - cy) / half_diag_px


def _pick_kinds(rng, cfg: DefectsConfig) -> list[str]:
    names = [k for k, v in cfg.kinds.items() if v > 0]
    w = np.array([cfg.kinds[k] for k in names], dtype=float)
    n = int(rng.integers(1, cfg.max_per_module + 1))
    n = min(n, len(names))
    return list(rng.choice(names, size=n, replace=False, p=w / w.sum()))


def area_defect(kind: str, rng: np.random.Generator, H: int, W: int, pitch_um: float, f_number: float,
                dc: DefectsConfig | None = None) -> dict[str, Any]:
    """Render one area defect (``dust``, ``particle``, ``scratch``, ``shading``, ``contamination``).

    Returns ``{"transmission": [H, W] or None, "glare": [H, W] or None, "mask": [H, W] bool,
    "info": dict}``: the transmission multiplies the photo-electron image, the glare (a
    fraction of the mean signal) adds to it.
    """
    dc = dc or DefectsConfig()
    N = float(f_number)
    pitch = float(pitch_um)
    T = glare = None
    if kind == "dust":
        c = _loguniform(rng, *dc.dust_contrast)
        diam_px = rng.uniform(*dc.dust_shadow_frac) * W
        # shadow diameter a + z/N and peak contrast (aN/z)^2 = c  →  a = sqrt(c) z / N
        z = diam_px * pitch / (1 + math.sqrt(c)) * N
        a = math.sqrt(c) * z / N
        occ = Occluder("disc", rng.uniform(0.08, 0.92) * W * pitch, rng.uniform(0.08, 0.92) * H * pitch, a, z)
        T, mask, info = _shadow(occ, kind, (H, W), pitch, N)
    elif kind == "particle":
        a = rng.uniform(*dc.particle_size_px) * pitch
        z = rng.uniform(*dc.particle_z_um)
        occ = Occluder("disc", rng.uniform(0.05, 0.95) * W * pitch, rng.uniform(0.05, 0.95) * H * pitch, a, z,
                       opacity=rng.uniform(0.4, 0.95))
        T, mask, info = _shadow(occ, kind, (H, W), pitch, N)
    elif kind == "scratch":
        c = _loguniform(rng, *dc.scratch_contrast)
        z = rng.uniform(0.02, 0.08) * W * pitch * N
        width = c * z / N  # a line blocks the fraction width / (z/N) of the cone
        L = rng.uniform(*dc.scratch_length_frac) * W * pitch
        x0, y0 = rng.uniform(0.15, 0.85) * W * pitch, rng.uniform(0.15, 0.85) * H * pitch
        ang = rng.uniform(0, math.pi)
        x1 = float(np.clip(x0 + L * math.cos(ang), 0, W * pitch))
        y1 = float(np.clip(y0 + L * math.sin(ang), 0, H * pitch))
        occ = Occluder("line", x0, y0, width, z, x2_um=x1, y2_um=y1)
        T, mask, info = _shadow(occ, kind, (H, W), pitch, N)
    elif kind in ("shading", "contamination"):
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
        if kind == "shading":
            depth = rng.uniform(*dc.shading_depth)
            side = int(rng.integers(0, 4))
            t = rng.uniform(0.1, 0.9)
            cx, cy = [(t * W, 0), (W, t * H), (t * W, H), (0, t * H)][side]
            s = rng.uniform(0.12, 0.22) * W
        else:
            depth = rng.uniform(*dc.contamination_level)
            cx, cy = rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H
            s = rng.uniform(0.08, 0.16) * W
        prof = depth * np.exp(-((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) / (2 * s * s))
        mask = half_max_mask(prof)
        info = {"kind": kind, "sigma_px": float(s), "center_px": [float(cx), float(cy)], "bbox": _bbox(mask),
                "area_px": int(mask.sum())}
        if kind == "shading":
            T = 1 - prof
            info["peak_contrast"] = float(depth)
        else:
            glare = prof
            info["peak_level"] = float(depth)
    else:
        raise InputError(f"{kind!r} is not an area defect; use one of {', '.join(AREA_KINDS)}")
    return {"transmission": T, "glare": glare, "mask": mask, "info": info}


def simulate_module(design: dict[str, Any], index: int, *, seed: int = 0, defect_rate: float = 0.1,
                    config: LotSimConfig | dict | None = None, force_kinds: list[str] | None = None,
                    clean: bool = False, module_id: str | None = None) -> SimulatedModule:
    """Simulate module ``index`` of a lot (deterministic in ``seed`` and ``index``).

    ``force_kinds`` injects exactly these defect kinds (``[]`` = a good module) instead of
    drawing them with probability ``defect_rate``.
    """
    from camforge.sensor import Sensor, SensorConfig

    cfg = validate(LotSimConfig, config or {}, "lot simulation config")
    if cfg.size is not None:
        design = resized_design(design, *cfg.size)
    nom = _nominal(design, cfg)
    cam = nom["camera"]
    s_cfg = cam.design.sensor
    H, W = s_cfg.height_px, s_cfg.width_px
    pitch = s_cfg.pixel_pitch_um
    N = float(cfg.f_number or cam.design.lens.f_number)
    ms = _seed("module", seed, index)
    rng = np.random.default_rng(ms)
    sp = cfg.spread
    dc = cfg.defects
    mid = module_id or f"M{index:05d}"

    if force_kinds is not None:
        kinds = list(force_kinds)
        bad = sorted(set(kinds) - set(KINDS))
        if bad:
            raise InputError(f"unknown defect kind(s) {', '.join(bad)}; use {', '.join(KINDS)}")
    else:
        kinds = _pick_kinds(rng, dc) if rng.random() < defect_rate else []
    rng_d = np.random.default_rng(_seed("defects", seed, index))

    # ---- spread
    half_diag = 0.5 * math.hypot(W, H)
    dec = rng.normal(0, sp.decentre_frac, 2) * half_diag
    trans = 1.0 + rng.normal(0, sp.transmission_rel)
    color = rng.normal(0, sp.color_shading_pct / 100.0, 2)
    prnu = max(0.0, s_cfg.prnu_pct * (1 + rng.normal(0, sp.prnu_rel)))
    focus = rng.normal(0, sp.focus_um)
    tilt = abs(rng.normal(0, sp.tilt_deg))
    tilt_az = rng.uniform(0, 2 * math.pi)
    n_hot_normal = int(rng.integers(0, sp.hot_pixels_max + 1))

    # relative illumination decentre: RI(shifted r) / RI(r) from the lens model
    lens = cam.lens
    geo = cam.geometry
    r_corner = geo.half_diagonal_mm
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    xm = (xx + 0.5 - W / 2) * pitch * 1e-3
    ym = (yy + 0.5 - H / 2) * pitch * 1e-3
    with torch.no_grad():
        r0 = torch.from_numpy(np.hypot(xm, ym)).float()
        r1 = torch.from_numpy(np.hypot(xm - dec[0] * pitch * 1e-3, ym - dec[1] * pitch * 1e-3)).float()
        ri0 = lens.relative_illumination(r0, r_corner).double().numpy()
        ri1 = lens.relative_illumination(r1, r_corner).double().numpy()
    shade = trans * ri1 / np.maximum(ri0, 1e-9)
    rr = np.hypot(xm, ym) / r_corner
    C = nom["e_flat"].shape[0]
    chan = np.ones((C, H, W))
    if C == 3:
        chan[0] *= 1 + color[0] * rr**2
        chan[2] *= 1 + color[1] * rr**2

    # ---- defects
    T = np.ones((H, W))
    add = np.zeros((H, W))
    col_gain = np.ones((H, W))
    dn_offset = np.zeros((H, W))
    mask = np.zeros((H, W), dtype=np.uint8)
    defects: list[dict[str, Any]] = []
    dcfg: dict[str, float] = {"hot_ppm": 0.0, "dead_ppm": 0.0, "stuck_ppm": 0.0, "cluster_ppm": 0.0}
    npx = H * W
    area_effects: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (effect, its info) for d′ below
    for kind in kinds:
        label = KINDS.index(kind) + 1
        if kind in ("hot_pixels", "dead_pixels", "stuck_pixels"):
            n = int(rng_d.integers(dc.defect_pixels[0], dc.defect_pixels[1] + 1))
            dcfg[kind.split("_")[0] + "_ppm"] = n / npx * 1e6
            defects.append({"kind": kind, "count_expected": n})
        elif kind == "cluster":
            n = int(rng_d.integers(dc.clusters[0], dc.clusters[1] + 1))
            dcfg["cluster_ppm"] = n / npx * 1e6
            defects.append({"kind": kind, "count_expected": n})
        elif kind in ("column", "row"):
            along = H if kind == "column" else W
            pos = int(rng_d.integers(4, (W if kind == "column" else H) - 4))
            partial = rng_d.random() < 0.4
            a0, a1 = (0, along)
            if partial:
                L = int(along * rng_d.uniform(0.3, 0.7))
                a0 = int(rng_d.integers(0, along - L))
                a1 = a0 + L
            g = rng_d.uniform(*dc.line_gain_error) * rng_d.choice([-1, 1])
            off = rng_d.uniform(*dc.line_offset_dn) * rng_d.choice([-1, 1])
            sl = (slice(a0, a1), pos) if kind == "column" else (pos, slice(a0, a1))
            col_gain[sl] *= 1 + g
            dn_offset[sl] += off
            mask[sl] = label
            defects.append({"kind": kind, "position_px": pos, "start_px": a0, "end_px": a1, "gain_error": float(g),
                            "offset_dn": float(off)})
        elif kind in AREA_KINDS:
            eff = area_defect(kind, rng_d, H, W, pitch, N, dc)
            if eff["transmission"] is not None:
                T *= eff["transmission"]
            if eff["glare"] is not None:
                add += eff["glare"]
            mask[eff["mask"]] = label
            defects.append(eff["info"])
            area_effects.append((eff, eff["info"]))
        elif kind == "tilt":
            tilt = rng_d.uniform(*dc.tilt_deg)
            defects.append({"kind": kind, "tilt_deg": float(tilt)})

    # ---- sensor instance (PRNU, defect map); ensure requested defect kinds really occur
    base = s_cfg.model_dump()
    base["prnu_pct"] = prnu
    defect_kw = dict(base.get("defects") or {})
    defect_kw.update({k: v for k, v in dcfg.items()})
    if not any(k in kinds for k in ("hot_pixels",)) and n_hot_normal > 0:
        defect_kw["hot_ppm"] = n_hot_normal / npx * 1e6
    base["defects"] = defect_kw
    sensor = None
    for attempt in range(40):
        base["seed"] = _seed("sensor", seed, index, attempt)
        sensor = Sensor(SensorConfig(**base))
        dm = sensor.defect_map()
        cnt = dm.count()
        ok = all(cnt[k.split("_")[0]] > 0 for k in kinds if k in ("hot_pixels", "dead_pixels", "stuck_pixels"))
        if "cluster" in kinds:
            ok = ok and _largest_cluster(dm.any.numpy()) >= 2
        if ok:
            break
    dm = sensor.defect_map()
    pix = {"hot_pixels": dm.hot.numpy(), "dead_pixels": dm.dead.numpy(), "stuck_pixels": dm.stuck.numpy()}
    clusters = _clusters(dm.any.numpy())
    cl_mask = np.zeros((H, W), dtype=bool)
    for c in clusters:
        cl_mask |= c
    for k, m in pix.items():
        if k in kinds or m.any():
            only = m & ~cl_mask
            if k in kinds:
                mask[only] = KINDS.index(k) + 1
            for d in defects:
                if d["kind"] == k:
                    d["count"] = int(only.sum())
    if clusters:
        mask[cl_mask] = KINDS.index("cluster") + 1
        for d in defects:
            if d["kind"] == "cluster":
                d["count"] = len(clusters)
                d["sizes_px"] = sorted((int(c.sum()) for c in clusters), reverse=True)
    normal_hot = int(dm.hot.sum()) if "hot_pixels" not in kinds else 0

    # ---- captures
    e_base = nom["e_flat"] * shade[None] * chan
    e_def = e_base * T[None] * col_gain[None] + add[None] * e_base.mean(axis=(1, 2), keepdims=True)
    K = float(sensor.conversion_gain_dn_per_e)
    sat_e = min(float(sensor.full_well_e), (s_cfg.white_level_dn - s_cfg.black_level_dn) / K)
    c0 = np.s_[:, H // 2 - H // 8 : H // 2 + H // 8, W // 2 - W // 8 : W // 2 + W // 8]
    peak_rate = float(nom["e_flat"][c0].mean(axis=(1, 2)).max())
    t_lo, t_hi = (lev * sat_e / peak_rate for lev in cfg.flat_levels)
    if tilt > 0 or focus != 0:
        blur_d = np.abs(focus + math.tan(math.radians(tilt)) * (xm * math.cos(tilt_az) + ym * math.sin(tilt_az)) * 1e3) / N
        e_chart = _blend_blur(nom, blur_d / pitch)
    else:
        e_chart = nom["e_chart"]
    # each area defect's ideal-observer detectability in the flat_hi capture (truth for analysis)
    if area_effects:
        from camforge.cfa import color_index_map

        ch = color_index_map(s_cfg.cfa if e_base.shape[0] > 1 else "MONO", H, W).numpy()
        S = np.take_along_axis(e_base, ch[None], 0)[0] * t_hi
        S_mean = (e_base.mean(axis=(1, 2)) * t_hi)[ch]
        for eff, info in area_effects:
            delta = np.zeros((H, W))
            if eff["transmission"] is not None:
                delta += S * (1.0 - eff["transmission"])
            if eff["glare"] is not None:
                delta += eff["glare"] * S_mean
            info["detectability"] = ideal_detectability(delta, S, prnu_frac=prnu / 100.0,
                                                        read_noise_e=float(s_cfg.read_noise_e))
    e_chart_mod = e_chart * shade[None] * chan * T[None] * col_gain[None] + add[None] * e_chart.mean(axis=(1, 2), keepdims=True)
    plan = {"dark": (np.zeros_like(e_base), cfg.dark_exposure_s), "flat_lo": (e_def, t_lo), "flat_hi": (e_def, t_hi),
            "chart": (e_chart_mod, nom["t_chart"])}
    caps = {}
    with torch.no_grad():
        for i, (name, (e, t)) in enumerate(plan.items()):
            caps[name] = _read_out(sensor, e, t, _seed("noise", seed, index, name), dn_offset, s_cfg)
    clean_caps = None
    if clean:
        clean_cfg = dict(base)
        clean_cfg["defects"] = {**defect_kw, "hot_ppm": 0.0, "dead_ppm": 0.0, "stuck_ppm": 0.0, "cluster_ppm": 0.0}
        clean_sensor = Sensor(SensorConfig(**clean_cfg))
        clean_chart = nom["e_chart"] if "tilt" in kinds else e_chart
        cplan = {"dark": (np.zeros_like(e_base), cfg.dark_exposure_s), "flat_lo": (e_base, t_lo),
                 "flat_hi": (e_base, t_hi), "chart": (clean_chart * shade[None] * chan, nom["t_chart"])}
        clean_caps = {}
        with torch.no_grad():
            for name, (e, t) in cplan.items():
                clean_caps[name] = _read_out(clean_sensor, e, t, _seed("noise", seed, index, name), None, s_cfg)
    params = {"seed": int(ms), "sensor_seed": int(base["seed"]), "prnu_pct": prnu, "transmission": trans,
              "decentre_px": [float(dec[0]), float(dec[1])], "color_shading": [float(color[0]), float(color[1])],
              "focus_um": float(focus), "tilt_deg": float(tilt), "tilt_azimuth_deg": math.degrees(tilt_az),
              "f_number": N, "pixel_pitch_um": pitch, "normal_hot_pixels": normal_hot,
              "exposure_s": {k: float(v[1]) for k, v in plan.items()}}
    truth = ModuleTruth(mid, bool(kinds), defects, params, mask)
    return SimulatedModule(caps, truth, clean_caps, {k: float(v[1]) for k, v in plan.items()})


def _read_out(sensor, e, t, noise_seed, dn_offset, s_cfg) -> Raw:
    raw = sensor(torch.from_numpy(e).float()[None], float(t), seed=noise_seed)
    if dn_offset is not None and np.any(dn_offset):
        y = raw.data + torch.from_numpy(dn_offset).float()[None, None]
        raw = Raw(torch.clamp(torch.round(y), 0, s_cfg.white_level_dn), raw.meta)
    return raw


def _shadow(occ: Occluder, kind: str, shape, pitch, N):
    cmap = single_shadow(occ, shape, pitch, N)
    m = half_max_mask(cmap, floor=1e-4)
    d = {"kind": kind, "shape": occ.kind, "x_um": occ.x_um, "y_um": occ.y_um, "size_um": occ.size_um,
         "z_um": occ.z_um, "opacity": occ.opacity, "f_number": N, "peak_contrast": float(cmap.max()),
         "mean_contrast": float(cmap[cmap > 1e-6].mean()) if (cmap > 1e-6).any() else 0.0,
         "shadow_diameter_px": float((occ.size_um + occ.z_um / N) / pitch), "bbox": _bbox(m), "area_px": int(m.sum())}
    if occ.kind == "line":
        d.update({"x2_um": occ.x2_um, "y2_um": occ.y2_um})
    return 1.0 - cmap, m, d


def _bbox(m: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def _clusters(defect: np.ndarray) -> list[np.ndarray]:
    lab, n = ndimage.label(defect, structure=np.ones((3, 3)))
    out = []
    for i in range(1, n + 1):
        m = lab == i
        if m.sum() >= 2:
            out.append(m)
    return out


def _largest_cluster(defect: np.ndarray) -> int:
    lab, n = ndimage.label(defect, structure=np.ones((3, 3)))
    if n == 0:
        return 0
    return int(np.bincount(lab.ravel())[1:].max())


def _blend_blur(nom, blur_px: np.ndarray) -> np.ndarray:
    """Chart electron image with a spatially varying defocus disc (interpolated between blur levels)."""
    levels = nom["blur_px"]
    stack = nom["blur_stack"]  # [L, C, H, W]
    b = np.clip(blur_px, levels[0], levels[-1])
    i = np.clip(np.searchsorted(levels, b, side="right") - 1, 0, len(levels) - 2)
    t = (b - levels[i]) / (levels[i + 1] - levels[i])
    lo = np.take_along_axis(stack, i[None, None].repeat(stack.shape[1], axis=1), axis=0)[0]
    hi = np.take_along_axis(stack, (i + 1)[None, None].repeat(stack.shape[1], axis=1), axis=0)[0]
    return lo * (1 - t)[None] + hi * t[None]


# ----------------------------------------------------------------------------- lots on disk
def _write_capture(raw: Raw, path: Path, fmt: str) -> tuple[Path, str]:
    from camforge.io import write_dng, write_png, write_raw_sidecar

    if fmt == "raw":
        return write_raw_sidecar(raw, path.with_suffix(".raw")), "raw"
    if fmt == "dng":
        return write_dng(raw, path.with_suffix(".dng")), "dng"
    a = raw.data[0, 0].numpy()
    return write_png(path.with_suffix(".png"), np.clip(np.round(a), 0, 65535).astype(np.uint16), bit_depth=16), "png"


def _simulate_task(ctx: dict[str, Any], index: int) -> list[dict[str, Any]]:
    from camforge.io import atomic_write_text, write_png

    torch.set_num_threads(1)
    root = Path(ctx["out"])
    mid = f"M{index:05d}"
    sim = simulate_module(ctx["design"], index, seed=ctx["seed"], defect_rate=ctx["defect_rate"],
                          config=ctx["config"], module_id=mid)
    cfg = LotSimConfig(**ctx["config"])
    d = root / "captures" / mid
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, raw in sim.captures.items():
        p, fmt = _write_capture(raw, d / name, cfg.format)
        m = raw.meta
        rows.append({"module_id": mid, "capture": name, "path": str(p.relative_to(root)), "format": fmt,
                     "exposure_s": m.exposure_s, "analog_gain": m.analog_gain, "width": raw.data.shape[-1],
                     "height": raw.data.shape[-2], "cfa": m.cfa,
                     "black_level_dn": ";".join(f"{v:g}" for v in sorted(set(m.black_level_dn))) if len(set(m.black_level_dn)) == 1 else ";".join(f"{v:g}" for v in m.black_level_dn),
                     "white_level_dn": m.white_level_dn, "bit_depth": m.bit_depth,
                     "f_number": sim.truth.params["f_number"]})
    t = root / "truth"
    t.mkdir(exist_ok=True)
    atomic_write_text(t / f"{mid}.json", json.dumps(sim.truth.to_dict(), indent=1))
    write_png(t / f"{mid}_mask.png", sim.truth.mask, bit_depth=8)
    return rows


@dataclass(frozen=True)
class LotSimulation:
    """What :func:`simulate_lot` wrote."""

    root: Path
    n_modules: int
    n_defective: int
    kinds: dict[str, int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "n_modules": self.n_modules, "n_defective": self.n_defective,
                "kinds": self.kinds, "seconds": self.seconds}


def load_design(design) -> dict[str, Any]:
    """A design dict from a YAML path, a mapping, a CameraDesign or a Camera."""
    from camforge.camera import CameraDesign

    if isinstance(design, (str, Path)):
        return CameraDesign.from_yaml(design).to_dict()
    obj = getattr(design, "design", design)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(design, dict):
        return validate(CameraDesign, design, "camera design").to_dict()
    raise InputError(f"a design must be a YAML path, a mapping or a Camera, got {type(design).__name__}")


def simulate_lot(design, n_modules: int, out: str | Path, *, defect_rate: float = 0.1, seed: int = 0,
                 config: LotSimConfig | dict | str | Path | None = None, executor=None,
                 progress: Callable[[int, int], None] | None = None) -> LotSimulation:
    """Simulate a lot of ``n_modules`` modules of ``design`` into the folder ``out``.

    Args:
        design: design YAML path, mapping, :class:`~camforge.camera.CameraDesign` or Camera.
        defect_rate: probability that a module carries injected defects (0..1).
        config: :class:`LotSimConfig` (or its YAML path / mapping): frame size, spread, defects.
        executor: a :mod:`camforge.parallel` executor or spec string (default: in process).
        progress: ``progress(done, total)``.
    """
    import time

    from camforge.io import atomic_write_text
    from camforge.parallel import Executor, get_executor
    from camforge.qualify.lot import LotInfo, write_manifest

    import yaml

    if not isinstance(n_modules, int) or n_modules < 1:
        raise InputError(f"the number of modules must be a positive whole number, got {n_modules!r}")
    if not 0.0 <= float(defect_rate) <= 1.0:
        raise InputError(f"defect rate must be between 0 and 1, got {defect_rate}")
    if isinstance(config, (str, Path)):
        cfg = load_yaml(LotSimConfig, config)
    else:
        cfg = validate(LotSimConfig, config or {}, "lot simulation config")
    d = load_design(design)
    if cfg.size is not None:
        w, h = cfg.size
        if w < 32 or h < 32:
            raise ConfigError(f"invalid configuration: size: modules need at least 32 × 32 px, got {w} × {h}")
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ctx = {"design": d, "seed": int(seed), "defect_rate": float(defect_rate), "config": cfg.model_dump(mode="json"),
           "out": str(root)}
    own = not isinstance(executor, Executor)
    ex = executor if not own else get_executor(executor or "serial")
    try:
        results = ex.map(functools.partial(_simulate_task, ctx), range(n_modules), progress=progress)
    finally:
        if own:
            ex.close()
    rows = [r for rs in results for r in rs]
    write_manifest(root, rows)
    dd = resized_design(d, *cfg.size) if cfg.size else d
    atomic_write_text(root / "design.yaml", yaml.safe_dump(dd, sort_keys=False))
    kinds: dict[str, int] = {}
    n_def = 0
    for i in range(n_modules):
        t = json.loads((root / "truth" / f"M{i:05d}.json").read_text())
        n_def += bool(t["defective"])
        for k in t["kinds"]:
            kinds[k] = kinds.get(k, 0) + 1
    info = LotInfo(name=root.name, design=dd.get("name"), f_number=float(cfg.f_number or dd["lens"]["f_number"]),
                   pixel_pitch_um=dd["sensor"]["pixel_pitch_um"], width=dd["sensor"]["width_px"],
                   height=dd["sensor"]["height_px"], cfa=dd["sensor"].get("cfa", "RGGB"), simulated=True,
                   seed=int(seed), n_modules=n_modules, defect_rate=float(defect_rate))
    atomic_write_text(root / "lot.yaml", yaml.safe_dump(info.model_dump(mode="json"), sort_keys=False))
    return LotSimulation(root, n_modules, n_def, dict(sorted(kinds.items())), time.perf_counter() - t0)


__all__ = [
    "AREA_KINDS", "DefectsConfig", "KINDS", "LotSimConfig", "LotSimulation", "ModuleTruth", "PIXEL_KINDS",
    "SimulatedModule", "SpreadConfig", "area_defect", "load_design", "resized_design", "simulate_lot", "simulate_module",
]
