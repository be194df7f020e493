"""Learned joint demosaic + denoise: a small noise-level-aware CNN as an ISP stage.

The stage replaces ``demosaic`` (and the ``denoise`` stage, which should then be disabled):
it takes the black-level-subtracted, white-balanced Bayer mosaic and returns linear camera
RGB. Its input is the mosaic packed into four half-resolution site planes plus four planes
of the noise standard deviation the sensor model predicts at each pixel,

    σ²(y) = g_c² k² σ_0² + g_c k ŷ,    σ_0² = σ_d² + 1 / (12 K²)          [normalised units²]

with ``k = K / (white − black)`` the normalised units per electron (K the system gain in
DN/e⁻, from the raw's metadata), ``σ_d`` the temporal dark noise [e⁻] (``σ_0`` adds the ADC
quantisation, 1/12 DN², referred to the input), ``g_c`` the white
balance gain of the site's colour and ``ŷ ≥ 0`` the local (3 × 3 same-site) mean signal —
the Poisson–Gaussian model of EMVA 1288 Release 4.0, written in the ISP's units (the same
form as the DNG ``NoiseProfile`` tag, σ² = S·x + O).

The network is a three-level U-Net without additive biases (Mohan, Kadkhodaie, Simoncelli
& Fernandez-Granda, "Robust and interpretable blind image denoising via bias-free
convolutional neural networks", ICLR 2020): with ReLU activations it is positively
homogeneous, ``f(a·y, a·σ) = a·f(y, σ)`` for ``a > 0``, so one set of weights serves every
exposure, analog gain and white level — only the signal-to-noise ratio matters. It predicts a
correction to the bilinear demosaic of its input (Gharbi, Chaurasia, Paris & Durand, "Deep
joint demosaicking and denoising", SIGGRAPH Asia 2016 trains the same joint task; the
noise-level map input follows Zhang, Zuo & Zhang, "FFDNet", IEEE TIP 27(9), 2018, and
Brooks et al., "Unprocessing images for learned raw denoising", CVPR 2019).

Weights are produced by camforge from simulated data (``camforge tasks train-isp``,
:func:`camforge.tasks.train_learned_demosaic`): clean images are mosaicked and passed
through the camera's own :class:`~camforge.sensor.Sensor` (Poisson shot noise, read noise,
ADC) at many illuminance and gain levels. Small default weights ship in
``camforge/data/weights/learned_demosaic`` with the command that recreates them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camforge.cfa import BAYER_PATTERNS, normalize_cfa
from camforge.errors import ConfigError, FormatError, InputError
from camforge.isp._common import check_mosaic, pack, pad_replicate, unpack
from camforge.isp._state import IspState, Stage
from camforge.isp.demosaic import _linear_weights

#: Folder of the shipped weights (``config.json`` + ``weights.npz``).
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "weights" / "learned_demosaic"

#: Shift (rows, cols) that brings each Bayer layout to RGGB phase (the network's layout).
_SHIFT = {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}


# ---------------------------------------------------------------------------- noise model


@dataclass(frozen=True)
class NoiseModel:
    """Poisson–Gaussian noise of a normalised raw frame (EMVA 1288 linear model).

    Attributes:
        k_per_e: normalised units per electron, ``K / (white − black)`` (K in DN/e⁻ incl.
            analog gain).
        dark_noise_e: signal-independent noise σ_0 [e⁻]: temporal dark noise σ_d (read,
            row and ADC noise, dark shot noise) and ADC quantisation, σ_0² = σ_d² + 1/(12 K²).
    """

    k_per_e: float
    dark_noise_e: float

    def __post_init__(self):
        if not (math.isfinite(self.k_per_e) and self.k_per_e > 0):
            raise InputError(f"noise model needs k_per_e > 0 (normalised units per electron), got {self.k_per_e}")
        if not (math.isfinite(self.dark_noise_e) and self.dark_noise_e >= 0):
            raise InputError(f"noise model needs dark_noise_e >= 0 [e-], got {self.dark_noise_e}")

    @classmethod
    def from_levels(cls, K_dn_per_e: float, black_dn: float, white_dn: float, dark_noise_e: float) -> NoiseModel:
        """From the system gain K [DN/e⁻], black and white levels [DN] and σ_d [e⁻]
        (quantisation added)."""
        K = float(K_dn_per_e)
        if not (math.isfinite(K) and K > 0):
            raise InputError(f"system gain K must be > 0 DN/e-, got {K_dn_per_e}")
        rng = float(white_dn) - float(black_dn)
        if rng <= 0:
            raise InputError(f"white level {white_dn} DN must be above the black level {black_dn} DN")
        return cls(K / rng, math.sqrt(float(dark_noise_e) ** 2 + 1.0 / (12.0 * K * K)))

    @classmethod
    def from_sensor(cls, sensor, exposure_s: float, analog_gain: float | None = None) -> NoiseModel:
        """The model of a :class:`camforge.sensor.Sensor` at an exposure and analog gain."""
        K = float(sensor.system_gain(analog_gain).detach())
        return cls.from_levels(K, float(sensor.black_level_dn.detach()), float(sensor.white_level_dn),
                               sensor.temporal_dark_noise_e(exposure_s, analog_gain))

    def to_dict(self) -> dict[str, float]:
        return {"k_per_e": self.k_per_e, "dark_noise_e": self.dark_noise_e}


def _box3(x: torch.Tensor) -> torch.Tensor:
    """3 × 3 mean with edge replication, same size (last two axes)."""
    p = pad_replicate(x, 1)
    H, W = x.shape[-2:]
    r = p[..., :, 0:W] + p[..., :, 1 : W + 1] + p[..., :, 2 : W + 2]
    return (r[..., 0:H, :] + r[..., 1 : H + 1, :] + r[..., 2 : H + 2, :]) * (1.0 / 9.0)


def noise_sigma_planes(planes: torch.Tensor, gains: torch.Tensor, k_per_e, dark_noise_e) -> torch.Tensor:
    """Noise standard deviation of white-balanced packed RGGB planes ``[B, 4, h, w]``.

    Args:
        planes: normalised, white-balanced site planes (R, Gr, Gb, B order).
        gains: white-balance gains ``[B, 3]`` (R, G, B) already applied to ``planes``.
        k_per_e: normalised units per electron (float or ``[B]`` tensor).
        dark_noise_e: signal-independent noise σ_0 [e⁻] (float or ``[B]`` tensor).

    Returns ``[B, 4, h, w]``: σ = √(g² k² σ_0² + g k ŷ), ŷ the 3 × 3 same-site mean
    clipped at 0. Homogeneous: scaling ``planes`` and ``k_per_e`` by ``a`` scales σ by ``a``.
    """
    B = planes.shape[0]
    dt = planes.dtype
    g = gains.to(dt).reshape(B, 3)[:, [0, 1, 1, 2]].reshape(B, 4, 1, 1)
    k = torch.as_tensor(k_per_e, dtype=dt).reshape(-1, 1, 1, 1)
    d = torch.as_tensor(dark_noise_e, dtype=dt).reshape(-1, 1, 1, 1)
    mean = torch.clamp(_box3(planes), min=0.0)
    var = g * g * k * k * d * d + g * k * mean
    return torch.sqrt(var)


# ---------------------------------------------------------------------------- network


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=(k // 2 if stride == 1 else 0), bias=False)


class DemosaicNet(nn.Module):
    """Bias-free U-Net: packed RGGB planes + noise σ planes ``[B, 8, h, w]`` → RGB ``[B, 3, 2h, 2w]``.

    ``widths`` are the channel counts of the levels (half, quarter, eighth resolution of the
    full frame); each level has two 3 × 3 convolutions with ReLU; downsampling is a 2 × 2
    stride-2 convolution, upsampling a 2 × 2 stride-2 transposed convolution added to the
    skip connection. The last convolution gives 12 planes (3 colours × 4 sites) that correct
    the bilinear demosaic of the input. Positively homogeneous of degree 1 (no biases, ReLU).
    Input sides must be multiples of ``2^(levels − 1)`` (the stage pads).
    """

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96)):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 1 or min(widths) < 1:
            raise ConfigError(f"DemosaicNet widths must be positive channel counts, got {widths}")
        self.widths = widths
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        cin = 8
        for i, w in enumerate(widths):
            self.enc.append(nn.Sequential(_conv(cin, w), nn.ReLU(), _conv(w, w), nn.ReLU()))
            if i + 1 < len(widths):
                self.down.append(_conv(w, widths[i + 1], 2, 2))
            cin = widths[i + 1] if i + 1 < len(widths) else w
        for i in range(len(widths) - 1, 0, -1):
            self.up.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2, bias=False))
            self.dec.append(nn.Sequential(_conv(widths[i - 1], widths[i - 1]), nn.ReLU(),
                                          _conv(widths[i - 1], widths[i - 1]), nn.ReLU()))
        self.head = _conv(widths[0], 12)

    @property
    def multiple(self) -> int:
        """Plane sides must be multiples of this."""
        return 2 ** (len(self.widths) - 1)

    def radius_planes(self) -> int:
        """Receptive-field radius [half-resolution plane pixels] (an upper bound)."""
        r, scale = 0, 1
        for i in range(len(self.widths)):
            r += 2 * scale  # two 3x3 convs at this level
            if i + 1 < len(self.widths):
                r += scale  # 2x2 stride-2 conv
                scale *= 2
        for i in range(len(self.widths) - 1):
            scale //= 2
            r += scale + 2 * scale  # transposed conv + two convs on the way up
        return r + 1 + 1  # head + bilinear residual

    def forward(self, planes: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        x = torch.cat([planes, sigma], 1)
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x)
            if i + 1 < len(self.enc):
                skips.append(x)
                x = self.down[i](x)
        for up, dec in zip(self.up, self.dec):
            x = dec(up(x) + skips.pop())
        y = self.head(x)  # [B, 12, h, w]: colour-major, then site
        base = F.conv2d(pad_replicate(planes, 1), _linear_weights("RGGB", "bilinear").to(planes.dtype))
        y = y + base
        B, _, h, w = y.shape
        return unpack(y.reshape(B, 3, 4, h, w), 2)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ---------------------------------------------------------------------------- weights


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the parameter names, shapes and float32 bytes (identity of a model)."""
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k].detach().to(torch.float32).contiguous().numpy()
        h.update(k.encode())
        h.update(str(v.shape).encode())
        h.update(v.tobytes())
    return h.hexdigest()


