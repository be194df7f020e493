"""Unsupervised detectors on self-trained CNN features, fitted on good modules only.

``patchcore`` — PatchCore-like (Roth et al., "Towards Total Recall in Industrial Anomaly
Detection", CVPR 2022): the locally aware patch features of every good module's z-map form
a memory bank, reduced by greedy k-centre coreset selection (on a random projection); a
patch's anomaly is the distance to its nearest bank entry, the map is smoothed with a
Gaussian (σ = 1 map px) and the image score is the mean of its ``topk_px`` highest values.

``padim`` — PaDiM-like (Defard et al., "PaDiM: a Patch Distribution Modeling Framework
for Anomaly Detection and Localization", ICPR 2021): a Gaussian of the patch features;
the anomaly is the Mahalanobis distance. Because normalised flat fields are statistically
stationary, one Gaussian is shared by all positions (PaDiM fits one per position); what does
vary with position (the frame border, the optical centre) can be removed by standardising
the distance map per position with its mean and spread over the good modules
(``position_norm=True``, the default; frames of one size, ≥ 20 good modules). It was off while
the z-maps came from a per-module shading fit (the per-position spread was too noisy to
help); with the golden-reference shading and the local noise model (``shading="reference"``,
``noise="local"``, the defaults of both detectors, see :mod:`camforge.qualify.flatfield`) it
raised PaDiM's image AUROC on 0.5–2 % dust from 0.91 to 0.94 on the tuning lots. The
covariance is shrunk toward its mean variance (``ridge`` × mean variance added to the
diagonal, default 3): the five nested-box features are nearly collinear, and whitening them
fully amplifies their noisy differences and the halos around strong defects (pooled pixel
AUROC 0.974 with ridge 0.01, 0.986 with 3, 0.988 with 100 on the tuning lots; image AUROC
unchanged).

The features come from :class:`~camforge.qualify.detectors.nets.FeatureNet`, trained by
camforge on its denoising pretext — no downloaded weights, raw float z-maps, any bit depth.
``features="denoised"`` (default) uses the network's own output — its estimate of the smooth
structure under the noise — box-averaged at five scales; ``"encoder"`` the encoder activations
(the earlier default: better on nothing measured, and it varied more with the pretext seed);
``"both"`` their concatenation.
Covers area defects: dust, particles, scratches, shading anomalies, contamination.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from camforge.errors import InputError
from camforge.qualify.detectors.base import Detector, deterministic, register
from camforge.qualify.detectors.nets import FeatureNet, train_feature_net
from camforge.qualify.flatfield import AnalysisMap


FEATURES = ("denoised", "encoder", "both")
#: good modules needed for PaDiM's per-position standardisation: its σ from n modules is
#: uncertain by ~1/√(2n) (16 % at 20); with 6 it flagged clean real frames (tests/test_qualify_real.py)
POSITION_NORM_MIN = 20


def _features(net: FeatureNet, z: np.ndarray, kind: str = "denoised") -> torch.Tensor:
    """Patch features ``[D, h/2, w/2]`` of a z-map: ``denoised`` (the net's output at five box
    scales, D = 5), ``encoder`` (encoder activations, D = 6·width) or ``both``."""
    if kind not in FEATURES:
        raise InputError(f"features {kind!r}: use one of {', '.join(FEATURES)}")
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))[None, None]
        if kind == "denoised":
            return net.denoised_features(x)[0]
        if kind == "encoder":
            return net.features(x)[0]
        return torch.cat([net.features(x), net.denoised_features(x)], 1)[0]


def greedy_coreset(x: torch.Tensor, n: int, *, proj_dim: int = 16, seed: int = 0) -> torch.Tensor:
    """Indices of ``n`` rows of ``x`` chosen by greedy k-centre selection (on a random projection)."""
    N = x.shape[0]
    if n >= N:
        return torch.arange(N)
    g = torch.Generator().manual_seed(seed)
    P = torch.randn((x.shape[1], proj_dim), generator=g) / proj_dim**0.5
    y = (x @ P).contiguous()
    idx = [int(torch.randint(N, (1,), generator=g))]
    d = ((y - y[idx[-1]]) ** 2).sum(1)
    for _ in range(n - 1):
        i = int(torch.argmax(d))
        idx.append(i)
        torch.minimum(d, ((y - y[i]) ** 2).sum(1), out=d)
    return torch.tensor(idx)


class _FeatureDetector(Detector):
    covers = ("dust", "particle", "scratch", "shading", "contamination")

    def __init__(self, **params):
        super().__init__(**params)
        self.net: FeatureNet | None = None

    def _train_net(self, progress=None):
        p = self.params
        with deterministic(p["seed"], p.get("threads")):
            self.net, losses = train_feature_net(width=p["width"], steps=p["pretext_steps"], seed=p["seed"],
                                                 progress=progress)
        self.info["pretext_loss_last"] = float(np.mean(losses[-20:]))

    def _smooth(self, m: torch.Tensor, am: AnalysisMap) -> np.ndarray:
        up = F.interpolate(m[None, None], size=am.z.shape, mode="bilinear", align_corners=False)[0, 0].numpy()
        return ndimage.gaussian_filter(up.astype(np.float64), 1.0, mode="nearest")

    def _base_state(self) -> dict[str, torch.Tensor]:
        if self.net is None:
            return {}
        return {f"net.{k}": v for k, v in self.net.state_dict().items()}

    def _load_net(self, state):
        self.net = FeatureNet(self.params["width"])
        self.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        self.net.eval()


@register
class PatchCoreDetector(_FeatureDetector):
    kind = "patchcore"
    defaults = {"bin": 1, "degree": 4, "shading": "reference", "noise": "local", "width": 16, "pretext_steps": 300, "coreset": 3000, "seed": 0,
                "threads": None, "topk_px": 256, "features": "denoised"}

    def __init__(self, **params):
        super().__init__(**params)
        self.bank: torch.Tensor | None = None

    def _fit(self, maps, progress=None, **kwargs):
        if self.net is None:
            self._train_net(progress)
        feats = [_features(self.net, am.z, self.params["features"]) for am in maps]
        x = torch.cat([f.flatten(1).T for f in feats], 0)
        with deterministic(self.params["seed"], self.params.get("threads")):
            idx = greedy_coreset(x, int(self.params["coreset"]), seed=self.params["seed"])
        self.bank = x[idx].contiguous()
        self.info["bank_size"] = int(self.bank.shape[0])
        self.info["patches_seen"] = int(x.shape[0])

    def _score_map(self, am: AnalysisMap) -> np.ndarray:
        if self.bank is None:
            raise InputError("the patchcore detector has no memory bank: fit it first")
        f = _features(self.net, am.z, self.params["features"])
        D, h, w = f.shape
        q = f.flatten(1).T
        best = torch.empty(q.shape[0])
        for i in range(0, q.shape[0], 4096):
            best[i : i + 4096] = torch.cdist(q[i : i + 4096], self.bank).min(dim=1).values
        return self._smooth(best.reshape(h, w), am)

    def state_dict(self):
        s = self._base_state()
        if self.bank is not None:
            s["bank"] = self.bank
        return s

    def load_state_dict(self, state):
        self._load_net(state)
        self.bank = state.get("bank")


@register
class PadimDetector(_FeatureDetector):
    kind = "padim"
    defaults = {"bin": 1, "degree": 4, "shading": "reference", "noise": "local", "width": 16, "pretext_steps": 300, "seed": 0,
                "threads": None, "ridge": 3.0, "position_norm": True, "topk_px": 256, "features": "denoised"}

    def __init__(self, **params):
        super().__init__(**params)
        self.mean: torch.Tensor | None = None
        self.precision: torch.Tensor | None = None
        self.pos_mean: torch.Tensor | None = None
        self.pos_std: torch.Tensor | None = None

    def _fit(self, maps, progress=None, **kwargs):
        if self.net is None:
            self._train_net(progress)
        x = torch.cat([_features(self.net, am.z, self.params["features"]).flatten(1).T for am in maps], 0).double()
        mu = x.mean(0)
        xc = x - mu
        cov = xc.T @ xc / max(1, x.shape[0] - 1)
        cov += self.params["ridge"] * torch.eye(cov.shape[0], dtype=cov.dtype) * cov.diagonal().mean()
        self.mean = mu.float()
        self.precision = torch.linalg.inv(cov).float()
        # position normalisation: the distance map of good modules, standardised per position
        # (frame borders and the optical centre vary more than the rest); needs one frame size
        shapes = {am.z.shape for am in maps}
        if self.params["position_norm"] and len(shapes) == 1 and len(maps) >= POSITION_NORM_MIN:
            raw = np.stack([self._distance(am) for am in maps])
            self.pos_mean = torch.from_numpy(raw.mean(0)).float()
            self.pos_std = torch.from_numpy(np.maximum(raw.std(0), 0.25 * raw.std())).float()

    def _distance(self, am: AnalysisMap) -> np.ndarray:
        f = _features(self.net, am.z, self.params["features"])
        D, h, w = f.shape
        d = f.flatten(1).T - self.mean
        m = torch.sqrt(torch.clamp(((d @ self.precision) * d).sum(1), min=0))
        return self._smooth(m.reshape(h, w), am)

    def _score_map(self, am: AnalysisMap) -> np.ndarray:
        if self.mean is None:
            raise InputError("the padim detector has no Gaussian: fit it first")
        m = self._distance(am)
        if self.pos_mean is not None and tuple(self.pos_mean.shape) == m.shape:
            m = (m - self.pos_mean.double().numpy()) / self.pos_std.double().numpy()
        return m

    def state_dict(self):
        s = self._base_state()
        if self.mean is not None:
            s["mean"] = self.mean
            s["precision"] = self.precision
        if self.pos_mean is not None:
            s["pos_mean"] = self.pos_mean
            s["pos_std"] = self.pos_std
        return s

    def load_state_dict(self, state):
        self._load_net(state)
        self.mean = state.get("mean")
        self.precision = state.get("precision")
        self.pos_mean = state.get("pos_mean")
        self.pos_std = state.get("pos_std")
