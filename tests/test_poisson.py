"""Tests of camforge.sensor.poisson against independent references.

References: the Poisson pmf/cdf/ppf of scipy.stats, numpy's Generator.poisson (two-sample
tests), mpmath's log-gamma (log pmf at huge rates), and a scalar textbook transcription of
Hörmann's PTRS (1993) written here step by step. All seeds are fixed, so every statistical
test is deterministic; its tolerance is stated where it is made.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from camforge.errors import InputError
from camforge.sensor import poisson as P
from camforge.sensor.poisson import MAX_RATE, poisson, poisson_logpmf

METHODS = ["streams", "vectorized"]
# both branches and the switch point of the vectorised sampler (inversion < 10 ≤ PTRS)
RATES = [0.1, 1.0, 3.0, 9.9, 10.0, 10.1, 30.0, 1e3, 1e5]
N = 200_000
N_SIGMA = 5.0  # mean / variance tolerance in standard errors


# ----------------------------------------------------------------------------- helpers
def _bins(lam: float, n: int):
    """Support bins [k, k+1) merged until each expects ≥ 5 counts (open-ended tails)."""
    lo = int(stats.poisson.ppf(1e-12, lam))
    hi = int(stats.poisson.isf(1e-12, lam))
    ks = np.arange(lo, hi + 1)
    expected = stats.poisson.pmf(ks, lam) * n
    expected[0] += stats.poisson.cdf(lo - 1, lam) * n
    expected[-1] += stats.poisson.sf(hi, lam) * n
    edges, exp, acc = [lo], [], 0.0
    for k, e in zip(ks, expected):
        acc += e
        if acc >= 5.0:
            edges.append(k + 1)
            exp.append(acc)
            acc = 0.0
    exp[-1] += acc
    edges[-1] = hi + 1
    return np.array(edges), np.array(exp)


def _counts(samples: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per merged bin; values below/above the edges go to the first/last bin."""
    idx = np.searchsorted(edges, samples, side="right") - 1
    return np.bincount(np.clip(idx, 0, len(edges) - 2), minlength=len(edges) - 1)


def chi2_gof_pvalue(samples: np.ndarray, lam: float) -> float:
    """Chi-square goodness of fit of integer ``samples`` to Poisson(lam) (scipy pmf)."""
    edges, expected = _bins(lam, samples.size)
    observed = _counts(samples, edges)
    assert observed.sum() == samples.size
    return float(stats.chisquare(observed, expected * samples.size / expected.sum()).pvalue)


def two_sample_pvalue(a: np.ndarray, b: np.ndarray, lam: float) -> float:
    """Chi-square test that two integer samples come from one distribution."""
    edges, _ = _bins(lam, min(a.size, b.size))
    table = np.stack([_counts(a, edges), _counts(b, edges)])
    return float(stats.chi2_contingency(table).pvalue)


def draw(lam: float, n: int, seed: int, method: str, dtype=torch.float64) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    y = poisson(torch.full((n,), lam, dtype=dtype), g, method=method)
    assert y.dtype == dtype and y.shape == (n,)
    x = y.double().numpy()
    assert np.all(x >= 0) and np.all(x == np.round(x)), "Poisson counts must be non-negative integers"
    return x.astype(np.int64)


