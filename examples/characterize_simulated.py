"""EMVA 1288 on a simulated colour sensor: every CFA channel against the simulator's truth.

    .venv/bin/python examples/characterize_simulated.py [DESIGN.yaml]

Simulates the EMVA 1288 measurement (50 exposure steps, dark pairs, 16-frame spatial stacks,
dark series at two extra temperatures) of a 256 x 256 crop of the design's sensor under
525 nm light, analyses it, and prints the measured values next to the truth.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from camforge.camera import Camera
from camforge.characterize import characterize_emva1288, simulate_stack

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    design = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "examples" / "designs" / "machine_vision_5mp.yaml"
    cam = Camera.from_yaml(design)
    stack = simulate_stack(cam, size=(256, 256), temperatures_c=[45.0, 55.0], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = characterize_emva1288(stack)
    t = stack.truth
    print(f"{cam.name}: {r.cfa}, {r.bits}-bit, K true {t['K']:.4f} DN/e-, sigma_d true {t['sigma_d_e']:.3f} e-")
    print(f"{'channel':8s}{'K':>10s}{'QE meas':>10s}{'QE true':>10s}{'sigma_d':>10s}{'mu_e.sat':>10s}{'true':>10s}")
    for name, c in r.channels.items():
        print(f"{name:8s}{c.k_dn_per_e:10.4f}{c.qe:10.4f}{t['qe_by_channel'][name]:10.4f}{c.sigma_d_e:10.3f}"
              f"{c.mu_e_sat:10.0f}{t['mu_e_sat_by_channel'][name]:10.0f}")
    dc = r.main.dark_current
    print(f"dark current {dc.from_mean_e_per_s:.2f} e-/s (true {t['dark_current_e_per_s']:.2f}); doubling "
          f"temperature {dc.doubling_temperature_k:.2f} K (true {t['doubling_temperature_k']:.2f})")


if __name__ == "__main__":
    main()
