"""Run a small test plan through an executor and record it in the results database.

Each condition (illuminance × illuminant) captures two flat fields with a tiny camera and
measures the photon-transfer basics — mean signal above black (DN), temporal noise from
the difference of the two frames, σ = std(a − b)/√2 (DN), and SNR (dB). Workers commit
their own condition's rows, so a run stopped half-way keeps every finished condition.

Run:  python examples/store_evaluate.py [--executor local|local:2|serial|ray:local] [--db URL]
      camforge db list --db store-out/results.db
      camforge db show 1 --db store-out/results.db -m
"""

from __future__ import annotations

import argparse
import functools
import math
from pathlib import Path

DESIGN = {
    "name": "tiny-flat-test",
    "lens": {"focal_length_mm": 4.4, "f_number": 2.0},
    "sensor": {"width_px": 96, "height_px": 64, "pixel_pitch_um": 1.4, "full_well_e": 6000},
}
PLAN = {"chart": "flat", "lux": [1, 10, 100, 1000], "illuminant": ["D65", "A"], "seed": 0}


def measure_condition(run, condition: dict) -> int:
    """Capture two flat fields under ``condition``, store mean / noise / SNR in ``run``."""
    from camforge import Camera

    cam = Camera(DESIGN)
    scene = cam.chart(condition["chart"], lux=condition["lux"], illuminant=condition["illuminant"], spectral=False)
    a = cam.capture(scene, seed=2 * condition["seed"]).data.double()
    raw_b = cam.capture(scene, seed=2 * condition["seed"] + 1)
    b = raw_b.data.double()
    black = sum(raw_b.meta.black_level_dn) / len(raw_b.meta.black_level_dn)
    mean_dn = float((a + b).mean() / 2 - black)
    noise_dn = float((a - b).std() / math.sqrt(2))
    rows = [
        {"metric": "mean_signal_dn", "value": mean_dn, "unit": "DN"},
        {"metric": "temporal_noise_dn", "value": noise_dn, "unit": "DN"},
        {"metric": "snr_db", "value": 20 * math.log10(mean_dn / noise_dn) if mean_dn > 0 else None, "unit": "dB"},
        {"metric": "exposure_s", "value": raw_b.meta.exposure_s, "unit": "s",
         "extra": {"analog_gain": raw_b.meta.analog_gain}},
    ]
    return run.add_measurements([{**r, "condition": condition} for r in rows])


def main() -> None:
    from camforge.parallel import get_executor, progress_bar
    from camforge.store import Store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executor", default="local", help="local, local:N, serial, ray:local, ray://host:port")
    ap.add_argument("--db", default=None, help="database URL or file (default: store-out/results.db)")
    args = ap.parse_args()
    out = Path("store-out")
    out.mkdir(exist_ok=True)
    store = Store(args.db or out / "results.db")
    conditions = [{"chart": PLAN["chart"], "lux": lux, "illuminant": ill, "seed": PLAN["seed"]}
                  for lux in PLAN["lux"] for ill in PLAN["illuminant"]]
    with get_executor(args.executor) as ex, store.run(DESIGN, kind="evaluate", plan=PLAN,
                                                       meta={"executor": args.executor}) as run:
        with progress_bar(f"{len(conditions)} conditions on {ex!r}") as progress:
            counts = ex.map(functools.partial(measure_condition, run), conditions, progress=progress)
    detail = store.run_detail(run.id)
    print(f"run {run.id} ({run.uuid[:8]}): {detail.run.status}, {sum(counts)} measurements "
          f"in {detail.run.duration_s:.1f} s on {ex!r}")
    for m in store.measurements(run.id, metric="snr_db"):
        print(f"  {m.condition['lux']:>6} lx {m.condition['illuminant']:<3}  SNR {m.value:6.2f} dB")
    res = store.export(out / "results.csv", run_ids=[run.id])
    print(f"wrote {res.n_rows} rows to {res.path}")


if __name__ == "__main__":  # required: worker processes are spawned and import this file
    main()
