"""Bayer demosaicing: bilinear, Malvar–He–Cutler (2004) and Menon–Andriani–Calvagno (2007, DDFAPD).

All three work on the mosaic packed by CFA site (four half-resolution planes) and compute
each missing colour only where it is missing (fast on CPU, batched, differentiable).
Bilinear and Malvar are linear: each becomes a single 3 × 3 convolution from the 4 site
planes to the 12 (colour, site) output planes. Menon's directional steps use shifted-slice
arithmetic. Each algorithm is written once in terms of the R, B and the two G sites
(``Gr``: G in an R row, ``Gb``: G in a B row), so the four Bayer layouts share the code. Borders: same-site edge replication (each CFA site
plane is extended by its own edge values).

References:
    H. S. Malvar, L.-W. He, R. Cutler, "High-quality linear interpolation for demosaicing
    of Bayer-patterned color images", Proc. IEEE ICASSP 2004, vol. 3, pp. 485–488.

    D. Menon, S. Andriani, G. Calvagno, "Demosaicing with directional filtering and a
    posteriori decision", IEEE Trans. Image Processing 16(1), pp. 132–141, 2007.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from camforge.cfa import BAYER_PATTERNS, cfa_tile, normalize_cfa
from camforge.errors import InputError
from camforge.isp._common import check_mosaic, needs_grad, pack, pad_replicate, unpack
from camforge.isp._state import IspState, Stage

METHODS = ("bilinear", "malvar", "menon")


def _pad_stack(planes: list[torch.Tensor], k: int) -> torch.Tensor:
    """Stack planes ``[B, h, w]`` into ``[B, n, h + 2k, w + 2k]`` with edge replication."""
    if needs_grad(*planes):
        return pad_replicate(torch.stack(planes, 1), k)
    B, h, w = planes[0].shape
    out = planes[0].new_empty((B, len(planes), h + 2 * k, w + 2 * k))
    for i, p in enumerate(planes):
        out[:, i, k : k + h, k : k + w] = p
    out[:, :, :k, k : k + w] = out[:, :, k : k + 1, k : k + w]
    out[:, :, k + h :, k : k + w] = out[:, :, k + h - 1 : k + h, k : k + w]
    out[:, :, :, :k] = out[:, :, :, k : k + 1]
    out[:, :, :, k + w :] = out[:, :, :, k + w - 1 : k + w]
    return out


class _Field:
    """A full-resolution quantity stored as its per-phase planes, with neighbour access.

    ``at(phase, dy, dx)`` returns the value at full-resolution offset ``(dy, dx)`` from every
    pixel of ``phase`` (0 = (0, 0), 1 = (0, 1), 2 = (1, 0), 3 = (1, 1)), as a half-resolution
    plane aligned with that phase.
    """

    def __init__(self, planes: dict[int, torch.Tensor] | torch.Tensor | None, k: int):
        self.k = k
        if planes is None:  # filled by _fields
            return
        if isinstance(planes, torch.Tensor):  # packed [B, 4, h, w]
            self.h, self.w = planes.shape[-2:]
            padded = pad_replicate(planes, k)
            self.planes = {q: padded[:, q] for q in range(4)}
        else:
            f = _fields(k, x=planes)["x"]
            self.h, self.w, self.planes = f.h, f.w, f.planes

    def at(self, phase: int, dy: int, dx: int) -> torch.Tensor:
        ty, tx = phase // 2 + dy, phase % 2 + dx
        q = (ty % 2) * 2 + (tx % 2)
        sy, sx = ty // 2, tx // 2
        k = self.k
        if q not in self.planes:
            raise KeyError(f"phase {q} not stored in this field")
        return self.planes[q][:, k + sy : k + sy + self.h, k + sx : k + sx + self.w]


def _fields(k: int, **quantities: dict[int, torch.Tensor]) -> dict[str, _Field]:
    """Several per-phase quantities padded together (one copy) → one :class:`_Field` each."""
    keys = [(n, q) for n, d in quantities.items() for q in sorted(d)]
    buf = _pad_stack([quantities[n][q] for n, q in keys], k)
    out = {}
    for n in quantities:
        f = _Field(None, k)
        f.h, f.w = buf.shape[-2] - 2 * k, buf.shape[-1] - 2 * k
        f.planes = {q: buf[:, i] for i, (m, q) in enumerate(keys) if m == n}
        out[n] = f
    return out


def _roles(cfa: str) -> dict[str, int]:
    t = cfa_tile(cfa).ravel().tolist()
    r, b = t.index(0), t.index(2)
    gr = (r // 2) * 2 + (1 - r % 2)  # G in the R row
    gb = (b // 2) * 2 + (1 - b % 2)  # G in the B row
    return {"R": r, "B": b, "Gr": gr, "Gb": gb}


def _assemble(R: dict, G: dict, B: dict) -> torch.Tensor:
    """Per-phase colour planes → image ``[B, 3, H, W]``."""
    chans = (R, G, B)
    if needs_grad(*(ch[q] for ch in chans for q in range(4))):
        return unpack(torch.stack([torch.stack([ch[q] for q in range(4)], 1) for ch in chans], 1), 2)
    ref = R[0]
    Bn, h, w = ref.shape
    out = torch.empty((Bn, 3, h, 2, w, 2), dtype=ref.dtype)
    for c, ch in enumerate(chans):  # interleave each row phase's two column phases in place
        for py in range(2):
            torch.stack((ch[2 * py], ch[2 * py + 1]), -1, out=out[:, c, :, py])
    return out.view(Bn, 3, 2 * h, 2 * w)


# Linear demosaicing kernels, full-resolution offsets (dy, dx) → weight, in correlation form.
# Bilinear: the definition of colour-demosaicing (and most textbooks). Malvar et al. 2004,
# Fig. 2: gradient-corrected bilinear interpolation, coefficients × 1/8.
def _k(entries):
    return {(dy, dx): w for dy, dx, w in entries}


_AXIAL4 = [(-1, 0), (1, 0), (0, -1), (0, 1)]
_DIAG4 = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
_KERNELS = {
    "bilinear": {
        "G_at_RB": _k([(dy, dx, 0.25) for dy, dx in _AXIAL4]),
        "RB_at_BR": _k([(dy, dx, 0.25) for dy, dx in _DIAG4]),
        "row": _k([(0, -1, 0.5), (0, 1, 0.5)]),  # R (B) at G in an R (B) row
    },
    "malvar": {
        "G_at_RB": _k([(0, 0, 4 / 8)] + [(dy, dx, 2 / 8) for dy, dx in _AXIAL4]
                      + [(-2, 0, -1 / 8), (2, 0, -1 / 8), (0, -2, -1 / 8), (0, 2, -1 / 8)]),
        "RB_at_BR": _k([(0, 0, 6 / 8)] + [(dy, dx, 2 / 8) for dy, dx in _DIAG4]
                       + [(-2, 0, -1.5 / 8), (2, 0, -1.5 / 8), (0, -2, -1.5 / 8), (0, 2, -1.5 / 8)]),
        "row": _k([(0, 0, 5 / 8), (0, -1, 4 / 8), (0, 1, 4 / 8), (0, -2, -1 / 8), (0, 2, -1 / 8),
                   (-2, 0, 0.5 / 8), (2, 0, 0.5 / 8)] + [(dy, dx, -1 / 8) for dy, dx in _DIAG4]),
    },
}


@lru_cache(maxsize=None)
def _linear_weights(cfa: str, method: str) -> torch.Tensor:
    """The linear method as one convolution on packed planes: weights ``[12, 4, 3, 3]``
    (output channel = colour · 4 + phase; input = phase; 3 × 3 = plane offsets −1..1)."""
    ro = _roles(cfa)
    ker = _KERNELS[method]
    site = {ro["R"]: 0, ro["B"]: 2, ro["Gr"]: 1, ro["Gb"]: 1}
    W = torch.zeros(12, 4, 3, 3, dtype=torch.float64)
    for q in range(4):
        py, px = divmod(q, 2)
        for c in range(3):
            if c == site[q]:
                k = {(0, 0): 1.0}
            elif site[q] != 1:
                k = ker["G_at_RB"] if c == 1 else ker["RB_at_BR"]
            else:  # a green site: R and B lie along its row or its column
                along_row = (c == 0) == (q == ro["Gr"])
                k = ker["row"] if along_row else {(dx, dy): w for (dy, dx), w in ker["row"].items()}
            for (dy, dx), w in k.items():
                ty, tx = py + dy, px + dx
                W[c * 4 + q, (ty % 2) * 2 + tx % 2, ty // 2 + 1, tx // 2 + 1] += w
    return W


def _linear(planes: torch.Tensor, cfa: str, method: str) -> torch.Tensor:
    W = _linear_weights(cfa, method).to(planes.dtype)
    y = F.conv2d(pad_replicate(planes, 1), W)  # [B, 12, h, w]: colour-major, then phase
    return _assemble(*({q: y[:, c * 4 + q] for q in range(4)} for c in range(3)))


# correlation window of the DDFAPD classifier (offsets, weight), horizontal case
_WIN_H = (((-2, -2), 1.0), ((-2, 0), 1.0), ((-1, -1), 1.0), ((0, -2), 3.0), ((0, 0), 3.0), ((1, -1), 1.0),
          ((2, -2), 1.0), ((2, 0), 1.0))
_WIN_V = tuple(((dx, dy), w) for (dy, dx), w in _WIN_H)


def _menon(f: _Field, ro, refine: bool = True) -> torch.Tensor:
    r, b, gr, gb = ro["R"], ro["B"], ro["Gr"], ro["Gb"]
    rb = (r, b)
    # 1. directional green estimates at R and B sites: [-1/4, 1/2, 1/2, 1/2, -1/4]
    GH, GV, C = {}, {}, {}
    for q in rb:
        c = f.at(q, 0, 0)
        C[q] = c
        GH[q] = 0.5 * (f.at(q, 0, -1) + f.at(q, 0, 1) + c) - 0.25 * (f.at(q, 0, -2) + f.at(q, 0, 2))
        GV[q] = 0.5 * (f.at(q, -1, 0) + f.at(q, 1, 0) + c) - 0.25 * (f.at(q, -2, 0) + f.at(q, 2, 0))
    # 2. chrominance gradients along each direction, at R and B sites
    c = _fields(1, h={q: C[q] - GH[q] for q in rb}, v={q: C[q] - GV[q] for q in rb})
    d = _fields(1, h={q: torch.abs(c["h"].at(q, 0, 0) - c["h"].at(q, 0, 2)) for q in rb},
                v={q: torch.abs(c["v"].at(q, 0, 0) - c["v"].at(q, 2, 0)) for q in rb})
    # 3. a posteriori decision: horizontal where the vertical classifier is not smaller
    G, M = {}, {}
    for q in rb:
        sh = sum(w * d["h"].at(q, dy, dx) for (dy, dx), w in _WIN_H)
        sv = sum(w * d["v"].at(q, dy, dx) for (dy, dx), w in _WIN_V)
        M[q] = (sv >= sh).to(C[q].dtype)
        G[q] = GV[q] + M[q] * (GH[q] - GV[q])
    for q in (gr, gb):
        G[q] = f.at(q, 0, 0)
    g = _Field(G, 1)
    # 4. R and B at the green sites: colour-difference interpolation along the row / column
    #    (the R and B samples themselves are read from the mosaic field f)
    R, B = {r: C[r]}, {b: C[b]}

    def horiz(fx, q):
        return 0.5 * (fx.at(q, 0, -1) + fx.at(q, 0, 1))

    def vert(fx, q):
        return 0.5 * (fx.at(q, -1, 0) + fx.at(q, 1, 0))

    R[gr] = G[gr] + horiz(f, gr) - horiz(g, gr)
    R[gb] = G[gb] + vert(f, gb) - vert(g, gb)
    B[gb] = G[gb] + horiz(f, gb) - horiz(g, gb)
    B[gr] = G[gr] + vert(f, gr) - vert(g, gr)
    # 5. R at B sites and B at R sites, along the chosen direction
    x = _fields(1, r={gr: R[gr], gb: R[gb]}, b={gr: B[gr], gb: B[gb]})
    fr, fb = x["r"], x["b"]
    R[b] = C[b] + M[b] * (horiz(fr, b) - horiz(fb, b)) + (1 - M[b]) * (vert(fr, b) - vert(fb, b))
    B[r] = C[r] + M[r] * (horiz(fb, r) - horiz(fr, r)) + (1 - M[r]) * (vert(fb, r) - vert(fr, r))
    if refine:
        R, G, B = _menon_refine(R, G, B, M, ro)
    return _assemble(R, G, B)


def _menon_refine(R, G, B, M, ro):
    """Refining step of DDFAPD (Menon et al. 2007, Sec. III-C)."""
    r, b, gr, gb = ro["R"], ro["B"], ro["Gr"], ro["Gb"]
    third = 1.0 / 3.0

    def fir(fx, q):  # 3-tap mean along the chosen direction
        h = fx.at(q, 0, -1) + fx.at(q, 0, 0) + fx.at(q, 0, 1)
        v = fx.at(q, -1, 0) + fx.at(q, 0, 0) + fx.at(q, 1, 0)
        return third * (v + M[q] * (h - v))

    # green at R and B sites from the smoothed colour difference
    d = _fields(1, rg={q: R[q] - G[q] for q in range(4)}, bg={q: B[q] - G[q] for q in range(4)})
    G = dict(G)
    G[r] = R[r] - fir(d["rg"], r)
    G[b] = B[b] - fir(d["bg"], b)
    # R and B at green sites from the neighbours' colour differences
    d = _fields(1, rg={r: R[r] - G[r]}, bg={b: B[b] - G[b]})
    rg, bg = d["rg"], d["bg"]
    R, B = dict(R), dict(B)
    R[gr] = G[gr] + 0.5 * (rg.at(gr, 0, -1) + rg.at(gr, 0, 1))
    R[gb] = G[gb] + 0.5 * (rg.at(gb, -1, 0) + rg.at(gb, 1, 0))
    B[gb] = G[gb] + 0.5 * (bg.at(gb, 0, -1) + bg.at(gb, 0, 1))
    B[gr] = G[gr] + 0.5 * (bg.at(gr, -1, 0) + bg.at(gr, 1, 0))
    # R at B sites and B at R sites from the R − B difference
    rb = _Field({q: R[q] - B[q] for q in range(4)}, 1)
    R[b] = B[b] + fir(rb, b)
    B[r] = R[r] - fir(rb, r)
    return R, G, B


_RADIUS = {"bilinear": 2, "malvar": 4, "menon": 12}
_GB_RADIUS = 2  # box radius of the green balance, in plane pixels


def _box_same(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)² box with edge replication, same size."""
    p = pad_replicate(x, r)
    H, W = x.shape[-2:]
    rows = sum(p[..., :, i : i + W] for i in range(2 * r + 1))
    return sum(rows[..., i : i + H, :] for i in range(2 * r + 1)) / float((2 * r + 1) ** 2)


