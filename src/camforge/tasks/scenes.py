"""Procedural labelled scenes: shapes and handwritten digits on textured backgrounds, spectral.

Each scene is a camforge :class:`~camforge.scene.Scene` with sampled maps (so it goes through
the real lens, sensor and ISP) plus ground truth:

* objects — six geometric shapes (circle, square, triangle, star, cross, ring) drawn from
  signed distances, and the ten digits of scikit-learn's bundled handwritten digits
  (``sklearn.datasets.load_digits``: 1797 8 × 8 images, UCI "Optical Recognition of
  Handwritten Digits", read from the installed package, no download) — at random position,
  size, rotation and contrast; digits 0–1199 are used for training renders, 1200–1796 for
  evaluation;
* materials — object reflectances from the 24 ColorChecker spectra (BabelColor average, via
  colour-science), scaled to a drawn luminance contrast with the background; backgrounds are
  flat, dead leaves or natural-image crops (:mod:`camforge.tasks.textures`) with reduced
  contrast, represented with the sRGB reflectance basis of Mallett & Yuksel (2019);
  objects may carry a dead-leaves texture;
* truth — the class of the (first) object, and a segmentation mask (0 background,
  1 shape, 2 digit) on the render grid.

Radiance: ``maps [B, 4, R, R]`` (three sRGB-basis weights of the background, object coverage)
× ``spectra [B, 4, L]`` (basis or object reflectance × illuminant / π), the factored form of
:class:`~camforge.scene.Scene`. Scene coordinates: u, v ∈ [−1, 1] (square scenes).
:func:`render_clean` gives the ideal image (no noise, no blur: reflectance → CIE XYZ under the
illuminant → von Kries-adapted to D65 → sRGB), which trains the task models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from camforge.errors import DependencyError, InputError

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")
DIGITS: tuple[str, ...] = tuple(f"digit_{d}" for d in range(10))
#: Classification classes (index = label).
CLASSES: tuple[str, ...] = SHAPES + DIGITS
#: Segmentation classes (index = mask value).
SEG_CLASSES: tuple[str, ...] = ("background", "shape", "digit")
#: Split of scikit-learn's 1797 digits: training renders use the first, evaluation the rest.
DIGIT_SPLIT = 1200

BACKGROUNDS = ("flat", "dead_leaves", "natural")


@dataclass
class LabelledScenes:
    """A batch of labelled scenes (render grid ``R × R`` over u, v ∈ [−1, 1]).

    Attributes:
        maps: ``[B, 4, R, R]`` background sRGB-basis weights (3) and object coverage (1).
        reflectance: ``[B, 4, L]`` reflectance spectra on ``grid`` (basis 3 + object 1).
        grid: wavelength grid of the spectra.
        labels: ``[B]`` class index (:data:`CLASSES`) of the first object.
        masks: ``[B, R, R]`` segmentation class (:data:`SEG_CLASSES`) per render pixel.
        n_objects: ``[B]`` objects per scene.
        seed, split: provenance (``split`` is ``train`` or ``test``: which digits were used).
    """

    maps: torch.Tensor
    reflectance: torch.Tensor
    grid: object
    labels: torch.Tensor
    masks: torch.Tensor
    n_objects: torch.Tensor
    seed: int
    split: str

    @property
    def batch(self) -> int:
        return int(self.maps.shape[0])

    @property
    def render_px(self) -> int:
        return int(self.maps.shape[-1])

    def scene(self, lux: float = 100.0, illuminant: str = "D65", *, fov_deg: float | None = None):
        """The radiance of the whole batch as one :class:`~camforge.scene.Scene` lit by
        ``illuminant`` at ``lux`` lx (``fov_deg``: the full horizontal field it spans)."""
        from camforge.scene import Scene
        from camforge.spectral import illuminant_irradiance

        if not (math.isfinite(lux) and lux >= 0):
            raise InputError(f"lux must be a finite number >= 0, got {lux!r}")
        E = illuminant_irradiance(illuminant, lux, self.grid).float()
        spectra = self.reflectance * E[None, None] / math.pi
        return Scene(spectra=spectra, grid=self.grid, maps=self.maps, fov_deg=fov_deg, name="labelled",
                     illuminant=illuminant, lux=float(lux),
                     truth={"labels": self.labels.tolist(), "classes": list(CLASSES)})

    def subset(self, idx) -> LabelledScenes:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return replace(self, maps=self.maps[idx], reflectance=self.reflectance[idx], labels=self.labels[idx],
                       masks=self.masks[idx], n_objects=self.n_objects[idx])


# ---------------------------------------------------------------------------- data


@lru_cache(maxsize=1)
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits: images ``[1797, 8, 8]`` in [0, 1] and labels ``[1797]``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DependencyError("the digit objects need scikit-learn: pip install scikit-learn") from e
    d = load_digits()
    return torch.tensor(d.images / 16.0, dtype=torch.float32), torch.tensor(d.target, dtype=torch.long)


@lru_cache(maxsize=4)
def _materials(grid_key):
    """ColorChecker reflectances [24, L], sRGB basis [3, L], CIE 1931 CMFs [3, L] on a grid."""
    from camforge.scene import srgb_basis
    from camforge.spectral import cie1931_cmfs, colorchecker_reflectances

    grid = grid_key
    _, cc = colorchecker_reflectances(grid)
    return (torch.tensor(cc, dtype=torch.float32), torch.tensor(srgb_basis(grid), dtype=torch.float32),
            torch.tensor(cie1931_cmfs(grid) * np.asarray(grid.bandwidths_nm)[None], dtype=torch.float32))


def _luminance_factor(refl: torch.Tensor, grid, illuminant: str) -> torch.Tensor:
    """CIE Y of reflectances ``[..., L]`` under ``illuminant`` (white = 1)."""
    from camforge.spectral import illuminant_irradiance

    E = illuminant_irradiance(illuminant, 1.0, grid).float()
    ybar = _materials(grid)[2][1]
    return (refl * (E * ybar)).sum(-1) / (E * ybar).sum()


# ---------------------------------------------------------------------------- geometry


def _shape_sdf(kind: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Signed distance (inside > 0, in units of the shape's radius) of a unit shape."""
    r = torch.sqrt(x * x + y * y)
    if kind == "circle":
        return 0.9 - r
    if kind == "square":
        return 0.78 - torch.maximum(x.abs(), y.abs())
    if kind == "triangle":
        d = None
        for k in range(3):  # equilateral, circumradius 1, apex up (image rows go down)
            a = -math.pi / 2 + k * 2 * math.pi / 3 + math.pi  # outward normals of the sides
            n = (math.cos(a), math.sin(a))
            dk = 0.5 - (n[0] * x + n[1] * y)
            d = dk if d is None else torch.minimum(d, dk)
        return d
    if kind == "star":
        th = torch.atan2(y, x) + math.pi / 2
        t = torch.remainder(th, 2 * math.pi / 5) / (2 * math.pi / 5)  # 0..1 within one point
        boundary = 0.42 + 0.58 * (1 - 2 * (t - 0.5).abs())  # tips at t = 0.5
        return (boundary - r) * 0.6
    if kind == "cross":
        a = torch.minimum(0.3 - x.abs(), 0.9 - y.abs())
        b = torch.minimum(0.9 - x.abs(), 0.3 - y.abs())
        return torch.maximum(a, b)
    if kind == "ring":
        return torch.minimum(0.95 - r, r - 0.55)
    raise InputError(f"unknown shape {kind!r}; shapes are {', '.join(SHAPES)}")


