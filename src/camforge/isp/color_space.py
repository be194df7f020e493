"""R'G'B' ↔ Y'CbCr (ITU-R BT.601 and BT.709), full or limited range.

``Y' = K_r R' + (1 − K_r − K_b) G' + K_b B'``, ``Cb = (B' − Y') / (2 (1 − K_b))``,
``Cr = (R' − Y') / (2 (1 − K_r))`` with (K_r, K_b) = (0.299, 0.114) for BT.601 and
(0.2126, 0.0722) for BT.709 (Rec. ITU-R BT.601-7, BT.709-6). Full range: Y' in [0, 1],
Cb, Cr in [−0.5, 0.5]; limited range: 8-bit studio levels normalised by 255
(Y' 16–235, Cb/Cr 16–240), the convention of ``colour.RGB_to_YCbCr``.
"""

from __future__ import annotations

import torch

from camforge.errors import ConfigError, InputError
from camforge.isp._common import check_image
from camforge.isp._state import IspState, Stage

WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def _k(standard: str):
    if standard not in WEIGHTS:
        raise InputError(f"unknown Y'CbCr standard {standard!r}; use bt601 or bt709")
    return WEIGHTS[standard]


def rgb_to_yuv(x: torch.Tensor, standard: str = "bt709", range: str = "full") -> torch.Tensor:  # noqa: A002
    """R'G'B' ``[B, 3, H, W]`` (display values in [0, 1]) → Y'CbCr ``[B, 3, H, W]``."""
    x = check_image(x)
    kr, kb = _k(standard)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = kr * r + (1.0 - kr - kb) * g + kb * b
    cb = (b - y) / (2.0 * (1.0 - kb))
    cr = (r - y) / (2.0 * (1.0 - kr))
    if range == "limited":
        y = (16.0 + 219.0 * y) / 255.0
        cb = (128.0 + 224.0 * cb) / 255.0
        cr = (128.0 + 224.0 * cr) / 255.0
    elif range != "full":
        raise InputError(f"Y'CbCr range must be 'full' or 'limited', got {range!r}")
    return torch.stack([y, cb, cr], 1)


def yuv_to_rgb(x: torch.Tensor, standard: str = "bt709", range: str = "full") -> torch.Tensor:  # noqa: A002
    """Inverse of :func:`rgb_to_yuv`."""
    x = check_image(x)
    kr, kb = _k(standard)
    y, cb, cr = x[:, 0], x[:, 1], x[:, 2]
    if range == "limited":
        y = (255.0 * y - 16.0) / 219.0
        cb = (255.0 * cb - 128.0) / 224.0
        cr = (255.0 * cr - 128.0) / 224.0
    r = y + 2.0 * (1.0 - kr) * cr
    b = y + 2.0 * (1.0 - kb) * cb
    g = (y - kr * r - kb * b) / (1.0 - kr - kb)
    return torch.stack([r, g, b], 1)


class ColorSpace(Stage):
    """R'G'B' → Y'CbCr stage (functional twin: :func:`rgb_to_yuv`); no tunable parameters
    (the standard's weights are fixed), passes gradients to its input."""

    name = "yuv"

    def __init__(self, standard: str = "bt709", range: str = "full"):  # noqa: A002
        super().__init__()
        if standard not in WEIGHTS:
            raise ConfigError(f"unknown Y'CbCr standard {standard!r}; use bt601 or bt709")
        if range not in ("full", "limited"):
            raise ConfigError(f"Y'CbCr range must be 'full' or 'limited', got {range!r}")
        self.standard = standard
        self.range = range

    def run(self, state: IspState) -> IspState:
        if state.domain != "srgb":
            raise InputError(f"yuv converts display R'G'B' (after tone), got {state.domain}")
        return state.replace(data=rgb_to_yuv(state.data, self.standard, self.range), domain="yuv")