def save_model(net: nn.Module, folder: str | Path, config: dict[str, Any], *, dtype: str = "float32") -> Path:
    """Write ``weights.npz`` and ``config.json`` into ``folder`` (atomically, each file).

    ``dtype="float16"`` halves the file (the shipped weights); ``config`` is stored with the
    digest of the weights as saved.
    """
    from camforge.io.atomic import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np_dtype = {"float32": np.float32, "float16": np.float16}.get(dtype)
    if np_dtype is None:
        raise InputError(f"weights dtype must be float32 or float16, got {dtype!r}")
    arrays = {k: v.detach().cpu().numpy().astype(np_dtype) for k, v in net.state_dict().items()}
    stored = {k: torch.from_numpy(a.astype(np.float32)) for k, a in arrays.items()}
    cfg = {**config, "weights_dtype": dtype, "weights_sha256": weights_digest(stored)}
    with atomic_path(folder / "weights.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    with atomic_path(folder / "config.json") as tmp:
        Path(tmp).write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return folder


def load_arrays(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, config)`` from a weights folder (``config.json`` + ``weights.npz``)."""
    folder = Path(folder)
    cfg_path, w_path = folder / "config.json", folder / "weights.npz"
    for p in (cfg_path, w_path):
        if not p.is_file():
            raise FormatError(f"model folder {folder} has no {p.name}; create it with the training command")
    try:
        cfg = json.loads(cfg_path.read_text())
        with np.load(w_path, allow_pickle=False) as z:
            state = {k: torch.from_numpy(np.asarray(z[k], dtype=np.float32)) for k in z.files}
    except (OSError, ValueError) as e:
        raise FormatError(f"cannot read model in {folder}: {e}") from e
    want = cfg.get("weights_sha256")
    if want and weights_digest(state) != want:
        raise FormatError(f"weights in {folder} do not match the digest in its config.json (corrupt or edited file)")
    return state, cfg


def load_demosaic_net(folder: str | Path | None = None) -> tuple[DemosaicNet, dict[str, Any]]:
    """The network and its config from ``folder`` (default: the shipped weights)."""
    folder = DEFAULT_WEIGHTS if folder is None else Path(folder)
    state, cfg = load_arrays(folder)
    if cfg.get("model") != "DemosaicNet":
        raise FormatError(f"{folder} holds a {cfg.get('model')!r} model, not a learned demosaic (DemosaicNet)")
    net = DemosaicNet(tuple(cfg["widths"]))
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise FormatError(f"weights in {folder} do not fit DemosaicNet{tuple(cfg['widths'])}: {e}") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net, cfg


# ---------------------------------------------------------------------------- functional form


def _aligned_run(net: DemosaicNet, planes: torch.Tensor, sigma: torch.Tensor, origin: tuple[int, int]) -> torch.Tensor:
    """Run ``net`` on planes whose top-left is at plane position ``origin`` of the full frame,
    padding so the network's downsampling grid is the full frame's (tiles give the same result)."""
    m = net.multiple
    h, w = planes.shape[-2:]
    top, left = origin[0] % m, origin[1] % m
    bottom = (-(top + h)) % m
    right = (-(left + w)) % m
    if top or left or bottom or right:
        pad = (left, right, top, bottom)
        planes = F.pad(planes, pad, mode="replicate")
        sigma = F.pad(sigma, pad, mode="replicate")
    out = net(planes, sigma)
    return out[..., 2 * top : 2 * (top + h), 2 * left : 2 * (left + w)]


def learned_demosaic(
    x: torch.Tensor,
    cfa: str = "RGGB",
    *,
    noise: NoiseModel,
    gains=(1.0, 1.0, 1.0),
    net: DemosaicNet | None = None,
    origin: tuple[int, int] = (0, 0),
    band_rows: int | None = 256,
) -> torch.Tensor:
    """Joint demosaic + denoise of a normalised, white-balanced Bayer mosaic ``[B, 1, H, W]``.

    Args:
        cfa: ``RGGB``, ``BGGR``, ``GRBG`` or ``GBRG``.
        noise: the frame's :class:`NoiseModel` (normalised units per electron, σ_d).
        gains: white-balance gains (R, G, B) already applied to ``x`` (``[3]`` or ``[B, 3]``).
        net: the network (default: the shipped weights).
        origin: (row, col) of ``x`` in the full frame (for tiles).
        band_rows: process in bands of this many output rows (bounded memory); ``None``: at once.

    Returns linear camera RGB ``[B, 3, H, W]`` in the units of ``x``.
    """
    cfa = normalize_cfa(cfa)
    if cfa not in BAYER_PATTERNS:
        raise InputError(f"the learned demosaic supports the Bayer patterns {', '.join(BAYER_PATTERNS)}, not {cfa}")
    x = check_mosaic(x, cfa)
    if net is None:
        net = _default_net()
    B = x.shape[0]
    g = torch.as_tensor(gains, dtype=x.dtype).reshape(-1, 3).expand(B, 3)
    dy, dx = _SHIFT[cfa]
    H, W = x.shape[-2:]
    # bring the mosaic to RGGB phase: mirror one row / column in front (keeps the CFA colours)
    xs = F.pad(x, (dx, dx, dy, dy), mode="reflect") if (dx or dy) else x
    if xs.shape[-2] % 2 or xs.shape[-1] % 2:  # pragma: no cover - shapes are even by construction
        raise InputError("internal: shifted mosaic is not on the CFA tile")
    planes = pack(xs, 2)
    sigma = noise_sigma_planes(planes, g, noise.k_per_e, noise.dark_noise_e)
    o = ((origin[0] - dy) // 2, (origin[1] - dx) // 2)
    h = planes.shape[-2]
    if band_rows is None or h <= band_rows // 2:
        out = _aligned_run(net, planes, sigma, o)
    else:
        m = net.multiple
        halo = -(-net.radius_planes() // m) * m + m
        step = max(m, (band_rows // 2) // m * m)
        parts = []
        for r0 in range(0, h, step):
            r1 = min(h, r0 + step)
            a, b = max(0, r0 - halo), min(h, r1 + halo)
            y = _aligned_run(net, planes[..., a:b, :], sigma[..., a:b, :], (o[0] + a, o[1]))
            parts.append(y[..., 2 * (r0 - a) : 2 * (r1 - a), :])
        out = torch.cat(parts, -2)
    return out[..., dy : dy + H, dx : dx + W]


_NET_CACHE: dict[str, DemosaicNet] = {}


def _default_net() -> DemosaicNet:
    key = str(DEFAULT_WEIGHTS)
    if key not in _NET_CACHE:
        _NET_CACHE[key] = load_demosaic_net(DEFAULT_WEIGHTS)[0]
    return _NET_CACHE[key]


# ---------------------------------------------------------------------------- stage


class LearnedDemosaic(Stage):
    """ISP stage: learned joint demosaic + denoise (functional twin: :func:`learned_demosaic`).

    Select it in an ISP config with ``demosaic.method: learned`` (optional
    ``demosaic.weights``: a folder written by ``camforge tasks train-isp``; default the shipped
    weights) and leave ``denoise`` disabled. The noise model comes from the raw's metadata:
    ``conversion_gain_dn_per_e`` (system gain K incl. analog gain) and the white and black
    levels; the temporal dark noise σ_d from ``meta.extra["dark_noise_e"]`` when the frame
    carries it, else ``dark_noise_e`` (default 2 e⁻). Frames without K (most real raws) need
    ``conversion_gain_dn_per_e``. The network weights are frozen parameters (call
    ``requires_grad_()`` on them to fine-tune); the stage passes gradients to its input.
    """

    name = "demosaic"

    def __init__(self, weights: str | Path | None = None, dark_noise_e: float | None = None,
                 conversion_gain_dn_per_e: float | None = None):
        super().__init__()
        if weights is None:
            self.net = _default_net()
            self.weights_path = str(DEFAULT_WEIGHTS)
        else:
            self.net = load_demosaic_net(weights)[0]
            self.weights_path = str(weights)
        self.dark_noise_e = None if dark_noise_e is None else float(dark_noise_e)
        self.conversion_gain_dn_per_e = None if conversion_gain_dn_per_e is None else float(conversion_gain_dn_per_e)

    def radius(self, cfa: str) -> int:
        m = self.net.multiple
        return 2 * (self.net.radius_planes() + m) + 2

    def noise_model(self, state: IspState) -> NoiseModel:
        meta = state.meta
        K = self.conversion_gain_dn_per_e or meta.conversion_gain_dn_per_e
        if K is None:
            raise InputError(
                "the learned demosaic needs the system gain K [DN/e-]: this raw has no conversion_gain_dn_per_e; "
                "set demosaic.conversion_gain_dn_per_e (e.g. from an EMVA 1288 characterization)"
            )
        d = meta.extra.get("dark_noise_e") if isinstance(meta.extra, dict) else None
        if d is None:
            d = self.dark_noise_e if self.dark_noise_e is not None else 2.0
        return NoiseModel.from_levels(float(K), float(np.mean(meta.black_level_dn)), float(meta.white_level_dn),
                                      float(d))

    def run(self, state: IspState) -> IspState:
        if state.domain != "raw":
            raise InputError(f"demosaic needs a raw mosaic, got an image in {state.domain}")
        if state.meta.cfa == "MONO":
            return state.replace(data=state.data, domain="mono")
        if state.meta.cfa not in BAYER_PATTERNS:
            raise InputError(
                f"the learned demosaic supports Bayer CFAs ({', '.join(BAYER_PATTERNS)}), not {state.meta.cfa}"
            )
        noise = self.noise_model(state)
        if not state.normalized:
            raise InputError("the learned demosaic needs a normalised mosaic (enable black_level)")
        B = state.data.shape[0]
        g = state.stats.get("awb_gains")
        g = torch.ones(B, 3, dtype=state.data.dtype) if g is None else torch.as_tensor(g).reshape(-1, 3).expand(B, 3)
        x = unpack(state.data, 2)
        y = learned_demosaic(x, state.cfa, noise=noise, gains=g, net=self.net, origin=state.origin)
        return state.replace(data=y, domain="camera")

    def extra_repr(self) -> str:
        return f"learned, weights={self.weights_path}"


__all__ = [
    "DEFAULT_WEIGHTS", "DemosaicNet", "LearnedDemosaic", "NoiseModel", "learned_demosaic", "load_demosaic_net",
    "noise_sigma_planes", "save_model", "load_arrays", "weights_digest",
]
