"""Core data types that flow between stages: :class:`OpticalImage`, :class:`Raw`, :class:`Image`.

Shapes are batch-first (``NCHW``), float32. Units are in the names and docstrings.
The spectral scene type lives in :mod:`camforge.scene` (:class:`camforge.scene.Scene`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from camforge.cfa import cfa_tile, normalize_cfa
from camforge.errors import InputError


def _as_tuple(x, n=None):
    if x is None:
        return None
    if isinstance(x, (int, float)):
        return (float(x),) * (n or 1)
    return tuple(float(v) for v in np.asarray(x, dtype=np.float64).ravel())


@dataclass
class RawMeta:
    """What a reader or the simulator knows about a raw frame.

    Attributes:
        cfa: CFA pattern name (see :mod:`camforge.cfa`), e.g. ``"RGGB"`` or ``"MONO"``.
        black_level_dn: black level per site of the CFA repeat tile, row order
            (4 values for Bayer, 16 for Quad Bayer, 1 for mono) [DN].
        white_level_dn: largest valid value (saturation / clip) [DN].
        bit_depth: ADC bit depth [bits].
        exposure_s: integration time [s], if known.
        analog_gain: analog gain [×] relative to the sensor's base gain.
        pixel_pitch_um: pixel pitch [µm], if known.
        conversion_gain_dn_per_e: system gain K [DN/e⁻], if known (simulator).
        as_shot_neutral: camera-RGB of a neutral under the capture light (DNG AsShotNeutral).
        color_matrix: 3×3 XYZ(D50-adapted) → camera-RGB matrix (DNG ColorMatrix), row-major.
        black_level_estimated: True when the black level was estimated from the data.
        source: where the frame came from (file path, "simulated", ...).
        extra: anything else (JSON-safe values).
    """

    cfa: str = "RGGB"
    black_level_dn: tuple[float, ...] = (0.0,)
    white_level_dn: float = 1023.0
    bit_depth: int = 10
    exposure_s: float | None = None
    analog_gain: float = 1.0
    pixel_pitch_um: float | None = None
    conversion_gain_dn_per_e: float | None = None
    as_shot_neutral: tuple[float, float, float] | None = None
    color_matrix: tuple[float, ...] | None = None
    black_level_estimated: bool = False
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.cfa = normalize_cfa(self.cfa)
        n = cfa_tile(self.cfa).size
        bl = _as_tuple(self.black_level_dn)
        if len(bl) == 1 and n > 1:
            bl = bl * n
        elif len(bl) == 4 and n == 16:  # per-2x2 values given for a Quad Bayer tile
            t = np.asarray(bl).reshape(2, 2)
            bl = tuple(np.kron(t, np.ones((2, 2))).ravel())
        if len(bl) != n:
            raise InputError(f"black_level_dn needs 1 or {n} values for CFA {self.cfa}, got {len(bl)}")
        self.black_level_dn = bl
        if self.as_shot_neutral is not None:
            self.as_shot_neutral = _as_tuple(self.as_shot_neutral)
        if self.color_matrix is not None:
            self.color_matrix = _as_tuple(self.color_matrix)
            if len(self.color_matrix) != 9:
                raise InputError("color_matrix must have 9 values (3x3, row-major)")

    def black_level_tile(self) -> np.ndarray:
        """Black level per site of the CFA repeat tile, shape ``(n, n)``."""
        n = cfa_tile(self.cfa).shape[0]
        return np.asarray(self.black_level_dn, dtype=np.float64).reshape(n, n)

    def black_level_map(self, height: int, width: int, device=None) -> torch.Tensor:
        """Black level per pixel ``[H, W]`` [DN]."""
        t = torch.as_tensor(self.black_level_tile(), dtype=torch.float32)
        n = t.shape[0]
        return t.repeat(-(-height // n), -(-width // n))[:height, :width].to(device)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RawMeta:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise InputError(f"unknown raw metadata field(s): {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class Raw:
    """A raw sensor frame: ``data`` ``[B, 1, H, W]`` float32 in DN (black level included)."""

    data: torch.Tensor
    meta: RawMeta

    def __post_init__(self):
        if not isinstance(self.data, torch.Tensor):
            self.data = torch.as_tensor(np.asarray(self.data), dtype=torch.float32)
        if self.data.ndim == 2:
            self.data = self.data[None, None]
        elif self.data.ndim == 3:
            self.data = self.data[:, None]
        if self.data.ndim != 4 or self.data.shape[1] != 1:
            raise InputError(f"raw data must be [B, 1, H, W], got shape {tuple(self.data.shape)}")

    @property
    def height(self) -> int:
        return int(self.data.shape[-2])

    @property
    def width(self) -> int:
        return int(self.data.shape[-1])

    @property
    def batch(self) -> int:
        return int(self.data.shape[0])

    def numpy(self, index: int = 0) -> np.ndarray:
        """Frame ``index`` as a 2-D float32 numpy array [DN]."""
        return self.data[index, 0].detach().cpu().numpy()

    def __getitem__(self, index: int) -> Raw:
        return Raw(self.data[index : index + 1], self.meta)


ColorSpace = Literal["camera", "linear_srgb", "srgb", "xyz", "yuv", "mono"]


@dataclass
class Image:
    """A demosaiced image ``[B, 3, H, W]`` float32 (``[B, 1, H, W]`` for mono) with its colour space."""

    data: torch.Tensor
    color_space: ColorSpace = "linear_srgb"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.data.ndim == 3:
            self.data = self.data[None]
        if self.data.ndim != 4 or self.data.shape[1] not in (1, 3):
            raise InputError(f"image data must be [B, 3, H, W] or [B, 1, H, W], got {tuple(self.data.shape)}")


@dataclass
class OpticalImage:
    """Irradiance at the sensor plane.

    ``irradiance`` is ``[B, L, H, W]`` in W·m⁻²·nm⁻¹ (band averages on ``wavelengths_nm``),
    sampled at ``pitch_um`` on the sensor plane (sample centres at pixel centres).
    """

    irradiance: torch.Tensor
    wavelengths_nm: tuple[float, ...]
    bandwidths_nm: tuple[float, ...]
    pitch_um: float

    def illuminance_lux(self) -> torch.Tensor:
        """Photometric illuminance per sample [lx] ``[B, H, W]`` (CIE 1931 V(λ))."""
        from camforge.spectral import WavelengthGrid, cie1931_cmfs
        from camforge.units import K_M_LM_PER_W

        g = WavelengthGrid(self.wavelengths_nm, self.bandwidths_nm)
        v = torch.as_tensor(cie1931_cmfs(g)[1] * np.asarray(g.bandwidths_nm), dtype=self.irradiance.dtype)
        return K_M_LM_PER_W * torch.einsum("blhw,l->bhw", self.irradiance, v)
