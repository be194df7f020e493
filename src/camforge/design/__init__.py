"""Design optimisation: search camera designs with ML, against the camforge scorecard.

    >>> from camforge.design import run_study
    >>> res = run_study("phone_main", method="bo", budget=60, out="out/study")   # doctest: +SKIP
    >>> res.pareto, res.hypervolume[-1]                                            # doctest: +SKIP

* :mod:`~camforge.design.space` — design spaces (YAML): parameters with units, bounds, log
  scales and choices; physical constraints; replaceable cost, power and size models
  (:mod:`~camforge.design.models`).
* :mod:`~camforge.design.problem` — objectives and constraints on scorecard metrics, with two
  evaluator levels behind one interface: the real scorecard (:func:`camforge.evaluate.evaluate`)
  and the fast physics scorecard (:mod:`~camforge.design.fast`).
* :mod:`~camforge.design.optimizers` — random / Sobol, NSGA-II (Optuna), multi-objective BO
  (BoTorch qLogNEHVI; Optuna's GP), reinforcement learning (Gymnasium + PPO), generative
  inverse design (conditional VAE), all behind one ask/tell interface; gradient descent
  through the differentiable camera on an image-quality loss (:mod:`~camforge.design.gradient`).
* :mod:`~camforge.design.study` — studies in Optuna storage (SQLite by default, PostgreSQL),
  resumable, evaluated through :mod:`camforge.parallel` executors (local or Ray).
* :mod:`~camforge.design.pareto` — Pareto fronts, hypervolume; :mod:`~camforge.design.report`
  — HTML with Pareto fronts, hypervolume curves and parallel coordinates.
* :mod:`~camforge.design.benchmark` — the bundled benchmark problems and reference fronts.
"""

from __future__ import annotations

from camforge.design.benchmark import reference_front
from camforge.design.optimizers import METHODS, Optimizer, Proposal, make_optimizer
from camforge.design.pareto import evaluations_to_reach, hypervolume, hypervolume_curve, pareto_mask
from camforge.design.problem import Evaluation, Problem, plan_metric_names
from camforge.design.space import DesignSpace, bundled_spaces, load_space
from camforge.design.study import StudyResult, load_study_result, run_study, storage_url

__all__ = [
    "METHODS", "DesignSpace", "Evaluation", "Optimizer", "Problem", "Proposal", "StudyResult", "bundled_spaces",
    "evaluations_to_reach", "hypervolume", "hypervolume_curve", "load_space", "load_study_result", "make_optimizer",
    "pareto_mask", "plan_metric_names", "reference_front", "run_study", "storage_url",
]
