"""Generative inverse design: a conditional VAE proposes phone cameras for a target spec.

The target of the bundled ``phone_main`` problem (``target:`` in its YAML) asks for at
least 800 lp/ph of corner MTF50, a low-light limit of 50 lx or better and a module cost of
at most 14 USD — met by about 2 % of random designs. A CVAE trained on 256 evaluated
Sobol designs (condition: their normalised objectives and constraint margins) decodes
candidates for the target, and a critic — Gaussian processes of each target term's slack,
trained on the same designs — keeps the 64 likeliest to meet it; we evaluate them and count.
``screen=1`` shows the CVAE alone. From the command line:
``camforge optimize phone_main --method generative --budget 256 --propose 16``.

    .venv/bin/python examples/design_generative.py
"""

from camforge.design import Problem
from camforge.design.optimizers.generative import GenerativeOptimizer

pr = Problem("phone_main", "fast")
train = [pr.evaluate(p) for p in pr.space.sample(256, seed=1, method="sobol")]
base = sum(pr.target_met(e) for e in train)
print(f"training designs meeting the target:      {base}/{len(train)} ({100 * base / len(train):.1f} %)")
for screen, label in ((16, "CVAE + critic proposals meeting it:"), (1, "CVAE alone, proposals meeting it:  ")):
    gen = GenerativeOptimizer(seed=0)
    gen.bind(pr)
    gen.setup(pr, None, train)
    proposals = [pr.evaluate(p) for p in gen.propose_for_target(64, screen=screen)]
    met = sum(pr.target_met(e) for e in proposals)
    print(f"{label}       {met}/{len(proposals)} ({100 * met / len(proposals):.1f} %)")
