"""Test charts in physical units: slanted edges, ColorChecker, flat field, OECF steps,
dead leaves, Siemens star, dot grid.

Every chart is a set of materials (spectral reflectances) laid out on a Lambertian plane
lit by an illuminant at a given illuminance, so its radiance is L(λ) = ρ(λ) E(λ) / π
(:func:`camforge.spectral.lambertian_radiance`). Geometry is procedural: each material's
coverage is a signed-distance field rendered with a Gaussian prefilter,
coverage = Φ(d / σ), which is exact for straight edges at any angle.

Chart layouts follow the lab charts users know: ISO 12233:2023 e-SFR style tilted squares
at the centre, half field and corners (4:1 contrast by default); the X-Rite ColorChecker
Classic (4 × 6 patches, BabelColor average reflectances); an ISO 14524-style grey-step OECF
chart; the dead-leaves texture chart of Cao, Guichard & Hornung (2010) (r⁻³ radii); a
Siemens star (ISO 12233 Annex); a regular dot grid for distortion (SMIA / ISO 17850).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from camforge.errors import InputError
from camforge.scene.base import Scene
from camforge.spectral import (
    WavelengthGrid,
    colorchecker_reflectances,
    get_grid,
    illuminant_irradiance,
    lambertian_radiance,
)

# ---------------------------------------------------------------------------- helpers


def _spectra(reflectances: np.ndarray, illuminant: str, lux: float, grid: WavelengthGrid) -> torch.Tensor:
    """Radiance spectra ``[1, K, L]`` of Lambertian materials with ``reflectances`` ``[K, L]``."""
    E = illuminant_irradiance(illuminant, lux, grid).double().numpy()
    return torch.tensor(lambertian_radiance(np.asarray(reflectances, dtype=np.float64), E)[None], dtype=torch.float32)


def _neutral(values: Sequence[float], grid: WavelengthGrid) -> np.ndarray:
    """Spectrally flat reflectances ``[K, L]``."""
    v = np.asarray(values, dtype=np.float64)
    if (v < 0).any() or (v > 1).any():
        raise InputError("reflectances must lie in [0, 1]")
    return np.repeat(v[:, None], grid.n, axis=1)


def _cover(d: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-prefiltered coverage of the region where the signed distance ``d`` > 0."""
    if sigma <= 0:
        return (d > 0).to(d.dtype) + 0.5 * (d == 0).to(d.dtype)
    return torch.special.ndtr(d / sigma)


