"""Evaluate a camera design end to end: the scorecard, the HTML report, the results database.

    >>> from camforge.evaluate import evaluate                                   # doctest: +SKIP
    >>> card = evaluate("examples/designs/phone_main_12mp.yaml", out="out/")     # doctest: +SKIP
    >>> card.value("mtf50_center"), card.value("low_light_limit_lux")            # doctest: +SKIP

A test plan (:mod:`camforge.evaluate.plan`) lists the charts and lights; each plan section
becomes an independent job (:mod:`camforge.evaluate.jobs`: capture → the design's ISP →
camforge.metrics) run through an executor (local processes by default, Ray on a cluster).
Rows are committed to the results database as each job finishes, so an interrupted run
keeps what it measured.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

from camforge.evaluate.plan import TestPlan, bundled_plans, load_plan
from camforge.evaluate.scorecard import HEADLINE, Scorecard

__all__ = ["HEADLINE", "Scorecard", "TestPlan", "bundled_plans", "evaluate", "load_design", "load_plan"]


def load_design(design) -> Any:
    """A :class:`~camforge.camera.CameraDesign` from a path, a dict, a design or a Camera."""
    from camforge.camera import Camera, CameraDesign
    from camforge.config import validate

    if isinstance(design, Camera):
        return design.design
    if isinstance(design, CameraDesign):
        return design
    if isinstance(design, dict):
        return validate(CameraDesign, design, "camera design")
    return CameraDesign.from_yaml(design)


def make_output_folder(out: str | Path) -> Path:
    """Create the output folder (and its parents); a clear :class:`InputError` when it cannot be."""
    from camforge.errors import InputError

    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the output folder {out}: {e.strerror or e}; give another --out") from None
    return Path(out)


def evaluate(
    design,
    plan=None,
    *,
    out: str | Path | None = None,
    db=None,
    executor=None,
    progress: Callable[[int, int], None] | None = None,
    raise_on_error: bool = True,
) -> Scorecard:
    """Run a test plan on a design and return its :class:`Scorecard`.

    Args:
        design: design YAML path, dict, :class:`~camforge.camera.CameraDesign` or Camera.
        plan: plan YAML path, bundled plan name (``"default"``, ``"quick"``), dict or None.
        out: folder for ``scorecard.json``, ``report.html`` and ``captures/*.png`` (None: no files).
        db: a :class:`camforge.store.Store`, a database URL/path, or None (no database).
        executor: a :class:`camforge.parallel.Executor` or spec (``"local"``, ``"local:2"``,
            ``"ray"``, ``"ray://host:port"``); None runs the jobs in this process.
        progress: ``progress(jobs_done, jobs_total)``.
        raise_on_error: re-raise the first failing job once the other jobs have finished and their
            measurements are stored (else record it in ``errors`` and go on).
    """
    import camforge
    from camforge.evaluate.jobs import plan_jobs, run_job
    from camforge.parallel import get_executor

    d = load_design(design)
    p = load_plan(plan)
    design_dict = d.to_dict()
    jobs = plan_jobs(design_dict, p)
    if out is not None:  # first: the database may live in it (as in `make demo`)
        make_output_folder(out)
    store = _open_store(db)
    ex = executor if executor is not None and not isinstance(executor, str) else get_executor(executor or "serial")
    own_executor = executor is None or isinstance(executor, str)
    results: list[dict] = []
    errors: dict[str, str] = {}
    t0 = time.perf_counter()
    run_cm = store.run(design_dict, kind="evaluate", plan=p.to_dict(), design_name=d.name) if store is not None else None
    run = run_cm.__enter__() if run_cm is not None else None
    try:
        futures = {ex.submit(run_job, job): job for job in jobs}
        done = 0
        failure: tuple[BaseException, BaseException] | None = None
        for fut in as_completed(futures):
            job = futures[fut]
            label = job["section"] + (f":{job['args']['illuminant']}" if job["args"] else "")
            try:
                res = fut.result()
            except Exception as e:  # noqa: BLE001 - one failing section must not lose the others
                cause = _job_cause(e)
                if raise_on_error and failure is None:
                    # raised once every other job has finished and its measurements are stored
                    failure = (_with_section(cause, label), e)
                errors[label] = f"{type(cause).__name__}: {cause}"
                res = None
            if res is not None:
                results.append(res)
                if run is not None and res["rows"]:
                    run.add_measurements([{**r, "condition": {**r["condition"], "section": res["section"]}}
                                          for r in res["rows"]])
            done += 1
            if progress is not None:
                progress(done, len(jobs))
        if failure is not None:
            raise failure[0] from failure[1]
        card = _assemble(d, p, results, errors, run.id if run is not None else None, camforge.__version__)
        card.timings_s["total"] = time.perf_counter() - t0
        if out is not None:
            paths = write_outputs(card, out, results)
            if run is not None:
                for kind, path in paths.items():
                    run.add_artifact(kind, path)
    except BaseException as e:
        if run_cm is not None:
            run_cm.__exit__(type(e), e, e.__traceback__)
            run_cm = None
        raise
    finally:
        if own_executor:
            ex.close()
        if run_cm is not None:
            run_cm.__exit__(None, None, None)
        if store is not None and not _is_store(db):
            store.close()
    return card


def _job_cause(e: BaseException) -> BaseException:
    """The exception a job raised, unwrapped from the executor's TaskError."""
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, BaseException) else e


def _with_section(cause: BaseException, label: str) -> BaseException:
    """camforge errors get the failing section in their message (one clear line for the
    CLI); anything else is a bug and is re-raised as it is."""
    from camforge.errors import CamforgeError, MeasurementError

    if isinstance(cause, CamforgeError):
        msg = f"evaluation section {label!r} failed: {cause}"
        try:
            return type(cause)(msg)
        except TypeError:
            return MeasurementError(msg)
    return cause


def _is_store(db) -> bool:
    from camforge.store import Store

    return isinstance(db, Store)


def _open_store(db):
    if db is None or db is False:
        return None
    from camforge.store import Store

    if isinstance(db, Store):
        return db
    return Store(None if db is True else db)


def _assemble(design, plan: TestPlan, results: list[dict], errors: dict, run_id, version: str) -> Scorecard:
    metrics: dict[str, dict] = {}
    plots: dict[str, Any] = {"mtf": [], "color": []}
    timings: dict[str, float] = {}
    for res in sorted(results, key=lambda r: (r["section"], json.dumps(r["args"], sort_keys=True))):
        label = res["section"] + (f":{res['args']['illuminant']}" if res["args"] else "")
        timings[label] = res["duration_s"]
        for r in res["rows"]:
            m = {k: v for k, v in r.items() if k != "metric"}
            m["section"] = res["section"]
            metrics[r["metric"]] = m
        for k, v in res["plots"].items():
            if k in ("mtf",):
                plots["mtf"].extend(v)
            elif k == "color":
                plots["color"].append(v)
            else:
                plots[k] = v
    return Scorecard(design=design.to_dict(), plan=plan.to_dict(), metrics=metrics, plots=plots, timings_s=timings,
                     run_id=run_id, camforge_version=version,
                     created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                     design_hash=design.content_hash(), errors=errors)


def write_outputs(card: Scorecard, out: str | Path, results: list[dict] | None = None) -> dict[str, Path]:
    """Write ``scorecard.json``, ``report.html`` and ``captures/*.png`` (atomically)."""
    from camforge.evaluate.report import write_report
    from camforge.io import atomic_write_bytes, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    looks = {}
    for res in results or []:
        looks.update(res.get("quicklooks", {}))
    paths = {"scorecard": out / "scorecard.json", "report": out / "report.html"}
    atomic_write_text(paths["scorecard"], card.to_json())
    (out / "captures").mkdir(exist_ok=True)
    for name, png in looks.items():
        atomic_write_bytes(out / "captures" / f"{name}.png", png)
    write_report(card, paths["report"], looks)
    return paths
