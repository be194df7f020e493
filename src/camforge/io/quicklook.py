"""A fast preview of a raw frame (not the ISP: no demosaic, denoise or colour correction).

Steps: average the same-colour sites of each CFA repeat tile into one RGB pixel (half
resolution for Bayer, quarter for Quad Bayer; a mono frame stays grey at full size),
subtract the black level, grey-world white balance, scale so a high percentile of the
signal maps to white, and encode with the sRGB transfer function (IEC 61966-2-1, via
colour-science, tabulated on 16-bit linear levels). Good for looking at a capture, not for measuring it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from camforge.cfa import cfa_tile, n_colors
from camforge.errors import InputError
from camforge.types import Raw


def _bin_tiles(frame: np.ndarray, tile: np.ndarray, black: np.ndarray) -> np.ndarray:
    """Black-subtracted mean of each colour per CFA tile, ``[h, w, C]`` float32."""
    n = tile.shape[0]
    h, w = frame.shape[0] // n, frame.shape[1] // n
    if h == 0 or w == 0:
        raise InputError(f"raw frame {frame.shape} is smaller than one CFA tile ({n}x{n})")
    c = int(tile.max()) + 1
    out = np.zeros((h, w, c), dtype=np.float32)
    count = np.bincount(tile.ravel(), minlength=c)
    for i in range(n):
        for j in range(n):
            k = int(tile[i, j])
            out[..., k] += frame[i : h * n : n, j : w * n : n]
            out[..., k] -= black[i, j]
    out /= count.astype(np.float32)
    return out


@lru_cache(maxsize=1)
def _srgb_lut() -> np.ndarray:
    """8-bit sRGB code of each 16-bit linear level (colour-science IEC 61966-2-1 encoding)."""
    import colour

    enc = colour.cctf_encoding(np.arange(65536) / 65535.0, function="sRGB")
    return np.clip(np.rint(np.asarray(enc) * 255.0), 0, 255).astype(np.uint8)


def quicklook(raw: Raw, index: int = 0, *, percentile: float = 99.5) -> np.ndarray:
    """Preview of frame ``index`` of ``raw`` as 8-bit sRGB ``[h, w, 3]`` (uint8).

    Args:
        raw: raw frame(s) [DN].
        index: frame of the batch.
        percentile: the ``percentile`` of the white-balanced signal maps to full white.

    Returns:
        ``np.uint8`` array ``[H/2, W/2, 3]`` for Bayer, ``[H/4, W/4, 3]`` for Quad Bayer,
        ``[H, W, 3]`` (grey) for mono.
    """
    if not isinstance(raw, Raw):
        raise InputError(f"quicklook needs a camforge Raw, got {type(raw).__name__}")
    if not -raw.batch <= index < raw.batch:
        raise InputError(f"frame index {index} out of range for a batch of {raw.batch}")
    frame = raw.numpy(index)
    if not np.isfinite(frame.min()) or not np.isfinite(frame.max()):
        raise InputError("raw frame contains NaN or infinite values")
    meta = raw.meta
    rgb = _bin_tiles(frame, cfa_tile(meta.cfa), meta.black_level_tile().astype(np.float32))
    np.maximum(rgb, 0.0, out=rgb)
    if n_colors(meta.cfa) == 3:
        means = rgb.reshape(-1, 3).mean(axis=0, dtype=np.float64)
        gains = np.where(means > 0, means[1] / np.maximum(means, 1e-12), 1.0)
        rgb *= gains.astype(np.float32)
    else:
        rgb = np.repeat(rgb, 3, axis=-1)
    flat = rgb.reshape(-1)
    step = max(1, flat.size // 1_000_000)
    top = float(np.percentile(flat[::step], percentile))
    if top <= 0:
        top = float(flat.max()) or 1.0
    rgb *= np.float32(65535.0 / top)
    np.clip(rgb, 0.0, 65535.0, out=rgb)
    return _srgb_lut()[np.rint(rgb).astype(np.uint16)]


__all__ = ["quicklook"]
