"""EMVA 1288 characterization of a real sensor, its data sheet, and its digital twin.

    .venv/bin/python examples/characterize_emva1288.py [DATA_DIR] [OUT_DIR]

DATA_DIR holds an EMVA descriptor and its frames (default: the staged EMVA reference set 001,
a 12-bit CCD, ../shared/data/emva1288_refset001). Writes emva1288.json / .xml / .html to
OUT_DIR, then builds a simulator sensor from the result and checks that characterizing the
simulated twin gives the same K, sigma_d, eta and mu_e.sat.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from camforge.characterize import characterize_emva1288, sensor_config_from_emva1288, simulate_stack, write_report
from camforge.sensor import Sensor

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "emva1288_refset001"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("emva1288_out")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = characterize_emva1288(data)
    for w in caught:
        print("warning:", w.message)
    m = result.main
    print(f"K = {m.k_dn_per_e:.4f} DN/e-  (95 % CI {m.k_ci95[0]:.4f} .. {m.k_ci95[1]:.4f})")
    print(f"QE = {100 * m.qe:.2f} %   sigma_d = {m.sigma_d_e:.2f} e-   sigma_y.dark = {m.sigma_y_dark_dn:.3f} DN")
    print(f"mu_e.sat = {m.mu_e_sat:.0f} e- (step {m.saturation_step})   mu_p.min = {m.mu_p_min:.1f} p")
    print(f"SNR_max = {m.snr_max_db:.1f} dB   DR = {m.dr_db:.1f} dB   LE = {m.le_min_pct:.2f} .. {m.le_max_pct:.2f} %")
    if m.spatial is not None:
        print(f"DSNU1288 = {m.dsnu_e:.3f} e-   PRNU1288 = {m.prnu_pct:.3f} %")
    for kind, path in write_report(result, out).items():
        print(f"{kind}: {path}")

    # digital twin: a simulator sensor whose own characterization reproduces the measurement
    config = sensor_config_from_emva1288(result)
    twin = simulate_stack(Sensor(config), like=result, size=(256, 256), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = characterize_emva1288(twin).main
    for name, a, b in (("K", m.k_dn_per_e, again.k_dn_per_e), ("sigma_d", m.sigma_d_e, again.sigma_d_e),
                       ("QE", m.qe, again.qe), ("mu_e.sat", m.mu_e_sat, again.mu_e_sat)):
        print(f"twin {name:9s} measured {a:10.4g}   twin {b:10.4g}   ({100 * (b / a - 1):+.2f} %)")


if __name__ == "__main__":
    main()