def _rect_sdf(u, v, cu, cv, half_w, half_h, angle_rad=0.0):
    """Signed distance (inside positive) to a rectangle rotated by ``angle_rad`` (approximate at corners)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    du, dv = u - cu, v - cv
    x = c * du + s * dv
    y = -s * du + c * dv
    return torch.minimum(half_w - x.abs(), half_h - y.abs())


def _validate_lux(lux: float):
    if not (isinstance(lux, (int, float)) and math.isfinite(lux) and lux >= 0):
        raise InputError(f"lux must be a finite number >= 0, got {lux!r}")


def _layered(regions):
    """Renderer from ordered layers on a background material 0.

    ``regions`` holds ``(material index, sdf function, bbox)`` with ``bbox = (u0, u1, v0, v1)``
    (or ``None``); later layers paint over earlier ones: m_layer = cover, m_below *= (1 - cover).
    Layers whose box lies more than 6σ outside the requested coordinates are skipped.
    """

    def render(u, v, sigma, n_materials):
        maps = torch.zeros((n_materials,) + tuple(u.shape), dtype=u.dtype, device=u.device)
        maps[0] = 1.0
        ud, vd = u.detach(), v.detach()
        umin, umax = (float(x) for x in torch.aminmax(ud))
        vmin, vmax = (float(x) for x in torch.aminmax(vd))
        m = 6 * sigma + 1e-9
        for k, sdf, box in regions:
            rs, cs = slice(None), slice(None)
            if box is not None:
                u0, u1, v0, v1 = box
                if u1 < umin - m or u0 > umax + m or v1 < vmin - m or v0 > vmax + m:
                    continue  # the layer does not reach these coordinates
            if box is not None and u.ndim == 2:
                inside = (ud >= u0 - m) & (ud <= u1 + m) & (vd >= v0 - m) & (vd <= v1 + m)
                rows = inside.any(dim=1).nonzero()
                if rows.numel() == 0:
                    continue  # the layer does not reach these coordinates
                cols = inside.any(dim=0).nonzero()
                rs = slice(int(rows[0]), int(rows[-1]) + 1)
                cs = slice(int(cols[0]), int(cols[-1]) + 1)
            c = _cover(sdf(u[rs, cs], v[rs, cs]), sigma)
            maps[:, rs, cs] = maps[:, rs, cs] * (1 - c)
            maps[k, rs, cs] = maps[k, rs, cs] + c
        return maps

    return render


def _rect_box(cu, cv, half_w, half_h, angle_rad=0.0):
    """Axis-aligned bounding box of a rotated rectangle."""
    c, s = abs(math.cos(angle_rad)), abs(math.sin(angle_rad))
    ew = half_w * c + half_h * s
    eh = half_w * s + half_h * c
    return (cu - ew, cu + ew, cv - eh, cv + eh)


def _procedural(render, n_materials, spectra, grid, *, aspect, name, illuminant, lux, truth, fov_deg=None, distance_m=None):
    def renderer(u, v, sigma):
        return render(u, v, sigma, n_materials)[None]

    return Scene(
        spectra=spectra,
        grid=grid,
        renderer=renderer,
        aspect=aspect,
        fov_deg=fov_deg,
        distance_m=distance_m,
        name=name,
        illuminant=illuminant,
        lux=float(lux),
        truth=truth,
    )


# ---------------------------------------------------------------------------- charts


def flat_field(
    lux: float = 100.0,
    illuminant: str = "D65",
    reflectance: float = 1.0,
    *,
    spectral: bool | str | WavelengthGrid = True,
    aspect: float = 0.75,
    fov_deg: float | None = None,
) -> Scene:
    """A uniform Lambertian target (flat field) at ``lux`` lx under ``illuminant``.

    With ``reflectance=1`` its radiance is E(λ)/π, the radiance of a perfect diffuser.
    """
    _validate_lux(lux)
    grid = get_grid(spectral)
    spectra = _spectra(_neutral([reflectance], grid), illuminant, lux, grid)

    def render(u, v, sigma, n):
        return torch.ones((1,) + tuple(u.shape), dtype=u.dtype, device=u.device)

    return _procedural(render, 1, spectra, grid, aspect=aspect, name="flat", illuminant=illuminant, lux=lux,
                       truth={"reflectance": reflectance}, fov_deg=fov_deg)


def slanted_edge(
    lux: float = 100.0,
    illuminant: str = "D65",
    angle_deg: float = 5.0,
    contrast: float = 4.0,
    *,
    layout: str = "field",
    light_reflectance: float = 0.8,
    square_size: float = 0.14,
    spectral: bool | str | WavelengthGrid = True,
    aspect: float = 0.75,
    fov_deg: float | None = None,
) -> Scene:
    """Slanted-edge SFR chart (ISO 12233:2023 e-SFR style).

    Args:
        angle_deg: tilt of the edges from the pixel axes [deg] (ISO recommends ~5°).
        contrast: light / dark reflectance ratio (4:1 per ISO 12233:2023).
        layout: ``"single"`` — one near-vertical edge through the centre (dark left, light
            right); ``"field"`` — dark tilted squares on a light ground at the centre, at
            half field and near the corners (0.85 field) on the diagonals.
        square_size: side of each square as a fraction of the scene width.

    ``truth["edges"]`` lists every edge: its centre (u, v), the unit normal pointing from
    dark to light, its angle from the nearest pixel axis, the field position (fraction of
    the half diagonal) and whether it is sagittal or meridional.
    """
    _validate_lux(lux)
    if not (0.0 < abs(angle_deg) < 45.0):
        raise InputError("angle_deg must be between 0 and 45 degrees (exclusive)")
    if contrast <= 1:
        raise InputError("contrast (light/dark reflectance ratio) must be > 1")
    grid = get_grid(spectral)
    dark = light_reflectance / contrast
    spectra = _spectra(_neutral([light_reflectance, dark], grid), illuminant, lux, grid)
    a = math.radians(angle_deg)
    truth_edges = []
    half_diag = math.hypot(1.0, aspect)

    if layout == "single":
        # dark where the rotated x < 0; edge through the origin, tilted from vertical by angle
        n = (math.cos(a), math.sin(a))  # normal from dark to light

        def render(u, v, sigma, k):
            d = u * n[0] + v * n[1]
            c = _cover(d, sigma)  # light coverage
            return torch.stack([c, 1 - c])

        truth_edges.append({"center": (0.0, 0.0), "normal": n, "angle_deg": angle_deg, "field": 0.0,
                            "direction": "vertical", "orientation": "meridional"})
        truth = {"edges": truth_edges, "layout": "single", "light_reflectance": light_reflectance,
                 "dark_reflectance": dark}
        return _procedural(render, 2, spectra, grid, aspect=aspect, name="slanted-edge", illuminant=illuminant,
                           lux=lux, truth=truth, fov_deg=fov_deg)
    if layout != "field":
        raise InputError(f"unknown slanted-edge layout {layout!r}; use 'single' or 'field'")

    half = square_size / 2
    centers = [(0.0, 0.0)]
    for f in (0.5, 0.85):
        for su in (-1, 1):
            for sv in (-1, 1):
                centers.append((su * f * 1.0 * (1 - half) , sv * f * aspect * (1 - half / aspect)))
    squares = []
    for cu, cv in centers:
        squares.append({"center": (cu, cv), "size": square_size, "angle_deg": angle_deg})
        r = math.hypot(cu, cv)
        for side in range(4):
            th = a + side * math.pi / 2  # outward normal of this side (dark inside → light outside)
            nrm = (math.cos(th), math.sin(th))
            ec = (cu + half * nrm[0], cv + half * nrm[1])
            direction = "vertical" if abs(nrm[0]) > abs(nrm[1]) else "horizontal"
            if r < 1e-9:
                orient = "meridional" if direction == "vertical" else "sagittal"
            else:
                radial = (ec[0] / max(math.hypot(*ec), 1e-12), ec[1] / max(math.hypot(*ec), 1e-12))
                # an edge whose normal is along the radius is resolved in the meridional
                # (tangential) direction? No: MTF measured along the edge normal; normal ∥ radius → sagittal-plane
                # blur is along the radius, i.e. the *meridional* (tangential plane) MTF.
                orient = "meridional" if abs(nrm[0] * radial[0] + nrm[1] * radial[1]) >= math.sqrt(0.5) else "sagittal"
            truth_edges.append({"center": ec, "normal": nrm, "angle_deg": angle_deg, "field": math.hypot(*ec) / half_diag,
                                "direction": direction, "orientation": orient})

    regions = [
        (1, (lambda cu, cv: (lambda u, v: _rect_sdf(u, v, cu, cv, half, half, a)))(cu, cv), _rect_box(cu, cv, half, half, a))
        for cu, cv in centers
    ]
    render = _layered(regions)
    truth = {"edges": truth_edges, "squares": squares, "layout": "field", "light_reflectance": light_reflectance,
             "dark_reflectance": dark}
    return _procedural(render, 2, spectra, grid, aspect=aspect, name="slanted-edge", illuminant=illuminant, lux=lux,
                       truth=truth, fov_deg=fov_deg)


def colorchecker(
    lux: float = 100.0,
    illuminant: str = "D65",
    *,
    fill: float = 0.8,
    surround_reflectance: float = 0.2,
    frame_reflectance: float = 0.04,
    spectral: bool | str | WavelengthGrid = True,
    aspect: float = 0.75,
    fov_deg: float | None = None,
    compact: bool = True,
) -> Scene:
    """X-Rite ColorChecker Classic: 4 rows × 6 patches on a black frame, on a grey surround.

    Reflectances are the BabelColor average spectra from colour-science. Physical layout:
    patch pitch 1.0, patch side 0.86 (≈ 40 mm patches on 46.5 mm centres), frame margin 0.4.
    The chart is ``fill`` of the scene width. ``truth["patches"]`` gives each patch's name,
    centre (u, v) and half side (scene units), in reading order (row 0: dark skin … cyan).
    """
    _validate_lux(lux)
    grid = get_grid(spectral)
    names, refl = colorchecker_reflectances(grid)
    materials = np.concatenate([_neutral([surround_reflectance, frame_reflectance], grid), refl])
    spectra = _spectra(materials, illuminant, lux, grid)
    pitch_units, patch_units, margin = 1.0, 0.86, 0.4
    chart_w = 6 * pitch_units + 2 * margin
    chart_h = 4 * pitch_units + 2 * margin
    scale = 2.0 * fill / chart_w
    if chart_h * scale > 2 * aspect:
        scale = 2 * aspect * 0.95 / chart_h
    half_patch = patch_units * scale / 2
    patches, regions = [], []
    regions.append((1, lambda u, v: _rect_sdf(u, v, 0.0, 0.0, chart_w * scale / 2, chart_h * scale / 2),
                    _rect_box(0.0, 0.0, chart_w * scale / 2, chart_h * scale / 2)))
    for i in range(24):
        r, c = divmod(i, 6)
        cu = (c - 2.5) * pitch_units * scale
        cv = (r - 1.5) * pitch_units * scale
        patches.append({"name": names[i], "index": i, "row": r, "col": c, "center": (cu, cv), "half_size": half_patch})
        regions.append((2 + i, (lambda cu, cv: (lambda u, v: _rect_sdf(u, v, cu, cv, half_patch, half_patch)))(cu, cv),
                        _rect_box(cu, cv, half_patch, half_patch)))
    render = _layered(regions)
    truth = {"patches": patches, "reflectance_source": "colour-science BabelColor Average",
             "chart_half_size": (chart_w * scale / 2, chart_h * scale / 2)}
    scene = _procedural(render, 26, spectra, grid, aspect=aspect, name="colorchecker", illuminant=illuminant, lux=lux,
                        truth=truth, fov_deg=fov_deg)
    return scene.compact() if compact else scene


def step_chart(
    lux: float = 100.0,
    illuminant: str = "D65",
    *,
    n_steps: int = 20,
    max_density: float = 3.0,
    surround_reflectance: float = 0.18,
    spectral: bool | str | WavelengthGrid = True,
    aspect: float = 0.75,
    fov_deg: float | None = None,
) -> Scene:
    """Grey-step OECF chart (ISO 14524 style): ``n_steps`` patches with optical densities
    evenly spaced from 0 to ``max_density`` (reflectance 10^-D), in rows of up to 5 patches.

    ``truth["patches"]`` gives each patch's density, reflectance, centre and half size.
    """
    _validate_lux(lux)
    if n_steps < 2:
        raise InputError("a step chart needs at least 2 steps")
    grid = get_grid(spectral)
    dens = np.linspace(0.0, max_density, n_steps)
    refl = 10.0 ** (-dens)
    materials = _neutral(np.concatenate([[surround_reflectance], refl]), grid)
    spectra = _spectra(materials, illuminant, lux, grid)
    ncol = min(5, n_steps)
    nrow = -(-n_steps // ncol)
    pitch = min(1.8 / ncol, 2 * aspect * 0.9 / nrow)
    half = pitch * 0.42
    patches, regions = [], []
    for i in range(n_steps):
        r, c = divmod(i, ncol)
        cu = (c - (ncol - 1) / 2) * pitch
        cv = (r - (nrow - 1) / 2) * pitch
        patches.append({"index": i, "density": float(dens[i]), "reflectance": float(refl[i]), "center": (cu, cv),
                        "half_size": half})
        regions.append((1 + i, (lambda cu, cv: (lambda u, v: _rect_sdf(u, v, cu, cv, half, half)))(cu, cv),
                        _rect_box(cu, cv, half, half)))
    render = _layered(regions)
    truth = {"patches": patches}
    # materials are all neutral: compact to a single map (exact)
    return _procedural(render, 1 + n_steps, spectra, grid, aspect=aspect, name="step", illuminant=illuminant,
                       lux=lux, truth=truth, fov_deg=fov_deg).compact()


def siemens_star(
    lux: float = 100.0,
    illuminant: str = "D65",
    *,
    n_cycles: int = 36,
    radius: float = 0.45,
    contrast: float = 4.0,
    light_reflectance: float = 0.8,
    spectral: bool | str | WavelengthGrid = True,
    aspect: float = 0.75,
    fov_deg: float | None = None,
) -> Scene:
    """Siemens star with ``n_cycles`` dark/light cycles (sinusoidal-free, binary spokes) of
    radius ``radius`` (scene units) centred in the scene, on the light ground."""
    _validate_lux(lux)
    if n_cycles < 4:
        raise InputError("a Siemens star needs at least 4 cycles")
    grid = get_grid(spectral)
    dark = light_reflectance / contrast
    spectra = _spectra(_neutral([light_reflectance, dark], grid), illuminant, lux, grid)

    def render(u, v, sigma, k):
        r = torch.sqrt(u * u + v * v)
        th = torch.atan2(v, u)
        # distance to the nearest spoke boundary: spokes switch every pi/n_cycles
        period = math.pi / n_cycles
        phase = torch.remainder(th, 2 * period)
        # inside dark spoke when phase < period; signed angular distance to boundary
        ang = torch.where(phase < period, torch.minimum(phase, period - phase), -torch.minimum(phase - period, 2 * period - phase))
        d_spoke = r * torch.sin(ang.clamp(-math.pi / 2, math.pi / 2))
        d_disc = radius - r
        inside = _cover(d_disc, sigma)
        dark_c = _cover(d_spoke, sigma) * inside
        return torch.stack([1 - dark_c, dark_c])

    truth = {"center": (0.0, 0.0), "radius": radius, "n_cycles": n_cycles}
    return _procedural(render, 2, spectra, grid, aspect=aspect, name="star", illuminant=illuminant, lux=lux,
                       truth=truth, fov_deg=fov_deg)


def dot_grid(
    lux: float = 100.0,
    illuminant: str = "D65",
    *,
    n_cols: int = 17,
    dot_radius: float | None = None,
    light_reflectance: float = 0.85,
    dark_reflectance: float = 0.05,
    spectral: bool | str | WavelengthGrid = True,
    aspect: float = 0.75,
    fov_deg: float | None = None,
) -> Scene:
    """Regular grid of dark dots on a light ground for distortion (SMIA TV distortion,
    ISO 17850). ``n_cols`` dots span the width; rows use the same pitch; a dot sits at the
    centre. ``truth["dots"]`` lists the ideal (undistorted) centres ``(u, v)``."""
    _validate_lux(lux)
    if n_cols < 3:
        raise InputError("a dot grid needs at least 3 columns")
    grid = get_grid(spectral)
    spectra = _spectra(_neutral([light_reflectance, dark_reflectance], grid), illuminant, lux, grid)
    pitch = 2.0 / n_cols
    rad = pitch * 0.2 if dot_radius is None else dot_radius
    half_c = (n_cols - 1) // 2
    n_rows_half = int(math.floor((aspect - pitch / 2) / pitch))
    cols = np.arange(-half_c, half_c + 1) * pitch
    rows = np.arange(-n_rows_half, n_rows_half + 1) * pitch
    dots = [(float(x), float(y)) for y in rows for x in cols]

    def render(u, v, sigma, k):
        # nearest grid dot (the grid is regular, so this is exact and O(pixels))
        iu = torch.clamp(torch.round(u / pitch), -half_c, half_c)
        iv = torch.clamp(torch.round(v / pitch), -n_rows_half, n_rows_half)
        d = rad - torch.sqrt((u - iu * pitch) ** 2 + (v - iv * pitch) ** 2)
        c = _cover(d, sigma)
        return torch.stack([1 - c, c])

    truth = {"dots": dots, "pitch": pitch, "dot_radius": rad, "n_cols": len(cols), "n_rows": len(rows)}
    return _procedural(render, 2, spectra, grid, aspect=aspect, name="grid", illuminant=illuminant, lux=lux,
                       truth=truth, fov_deg=fov_deg)


def dead_leaves(
    lux: float = 100.0,
    illuminant: str = "D65",
    *,
    size_px: int = 1024,
    r_min: float = 0.002,
    r_max: float = 0.15,
    reflectance_range: tuple[float, float] = (0.05, 0.85),
    color: bool = False,
    seed: int = 0,
    spectral: bool | str | WavelengthGrid = True,
    aspect: float = 0.75,
    fov_deg: float | None = None,
    supersample: int = 2,
) -> Scene:
    """Dead-leaves texture chart (Cao, Guichard & Hornung, Proc. SPIE 7537, 2010).

    Discs with radii distributed as r⁻³ between ``r_min`` and ``r_max`` (scene units) fall
    at uniform positions until the plane is covered; each has a uniform random reflectance
    in ``reflectance_range`` (grey) or a random sRGB colour (``color=True``). Rendered as a
    sampled scene of ``size_px`` width (anti-aliased by ``supersample``²). Deterministic for
    ``seed``. ``truth`` holds the radius law and the reflectance variance (for texture MTF).
    """
    _validate_lux(lux)
    if not (0 < r_min < r_max):
        raise InputError("dead leaves need 0 < r_min < r_max")
    grid = get_grid(spectral)
    rng = np.random.default_rng(seed)
    W = int(size_px) * supersample
    H = int(round(size_px * aspect)) * supersample
    label, nleaf = _dead_leaves_labels(rng, H, W, aspect, r_min, r_max)
    lo, hi = reflectance_range
    if color:
        from colour.recovery import MSDS_BASIS_FUNCTIONS_sRGB_MALLETT2019 as basis

        rgb = rng.uniform(lo, hi, (max(nleaf, 1), 3))
        img = rgb[label]  # [H, W, 3]
        from camforge.spectral import sd_band_average

        refl = sd_band_average(basis, grid)  # [3, L] reflectance basis
        maps = torch.tensor(img.transpose(2, 0, 1), dtype=torch.float32)
    else:
        g = rng.uniform(lo, hi, max(nleaf, 1))
        img = g[label]
        refl = _neutral([1.0], grid)
        maps = torch.tensor(img[None], dtype=torch.float32)
    if supersample > 1:
        maps = torch.nn.functional.avg_pool2d(maps[None], supersample)[0]
    spectra = _spectra(refl, illuminant, lux, grid)
    truth = {"r_min": r_min, "r_max": r_max, "reflectance_range": list(reflectance_range), "seed": seed,
             "color": color, "n_leaves": nleaf, "reflectance_mean": float(np.mean(img)),
             "reflectance_var": float(np.var(img))}
    return Scene(spectra=spectra, grid=grid, maps=maps, name="dead-leaves", illuminant=illuminant, lux=float(lux),
                 fov_deg=fov_deg, truth=truth)


def _dead_leaves_labels(rng, H: int, W: int, aspect: float, r_min: float, r_max: float) -> tuple[np.ndarray, int]:
    """Label image of the top-most disc at each pixel (disc 0 is on top), and the disc count.

    Discs are generated in depth order until every pixel is covered; pixels are assigned
    with a scatter-min over disc indices, grouped by disc bounding-box size so the work is
    vectorized (about the total disc area in pixel writes).
    """
    px = W / 2.0  # pixels per scene unit
    area_total = (2 + 2 * r_max) * (2 * aspect + 2 * r_max)
    mean_area = np.pi * 2 * r_min**2 * np.log(r_max / r_min) / (1 - (r_min / r_max) ** 2)
    label = torch.full((H * W,), torch.iinfo(torch.int64).max, dtype=torch.int64)
    n_done = 0
    for _ in range(20):
        n_new = int(area_total / mean_area * (7.0 if n_done == 0 else 2.0)) + 16
        u = rng.random(n_new)
        r = 1.0 / np.sqrt(1.0 / r_min**2 - u * (1.0 / r_min**2 - 1.0 / r_max**2)) * px
        cx = (rng.uniform(-1 - r_max, 1 + r_max, n_new) + 1) * px
        cy = (rng.uniform(-aspect - r_max, aspect + r_max, n_new) + aspect) * px
        idx = np.arange(n_done, n_done + n_new)
        half = np.ceil(r).astype(np.int64) + 1
        for h in np.unique(half):
            sel = np.nonzero(half == h)[0]
            off = np.arange(-h, h + 1)
            for chunk in np.array_split(sel, max(1, len(sel) * (2 * h + 1) ** 2 // 4_000_000 + 1)):
                x0 = np.floor(cx[chunk]).astype(np.int64)
                y0 = np.floor(cy[chunk]).astype(np.int64)
                xx = x0[:, None, None] + off[None, None, :]
                yy = y0[:, None, None] + off[None, :, None]
                inside = (xx + 0.5 - cx[chunk][:, None, None]) ** 2 + (yy + 0.5 - cy[chunk][:, None, None]) ** 2 <= (
                    r[chunk][:, None, None] ** 2
                )
                inside &= (xx >= 0) & (xx < W) & (yy >= 0) & (yy < H)
                k, iy, ix = np.nonzero(inside)
                if k.size == 0:
                    continue
                flat = torch.from_numpy(yy[k, iy, 0] * W + xx[k, 0, ix])
                label.scatter_reduce_(0, flat, torch.from_numpy(idx[chunk][k]), reduce="amin")
        n_done += n_new
        if (label == torch.iinfo(torch.int64).max).sum() == 0:
            break
    holes = label == torch.iinfo(torch.int64).max
    label[holes] = n_done  # any pixel left uncovered gets one extra background leaf
    # renumber to 0..n-1 in depth order
    uniq, inv = torch.unique(label, return_inverse=True)
    return inv.reshape(H, W).numpy(), int(uniq.numel())
