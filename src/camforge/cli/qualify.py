"""``camforge qualify ...``: production qualification of camera modules.

    camforge qualify simulate DESIGN --modules N --defect-rate R --out DIR [--size 256x192] [--seed S]
    camforge qualify train LOT --detector NAME --out MODEL [--target-frr 0.01] [--set key=value]
    camforge qualify run LOT --spec spec.yaml [--detector NAME|MODEL] [--executor local] [--db URL]
    camforge qualify evaluate LOT --detector MODEL       (simulated lots: AUROC against the truth)

A lot is a folder with ``manifest.csv`` (see docs/qualify.md). Modules that cannot be read
get the verdict ``error`` with the reason; the lot goes on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from camforge.cli import app
from camforge.cli._parse import key_values
from camforge.errors import ConfigError, InputError

qualify_app = typer.Typer(help="Production qualification: simulate lots, train detectors, run lots against a spec.",
                          no_args_is_help=True)
app.add_typer(qualify_app, name="qualify")


def _size(text: str | None):
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 256x192, got {text!r}") from None
    return (w, h)


@qualify_app.command("simulate")
def simulate_cmd(
    design: Path = typer.Argument(..., help="Camera design YAML."),
    modules: int = typer.Option(..., "--modules", "-n", help="Number of modules."),
    defect_rate: float = typer.Option(0.1, "--defect-rate", help="Probability that a module has injected defects."),
    out: Path = typer.Option(..., "--out", "-o", help="Lot folder to write."),
    seed: int = typer.Option(0, "--seed", help="Lot seed (same seed, same lot)."),
    size: str | None = typer.Option(None, "--size", help="Frame size WxH (the sensor area resampled), e.g. 256x192."),
    f_number: float | None = typer.Option(None, "--f-number", help="f-number of the captures (default: the design's)."),
    config: Path | None = typer.Option(None, "--config", help="LotSimConfig YAML (spread, defects, levels)."),
    fmt: str = typer.Option("raw", "--format", help="raw (.raw + YAML), dng or png."),
    executor: str = typer.Option("serial", "--executor", help="serial, local, local:N, ray:local, ..."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
):
    """Simulate a lot of modules with manufacturing spread and injected defects (with ground truth)."""
    from camforge.config import read_yaml, validate
    from camforge.parallel import progress_bar
    from camforge.qualify.simulate import LotSimConfig, simulate_lot

    cfg = dict(read_yaml(config) or {}) if config else {}
    if size:
        cfg["size"] = _size(size)
    if f_number:
        cfg["f_number"] = f_number
    cfg["format"] = fmt
    cfg = validate(LotSimConfig, cfg, str(config) if config else "qualify simulate options")
    with progress_bar("simulating modules") as bar:
        res = simulate_lot(design, modules, out, defect_rate=defect_rate, seed=seed, config=cfg, executor=executor,
                           progress=bar)
    if json_out:
        print(json.dumps(res.to_dict(), indent=1))
    else:
        kinds = ", ".join(f"{k} {v}" for k, v in res.kinds.items()) or "none"
        print(f"wrote {res.n_modules} modules to {res.root} ({res.n_defective} with injected defects: {kinds}) "
              f"in {res.seconds:.1f} s")


def _good_flats(lot, use_all: bool, limit: int | None):
    from camforge.errors import CamforgeError
    from camforge.qualify.lot import read_capture

    flats, skipped = [], []
    for m in lot.modules:
        t = lot.truth(m.module_id)
        if t is not None and t.get("defective") and not use_all:
            continue
        if "flat_hi" not in m.captures:
            skipped.append(f"{m.module_id}: no flat_hi capture")
            continue
        try:
            flats.append(read_capture(m.captures["flat_hi"]))
        except CamforgeError as e:
            skipped.append(f"{m.module_id}: {e}")
        if limit and len(flats) >= limit:
            break
    return flats, skipped


@qualify_app.command("train")
def train_cmd(
    lot: Path = typer.Argument(..., help="Lot of good modules (in a simulated lot, the defective ones are left out)."),
    detector: str = typer.Option(..., "--detector", "-d", help="blemish, defect_pixels, patchcore, padim or unet."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the trained model (config.json + weights.pt)."),
    target_frr: float = typer.Option(0.01, "--target-frr", help="False-reject rate the threshold is set for."),
    max_modules: int | None = typer.Option(None, "--max-modules", help="Use at most this many good modules."),
    use_all: bool = typer.Option(False, "--all", help="Use every module, even those the truth marks defective."),
    params: list[str] | None = typer.Option(None, "--set", help="Detector setting key=value (repeatable)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Fit a detector on good modules and set its threshold for a target false-reject rate."""
    import time

    from camforge.parallel import progress_bar
    from camforge.qualify.detectors import make_detector
    from camforge.qualify.lot import Lot

    lt = Lot.open(lot)
    flats, skipped = _good_flats(lt, use_all, max_modules)
    for s in skipped:
        print(f"warning: skipped {s}", file=sys.stderr)
    if len(flats) < 4:
        raise InputError(f"{lot}: only {len(flats)} readable good modules; training needs at least 4")
    kw = key_values(params, "--set")
    if detector == "unet" and "f_number" not in kw and lt.info.f_number:
        kw["f_number"] = lt.info.f_number  # blemish shadows injected for training follow the lot's f-number
    det = make_detector(detector, **kw)
    t0 = time.perf_counter()
    with progress_bar(f"training {detector}") as bar:
        det.fit(flats, target_frr=target_frr, progress=bar)
    det.info["train_seconds"] = time.perf_counter() - t0
    det.info["train_lot"] = str(lot)
    det.save(out)
    d = {"detector": det.name, "out": str(out), "modules": len(flats), "threshold": det.threshold,
         "target_frr": det.target_frr, "seconds": det.info["train_seconds"]}
    if json_out:
        print(json.dumps(d, indent=1))
    else:
        print(f"trained {det.name} on {len(flats)} good modules in {d['seconds']:.1f} s; threshold "
              f"{det.threshold:.4g} (target FRR {target_frr:g}); saved to {out}")


