"""The value that flows between ISP stages, and the stage base class."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from camforge.errors import InputError
from camforge.isp._common import check_image, check_mosaic, pack, tile_n, unpack
from camforge.types import Image, Raw, RawMeta

RGB_DOMAINS = ("camera", "linear_srgb", "xyz", "srgb", "yuv", "mono")


@dataclass
class IspState:
    """Data between stages.

    Attributes:
        data: packed CFA planes ``[B, n², H/n, W/n]`` while ``domain == "raw"``, else an
            image ``[B, C, H, W]``.
        domain: ``raw`` or an :class:`~camforge.types.Image` colour space.
        meta: metadata of the raw frame.
        normalized: black level subtracted and scaled to [0, 1] of the white level.
        origin: (row, col) of this data's top-left pixel in the full frame (tiles).
        full_size: (H, W) of the full frame.
        stats: frozen global statistics (``awb_gains`` [B, 3], ``exposure_gain`` [B]).
    """

    data: torch.Tensor
    domain: str
    meta: RawMeta
    normalized: bool = False
    origin: tuple[int, int] = (0, 0)
    full_size: tuple[int, int] | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def cfa(self) -> str:
        return self.meta.cfa

    @property
    def n(self) -> int:
        return tile_n(self.meta.cfa)

    @property
    def height(self) -> int:
        return int(self.data.shape[-2]) * (self.n if self.domain == "raw" else 1)

    @property
    def width(self) -> int:
        return int(self.data.shape[-1]) * (self.n if self.domain == "raw" else 1)

    def frame_size(self) -> tuple[int, int]:
        return self.full_size or (self.height, self.width)

    def replace(self, **kw) -> IspState:
        return dataclasses.replace(self, **kw)

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_raw(cls, raw: Raw) -> IspState:
        if not isinstance(raw, Raw):
            raise InputError(f"expected a camforge Raw frame, got {type(raw).__name__}")
        x = check_mosaic(raw.data, raw.meta.cfa)
        normalized = bool(raw.meta.extra.get("isp_normalized", False))
        return cls(pack(x, tile_n(raw.meta.cfa)), "raw", raw.meta, normalized)

    @classmethod
    def from_image(cls, image: Image, meta: RawMeta | None = None) -> IspState:
        if not isinstance(image, Image):
            raise InputError(f"expected a camforge Image, got {type(image).__name__}")
        x = check_image(image.data, channels=(1, 3))
        m = meta or image.meta.get("raw_meta")
        if not isinstance(m, RawMeta):
            m = RawMeta(cfa="MONO" if x.shape[1] == 1 else "RGGB", black_level_dn=0.0, white_level_dn=1.0)
        return cls(x, image.color_space, m, True)

    def to_raw(self) -> Raw:
        if self.domain != "raw":
            raise InputError(f"data is already demosaiced ({self.domain}); cannot return a Raw")
        meta = self.meta
        if self.normalized:
            meta = dataclasses.replace(meta, black_level_dn=0.0, white_level_dn=1.0,
                                       extra={**meta.extra, "isp_normalized": True})
        return Raw(unpack(self.data, self.n), meta)

    def to_image(self) -> Image:
        if self.domain == "raw":
            raise InputError("data is still a raw mosaic; run the demosaic stage first")
        return Image(self.data, self.domain, {"raw_meta": self.meta, **({"stats": self.stats} if self.stats else {})})

    def to_output(self) -> Raw | Image:
        return self.to_raw() if self.domain == "raw" else self.to_image()


class Stage(nn.Module):
    """Base class of ISP stages.

    ``forward`` takes and returns :class:`~camforge.types.Raw` (raw stages) or
    :class:`~camforge.types.Image`; :meth:`run` is the same on the pipeline's
    :class:`IspState`.
    """

    name = "stage"
    raw_stage = False

    def radius(self, cfa: str) -> int:
        """How far (full-resolution pixels) an output pixel depends on its input neighbourhood."""
        return 0

    def run(self, state: IspState) -> IspState:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x):
        if isinstance(x, Raw):
            state = IspState.from_raw(x)
        elif isinstance(x, Image):
            state = IspState.from_image(x)
        elif isinstance(x, IspState):
            return self.run(x)
        else:
            raise InputError(f"{self.name} takes a camforge Raw or Image, got {type(x).__name__}")
        return self.run(state).to_output()

    def extra_repr(self) -> str:
        return self.name
