"""Optimizers behind one ask/tell interface (:class:`~camforge.design.optimizers.base.Optimizer`).

========== ==============================================================================
method     what
========== ==============================================================================
random     uniform random feasible designs (baseline)
sobol      scrambled Sobol sequence of feasible designs (baseline)
nsga2      NSGA-II, Optuna's ``NSGAIISampler`` with constrained domination
bo         multi-objective Bayesian optimisation, BoTorch qLogNEHVI with outcome constraints
bo-optuna  Optuna's ``GPSampler`` (log EHVI, constraints)
rl         PPO (Stable-Baselines3) on a Gymnasium environment that edits designs
generative conditional VAE trained on evaluated designs, proposing designs for targets
========== ==============================================================================

``gradient`` (gradient descent through the differentiable camera on an image-quality
loss) optimises a different kind of objective; see :mod:`camforge.design.gradient`.
"""

from __future__ import annotations

from camforge.design.optimizers.base import EvaluateFn, Optimizer, Proposal
from camforge.errors import ConfigError

METHODS = ("random", "sobol", "nsga2", "bo", "bo-optuna", "rl", "generative")


def make_optimizer(method: str, *, seed: int = 0, batch_size: int | None = None, **options) -> Optimizer:
    """An optimizer by method name (see the table in the module docstring).

    Raises:
        ConfigError: unknown method or option.
    """
    m = str(method).lower()
    try:
        if m in ("random", "sobol"):
            from camforge.design.optimizers.sampling import RandomSearch

            return RandomSearch(seed, batch_size, method=m, **options)
        if m == "nsga2":
            from camforge.design.optimizers.sampling import NSGA2

            return NSGA2(seed, batch_size, **options)
        if m == "bo-optuna":
            from camforge.design.optimizers.sampling import OptunaGP

            return OptunaGP(seed, batch_size, **options)
        if m == "bo":
            from camforge.design.optimizers.bo import BoTorchMOBO

            return BoTorchMOBO(seed, batch_size, **options)
        if m == "rl":
            from camforge.design.optimizers.rl import RLOptimizer

            return RLOptimizer(seed, batch_size, **options)
        if m == "generative":
            from camforge.design.optimizers.generative import GenerativeOptimizer

            return GenerativeOptimizer(seed, batch_size, **options)
    except TypeError as e:
        raise ConfigError(f"method {m}: {e}") from None
    if m == "gradient":
        raise ConfigError("method gradient tunes an image-quality loss: use camforge.design.run_gradient_study "
                          "(the CLI does this for --method gradient)")
    raise ConfigError(f"unknown optimization method {method!r}; use one of {', '.join(METHODS)} or gradient")


__all__ = ["EvaluateFn", "METHODS", "Optimizer", "Proposal", "make_optimizer"]