def _object_coverage(label: int, digit_img: torch.Tensor | None, u, v, cu, cv, radius, angle, px_per_unit):
    """Anti-aliased coverage ``[R, R]`` of one object at centre (cu, cv) [scene units]."""
    c, s = math.cos(angle), math.sin(angle)
    x = (c * (u - cu) + s * (v - cv)) / radius
    y = (-s * (u - cu) + c * (v - cv)) / radius
    if label < len(SHAPES):
        d = _shape_sdf(SHAPES[label], x, y) * radius * px_per_unit  # distance in render pixels
        return torch.clamp(d + 0.5, 0.0, 1.0)
    # digit: its 8 x 8 box spans [-1, 1] in local units; bicubic sample, soft threshold
    grid = torch.stack([x, y], -1)[None]
    val = F.grid_sample(digit_img[None, None], grid, mode="bicubic", padding_mode="zeros", align_corners=False)[0, 0]
    # width of the soft threshold ~ one render pixel (digit units per pixel ≈ 8 / (2 r px))
    edge = max(0.02, 4.0 / (radius * px_per_unit))
    return torch.clamp((val - 0.4) / edge + 0.5, 0.0, 1.0)


# ---------------------------------------------------------------------------- generator


def labelled_scenes(
    n: int,
    *,
    seed: int = 0,
    render_px: int = 128,
    max_objects: int = 1,
    split: str = "test",
    spectral=True,
    illuminant: str = "D65",
    contrast: tuple[float, float] = (0.2, 0.8),
    size: tuple[float, float] = (0.3, 0.8),
    backgrounds: tuple[str, ...] = BACKGROUNDS,
) -> LabelledScenes:
    """Generate ``n`` labelled scenes (deterministic for ``seed``).

    Args:
        render_px: side of the render grid (use ≥ 2 × the capture's pixels across the scene).
        max_objects: objects per scene are drawn from 1…``max_objects`` (later ones occlude
            earlier ones); the label is the first object's class. Use 1 for classification.
        split: ``train`` or ``test`` digits (disjoint samples of scikit-learn's set).
        spectral: wavelength grid of the reflectances (``True``: 31 bands, ``False``: 3).
        illuminant: light used to set the luminance contrast of object and background.
        contrast: range of the Michelson luminance contrast |Y_o − Y_b| / (Y_o + Y_b).
        size: range of object diameter / scene width (the single-object case; smaller when
            there are several).
        backgrounds: background kinds to draw from (``flat``, ``dead_leaves``, ``natural``).
    """
    from camforge.spectral import get_grid
    if n < 1:
        raise InputError(f"need at least one scene, got n={n}")
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    if max_objects < 1:
        raise InputError(f"max_objects must be >= 1, got {max_objects}")
    bad = [b for b in backgrounds if b not in BACKGROUNDS]
    if bad or not backgrounds:
        raise InputError(f"unknown background {bad}; use {', '.join(BACKGROUNDS)}")
    if not (0 < contrast[0] <= contrast[1] < 1):
        raise InputError(f"contrast range must satisfy 0 < lo <= hi < 1, got {contrast}")
    if not (0 < size[0] <= size[1] <= 1.5):
        raise InputError(f"size range must satisfy 0 < lo <= hi <= 1.5, got {size}")
    R = int(render_px)
    if R < 16:
        raise InputError(f"render_px must be at least 16, got {render_px}")
    grid = get_grid(spectral)
    cc, basis, _ = _materials(grid)
    dimg, dlab = digits()
    pool = torch.arange(0, DIGIT_SPLIT) if split == "train" else torch.arange(DIGIT_SPLIT, dimg.shape[0])
    by_digit = [pool[dlab[pool] == d] for d in range(10)]

    g = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    u = -1 + (torch.arange(R, dtype=torch.float32) + 0.5) * (2.0 / R)
    vv, uu = torch.meshgrid(u, u, indexing="ij")
    px_per_unit = R / 2.0

    kinds = rng.choice(len(backgrounds), size=n)
    need = {b: int((np.asarray([backgrounds[k] for k in kinds]) == b).sum()) for b in backgrounds}
    crops = {}
    if need.get("dead_leaves"):
        crops["dead_leaves"] = _texture_crops("dead_leaves", split, need["dead_leaves"], R, g)
    if need.get("natural"):
        crops["natural"] = _texture_crops("natural", split, need["natural"], R, g)
    used = {b: 0 for b in backgrounds}
    obj_tex = _texture_crops("grey_leaves", split, n, R, g)[:, 0]

    maps = torch.zeros((n, 4, R, R), dtype=torch.float32)
    refl = torch.zeros((n, 4, grid.n), dtype=torch.float32)
    labels = torch.zeros(n, dtype=torch.long)
    masks = torch.zeros((n, R, R), dtype=torch.long)
    n_obj = torch.zeros(n, dtype=torch.long)
    y_cc = _luminance_factor(cc, grid, illuminant)  # [24]
    for i in range(n):
        kind = backgrounds[int(kinds[i])]
        level = float(rng.uniform(0.08, 0.55))  # background mean luminance factor
        if kind == "flat":
            tint = torch.tensor(rng.uniform(0.7, 1.3, 3), dtype=torch.float32)
            bg = (tint / tint.mean() * level).reshape(3, 1, 1).expand(3, R, R).clone()
        else:
            c = crops[kind][used[kind]]
            used[kind] += 1
            amp = float(rng.uniform(0.15, 0.5))
            bg = level + amp * level * (c - c.mean()) / max(float(c.mean()), 1e-3)
        bg = bg.clamp(0.0, 1.0)
        y_bg = float((0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]).mean())
        k = int(rng.integers(1, max_objects + 1))
        cover_all = torch.zeros((R, R))
        obj_map = torch.zeros((R, R))
        seg = torch.zeros((R, R), dtype=torch.long)
        # one material for all objects of a scene (the scene has one object map)
        patch = int(rng.integers(0, 24))
        C = float(rng.uniform(*contrast))
        brighter = bool(rng.random() < 0.5)
        y_obj = y_bg * ((1 + C) / (1 - C) if brighter else (1 - C) / (1 + C))
        if y_obj > 0.9:
            y_obj = y_bg * (1 - C) / (1 + C)
        ratio = y_obj / max(float(y_cc[patch]), 1e-4)
        r_obj = cc[patch] * ratio
        if float(r_obj.max()) > 1.0:
            r_obj = r_obj / float(r_obj.max())
        textured = bool(rng.random() < 0.4)
        tex = 1.0 - 0.3 + 0.3 * obj_tex[i] / max(float(obj_tex[i].mean()), 1e-3) if textured else None
        for j in range(k):
            label = int(rng.integers(0, len(CLASSES)))
            scale = 1.0 if k == 1 else 0.6
            diam = float(rng.uniform(*size)) * scale
            radius = diam  # half the diameter in scene units (scene width = 2)
            margin = min(radius * 0.9, 0.95)
            cu = float(rng.uniform(-1 + margin, 1 - margin))
            cv = float(rng.uniform(-1 + margin, 1 - margin))
            if label < len(SHAPES):
                angle = float(rng.uniform(0, 2 * math.pi))
                dig = None
            else:
                angle = float(rng.uniform(-0.3, 0.3))
                choices = by_digit[label - len(SHAPES)]
                dig = dimg[int(choices[int(rng.integers(0, len(choices)))])]
            cov = _object_coverage(label, dig, uu, vv, cu, cv, radius, angle, px_per_unit)
            obj_map = torch.maximum(obj_map, cov)
            seg = torch.where(cov > 0.5, torch.full_like(seg, 1 if label < len(SHAPES) else 2), seg)
            if j == 0:
                labels[i] = label
            cover_all = torch.maximum(cover_all, cov)
        o = obj_map if tex is None else obj_map * tex
        maps[i, :3] = bg * (1 - cover_all)
        maps[i, 3] = o
        refl[i, :3] = basis
        refl[i, 3] = r_obj
        masks[i] = seg
        n_obj[i] = k
    return LabelledScenes(maps=maps, reflectance=refl, grid=grid, labels=labels, masks=masks, n_objects=n_obj,
                          seed=int(seed), split=split)