@qualify_app.command("run")
def run_cmd(
    lot: Path = typer.Argument(..., help="Lot folder (manifest.csv + captures)."),
    spec: Path = typer.Option(..., "--spec", "-s", help="Spec YAML (limits on figures)."),
    detector: str | None = typer.Option(None, "--detector", "-d", help="'blemish' or a trained model folder."),
    executor: str = typer.Option("local", "--executor", help="serial, local, local:N, ray:local, ray://host:port ..."),
    db: str | None = typer.Option(None, "--db", help="Results database URL or SQLite file (default: camforge's)."),
    no_db: bool = typer.Option(False, "--no-db", help="Do not record the run in the results database."),
    report: Path | None = typer.Option(None, "--report", help="HTML lot report (default LOT/report.html)."),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write the HTML report."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write every module's result as JSON here."),
    json_out: bool = typer.Option(False, "--json", help="Print the lot summary as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any module fails or errors."),
):
    """Qualify every module of a lot against a spec; per-module verdicts with reasons."""
    from camforge.io import atomic_write_text
    from camforge.parallel import progress_bar
    from camforge.qualify.run import run_lot
    from camforge.qualify.spec import load_spec

    sp = load_spec(spec)  # a bad spec fails here, naming the field
    store = None
    if not no_db:
        from camforge.store import Store

        store = Store(db)
    rep = None if no_report else (report or Path(lot) / "report.html")
    with progress_bar("qualifying modules") as bar:
        res = run_lot(lot, sp, detector=detector, executor=executor, store=store, report=rep, progress=bar)
    if out:
        atomic_write_text(out, json.dumps(res.to_dict(), indent=1))
    s = res.summary
    if json_out:
        d = {**s.to_dict(), "modules_per_s": res.modules_per_s, "run_id": res.run_id, "report": res.report_path,
             "errors": {m.module_id: m.error for m in res.modules if m.status == "error"}}
        print(json.dumps(d, indent=1))
    else:
        y = "n/a" if s.yield_pct is None else f"{s.yield_pct:.1f} %"
        print(f"{s.n_modules} modules: {s.n_pass} pass, {s.n_fail} fail, {s.n_error} error; yield {y}; "
              f"{res.modules_per_s:.2f} modules/s")
        for m in res.modules:
            if m.status != "pass":
                print(f"  {m.module_id}  {m.status.upper():5s}  {m.text}")
        if s.pareto:
            print("  Pareto: " + ", ".join(f"{k} {v}" for k, v in s.pareto))
        if res.report_path:
            print(f"report: {res.report_path}")
        if res.run_id is not None:
            print(f"stored as run {res.run_id} (kind qualify)")
    if strict and (s.n_fail or s.n_error):
        raise typer.Exit(1)


@qualify_app.command("evaluate")
def evaluate_cmd(
    lot: Path = typer.Argument(..., help="Simulated lot (with truth/)."),
    detector: str = typer.Option(..., "--detector", "-d", help="Trained model folder or 'blemish'."),
    json_out: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
):
    """Image/pixel AUROC, AUPRO, FRR and escape rate of a detector on a simulated lot."""
    from camforge.qualify.evaluate import evaluate_detector
    from camforge.qualify.lot import Lot
    from camforge.qualify.run import resolve_detector

    res = evaluate_detector(resolve_detector(detector), Lot.open(lot))
    if json_out:
        print(json.dumps(res, indent=1))
    else:
        for k, v in res.items():
            if not isinstance(v, dict):
                print(f"{k:22s} {v:.4g}" if isinstance(v, float) else f"{k:22s} {v}")
        for kind, v in res.get("per_kind", {}).items():
            print(f"  {kind:14s} image AUROC {v['image_auroc']:.4f}  pixel AUROC {v['pixel_auroc']:.4f}  "
                  f"({v['n']} modules)")
