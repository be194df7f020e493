"""Generative inverse design: a conditional VAE that proposes designs for a target.

:class:`ConditionalVAE` (Sohn, Lee & Yan, "Learning Structured Output Representation using
Deep Conditional Generative Models", NeurIPS 2015) learns ``p(x | c)`` from evaluated designs:
``x`` is the design's one-hot unit-cube encoding, ``c`` its outcome — the normalised
objectives and the scaled outcome-constraint violations
(:class:`~camforge.design.problem.ObjectiveScaler`). Encoder ``q(z | x, c)`` and decoder
``p(x | z, c)`` are small MLPs; continuous parameters are decoded through a sigmoid (binary
cross-entropy), each choice through a softmax (cross-entropy); the loss adds β·KL to N(0, I).

Proposing for a target (:meth:`ConditionalVAE.propose`): conditions are drawn from the
evaluated designs that meet the target best (the ``elite`` fraction, ranked by target
violation), nudged towards and past the target's thresholds, and decoded from
``z ~ N(0, I)``; proposals that break an analytic constraint are dropped. The CVAE decodes
``screen`` times more candidates than asked, and :class:`TargetSurrogate` — Gaussian processes
of each target term's slack, trained on the same evaluations — keeps the likeliest to meet the
spec (the generator proposes, a learned critic screens).

:class:`GenerativeOptimizer` (method ``generative``) — half the budget (at least
``n_init``) explores with Sobol designs, then rounds of: train the CVAE on everything
evaluated, condition on improved versions of the current Pareto designs (each objective
pushed ``improve`` normalised units beyond a random Pareto point, constraints met), decode,
evaluate.
"""

from __future__ import annotations

import math

import numpy as np

from camforge.design.optimizers.base import Optimizer, Proposal
from camforge.design.problem import Evaluation, ObjectiveScaler, Problem, outcome_env


def _torch():
    import torch

    return torch


