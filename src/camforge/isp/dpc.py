"""Defective pixel correction on the CFA mosaic.

Two modes, both on same-colour neighbours (the 8 nearest sites of the same CFA colour, ±n
pixels away for an n × n tile):

* ``detect`` — dynamic detection: a pixel is flagged when (a) it lies outside the range of
  its 8 neighbours (the classic hardware test, e.g. the openISP DPC) and (b) it misses the
  interpolation ``(a + b)/2`` of every opposite neighbour pair (vertical, horizontal, two
  diagonals) by more than ``t + threshold_texture · |a − b|/2``, with
  ``t = threshold + threshold_rel · m`` (a margin growing with the signal, for shot noise)
  and ``m`` the median of the 4 axial neighbours. Test (b) spares edges and lines: along the
  edge direction the neighbours agree with the pixel. A flagged pixel becomes ``m``.
* ``map`` — static correction from a known defect map (factory calibration, or
  :meth:`camforge.sensor.Sensor.defect_map`): each listed pixel becomes the mean of its
  non-defective neighbours.

The flag is a logistic function of the margin with width ``softness · t``, so the stage is
differentiable in ``threshold``, ``threshold_rel`` and ``threshold_texture``; far from the threshold it is 0 or 1
to float precision.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from camforge.cfa import normalize_cfa
from camforge.errors import ConfigError, InputError
from camforge.isp._common import as_param, banded, check_mosaic, pack, pad_reflect, tile_n, unpack
from camforge.isp._state import IspState, Stage

_AXIAL = ((-1, 0), (1, 0), (0, -1), (0, 1))
_DIAG = ((-1, -1), (-1, 1), (1, -1), (1, 1))


def _shifts(planes: torch.Tensor, offsets, padded: torch.Tensor | None = None):
    h, w = planes.shape[-2:]
    pp = pad_reflect(planes, 1) if padded is None else padded
    return [pp[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in offsets]


def dpc_detect_planes(planes, threshold, threshold_rel, threshold_texture=1.5, softness: float = 0.1,
                      return_flags: bool = False):
    """Dynamic defect detection and correction on packed planes ``[B, n², h, w]`` (normalised)."""
    c = planes
    pp = pad_reflect(planes, 1)
    ax = _shifts(planes, _AXIAL, pp)  # N, S, W, E
    dg = _shifts(planes, _DIAG, pp)  # NW, NE, SW, SE
    ax_max = torch.maximum(torch.maximum(ax[0], ax[1]), torch.maximum(ax[2], ax[3]))
    ax_min = torch.minimum(torch.minimum(ax[0], ax[1]), torch.minimum(ax[2], ax[3]))
    med = (ax[0] + ax[1] + ax[2] + ax[3] - ax_max - ax_min) * 0.5
    hi = torch.maximum(ax_max, torch.maximum(torch.maximum(dg[0], dg[1]), torch.maximum(dg[2], dg[3])))
    lo = torch.minimum(ax_min, torch.minimum(torch.minimum(dg[0], dg[1]), torch.minimum(dg[2], dg[3])))
    # residual of the centre against the interpolation along each direction, less the
    # disagreement of the two neighbours (texture) along it; a defect misfits every direction.
    # Computed doubled: 2e = |2c − (a + b)| − τ |a − b|
    c2 = 2.0 * c
    score2 = None
    for a, b in ((ax[0], ax[1]), (ax[2], ax[3]), (dg[0], dg[3]), (dg[1], dg[2])):
        e2 = torch.abs(c2 - (a + b)) - threshold_texture * torch.abs(a - b)
        score2 = e2 if score2 is None else torch.minimum(score2, e2)
    t = threshold + threshold_rel * torch.clamp(med, min=0.0)
    outside = torch.maximum(c - hi, lo - c) - 0.5 * threshold_texture * (hi - lo)
    margin = torch.minimum(0.5 * score2, outside) - t
    flag = torch.sigmoid(margin / (softness * t))
    out = c + flag * (med - c)
    return (out, flag) if return_flags else out


def dpc_map_planes(planes: torch.Tensor, defects: torch.Tensor) -> torch.Tensor:
    """Correct the pixels flagged in ``defects`` (packed, same shape, 1 = defective)."""
    d = defects.to(planes.dtype)
    good = 1.0 - d
    nb = _shifts(planes, _AXIAL + _DIAG)
    gd = _shifts(good, _AXIAL + _DIAG)
    num = sum(v * g for v, g in zip(nb, gd))
    den = sum(gd)
    repl = torch.where(den > 0, num / torch.clamp(den, min=1e-12), planes)
    return planes + d * (repl - planes)


def dpc(x: torch.Tensor, cfa: str, *, threshold=0.02, threshold_rel=0.05, threshold_texture=1.5,
        softness: float = 0.1, defect_map: torch.Tensor | None = None) -> torch.Tensor:
    """Defective pixel correction of a normalised mosaic ``[B, 1, H, W]``.

    With ``defect_map`` (bool ``[H, W]``) the listed pixels are corrected; otherwise defects
    are detected on the fly (see the module docstring).
    """
    cfa = normalize_cfa(cfa)
    x = check_mosaic(x, cfa)
    n = tile_n(cfa)
    p = pack(x, n)
    if defect_map is not None:
        m = _check_map(defect_map, x.shape[-2:])
        return unpack(dpc_map_planes(p, pack(m[None, None].to(x.dtype), n)), n)
    return unpack(dpc_detect_planes(p, torch.as_tensor(threshold, dtype=x.dtype),
                                    torch.as_tensor(threshold_rel, dtype=x.dtype),
                                    torch.as_tensor(threshold_texture, dtype=x.dtype), softness), n)


def detect_defects(x: torch.Tensor, cfa: str, *, threshold=0.02, threshold_rel=0.05, threshold_texture=1.5) -> torch.Tensor:
    """Boolean map ``[B, H, W]`` of the pixels the ``detect`` mode flags (flag > 0.5)."""
    cfa = normalize_cfa(cfa)
    x = check_mosaic(x, cfa)
    n = tile_n(cfa)
    with torch.no_grad():
        _, flag = dpc_detect_planes(pack(x, n), torch.as_tensor(threshold), torch.as_tensor(threshold_rel),
                                    torch.as_tensor(threshold_texture), 0.1, return_flags=True)
    return unpack(flag, n)[:, 0] > 0.5


def _check_map(m, shape) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(m) if not isinstance(m, torch.Tensor) else m)
    if m.ndim != 2:
        raise InputError(f"defect map must be a 2-D [H, W] array, got shape {tuple(m.shape)}")
    if tuple(m.shape) != tuple(shape):
        raise InputError(f"defect map is {tuple(m.shape)} but the frame is {tuple(shape)}")
    return m.bool()


def load_defect_map(path: str | Path) -> torch.Tensor:
    """Read a ``.npy`` (or ``.npz`` with key ``defects``) boolean defect map."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"dpc.defect_map file not found: {p}")
    try:
        a = np.load(p)
        if isinstance(a, np.lib.npyio.NpzFile):
            if "defects" not in a:
                raise ConfigError(f"{p} has no array named 'defects'")
            a = a["defects"]
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read defect map {p}: {e}") from None
    if a.ndim != 2:
        raise ConfigError(f"defect map {p} must be 2-D [H, W], got shape {a.shape}")
    return torch.from_numpy(a.astype(bool))