def ptrs_reference(lam: float, U: float, V: float):
    """Hörmann (1993), algorithm PTRS, one candidate, transcribed step by step.

    Returns (k, accepted, margin): margin is how far the deciding comparison was from a tie
    (used to skip ties that rounding may break either way).
    """
    slam = math.sqrt(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    us = 0.5 - abs(U)
    x = (2.0 * a / us + b) * U + lam + 0.43
    k = math.floor(x)
    margin = min(abs(x - round(x)), abs(us - 0.07), abs(V - v_r), abs(us - 0.013), abs(V - us))
    if us >= 0.07 and V <= v_r:
        return k, True, margin
    if k < 0 or (us < 0.013 and V > us):
        return k, False, margin
    lhs = math.log(V) + math.log(inv_alpha) - math.log(a / (us * us) + b)
    rhs = -lam + k * math.log(lam) - math.lgamma(k + 1.0)
    return k, lhs <= rhs, min(margin, abs(lhs - rhs))


# ----------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lam", RATES)
def test_mean_variance_and_pmf(method, lam):
    x = draw(lam, N, seed=1000 + int(lam * 10), method=method)
    mean, var = x.mean(), x.var(ddof=1)
    # standard errors: mean sqrt(λ/n); sample variance sqrt((μ4 − σ⁴)/n) = sqrt((λ + 2λ²)/n)
    assert abs(mean - lam) <= N_SIGMA * math.sqrt(lam / N), (mean, lam)
    assert abs(var - lam) <= N_SIGMA * math.sqrt((lam + 2 * lam * lam) / N), (var, lam)
    p = chi2_gof_pvalue(x, lam)
    assert p > 1e-4, f"chi-square vs scipy.stats.poisson: p = {p:.2e} (λ = {lam}, {method})"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lam", [3.0, 10.0, 30.0, 1e3, 5e4])
def test_same_distribution_as_numpy(method, lam):
    ours = draw(lam, N, seed=77, method=method)
    ref = np.random.default_rng(77).poisson(lam, N)
    p = two_sample_pvalue(ours, ref, lam)
    assert p > 1e-4, f"two-sample chi-square vs numpy Generator.poisson: p = {p:.2e} (λ = {lam}, {method})"


@pytest.mark.parametrize("lam", [10.0, 30.0])
def test_ptrs_switch_region_large_sample(lam):
    """2e6 variates near the PTRS switch point: chi-square resolves ~1e-3 relative pmf errors."""
    x = draw(lam, 2_000_000, seed=5, method="vectorized")
    assert chi2_gof_pvalue(x, lam) > 1e-4


@pytest.mark.parametrize("lam", [10.0, 10.5, 37.2, 1e3, 5e4, 1e7])
def test_vectorized_ptrs_matches_textbook_ptrs(lam):
    """Same (U, V) → same candidate k and accept/reject as a scalar transcription of PTRS."""
    g = torch.Generator().manual_seed(11)
    n = 4000
    U = torch.rand(n, generator=g, dtype=torch.float64) - 0.5
    V = torch.rand(n, generator=g, dtype=torch.float64)
    # push a share of the candidates into the tails of the hat (u_s < 0.07, < 0.013)
    U[: n // 4] = torch.sign(U[: n // 4]) * (0.5 - 0.07 * torch.rand(n // 4, generator=g, dtype=torch.float64))
    lam_t = torch.full((n,), lam, dtype=torch.float64)
    k, accepted = P._ptrs_exact(lam_t, U, V)
    checked = 0
    for i in range(n):
        k_ref, acc_ref, margin = ptrs_reference(lam, float(U[i]), float(V[i]))
        if margin < 1e-9:  # a tie within rounding: either answer is right
            continue
        checked += 1
        assert bool(accepted[i]) == acc_ref, (i, float(U[i]), float(V[i]))
        if acc_ref:
            assert int(k[i]) == k_ref
    assert checked > 0.99 * n
    assert 0.5 < accepted.double().mean() < 1.0


@pytest.mark.parametrize("lam", [10.0, 55.5, 5e4])
def test_cell_decisions_hold_for_every_V_in_the_cell(lam):
    """A candidate decided from V's first 11 bits gets the same answer for any V in its cell."""
    g = torch.Generator().manual_seed(3)
    n = 20000
    bits = torch.empty(n, dtype=torch.int64).random_(generator=g)
    lam_t = torch.full((n,), lam, dtype=torch.float64)
    out = torch.full((n,), -1.0, dtype=torch.float64)
    rejected, undecided = P._ptrs_segments([(lam_t, bits, 0)], out, n)
    rej = torch.cat(rejected) if rejected else torch.empty(0, dtype=torch.int64)
    und = torch.cat([u[0] for u in undecided]) if undecided else torch.empty(0, dtype=torch.int64)
    decided_reject = torch.zeros(n, dtype=torch.bool)
    decided_reject[rej] = True
    open_ = torch.zeros(n, dtype=torch.bool)
    open_[und] = True
    accepted = ~decided_reject & ~open_
    assert open_.double().mean() < 0.01
    U = P._bits_to_U(bits)
    cell = (bits & 2047).double()
    for edge in (1e-12, 0.5, 1.0 - 1e-12):  # V at the bottom, middle and top of its cell
        V = (cell + edge) / 2048.0
        k, acc = P._ptrs_exact(lam_t, U, V)
        assert torch.all(acc[accepted]) and not torch.any(acc[decided_reject])
        assert torch.equal(out[accepted], k[accepted])


def test_vectorized_whole_tensor_mode():
    """The one-job, whole-tensor-ops mode used off the CPU (run here on the CPU)."""
    rate = torch.tensor([0.5, 7.0, 12.0, 400.0], dtype=torch.float64).repeat(50_000)
    out = torch.empty_like(rate)
    P._sample(rate, out, torch.Generator().manual_seed(6), rate.numel(), rate.numel())
    for j, lam in enumerate([0.5, 7.0, 12.0, 400.0]):
        x = out[j::4].numpy().astype(np.int64)
        assert abs(x.mean() - lam) <= N_SIGMA * math.sqrt(lam / x.size)
        assert chi2_gof_pvalue(x, lam) > 1e-4


@pytest.mark.parametrize("lam", [0.1, 1.0, 5.0, 9.99])
def test_inversion_matches_scipy_ppf(lam):
    u = torch.rand(50000, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    k = P._inversion(torch.full_like(u, lam), u).numpy()
    ref = stats.poisson.ppf(u.numpy(), lam)  # smallest k with cdf(k) ≥ u
    tie = np.abs(u.numpy() - stats.poisson.cdf(ref, lam)) < 1e-12
    assert np.array_equal(k[~tie], ref[~tie])


def test_logpmf_matches_scipy_and_mpmath():
    k = torch.arange(0, 400, dtype=torch.float64)
    for lam in (0.3, 10.0, 37.5, 150.0):
        ours = poisson_logpmf(k, torch.tensor(lam, dtype=torch.float64))
        ref = torch.from_numpy(stats.poisson.logpmf(k.numpy(), lam))
        assert torch.allclose(ours, ref, rtol=1e-12, atol=1e-12), lam
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for lam in (1e7, 1e12, 1e15):  # where k log λ − λ − log Γ(k+1) loses digits
        ks = [round(lam + d * math.sqrt(lam)) for d in (-6, -1, 0, 2, 6)]
        ref = [float(k_ * mpmath.log(lam) - lam - mpmath.loggamma(k_ + 1)) for k_ in ks]
        ours = poisson_logpmf(torch.tensor(ks, dtype=torch.float64), torch.tensor(lam, dtype=torch.float64))
        # bd0's error is ~ε·|k − λ|: 3e-8 at λ = 1e15
        assert max(abs(a - b) for a, b in zip(ours.tolist(), ref)) < 1e-16 * 10 * math.sqrt(lam) * 30


# ----------------------------------------------------------------------------- special rates
@pytest.mark.parametrize("method", METHODS)
def test_zero_and_tiny_rates(method):
    g = torch.Generator().manual_seed(0)
    assert torch.count_nonzero(poisson(torch.zeros(100_000), g, method=method)) == 0
    y = poisson(torch.full((100_000,), 1e-300, dtype=torch.float64), g, method=method)
    assert torch.count_nonzero(y) == 0  # P(X ≥ 1) = 1e-295
    y = poisson(torch.full((400_000,), 1e-3), g, method=method)
    assert abs(float(y.sum()) - 400.0) <= N_SIGMA * math.sqrt(400.0)
    assert float(y.max()) <= 3


@pytest.mark.parametrize("method", METHODS)
def test_mixed_frame(method):
    """A frame of dark (λ = 0.1) and bright (λ = 5e4) pixels interleaved, plus zeros."""
    H, W = 400, 500
    rate = torch.full((H, W), 5e4)
    rate[:, ::2] = 0.1
    rate[::7, :] = 0.0
    y = poisson(rate, torch.Generator().manual_seed(9), method=method)
    assert y.shape == rate.shape and y.dtype == torch.float32
    assert torch.count_nonzero(y[rate == 0]) == 0
    for lam in (0.1, 5e4):
        x = y[rate == lam].numpy().astype(np.int64)
        assert abs(x.mean() - lam) <= N_SIGMA * math.sqrt(lam / x.size)
        assert chi2_gof_pvalue(x, lam) > 1e-4


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lam", [2e6, 1e7, 1e12])
def test_very_large_rates(method, lam):
    x = draw(lam, 100_000, seed=4, method=method)
    n = x.size
    assert abs(x.mean() - lam) <= N_SIGMA * math.sqrt(lam / n)
    assert abs(x.var(ddof=1) - lam) <= N_SIGMA * math.sqrt((lam + 2 * lam * lam) / n)
    if lam <= 1e7:
        assert chi2_gof_pvalue(x, lam) > 1e-4


def test_float32_counts_are_exact_integers():
    y = poisson(torch.full((10_000,), 1e7), torch.Generator().manual_seed(1))
    assert y.dtype == torch.float32
    assert torch.equal(y, torch.round(y)) and float(y.max()) < 2**24


def test_input_with_grad_gives_a_detached_sample():
    rate = torch.full((100,), 50.0, requires_grad=True)
    y = poisson(rate * 2, torch.Generator().manual_seed(0))
    assert not y.requires_grad and abs(float(y.mean()) - 100.0) < 5 * math.sqrt(100.0 / 100)


@pytest.mark.parametrize("method", METHODS)
def test_shapes(method):
    g = torch.Generator().manual_seed(0)
    assert poisson(torch.empty(0, 3), g, method=method).shape == (0, 3)
    assert poisson(torch.tensor(4.0), g, method=method).shape == ()
    y = poisson(torch.full((2, 3, 5, 7), 20.0, dtype=torch.float64), g, method=method)
    assert y.shape == (2, 3, 5, 7) and y.dtype == torch.float64
    z = poisson(torch.full((6, 8), 20.0).t(), g, method=method)  # non-contiguous input
    assert z.shape == (8, 6)


# ----------------------------------------------------------------------------- determinism
def _sample(seed: int, method: str, threads: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.set_num_threads(threads)
    rate = torch.cat([torch.full((300_000,), 0.7), torch.full((300_000,), 250.0), torch.full((50_000,), 3e6)])
    g = torch.Generator().manual_seed(seed)
    y = poisson(rate, g, method=method)
    return y, torch.rand(4, generator=g)  # the generator's state after the call


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_for_a_seed_whatever_the_threads(method):
    y1, after1 = _sample(42, method, threads=1)
    y2, after2 = _sample(42, method, threads=2)
    y3, _ = _sample(42, method, threads=2)
    assert torch.equal(y1, y2) and torch.equal(y2, y3)
    assert torch.equal(after1, after2), "the generator must advance the same way"
    y4, _ = _sample(43, method, threads=2)
    assert not torch.equal(y1, y4)
    assert (y1 != y4).double().mean() > 0.5


def test_auto_uses_quantile_on_cpu():
    assert P._Streams.supported(), "MT19937 state layout self-test failed: 'auto' would be slower"
    rate = torch.full((1000,), 300.0)
    a = poisson(rate, torch.Generator().manual_seed(8))
    b = poisson(rate, torch.Generator().manual_seed(8), method="quantile")
    assert torch.equal(a, b)


def _continuous_quantile(lam: float, w: float) -> float:
    """x with Q(x, λ) = Φ(w) (Q the regularized upper incomplete gamma), by scipy root finding
    on the tail that is small (so the tail probability keeps its relative precision)."""
    from scipy import optimize, special

    if w <= 0:
        u = special.ndtr(w)
        f = lambda x: special.gammaincc(x, lam) - u  # noqa: E731
    else:
        u = special.ndtr(-w)
        f = lambda x: special.gammainc(x, lam) - u  # noqa: E731
    a = lam + math.sqrt(lam) * w
    return optimize.brentq(f, max(a - 3 * math.sqrt(lam) - 20, 1e-6), a + 3 * math.sqrt(lam) + 20,
                           xtol=1e-14, rtol=1e-15)


def test_quantile_expansion_stays_within_half_its_error_bound():
    """The sampler trusts ⌊x̃⌋ only where x̃ is farther than δ = 2·model from an integer; the
    expansion's error against the exact continuous quantile must stay below the model itself
    (a factor of 2 in hand) over the rates it serves and every reachable w (|w| ≤ 8.3)."""
    ws = np.round(np.arange(-8.3, 8.31, 0.1), 2)
    worst = 0.0
    for lam in np.geomspace(P.QUANTILE_MIN_RATE, 1e5, 12):
        x = P._expansion(torch.full((ws.size,), lam, dtype=torch.float64), torch.tensor(ws)).numpy()
        model = (P._ERR_A + P._ERR_B * ws ** 6) / lam ** 1.5
        ref = np.array([_continuous_quantile(lam, w) for w in ws])
        worst = max(worst, float(np.max(np.abs(x - ref) / model)))
    assert worst < 1.0, f"expansion error reaches {worst:.2f}× its model; the sampler's margin is gone"
    assert worst > 0.3, "the model should be tight enough to keep the exact-cdf fallback rare"


def test_float32_erfinv_error_is_within_the_samplers_bound():
    """The compiled pass takes w from torch's float32 erfinv and widens δ by its relative error
    bound; the error (against scipy's float64 erfinv of the same float32 input) must stay below
    half that bound, over the whole range and near ±1."""
    from scipy import special

    g = torch.Generator().manual_seed(11)
    parts = [torch.rand(4_000_000, generator=g) * 2 - 1,
             1 - torch.rand(1_000_000, generator=g) * 1e-3, -(1 - torch.rand(1_000_000, generator=g) * 1e-6)]
    x = torch.cat(parts)
    x = x[x.abs() < 1]
    ours = torch.erfinv(x).double().numpy()
    ref = special.erfinv(x.double().numpy())
    nz = ref != 0
    rel = np.abs(ours[nz] - ref[nz]) / np.abs(ref[nz])
    assert rel.max() < P._ERFINV32_REL / 2, f"float32 erfinv errs by {rel.max():.2e} relative"


def _check_inverse(k, lam, u, uc, upper):
    """F(k − 1) < u ≤ F(k) with scipy's cdf, on the small tail."""
    from scipy import special

    F = np.where(upper, special.pdtrc(k, lam), special.pdtr(k, lam))
    Fm = np.where(upper, special.pdtrc(np.maximum(k - 1, 0), lam), special.pdtr(np.maximum(k - 1, 0), lam))
    le = np.where(upper, uc >= F, u <= F)
    gt = np.where(k == 0, True, np.where(upper, uc < Fm, u > Fm))
    return le & gt


def test_quantile_gives_the_exact_inverse_cdf():
    """Every k, trusted from the expansion or decided by the cdf, is the smallest k with
    u ≤ F(k), for rates across the method's range and u down to the grid's extremes."""
    g = torch.Generator().manual_seed(3)
    n = 400_000
    lam = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(math.log(P.QUANTILE_MIN_RATE),
                                                                   math.log(P.QUANTILE_MAX_RATE), generator=g))
    v = torch.rand(n, dtype=torch.float64, generator=g).mul_(-2.0).add_(1.0 - 2.0 ** -53)
    v[:2000] = torch.tensor([1 - 2.0 ** -53, -(1 - 2.0 ** -53)], dtype=torch.float64).repeat(1000)  # u = 2^-54, 1 − 2^-54
    v[2000:4000] = torch.linspace(-0.999999999, 0.999999999, 2000, dtype=torch.float64)
    lam[:4000] = torch.tensor([30.0, 31.7, 100.0, 1e3, 1e6], dtype=torch.float64).repeat(800)
    k, decided = P._inverse_cdf(lam.numpy(), v.numpy())
    vn = v.numpy()
    ok = _check_inverse(k, lam.numpy(), (1 - vn) / 2, (1 + vn) / 2, vn < 0)
    assert ok.all(), f"{(~ok).sum()} of {n} samples are not the inverse cdf at their u"
    frac = decided.mean()
    assert 1e-4 < frac < 0.02, f"the exact cdf decided {frac:.2%} of the samples"
    # the compiled pass computes the same expansion as the torch reference
    w = torch.erfinv(v).mul_(-math.sqrt(2.0))
    x_ref = P._expansion(lam, w)
    trusted = torch.from_numpy(~decided)
    assert torch.equal(torch.from_numpy(k)[trusted], torch.floor(x_ref)[trusted])
    # an independent check of cdf-decided samples, by mpmath at 50 digits
    import mpmath

    i = np.nonzero(decided)[0][:40].tolist()
    with mpmath.workdps(50):
        for j in i:
            lam_j, u_j, k_j = mpmath.mpf(lam[j].item()), (1 - mpmath.mpf(vn[j])) / 2, int(k[j])
            F = lambda m: mpmath.gammainc(m + 1, lam_j, mpmath.inf, regularized=True)  # noqa: E731
            assert u_j <= F(k_j) and (k_j == 0 or u_j > F(k_j - 1)), (float(lam_j), float(u_j), k_j)


def test_streams_are_independent():
    """Blocks get different streams: no two 2^18-element blocks repeat each other."""
    n = 3 * P._STREAM_JOB
    y = poisson(torch.full((n,), 1e3), torch.Generator().manual_seed(1), method="streams").reshape(3, -1)
    assert not torch.equal(y[0], y[1]) and not torch.equal(y[1], y[2])
    r = np.corrcoef(y.numpy())
    assert np.all(np.abs(r[np.triu_indices(3, 1)]) < N_SIGMA / math.sqrt(P._STREAM_JOB))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [float("nan"), -1.0, -1e-30, float("inf"), 2 * MAX_RATE])
def test_bad_rates_raise_input_error(bad):
    rate = torch.full((10,), 5.0)
    rate[3] = bad
    with pytest.raises(InputError, match="rates must be finite"):
        poisson(rate, torch.Generator())


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.ones(3), torch.Generator()), "must be a torch.Tensor"),
        ((torch.ones(3, dtype=torch.int64), torch.Generator()), "float32 or float64"),
        ((torch.ones(3), 123), "must be a torch.Generator"),
    ],
)
def test_bad_arguments_raise_input_error(args, match):
    with pytest.raises(InputError, match=match):
        poisson(*args)


def test_unknown_method_raises_input_error():
    with pytest.raises(InputError, match="unknown method"):
        poisson(torch.ones(3), torch.Generator(), method="fast")
