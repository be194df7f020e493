"""Texture sources for labelled scenes and learned-ISP training: dead leaves and natural images.

* Dead leaves (:func:`camforge.scene.dead_leaves`, Cao, Guichard & Hornung 2010): a few large
  colour or grey images rendered once per seed, from which small patches are cropped.
* Natural images: the colour photographs bundled inside scikit-image's package folder
  (``skimage/data``: astronaut, chelsea, coffee, rocket, retina, immunohistochemistry,
  hubble_deep_field) and its grey textures (brick, grass, gravel). They are read from the
  installed files — never fetched: a missing file raises :class:`DependencyError`. The
  Kodak test images are deliberately not among them (they are camforge's test set).

All images are linear RGB ``[3, H, W]`` float32 in [0, 1] (sRGB-decoded per IEC 61966-2-1).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from camforge.errors import DependencyError

#: Colour photographs bundled with scikit-image (file names in ``skimage/data``).
NATURAL_IMAGES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "retina.jpg", "ihc.png",
                  "hubble_deep_field.jpg")
#: Grey texture photographs bundled with scikit-image.
GREY_TEXTURES = ("brick.png", "grass.png", "gravel.png")


def _skimage_data_dir() -> Path:
    try:
        import skimage
    except ImportError as e:  # pragma: no cover - scikit-image is a dependency
        raise DependencyError("scikit-image is needed for the natural-image textures: pip install scikit-image") from e
    return Path(skimage.__file__).resolve().parent / "data"


def _read(name: str) -> np.ndarray:
    p = _skimage_data_dir() / name
    if not p.is_file():
        raise DependencyError(
            f"scikit-image's bundled image {name} is missing from {p.parent}; reinstall scikit-image "
            "(camforge never downloads data)"
        )
    from PIL import Image as PILImage

    with PILImage.open(p) as im:
        return np.asarray(im.convert("RGB"))


@lru_cache(maxsize=1)
def _srgb_lut() -> np.ndarray:
    """IEC 61966-2-1 decoding of the 256 8-bit codes (colour-science), float64."""
    import colour

    return np.asarray(colour.cctf_decoding(np.arange(256, dtype=np.float64) / 255.0, function="sRGB"))


def _linear(rgb8: np.ndarray, downscale: int) -> torch.Tensor:
    x = _srgb_lut()[rgb8]
    t = torch.tensor(np.ascontiguousarray(x.transpose(2, 0, 1)), dtype=torch.float32)
    if downscale > 1:
        H, W = t.shape[-2:]
        t = torch.nn.functional.avg_pool2d(t[None, :, : H - H % downscale, : W - W % downscale], downscale)[0]
    return t


@lru_cache(maxsize=4)
def natural_images(downscale: int = 1, grey: bool = True) -> tuple[torch.Tensor, ...]:
    """scikit-image's bundled photographs as linear RGB ``[3, H, W]`` (area-downscaled by
    ``downscale``, which also removes most JPEG and demosaicing artefacts); ``grey`` adds the
    grey texture photographs (brick, grass, gravel) as neutral RGB."""
    out = [_linear(_read(n), downscale) for n in NATURAL_IMAGES]
    if grey:
        out += [_linear(_read(n), downscale) for n in GREY_TEXTURES]
    return tuple(out)


@lru_cache(maxsize=8)
def dead_leaves_images(n: int = 4, size_px: int = 512, seed: int = 0, color: bool = True,
                       r_min: float = 0.01, r_max: float = 0.3) -> tuple[torch.Tensor, ...]:
    """``n`` dead-leaves images ``[3, size, size]`` (linear reflectance, seeds ``seed … seed+n−1``).

    ``r_min``/``r_max`` are disc radii in units of half the image width (the scene's units).
    """
    from camforge.scene import dead_leaves

    out = []
    for i in range(n):
        s = dead_leaves(lux=100.0, spectral=False, size_px=size_px, aspect=1.0, seed=seed + i, color=color,
                        r_min=r_min, r_max=r_max, reflectance_range=(0.02, 0.95), supersample=1)
        m = s.maps[0].float()
        out.append(m if m.shape[0] == 3 else m.expand(3, -1, -1).clone())
    return tuple(out)


def random_crops(bank, n: int, size: int, generator: torch.Generator, *, augment: bool = True) -> torch.Tensor:
    """``n`` random ``size × size`` crops ``[n, 3, size, size]`` from the images in ``bank``
    (each image chosen with probability ∝ its area), with random flips and 90° rotations."""
    bank = [b for b in bank if b.shape[-1] >= size and b.shape[-2] >= size]
    if not bank:
        raise DependencyError(f"no texture image is at least {size} × {size} pixels")
    areas = torch.tensor([float(b.shape[-1] * b.shape[-2]) for b in bank])
    idx = torch.multinomial(areas / areas.sum(), n, replacement=True, generator=generator)
    out = torch.empty((n, 3, size, size), dtype=torch.float32)
    for i, k in enumerate(idx.tolist()):
        img = bank[k]
        H, W = img.shape[-2:]
        y = int(torch.randint(0, H - size + 1, (1,), generator=generator))
        x = int(torch.randint(0, W - size + 1, (1,), generator=generator))
        c = img[:, y : y + size, x : x + size]
        if augment:
            r = torch.randint(0, 8, (1,), generator=generator).item()
            if r & 1:
                c = c.flip(-1)
            c = torch.rot90(c, r // 2, (-2, -1))
        out[i] = c
    return out
