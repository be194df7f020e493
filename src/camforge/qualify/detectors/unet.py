"""Supervised segmentation of area defects with a small U-Net trained on simulated defects.

:class:`UNetDetector` (``unet``) learns ``z-map → defect probability``. By default its
training data are made from the good modules it is given: each is copied with 0–2 area
defects (dust, particle, scratch, shading anomaly, contamination glare) rendered by the
blemish physics of :mod:`camforge.qualify.simulate` / :mod:`camforge.qualify.blemish` and
applied to the black-subtracted raw signal (shadows multiply it, glare adds to it) before
the usual flat-field normalisation — so it sees exactly what a real defect would produce.
The masks are the defects' half-maximum regions. Loss: binary cross-entropy + soft Dice, on
random crops (``crop`` map px); augmentation: flips. The image score is the mean of the ``topk_px`` highest
values of the (Gaussian smoothed, σ = 1 map px) probability map. Threshold from good modules only.
Its z-maps are made against the golden reference of the good modules it is fitted on, in units
of the local photon-transfer noise (``shading="reference"``, ``noise="local"``; see
:mod:`camforge.qualify.flatfield`), which the injected training defects see too.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from camforge.errors import InputError
from camforge.qualify.detectors.base import Detector, deterministic, register
from camforge.qualify.detectors.nets import UNet
from camforge.qualify.flatfield import AnalysisMap, as_raw, black_subtracted, downsample_mask
from camforge.types import Raw


def inject_area_defects(raw: Raw, rng: np.random.Generator, kinds: list[str], *, pitch_um: float = 3.0,
                        f_number: float = 2.0, config=None) -> tuple[Raw, np.ndarray, list[dict]]:
    """A copy of flat field ``raw`` with area defects of ``kinds`` injected: ``(raw, mask, infos)``."""
    from camforge.qualify.simulate import area_defect

    sig = black_subtracted(raw).astype(np.float64)
    H, W = sig.shape
    mask = np.zeros((H, W), bool)
    infos = []
    for k in kinds:
        eff = area_defect(k, rng, H, W, pitch_um, f_number, config)
        if eff["transmission"] is not None:
            sig = sig * eff["transmission"]
        if eff["glare"] is not None:
            sig = sig + eff["glare"] * sig.mean()
        mask |= eff["mask"]
        infos.append(eff["info"])
    black_map = raw.data[0, 0].numpy().astype(np.float64) - black_subtracted(raw)
    out = np.clip(np.round(sig + black_map), 0, raw.meta.white_level_dn).astype(np.float32)
    return Raw(torch.from_numpy(out)[None, None], raw.meta), mask, infos


@register
class UNetDetector(Detector):
    kind = "unet"
    covers = ("dust", "particle", "scratch", "shading", "contamination")
    defaults = {"bin": 1, "degree": 4, "shading": "reference", "noise": "local", "width": 12, "steps": 400, "batch": 8, "crop": 48,
                "samples_per_module": 4, "defect_fraction": 0.7, "lr": 3e-3, "seed": 0, "threads": None,
                "topk_px": 256, "pitch_um": None, "f_number": 2.0, "dust_contrast": [0.004, 0.3], "scratch_contrast": [0.008, 0.15],
                "kinds": ["dust", "particle", "scratch", "shading", "contamination"]}

    def __init__(self, **params):
        super().__init__(**params)
        self.net: UNet | None = None

    def fit(self, normal_images, *, target_frr: float = 0.01, calibration=None, progress=None,
            defective=None, masks=None, **kwargs):
        """Train on good modules with injected defects (and on ``defective`` frames with their
        full-resolution ``masks`` when given), then calibrate the threshold on good modules."""
        fit_set, cal_set = self._split([as_raw(x) for x in normal_images], calibration)
        self._train(fit_set, defective or [], masks or [], progress)
        self.fitted = True
        self.calibrate(cal_set, target_frr=target_frr)
        return self

    def make_training_set(self, normal: list[Raw], defective, masks) -> tuple[np.ndarray, np.ndarray]:
        from camforge.qualify.simulate import DefectsConfig

        p = self.params
        rng = np.random.default_rng(p["seed"])
        kinds = list(p["kinds"])
        dc = DefectsConfig(dust_contrast=tuple(p["dust_contrast"]), scratch_contrast=tuple(p["scratch_contrast"]))
        xs, ys = [], []
        for raw in normal:
            pitch = p["pitch_um"] or raw.meta.pixel_pitch_um or 3.0
            for _ in range(int(p["samples_per_module"])):
                if rng.random() < p["defect_fraction"]:
                    n = int(rng.integers(1, 3))
                    ks = list(rng.choice(kinds, size=min(n, len(kinds)), replace=False))
                    r2, m, _ = inject_area_defects(raw, rng, ks, pitch_um=pitch, f_number=p["f_number"], config=dc)
                else:
                    r2, m = raw, np.zeros(raw.data.shape[-2:], bool)
                am = self.prepare(r2)
                xs.append(am.z)
                ys.append(downsample_mask(m, am.scale)[: am.z.shape[0], : am.z.shape[1]])
        for raw, m in zip(defective, masks):
            am = self.prepare(as_raw(raw))
            xs.append(am.z)
            ys.append(downsample_mask(np.asarray(m).astype(bool), am.scale)[: am.z.shape[0], : am.z.shape[1]])
        shapes = {x.shape for x in xs}
        if len(shapes) != 1:
            raise InputError(f"unet: training frames must all have one size, got {sorted(shapes)}")
        return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)

    def _train(self, normal, defective, masks, progress):
        p = self.params
        X, Y = self.make_training_set(normal, defective, masks)
        self.info["training_samples"] = int(X.shape[0])
        self.info["training_defective"] = int((Y.reshape(Y.shape[0], -1).max(1) > 0).sum())
        with deterministic(p["seed"], p.get("threads")):
            net = UNet(p["width"])
            opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
            g = torch.Generator().manual_seed(int(p["seed"]))
            Xt, Yt = torch.from_numpy(X)[:, None], torch.from_numpy(Y)[:, None]
            pos = float(Yt.mean())
            pw = torch.tensor(min(20.0, (1 - pos) / max(pos, 1e-4)) ** 0.5)
            losses = []
            steps = int(p["steps"])
            c = int(p["crop"])
            ch, cw = min(c, Xt.shape[-2]), min(c, Xt.shape[-1])
            for step in range(steps):
                idx = torch.randint(0, Xt.shape[0], (int(p["batch"]),), generator=g)
                # random crops: a defect must be found wherever it is, and small crops train faster
                y0 = int(torch.randint(0, Xt.shape[-2] - ch + 1, (1,), generator=g))
                x0 = int(torch.randint(0, Xt.shape[-1] - cw + 1, (1,), generator=g))
                x, y = Xt[idx, :, y0 : y0 + ch, x0 : x0 + cw], Yt[idx, :, y0 : y0 + ch, x0 : x0 + cw]
                flip = torch.randint(0, 4, (1,), generator=g).item()
                if flip & 1:
                    x, y = x.flip(-1), y.flip(-1)
                if flip & 2:
                    x, y = x.flip(-2), y.flip(-2)
                logit = net(x)
                bce = F.binary_cross_entropy_with_logits(logit, y, pos_weight=pw)
                prob = torch.sigmoid(logit)
                dice = 1 - (2 * (prob * y).sum() + 1) / (prob.sum() + y.sum() + 1)
                loss = bce + dice
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                if progress is not None:
                    progress(step + 1, steps)
            net.eval()
        self.net = net
        self.info["loss_last"] = float(np.mean(losses[-20:]))

    def probability(self, am: AnalysisMap) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(am.z, dtype=np.float32))[None, None]
            return torch.sigmoid(self.net(x))[0, 0].numpy()

    def _score_map(self, am: AnalysisMap) -> np.ndarray:
        if self.net is None:
            raise InputError("the unet detector has no network: fit it first")
        return ndimage.gaussian_filter(self.probability(am).astype(np.float64), 1.0, mode="nearest")

    def state_dict(self):
        return {} if self.net is None else {f"net.{k}": v for k, v in self.net.state_dict().items()}

    def load_state_dict(self, state):
        self.net = UNet(self.params["width"])
        self.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        self.net.eval()
