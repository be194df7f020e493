"""Gradient descent through the differentiable camera on an image-quality loss.

:class:`ImageLoss` renders a chart (``image_loss:`` section of a design space: dead leaves,
slanted edge, ColorChecker or Siemens star, at ``lux``) through the design's lens, sensor
and ISP — ``Camera.capture(differentiable=True, quantize=False)`` with reparameterised shot
noise and fixed noise seeds (common random numbers: the loss is a deterministic, smooth
function of the parameters), then the ISP — and compares the sRGB output with the *ideal
rendering* of the same chart: the same sensor sampling without optics blur and without
noise, through the base design's ISP without sharpening or denoising. The loss is
``1 − SSIM`` (Wang et al. 2004, :func:`camforge.metrics.reference.ssim`), MSE, or their sum,
averaged over ``frames`` noise realisations.

Auto exposure is part of the loss: exposure and gain follow the camera's AE rule from the
current electron rate (differentiably), so an aperture or focus change keeps the exposure
rule of the real camera.

Tunable parameters (the space's parameters, all continuous): ``isp.<stage>.<param>`` for any
ISP stage tensor (``isp.sharpen.amount``, ``isp.sharpen.sigma_px``, ``isp.denoise.strength``,
``isp.tone.exposure_gain``, ...), ``lens.<param>`` / ``sensor.<param>`` for any lens or sensor
tensor (``f_number``, ``transmission``, ...), and ``defocus_um`` — a focus shift added to
the defocus term of every aberration node. Each parameter lives in its box through a
sigmoid (log-scaled ones on a log scale); the unconstrained variables are optimised with
Adam. The substitution of parameters into the camera uses :func:`torch.func.functional_call`.

:func:`run_gradient_study` records every step (parameters and loss) as a trial of an
Optuna study; :func:`tune_with_bo` minimises the same loss with Bayesian optimisation
(Optuna's GP sampler) for the equal-wall-time comparison of the benchmark.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from camforge.design.space import DesignSpace, ImageLossSpec, load_space
from camforge.errors import ConfigError

_DEFOCUS = "defocus_um"


class _Render(nn.Module):
    """Camera + ISP as one module, so :func:`torch.func.functional_call` can swap any tensor."""

    def __init__(self, cam):
        super().__init__()
        self.cam = cam

    def forward(self, scene, window, seeds, white_e):
        cam = self.cam
        s = cam.design.sensor
        e_rate = cam.electron_rate(scene, window=window)
        # the camera's auto-exposure rule, differentiable in the electron rate
        K = cam.sensor.conversion_gain_dn_per_e
        sat = torch.minimum(cam.sensor.full_well_e, (s.white_level_dn - cam.sensor.black_level_dn) / K)
        rate = e_rate.amax() + cam.sensor.dark_current_at()
        t = cam.design.auto_exposure.target * sat / rate
        gain = torch.clamp(t / s.exposure_max_s, min=1.0, max=s.max_analog_gain) * cam.sensor.analog_gain
        t = torch.clamp(t, min=s.exposure_min_s, max=s.exposure_max_s)
        outs = []
        for seed in seeds:
            raw = cam.capture(scene, exposure_s=t, analog_gain=gain, seed=int(seed), differentiable=True,
                              quantize=False, window=window, e_rate=e_rate)
            outs.append(cam.isp(raw).data)
        return torch.cat(outs, 0)


@dataclass
class TunedParameter:
    """A space parameter mapped to a camera tensor: ``value = low + (high − low)·σ(φ)`` (log-scaled
    ones ``exp(log low + (log high − log low)·σ(φ))``)."""

    name: str
    target: str
    low: float
    high: float
    log: bool
    index: tuple | None = None

    def value(self, phi: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(phi)
        if self.log:
            return torch.exp(math.log(self.low) + (math.log(self.high) - math.log(self.low)) * t)
        return self.low + (self.high - self.low) * t

    def phi(self, value: float) -> float:
        v = min(max(float(value), self.low), self.high)
        t = (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low)) if self.log else \
            (v - self.low) / (self.high - self.low)
        t = min(max(t, 1e-4), 1 - 1e-4)
        return math.log(t / (1 - t))


class ImageLoss:
    """The differentiable image-quality loss of a design space (see the module docstring).

    Args:
        space: a design space with an ``image_loss`` section and continuous parameters that map
            to camera tensors.
        spec: override of the space's ``image_loss``.

    Raises:
        ConfigError: no image loss, or a parameter that is not a differentiable camera tensor.
    """

    def __init__(self, space, spec: ImageLossSpec | dict | None = None):
        from camforge.camera import Camera
        from camforge.config import validate

        self.space: DesignSpace = load_space(space)
        spec = spec if spec is not None else self.space.config.image_loss
        if spec is None:
            raise ConfigError(f"design space {self.space.name!r} has no image_loss section: the gradient method "
                              "needs one (scene, lux, size_px, loss)")
        self.spec = validate(ImageLossSpec, spec, "image_loss")
        self.cam = Camera(self.space.base_design)
        self.model = _Render(self.cam)
        self.params = self._map_parameters()
        s = self.cam.design.sensor
        n = int(min(self.spec.size_px, s.width_px, s.height_px)) // 4 * 4
        x0 = (s.width_px - n) // 2 // 4 * 4
        y0 = (s.height_px - n) // 2 // 4 * 4
        self.window = (x0, y0, n, n)
        kw = {"seed": 0} if self.spec.scene == "dead-leaves" else {}
        self.scene = self.cam.chart(self.spec.scene, lux=self.spec.lux, spectral=False, **kw)
        self.seeds = list(range(1, self.spec.frames + 1))
        self.ideal = self._ideal()
        self.evaluations = 0

    # ------------------------------------------------------------------ parameters
    def _map_parameters(self) -> list[TunedParameter]:
        named = dict(self.model.named_parameters())
        out, bad = [], []
        for name, spec in self.space.parameters.items():
            if spec.type != "float":
                bad.append(f"{name} ({spec.type})")
                continue
            if name == _DEFOCUS:
                out.append(TunedParameter(name, "cam.lens.zernike_um", spec.low, spec.high, spec.log))
                continue
            if name.startswith("isp."):
                parts = name.split(".")
                target = "cam.isp.stages." + ".".join(parts[1:])
            elif name.startswith(("lens.", "sensor.")):
                target = "cam." + name
            elif name in ("f_number", "transmission"):
                target = "cam.lens." + name
            else:
                target = ""
            if target not in named:
                bad.append(name)
                continue
            out.append(TunedParameter(name, target, spec.low, spec.high, spec.log))
        if bad:
            diff = sorted(k[4:].replace("isp.stages.", "isp.") for k in named if k.startswith("cam.isp.stages"))
            raise ConfigError(
                f"gradient method: parameter(s) {', '.join(bad)} are not differentiable camera tensors; use "
                f"{_DEFOCUS}, f_number, lens.*/sensor.* tensors or ISP tensors of the base design "
                f"({', '.join(diff) or 'no enabled ISP stage has tensors'})")
        return out

    def initial_phi(self) -> torch.Tensor:
        """The start point: the base design's values (defocus shift 0), clamped into the boxes."""
        named = dict(self.model.named_parameters())
        vals = []
        for p in self.params:
            if p.name == _DEFOCUS:
                v = 0.0
            else:
                v = float(named[p.target].detach().reshape(-1)[0])
            vals.append(p.phi(v))
        return torch.tensor(vals, dtype=torch.float64)

    def values(self, phi: torch.Tensor) -> dict[str, float]:
        return {p.name: float(p.value(phi[i])) for i, p in enumerate(self.params)}

    def phi_of(self, values: dict[str, float]) -> torch.Tensor:
        return torch.tensor([p.phi(values[p.name]) for p in self.params], dtype=torch.float64)

    def _substitutions(self, phi: torch.Tensor) -> dict[str, torch.Tensor]:
        named = dict(self.model.named_parameters())
        subs: dict[str, torch.Tensor] = {}
        from camforge.optics.zernike import NAMES

        for i, p in enumerate(self.params):
            v = p.value(phi[i])
            base = named[p.target]
            if p.name == _DEFOCUS:
                col = NAMES.index("defocus")
                mask = torch.zeros_like(base)
                mask[:, col] = 1.0
                subs[p.target] = base.detach() + mask * v.to(base.dtype)
            else:
                subs[p.target] = v.to(base.dtype).reshape(base.shape)
        return subs

    # ------------------------------------------------------------------ the loss
    def _ideal(self) -> torch.Tensor:
        from camforge.isp import IspConfig, Pipeline

        cam = self.cam
        with torch.no_grad():
            e = cam.electron_rate(self.scene, window=self.window, psf=False)
            t, gain = cam.auto_exposure(e)
            raw = cam.capture(self.scene, exposure_s=t, analog_gain=gain, noise=False, quantize=False,
                              window=self.window, e_rate=e)
            cfg = IspConfig.from_design_section(cam.design.isp).model_dump()
            cfg["sharpen"]["enable"] = False
            cfg["denoise"]["enable"] = False
            return Pipeline(cfg)(raw).data.detach()

    def __call__(self, phi: torch.Tensor) -> torch.Tensor:
        """The loss (0-d tensor) at unconstrained parameters ``phi`` (differentiable)."""
        from torch.func import functional_call

        from camforge.metrics.reference import ssim

        out = functional_call(self.model, self._substitutions(phi), (self.scene, self.window, self.seeds, None),
                              strict=False, tie_weights=False)
        ref = self.ideal.to(out.dtype).expand_as(out)
        loss = out.new_zeros(())
        if "ssim" in self.spec.loss:
            loss = loss + (1 - ssim(out, ref)).mean()
        if "mse" in self.spec.loss:
            loss = loss + ((out - ref) ** 2).mean() * (100.0 if "ssim" in self.spec.loss else 1.0)
        self.evaluations += 1
        return loss

    def value(self, values: dict[str, float]) -> float:
        """The loss at parameter values (natural units), without gradients."""
        with torch.no_grad():
            return float(self(self.phi_of(values)))


