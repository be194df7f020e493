"""Tune the ISP and the focus by gradient descent through the differentiable camera.

The camera of examples/spaces/isp_tuning.yaml images a dead-leaves chart at 20 lx with shot
and read noise and 0.15 µm of defocus; the loss is 1 − SSIM of its sRGB output against the
ideal rendering. Adam tunes the sharpening amount and radius, the raw NLM denoising strength
and the focus through ``Camera.capture(differentiable=True)`` + the ISP; Bayesian optimisation
(Optuna's GP) gets the same wall time on the same loss.

    .venv/bin/python examples/design_isp_gradient.py
"""

import torch

from camforge.design.gradient import ImageLoss, tune_gradient, tune_with_bo

torch.manual_seed(0)
loss = ImageLoss("examples/spaces/isp_tuning.yaml")
seconds = 30.0
g = tune_gradient(loss, 10_000, time_limit_s=seconds)
b = tune_with_bo(loss, 10_000, time_limit_s=seconds)
print(f"start loss {g.losses[0]:.4f}")
print(f"gradient: best {min(g.losses):.4f} after {len(g.losses)} steps in {seconds:g} s")
print(f"BO:       best {min(b.losses):.4f} after {len(b.losses)} evaluations in {seconds:g} s")
for name, v in g.best[1].items():
    print(f"  {name} = {v:.4g}")
