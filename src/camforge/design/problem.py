"""A design problem: a space, an evaluator, objectives and constraints — and one evaluation.

:class:`Problem` binds a :class:`~camforge.design.space.DesignSpace` to an evaluator level:

``scorecard``
    the real scorecard of :func:`camforge.evaluate.evaluate` with a test plan (``quick`` by
    default) — images are simulated and measured; seconds per design.
``fast``
    the physics scorecard model of :mod:`camforge.design.fast` — same metric names and
    units, no images; tens of milliseconds per design (the benchmark problems use it).

Both return the same :class:`Evaluation`: the metrics, the design quantities, the objective
values (natural units and directions), the violation of every constraint (≤ 0 met) and
whether the design is feasible. Evaluations run through any executor: the task
(:func:`evaluate_task`) is a module-level function of a picklable payload.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

from camforge.design.expr import unknown_name_error
from camforge.design.space import DesignSpace, EvaluatorSpec, load_space
from camforge.errors import CamforgeError, ConfigError

_SCORECARD_SECTIONS = {
    "sharpness": None,  # filled per plan
    "tone": ["dynamic_range_db", "dynamic_range_snr10_db"],
    "shading": ["luma_shading_corner_pct", "color_shading_max_pct"],
    "distortion": ["tv_distortion_pct", "distortion_k1"],
    "texture": ["texture_acutance", "texture_mtf50"],
    "sensor": ["sensor_K_dn_per_e", "sensor_read_noise_e", "sensor_full_well_e", "sensor_dynamic_range_db",
               "sensor_snr_max_db", "sensor_qe"],
}


def plan_metric_names(plan, kind: str = "scorecard", lux=None) -> list[str]:
    """Names of the metrics an evaluator level produces for a test plan."""
    from camforge.evaluate.plan import load_plan

    p = load_plan(plan)
    names: list[str] = []
    if p.sharpness.enabled:
        for f in p.sharpness.fields:
            if f == 0.0:
                names += ["mtf50_center", "mtf50_lp_per_mm_center"]
            else:
                fn = {0.5: "half_field", 0.85: "corner"}[f]
                for o in ("sagittal", "meridional"):
                    names += [f"mtf50_{fn}_{o}", f"mtf50_lp_per_mm_{fn}_{o}"]
        if kind == "scorecard":
            names += ["lateral_ca_px", "lateral_ca_pct"]
    if p.noise.enabled:
        for L in (p.noise.lux if lux is None else lux):
            names += [f"snr_18pct_db_{L:g}lx", f"snr_18pct_raw_db_{L:g}lx"]
        names.append("low_light_limit_lux")
    if p.color.enabled:
        for ill in p.color.illuminants:
            names += [f"delta_e00_mean_{ill}", f"delta_e00_max_{ill}", f"delta_e76_mean_{ill}"]
            if kind == "scorecard":
                names += [f"white_balance_error_{ill}", f"saturation_{ill}"]
    for sec in ("tone", "shading", "distortion", "texture"):
        if kind == "scorecard" and getattr(p, sec).enabled:
            names += _SCORECARD_SECTIONS[sec]
    if p.sensor.enabled:
        names += _SCORECARD_SECTIONS["sensor"]
        if kind == "fast":
            names.append("dynamic_range_db")
    if kind == "scorecard" and p.tasks.enabled:  # vision-task accuracy (camforge.tasks)
        for L in p.tasks.lux:
            names += [f"task_accuracy_{L:g}lx", f"task_miou_{L:g}lx"]
    return names


def outcome_env(quantities: dict[str, Any], metrics: dict[str, float | None]) -> dict[str, Any]:
    """Names → values that constraint and target expressions are evaluated on: the numeric
    quantities, then the metrics (an unmeasured metric, ``None``, is NaN)."""
    env = {k: v for k, v in quantities.items() if not isinstance(v, str)}
    env.update({k: (float("nan") if v is None else v) for k, v in metrics.items()})
    return env


@dataclass(frozen=True)
class Evaluation:
    """One evaluated design.

    ``objectives`` are in natural units (see the problem's directions); ``violations`` has
    one value per constraint (≤ 0: met; +inf when its metric was not measured);
    ``error`` is set (and ``feasible`` False) when the evaluation failed.
    """

    params: dict[str, Any]
    metrics: dict[str, float | None] = field(default_factory=dict)
    quantities: dict[str, Any] = field(default_factory=dict)
    objectives: tuple[float, ...] = ()
    violations: tuple[float, ...] = ()
    feasible: bool = False
    error: str | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["objectives"] = list(self.objectives)
        d["violations"] = [v if math.isfinite(v) else None for v in self.violations]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        d = dict(d)
        d["objectives"] = tuple(float("nan") if v is None else v for v in d.get("objectives", ()))
        d["violations"] = tuple(float("inf") if v is None else v for v in d.get("violations", ()))
        return cls(**d)


class Problem:
    """A design space with an evaluator level (see the module docstring).

    Args:
        space: a :class:`DesignSpace`, YAML path, bundled problem name or dict.
        evaluator: ``"fast"``, ``"scorecard"``, an :class:`EvaluatorSpec`/dict, or None
            (the space's ``evaluator`` section).
        plan: test plan override for either level.

    Raises:
        ConfigError: an objective, metric formula or constraint names a quantity neither
            the space nor the evaluator provides (the message lists what exists).
    """

    def __init__(self, space, evaluator=None, *, plan=None):
        self.space = load_space(space)
        spec = self.space.config.evaluator
        if isinstance(evaluator, str):
            spec = spec.model_copy(update={"kind": evaluator})
        elif isinstance(evaluator, dict):
            spec = EvaluatorSpec(**{**spec.model_dump(), **evaluator})
        elif isinstance(evaluator, EvaluatorSpec):
            spec = evaluator
        elif evaluator is not None:
            raise ConfigError(f"evaluator must be 'fast', 'scorecard' or a mapping, got {evaluator!r}")
        if spec.kind not in ("fast", "scorecard"):
            raise ConfigError(f"unknown evaluator {spec.kind!r}; use fast or scorecard")
        if plan is not None:
            spec = spec.model_copy(update={"plan": plan})
        self.evaluator = spec
        from camforge.evaluate.plan import load_plan

        self.plan = load_plan(spec.plan)
        self.metric_names = plan_metric_names(self.plan, spec.kind, spec.lux if spec.kind == "fast" else None)
        self.objectives = list(self.space.config.objectives)
        self.directions = [o.direction for o in self.objectives]
        self.signs = [1.0 if d == "maximize" else -1.0 for d in self.directions]
        self.constraints = list(self.space.constraints)
        self._check_names()

    # ------------------------------------------------------------------ names
    def known_names(self) -> list[str]:
        return sorted(set(self.space.quantity_names) | set(self.space.metric_formulas) | set(self.metric_names))

    def _check_names(self) -> None:
        known = set(self.known_names())
        for o in self.objectives:
            if o.name not in known:
                raise unknown_name_error(o.name, known, f"objective {o.name!r} (evaluator {self.evaluator.kind}, "
                                                        f"plan {self.plan.name})")
        for name, f in self.space.metric_formulas.items():
            for n in f.names - known:
                raise unknown_name_error(n, known, f"metrics.{name}")
        for k in self.constraints + self.space.target:
            for n in k.names - known:
                raise unknown_name_error(n, known, f"constraint {k.text!r}")

    @property
    def n_objectives(self) -> int:
        return len(self.objectives)

    @property
    def reference_point(self) -> list[float] | None:
        """Hypervolume reference point (natural units), or None when an objective has none."""
        ref = [o.reference for o in self.objectives]
        return None if any(r is None for r in ref) else [float(r) for r in ref]

    def fingerprint(self) -> str:
        """A hash of the space and evaluator: a study may only be resumed with the same problem."""
        blob = json.dumps({"space": self.space.to_dict(), "evaluator": self.evaluator.model_dump(mode="json")},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ evaluation
    def payload(self, params: dict[str, Any]) -> dict[str, Any]:
        """The picklable task for :func:`evaluate_task` (space as a dict, evaluator, params)."""
        return {"space": self.space.to_dict(), "source": str(self.space.source) if self.space.source else None,
                "evaluator": self.evaluator.model_dump(mode="json"), "params": dict(params)}

    def metrics_of(self, params: dict[str, Any]) -> tuple[dict[str, float | None], dict[str, Any]]:
        """(scorecard metrics, design quantities) of one design, in this process."""
        quantities = self.space.quantities(params)
        design = self.space.design(params)
        spec = self.evaluator
        if spec.kind == "fast":
            from camforge.design.fast import fast_scorecard

            rows = fast_scorecard(design, self.plan, lux=spec.lux)
        else:
            from camforge.evaluate import evaluate

            rows = evaluate(design, self.plan).metrics
        metrics = {k: (None if v.get("value") is None else float(v["value"])) for k, v in rows.items()}
        return metrics, quantities

    def score(self, params: dict[str, Any], metrics: dict[str, float | None], quantities: dict[str, Any],
              duration_s: float = 0.0) -> Evaluation:
        """Objectives, violations and feasibility from metrics and quantities."""
        env = outcome_env(quantities, metrics)
        for name in self.metric_names:
            env.setdefault(name, float("nan"))
        derived = {}
        for name, f in self.space.metric_formulas.items():
            derived[name] = f(env)
            env[name] = derived[name]
        objs = tuple(float(env[o.name]) if env.get(o.name) is not None else float("nan") for o in self.objectives)
        viol = tuple(k.violation(env) for k in self.constraints)
        feasible = all(v <= 0 for v in viol) and all(math.isfinite(o) for o in objs)
        mets = dict(metrics)
        mets.update({k: (None if not math.isfinite(v) else v) for k, v in derived.items()})
        return Evaluation(params=dict(params), metrics=mets, quantities=quantities, objectives=objs,
                          violations=viol, feasible=feasible, duration_s=duration_s)

    def evaluate(self, params: dict[str, Any]) -> Evaluation:
        """Evaluate one design in this process (errors a design can cause become ``error``)."""
        t0 = time.perf_counter()
        try:
            metrics, quantities = self.metrics_of(params)
        except CamforgeError as e:
            return Evaluation(params=dict(params), error=f"{type(e).__name__}: {' '.join(str(e).split())}",
                              objectives=tuple(float("nan") for _ in self.objectives),
                              violations=tuple(float("inf") for _ in self.constraints),
                              duration_s=time.perf_counter() - t0)
        return self.score(params, metrics, quantities, time.perf_counter() - t0)

    def target_met(self, ev: Evaluation) -> bool:
        """Whether an evaluation meets the space's ``target`` spec (and all constraints)."""
        if not ev.ok or not ev.feasible:
            return False
        env = outcome_env(ev.quantities, ev.metrics)
        return all(k.violation(env) <= 0 for k in self.space.target)


class ObjectiveScaler:
    """Objectives in normalised maximisation units, for learning methods (RL rewards,
    generative conditions): ``u = (s·T(y) − lo) / span`` with ``s`` = +1 (maximise) / −1
    (minimise), ``T`` = log for positive objectives spanning more than a decade, ``lo`` the
    reference point (else the worst decile observed) and ``span`` the distance from ``lo`` to
    the best decile observed — so u ≈ 0 at the reference and ≈ 1 among the best designs.
    Constraint violations are divided by their median magnitude."""

    def __init__(self, problem: Problem, evaluations: list[Evaluation]):
        import numpy as np

        self.problem = problem
        evs = [e for e in evaluations if e is not None and e.ok and all(math.isfinite(v) for v in e.objectives)]
        if len(evs) < 2:
            raise ConfigError("at least two successful evaluations are needed to scale the objectives")
        Y = np.array([e.objectives for e in evs], dtype=np.float64)
        ref = problem.reference_point
        self.signs = np.asarray(problem.signs)
        self.log = []
        self.lo = np.zeros(len(self.signs))
        self.span = np.ones(len(self.signs))
        for i, s in enumerate(self.signs):
            col = Y[:, i]
            r = None if ref is None else ref[i]
            use_log = bool((col > 0).all() and (r is None or r > 0) and col.max() / col.min() > 10)
            self.log.append(use_log)
            z = s * (np.log(col) if use_log else col)
            lo = s * (math.log(r) if use_log else r) if r is not None else float(np.quantile(z, 0.1))
            hi = float(np.quantile(z, 0.9))
            self.lo[i] = lo
            self.span[i] = max(hi - lo, 1e-9 * max(abs(hi), 1.0))
        V = np.array([[v for v in e.violations] for e in evs], dtype=np.float64).reshape(len(evs), -1)
        V = np.where(np.isfinite(V), np.abs(V), np.nan)
        self.vscale = np.array([float(np.nanmedian(V[:, j])) if np.isfinite(V[:, j]).any() else 1.0
                                for j in range(V.shape[1])])
        self.vscale = np.where(self.vscale > 0, self.vscale, 1.0)

    def transform(self, y):
        """Objective values (natural units, ``[..., m]``) → normalised maximisation units."""
        import numpy as np

        y = np.asarray(y, dtype=np.float64)
        z = np.where(self.log, np.log(np.clip(y, 1e-300, None)), y) * self.signs
        return (z - self.lo) / self.span

    def inverse(self, u):
        """Normalised units → objective values (natural units)."""
        import numpy as np

        z = (np.asarray(u, dtype=np.float64) * self.span + self.lo) * self.signs
        return np.where(self.log, np.exp(np.clip(z, -700, 700)), z)

    def violations(self, g):
        """Constraint violations (all of the problem's, in order) divided by their typical
        magnitude (≤ 0: met)."""
        import numpy as np

        g = np.asarray(g, dtype=np.float64)
        if g.shape[-1:] != self.vscale.shape:
            raise ConfigError(f"expected {len(self.vscale)} constraint violations, got {g.shape[-1:]}")
        return np.where(np.isfinite(g), g, 1e3 * self.vscale) / self.vscale


_PROBLEMS: dict[str, Problem] = {}


def _problem_from_payload(payload: dict) -> Problem:
    key = hashlib.sha256(json.dumps({k: payload[k] for k in ("space", "evaluator")}, sort_keys=True,
                                    default=str).encode()).hexdigest()
    if key not in _PROBLEMS:
        if len(_PROBLEMS) > 8:
            _PROBLEMS.clear()
        from pathlib import Path

        src = payload.get("source")
        space = DesignSpace.from_dict(payload["space"], Path(src) if src else None)
        _PROBLEMS[key] = Problem(space, payload["evaluator"])
    return _PROBLEMS[key]


def evaluate_task(payload: dict) -> dict:
    """Evaluate one design from a :meth:`Problem.payload` (runs in any worker process);
    returns :meth:`Evaluation.to_dict`. Never raises for a bad design: errors are recorded."""
    problem = _problem_from_payload(payload)
    try:
        return problem.evaluate(payload["params"]).to_dict()
    except Exception as e:  # noqa: BLE001 - a bug in one design must not kill a study; keep the trace
        tb = traceback.format_exc(limit=3)
        return Evaluation(params=payload["params"], error=f"{type(e).__name__}: {e} | {tb[-300:]}",
                          objectives=tuple(float("nan") for _ in problem.objectives),
                          violations=tuple(float("inf") for _ in problem.constraints)).to_dict()


__all__ = ["Evaluation", "ObjectiveScaler", "Problem", "evaluate_task", "plan_metric_names"]
