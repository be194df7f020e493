"""Evaluation speed: wall time of `camforge evaluate` per condition (job) and in total.

Usage:  .venv/bin/python bench/bench_evaluate.py [--design examples/designs/phone_main_12mp.yaml]
                                                 [--plan default] [--executor local:2]
Target: the default design with the default plan in <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", default=str(ROOT / "examples" / "designs" / "phone_main_12mp.yaml"))
    ap.add_argument("--plan", default="default")
    ap.add_argument("--executor", default="local:2")
    args = ap.parse_args()
    from camforge.evaluate import evaluate

    t = time.perf_counter()
    card = evaluate(args.design, args.plan, executor=args.executor)
    wall = time.perf_counter() - t
    print(f"design {card.design['name']}, plan {card.plan['name']}, executor {args.executor}")
    print(f"{'job':<16}{'seconds':>9}")
    for k, v in sorted(card.timings_s.items(), key=lambda kv: -kv[1]):
        if k != "total":
            print(f"{k:<16}{v:>9.2f}")
    cpu = sum(v for k, v in card.timings_s.items() if k != "total")
    print(f"{'sum of jobs':<16}{cpu:>9.2f}")
    print(f"{'wall total':<16}{wall:>9.2f}   (target <= 60 s)")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          f"(workers: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
