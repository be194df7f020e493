"""Exact Poisson sampling for shot noise, parallel on the CPU, deterministic per generator.

:func:`poisson` draws one Poisson variate per element of a rate tensor λ (mean counts,
e.g. mean electrons per pixel) from a :class:`torch.Generator`, with no Python loop over
elements. Every value follows the Poisson pmf λ^k e^(−λ)/k! up to the resolution of the
52–53-bit uniforms it is made from (the standard of numpy and torch). The output depends only on the
generator's state — not on the number of threads — and the generator advances the same
way every time.

Three methods (``method=``):

"quantile" (CPU default): inversion of the cdf, one 53-bit uniform u per variate. The normal
  (Temme) asymptotic expansion of the quantile in 1/√λ (Giles 2016) gives x̃ ≈ x, the
  continuous quantile, from w = Φ⁻¹(u); the variate is ⌊x⌋. Its error is bounded by a model
  (a + b·w⁶)/λ^1.5 measured against the exact quantile (the suite re-measures it), widened by
  the error of w from torch's float32 erfinv; wherever x̃ lies within that bound of an
  integer (≈ 1/λ^1.5 of the variates, plus the far tails) scipy's cdf (pdtr/pdtrc) decides
  between the two candidates. So every variate is the exact inverse cdf at its u. The pass
  over the elements is compiled (numba, :mod:`camforge.sensor._quantile_jit`), vectorised
  and free of the GIL; uniforms come from numpy's SFC64. Rates below
  :data:`QUANTILE_MIN_RATE` use ``torch.poisson``, above :data:`QUANTILE_MAX_RATE` the
  vectorised PTRS. Work runs on fixed blocks of 2^18 elements, each with its own streams
  (SFC64 and MT19937) spawned from a numpy SeedSequence seeded by 128 bits of ``generator``.

"streams" (CPU): ``torch.poisson`` — Hörmann's PTRS for λ ≥ 10 and the multiplication
  method below, in C++ but single-threaded — run on fixed blocks of 2^18 elements on
  ``torch.get_num_threads()`` threads. Each block gets its own MT19937 stream with a full
  624-word state expanded (numpy SeedSequence + PCG64) from 128 bits drawn from
  ``generator`` (``manual_seed`` would give only 2^32 distinct streams, so blocks of
  different frames would now and then share one). Rates above :data:`STREAMS_MAX_RATE` are
  sampled by the vectorised method instead, where torch's k log λ − λ − log Γ(k + 1) starts
  to lose precision.

"vectorized": this module's own sampler written as torch tensor ops (the default off the
  CPU, where the device parallelises each op):

  * λ < 10: inversion by sequential search of the cdf from k = 0 — one uniform per
    variate, λ + 1 steps on average, each step on the elements still searching.
  * λ ≥ 10: PTRS, transformed rejection with squeeze (Hörmann 1993): all candidates at
    once, then only the rejected ones (10–25 %) again until none is left. Its acceptance
    test evaluates log f(k) as −bd0(k, λ) − stirlerr(k) − ½ log 2πk (Loader 2000), within
    ~1e-16·|k − λ| of the truth up to λ = 1e15.

  Each element gets one 63-bit draw (``Tensor.random_``): inversion uses its top 52 bits
  as u ∈ (0, 1); PTRS uses them as U ∈ [−½, ½) and the low 11 bits as the first bits of
  V. Since PTRS accepts iff V ≤ T(U) (each of its tests is monotone in V), 11 bits decide
  all but ~0.1 % of the candidates; those get 53 more bits of V. On the CPU the work runs
  in ~30 k-element pieces (below torch's intra-op grain size, so in cache and on the
  worker's own thread) on ``torch.get_num_threads()`` threads while the calling thread
  draws the bits in order.

Speed (2-core CPU, bench/bench_poisson.py, ns/sample, wall): for λ ≥ 30 "quantile" takes
~10–13 ns against ~31 for torch.poisson and numpy (2.3–3.3×) and ~18–24 for "streams";
below λ = 30 it is "streams" (torch.poisson on parallel blocks, ~1.8×). The vectorised
method costs ~45–60 ns/sample of CPU time — a dozen tensor ops per candidate, each a pass
over memory — so on the CPU it is the fallback, not the default.

References
----------
* Giles, M. B. (2016). Algorithm 955: approximation of the inverse Poisson cumulative
  distribution function. ACM Trans. Math. Softw. 42(1), 7. doi:10.1145/2699466
* Temme, N. M. (1979). The asymptotic expansion of the incomplete gamma functions. SIAM J.
  Math. Anal. 10(4), 757–766.
* Hörmann, W. (1993). The transformed rejection method for generating Poisson random
  variables. Insurance: Mathematics and Economics 12(1), 39–45.
  doi:10.1016/0167-6687(93)90997-4
* Loader, C. (2000). Fast and accurate computation of binomial probabilities. (bd0 and
  the Stirling-series error term stirlerr.)
* Devroye, L. (1986). Non-Uniform Random Variate Generation, §X.3 (inversion by
  sequential search).
* Matsumoto, M., Nishimura, T. (1998). Mersenne Twister: a 623-dimensionally
  equidistributed uniform pseudo-random number generator. ACM TOMACS 8(1), 3–30.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from camforge.errors import DependencyError, InputError

__all__ = ["poisson", "poisson_logpmf", "quantile_fill_", "block_streams", "run_blocks", "Stream", "METHODS",
           "MAX_RATE", "PTRS_MIN_RATE", "STREAMS_MAX_RATE", "QUANTILE_MIN_RATE", "QUANTILE_MAX_RATE"]

#: Rates at and above this use PTRS; below it, inversion (Hörmann's PTRS is valid for λ ≥ 10).
PTRS_MIN_RATE = 10.0
#: Largest accepted rate: above ~1e15 float64 can no longer hold the counts exactly.
MAX_RATE = 1e15

# CPU work is split into jobs of _JOB elements, run on worker threads; inside a job every
# torch op sees at most _OP elements, below torch's intra-op grain size (32768), so it runs
# on the worker's own thread (no nested OpenMP teams, no barriers) in cache.
_OP = 30000
_JOB = 4 * _OP

_F64 = torch.float64
_TWO_PI = 2.0 * math.pi
_V_BITS = 11  # low bits of a draw that start V; the top 52 bits make U
_V_CELLS = float(1 << _V_BITS)
_STIRLING_MIN_K = 30.0  # stirlerr: table below, 3-term Stirling series (error < 3e-14) from here up


# ----------------------------------------------------------------------------- log pmf
def _stirlerr_table() -> list[float]:
    """stirlerr(k) = log k! − (k + ½) log k + k − ½ log 2π for k = 0.._STIRLING_MIN_K (k = 0 unused).

    Computed without cancellation: the 8-term Stirling series at k = _STIRLING_MIN_K (error
    < 1e-20), then downwards with stirlerr(k) = stirlerr(k + 1) + (k + ½) log1p(1/k) − 1.
    """
    n = int(_STIRLING_MIN_K)
    coef = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400)
    table = [0.0] * (n + 1)
    table[n] = sum(c / n ** (2 * i + 1) for i, c in enumerate(coef))
    for k in range(n - 1, 0, -1):
        table[k] = table[k + 1] + (k + 0.5) * math.log1p(1.0 / k) - 1.0
    return table


_TABLES: dict = {}  # device → stirlerr table


def _stirlerr_small(k: torch.Tensor) -> torch.Tensor:
    """stirlerr(k) for integer k in [1, _STIRLING_MIN_K] by table look-up (float64)."""
    table = _TABLES.get(str(k.device))
    if table is None:
        table = _TABLES[str(k.device)] = torch.tensor(_stirlerr_table(), dtype=_F64, device=k.device)
    return torch.index_select(table, 0, k.to(torch.int64))


def _stirlerr_series(k: torch.Tensor) -> torch.Tensor:
    """stirlerr(k) ≈ 1/12k − 1/360k³ + 1/1260k⁵; the next term, 1/1680k⁷, is < 3e-14 for k ≥ 30."""
    r = torch.reciprocal(k)
    r2 = r * r
    return torch.mul(r2, 1.0 / 1260).sub_(1.0 / 360).mul_(r2).add_(1.0 / 12).mul_(r)


def _log_pmf_parts(k: torch.Tensor, lam: torch.Tensor):
    """(L, D) with log P(X = k) = L − ½ log D for X ~ Poisson(λ), float64, k integer.

    k ≥ 1: L = −stirlerr(k) − bd0(k, λ), D = 2πk (Loader's saddle-point form), where
    bd0(k, λ) = k log(k/λ) + λ − k is evaluated as λ·((1 + t) log1p(t) − t), t = (k − λ)/λ,
    whose error is ~ε·|k − λ| instead of ~ε·k log λ. k ≤ 0 is treated as k = 0: L = −λ, D = 1.
    """
    kk = torch.clamp(k, min=1.0)
    t = torch.sub(kk, lam).div_(lam)
    bd0 = torch.log1p(t).mul_(t + 1.0).sub_(t).mul_(lam)
    if float(k.min()) >= _STIRLING_MIN_K:
        return bd0.add_(_stirlerr_series(kk)).neg_(), kk.mul_(_TWO_PI)
    stirlerr = torch.where(kk < _STIRLING_MIN_K, _stirlerr_small(torch.clamp(kk, max=_STIRLING_MIN_K)),
                           _stirlerr_series(torch.clamp(kk, min=_STIRLING_MIN_K)))
    zero = k < 1.0
    L = torch.where(zero, -lam, bd0.add_(stirlerr).neg_())
    D = torch.where(zero, 1.0, kk.mul_(_TWO_PI))
    return L, D


def poisson_logpmf(k: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """log P(X = k) for X ~ Poisson(rate) (float64), accurate for rates up to :data:`MAX_RATE`.

    ``k`` holds non-negative integers, ``rate`` > 0 (broadcastable). Loader's saddle-point
    form −stirlerr(k) − bd0(k, λ) − ½ log(2πk) errs by ~1e-16·|k − λ| + 3e-14 (near the
    mode: 1e-14 at λ = 10, 7e-10 at 1e12, 4e-8 at 1e15, against mpmath), where the textbook
    k log λ − λ − log Γ(k + 1) loses ~1e-16·k log λ to cancellation (scipy: 4e-3 at 1e12).

    Reference: Loader, C. (2000). Fast and accurate computation of binomial probabilities.
    """
    k, lam = torch.broadcast_tensors(torch.as_tensor(k, dtype=_F64), torch.as_tensor(rate, dtype=_F64))
    L, D = _log_pmf_parts(k.reshape(-1), lam.reshape(-1))
    return (L - 0.5 * torch.log(D)).reshape(k.shape)


# ----------------------------------------------------------------------------- PTRS
def _bits_to_U(bits: torch.Tensor) -> torch.Tensor:
    """Top 52 bits of a 63-bit draw → U ∈ [−½, ½) on the 2^-52 grid (via a double in [1, 2))."""
    one_to_two = torch.bitwise_right_shift(bits, _V_BITS).bitwise_or_(0x3FF0000000000000).view(_F64)
    return one_to_two.sub_(1.5)


def _bits_to_u(bits: torch.Tensor) -> torch.Tensor:
    """Top 52 bits of a 63-bit draw → u ∈ (0, 1), the midpoints of the 2^-52 grid."""
    return torch.bitwise_right_shift(bits, _V_BITS).to(_F64).add_(0.5).mul_(2.0 ** -52)


def _candidates(lam: torch.Tensor, U: torch.Tensor):
    """PTRS step 1 without the squeeze: hat constants, u_s and the candidate k (float64).

    b = 0.931 + 2.53√λ, 2a = 2(−0.059 + 0.02483 b), v_r = 0.9277 − 3.6224/(b − 2) (returned
    as vr1 = 2^11·v_r − 1), u_s = ½ − |U|, k = ⌊(2a/u_s + b)·U + λ + 0.43⌋. λ is split into
    ⌊λ⌋ + frac so that the floor acts on a small number: exact even for λ ~ 1e15.
    """
    b = torch.sqrt(lam).mul_(2.53).add_(0.931)
    two_a = torch.mul(b, 2 * 0.02483).sub_(2 * 0.059)
    vr1 = torch.sub(b, 2.0).reciprocal_().mul_(-3.6224 * _V_CELLS).add_(0.9277 * _V_CELLS - 1.0)
    us = torch.rsub(torch.abs(U), 0.5)
    lam_int = torch.floor(lam)
    shift = torch.sub(lam, lam_int).add_(0.43)
    k = torch.addcmul(shift, torch.addcdiv(b, two_a, us), U).floor_().add_(lam_int)
    return k, us, b, two_a, vr1


def _threshold(lam, k, us, b, two_a, vr1) -> torch.Tensor:
    """T such that PTRS accepts the candidate k (from U) iff V ≤ T (float64).

    Each PTRS test is monotone in V: step 1 accepts V ≤ v_r if u_s ≥ 0.07; step 2 rejects
    k < 0, and V > u_s if u_s < 0.013; step 3 accepts V ≤ f(k)·(a/u_s² + b)/α⁻¹ with
    α⁻¹ = 1.1239 + 1.1328/(b − 3.4). T = −1 means "reject for every V".
    """
    inv_alpha = torch.sub(b, 3.4).reciprocal_().mul_(1.1328).add_(1.1239)
    hat = torch.addcdiv(b, two_a, us * us, value=0.5).div_(inv_alpha)
    L, D = _log_pmf_parts(k, lam)
    T = torch.exp(L).mul_(torch.rsqrt(D)).mul_(hat)  # f(k)·hat
    T = torch.where(us < 0.013, torch.minimum(T, us), T)
    T = torch.where(k < 0, -1.0, T)
    return torch.where(us >= 0.07, torch.maximum(T, (vr1 + 1.0).mul_(1.0 / _V_CELLS)), T)


def _ptrs_exact(lam: torch.Tensor, U: torch.Tensor, V: torch.Tensor):
    """PTRS for given uniforms U ∈ [−½, ½), V ∈ [0, 1): (k, accepted), float64."""
    k, us, b, two_a, vr1 = _candidates(lam, U)
    return k, V <= _threshold(lam, k, us, b, two_a, vr1)


def _ptrs_segments(segments, out: torch.Tensor, op_max: int):
    """One PTRS round over ``segments`` = [(λ float64, 63-bit draws, where)], each ≤ ``op_max``.

    ``where`` is the segment's start in ``out`` (int, contiguous) or its indices (int64).
    U is the draw's top 52 bits; V is known to its cell [c, c + 1)/2^11, c = low 11 bits.
    A candidate is accepted when the whole cell is ≤ T (most are, by the squeeze alone),
    rejected when the whole cell is > T, else left undecided for more bits of V.
    Accepted values are written to ``out``. Returns (rejected indices, undecided) where
    undecided = [(indices, λ, U, c)].
    """
    tails = []
    for lam, bits, where in segments:
        U = _bits_to_U(bits)
        cell = torch.bitwise_and(bits, (1 << _V_BITS) - 1).to(_F64)
        k, us, b, two_a, vr1 = _candidates(lam, U)
        if isinstance(where, int):
            out[where:where + lam.numel()].copy_(k)
        else:
            out.index_copy_(0, where, k.to(out.dtype))
        # step 1, the squeeze, for the whole cell: u_s ≥ 0.07 and (c + 1)/2^11 ≤ v_r
        rest = torch.nonzero((us < 0.07).logical_or_(cell > vr1)).squeeze(1)
        if rest.numel():
            idx = rest + where if isinstance(where, int) else torch.index_select(where, 0, rest)
            tails.append([idx] + [torch.index_select(x, 0, rest) for x in (lam, k, us, b, two_a, vr1, cell, U)])
    batches, size = [[]], 0  # tails joined into batches of ≤ op_max candidates
    for tail in tails:
        if size + tail[0].numel() > op_max:
            batches.append([])
            size = 0
        batches[-1].append(tail)
        size += tail[0].numel()
    rejected, undecided = [], []
    for batch in batches if tails else []:
        columns = [torch.cat(c) if len(batch) > 1 else c[0] for c in zip(*batch)]
        idx, lam, k, us, b, two_a, vr1, cell, U = columns
        Tc = _threshold(lam, k, us, b, two_a, vr1).mul_(_V_CELLS)
        acc = cell + 1.0 <= Tc
        rej = cell > Tc
        ok = torch.nonzero(acc).squeeze(1)
        if ok.numel():
            out.index_copy_(0, torch.index_select(idx, 0, ok), torch.index_select(k, 0, ok).to(out.dtype))
        no = torch.nonzero(rej).squeeze(1)
        if no.numel():
            rejected.append(torch.index_select(idx, 0, no))
        if ok.numel() + no.numel() < idx.numel():
            u = torch.nonzero(~(acc | rej)).squeeze(1)
            undecided.append(tuple(torch.index_select(x, 0, u) for x in (idx, lam, U, cell)))
    return rejected, undecided


def _resolve(undecided, out: torch.Tensor, generator: torch.Generator):
    """Finish undecided candidates: V = (c + V')/2^11 with a fresh 53-bit V'. Returns rejected."""
    idx, lam, U, cell = (torch.cat(c) for c in zip(*undecided))
    v_low = torch.rand(idx.numel(), generator=generator, dtype=_F64, device=idx.device)
    k, ok = _ptrs_exact(lam, U, cell.add_(v_low).mul_(1.0 / _V_CELLS))
    out[idx[ok]] = k[ok].to(out.dtype)
    return idx[~ok]


# ----------------------------------------------------------------------------- inversion
def _inversion(lam: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Smallest k with u < F(k), F the Poisson(λ) cdf, by sequential search (float64).

    All elements step k = 0, 1, 2, ... together; the result is the number of steps with
    u ≥ F(k). Finished elements are dropped whenever they are over half of the set. If
    rounding makes the summed cdf stop growing before it passes u (u within ~1e-16 of 1),
    the search ends there.
    """
    out = torch.zeros_like(lam)
    p = torch.exp(-lam)
    F = p.clone()
    go = u >= F
    n_go = int(go.sum())
    if n_go == 0:
        return out
    count = go.to(_F64)
    idx = None  # positions of the current set in ``out``; None = all
    k = 0
    while n_go:
        if n_go * 2 < count.numel():
            keep = torch.nonzero(go).squeeze(1)
            if idx is None:
                out.copy_(count)
                idx = keep
            else:
                out.index_copy_(0, idx, count)
                idx = torch.index_select(idx, 0, keep)
            lam, u, p, F, count = (torch.index_select(x, 0, keep) for x in (lam, u, p, F, count))
        k += 1
        p.mul_(lam).mul_(1.0 / k)
        F_next = F + p
        go = (u >= F_next).logical_and_(F_next > F)
        F = F_next
        count.add_(go)
        n_go = int(go.sum())
    if idx is None:
        return count
    out.index_copy_(0, idx, count)
    return out


# ----------------------------------------------------------------------------- jobs
class _Jobs:
    """Runs jobs on worker threads while the calling thread draws their random bits in order.

    Job j gets its bits only after jobs 0..j−1 got theirs, all drawn by the calling thread,
    so ``generator`` is consumed exactly as by a sequential loop, whatever the number of
    threads, and results are collected in job order.
    """

    _lock = threading.Lock()
    _pools: dict[int, ThreadPoolExecutor] = {}  # one per thread count ever used

    @classmethod
    def _get_pool(cls, workers: int) -> ThreadPoolExecutor:
        with cls._lock:
            pool = cls._pools.get(workers)
            if pool is None:
                pool = cls._pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="camforge-poisson")
            return pool

    @classmethod
    def run(cls, sizes, work, generator: torch.Generator, device: torch.device) -> list:
        """[work(j, bits_j) for each j], bits_j = ``sizes[j]`` 63-bit draws from ``generator``."""
        workers = torch.get_num_threads()

        def draw(m):
            return torch.empty(m, dtype=torch.int64, device=device).random_(generator=generator)

        if workers <= 1 or len(sizes) <= 1 or device.type != "cpu":
            return [work(j, draw(m)) for j, m in enumerate(sizes)]
        pool = cls._get_pool(workers)
        futures, results = [], []
        try:
            for j, m in enumerate(sizes):
                futures.append(pool.submit(work, j, draw(m)))
                while len(futures) - len(results) > 2 * workers:
                    results.append(futures[len(results)].result())
            for f in futures[len(results):]:
                results.append(f.result())
        finally:  # on error, let no job outlive the call
            for f in futures:
                f.cancel()
            for f in futures:
                if not f.cancelled():
                    f.exception()
        return results


def _sample(flat: torch.Tensor, out: torch.Tensor, generator: torch.Generator, job: int, op_max: int) -> None:
    """Fill ``out`` with Poisson(``flat``) variates: a first pass, then PTRS redraw rounds."""
    n = flat.numel()
    starts = list(range(0, n, job))
    sizes = [min(job, n - s) for s in starts]

    def first(j, bits):
        segments = []
        for a in range(0, sizes[j], op_max):
            s = starts[j] + a
            lam = flat[s:s + op_max].to(_F64)
            b = bits[a:a + op_max]
            lo, hi = (float(x) for x in torch.aminmax(lam))
            if lo >= PTRS_MIN_RATE:
                segments.append((lam, b, s))
            elif hi < PTRS_MIN_RATE:
                out[s:s + lam.numel()].copy_(_inversion(lam, _bits_to_u(b)))
            else:
                small = lam < PTRS_MIN_RATE
                i_s = torch.nonzero(small).squeeze(1)
                u = _bits_to_u(torch.index_select(b, 0, i_s))
                out.index_copy_(0, i_s + s, _inversion(torch.index_select(lam, 0, i_s), u).to(out.dtype))
                i_l = torch.nonzero(~small).squeeze(1)
                segments.append((torch.index_select(lam, 0, i_l), torch.index_select(b, 0, i_l), i_l + s))
        return _ptrs_segments(segments, out, op_max)

    results = _Jobs.run(sizes, first, generator, flat.device)
    while True:
        rejected = [r for res in results for r in res[0]]
        undecided = [u for res in results for u in res[1]]
        if undecided:  # their V needs more bits: drawn here, after the round, in job order
            rejected.append(_resolve(undecided, out, generator))
        todo = torch.cat(rejected) if rejected else None
        if todo is None or todo.numel() == 0:
            return
        parts = list(torch.split(todo, job))

        def again(j, bits):
            idx = parts[j]
            return _ptrs_segments([(torch.index_select(flat, 0, idx[a:a + op_max]).to(_F64), bits[a:a + op_max],
                                    idx[a:a + op_max]) for a in range(0, idx.numel(), op_max)], out, op_max)

        results = _Jobs.run([p.numel() for p in parts], again, generator, flat.device)


# ----------------------------------------------------------------------------- streams
_STREAM_JOB = 1 << 18  # elements per independent stream (fixed: the output must not depend on threads)
#: Above this rate the "streams" method hands elements to the vectorised sampler: torch.poisson
#: evaluates log f(k) as k log λ − λ − log Γ(k + 1), whose cancellation error (~ε·k log k)
#: would pass 3e-9 relative in the acceptance probability.
STREAMS_MAX_RATE = 1e6
_MT_N = 624  # MT19937 state words
_MT_OFFSET = 24  # byte offset of the 624 state words (each stored as uint64) in a CPU generator state


class _Streams:
    """Independent MT19937 streams for parallel ``torch.poisson`` calls.

    A CPU :class:`torch.Generator` is an MT19937 engine; ``manual_seed`` only uses 32 bits
    of the seed (2^32 streams, so streams of different calls would collide now and then).
    Instead each stream gets a full 624-word state (see :func:`block_streams`), written
    through ``Generator.set_state`` in the CPU generator's legacy state layout (kept by
    torch for loading old checkpoints). A one-off self-test checks the layout against
    numpy's MT19937 fed with the same words; if it fails, "auto" falls back to the
    vectorised sampler.
    """

    _lock = threading.Lock()
    _template: torch.Tensor | None = None
    _ok: bool | None = None

    @classmethod
    def generator(cls, words: torch.Tensor) -> torch.Generator:
        """A CPU generator whose MT19937 state is ``words`` (624 ints in [0, 2^32))."""
        if cls._template is None:
            cls._template = torch.Generator().get_state()
        state = cls._template.clone()
        state[_MT_OFFSET:_MT_OFFSET + 8 * _MT_N].view(torch.int64).copy_(words)
        state[8:12].view(torch.int32).fill_(1)  # left = 1: regenerate the block on the next draw
        state[12:16].view(torch.int32).fill_(1)  # seeded
        state[16:24].view(torch.int64).fill_(0)  # next
        g = torch.Generator()
        g.set_state(state)
        return g

    @classmethod
    def supported(cls) -> bool:
        with cls._lock:
            if cls._ok is None:
                cls._ok = cls._self_test()
            return cls._ok

    @classmethod
    def _self_test(cls) -> bool:
        try:
            import numpy as np

            words = (torch.arange(1, _MT_N + 1, dtype=torch.int64) * 2654435761 + 12345) % (1 << 32)
            got = torch.empty(4, dtype=torch.int64).random_(generator=cls.generator(words)).tolist()
            mt = np.random.MT19937(0)
            state = mt.state
            state["state"] = {"key": words.numpy().astype(np.uint32), "pos": _MT_N}
            mt.state = state
            raw = [int(x) for x in mt.random_raw(8)]
            want = [((raw[2 * i] << 32) | raw[2 * i + 1]) & ((1 << 63) - 1) for i in range(4)]
            return got == want
        except Exception:  # any change in torch's generator state format: use the other method
            return False


def _parallel(n_jobs: int, work) -> None:
    """Run work(j) for j < n_jobs on the worker threads (in order when single-threaded)."""
    workers = torch.get_num_threads()
    if workers <= 1 or n_jobs <= 1:
        for j in range(n_jobs):
            work(j)
        return
    futures = [_Jobs._get_pool(workers).submit(work, j) for j in range(n_jobs)]
    try:
        for f in futures:
            f.result()
    finally:  # on error, let no job outlive the call
        for f in futures:
            f.cancel()
        for f in futures:
            if not f.cancelled():
                f.exception()


def _sample_streams(flat: torch.Tensor, out: torch.Tensor, generator: torch.Generator) -> None:
    """``torch.poisson`` on fixed blocks of 2^18 elements, each with its own MT19937 stream.

    Up to one block, ``torch.poisson`` with ``generator`` itself.

    The streams (:func:`block_streams`) derive from 128 bits drawn from ``generator`` first, so
    the result depends on the generator state only. torch.poisson is exact (PTRS for λ ≥ 10, the
    multiplication method below) and runs serially, so blocks run in parallel threads.
    """
    n = flat.numel()
    if n <= _STREAM_JOB:  # a single block: the caller's generator itself is its stream
        out.copy_(torch.poisson(flat, generator=generator))
        return
    starts = list(range(0, n, _STREAM_JOB))
    streams = block_streams(len(starts), generator)

    def work(j: int) -> None:
        s = starts[j]
        e = min(s + _STREAM_JOB, n)
        x = torch.poisson(flat[s:e], generator=streams[j].torch)
        for a in range(s, e, _OP):  # copies below the grain size stay on this thread
            out[a:min(a + _OP, e)].copy_(x[a - s:min(a + _OP, e) - s])

    _parallel(len(starts), work)



# ----------------------------------------------------------------------------- quantile
#: The "quantile" method inverts the cdf for rates in [QUANTILE_MIN_RATE, QUANTILE_MAX_RATE];
#: smaller rates get torch.poisson in the same piece, larger ones the vectorised sampler.
QUANTILE_MIN_RATE = 30.0
QUANTILE_MAX_RATE = 1e6
#: Error model of the expansion: |x̃ − x| ≤ (a + b·w⁶)/λ^1.5 for λ ≥ QUANTILE_MIN_RATE and every
#: reachable w (|w| ≤ 8.3 for u on the 2^-53 grid). Measured on a grid of λ ∈ [30, 1e5] and
#: w ∈ [−8.3, 8.3] (tests/test_poisson.py re-measures it): the ratio error / model peaks at
#: 0.78 (λ = 30, |w| = 8.3) and stays ≤ 0.5 for |w| ≤ 7; the sampler uses twice the model.
_ERR_A, _ERR_B = 0.25, 1e-3
_ERR_SAFETY = 2.0
_SQRT2 = math.sqrt(2.0)
_QUANTILE_PIECE = 1 << 16  # elements per compiled pass (float64 work arrays stay in L2)
#: Bound on the relative error of torch's float32 erfinv (measured ≤ 1 ulp = 6e-8; the suite
#: re-measures it and keeps a factor of 2 in hand).
_ERFINV32_REL = 4 * 2.0 ** -24


def _expansion(lam: torch.Tensor, w: torch.Tensor, r: torch.Tensor | None = None) -> torch.Tensor:
    """x̃ ≈ x, the continuous quantile of Poisson(λ): Q(x, λ) = Φ(w), Q the regularized upper Γ.

    x̃ = λ + √λ w + (1/3 + w²/6) − (w/36 + w³/72)/√λ + (−8/405 + 7w²/810 + w⁴/270)/λ, the
    normal (Temme) asymptotic expansion in 1/√λ used by Giles (2016); error O(λ^-3/2) (see
    :data:`_ERR_A`). Float64; ``r`` = 1/√λ if already known. The discrete quantile is ⌊x⌋.
    """
    r = torch.rsqrt(lam) if r is None else r
    w2 = w * w
    y = torch.mul(w2, 1.0 / 270).add_(7.0 / 810).mul_(w2).sub_(8.0 / 405).mul_(r)  # r·p2
    y.add_(torch.mul(w2, -1.0 / 72).sub_(1.0 / 36).mul_(w)).mul_(r)  # r·(p1 + r·p2)
    y.add_(w2, alpha=1.0 / 6).add_(lam).add_(1.0 / 3)
    return y.addcmul_(torch.mul(lam, r), w)  # + √λ w


def _half_width(w: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """δ = safety·(a + b·w⁶)·r³ + 1e-9: twice the error model of :func:`_expansion` plus its
    float64 rounding (λ ≤ 1e6), for an exact w (float64)."""
    w2 = w * w
    d = torch.mul(w2, w2).mul_(w2).mul_(_ERR_SAFETY * _ERR_B).add_(_ERR_SAFETY * _ERR_A)
    return d.mul_(r).mul_(r).mul_(r).add_(1e-9)


def _cdf_le(k, lam, u, uc, upper):
    """u ≤ F(k), F the Poisson(λ) cdf (numpy float64 arrays, k integer ≥ −1): u against
    scipy's pdtr where u ≤ ½, else 1 − u (= uc) against the upper tail pdtrc; relative error
    ~1e-13 (torch.special.gammaincc errs by up to ~2e-9 here)."""
    import numpy as np
    from scipy import special

    res = np.zeros(k.shape, dtype=bool)
    kk = np.maximum(k, 0.0)
    lo = ~upper
    res[lo] = u[lo] <= special.pdtr(kk[lo], lam[lo])
    res[upper] = uc[upper] >= special.pdtrc(kk[upper], lam[upper])
    res[k < 0] = False
    return res


def _exact_quantiles(x, delta, lam, v):
    """The smallest k with u ≤ F(k), u = (1 − v)/2, given |x − x*| ≤ δ (x* the continuous
    quantile); numpy float64 arrays in and out.

    Where δ < ½ there are two candidates, m − 1 and m (m the integer nearest x): one cdf
    evaluation decides. Otherwise the search steps from ⌊x⌋ until F(k − 1) < u ≤ F(k).
    """
    import numpy as np

    u, uc = (1.0 - v) / 2.0, (1.0 + v) / 2.0  # both exact: v = 1 − (2m + 1)·2^-53
    upper = v < 0.0  # u > ½: compare upper tails
    m = np.rint(x)
    k = np.where(_cdf_le(m - 1.0, lam, u, uc, upper), m - 1.0, m)
    wide = np.nonzero(delta >= 0.5)[0]
    if wide.size:
        kw, lw, uw, ucw, upw = (a[wide] for a in (np.maximum(np.floor(x), 0.0), lam, u, uc, upper))
        for _ in range(10_000):  # k moves one step towards the quantile per round
            le = _cdf_le(kw, lw, uw, ucw, upw)
            gt = ~_cdf_le(kw - 1.0, lw, uw, ucw, upw)
            if np.all(le & gt):
                break
            kw = kw + (~le) - (le & ~gt)
        k[wide] = kw
    return k


_JIT = None


def _resolve_doubtful(lam, v):
    """Exact counts for doubtful elements (numpy float64 rates in range, v = 1 − 2u): x̃ again
    from an exact float64 w = Φ⁻¹(u) (scipy's ndtri, on the small tail), then the cdf decides."""
    import numpy as np
    from scipy import special

    w = torch.from_numpy(np.where(v < 0.0, -special.ndtri((1.0 + v) / 2.0), special.ndtri((1.0 - v) / 2.0)))
    lt = torch.from_numpy(np.ascontiguousarray(lam, dtype=np.float64))
    return _exact_quantiles(_expansion(lt, w).numpy(), _half_width(w, torch.rsqrt(lt)).numpy(), lam, v)


def _kernel():
    """The compiled pass (:mod:`camforge.sensor._quantile_jit`), imported on first use."""
    global _JIT
    if _JIT is None:
        try:
            from camforge.sensor._quantile_jit import quantile_pass
        except ImportError as e:  # numba is a dependency; a broken install lands here
            raise DependencyError(f"poisson: method 'quantile' needs numba ({e}); reinstall camforge "
                                  "(pip install -e .) or use method='streams'") from None
        _JIT = quantile_pass
    return _JIT


class Stream:
    """The random numbers of one block: a numpy SFC64 generator for the uniforms of the
    inversion and a torch MT19937 generator for everything drawn with torch (small rates,
    read noise)."""

    __slots__ = ("numpy", "torch")

    def __init__(self, numpy_generator, torch_generator: torch.Generator):
        self.numpy = numpy_generator
        self.torch = torch_generator


def block_streams(n: int, generator: torch.Generator) -> list[Stream]:
    """``n`` independent :class:`Stream` s for parallel blocks, derived from ``generator``.

    128 bits drawn from ``generator`` seed a numpy SeedSequence; each block spawns its own
    child, whose two grandchildren seed the block's SFC64 and its full MT19937 state. The
    output of a block layout therefore depends only on the generator state, not on the
    number of threads, and ``generator`` advances by exactly 128 bits.
    """
    import numpy as np

    if not _Streams.supported():
        raise DependencyError(f"poisson: independent streams need torch's MT19937 CPU generator state layout, "
                              f"which torch {torch.__version__} no longer has; use method='vectorized'")
    entropy = torch.empty(4, dtype=torch.int64).random_(0, 1 << 32, generator=generator).tolist()
    streams = []
    for child in np.random.SeedSequence(entropy).spawn(n):
        s_np, s_mt = child.spawn(2)
        words = torch.from_numpy(s_mt.generate_state(_MT_N, np.uint32).astype(np.int64))
        words[0] = 0x80000000
        streams.append(Stream(np.random.Generator(np.random.SFC64(s_np)), _Streams.generator(words)))
    return streams


_LOCAL = threading.local()


def _work_arrays(n: int):
    """This thread's scratch arrays for a piece of ``n`` elements (reused: no page faults)."""
    import numpy as np

    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None or bufs[0].size < n:
        size = max(n, _QUANTILE_PIECE)
        bufs = _LOCAL.bufs = (np.empty(size), torch.empty(size, dtype=torch.float32), np.empty(size),
                              np.empty(size, dtype=bool))
    return tuple(b[:n] for b in bufs)


def quantile_fill_(x: torch.Tensor, stream: Stream) -> torch.Tensor:
    """Replace the rates in ``x`` (1-D, contiguous, CPU, float32 or float64) by exact Poisson
    counts, in place, in this thread; returns ``x``.

    One 53-bit uniform u per element from ``stream.numpy`` (held as v = 1 − 2u, exact on the
    midpoints of the 2^-53 grid), w = Φ⁻¹(u) = −√2 erfinv(v) from torch's float32 erfinv, then
    one compiled, vectorised pass (:mod:`camforge.sensor._quantile_jit`): k = ⌊x̃⌋ with x̃ the
    normal asymptotic expansion of the quantile (:func:`_expansion`), and a flag wherever x̃
    lies within its error bound of an integer. Flagged elements (≈ 1/λ^1.5 of them, plus the
    extreme tails) get x̃ again from an exact float64 w and the exact cdf decides
    (:func:`_exact_quantiles`), so every k is the inverse cdf at its u. Rates below
    QUANTILE_MIN_RATE get ``torch.poisson`` and rates above QUANTILE_MAX_RATE the vectorised
    PTRS, both from ``stream.torch`` afterwards. Pieces of some 10⁵ elements stay in cache.
    Rates are not validated here.
    """
    import numpy as np

    n = x.numel()
    if n and float(x.max()) < QUANTILE_MIN_RATE:  # all small (a dark frame): torch.poisson alone
        return x.copy_(torch.poisson(x, generator=stream.torch))
    u, e32, k, doubtful = _work_arrays(n)
    v = torch.from_numpy(stream.numpy.random(n, out=u)).mul_(-2.0).add_(1.0 - 2.0 ** -53)
    torch.erfinv(e32.copy_(v), out=e32)
    xn = x.numpy()
    vn = v.numpy()
    _kernel()(xn, vn, e32.numpy(), k, doubtful, QUANTILE_MIN_RATE, QUANTILE_MAX_RATE,
              _ERR_SAFETY * _ERR_A, _ERR_SAFETY * _ERR_B, _ERFINV32_REL)
    idx = np.flatnonzero(doubtful)
    lam = xn[idx].astype(np.float64)  # before the counts overwrite the rates
    xn[:] = k
    if idx.size == 0:
        return x
    inside = (lam >= QUANTILE_MIN_RATE) & (lam <= QUANTILE_MAX_RATE)
    if inside.any():
        xn[idx[inside]] = _resolve_doubtful(lam[inside], vn[idx[inside]])
    if not inside.all():
        out_i, out_l = idx[~inside], torch.from_numpy(lam[~inside])
        small = out_l < QUANTILE_MIN_RATE
        if bool(small.any()):
            xn[out_i[small.numpy()]] = torch.poisson(out_l[small], generator=stream.torch).numpy()
        big = ~small
        if bool(big.any()):  # one job of the vectorised sampler: runs inline, in this thread
            part = torch.empty(int(big.sum()), dtype=_F64)
            _sample(out_l[big].contiguous(), part, stream.torch, max(_JOB, part.numel()), _OP)
            xn[out_i[big.numpy()]] = part.numpy()
    return x


def run_blocks(n_blocks: int, work) -> None:
    """Run ``work(j)`` for every block j on ``torch.get_num_threads()`` worker threads."""
    _parallel(n_blocks, work)


def _sample_quantile(flat: torch.Tensor, out: torch.Tensor, generator: torch.Generator) -> None:
    """:func:`quantile_fill_` on fixed blocks of 2^18 elements, one :class:`Stream` each, in
    pieces of _QUANTILE_PIECE elements on the worker threads."""
    n = flat.numel()
    starts = list(range(0, n, _STREAM_JOB))
    streams = block_streams(len(starts), generator)

    def work(j: int) -> None:
        s, e = starts[j], min(starts[j] + _STREAM_JOB, n)
        for a in range(s, e, _QUANTILE_PIECE):
            b = min(a + _QUANTILE_PIECE, e)
            quantile_fill_(out[a:b].copy_(flat[a:b]), streams[j])

    _parallel(len(starts), work)


def _inverse_cdf(lam, v):
    """(k, decided by the cdf) for float64 numpy rates in [QUANTILE_MIN_RATE, QUANTILE_MAX_RATE]
    and v = 1 − 2u: the compiled pass and :func:`_resolve_doubtful`, as in :func:`quantile_fill_` (tests)."""
    import numpy as np

    lam, v = np.ascontiguousarray(lam, dtype=np.float64), np.ascontiguousarray(v, dtype=np.float64)
    e32 = torch.erfinv(torch.from_numpy(v).float()).numpy()
    k, doubtful = np.empty(lam.size), np.empty(lam.size, dtype=bool)
    _kernel()(lam, v, e32, k, doubtful, QUANTILE_MIN_RATE, QUANTILE_MAX_RATE,
              _ERR_SAFETY * _ERR_A, _ERR_SAFETY * _ERR_B, _ERFINV32_REL)
    idx = np.flatnonzero(doubtful)
    k[idx] = _resolve_doubtful(lam[idx], v[idx])
    return k, doubtful


# ----------------------------------------------------------------------------- API
METHODS = ("auto", "quantile", "streams", "vectorized")


def _check(rate, generator, method) -> float:
    """Validate the inputs; returns the largest rate (0 for an empty tensor)."""
    if not isinstance(rate, torch.Tensor):
        raise InputError(f"poisson: rate must be a torch.Tensor, got {type(rate).__name__}")
    if rate.dtype not in (torch.float32, torch.float64):
        raise InputError(f"poisson: rate must be float32 or float64, got {rate.dtype}; convert it with .float()")
    if not isinstance(generator, torch.Generator):
        raise InputError(f"poisson: generator must be a torch.Generator, got {type(generator).__name__}")
    if generator.device.type != rate.device.type:
        raise InputError(f"poisson: generator is on {generator.device} but rate is on {rate.device}; "
                         "create the generator on the rate's device")
    if method not in METHODS:
        raise InputError(f"poisson: unknown method {method!r}; use one of {', '.join(METHODS)}")
    if rate.device.type == "mps":
        raise InputError("poisson: the sampler needs float64, which MPS lacks; sample on the CPU "
                         "(rate.cpu() with a CPU generator) and move the counts back")
    if method in ("streams", "quantile") and rate.device.type != "cpu":
        raise InputError(f"poisson: method {method!r} runs on the CPU only, rate is on {rate.device}; "
                         "use method='vectorized' or 'auto'")
    if rate.numel() == 0:
        return 0.0
    lo, hi = (float(x) for x in torch.aminmax(rate.detach()))  # NaN propagates into both
    if not (lo >= 0.0 and hi <= MAX_RATE):
        flat = rate.detach().reshape(-1)
        bad = int(torch.nonzero(~((flat >= 0) & (flat <= MAX_RATE)))[0, 0])
        raise InputError(f"poisson: rates must be finite and in [0, {MAX_RATE:g}], found {flat[bad].item()!r} "
                         f"at flat index {bad}; clamp negative means to 0 (and clip huge ones) before sampling")
    return hi


def _vectorized(flat: torch.Tensor, generator: torch.Generator, dtype) -> torch.Tensor:
    out = torch.empty(flat.numel(), dtype=dtype, device=flat.device)
    if flat.device.type == "cpu":
        _sample(flat, out, generator, _JOB, _OP)
    else:  # one job with whole-tensor ops: the device parallelises each op
        _sample(flat, out, generator, flat.numel(), flat.numel())
    return out


def poisson(rate: torch.Tensor, generator: torch.Generator, method: str = "auto") -> torch.Tensor:
    """Exact Poisson variates with means ``rate`` (same shape, dtype and device).

    Parameters
    ----------
    rate : float32 or float64 tensor of means λ ≥ 0 (e.g. mean electrons per pixel), any
        shape, at most :data:`MAX_RATE`. λ = 0 gives 0.
    generator : the :class:`torch.Generator`, on ``rate``'s device, that supplies every
        random number: the same generator state gives the same output, whatever the number
        of threads (``torch.get_num_threads()``), and advances the generator the same way.
    method : "auto" (default), "quantile", "streams" or "vectorized".
        "quantile" (CPU): inversion of the cdf at one 53-bit uniform per element — the
        normal asymptotic expansion of the quantile (Giles 2016) gives k, and wherever its
        error bound leaves k in doubt (≈ 1/λ^1.5 of the elements) scipy's cdf decides —
        for λ in [QUANTILE_MIN_RATE, QUANTILE_MAX_RATE] (``torch.poisson`` below, the
        vectorised PTRS above), on fixed blocks of 2^18 elements with their own MT19937
        streams (as "streams"), on ``torch.get_num_threads()`` threads.
        "streams" (CPU): ``torch.poisson`` on fixed blocks of 2^18 elements, run on
        ``torch.get_num_threads()`` threads, each block with its own MT19937 stream whose
        full state derives from 128 bits drawn from ``generator`` (a single block uses
        ``generator`` itself); elements with λ > :data:`STREAMS_MAX_RATE` go to the
        vectorised sampler.
        "vectorized": this module's vectorised sampler — inversion for λ < 10, PTRS
        (Hörmann 1993) for λ ≥ 10 — in ~30 k-element pieces on the worker threads (CPU) or
        as whole-tensor ops (other devices).
        "auto": "quantile" on the CPU (if the streams' self-test passes), else "vectorized".
        The methods give different (equally exact) samples for the same generator state.

    Returns
    -------
    Counts as ``rate.dtype``, detached: no gradient flows through a Poisson sample (use the
    Gaussian reparameterization for gradients). float32 holds integers exactly up to
    2^24 ≈ 1.7e7; larger counts come back rounded to float32 (pass float64 rates to keep
    them exact).

    Raises
    ------
    InputError
        ``rate`` is not a float32/float64 tensor, holds NaN, ±inf, negative values or values
        above :data:`MAX_RATE`, or is on MPS (no float64); ``generator`` is not a generator
        on the same device; ``method`` is unknown or "streams" off the CPU.
    DependencyError
        "streams" was asked for but this torch's CPU generator state format is not the
        MT19937 layout it needs ("auto" then uses "vectorized").
    """
    hi = _check(rate, generator, method)
    shape, dtype = rate.shape, rate.dtype
    flat = rate.detach().reshape(-1)
    if flat.numel() == 0:
        return torch.empty(shape, dtype=dtype, device=rate.device)
    if method == "auto":
        method = "quantile" if flat.device.type == "cpu" and _Streams.supported() else "vectorized"
    if method == "vectorized":
        return _vectorized(flat, generator, dtype).reshape(shape)
    if not _Streams.supported():
        raise DependencyError(f"poisson: method {method!r} needs torch's MT19937 CPU generator state layout, which "
                              f"torch {torch.__version__} no longer has; use method='vectorized' (or 'auto')")
    out = torch.empty(flat.numel(), dtype=dtype)
    if method == "quantile":
        _sample_quantile(flat, out, generator)
        return out.reshape(shape)
    _sample_streams(flat, out, generator)
    if hi > STREAMS_MAX_RATE:  # after the streams, so the generator is used in a fixed order
        big = torch.nonzero(flat > STREAMS_MAX_RATE).squeeze(1)
        out[big] = _vectorized(flat[big], generator, dtype)
    return out.reshape(shape)
