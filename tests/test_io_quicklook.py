"""Quick-look preview: geometry per CFA, grey-world balance, sRGB encoding (colour-science)."""

from __future__ import annotations

import colour
import numpy as np
import pytest

from camforge.errors import InputError
from camforge.io import quicklook
from camforge.types import Raw, RawMeta


def _mosaic(cfa_tile: np.ndarray, levels: dict[int, float], h: int, w: int) -> np.ndarray:
    n = cfa_tile.shape[0]
    idx = np.tile(cfa_tile, (h // n, w // n))
    return np.vectorize(levels.get)(idx).astype(np.float32)


@pytest.mark.parametrize("cfa,factor", [("RGGB", 2), ("BGGR", 2), ("QUAD_GRBG", 4), ("MONO", 1)])
def test_shape_and_grey_world(cfa, factor):
    from camforge.cfa import cfa_tile

    black = 64.0
    x = _mosaic(cfa_tile(cfa), {0: black + 400, 1: black + 800, 2: black + 200}, 32, 48)
    ql = quicklook(Raw(x, RawMeta(cfa=cfa, black_level_dn=black, white_level_dn=4095, bit_depth=12)))
    assert ql.dtype == np.uint8 and ql.shape == (32 // factor, 48 // factor, 3)
    # a uniform frame is neutral after grey-world balance and maps to white
    assert (ql == 255).all()


def test_two_levels_follow_the_srgb_curve():
    # left half at half the signal of the right half: the bright half maps to white,
    # the dark half to the sRGB encoding of 0.5 (IEC 61966-2-1, colour-science)
    tile = np.array([[0, 1], [1, 2]])
    x = _mosaic(tile, {0: 100.0, 1: 100.0, 2: 100.0}, 16, 16)
    x[:, 8:] *= 2
    ql = quicklook(Raw(x + 10, RawMeta(cfa="RGGB", black_level_dn=10, white_level_dn=1023)), percentile=100)
    expected = round(255 * float(colour.cctf_encoding(0.5, function="sRGB")))
    assert (ql[:, :4] == expected).all() and (ql[:, 4:] == 255).all()


def test_black_level_per_site_and_batch_index():
    frames = np.stack([np.full((8, 8), 50.0), np.full((8, 8), 90.0)])
    raw = Raw(frames, RawMeta(cfa="MONO", black_level_dn=40, white_level_dn=255, bit_depth=8))
    assert (quicklook(raw, index=1) == 255).all()
    with pytest.raises(InputError, match="index"):
        quicklook(raw, index=2)
    with pytest.raises(InputError, match="smaller"):
        quicklook(Raw(np.ones((1, 1)), RawMeta(cfa="RGGB")))