class ConditionalVAE:
    """A small conditional VAE over a design space's one-hot encoding (see the module docstring)."""

    def __init__(self, space, cond_dim: int, *, latent_dim: int = 4, hidden: int = 64, beta: float = 0.5,
                 seed: int = 0):
        torch = _torch()
        from torch import nn

        self.space = space
        self.d = space.dim(onehot=True)
        self.cond_dim = int(cond_dim)
        self.latent_dim = int(latent_dim)
        self.beta = float(beta)
        self.blocks = space.choice_slices()
        self.cont = np.ones(self.d, bool)
        for a, b in self.blocks:
            self.cont[a:b] = False
        g = torch.Generator().manual_seed(seed)
        self.gen = g
        torch.manual_seed(seed)
        self.enc = nn.Sequential(nn.Linear(self.d + self.cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 2 * self.latent_dim)).double()
        self.dec = nn.Sequential(nn.Linear(self.latent_dim + self.cond_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, self.d)).double()
        self.c_mean = np.zeros(self.cond_dim)
        self.c_std = np.ones(self.cond_dim)

    def _loss(self, X, C):
        torch = _torch()
        F = torch.nn.functional
        h = self.enc(torch.cat([X, C], 1))
        mu, logv = h[:, : self.latent_dim], h[:, self.latent_dim :].clamp(-8, 8)
        z = mu + torch.randn(mu.shape, generator=self.gen, dtype=mu.dtype) * torch.exp(0.5 * logv)
        logits = self.dec(torch.cat([z, C], 1))
        cont = torch.as_tensor(self.cont)
        rec = F.binary_cross_entropy_with_logits(logits[:, cont], X[:, cont], reduction="sum") if cont.any() else 0.0
        for a, b in self.blocks:
            rec = rec + F.cross_entropy(logits[:, a:b], X[:, a:b].argmax(1), reduction="sum")
        kl = -0.5 * torch.sum(1 + logv - mu * mu - torch.exp(logv))
        return (rec + self.beta * kl) / X.shape[0]

    def fit(self, X: np.ndarray, C: np.ndarray, *, epochs: int = 400, lr: float = 3e-3, batch: int = 64) -> list[float]:
        """Train on designs ``X`` (one-hot encodings) with conditions ``C``; returns the loss per epoch."""
        torch = _torch()
        self.c_mean = C.mean(0)
        self.c_std = np.where(C.std(0) > 1e-9, C.std(0), 1.0)
        Xt = torch.as_tensor(X, dtype=torch.float64)
        Ct = torch.as_tensor((C - self.c_mean) / self.c_std, dtype=torch.float64)
        params = list(self.enc.parameters()) + list(self.dec.parameters())
        opt = torch.optim.Adam(params, lr=lr)
        n = len(Xt)
        losses = []
        for _ in range(epochs):
            perm = torch.randperm(n, generator=self.gen)
            tot = 0.0
            for i in range(0, n, batch):
                idx = perm[i : i + batch]
                loss = self._loss(Xt[idx], Ct[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(idx)
            losses.append(tot / n)
        return losses

    def decode(self, C: np.ndarray, *, temperature: float = 1.0) -> np.ndarray:
        """Designs (one-hot encodings, exact choices) for conditions ``C`` (``z ~ N(0, T² I)``)."""
        torch = _torch()
        with torch.no_grad():
            Ct = torch.as_tensor((np.asarray(C) - self.c_mean) / self.c_std, dtype=torch.float64)
            z = torch.randn((len(Ct), self.latent_dim), generator=self.gen, dtype=torch.float64) * temperature
            logits = self.dec(torch.cat([z, Ct], 1))
            x = torch.sigmoid(logits).numpy()
        for a, b in self.blocks:
            p = torch.softmax(torch.as_tensor(logits[:, a:b]), 1).numpy()
            pick = np.array([np.searchsorted(np.cumsum(row), float(torch.rand((), generator=self.gen))) for row in p])
            x[:, a:b] = 0.0
            x[np.arange(len(x)), a + np.minimum(pick, b - a - 1)] = 1.0
        return x


def conditions(scaler: ObjectiveScaler, problem: Problem, evaluations: list[Evaluation]) -> tuple[np.ndarray, np.ndarray]:
    """(designs X one-hot, conditions C) of the successful evaluations."""
    idx = [i for i, k in enumerate(problem.constraints) if k in problem.space.outcome_constraints]
    X, C = [], []
    for e in evaluations:
        if e is None or not e.ok or not all(math.isfinite(v) for v in e.objectives):
            continue
        u = scaler.transform(e.objectives)
        g = scaler.violations(e.violations)[idx] if idx else np.zeros(0)  # scaled per constraint, then selected
        X.append(problem.space.encode(e.params, onehot=True))
        C.append(np.concatenate([u, np.clip(g, -5, 5)]))
    return np.asarray(X), np.asarray(C)


def target_violation(problem: Problem, ev: Evaluation) -> float:
    """Summed relative violation of the space's target spec and constraints (0: met)."""
    if not ev.ok:
        return math.inf
    env = outcome_env(ev.quantities, ev.metrics)
    tot = 0.0
    for k in list(problem.space.target) + list(problem.constraints):
        v = k.violation(env)
        scale = abs(k.rhs(env)) or 1.0
        tot += max(0.0, v) / scale
    return tot


class GenerativeOptimizer(Optimizer):
    """Conditional-VAE inverse design (see the module docstring)."""

    name = "generative"
    default_batch_size = 8

    def __init__(self, seed: int = 0, batch_size: int | None = None, n_init: int = 32, explore_fraction: float = 0.5,
                 improve: float = 0.15, latent_dim: int = 4, epochs: int = 300, oversample: int = 8):
        super().__init__(seed, batch_size)
        self.n_init = int(n_init)
        self.explore_fraction = float(explore_fraction)
        self.improve = float(improve)
        self.latent_dim = int(latent_dim)
        self.epochs = int(epochs)
        self.oversample = int(oversample)
        self.data: list[Evaluation] = []
        self._rng = np.random.default_rng(seed)

    def setup(self, problem, study, history) -> None:
        super().setup(problem, study, history)
        self.data = [e for e in history if e is not None]
        self._init = problem.space.stream(seed=self.seed, method="sobol")
        for _ in range(len(self.data)):
            next(self._init)

    def run(self, evaluate, budget: int, progress=None) -> None:
        self._budget_total = len(self.data) + budget
        super().run(evaluate, budget, progress)

    def tell(self, proposals, evaluations) -> None:
        self.data += [e for e in evaluations if e is not None]

    def _train(self) -> tuple[ConditionalVAE, ObjectiveScaler, np.ndarray, np.ndarray]:
        scaler = ObjectiveScaler(self.problem, self.data)
        X, C = conditions(scaler, self.problem, self.data)
        vae = ConditionalVAE(self.problem.space, C.shape[1], latent_dim=self.latent_dim,
                             seed=self.seed * 1000 + len(self.data))
        losses = vae.fit(X, C, epochs=self.epochs)
        self.log.setdefault("train_loss", []).append(losses[-1])
        return vae, scaler, X, C

    def _decode_feasible(self, vae: ConditionalVAE, C: np.ndarray, n: int) -> list[dict]:
        sp = self.problem.space
        out, seen = [], {tuple(np.round(sp.encode(e.params), 9)) for e in self.data}
        for _ in range(20):
            for x in vae.decode(C):
                p = sp.decode(x)
                key = tuple(np.round(sp.encode(p), 9))
                if key in seen or not sp.is_feasible(p):
                    continue
                seen.add(key)
                out.append(p)
                if len(out) == n:
                    return out
        return out

    def ask(self, n: int) -> list[Proposal]:
        explore = max(self.n_init, int(self.explore_fraction * getattr(self, "_budget_total", 0)))
        ok = [e for e in self.data if e.ok and all(math.isfinite(v) for v in e.objectives)]
        if len(self.data) < explore or len(ok) < 8:
            return [Proposal(next(self._init)) for _ in range(n)]
        vae, scaler, X, C = self._train()
        m = self.problem.n_objectives
        feas = np.array([e.feasible for e in ok])
        from camforge.design.pareto import pareto_mask

        U = C[:, :m]
        pool = np.flatnonzero(feas) if feas.any() else np.arange(len(C))
        front = pool[pareto_mask(U[pool], ["maximize"] * m)]
        k = n * self.oversample
        base = C[self._rng.choice(front, size=k)]
        target = base.copy()
        target[:, :m] += self.improve * self._rng.random((k, m))
        target[:, m:] = np.minimum(target[:, m:], -0.1)  # constraints met with a margin
        props = self._decode_feasible(vae, target, n)
        while len(props) < n:
            props.append(next(self._init))
        return [Proposal(p, info={"source": "cvae"}) for p in props]

    # ------------------------------------------------------------------ target specs
    def propose_for_target(self, n: int, *, elite: float = 0.1, push: float = 0.1, screen: int = 16) -> list[dict]:
        """``n`` new designs meant to meet the space's ``target`` spec, from a CVAE trained on
        every evaluation so far (see the module docstring).

        ``screen``: decode ``screen × n`` candidates and keep the ``n`` most likely to meet
        the spec under :class:`TargetSurrogate` (Gaussian processes of each target term's
        slack, trained on the same evaluations; their probabilities go to
        ``log["target_probability"]``); 0 or 1 keeps the first ``n`` decoded.
        """
        if not self.problem.space.target:
            from camforge.errors import ConfigError

            raise ConfigError(f"design space {self.problem.space.name!r} has no target spec (target: [...])")
        self.log.pop("target_probability", None)
        vae, scaler, X, C = self._train()
        ok = [e for e in self.data if e.ok and all(math.isfinite(v) for v in e.objectives)]
        tv = np.array([target_violation(self.problem, e) for e in ok])
        k = max(4, int(math.ceil(elite * len(ok))))
        best = np.argsort(tv)[:k]
        m = self.problem.n_objectives
        n_cand = n * max(1, int(screen))
        idx = self._rng.choice(best, size=max(n, n_cand) * self.oversample // max(1, int(screen)) + n_cand)
        target = C[idx].copy()
        target[:, :m] += push
        target[:, m:] = np.minimum(target[:, m:], -0.1)
        cands = self._decode_feasible(vae, target, n_cand)
        if screen <= 1 or len(cands) <= n:
            return cands[:n]
        sur = TargetSurrogate(self.problem, ok, seed=self.seed)
        lp = sur.log_probability(cands)
        order = np.argsort(-lp, kind="stable")[:n]
        self.log.setdefault("screen_probability", []).append(float(np.exp(lp[order]).mean()))
        self.log["target_probability"] = [float(np.exp(lp[i])) for i in order]  # of the designs returned
        return [cands[i] for i in order]


class TargetSurrogate:
    """P(a design meets the target spec and the constraints), from Gaussian processes.

    One GP (scikit-learn, Matérn 5/2 with automatic relevance and a white-noise term, on the
    design's unit-cube one-hot encoding) per term of the target spec and per outcome
    constraint, fitted to that term's relative slack ``(lhs − rhs)/|rhs|`` over the evaluated
    designs (clipped at ±5). The terms are taken as independent: P = Π Φ(−μ_k/σ_k).
    Used to screen generative proposals: the CVAE proposes, the surrogate keeps the likeliest.
    """

    def __init__(self, problem: Problem, evaluations: list[Evaluation], *, seed: int = 0):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        self.problem = problem
        sp = problem.space
        terms = list(sp.target) + list(problem.constraints)
        X = np.array([sp.encode(e.params, onehot=True) for e in evaluations])
        Y = np.array([[self._slack(k, e) for k in terms] for e in evaluations])
        self.models = []
        d = X.shape[1]
        for j in range(Y.shape[1]):
            y = Y[:, j]
            if not np.isfinite(y).any() or np.ptp(y[np.isfinite(y)]) == 0:
                self.models.append(None)  # never measured, or constant: no information
                continue
            good = np.isfinite(y)
            kern = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(d), (1e-2, 1e3), nu=2.5) + \
                WhiteKernel(1e-3, (1e-10, 1e0))
            gp = GaussianProcessRegressor(kern, normalize_y=True, n_restarts_optimizer=1, random_state=seed)
            with warnings.catch_warnings():  # irrelevant dimensions run to the length-scale bound: expected
                warnings.simplefilter("ignore", ConvergenceWarning)
                gp.fit(X[good], y[good])
            self.models.append(gp)

    @staticmethod
    def _slack(k, e: Evaluation) -> float:
        if not e.ok:
            return math.nan
        env = outcome_env(e.quantities, e.metrics)
        v = k.violation(env)
        if not math.isfinite(v):
            return math.nan
        return float(np.clip(v / (abs(k.rhs(env)) or 1.0), -5.0, 5.0))

    def log_probability(self, params: list[dict]) -> np.ndarray:
        """log P(meet every term) for each design (analytic constraints are assumed checked);
        finite far out in the tails, where the probability itself underflows to 0."""
        from scipy.stats import norm

        X = np.array([self.problem.space.encode(p, onehot=True) for p in params])
        logp = np.zeros(len(X))
        for gp in self.models:
            if gp is None:
                continue
            mu, sd = gp.predict(X, return_std=True)
            logp += norm.logcdf(-mu / np.maximum(sd, 1e-9))
        return logp

    def probability(self, params: list[dict]) -> np.ndarray:
        """P(meet every term) for each design."""
        return np.exp(self.log_probability(params))


__all__ = ["ConditionalVAE", "GenerativeOptimizer", "TargetSurrogate", "conditions", "target_violation"]
