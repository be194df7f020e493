"""Running a lot: every module measured, judged against a spec, stored and reported.

:func:`run_lot` sends each module of a :class:`~camforge.qualify.lot.Lot` through an
executor (:mod:`camforge.parallel`: this process, local worker processes, or Ray); each task
reads the module's captures, measures the figures the spec limits (plus the detector's
``anomaly_score``), and returns a :class:`ModuleResult` with the verdict. A module whose
files are missing, truncated or the wrong size — or that the manifest does not fully list —
gets the verdict ``error`` with the reason; the lot goes on. Results go to the results
database (``kind="qualify"``: one row per module per figure, plus ``verdict_pass``) and to an
HTML lot report (:func:`camforge.qualify.report.write_lot_report`).
"""

from __future__ import annotations

import functools
import io
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from camforge.errors import CamforgeError, ConfigError, InputError
from camforge.qualify.lot import Lot, ModuleEntry, read_capture
from camforge.qualify.measure import FIGURES, measure_module
from camforge.qualify.spec import LotSummary, Spec, evaluate, load_spec, summarize

#: threshold of the untrained classical blemish detector: 1 % local contrast (lab default)
DEFAULT_BLEMISH_THRESHOLD = 0.01


@dataclass
class ModuleResult:
    """The outcome of one module."""

    module_id: str
    status: str
    reasons: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    figures: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    truth: dict[str, Any] | None = None
    thumbnail_png: bytes | None = None
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return self.error if self.status == "error" else "; ".join(r["text"] for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"module_id": self.module_id, "status": self.status, "reasons": self.reasons, "error": self.error,
                "figures": self.figures, "missing": self.missing, "truth": self.truth, "seconds": self.seconds}


@dataclass
class LotResult:
    """The outcome of a lot run."""

    lot: str
    spec: Spec
    detector: str | None
    modules: list[ModuleResult]
    summary: LotSummary
    seconds: float
    executor: str
    lot_problems: list[str] = field(default_factory=list)
    run_id: int | None = None
    report_path: str | None = None

    @property
    def modules_per_s(self) -> float:
        return len(self.modules) / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"lot": self.lot, "spec": self.spec.to_dict(), "detector": self.detector,
                "summary": self.summary.to_dict(), "seconds": self.seconds, "modules_per_s": self.modules_per_s,
                "executor": self.executor, "lot_problems": self.lot_problems, "run_id": self.run_id,
                "report_path": self.report_path, "modules": [m.to_dict() for m in self.modules]}


_DETECTOR_CACHE: dict[str, Any] = {}


def resolve_detector(detector):
    """A fitted detector from ``None``, a Detector, a saved-model folder or ``blemish``.

    ``blemish`` without a saved model uses a fixed 1 % contrast threshold (the lab default).
    Learned detectors must be trained first (``camforge qualify train``).
    """
    from camforge.qualify.detectors import Detector, detector_names, load_detector, make_detector

    if detector is None or isinstance(detector, Detector):
        return detector
    key = str(detector)
    if key in _DETECTOR_CACHE:
        return _DETECTOR_CACHE[key]
    p = Path(key)
    if p.is_dir() or (p.suffix == ".json" and p.is_file()):
        det = load_detector(p)
    elif key == "blemish":
        det = make_detector("blemish")
        det.fitted = True
        det.threshold = DEFAULT_BLEMISH_THRESHOLD
    elif key in detector_names():
        raise ConfigError(f"detector {key!r} must be trained first: camforge qualify train LOT --detector {key} "
                          f"--out MODEL, then --detector MODEL")
    else:
        raise ConfigError(f"detector {key!r} is neither a saved model folder nor 'blemish' "
                          f"(learned detectors: {', '.join(n for n in detector_names() if n != 'blemish')})")
    if not det.fitted or det.threshold is None:
        raise ConfigError(f"detector {key!r} has no threshold: fit and calibrate it on good modules first")
    _DETECTOR_CACHE[key] = det
    return det