@dataclass
class GradientResult:
    """Loss and parameters after each step; ``wall_s`` is the time since the start."""

    losses: list[float] = field(default_factory=list)
    params: list[dict[str, float]] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)

    @property
    def best(self) -> tuple[float, dict[str, float]]:
        i = int(np.argmin(self.losses))
        return self.losses[i], self.params[i]

    def to_dict(self) -> dict[str, Any]:
        return {"losses": self.losses, "params": self.params, "wall_s": self.wall_s}


def tune_gradient(loss: ImageLoss, steps: int = 50, *, lr: float = 0.15, start: dict[str, float] | None = None,
                  time_limit_s: float | None = None, callback: Callable[[int, float, dict], None] | None = None
                  ) -> GradientResult:
    """Adam on the unconstrained parameters for ``steps`` steps (or ``time_limit_s``)."""
    phi = (loss.phi_of(start) if start else loss.initial_phi()).clone().requires_grad_(True)
    opt = torch.optim.Adam([phi], lr=lr)
    res = GradientResult()
    t0 = time.perf_counter()
    for k in range(steps):
        val = loss(phi)
        opt.zero_grad()
        val.backward()
        v = float(val.detach())
        p = loss.values(phi.detach())
        res.losses.append(v)
        res.params.append(p)
        res.wall_s.append(time.perf_counter() - t0)
        if callback is not None:
            callback(k, v, p)
        if time_limit_s is not None and res.wall_s[-1] >= time_limit_s:
            break
        opt.step()
    return res


