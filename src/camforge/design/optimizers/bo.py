"""Multi-objective Bayesian optimisation with outcome constraints (BoTorch qLogNEHVI).

Model
    One Gaussian process per outcome (BoTorch ``SingleTaskGP``: Matérn-5/2 ARD kernel,
    inputs in the unit cube with one-hot choices, standardised outputs), fitted by maximum
    marginal likelihood (L-BFGS-B, at most ``fit_maxiter`` iterations; between full fits every
    ``refit_every`` iterations the previous hyperparameters are refined for 40). Outcomes
    are the objectives — as maximisation, on a log scale when they are positive and span
    more than a decade (low-light limit, cost) — and the violation of each outcome
    constraint (≤ 0 feasible).
Acquisition
    qLogNEHVI, the log noisy expected hypervolume improvement of Daulton et al., "Parallel
    Bayesian Optimization of Multiple Noisy Objectives with Expected Hypervolume
    Improvement" (NeurIPS 2021) in the numerically robust log form of Ament et al.,
    "Unexpected Improvements to Expected Improvement" (NeurIPS 2023), with the outcome
    constraints as feasibility weights; ``qLogEHVI`` (noise-free partitioning of the
    observed front) is available as ``acquisition="qLogEHVI"``.
Mixed parameters and analytic constraints
    The acquisition is maximised over candidate designs that are valid by construction —
    exact one-hot choices, integers, and every analytic constraint met: ``n_candidates``
    feasible random designs plus perturbations of the current Pareto set, then ``rounds`` of
    local perturbation around the best candidates with a shrinking step. A batch (q > 1) is
    chosen greedily with the earlier picks as pending points.
Initial design
    ``n_init`` scrambled-Sobol feasible designs (default ``2 (d + 1)`` for d parameters).
"""

from __future__ import annotations

import math

import numpy as np

from camforge.design.optimizers.base import Optimizer, Proposal


