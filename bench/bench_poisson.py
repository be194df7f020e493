"""Shot-noise sampling speed: camforge.sensor.poisson vs torch.poisson vs numpy.

Cases
  sweep   ns/sample at constant rates λ ∈ {0.5, 5, 50, 500, 5e3, 5e4} (``--n`` samples each)
  frame   a 12 MP (3000 × 4000) float32 frame, λ log-uniform-ish 1e2…5e4 over a smooth
          synthetic scene ("bright"), and the same with 15 % dark pixels at λ ≈ 0.1–0.3 ("mixed")

Samplers, all in this process, interleaved, best of ``--repeat``:
  camforge-auto        poisson(rate, g)                      ("quantile" on the CPU)
  camforge-streams     poisson(rate, g, method="streams")    (torch.poisson on parallel streams)
  camforge-vectorized  poisson(rate, g, method="vectorized")
  torch.poisson        torch.poisson(rate, generator=g)       (single-threaded in torch)
  numpy                numpy.random.Generator(PCG64).poisson  (float64 rates)

Ratios are torch.poisson's time over each sampler's (> 1 = faster than torch.poisson).
Wall and CPU (process) time are both printed: on a loaded machine CPU time shows the work
done, wall time what a user waits. The extra peak memory of each frame case (peak RSS
while sampling minus RSS before) comes from a fresh subprocess (Linux; ``--no-memory``
skips it).

Usage:  .venv/bin/python bench/bench_poisson.py [--n 4000000] [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

from camforge.sensor.poisson import poisson

SWEEP = [0.5, 5.0, 50.0, 500.0, 5e3, 5e4]
H, W = 3000, 4000


def frame(kind: str) -> torch.Tensor:
    """A deterministic synthetic 12 MP rate map (mean electrons per pixel, float32).

    Built in row blocks so that building it costs little more memory than the frame.
    """
    out = torch.empty(H, W, dtype=torch.float32)
    x = torch.linspace(0, 1, W, dtype=torch.float64)[None, :]
    for r0 in range(0, H, 250):
        y = torch.linspace(0, 1, H, dtype=torch.float64)[r0:r0 + 250, None]
        s = 0.5 + 0.25 * torch.sin(7.1 * x + 3.3 * y) * torch.cos(5.3 * y - 2.2 * x) + 0.25 * torch.sin(23.0 * x * y)
        s = s.clamp(0, 1)
        rate = 10.0 ** (2.0 + 2.7 * s)  # 1e2 … 5e4
        if kind == "mixed":
            dark = (torch.sin(40.0 * x) * torch.sin(31.0 * y)) > 0.6  # ~15 % of the pixels
            rate = torch.where(dark, 0.1 + 0.2 * s, rate)
        out[r0:r0 + 250] = rate
    return out


def samplers():
    def auto(r, g):
        return poisson(r, g)

    def streams(r, g):
        return poisson(r, g, method="streams")

    def vectorized(r, g):
        return poisson(r, g, method="vectorized")

    def torch_poisson(r, g):
        return torch.poisson(r, generator=g)

    def numpy_poisson(r, g):
        return np.random.default_rng(0).poisson(r)

    return {"camforge-auto": (auto, "torch"), "camforge-streams": (streams, "torch"),
            "camforge-vectorized": (vectorized, "torch"),
            "torch.poisson": (torch_poisson, "torch"), "numpy": (numpy_poisson, "numpy")}


def time_case(rate: torch.Tensor, repeat: int) -> dict:
    """Best wall and CPU seconds per sampler, runs interleaved to share the machine's state."""
    inputs = {"torch": rate, "numpy": rate.double().numpy()}
    g = torch.Generator().manual_seed(0)
    best = {}
    for _ in range(repeat):
        for name, (fn, kind) in samplers().items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn(inputs[kind], g)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            w, c = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(w, wall), min(c, cpu))
    return best


_RSS_SCRIPT = """
import sys, torch
sys.path.insert(0, {here!r})
import bench_poisson as b
torch.set_num_threads({threads})
fn, kind = b.samplers()[{name!r}]
rate = b.frame({frame!r})
x = rate.double().numpy() if kind == "numpy" else rate
fn(x[:1000], torch.Generator().manual_seed(0))  # warm-up: pools, tables, lazy imports
def status(key):
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith(key)).split()[1]) / 1024
before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
fn(x, torch.Generator().manual_seed(0))
print(status("VmHWM:") - before)
"""


def extra_rss(frame: str, name: str, threads: int) -> float:
    """Peak memory (MB) that sampling the 12 MP frame adds, in a fresh process (Linux /proc)."""
    code = _RSS_SCRIPT.format(here=os.path.dirname(os.path.abspath(__file__)), threads=threads, frame=frame,
                              name=name)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4_000_000, help="samples per sweep rate")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = list(samplers())
    print(f"torch {torch.__version__}, numpy {np.__version__}, threads {args.threads}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (1 min)")
    results = {}
    header = "%-14s" % "case" + "".join("%24s" % n for n in names) + "   ratios vs torch.poisson (wall)"
    print("\nns/sample, wall (cpu)")
    print(header)
    cases = [(f"λ={lam:g}", torch.full((args.n,), lam, dtype=torch.float32)) for lam in SWEEP]
    cases += [("12MP bright", frame("bright")), ("12MP mixed", frame("mixed"))]
    for label, rate in cases:
        best = time_case(rate, args.repeat)
        n = rate.numel()
        ns = {k: (w / n * 1e9, c / n * 1e9) for k, (w, c) in best.items()}
        ref = ns["torch.poisson"][0]
        ratios = "  ".join("%s %.2f×" % (k.replace("camforge-", ""), ref / ns[k][0])
                           for k in names if k != "torch.poisson")
        print("%-14s" % label + "".join("%24s" % ("%.1f (%.1f)" % ns[k]) for k in names) + "   " + ratios)
        results[label] = {k: {"wall_ns": v[0], "cpu_ns": v[1]} for k, v in ns.items()}
    if not args.no_memory and os.path.exists("/proc/self/clear_refs"):
        print("\nextra peak memory while sampling the 12 MP frame, MB "
              "(fresh process; the frame is 48 MB, a float32 output 48 MB)")
        for kind in ("bright", "mixed"):
            row = {name: extra_rss(kind, name, args.threads) for name in names}
            print("%-14s" % f"12MP {kind}" + "".join("%24.0f" % row[k] for k in names))
            results[f"12MP {kind}"]["extra_peak_mb"] = row
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