def green_balance_planes(planes: torch.Tensor, cfa: str, max_fraction: float = 0.03) -> torch.Tensor:
    """Equalise the two green sites of a Bayer mosaic (packed ``[B, 4, h, w]``).

    Gr (green in R rows) and Gb (green in B rows) see different crosstalk and column
    circuits, so they often differ by 1–2 %; demosaicing then draws a checkerboard (maze)
    at the Nyquist frequency on flat areas. Each green site is moved half-way towards the
    other by the difference of their local (5 × 5 site) means, limited to ``max_fraction``
    of the level so that real detail (edges) is left alone.
    """
    ro = _roles(cfa)
    gr, gb = planes[:, ro["Gr"]], planes[:, ro["Gb"]]
    mr, mb = _box_same(gr, _GB_RADIUS), _box_same(gb, _GB_RADIUS)
    lim = max_fraction * torch.clamp(0.5 * (mr + mb), min=0.0)
    d = 0.5 * torch.minimum(torch.maximum(mr - mb, -lim), lim)
    out = [planes[:, q] for q in range(4)]
    out[ro["Gr"]] = gr - d
    out[ro["Gb"]] = gb + d
    return torch.stack(out, 1)


def demosaic_planes(planes: torch.Tensor, cfa: str, method: str = "menon", refine: bool = True) -> torch.Tensor:
    """Packed Bayer planes ``[B, 4, h, w]`` → camera RGB ``[B, 3, 2h, 2w]``."""
    cfa = normalize_cfa(cfa)
    if cfa not in BAYER_PATTERNS:
        raise InputError(
            f"demosaic supports the Bayer patterns {', '.join(BAYER_PATTERNS)} (and MONO, which needs none); "
            f"{cfa} must be remosaiced or binned to Bayer first"
        )
    if method not in METHODS:
        raise InputError(f"unknown demosaic method {method!r}; use one of {', '.join(METHODS)}")
    if method in ("bilinear", "malvar"):
        return _linear(planes, cfa, method)
    return _menon(_Field(planes, 2), _roles(cfa), refine)


