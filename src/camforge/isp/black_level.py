"""Black-level subtraction and normalisation.

``y = (x − b_site) / (w − b_site)`` per CFA site, so 0 is the black level and 1 the white
(clip) level of every site. Values below black are kept (negative), which keeps the noise
unbiased for later averaging (EMVA 1288 Release 4.0 treats the dark offset the same way).
"""

from __future__ import annotations

import torch

from camforge.cfa import cfa_tile, normalize_cfa
from camforge.errors import InputError
from camforge.isp._common import as_param, check_mosaic, pack, tile_n, unpack
from camforge.isp._state import IspState, Stage
from camforge.types import RawMeta


def _site_values(values, cfa: str, what: str) -> torch.Tensor:
    n2 = cfa_tile(cfa).size
    t = torch.as_tensor(values, dtype=torch.float32) if not isinstance(values, torch.Tensor) else values
    t = t.reshape(-1)
    if t.numel() == 1:
        return t.expand(n2)
    if t.numel() == 4 and n2 == 16:
        t4 = t.reshape(2, 2)
        return t4.repeat_interleave(2, 0).repeat_interleave(2, 1).reshape(-1)
    if t.numel() != n2:
        raise InputError(f"{what} needs 1 or {n2} values for CFA {cfa}, got {t.numel()}")
    return t


def black_level_planes(planes: torch.Tensor, black_dn: torch.Tensor, white_dn) -> torch.Tensor:
    """Packed planes ``[B, n², h, w]`` → normalised planes (per-site ``black_dn`` [n²])."""
    b = black_dn.to(planes.dtype).reshape(1, -1, 1, 1)
    white = torch.as_tensor(white_dn, dtype=planes.dtype)
    rng = white - b
    if bool((rng.detach() <= 0).any()):
        raise InputError(f"white level {float(white.detach())} DN must be above the black level {b.flatten().tolist()} DN")
    return (planes - b) / rng


def black_level(x: torch.Tensor, cfa: str, black_level_dn, white_level_dn) -> torch.Tensor:
    """Subtract the black level and normalise a mosaic ``[B, 1, H, W]`` [DN] to [0, 1].

    Args:
        x: raw mosaic [DN].
        cfa: CFA pattern name.
        black_level_dn: one value or one per site of the CFA tile (row order) [DN].
        white_level_dn: saturation level [DN].
    """
    cfa = normalize_cfa(cfa)
    x = check_mosaic(x, cfa)
    n = tile_n(cfa)
    b = _site_values(black_level_dn, cfa, "black_level_dn")
    return unpack(black_level_planes(pack(x, n), b, white_level_dn), n)


class BlackLevel(Stage):
    """Black-level subtraction + normalisation (functional twin: :func:`black_level`).

    Parameters (tensors): ``black_level_dn`` (per CFA site) and ``white_level_dn``; when not
    given they come from each frame's :class:`~camforge.types.RawMeta`.
    """

    name = "black_level"
    raw_stage = True

    def __init__(self, black_level_dn=None, white_level_dn=None):
        super().__init__()
        self.black_level_dn = None if black_level_dn is None else as_param(black_level_dn)
        self.white_level_dn = None if white_level_dn is None else as_param(white_level_dn)
        if self.black_level_dn is not None and self.black_level_dn.numel() not in (1, 4, 16):
            raise InputError("black_level_dn needs 1, 4 or 16 values (one per CFA tile site)")

    def levels(self, meta: RawMeta) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.black_level_dn if self.black_level_dn is not None else torch.tensor(meta.black_level_dn)
        w = self.white_level_dn if self.white_level_dn is not None else torch.tensor(float(meta.white_level_dn))
        return _site_values(b, meta.cfa, "black_level_dn"), w

    def run(self, state: IspState) -> IspState:
        if state.domain != "raw":
            raise InputError("black_level works on raw mosaics, got a demosaiced image")
        if state.normalized:
            return state
        b, w = self.levels(state.meta)
        return state.replace(data=black_level_planes(state.data, b, w), normalized=True)


def normalize_white(state: IspState) -> IspState:
    """Scale a raw state by its white level only (black level 0): used when black_level is off."""
    if state.normalized:
        return state
    return state.replace(data=state.data / float(state.meta.white_level_dn), normalized=True)
