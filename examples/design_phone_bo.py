"""Multi-objective Bayesian optimisation of a phone main camera.

Searches the bundled ``phone_main`` problem — optical format, pixel pitch, f-number, lens
aberration budget, read noise, QE and IR-cut — for the best trade-off between corner
sharpness, low-light limit and module cost (fast physics scorecard, a few hundredths of a
second per design), with BoTorch's qLogNEHVI, and compares it with random search at the
same number of evaluations. Writes study reports (Pareto fronts, hypervolume, parallel
coordinates) to out/design_phone_bo/. Takes a few minutes on a laptop core.

    .venv/bin/python examples/design_phone_bo.py
"""

from camforge.design import run_study

out = "out/design_phone_bo"
budget = 40
bo = run_study("phone_main", method="bo", budget=budget, executor="serial", out=f"{out}/bo", seed=0)
rnd = run_study("phone_main", method="random", budget=budget, executor="serial", out=f"{out}/random", seed=0)

print(f"hypervolume after {budget} evaluations: BO {bo.hypervolume[-1]:.4g}, random {rnd.hypervolume[-1]:.4g}")
print(f"{len(bo.pareto)} Pareto designs found by BO (corner MTF50 lp/ph, low-light limit lx, cost USD):")
for i in bo.pareto:
    e = bo.evaluations[i]
    p = e.params
    print(f"  {p['sensor_format']:>6} {p['pixel_pitch_um']:.2f} um f/{p['f_number']:.2f}  ->  "
          f"{e.objectives[0]:6.0f} lp/ph {e.objectives[1]:6.1f} lx {e.objectives[2]:6.2f} USD")
print(f"reports: {bo.report} and {rnd.report}")
