"""Colour filter array (CFA) patterns — one naming convention for the whole package.

A pattern name lists the colours of the top-left repeat tile **in row order**: ``RGGB``
means R at (row 0, col 0), G at (0, 1), G at (1, 0) and B at (1, 1). Image axes are
``[..., row (y), column (x)]``. Colour indices are 0 = R, 1 = G, 2 = B; a monochrome
sensor has one channel, index 0.

Supported patterns: ``RGGB``, ``BGGR``, ``GRBG``, ``GBRG`` (Bayer), ``MONO`` and the
Quad Bayer variants ``QUAD_RGGB``, ``QUAD_BGGR``, ``QUAD_GRBG``, ``QUAD_GBRG`` (4×4 tile of
2×2 same-colour blocks, as in Sony's Quad Bayer sensors).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from camforge.errors import InputError

BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
QUAD_PATTERNS = tuple("QUAD_" + p for p in BAYER_PATTERNS)
PATTERNS = BAYER_PATTERNS + QUAD_PATTERNS + ("MONO",)
_LETTER = {"R": 0, "G": 1, "B": 2}


def normalize_cfa(name: str) -> str:
    """Canonical upper-case pattern name; raise :class:`InputError` for unknown names."""
    if not isinstance(name, str):
        raise InputError(f"CFA pattern must be a string such as 'RGGB', got {name!r}")
    key = name.strip().upper().replace("-", "_").replace(" ", "_")
    aliases = {"MONOCHROME": "MONO", "GRAY": "MONO", "GREY": "MONO", "L": "MONO",
               "QUADBAYER": "QUAD_RGGB", "QUAD_BAYER": "QUAD_RGGB", "QBC": "QUAD_RGGB"}
    key = aliases.get(key, key)
    if key.startswith("QUAD") and not key.startswith("QUAD_"):
        key = "QUAD_" + key[4:]
    if key not in PATTERNS:
        raise InputError(
            f"unknown CFA pattern {name!r}; use one of {', '.join(PATTERNS)} "
            "(top-left 2x2 tile in row order: RGGB means R at row 0, column 0)"
        )
    return key


@lru_cache(maxsize=None)
def cfa_tile(name: str) -> np.ndarray:
    """Colour index of each site of the repeat tile, shape ``(n, n)`` (int)."""
    key = normalize_cfa(name)
    if key == "MONO":
        return np.zeros((1, 1), dtype=np.int64)
    base = key[5:] if key.startswith("QUAD_") else key
    t = np.array([_LETTER[c] for c in base], dtype=np.int64).reshape(2, 2)
    if key.startswith("QUAD_"):
        t = np.kron(t, np.ones((2, 2), dtype=np.int64))
    t.setflags(write=False)
    return t


def n_colors(name: str) -> int:
    """Number of distinct colour channels (3 for colour patterns, 1 for MONO)."""
    return 1 if normalize_cfa(name) == "MONO" else 3


def color_index_map(name: str, height: int, width: int, device=None) -> torch.Tensor:
    """Colour index per pixel, ``[H, W]`` long tensor."""
    t = torch.as_tensor(cfa_tile(name).copy())
    n = t.shape[0]
    reps = (-(-height // n), -(-width // n))
    return t.repeat(*reps)[:height, :width].to(device)


def color_masks(name: str, height: int, width: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """One-hot colour masks ``[C, H, W]`` (C = 3, or 1 for MONO)."""
    idx = color_index_map(name, height, width, device)
    c = n_colors(name)
    return torch.stack([(idx == k).to(dtype) for k in range(c)])


def bayer_2x2(name: str) -> str:
    """The 2×2 Bayer name a Quad Bayer pattern bins to (``QUAD_RGGB`` → ``RGGB``)."""
    key = normalize_cfa(name)
    return key[5:] if key.startswith("QUAD_") else key


def dng_cfa_pattern(name: str) -> tuple[tuple[int, int], bytes]:
    """(repeat dims, CFAPattern bytes) for the DNG/TIFF-EP tags (0=R, 1=G, 2=B)."""
    t = cfa_tile(name)
    return (t.shape[0], t.shape[1]), bytes(int(v) for v in t.ravel())


def cfa_from_dng(repeat: tuple[int, int], pattern: bytes | list[int]) -> str:
    """Pattern name from DNG CFARepeatPatternDim/CFAPattern values."""
    vals = list(pattern)
    for name in PATTERNS:
        if name == "MONO":
            continue
        t = cfa_tile(name)
        if t.shape == tuple(repeat) and list(t.ravel()) == vals:
            return name
    raise InputError(f"unsupported CFA layout {repeat} {vals}: camforge reads Bayer and Quad Bayer R/G/B patterns")
