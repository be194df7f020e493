"""Training the learned demosaic + denoise stage on the camera's own sensor model.

Clean linear RGB patches (dead leaves and scikit-image's bundled photographs — never the
Kodak test set) are taken as white-balanced camera RGB, divided by white-balance gains of the
sensor under a random standard illuminant, scaled so that white collects ``N_white``
electrons, mosaicked and read out by the design's :class:`~camforge.sensor.Sensor`
(exact Poisson shot noise, PRNU/DSNU, read, row and ADC noise, quantisation and clipping) at a
random analog gain. The network sees what the ISP would give it (black level subtracted,
normalised, white balanced) and learns to return the clean image. The loss is the L1
distance after sRGB encoding of the white-normalised images (errors weighted as a viewer
sees them).

Everything is seeded: the same seed, thread count and torch build give the same weights bit
for bit (:func:`train_learned_demosaic`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from camforge.errors import InputError
from camforge.isp._common import pack
from camforge.isp.learned import DemosaicNet, NoiseModel, noise_sigma_planes, save_model
from camforge.isp.tone import srgb_encode

#: Illuminants the white-balance gains are drawn from.
TRAIN_ILLUMINANTS = ("D65", "D50", "A", "FL2", "D75")


@dataclass(frozen=True)
class LearnedIspTrainConfig:
    """What :func:`train_learned_demosaic` does (all of it is stored with the weights).

    Attributes:
        widths: U-Net channel counts per level.
        steps, batch, patch_px: optimisation steps, patches per step, patch side [px] (even,
            a multiple of ``2^levels``).
        lr: peak Adam learning rate (cosine decay to 0 after a 2 % warm-up).
        white_e: range of electrons collected by a white pixel (log-uniform) [e⁻].
        natural_fraction: share of patches cropped from natural photographs (the rest:
            colour dead leaves).
        n_leaves, leaves_px: number and side of the dead-leaves images patches are cut from.
        seed, threads: determinism (the weights depend on both).
    """

    widths: tuple[int, ...] = (16, 32, 64)
    steps: int = 6000
    batch: int = 16
    patch_px: int = 64
    lr: float = 2e-3
    white_e: tuple[float, float] = (10.0, 2000.0)
    natural_fraction: float = 0.6
    n_leaves: int = 4
    leaves_px: int = 512
    seed: int = 0
    threads: int = 2

    def to_dict(self) -> dict[str, Any]:
        return {"widths": list(self.widths), "steps": self.steps, "batch": self.batch, "patch_px": self.patch_px,
                "lr": self.lr, "white_e": list(self.white_e), "natural_fraction": self.natural_fraction,
                "n_leaves": self.n_leaves, "leaves_px": self.leaves_px, "seed": self.seed, "threads": self.threads}


@dataclass(frozen=True)
class LearnedIspTrainResult:
    """Outcome of a training run: where the weights are, their digest, the loss curve."""

    folder: str
    weights_sha256: str
    n_parameters: int
    duration_s: float
    loss_curve: tuple[float, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "weights_sha256": self.weights_sha256, "n_parameters": self.n_parameters,
                "duration_s": self.duration_s, "loss_curve": list(self.loss_curve)}


def wb_gains(sensor, illuminant: str) -> torch.Tensor:
    """White-balance gains (R, G, B; G = 1) of ``sensor`` under ``illuminant``: the inverse of
    the camera RGB of a perfect white (DNG AsShotNeutral)."""
    from camforge.spectral import illuminant_irradiance, spectral_grid

    g = spectral_grid()
    E = illuminant_irradiance(illuminant, 1.0, g).double()
    n = sensor.electron_weights(g).detach().double() @ E
    n = n / n[1]
    return (1.0 / n).float()


class RawSimulator:
    """Clean white-balanced RGB patches → (white-balanced normalised planes, σ planes,
    target) through a sensor, for training and for benchmarks.

    ``sensor_config`` is a :class:`~camforge.sensor.SensorConfig` (the design's); the simulator
    reads patches from windows of a 512 × 512 copy of it without defect pixels (the ISP's
    defect correction handles those), so the fixed patterns vary between patches.
    """

    def __init__(self, sensor_config, exposure_s: float = 1.0 / 30.0, size_px: int = 512):
        from camforge.sensor import Sensor

        cfg = sensor_config.model_copy(update={"width_px": max(size_px, 2), "height_px": max(size_px, 2),
                                               "cfa": "RGGB", "defects": type(sensor_config.defects)()})
        self.sensor = Sensor(cfg)
        self.exposure_s = float(exposure_s)
        self.size_px = size_px
        self.gains = {ill: wb_gains(self.sensor, ill) for ill in TRAIN_ILLUMINANTS}

    def noise_model(self, analog_gain: float) -> NoiseModel:
        return NoiseModel.from_sensor(self.sensor, self.exposure_s, analog_gain)

    def simulate(self, clean: torch.Tensor, white_e, analog_gain: float, gains: torch.Tensor, seed: int,
                 origin: tuple[int, int] = (0, 0)):
        """Clean patches ``clean`` ``[3, H, W]`` or ``[B, 3, H, W]`` (white = 1) → ``(planes
        [(B,) 4, h, w], sigma [(B,) 4, h, w], target [(B,) 3, H, W], scale [(B)])``.

        ``white_e`` (electrons of a white pixel) and ``gains`` (white-balance gains [3] or
        [B, 3]) may differ per patch; ``analog_gain`` and the sensor window ``origin`` are
        shared. ``planes`` and ``target`` are in the ISP's normalised units (black 0, clip
        1); ``scale`` is the normalised value of white (divide by it to get white = 1).
        """
        single = clean.ndim == 3
        c = clean[None] if single else clean
        B = c.shape[0]
        s = self.sensor
        nm = self.noise_model(analog_gain)
        e_white = torch.as_tensor(white_e, dtype=torch.float32).reshape(-1).expand(B)
        g = torch.as_tensor(gains, dtype=torch.float32).reshape(-1, 3).expand(B, 3)
        rate = c / g.reshape(B, 3, 1, 1) * (e_white / self.exposure_s).reshape(B, 1, 1, 1)
        raw = s(rate, self.exposure_s, analog_gain=analog_gain, seed=seed, window=origin)
        black = float(s.black_level_dn.detach())
        y = (raw.data - black) / (float(s.white_level_dn) - black)
        planes = pack(y, 2) * g[:, [0, 1, 1, 2]].reshape(B, 4, 1, 1)
        sigma = noise_sigma_planes(planes, g, nm.k_per_e, nm.dark_noise_e)
        scale = e_white * nm.k_per_e
        target = c * scale.reshape(B, 1, 1, 1)
        if single:
            return planes[0], sigma[0], target[0], float(scale[0])
        return planes, sigma, target, scale

    def batch(self, clean: torch.Tensor, generator: torch.Generator, white_e: tuple[float, float], seed: int,
              max_gain: float | None = None):
        """A training batch from clean patches ``[B, 3, H, W]``: one analog gain (log-uniform
        from 1 to the sensor's maximum) and sensor window per batch; per patch a random
        illuminant (white-balance gains) and white level (log-uniform in ``white_e``, below
        the clip level). Returns ``(planes, sigma, target_white1, scale [B])``."""
        B, _, H, W = clean.shape
        cfg = self.sensor.config
        gmax = float(max_gain or cfg.max_analog_gain)
        u = torch.rand((B + 3,), generator=generator, dtype=torch.float64)
        ills = torch.randint(0, len(TRAIN_ILLUMINANTS), (B,), generator=generator)
        gain = math.exp(float(u[B]) * math.log(gmax))
        k_sys = float(self.sensor.system_gain(gain).detach())
        e_clip = min(float(cfg.full_well_e), (float(cfg.white_level_dn) - float(cfg.black_level_dn)) / k_sys)
        lo, hi = math.log(white_e[0]), math.log(white_e[1])
        e_white = torch.exp(lo + u[:B] * (hi - lo)).clamp(max=0.9 * e_clip).float()
        g = torch.stack([self.gains[TRAIN_ILLUMINANTS[int(i)]] for i in ills])
        ox = int(float(u[B + 1]) * (self.size_px - W)) // 2 * 2
        oy = int(float(u[B + 2]) * (self.size_px - H)) // 2 * 2
        planes, sigma, target, scale = self.simulate(clean, e_white, gain, g, seed, (ox, oy))
        return planes, sigma, target / scale.reshape(B, 1, 1, 1), scale


def _loss(out: torch.Tensor, target_white1: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    o = out / scale.reshape(-1, 1, 1, 1)
    return (srgb_encode(o.clamp(max=1.5)) - srgb_encode(target_white1)).abs().mean()


def train_learned_demosaic(
    out_dir: str | Path,
    *,
    sensor_config=None,
    config: LearnedIspTrainConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
    weights_dtype: str = "float16",
) -> LearnedIspTrainResult:
    """Train :class:`~camforge.isp.learned.DemosaicNet` and write it to ``out_dir``.

    Args:
        sensor_config: the camera's :class:`~camforge.sensor.SensorConfig` (default: the
            1.4 µm phone sensor of ``examples/designs/phone_main_12mp.yaml``, restated here).
        config: :class:`LearnedIspTrainConfig`.
        progress: ``progress(step, steps)``.
        command: the command line that recreated the weights (stored in ``config.json``).
        weights_dtype: ``float16`` (default; half the file, the shipped form) or ``float32``.

    Deterministic: seeds torch (init and sampling) from ``config.seed``, fixes the torch
    thread count to ``config.threads`` and enables deterministic algorithms.
    """
    from camforge.tasks.textures import dead_leaves_images, natural_images, random_crops

    cfg = config or LearnedIspTrainConfig()
    m = 2 ** len(cfg.widths)
    if cfg.patch_px % m:
        raise InputError(f"patch_px must be a multiple of {m} for widths {cfg.widths}, got {cfg.patch_px}")
    if sensor_config is None:
        sensor_config = default_sensor_config()
    t0 = time.perf_counter()
    with _deterministic(cfg.threads):
        torch.manual_seed(cfg.seed)
        net = DemosaicNet(cfg.widths)
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        sim = RawSimulator(sensor_config)
        n_nat = int(round(cfg.batch * cfg.natural_fraction))
        natural = natural_images(2) if n_nat else ()
        leaves = dead_leaves_images(cfg.n_leaves, cfg.leaves_px, seed=cfg.seed, color=True) if n_nat < cfg.batch else ()
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        warm = max(1, cfg.steps // 50)

        def lr_at(step):
            if step < warm:
                return cfg.lr * (step + 1) / warm
            return 0.5 * cfg.lr * (1 + math.cos(math.pi * (step - warm) / max(1, cfg.steps - warm)))

        curve = []
        run = 0.0
        for step in range(cfg.steps):
            parts = []
            if n_nat:
                parts.append(random_crops(natural, n_nat, cfg.patch_px, gen))
            if cfg.batch - n_nat:
                parts.append(random_crops(leaves, cfg.batch - n_nat, cfg.patch_px, gen))
            clean = torch.cat(parts).clamp(0.0, 1.0)
            with torch.no_grad():
                planes, sigma, target, scale = sim.batch(clean, gen, cfg.white_e, seed=cfg.seed * 7_919 + step)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            out = net(planes, sigma)
            loss = _loss(out, target, scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run = float(loss.detach()) if step == 0 else 0.98 * run + 0.02 * float(loss.detach())
            if (step + 1) % max(1, cfg.steps // 50) == 0 or step + 1 == cfg.steps:
                curve.append(run)
            if progress is not None:
                progress(step + 1, cfg.steps)
    duration = time.perf_counter() - t0
    meta = {
        "model": "DemosaicNet",
        "widths": list(cfg.widths),
        "train": cfg.to_dict(),
        "sensor": sensor_config.model_dump(mode="json"),
        "torch": torch.__version__,
        "command": command or f"camforge tasks train-isp --seed {cfg.seed} --steps {cfg.steps} --out DIR",
        "data": "dead leaves (camforge.scene.dead_leaves) + scikit-image bundled photographs; no Kodak image",
        "loss_curve": curve,
        "duration_s": duration,
    }
    save_model(net, out_dir, meta, dtype=weights_dtype)
    from camforge.isp.learned import load_arrays

    _, saved = load_arrays(out_dir)
    return LearnedIspTrainResult(str(out_dir), saved["weights_sha256"], sum(p.numel() for p in net.parameters()),
                                 duration, tuple(curve))


def default_sensor_config():
    """The 1.4 µm phone sensor of ``examples/designs/phone_main_12mp.yaml`` (IMX363 class)."""
    from camforge.sensor import SensorConfig

    return SensorConfig(name="1.4 um BSI phone sensor", width_px=512, height_px=512, pixel_pitch_um=1.4,
                        cfa="RGGB", qe={"peak_qe": 0.78, "epi_thickness_um": 3.0}, full_well_e=6000,
                        read_noise_e=2.0, adc_noise_dn=0.3, dark_current_e_per_s=8.0, dark_current_ref_temp_c=40.0,
                        temperature_c=40.0, dsnu_e=0.6, prnu_pct=0.6, row_noise_e=0.3, adc_bits=10,
                        black_level_dn=64, max_analog_gain=16, exposure_max_s=0.0333, seed=1)


class _deterministic:
    """Context: fixed torch thread count and deterministic algorithms, restored after."""

    def __init__(self, threads: int):
        self.threads = int(threads)

    def __enter__(self):
        self._threads = torch.get_num_threads()
        self._det = torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(True)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self._threads)
        torch.use_deterministic_algorithms(self._det)
        return False