TEXTURE_PX = 128
"""Side of the texture crops [px of the source image] (resampled to the render grid, so a
scene looks the same at any render resolution)."""


def _texture_crops(kind: str, split: str, n: int, R: int, g: torch.Generator) -> torch.Tensor:
    """``n`` background / object texture crops ``[n, 3, R, R]`` for ``split``: dead leaves from
    disjoint seeds, natural photographs from disjoint parts (train: the left two thirds of
    each image, test: the right third)."""
    from camforge.tasks.textures import dead_leaves_images, natural_images, random_crops

    train = split == "train"
    if kind == "dead_leaves":
        bank = dead_leaves_images(4 if train else 2, 512, seed=1000 if train else 3000, r_min=0.01, r_max=0.3)
    elif kind == "grey_leaves":
        bank = dead_leaves_images(2 if train else 1, 512, seed=2000 if train else 4000, color=False, r_min=0.01,
                                  r_max=0.2)
    else:
        imgs = natural_images(1)
        cut = [im.shape[-1] * 2 // 3 for im in imgs]
        bank = [im[..., :c] if train else im[..., c:] for im, c in zip(imgs, cut)]
    c = random_crops(bank, n, TEXTURE_PX, g)
    if R != TEXTURE_PX:
        c = F.interpolate(c, size=(R, R), mode="bilinear", align_corners=False, antialias=R < TEXTURE_PX)
    return c


# ---------------------------------------------------------------------------- ideal render


def material_srgb(reflectance: torch.Tensor, grid, illuminant: str = "D65") -> torch.Tensor:
    """Linear sRGB of reflectances ``[..., L]`` under ``illuminant``, as an ideal camera with
    perfect white balance sees them: CIE 1931 XYZ (white Y = 1), von Kries (Bradford) adapted
    from the illuminant's white to D65, then IEC 61966-2-1 linear sRGB (colour-science)."""
    import colour

    from camforge.spectral import illuminant_irradiance

    E = illuminant_irradiance(illuminant, 1.0, grid).double().numpy()
    cmf = _materials(grid)[2].double().numpy()  # [3, L], band widths included
    r = reflectance.detach().double().numpy()
    xyz = (r * E) @ cmf.T / float(cmf[1] @ E)
    white = cmf @ E / float(cmf[1] @ E)
    d65 = colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    xyz = colour.adaptation.chromatic_adaptation_VonKries(xyz, white, d65, transform="Bradford")
    rgb = colour.XYZ_to_RGB(xyz, colour.RGB_COLOURSPACES["sRGB"], illuminant=colour.xy_to_xyY(
        colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])[:2], apply_cctf_encoding=False)
    return torch.tensor(rgb, dtype=torch.float32)


