"""Studies: run an optimizer on a problem, persist every trial in Optuna storage, resume.

A study is an Optuna study (:mod:`optuna.storages`, RDB: a SQLite file by default, any
SQLAlchemy URL such as ``postgresql://user@host/db``) whose trials hold, for each evaluated
design, the parameters (Optuna distributions of the space), the objective values with the
problem's directions, the constraint violations (Optuna's ``constraints`` system attribute,
so Optuna's own tools see feasibility) and the whole evaluation (metrics and quantities) as
a user attribute. ``optuna.load_study(study_name=..., storage=...)`` opens it; Optuna's
dashboards and plots work on it.

:func:`run_study` creates the study or, when one of that name exists in the storage,
resumes it: it checks that it was made for the same problem and method, marks trials left
running by an interruption as failed (they do not count), hands the evaluations it already
holds to the optimizer and continues until ``budget`` evaluations exist. Evaluations run
through an executor (:func:`camforge.parallel.get_executor`: local processes by default,
``ray`` / ``ray://host:port`` on a cluster) in batches; results come back in proposal
order, so a seeded study is the same on every executor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from camforge.design.optimizers import make_optimizer
from camforge.design.optimizers.base import Optimizer, Proposal
from camforge.design.optimizers.sampling import constraint_keys, distributions
from camforge.design.pareto import hypervolume_curve, pareto_mask
from camforge.design.problem import Evaluation, Problem, evaluate_task
from camforge.errors import ConfigError, StoreError

DEFAULT_STORAGE = Path("~/.local/share/camforge/studies.db")


def storage_url(storage: str | Path | None, out: str | Path | None = None) -> str:
    """An RDB URL: ``None`` → ``<out>/study.db`` (or ``~/.local/share/camforge/studies.db``),
    a path → SQLite file, a URL (``sqlite:///…``, ``postgresql://…``) as is; ``":memory:"``
    keeps the study in this process only (benchmarks)."""
    if storage == ":memory:":
        return ":memory:"
    if storage is None:
        p = Path(out) / "study.db" if out is not None else DEFAULT_STORAGE.expanduser()
    else:
        s = str(storage)
        if "://" in s:
            return s
        p = Path(s).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{p.resolve()}"


def _optuna():
    try:
        import optuna
    except ImportError:
        from camforge.errors import DependencyError

        raise DependencyError("design studies need Optuna: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # write-ahead log: a trial commit costs one append, readers never block the writer
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _open_storage(url: str):
    optuna = _optuna()
    if url == ":memory:":
        return optuna.storages.InMemoryStorage()
    try:
        store = optuna.storages.RDBStorage(url, engine_kwargs={} if url.startswith("sqlite") else {"pool_pre_ping": True})
    except Exception as e:  # noqa: BLE001 - SQLAlchemy/driver errors differ by backend
        raise StoreError(f"cannot open study storage {url}: {' '.join(str(e).split())[:300]}") from None
    if url.startswith("sqlite"):
        from sqlalchemy import event

        event.listen(store.engine, "connect", _sqlite_pragmas)
        store.engine.dispose()
    return store


@dataclass
class StudyResult:
    """The trials of a study, in evaluation order, and what they mean.

    ``evaluations``: every counted evaluation; ``hypervolume``: HV of the feasible designs
    among the first k evaluations (k = 1 … n; empty without a reference point);
    ``pareto``: indices of the feasible non-dominated evaluations.
    """

    name: str
    method: str
    storage: str
    problem: Problem
    evaluations: list[Evaluation]
    trial_numbers: list[int]
    hypervolume: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0
    log: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.problem.objectives]

    def objectives(self) -> np.ndarray:
        return np.array([e.objectives for e in self.evaluations], dtype=np.float64).reshape(-1, self.problem.n_objectives)

    def feasible(self) -> np.ndarray:
        return np.array([e.ok and e.feasible for e in self.evaluations], dtype=bool)

    @property
    def pareto(self) -> list[int]:
        Y = self.objectives()
        f = self.feasible()
        if not f.any():
            return []
        idx = np.flatnonzero(f)
        m = pareto_mask(Y[idx], self.problem.directions)
        return [int(i) for i in idx[m]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "method": self.method, "storage": self.storage, "space": self.problem.space.name,
            "evaluator": self.problem.evaluator.kind, "objectives": self.objective_names,
            "directions": self.problem.directions, "reference_point": self.problem.reference_point,
            "n_evaluations": len(self.evaluations), "n_feasible": int(self.feasible().sum()),
            "pareto": self.pareto, "hypervolume": list(self.hypervolume), "wall_time_s": self.wall_time_s,
            "trial_numbers": self.trial_numbers, "evaluations": [e.to_dict() for e in self.evaluations],
        }


def _meta(problem: Problem, optimizer: Optimizer, seed: int) -> dict[str, Any]:
    import camforge

    return {"space": problem.space.name, "fingerprint": problem.fingerprint(), "method": optimizer.name,
            "seed": seed, "evaluator": problem.evaluator.kind, "objectives": [o.name for o in problem.objectives],
            "directions": problem.directions, "reference_point": problem.reference_point,
            "camforge_version": camforge.__version__}


def _history(study) -> tuple[list[Evaluation], list[int]]:
    """Counted evaluations of a study in trial order; trials an interruption left running
    are marked failed (and not counted)."""
    optuna = _optuna()
    from optuna.trial import TrialState

    evs, nums = [], []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.RUNNING or t.state == TrialState.WAITING:
            study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            continue
        if t.user_attrs.get("counted") and "evaluation" in t.user_attrs:
            evs.append(Evaluation.from_dict(t.user_attrs["evaluation"]))
            nums.append(t.number)
    del optuna
    return evs, nums


class _Stop(Exception):
    """Raised by the recorder when the study's ``stop`` condition holds."""


class _Recorder:
    """Evaluates proposals through the executor and writes them to the study."""

    def __init__(self, problem: Problem, study, executor, evaluate_infeasible: bool = False, stop=None,
                 history: list[Evaluation] | None = None):
        self.problem = problem
        self.evaluate_infeasible = evaluate_infeasible
        self.stop = stop
        self.history = history or []
        self.study = study
        self.executor = executor
        self.dists = distributions(problem.space)
        self.keys = constraint_keys(problem)
        self.evaluations: list[Evaluation] = []
        self.numbers: list[int] = []

    def __call__(self, proposals: list[Proposal]) -> list[Evaluation | None]:
        from optuna.trial import TrialState

        sp = self.problem.space
        out: list[Evaluation | None] = [None] * len(proposals)
        todo = []
        for i, p in enumerate(proposals):
            if not self.evaluate_infeasible and not sp.is_feasible(p.params):
                if p.trial is not None:  # a native sampler's child: rejected, not evaluated
                    p.trial.set_user_attr("analytic_infeasible", True)
                    self.study.tell(p.trial, state=TrialState.PRUNED)
                continue
            todo.append(i)
        payloads = [self.problem.payload(proposals[i].params) for i in todo]
        results = self.executor.map(evaluate_task, payloads, return_exceptions=True) if payloads else []
        for i, r in zip(todo, results):
            if isinstance(r, Exception):
                ev = Evaluation(params=proposals[i].params, error=f"{type(r).__name__}: {r}",
                                objectives=tuple(math.nan for _ in self.problem.objectives),
                                violations=tuple(math.inf for _ in self.problem.constraints))
            else:
                ev = Evaluation.from_dict(r)
            self._record(proposals[i], ev)
            out[i] = ev
        if self.stop is not None and todo and self.stop(self.history + self.evaluations):
            raise _Stop
        return out

    def _record(self, p: Proposal, ev: Evaluation) -> None:
        import optuna
        from optuna.trial import TrialState

        attrs = {"evaluation": ev.to_dict(), "violations": [v if math.isfinite(v) else None for v in ev.violations],
                 "feasible": bool(ev.feasible), "counted": True}
        if p.info:
            attrs["info"] = p.info
        ok = ev.ok and all(math.isfinite(v) for v in ev.objectives)
        constraints = {k: (v if math.isfinite(v) else 1e12) for k, v in zip(self.keys, ev.violations)}
        if p.trial is not None:
            for k, v in attrs.items():
                p.trial.set_user_attr(k, v)
            if ok:
                for k, v in constraints.items():
                    p.trial.set_constraint(k, v)
                self.study.tell(p.trial, list(ev.objectives))
            else:
                self.study.tell(p.trial, state=TrialState.FAIL)
            number = p.trial.number
        else:
            t = optuna.trial.create_trial(
                params={k: p.params[k] for k in self.dists}, distributions=self.dists,
                values=list(ev.objectives) if ok else None, state=TrialState.COMPLETE if ok else TrialState.FAIL,
                user_attrs=attrs, system_attrs={f"constraints:{k}": v for k, v in constraints.items()})
            trial_id = self.study._storage.create_new_trial(self.study._study_id, template_trial=t)
            number = self.study._storage.get_trial_number_from_id(trial_id)
        self.evaluations.append(ev)
        self.numbers.append(number)


def run_study(space, method: str = "random", budget: int = 50, *, evaluator=None, plan=None,
              storage: str | Path | None = None, study_name: str | None = None, executor=None,
              out: str | Path | None = None, seed: int = 0, batch_size: int | None = None,
              options: dict[str, Any] | None = None, progress: Callable[[int, int], None] | None = None,
              report: bool = True, stop: Callable[[list[Evaluation]], bool] | None = None) -> StudyResult:
    """Run (or resume) a design study until it holds ``budget`` evaluations.

    Args:
        space: design space (YAML path, bundled problem name, dict or :class:`DesignSpace`)
            or a :class:`Problem`.
        method: ``random``, ``sobol``, ``nsga2``, ``bo``, ``bo-optuna``, ``rl``, ``generative``
            (``gradient`` tunes an image loss instead: :func:`camforge.design.gradient.run_gradient_study`),
            or an :class:`~camforge.design.optimizers.base.Optimizer` instance.
        budget: total evaluations the study should hold (including a resumed study's).
        evaluator: ``"fast"`` / ``"scorecard"`` / a mapping (default: the space's).
        storage: Optuna RDB URL or SQLite path (default ``<out>/study.db`` or
            ``~/.local/share/camforge/studies.db``).
        study_name: default ``<space>-<method>-s<seed>``.
        executor: executor or spec (``serial``, ``local``, ``local:N``, ``ray``, ``ray:local``,
            ``ray://host:port``; default ``local``).
        out: folder for ``study.html`` and ``study.json`` (None: no files).
        seed: seed of the method (same seed, same study).
        batch_size: designs evaluated in parallel per step (default per method).
        options: method options (e.g. ``{"population_size": 20}`` for nsga2).
        progress: ``progress(evaluations_done, budget)``.
        report: write the HTML report when ``out`` is given.
        stop: ``stop(evaluations) → bool``, checked after each batch: end the study early (e.g.
            when a hypervolume target is reached); the study can be resumed later.

    Raises:
        ConfigError: bad budget, unknown method/option, or a stored study of that name made
            for another problem or method.
    """
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise ConfigError(f"budget must be a positive number of evaluations, got {budget!r}")
    problem = space if isinstance(space, Problem) else Problem(space, evaluator, plan=plan)
    problem.space.check_feasible()
    if isinstance(method, Optimizer):
        if options or batch_size:
            raise ConfigError("give options and batch_size to the optimizer, not to run_study, when passing one")
        optimizer = method
    else:
        optimizer = make_optimizer(method, seed=seed, batch_size=batch_size, **(options or {}))
    optimizer.bind(problem)
    optuna = _optuna()
    url = storage_url(storage, out)
    store = _open_storage(url)
    name = study_name or f"{problem.space.name}-{optimizer.name}-s{seed}"
    meta = _meta(problem, optimizer, seed)
    try:
        study = optuna.create_study(study_name=name, storage=store, directions=problem.directions,
                                    sampler=optimizer.sampler() or optuna.samplers.RandomSampler(seed=seed),
                                    load_if_exists=True)
    except Exception as e:  # noqa: BLE001
        raise StoreError(f"cannot create study {name!r} in {url}: {' '.join(str(e).split())[:300]}") from None
    old = study.user_attrs.get("camforge")
    if old is None:
        study.set_user_attr("camforge", meta)
    else:
        for key in ("fingerprint", "method", "seed"):
            if old.get(key) != meta[key]:
                raise ConfigError(f"study {name!r} in {url} was made with {key} {old.get(key)!r}, not {meta[key]!r}; "
                                  "give another study name to start a new study")
    history, numbers = _history(study)
    optimizer.setup(problem, study, history)
    from camforge.parallel import Executor, get_executor

    ex = executor if isinstance(executor, Executor) else get_executor(executor or "local")
    own = not isinstance(executor, Executor)
    rec = _Recorder(problem, study, ex, optimizer.evaluate_infeasible, stop, history)
    t0 = time.perf_counter()
    try:
        remaining = budget - len(history)
        if progress is not None:
            progress(len(history), budget)
        if remaining > 0:
            def prog(done, total):
                if progress is not None:
                    progress(len(history) + done, budget)

            try:
                optimizer.run(rec, remaining, prog)
            except _Stop:
                pass
    finally:
        if own:
            ex.close()
    wall = float(study.user_attrs.get("wall_time_s", 0.0)) + time.perf_counter() - t0
    study.set_user_attr("wall_time_s", wall)
    res = StudyResult(name=name, method=optimizer.name, storage=url, problem=problem,
                      evaluations=history + rec.evaluations, trial_numbers=numbers + rec.numbers,
                      wall_time_s=wall, log=optimizer.log)
    _finish(res, out, report)
    return res


def _finish(res: StudyResult, out, report: bool) -> None:
    ref = res.problem.reference_point
    if ref is not None and res.evaluations:
        res.hypervolume = [float(v) for v in hypervolume_curve(res.objectives(), res.feasible(),
                                                              res.problem.directions, ref)]
    if out is not None:
        from camforge.io import atomic_write_text

        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        import json

        atomic_write_text(o / "study.json", json.dumps(res.to_dict(), indent=1, default=_json_default))
        if report:
            from camforge.design.report import write_study_report

            res.report = write_study_report(res, o / "study.html")


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)


def load_study_result(storage: str | Path, study_name: str, space=None, evaluator=None) -> StudyResult:
    """A :class:`StudyResult` read back from storage (the space is taken from the study when
    it is not given)."""
    optuna = _optuna()
    url = storage_url(storage)
    try:
        study = optuna.load_study(study_name=study_name, storage=_open_storage(url))
    except KeyError:
        raise ConfigError(f"no study named {study_name!r} in {url}") from None
    meta = study.user_attrs.get("camforge") or {}
    if space is None:
        raise ConfigError("load_study_result needs the design space the study was made for")
    problem = Problem(space, evaluator or meta.get("evaluator"))
    history, numbers = _history(study)
    res = StudyResult(name=study_name, method=meta.get("method", "?"), storage=url, problem=problem,
                      evaluations=history, trial_numbers=numbers, wall_time_s=float(study.user_attrs.get("wall_time_s", 0)))
    _finish(res, None, False)
    return res


__all__ = ["DEFAULT_STORAGE", "StudyResult", "load_study_result", "run_study", "storage_url"]
