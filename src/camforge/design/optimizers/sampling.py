"""Baselines and Optuna's own samplers: random, Sobol, NSGA-II, Optuna's GP.

``random``
    Uniform sampling in the (log-)scaled parameter box, designs that violate an analytic
    constraint redrawn.
``sobol``
    A scrambled Sobol sequence (Owen scrambling, :class:`scipy.stats.qmc.Sobol`), likewise
    filtered; a resumed study continues the same sequence.
``nsga2``
    NSGA-II (Deb et al. 2002) from Optuna (:class:`optuna.samplers.NSGAIISampler`) with
    constrained domination (the constraint values are stored with each trial,
    ``Trial.set_constraint``). A child that violates an analytic
    constraint is recorded as *pruned* without evaluation, so the generation keeps breeding
    until it has ``population_size`` evaluated members (the same free rejection the other
    methods get).
``bo-optuna``
    Optuna's Gaussian-process sampler (:class:`optuna.samplers.GPSampler`: log EHVI, with
    the stored constraints), for comparison with the BoTorch method ``bo``. It cannot learn
    from a rejected proposal, so designs that violate an analytic constraint are evaluated
    (and counted) and the GP learns the constraint from their violations.
"""

from __future__ import annotations

from camforge.design.optimizers.base import Optimizer, Proposal


class RandomSearch(Optimizer):
    """Uniform random or scrambled-Sobol sampling of feasible designs."""

    name = "random"
    default_batch_size = 8

    def __init__(self, seed: int = 0, batch_size: int | None = None, method: str = "random"):
        super().__init__(seed, batch_size)
        if method not in ("random", "sobol"):
            from camforge.errors import ConfigError

            raise ConfigError(f"unknown sampling method {method!r}; use random or sobol")
        self.method = method
        self.name = method

    def setup(self, problem, study, history) -> None:
        super().setup(problem, study, history)
        self._it = problem.space.stream(seed=self.seed, method=self.method)
        for _ in range(len(history)):  # a resumed study continues the same sequence
            next(self._it)

    def ask(self, n: int) -> list[Proposal]:
        return [Proposal(next(self._it)) for _ in range(n)]


def distributions(space) -> dict:
    """Optuna distributions of a design space's parameters."""
    import optuna

    out = {}
    for name, s in space.parameters.items():
        if s.type == "choice":
            out[name] = optuna.distributions.CategoricalDistribution(list(s.choices))
        elif s.type == "int":
            out[name] = optuna.distributions.IntDistribution(int(s.low), int(s.high), log=s.log)
        else:
            out[name] = optuna.distributions.FloatDistribution(float(s.low), float(s.high), log=s.log)
    return out


def constraint_keys(problem) -> list[str]:
    """Optuna constraint names of a problem's constraints (``"<i>: <text>"``)."""
    return [f"{i}: {k.text}" for i, k in enumerate(problem.constraints)]


class OptunaSampler(Optimizer):
    """An Optuna sampler driving the study directly (``study.ask`` / ``study.tell``)."""

    name = "optuna"

    def _make_sampler(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def sampler(self):
        if not hasattr(self, "_sampler"):
            self._sampler = self._make_sampler()
        return self._sampler

    def ask(self, n: int) -> list[Proposal]:
        dists = distributions(self.problem.space)
        out = []
        for _ in range(n):
            trial = self.study.ask(dists)
            out.append(Proposal(dict(trial.params), trial=trial))
        return out


class NSGA2(OptunaSampler):
    """NSGA-II from Optuna (see the module docstring)."""

    name = "nsga2"

    def __init__(self, seed: int = 0, batch_size: int | None = None, population_size: int = 20,
                 mutation_prob: float | None = None, crossover_prob: float = 0.9):
        super().__init__(seed, batch_size or population_size)
        self.population_size = int(population_size)
        self.mutation_prob = mutation_prob
        self.crossover_prob = crossover_prob

    def _make_sampler(self):
        import optuna

        return optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=self.seed,
                                             mutation_prob=self.mutation_prob, crossover_prob=self.crossover_prob)


class OptunaGP(OptunaSampler):
    """Optuna's GP sampler (log EHVI / constrained), for comparison with ``bo``."""

    name = "bo-optuna"
    evaluate_infeasible = True  # it learns the analytic constraints from evaluated violations

    def __init__(self, seed: int = 0, batch_size: int | None = None, n_startup_trials: int | None = None):
        super().__init__(seed, batch_size)
        self.n_startup_trials = n_startup_trials

    def bind(self, problem) -> None:
        super().bind(problem)
        if self.n_startup_trials is None:
            self.n_startup_trials = 2 * (len(problem.space.parameters) + 1)

    def _make_sampler(self):
        import warnings

        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.GPSampler(seed=self.seed, n_startup_trials=self.n_startup_trials or 10,
                                             deterministic_objective=self.problem.evaluator.kind == "fast")


__all__ = ["NSGA2", "OptunaGP", "OptunaSampler", "RandomSearch", "constraint_keys", "distributions"]