def demosaic(x: torch.Tensor, cfa: str = "RGGB", method: str = "menon", refine: bool = True) -> torch.Tensor:
    """Demosaic a Bayer mosaic ``[B, 1, H, W]`` → RGB ``[B, 3, H, W]`` (same units).

    Args:
        cfa: ``RGGB``, ``BGGR``, ``GRBG`` or ``GBRG``.
        method: ``bilinear``, ``malvar`` (Malvar et al. 2004) or ``menon`` (DDFAPD,
            Menon et al. 2007).
        refine: apply DDFAPD's refining step (``menon`` only).
    """
    cfa = normalize_cfa(cfa)
    x = check_mosaic(x, cfa)
    if cfa == "MONO":
        return x
    return demosaic_planes(pack(x, 2), cfa, method, refine)


class Demosaic(Stage):
    """Demosaicing stage (functional twin: :func:`demosaic`); no parameters, passes gradients.

    ``green_balance`` first equalises the two green sites (:func:`green_balance_planes`).
    """

    name = "demosaic"

    def __init__(self, method: str = "menon", refine: bool = True, green_balance: bool = False):
        super().__init__()
        if method not in METHODS:
            raise InputError(f"unknown demosaic method {method!r}; use one of {', '.join(METHODS)}")
        self.method = method
        self.refine = refine
        self.green_balance = green_balance

    def radius(self, cfa: str) -> int:
        return _RADIUS[self.method] + (2 * _GB_RADIUS if self.green_balance else 0)

    def run(self, state: IspState) -> IspState:
        if state.domain != "raw":
            raise InputError(f"demosaic needs a raw mosaic, got an image in {state.domain}")
        if state.meta.cfa == "MONO":
            return state.replace(data=state.data, domain="mono")
        p = state.data
        if self.green_balance and state.cfa in BAYER_PATTERNS:
            p = green_balance_planes(p, state.cfa)
        return state.replace(data=demosaic_planes(p, state.cfa, self.method, self.refine), domain="camera")