def _thumbnail(flat, meas, det_threshold: float | None, max_width: int = 192) -> bytes | None:
    """Grey flat-field view (relative response, smoothed, 0.93–1.03 mapped to black–white) with
    defect overlays, as PNG bytes."""
    from PIL import Image

    from camforge.qualify.flatfield import bin_mean, flat_relative

    try:
        fr = flat_relative(flat)
    except CamforgeError:
        return None
    H, W = fr.rel.shape
    f = max(1, int(np.ceil(W / max_width)))
    from scipy import ndimage

    rel = ndimage.gaussian_filter(bin_mean(fr.rel, max(f, fr.n)), 1.0, mode="nearest")
    if rel.shape[1] < W // f:  # binned by the CFA tile: back to the thumbnail grid
        rel = np.repeat(np.repeat(rel, fr.n // f, axis=0), fr.n // f, axis=1) if fr.n > f else rel
    g = np.clip((rel - 0.93) / 0.1, 0, 1)  # ±5 % around the expected level
    rgb = np.repeat((g * 255).astype(np.uint8)[..., None], 3, axis=2)

    def overlay(mask, colour):
        if mask is None:
            return
        m = bin_mean(mask[:H, :W].astype(np.float32), f) > 0
        rgb[m] = (0.35 * rgb[m] + 0.65 * np.array(colour)).astype(np.uint8)

    if meas.anomaly_map is not None and det_threshold:
        overlay(meas.anomaly_map > det_threshold, (255, 0, 255))
    overlay(meas.blemish_mask, (255, 200, 0))
    overlay(meas.defect_mask, (255, 0, 0))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def qualify_module(ctx: dict[str, Any], module: ModuleEntry) -> ModuleResult:
    """Measure and judge one module (the executor's task; never raises on bad input)."""
    t0 = time.perf_counter()
    mid = module.module_id
    truth = None
    try:
        import torch

        torch.set_num_threads(1)
        spec = Spec(**ctx["spec"])
        root = Path(ctx["root"])
        tp = root / "truth" / f"{mid}.json"
        if tp.is_file():
            import json

            t = json.loads(tp.read_text())
            truth = {"defective": t.get("defective"), "kinds": t.get("kinds", [])}
        if module.problems:
            raise InputError("; ".join(module.problems))
        needed = set(ctx["captures"])
        missing = sorted(needed - set(module.captures))
        if missing:
            raise InputError(f"missing manifest entry for capture{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}")
        size = tuple(ctx["size"]) if ctx.get("size") else None
        caps = {}
        for name in sorted(needed):
            caps[name] = read_capture(module.captures[name], expected_size=size)
        if size is None and len({tuple(c.data.shape[-2:]) for c in caps.values()}) > 1:
            shapes = {k: f"{c.data.shape[-1]} × {c.data.shape[-2]}" for k, c in caps.items()}
            raise InputError(f"captures of different sizes: {shapes}")
        det = resolve_detector(ctx.get("detector"))
        figs = list(spec.limits)
        if det is not None and "anomaly_score" not in figs:
            figs.append("anomaly_score")
        meas = measure_module(caps, detector=det, figures=figs)
        v = evaluate(spec, meas.figures, meas.missing, mid)
        thumb = None
        if ctx.get("thumbnails") and v.status != "pass" and "flat_hi" in caps:
            thumb = _thumbnail(caps["flat_hi"], meas, det.threshold if det is not None else None)
        return ModuleResult(mid, v.status, [r.to_dict() for r in v.reasons], "", meas.figures, meas.missing, truth,
                            thumb, time.perf_counter() - t0)
    except CamforgeError as e:
        return ModuleResult(mid, "error", error=" ".join(str(e).split()), truth=truth,
                            seconds=time.perf_counter() - t0)
    except Exception as e:  # never let one module stop the lot
        tb = traceback.format_exc(limit=3)
        return ModuleResult(mid, "error", error=f"unexpected {type(e).__name__}: {e} ({tb.splitlines()[-1]})",
                            truth=truth, seconds=time.perf_counter() - t0)


def run_lot(lot, spec, *, detector=None, executor=None, store=None, report: str | Path | None = None,
            progress: Callable[[int, int], None] | None = None, thumbnails: bool = True,
            modules: list[str] | None = None) -> LotResult:
    """Qualify every module of ``lot`` against ``spec``.

    Args:
        lot: a :class:`Lot` or its folder.
        spec: a :class:`Spec`, its YAML path or a mapping.
        detector: ``None``, ``"blemish"``, a saved detector folder, or a fitted Detector.
        executor: a :mod:`camforge.parallel` executor or spec string (default ``serial``).
        store: a :class:`camforge.store.Store` (or URL) to record the run in (``kind="qualify"``).
        report: path of the HTML lot report to write.
        progress: ``progress(done, total)``.
        modules: only these module ids.
    """
    from camforge.parallel import Executor, get_executor

    lot = lot if isinstance(lot, Lot) else Lot.open(lot)
    spec = load_spec(spec)
    det = resolve_detector(detector)
    needed = set(spec.captures)
    if det is not None:
        needed.add("flat_hi")
    size = (lot.info.width, lot.info.height) if lot.info.width and lot.info.height else None
    ctx = {"spec": spec.model_dump(mode="json"), "root": str(lot.root), "captures": sorted(needed), "size": size,
           "detector": det, "thumbnails": thumbnails}
    items = lot.modules if modules is None else [lot.module(m) for m in modules]
    own = not isinstance(executor, Executor)
    ex = executor if not own else get_executor(executor or "serial")
    t0 = time.perf_counter()
    try:
        out = ex.map(functools.partial(qualify_module, ctx), items, progress=progress, return_exceptions=True)
    finally:
        if own:
            ex.close()
    seconds = time.perf_counter() - t0
    results = []
    for m, r in zip(items, out):
        if isinstance(r, ModuleResult):
            results.append(r)
        else:  # the worker itself died (out of memory, killed): still a per-module error
            results.append(ModuleResult(m.module_id, "error", error=f"task failed: {' '.join(str(r).split())}"))
    from camforge.qualify.spec import Reason, Verdict

    verdicts = [Verdict(r.module_id, r.status, tuple(Reason(**x) for x in r.reasons), r.error) for r in results]
    res = LotResult(lot=str(lot.root), spec=spec, detector=None if det is None else det.name, modules=results,
                    summary=summarize(verdicts), seconds=seconds, executor=repr(ex), lot_problems=list(lot.problems))
    if report is not None:
        from camforge.qualify.report import write_lot_report

        res.report_path = str(write_lot_report(res, report))
    if store is not None:
        res.run_id = record_run(res, store, lot)
    return res


def record_run(res: LotResult, store, lot: Lot | None = None) -> int:
    """Store a lot run (``kind="qualify"``): per module one row per figure and ``verdict_pass``."""
    from camforge.store import Store

    if not isinstance(store, Store):
        store = Store(store)
    design = None
    if lot is not None and (lot.root / "design.yaml").is_file():
        import yaml

        design = yaml.safe_load((lot.root / "design.yaml").read_text())
    plan = {"lot": res.lot, "spec": res.spec.to_dict(), "detector": res.detector}
    with store.run(design, kind="qualify", plan=plan, meta={"executor": res.executor}) as run:
        rows: list[dict[str, Any]] = []
        for m in res.modules:
            cond = {"module_id": m.module_id}
            for name, v in m.figures.items():
                rows.append({"metric": name, "value": float(v), "unit": FIGURES.get(name, ("",))[0], "condition": cond})
            for name, why in m.missing.items():
                rows.append({"metric": name, "value": None, "unit": FIGURES.get(name, ("",))[0], "condition": cond,
                             "extra": {"error": why}})
            rows.append({"metric": "verdict_pass", "value": None if m.status == "error" else m.status == "pass",
                         "condition": cond, "extra": {"status": m.status, "reasons": [r["text"] for r in m.reasons],
                                                      "error": m.error}})
            if len(rows) > 5000:
                run.add_measurements(rows)
                rows = []
        s = res.summary
        lot_cond = {"lot": Path(res.lot).name}
        rows += [{"metric": "yield_pct", "value": s.yield_pct, "unit": "%", "condition": lot_cond},
                 {"metric": "first_pass_yield_pct", "value": s.first_pass_yield_pct, "unit": "%", "condition": lot_cond},
                 {"metric": "modules_per_s", "value": res.modules_per_s, "unit": "1/s", "condition": lot_cond}]
        run.add_measurements(rows)
        if res.report_path:
            run.add_artifact("report", res.report_path)
        return run.id


__all__ = ["DEFAULT_BLEMISH_THRESHOLD", "LotResult", "ModuleResult", "qualify_module", "record_run", "resolve_detector",
           "run_lot"]