def tune_with_bo(loss: ImageLoss, n: int = 50, *, seed: int = 0, time_limit_s: float | None = None,
                 n_startup: int | None = None) -> GradientResult:
    """Minimise the same loss with Optuna's GP sampler (log EI) in the parameters' boxes."""
    import optuna

    import warnings

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup or 2 * len(loss.params) + 2,
                                            deterministic_objective=True)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = {p.name: optuna.distributions.FloatDistribution(p.low, p.high, log=p.log) for p in loss.params}
    start = {p.name: v for p, v in zip(loss.params, loss.values(loss.initial_phi()).values())}
    study.enqueue_trial(start)
    res = GradientResult()
    t0 = time.perf_counter()
    for _ in range(n):
        trial = study.ask(dists)
        v = loss.value(dict(trial.params))
        study.tell(trial, v)
        res.losses.append(v)
        res.params.append(dict(trial.params))
        res.wall_s.append(time.perf_counter() - t0)
        if time_limit_s is not None and res.wall_s[-1] >= time_limit_s:
            break
    return res


def run_gradient_study(space, budget: int = 50, *, storage=None, study_name: str | None = None, out=None,
                       seed: int = 0, lr: float = 0.15, progress: Callable[[int, int], None] | None = None):
    """Gradient descent on the space's image loss, every step a trial of an Optuna study
    (objective ``image_loss``, minimised); a resumed study continues from its last step."""
    import optuna

    from camforge.design.study import _open_storage, storage_url

    if not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"budget must be a positive number of steps, got {budget!r}")
    torch.manual_seed(seed)
    loss = ImageLoss(space)
    url = storage_url(storage, out)
    name = study_name or f"{loss.space.name}-gradient-s{seed}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=_open_storage(url), direction="minimize",
                                load_if_exists=True)
    meta = {"space": loss.space.name, "method": "gradient", "seed": seed, "objective": "image_loss",
            "image_loss": loss.spec.model_dump()}
    old = study.user_attrs.get("camforge")
    if old is None:
        study.set_user_attr("camforge", meta)
    elif old.get("method") != "gradient" or old.get("space") != meta["space"]:
        raise ConfigError(f"study {name!r} in {url} is not a gradient study of {meta['space']!r}; give another name")
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    start = dict(done[-1].params) if done else None
    dists = {p.name: optuna.distributions.FloatDistribution(p.low, p.high, log=p.log) for p in loss.params}
    remaining = budget - len(done)

    def record(k, v, p):
        study.add_trial(optuna.trial.create_trial(params=p, distributions=dists, value=v,
                                                  user_attrs={"step": len(done) + k}))
        if progress is not None:
            progress(len(done) + k + 1, budget)

    res = tune_gradient(loss, remaining, lr=lr, start=start, callback=record) if remaining > 0 else GradientResult()
    prev = GradientResult([t.value for t in done], [dict(t.params) for t in done], [0.0] * len(done))
    full = GradientResult(prev.losses + res.losses, prev.params + res.params, prev.wall_s + res.wall_s)
    if out is not None:
        from camforge.design.report import write_gradient_report

        write_gradient_report(full, loss, out)
    return full, url, name


__all__ = ["GradientResult", "ImageLoss", "TunedParameter", "run_gradient_study", "tune_gradient", "tune_with_bo"]
