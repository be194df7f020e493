"""Small CNNs camforge trains itself (no downloaded weights).

:class:`FeatureNet` — the feature extractor of the unsupervised detectors. It is trained by
a self-supervised *denoising pretext* in the flat-field z domain: inputs are white noise
N(0, 1) (what a clean, normalised flat looks like) plus random smooth structure (Gaussian
random fields with random correlation lengths of 1–16 map pixels and amplitudes up to
3 σ), targets the structure alone. To denoise it the network learns multi-scale smoothing
and band-pass filters — matched filters for shadows of any size — without ever seeing a
defect or a label. Its encoder activations at ½ and ¼ resolution are the features.

:class:`UNet` — a small U-Net (three levels) for supervised segmentation.

Both are deterministic for a seed (see :func:`camforge.qualify.detectors.base.deterministic`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True))


class FeatureNet(nn.Module):
    """Three-level conv encoder with a light decoder for the denoising pretext."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = int(width)
        self.width = w
        self.enc1 = _block(1, w)
        self.enc2 = _block(w, 2 * w)
        self.enc3 = _block(2 * w, 2 * w)
        self.dec2 = nn.Sequential(nn.Conv2d(4 * w, 2 * w, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True))
        self.dec1 = nn.Sequential(nn.Conv2d(3 * w, w, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(w, 1, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e1 = self.enc1(x)
        e2 = self.enc2(F.avg_pool2d(e1, 2))
        e3 = self.enc3(F.avg_pool2d(e2, 2))
        return e1, e2, e3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1, e2, e3 = self.encode(x)
        d2 = self.dec2(torch.cat([e2, F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False)], 1))
        d1 = self.dec1(torch.cat([e1, F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False)], 1))
        return self.out(d1)

    #: box sizes (in ½-resolution map pixels) of :meth:`denoised_features`
    DENOISED_SCALES = (3, 5, 9, 15, 25)

    def denoised_features(self, x: torch.Tensor) -> torch.Tensor:
        """Patch features ``[B, 5, h/2, w/2]``: the network's own output — its estimate of the
        smooth structure under the noise, what the pretext trains directly — at ½ resolution,
        box-averaged over 3, 5, 9, 15 and 25 map pixels (a learned multi-scale matched filter
        for shadows of every size). Steadier across pretext seeds than the encoder activations
        (``bench/study_qualify_features.py``)."""
        d2 = F.avg_pool2d(self.forward(x), 2)
        return torch.cat([F.avg_pool2d(d2, k, stride=1, padding=k // 2, count_include_pad=False)
                          for k in self.DENOISED_SCALES], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Patch features ``[B, 6w, h/2, w/2]``: encoder levels 2 and 3 (and level 3 pooled over
        5×5 for wide shadows) at ½ resolution, locally averaged over 3×3 (PatchCore's
        locally aware patch features)."""
        _, e2, e3 = self.encode(x)
        size = e2.shape[-2:]
        up3 = F.interpolate(e3, size=size, mode="bilinear", align_corners=False)
        wide = F.interpolate(F.avg_pool2d(e3, 5, stride=1, padding=2, count_include_pad=False), size=size,
                             mode="bilinear", align_corners=False)
        f = torch.cat([e2, up3, wide], 1)
        return F.avg_pool2d(f, 3, stride=1, padding=1, count_include_pad=False)


class UNet(nn.Module):
    """Small U-Net: ``[B, 1, h, w]`` z-map → ``[B, 1, h, w]`` defect logits."""

    def __init__(self, width: int = 12):
        super().__init__()
        w = int(width)
        self.width = w
        self.enc1 = _block(1, w)
        self.enc2 = _block(w, 2 * w)
        self.enc3 = _block(2 * w, 4 * w)
        self.dec2 = _block(6 * w, 2 * w)
        self.dec1 = _block(3 * w, w)
        self.out = nn.Conv2d(w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(F.avg_pool2d(e1, 2))
        e3 = self.enc3(F.avg_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([e2, F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False)], 1))
        d1 = self.dec1(torch.cat([e1, F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False)], 1))
        return self.out(d1)


def random_fields(n: int, size: int, generator: torch.Generator, *, min_len: float = 1.0, max_len: float = 16.0,
                  max_amp: float = 3.0) -> torch.Tensor:
    """``n`` Gaussian random fields ``[n, 1, size, size]``, each with a random correlation length
    (log-uniform in ``[min_len, max_len]`` px) and RMS amplitude (uniform in ``[0, max_amp]``)."""
    noise = torch.randn((n, 1, size, size), generator=generator)
    f = torch.fft.fftfreq(size)
    f2 = f[:, None] ** 2 + f[None, :] ** 2
    lens = torch.exp(torch.empty(n).uniform_(math.log(min_len), math.log(max_len), generator=generator))
    H = torch.exp(-2 * math.pi**2 * lens[:, None, None, None] ** 2 * f2[None, None])
    g = torch.fft.ifft2(torch.fft.fft2(noise) * H).real
    g = g / g.flatten(1).std(dim=1).clamp_min(1e-9)[:, None, None, None]
    amp = torch.empty(n).uniform_(0, max_amp, generator=generator)
    return g * amp[:, None, None, None]


def train_feature_net(*, width: int = 16, steps: int = 300, batch: int = 8, size: int = 48, lr: float = 2e-3,
                      seed: int = 0, progress=None) -> tuple[FeatureNet, list[float]]:
    """Train :class:`FeatureNet` on the denoising pretext (see the module notes)."""
    net = FeatureNet(width)
    g = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for step in range(int(steps)):
        clean = random_fields(batch, size, g)
        x = clean + torch.randn(clean.shape, generator=g)
        loss = F.mse_loss(net(x), clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, steps)
    net.eval()
    return net, losses
