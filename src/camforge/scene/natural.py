"""Natural images as spectral scenes (sRGB image → plausible reflectance spectra).

Each pixel's linear sRGB value (R, G, B) ∈ [0, 1] becomes the reflectance
ρ(λ) = R·b_R(λ) + G·b_G(λ) + B·b_B(λ) with the sRGB basis of Mallett & Yuksel
("Spectral Primary Decomposition for Rendering with sRGB Reflectance", EGSR 2019), as
distributed by colour-science. The basis spectra are non-negative, sum to one (so white
stays white and reflectances stay within [0, 1]) and reproduce the sRGB colour under D65.
The scene is then that reflectance map lit by ``illuminant`` at ``lux``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from camforge.errors import FormatError, InputError
from camforge.scene.base import Scene
from camforge.scene.charts import _spectra, _validate_lux
from camforge.spectral import WavelengthGrid, get_grid, sd_band_average


def srgb_basis(grid: WavelengthGrid) -> np.ndarray:
    """Mallett–Yuksel 2019 sRGB reflectance basis on ``grid``, ``[3, L]``."""
    from colour.recovery import MSDS_BASIS_FUNCTIONS_sRGB_MALLETT2019

    return sd_band_average(MSDS_BASIS_FUNCTIONS_sRGB_MALLETT2019, grid)


def _load(image) -> np.ndarray:
    if isinstance(image, (str, Path)):
        p = Path(image)
        if not p.exists():
            raise FormatError(f"image file not found: {p}")
        try:
            if p.suffix.lower() in (".tif", ".tiff"):
                import tifffile

                arr = tifffile.imread(p)
            else:
                from PIL import Image as PILImage

                with PILImage.open(p) as im:
                    arr = np.asarray(im.convert("RGB") if im.mode not in ("RGB", "I;16", "I") else im)
        except Exception as e:  # noqa: BLE001 - any decoder failure is a format problem
            raise FormatError(f"cannot read image {p}: {e}") from e
        return arr
    if isinstance(image, torch.Tensor):
        return image.detach().cpu().numpy()
    return np.asarray(image)


def natural_image(
    image,
    lux: float = 100.0,
    illuminant: str = "D65",
    *,
    encoding: str = "srgb",
    spectral: bool | str | WavelengthGrid = True,
    fov_deg: float | None = None,
    distance_m: float | None = None,
    name: str = "natural",
) -> Scene:
    """Scene from an RGB image (path or ``[H, W, 3]`` array; uint8, uint16 or float in [0, 1]).

    ``encoding="srgb"`` decodes the IEC 61966-2-1 transfer function first; ``"linear"``
    takes the values as linear sRGB reflectance weights.
    """
    _validate_lux(lux)
    arr = _load(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise InputError(f"natural image must be [H, W, 3], got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        x = arr.astype(np.float64) / 255.0
    elif arr.dtype == np.uint16:
        x = arr.astype(np.float64) / 65535.0
    else:
        x = arr.astype(np.float64)
    if not np.isfinite(x).all():
        raise InputError("natural image contains NaN or infinite values")
    x = np.clip(x, 0.0, 1.0)
    if encoding == "srgb":
        import colour

        x = colour.cctf_decoding(x, function="sRGB")
    elif encoding != "linear":
        raise InputError(f"unknown encoding {encoding!r}; use 'srgb' or 'linear'")
    grid = get_grid(spectral)
    spectra = _spectra(srgb_basis(grid), illuminant, lux, grid)
    maps = torch.tensor(np.ascontiguousarray(x.transpose(2, 0, 1)), dtype=torch.float32)
    return Scene(spectra=spectra, grid=grid, maps=maps, name=name, illuminant=illuminant, lux=float(lux),
                 fov_deg=fov_deg, distance_m=distance_m, truth={"shape": list(arr.shape)})