def render_clean(scenes: LabelledScenes, out_px: int = 64, illuminant: str = "D65", *,
                 encode: bool = True) -> torch.Tensor:
    """Ideal image of the scenes ``[B, 3, out_px, out_px]``: no noise, no optics — each
    material's colour (:func:`material_srgb`) weighted by its map, area-averaged to
    ``out_px`` and sRGB-encoded (``encode=False``: linear)."""
    R = scenes.render_px
    if out_px < 1 or R % out_px:
        raise InputError(f"out_px must divide the render size {R}, got {out_px}")
    rgb = material_srgb(scenes.reflectance, scenes.grid, illuminant)  # [B, 4, 3]
    lin = torch.einsum("bkhw,bkc->bchw", scenes.maps, rgb)
    if out_px != R:
        lin = F.avg_pool2d(lin, R // out_px)
    lin = lin.clamp(0.0, 1.0)
    if not encode:
        return lin
    from camforge.isp.tone import srgb_encode

    return srgb_encode(lin)


def masks_at(scenes: LabelledScenes, out_px: int) -> torch.Tensor:
    """Segmentation masks on an ``out_px`` grid over the scene (nearest render pixel)."""
    R = scenes.render_px
    idx = ((torch.arange(out_px) + 0.5) * R / out_px).long().clamp(0, R - 1)
    return scenes.masks[:, idx][:, :, idx]
