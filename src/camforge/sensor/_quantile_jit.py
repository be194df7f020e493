"""Compiled core of the "quantile" Poisson sampler (numba, no GIL): one pass per piece.

Imported lazily by :mod:`camforge.sensor.poisson` (compiling takes ~1 s once; the result is
cached beside this file). The arithmetic is the same as the torch reference
:func:`camforge.sensor.poisson._expansion` / :func:`~camforge.sensor.poisson._half_width`,
which the tests compare it with.
"""

from __future__ import annotations

import math

from numba import njit


_SQRT2 = math.sqrt(2.0)
_V_ULP = 2.0 ** -24  # bound on |v − float32(v)| for |v| < 1
_DW_DV = math.sqrt(math.pi / 2.0)  # dw/dv = √(π/2)·exp(w²/2) for w = −√2 erfinv(v)


@njit(nogil=True, cache=True, error_model="numpy")
def quantile_pass(lam, v, e32, k_out, doubtful, lo, hi, err_a, err_b, eta):  # pragma: no cover - compiled
    """k = ⌊x̃(λ, w)⌋ into ``k_out`` (float64) and whether it is in doubt into ``doubtful``.

    λ = ``lam[i]`` (clamped to [lo, hi]; outside that range the element is marked doubtful),
    w = −√2·``e32[i]`` with ``e32`` = erfinv(float32(v)) in float32 (relative error ≤ ``eta``),
    x̃ = λ + √λ w + 1/3 + w²/6 − (w/36 + w³/72)/√λ + (−8/405 + 7w²/810 + w⁴/270)/λ.
    k is doubtful when x̃ lies within δ of an integer (or is not finite):

        δ = (err_a + err_b·w⁶)/λ^1.5              expansion error (the model, with its margin)
          + √λ·(|w|·eta + √(π/2)·2^-24·G)        error of w from float32: erfinv and rounding v
          + 1e-9                                  float64 rounding of x̃ (λ ≤ 1e6)

    with G ≥ exp(w'²/2) for every w' between w and the exact one: 1.65 for |v| ≤ erf(1/√2),
    else 0.8/(1 − |v| − 2^-24) (Mills' ratio: exp(a²/2) < 0.8/(a·(1 − |v|)) for a ≥ 1;
    a non-positive denominator makes δ negative or infinite, hence doubtful).
    Branch-free, so that LLVM vectorises it (error_model="numpy": no zero-division checks).
    """
    for i in range(lam.size):
        lam_raw = float(lam[i])
        lam_i = min(max(lam_raw, lo), hi)
        wi = -_SQRT2 * float(e32[i])
        s = math.sqrt(lam_i)
        r = 1.0 / s
        w2 = wi * wi
        p2 = (w2 * (1.0 / 270) + 7.0 / 810) * w2 - 8.0 / 405
        p1 = (w2 * (-1.0 / 72) - 1.0 / 36) * wi
        x = lam_i + 1.0 / 3 + s * wi + w2 * (1.0 / 6) + r * (p1 + r * p2)
        k = math.floor(x)
        f = x - k
        av = abs(v[i])
        g = 1.65 if av <= 0.6827 else 0.8 / (1.0 - av - _V_ULP)
        d = (err_a + err_b * (w2 * w2 * w2)) * (r * r * r) + s * (abs(wi) * eta + _DW_DV * _V_ULP * g) + 1e-9
        k_out[i] = k
        doubtful[i] = not (f >= d and f <= 1.0 - d and d > 0.0 and lam_raw == lam_i)
