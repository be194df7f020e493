"""The input of an EMVA 1288 characterization: a described stack of frames.

One structure serves every source — a descriptor file (:mod:`~camforge.characterize.descriptor`),
a directory, the simulator (:mod:`~camforge.characterize.simulate`) or arrays a user builds:

* an :class:`Emva1288Step` is one measurement point: ``bright`` (photons per pixel given)
  or ``dark``, an exposure time, an optional sensor temperature, and its frames;
* a step with exactly two frames is a *temporal* point (photon transfer, dark noise, dark
  current); a step with more than two frames is a *spatial* stack (DSNU, PRNU,
  spectrograms, defect pixels), as in the EMVA descriptor convention;
* a frame is a 2-D integer array in DN or the path of an image file, read only when the
  analysis needs it (memory stays bounded by one step, not the whole stack).

References: EMVA Standard 1288, Release 4.0 Linear (2021), §6 (measurement set-up: two
frames per temporal point, L frames for spatial non-uniformity).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Union

import numpy as np

from camforge.cfa import cfa_tile, normalize_cfa
from camforge.errors import InputError

#: A frame: an array ``[H, W]`` of DN or the path of an image file.
FrameSource = Union[np.ndarray, str, os.PathLike]


@dataclass(frozen=True)
class Emva1288Step:
    """One measurement point of an EMVA 1288 stack.

    Attributes:
        kind: ``"bright"`` or ``"dark"``.
        exposure_s: exposure (integration) time [s].
        photons_per_px: mean number of photons per pixel area μ_p during the exposure
            (0 for dark steps) [p].
        frames: the frames (arrays ``[H, W]`` in DN, or image paths).
        temperature_c: sensor temperature [°C] if known.
        index: position of the step among the steps of its kind and type (temporal or
            spatial) in the source, e.g. the line order in a descriptor file — reported
            as the "step" number (the EMVA reference results count steps this way).
        spatial: whether the step is a spatial stack; ``None`` means "more than two
            frames" (a descriptor decides from the number of frames it *lists*, so a
            spatial stack whose files are partly missing stays spatial).
    """

    kind: str
    exposure_s: float
    photons_per_px: float
    frames: tuple
    temperature_c: float | None = None
    index: int = 0
    spatial: bool | None = None

    def __post_init__(self):
        if self.kind not in ("bright", "dark"):
            raise InputError(f"a step is 'bright' or 'dark', got {self.kind!r}")
        if not np.isfinite(self.exposure_s) or self.exposure_s <= 0:
            raise InputError(f"exposure time must be > 0 s, got {self.exposure_s}")
        if not np.isfinite(self.photons_per_px) or self.photons_per_px < 0:
            raise InputError(f"photons per pixel must be >= 0, got {self.photons_per_px}")
        if self.kind == "bright" and self.photons_per_px <= 0:
            raise InputError("a bright step needs photons per pixel > 0")
        object.__setattr__(self, "frames", tuple(self.frames))

    @property
    def is_spatial(self) -> bool:
        """More than two frames: a stack for spatial non-uniformity."""
        return len(self.frames) > 2 if self.spatial is None else bool(self.spatial)


@dataclass(frozen=True)
class Emva1288Stack:
    """A complete EMVA 1288 data set (see the module docstring).

    Attributes:
        bits: ADC bit depth of the data (values lie in 0 … 2^bits − 1).
        width_px, height_px: frame size.
        steps: the measurement points.
        cfa: colour filter array of the raw frames (``"MONO"``, ``"RGGB"``, ...); colour
            sensors are analysed per CFA site plane.
        version: EMVA 1288 release the data were taken for (from the descriptor ``v`` line).
        info: free ``l key value`` lines of a descriptor (camera name, interface, ...).
        wavelength_nm: wavelength of the (monochromatic) light source, if known.
        pixel_pitch_um: pixel pitch, if known (for per-area figures).
        source: where the data came from (descriptor path or ``"simulated"``).
        warnings: problems met while loading (skipped files, dropped steps).
        truth: ground truth of a simulated stack (``K``, ``qe``, ``sigma_d_e``, ...).
    """

    bits: int
    width_px: int
    height_px: int
    steps: tuple
    cfa: str = "MONO"
    version: str = "4.0"
    info: Mapping = field(default_factory=dict)
    wavelength_nm: float | None = None
    pixel_pitch_um: float | None = None
    source: str = ""
    warnings: tuple = ()
    truth: Mapping | None = None

    def __post_init__(self):
        if not (1 <= int(self.bits) <= 16):
            raise InputError(f"bit depth must be 1..16 for 8-16-bit images, got {self.bits}")
        if self.width_px < 2 or self.height_px < 2:
            raise InputError(f"frame size {self.width_px} × {self.height_px} is too small")
        object.__setattr__(self, "cfa", normalize_cfa(self.cfa))
        th, tw = cfa_tile(self.cfa).shape
        if self.height_px % th or self.width_px % tw:
            raise InputError(
                f"frame size {self.width_px} × {self.height_px} is not a multiple of the {self.cfa} tile {tw} × {th}"
            )
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))
        object.__setattr__(self, "warnings", tuple(self.warnings))
        if self.truth is not None:
            object.__setattr__(self, "truth", MappingProxyType(dict(self.truth)))
        for s in self.steps:
            if not isinstance(s, Emva1288Step):
                raise InputError(f"steps must be Emva1288Step objects, got {type(s).__name__}")
            if len(s.frames) < 2:
                raise InputError(f"{s.kind} step at {s.exposure_s:g} s has {len(s.frames)} frame(s); each step needs >= 2")

    # ------------------------------------------------------------------ views
    def select(self, kind: str, spatial: bool) -> list[Emva1288Step]:
        return [s for s in self.steps if s.kind == kind and s.is_spatial == spatial]

    @property
    def n_frames(self) -> int:
        return sum(len(s.frames) for s in self.steps)

    def channel_names(self) -> list[str]:
        """Names of the analysed channels: ``["mono"]`` or one per CFA site (``R, Gr, Gb, B``)."""
        return channel_names(self.cfa)


def channel_names(cfa: str) -> list[str]:
    """Channel (CFA site plane) names in row order of the repeat tile.

    MONO → ``["mono"]``; a 2×2 Bayer tile → ``R``, ``B`` and ``Gr`` / ``Gb`` (the green on
    the red row / on the blue row); larger tiles (Quad Bayer) → colour letter + site
    row and column in the tile (``R00``, ``R01``, ...).
    """
    key = normalize_cfa(cfa)
    tile = cfa_tile(key)
    if key == "MONO":
        return ["mono"]
    letters = "RGB"
    names = []
    if tile.shape == (2, 2):
        for r in range(2):
            for c in range(2):
                k = int(tile[r, c])
                if k == 1:
                    other = int(tile[r, 1 - c])
                    names.append("Gr" if other == 0 else "Gb")
                else:
                    names.append(letters[k])
        return names
    return [f"{letters[int(tile[r, c])]}{r}{c}" for r in range(tile.shape[0]) for c in range(tile.shape[1])]


def site_offsets(cfa: str) -> tuple[tuple[int, int], tuple[tuple[int, int], ...]]:
    """(tile shape, (row, col) offset of each channel) for slicing a frame into site planes."""
    tile = cfa_tile(cfa)
    th, tw = tile.shape
    return (th, tw), tuple((r, c) for r in range(th) for c in range(tw))


def main_channel(cfa: str) -> str:
    """The channel reported at the top level: mono, or the first green site of the tile."""
    names = channel_names(cfa)
    if names == ["mono"]:
        return "mono"
    for n in names:
        if n.startswith("G"):
            return n
    return names[0]


def frames_from_arrays(frames: Sequence) -> tuple:
    """Validate in-memory frames: 2-D integer arrays (a helper for building steps by hand)."""
    out = []
    for f in frames:
        if isinstance(f, (str, os.PathLike, Path)):
            out.append(f)
            continue
        a = np.asarray(f)
        if a.ndim != 2:
            raise InputError(f"a frame must be a 2-D array [H, W], got shape {a.shape}")
        out.append(a)
    return tuple(out)


__all__ = ["Emva1288Stack", "Emva1288Step", "FrameSource", "channel_names", "frames_from_arrays", "main_channel",
           "site_offsets"]