class Dpc(Stage):
    """Defective pixel correction (functional twin: :func:`dpc`).

    Parameters (tensors): ``threshold``, ``threshold_rel``, ``threshold_texture``. ``defect_map``
    (bool ``[H, W]`` of the full frame) selects map mode.
    """

    name = "dpc"
    raw_stage = True

    def __init__(self, method: str = "detect", threshold=0.02, threshold_rel=0.05, threshold_texture=1.5,
                 softness: float = 0.1, defect_map: torch.Tensor | None = None):
        super().__init__()
        if method not in ("detect", "map"):
            raise ConfigError(f"dpc method must be 'detect' or 'map', got {method!r}")
        if method == "map" and defect_map is None:
            raise ConfigError("dpc method 'map' needs a defect map (dpc.defect_map: path to a .npy file)")
        self.method = method
        self.threshold = as_param(threshold)
        self.threshold_rel = as_param(threshold_rel)
        self.threshold_texture = as_param(threshold_texture)
        self.softness = float(softness)
        self.register_buffer("defect_map", None if defect_map is None else _as_bool(defect_map), persistent=False)

    def radius(self, cfa: str) -> int:
        return tile_n(cfa)

    def run(self, state: IspState) -> IspState:
        if state.domain != "raw":
            raise InputError("dpc works on raw mosaics, got a demosaiced image")
        p = state.data
        if self.method == "map":
            H, W = state.frame_size()
            m = _check_map(self.defect_map, (H, W))
            y0, x0 = state.origin
            crop = m[y0 : y0 + state.height, x0 : x0 + state.width]
            d = pack(crop[None, None].to(p.dtype), state.n)
            return state.replace(data=dpc_map_planes(p, d))
        t, tr, tt = (v.to(p.dtype) for v in (self.threshold, self.threshold_rel, self.threshold_texture))
        return state.replace(data=banded(lambda x: dpc_detect_planes(x, t, tr, tt, self.softness), p, 1))


def _as_bool(m) -> torch.Tensor:
    t = m if isinstance(m, torch.Tensor) else torch.as_tensor(np.asarray(m))
    if t.ndim != 2:
        raise InputError(f"defect map must be a 2-D [H, W] array, got shape {tuple(t.shape)}")
    return t.bool()