class BoTorchMOBO(Optimizer):
    """qLogNEHVI Bayesian optimisation (see the module docstring)."""

    name = "bo"
    default_batch_size = 1

    def __init__(self, seed: int = 0, batch_size: int | None = None, n_init: int | None = None,
                 acquisition: str = "qLogNEHVI", mc_samples: int = 32, n_candidates: int = 768, rounds: int = 2,
                 log_outcomes: bool = True, fit_maxiter: int = 200, refit_every: int = 10):
        super().__init__(seed, batch_size)
        if acquisition not in ("qLogNEHVI", "qLogEHVI"):
            from camforge.errors import ConfigError

            raise ConfigError(f"unknown acquisition {acquisition!r}; use qLogNEHVI or qLogEHVI")
        self.n_init = n_init
        self.acquisition = acquisition
        self.mc_samples = int(mc_samples)
        self.n_candidates = int(n_candidates)
        self.rounds = int(rounds)
        self.log_outcomes = log_outcomes
        self.fit_maxiter = int(fit_maxiter)
        self.refit_every = max(1, int(refit_every))
        self._gp_state = None
        self.X: list[np.ndarray] = []
        self.Y: list[np.ndarray] = []  # objectives, natural units
        self.G: list[np.ndarray] = []  # outcome-constraint violations
        self._iter = 0

    # ------------------------------------------------------------------ data
    def setup(self, problem, study, history) -> None:
        super().setup(problem, study, history)
        sp = problem.space
        if self.n_init is None:
            self.n_init = 2 * (len(sp.parameters) + 1)
        self._init = sp.stream(seed=self.seed, method="sobol")
        self._n_seen = 0
        self._rng = np.random.default_rng(self.seed + 7919)
        self._outcome_idx = [i for i, k in enumerate(problem.constraints) if k in problem.space.outcome_constraints]
        for ev in history:
            self._add(ev)
        for _ in range(min(len(history), self.n_init)):
            next(self._init)

    def _add(self, ev) -> None:
        self._n_seen += 1
        if ev is None or not ev.ok:
            return
        y = np.asarray(ev.objectives, dtype=np.float64)
        g = np.asarray([ev.violations[i] for i in self._outcome_idx], dtype=np.float64)
        if not np.isfinite(y).all() or not np.isfinite(g).all():
            return
        self.X.append(self.problem.space.encode(ev.params, onehot=True))
        self.Y.append(y)
        self.G.append(g)

    def tell(self, proposals, evaluations) -> None:
        for ev in evaluations:
            if ev is not None:
                self._add(ev)

    # ------------------------------------------------------------------ asking
    def ask(self, n: int) -> list[Proposal]:
        if self._n_seen < self.n_init or len(self.X) < 3:
            return [Proposal(next(self._init)) for _ in range(n)]
        # one BLAS / torch thread: the matrices are small, and threads only contend (the L-BFGS of
        # the GP fit runs 2× slower with two OpenBLAS threads on a loaded 2-core machine)
        import contextlib

        import torch

        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - optional
            threadpool_limits = lambda limits: contextlib.nullcontext()  # noqa: E731
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        import warnings

        try:
            with threadpool_limits(limits=1), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse invariant checks")
                return self._ask_model(n)
        finally:
            torch.set_num_threads(before)

    def _transforms(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[bool]]:
        """Objectives → maximisation outcomes (log where positive and spanning > 10×) and the
        reference point in the same space."""
        signs = np.asarray(self.problem.signs)
        ref = self.problem.reference_point
        if ref is None:
            ref = [float(np.min(Y[:, i] * s) * s - 0.1 * abs(np.ptp(Y[:, i])) * s) for i, s in enumerate(signs)]
        ref = np.asarray(ref, dtype=np.float64)
        logs = []
        out = np.empty_like(Y)
        r = np.empty_like(ref)
        for i, s in enumerate(signs):
            col = Y[:, i]
            use_log = bool(self.log_outcomes and (col > 0).all() and ref[i] > 0 and col.max() / col.min() > 10)
            logs.append(use_log)
            out[:, i] = s * (np.log(col) if use_log else col)
            r[i] = s * (math.log(ref[i]) if use_log else ref[i])
        return out, r, logs

    def _fit(self):
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        X = torch.as_tensor(np.stack(self.X), dtype=torch.float64)
        Y = np.stack(self.Y)
        Yt, ref, logs = self._transforms(Y)
        G = np.stack(self.G) if self._outcome_idx else np.zeros((len(Y), 0))
        outs = torch.as_tensor(np.concatenate([Yt, G], axis=1), dtype=torch.float64)
        torch.manual_seed(self.seed * 1000 + self._iter)
        model = SingleTaskGP(X, outs, outcome_transform=Standardize(m=outs.shape[-1]))
        # warm start from the previous fit (same outputs): a short refinement instead of a full
        # fit, with a full fit every ``refit_every`` iterations
        warm = self._gp_state is not None and self._iter % self.refit_every != 0
        if warm:
            state = {k: v for k, v in self._gp_state.items() if not k.startswith("outcome_transform")}
            try:
                model.load_state_dict(state, strict=False)
            except RuntimeError:
                warm = False
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        try:
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": 40 if warm else self.fit_maxiter}})
        except Exception:  # noqa: BLE001 - a failed fit keeps the prior-initialised hyperparameters
            pass
        self._gp_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return model, X, ref, Yt

    def _candidates(self, X_obs: np.ndarray, Yt: np.ndarray) -> np.ndarray:
        sp = self.problem.space
        seed = int(self._rng.integers(2**31))
        pool = [sp.encode(p) for p in sp.sample(self.n_candidates, seed=seed, method="random")]
        # perturbations of the current (unconstrained) Pareto set
        from camforge.design.pareto import pareto_mask

        front = X_obs[pareto_mask(Yt, ["maximize"] * Yt.shape[1])]
        pool += self._perturb(front[:16], 24, 0.1)
        return np.unique(np.stack(pool), axis=0)

    def _perturb(self, X: np.ndarray, k: int, sigma: float) -> list[np.ndarray]:
        sp = self.problem.space
        blocks = sp.choice_slices()
        cont = np.ones(sp.dim(), bool)
        for a, b in blocks:
            cont[a:b] = False
        out = []
        for x in X:
            for _ in range(k):
                y = x.copy()
                y[cont] = np.clip(y[cont] + self._rng.normal(0, sigma, cont.sum()), 0, 1)
                for a, b in blocks:
                    if self._rng.random() < 0.15:
                        y[a:b] = 0
                        y[a + int(self._rng.integers(b - a))] = 1
                p = sp.decode(y)
                if sp.is_feasible(p):
                    out.append(sp.encode(p))
        return out

    def _acqf(self, model, X, ref, Yt):
        import torch
        from botorch.acquisition.multi_objective.logei import (
            qLogExpectedHypervolumeImprovement,
            qLogNoisyExpectedHypervolumeImprovement,
        )
        from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
        from botorch.sampling import SobolQMCNormalSampler

        m = len(self.problem.objectives)
        nc = len(self._outcome_idx)
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=self.seed * 1000 + self._iter)
        objective = IdentityMCMultiOutputObjective(outcomes=list(range(m)))
        constraints = [(lambda Z, j=j: Z[..., m + j]) for j in range(nc)] or None
        ref_t = torch.as_tensor(ref, dtype=torch.float64)
        if self.acquisition == "qLogNEHVI":
            return qLogNoisyExpectedHypervolumeImprovement(
                model=model, ref_point=ref_t, X_baseline=X, sampler=sampler, objective=objective,
                constraints=constraints, prune_baseline=True, cache_root=True)
        from botorch.utils.multi_objective.box_decompositions.non_dominated import FastNondominatedPartitioning

        G = np.stack(self.G) if nc else np.zeros((len(Yt), 0))
        feas = (G <= 0).all(1) if nc else np.ones(len(Yt), bool)
        Yf = torch.as_tensor(Yt[feas] if feas.any() else Yt[:0], dtype=torch.float64)
        part = FastNondominatedPartitioning(ref_point=ref_t, Y=Yf)
        return qLogExpectedHypervolumeImprovement(model=model, ref_point=ref_t, partitioning=part, sampler=sampler,
                                                  objective=objective, constraints=constraints)

    def _ask_model(self, n: int) -> list[Proposal]:
        import torch

        self._iter += 1
        model, X, ref, Yt = self._fit()
        acqf = self._acqf(model, X, ref, Yt)
        sp = self.problem.space
        X_obs = np.stack(self.X)
        cands = self._candidates(X_obs, Yt)
        chosen: list[np.ndarray] = []
        with torch.no_grad():
            for _ in range(n):
                if chosen:
                    acqf.set_X_pending(torch.as_tensor(np.stack(chosen), dtype=torch.float64))
                pool = cands
                best_x, best_v = None, -math.inf
                for r in range(self.rounds + 1):
                    vals = self._score(acqf, pool)
                    order = np.argsort(-vals)
                    if vals[order[0]] > best_v:
                        best_v, best_x = float(vals[order[0]]), pool[order[0]]
                    if r < self.rounds:
                        top = pool[order[:8]]
                        local = self._perturb(top, 16, 0.05 / (r + 1))
                        if not local:
                            break
                        pool = np.unique(np.stack(local), axis=0)
                # never propose an already evaluated or chosen design
                seen = np.concatenate([X_obs] + ([np.stack(chosen)] if chosen else []))
                if best_x is None or (np.abs(seen - best_x).max(1) < 1e-9).any():
                    vals = self._score(acqf, cands)
                    for i in np.argsort(-vals):
                        if not (np.abs(seen - cands[i]).max(1) < 1e-9).any():
                            best_x = cands[i]
                            break
                chosen.append(best_x)
        self.log.setdefault("acq_values", []).append(best_v)
        return [Proposal(sp.decode(x), info={"acquisition": self.acquisition}) for x in chosen]

    @staticmethod
    def _score(acqf, pool: np.ndarray) -> np.ndarray:
        import torch

        out = []
        for i in range(0, len(pool), 256):
            x = torch.as_tensor(pool[i : i + 256], dtype=torch.float64)[:, None, :]
            out.append(acqf(x).detach().numpy())
        return np.concatenate(out)


__all__ = ["BoTorchMOBO"]
