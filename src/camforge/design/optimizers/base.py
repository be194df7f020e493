"""The optimizer interface: ask for designs, tell their evaluations.

Every method of :mod:`camforge.design` is an :class:`Optimizer`:

* :meth:`Optimizer.setup` gives it the problem, the Optuna study and the evaluations a
  resumed study already holds (methods rebuild their state from them);
* :meth:`Optimizer.ask` returns ``n`` :class:`Proposal` s (parameter dicts, and for Optuna's
  own samplers the Optuna trial they belong to);
* :meth:`Optimizer.tell` hands back one :class:`~camforge.design.problem.Evaluation` per
  proposal (``None`` for a proposal rejected without evaluation because it violates an
  analytic constraint);
* :meth:`Optimizer.run` is the loop the study runner calls — ask, evaluate (through the
  executor), tell — until the budget of evaluations is spent. Methods whose natural loop is
  not ask/tell (reinforcement learning: the environment drives the policy) override
  :meth:`run` and call the same ``evaluate`` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from camforge.design.problem import Evaluation, Problem

EvaluateFn = Callable[[list["Proposal"]], list[Evaluation | None]]


@dataclass
class Proposal:
    """A design to evaluate: parameters in natural units (and the Optuna trial, if any)."""

    params: dict[str, Any]
    trial: Any = None
    info: dict[str, Any] | None = None


class Optimizer:
    """Base class (see the module docstring). ``batch_size`` designs are asked at a time."""

    name = "optimizer"
    default_batch_size = 1
    #: Evaluate (and count) proposals that violate an analytic constraint instead of rejecting
    #: them: for samplers that cannot learn from a rejection (Optuna's GP sampler).
    evaluate_infeasible = False

    def __init__(self, seed: int = 0, batch_size: int | None = None, **options):
        if options:
            from camforge.errors import ConfigError

            raise ConfigError(f"{self.name}: unknown option(s) {', '.join(sorted(options))}")
        self.seed = int(seed)
        self.batch_size = int(batch_size or self.default_batch_size)
        self.problem: Problem | None = None
        self.study = None
        self.log: dict[str, Any] = {}

    def bind(self, problem: Problem) -> None:
        """Attach the problem (before the study is created: native samplers need it)."""
        self.problem = problem

    def setup(self, problem: Problem, study, history: list[Evaluation]) -> None:
        """Attach the study; ``history``: the evaluations a resumed study already holds."""
        self.problem = problem
        self.study = study

    def sampler(self):
        """The Optuna sampler the study is created with (native methods), else None."""
        return None

    def ask(self, n: int) -> list[Proposal]:  # pragma: no cover - abstract
        raise NotImplementedError

    def tell(self, proposals: list[Proposal], evaluations: list[Evaluation | None]) -> None:
        """Learn from evaluations (default: nothing)."""

    def run(self, evaluate: EvaluateFn, budget: int, progress: Callable[[int, int], None] | None = None) -> None:
        """Ask, evaluate, tell until ``budget`` evaluations are spent."""
        done = 0
        stalls = 0
        while done < budget:
            props = self.ask(min(self.batch_size, budget - done))
            evs = evaluate(props)
            self.tell(props, evs)
            n = sum(e is not None for e in evs)
            done += n
            stalls = stalls + 1 if n == 0 else 0
            if stalls > 200:
                from camforge.errors import ConfigError

                raise ConfigError(f"{self.name}: 200 proposals in a row violate the analytic constraints; "
                                  "the feasible region is too small for this method")
            if progress is not None:
                progress(min(done, budget), budget)


__all__ = ["EvaluateFn", "Optimizer", "Proposal"]
