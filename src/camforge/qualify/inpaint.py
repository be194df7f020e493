"""Repairing defect pixels, clusters and blemishes on the raw mosaic.

* :func:`repair_pixels` — classical defective-pixel correction: each flagged pixel becomes
  the median of the good pixels of its own colour in the surrounding 5×5 same-colour
  window (±2 CFA tiles); pixels with no good neighbour (inside large clusters) are filled
  in further passes from the pixels repaired before.
* :func:`estimate_transmission` / :func:`repair_blemish` — shading-aware blemish repair: a
  dust shadow multiplies the light by a transmission T(x, y) < 1, so the right repair is a
  gain, not an interpolation: T is estimated from the module's own flat field (its relative
  response, smoothed, inside the dilated blemish mask, 1 elsewhere) and any capture of the
  module is divided by it (black level kept).
* :class:`LearnedInpainter` — a small CNN that predicts masked pixels from their
  surroundings, trained self-supervised on clean captures with random masks (pixels,
  clusters, short line segments); input the normalised CFA planes with the mask, output
  the planes; only masked pixels are replaced.

Quality is measured against the clean truth (:func:`repair_error`): the RMS error inside
the mask, in DN, relative to a capture of the same module without the defects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from camforge.errors import FormatError, InputError
from camforge.qualify.flatfield import as_raw, black_subtracted, flat_relative, pack, tile_size, unpack
from camforge.types import Raw


def _with_signal(raw: Raw, sig: np.ndarray) -> Raw:
    black_map = raw.data[0, 0].numpy().astype(np.float64) - black_subtracted(raw)
    H, W = sig.shape
    out = raw.data[0, 0].numpy().astype(np.float64).copy()
    out[:H, :W] = sig + black_map[:H, :W]
    out = np.clip(out, 0, raw.meta.white_level_dn).astype(np.float32)
    return Raw(torch.from_numpy(out)[None, None], raw.meta)


def _check_mask(mask, shape) -> np.ndarray:
    m = np.asarray(mask).astype(bool)
    if m.shape != tuple(shape):
        raise InputError(f"mask is {m.shape} but the frame is {tuple(shape)}")
    return m


def repair_pixels(image, mask, *, radius: int = 2, max_passes: int = 4) -> Raw:
    """Median repair of the pixels flagged in ``mask`` ``[H, W]`` (same-colour neighbours)."""
    raw = as_raw(image)
    H, W = raw.data.shape[-2:]
    m = _check_mask(mask, (H, W))
    n = tile_size(raw.meta.cfa)
    sig = black_subtracted(raw).astype(np.float64)
    h, w = H // n * n, W // n * n
    planes = pack(sig[:h, :w], n)
    bad = pack(m[:h, :w].astype(np.float64), n) > 0.5
    k = 2 * radius + 1
    for _ in range(max_passes):
        if not bad.any():
            break
        out = planes.copy()
        still = bad.copy()
        for c in range(planes.shape[0]):
            p = np.where(bad[c], np.nan, planes[c])
            pp = np.pad(p, radius, mode="reflect")
            win = np.lib.stride_tricks.sliding_window_view(pp, (k, k))  # [h, w, k, k]
            ys, xs = np.nonzero(bad[c])
            if ys.size == 0:
                continue
            vals = win[ys, xs].reshape(ys.size, -1)
            ok = np.isfinite(vals).any(axis=1)
            med = np.full(ys.size, np.nan)
            med[ok] = np.nanmedian(vals[ok], axis=1)
            out[c, ys[ok], xs[ok]] = med[ok]
            still[c, ys[ok], xs[ok]] = False
        planes, bad = out, still
    sig2 = sig.copy()
    sig2[:h, :w] = unpack(planes, n)
    return _with_signal(raw, sig2)


def estimate_transmission(flat, mask, *, dilate_px: int = 4, smooth_px: float = 1.5) -> np.ndarray:
    """Transmission map ``[H, W]`` of the blemishes in ``mask`` from the module's flat field.

    Inside the mask dilated by ``dilate_px`` it is the flat's relative response averaged over
    the CFA tile and smoothed (σ = ``smooth_px``); elsewhere 1.
    """
    fr = flat_relative(as_raw(flat))
    n = fr.n
    H, W = as_raw(flat).data.shape[-2:]
    m = _check_mask(mask, (H, W))[: fr.rel.shape[0], : fr.rel.shape[1]]
    rel = fr.rel.astype(np.float64)
    if n > 1:
        t = pack(rel, n).mean(axis=0)
        rel_t = np.repeat(np.repeat(t, n, axis=0), n, axis=1)
    else:
        rel_t = rel
    rel_t = ndimage.gaussian_filter(rel_t, smooth_px, mode="nearest")
    zone = ndimage.binary_dilation(m, iterations=max(0, int(dilate_px))) if dilate_px > 0 else m
    zone = ndimage.gaussian_filter(zone.astype(np.float64), 1.0) if zone.any() else zone.astype(np.float64)
    T = 1.0 + zone * (np.clip(rel_t, 0.05, 1.5) - 1.0)
    full = np.ones((H, W))
    full[: T.shape[0], : T.shape[1]] = T
    return full


def repair_blemish(image, transmission) -> Raw:
    """Divide the black-subtracted signal of ``image`` by ``transmission`` (shading-aware repair)."""
    raw = as_raw(image)
    H, W = raw.data.shape[-2:]
    T = np.asarray(transmission, dtype=np.float64)
    if T.shape != (H, W):
        raise InputError(f"transmission map is {T.shape} but the frame is {(H, W)}")
    if not np.isfinite(T).all() or (T <= 0).any():
        raise InputError("transmission must be finite and > 0")
    return _with_signal(raw, black_subtracted(raw) / T)


def repair_error(repaired, clean, mask) -> dict[str, float]:
    """RMS and mean absolute error [DN] inside ``mask`` of ``repaired`` against the ``clean`` capture."""
    a = as_raw(repaired).data[0, 0].numpy().astype(np.float64)
    b = as_raw(clean).data[0, 0].numpy().astype(np.float64)
    m = _check_mask(mask, a.shape)
    if not m.any():
        raise InputError("the mask is empty: nothing to compare")
    d = a[m] - b[m]
    return {"rmse_dn": float(np.sqrt(np.mean(d * d))), "mae_dn": float(np.mean(np.abs(d))), "pixels": int(m.sum())}


# ----------------------------------------------------------------------------- learned
class _InpaintNet(nn.Module):
    def __init__(self, planes: int, width: int = 24):
        super().__init__()
        c = planes
        self.body = nn.Sequential(
            nn.Conv2d(2 * c, width, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=2, dilation=2, padding_mode="replicate"), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True),
            nn.Conv2d(width, c, 3, padding=1, padding_mode="replicate"),
        )

    def forward(self, x, m):
        return x * (1 - m) + m * (x * (1 - m) + self.body(torch.cat([x * (1 - m), m], 1)))


def random_defect_mask(rng: np.random.Generator, H: int, W: int, *, n_pixels: int = 40, n_clusters: int = 4,
                       n_lines: int = 1) -> np.ndarray:
    """Random pixel defects, clusters (2–6 px random walks) and short line segments."""
    m = np.zeros((H, W), bool)
    m[rng.integers(0, H, n_pixels), rng.integers(0, W, n_pixels)] = True
    for _ in range(n_clusters):
        y, x = int(rng.integers(1, H - 1)), int(rng.integers(1, W - 1))
        for _ in range(int(rng.integers(2, 7))):
            m[y, x] = True
            y = int(np.clip(y + rng.integers(-1, 2), 0, H - 1))
            x = int(np.clip(x + rng.integers(-1, 2), 0, W - 1))
    for _ in range(n_lines):
        L = int(rng.integers(4, 16))
        if rng.random() < 0.5:
            y, x = int(rng.integers(0, H - L)), int(rng.integers(0, W))
            m[y : y + L, x] = True
        else:
            y, x = int(rng.integers(0, H)), int(rng.integers(0, W - L))
            m[y, x : x + L] = True
    return m


class LearnedInpainter:
    """Small CNN repair of masked raw pixels (see the module notes)."""

    def __init__(self, *, width: int = 24, steps: int = 400, crop: int = 64, batch: int = 8, lr: float = 2e-3,
                 seed: int = 0, threads: int | None = None):
        self.params: dict[str, Any] = {"width": width, "steps": steps, "crop": crop, "batch": batch, "lr": lr,
                                       "seed": seed, "threads": threads, "cfa": None}
        self.net: _InpaintNet | None = None

    def _planes(self, raw: Raw) -> tuple[np.ndarray, float]:
        sig = black_subtracted(raw).astype(np.float64)
        n = tile_size(raw.meta.cfa)
        H, W = sig.shape
        p = pack(sig[: H // n * n, : W // n * n], n)
        scale = float(np.percentile(p, 99)) or 1.0
        return p / scale, scale

    def fit(self, clean_images, progress=None) -> LearnedInpainter:
        """Train on clean captures (any scenes) with random masks."""
        from camforge.qualify.detectors.base import deterministic

        raws = [as_raw(x) for x in clean_images]
        if not raws:
            raise InputError("learned inpainting needs clean captures to train on")
        cfa = raws[0].meta.cfa
        self.params["cfa"] = cfa
        n = tile_size(cfa)
        planes = [self._planes(r)[0] for r in raws]
        p = self.params
        rng = np.random.default_rng(p["seed"])
        c = p["crop"] // n
        with deterministic(p["seed"], p.get("threads")):
            net = _InpaintNet(n * n, p["width"])
            opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
            for step in range(int(p["steps"])):
                xs, ms = [], []
                for _ in range(int(p["batch"])):
                    q = planes[int(rng.integers(0, len(planes)))]
                    y0 = int(rng.integers(0, q.shape[1] - c + 1))
                    x0 = int(rng.integers(0, q.shape[2] - c + 1))
                    xs.append(q[:, y0 : y0 + c, x0 : x0 + c])
                    mm = random_defect_mask(rng, c * n, c * n, n_pixels=int(rng.integers(5, 40)),
                                            n_clusters=int(rng.integers(0, 4)), n_lines=int(rng.integers(0, 2)))
                    ms.append(pack(mm.astype(np.float64), n))
                x = torch.tensor(np.stack(xs), dtype=torch.float32)
                m = torch.tensor(np.stack(ms), dtype=torch.float32)
                pred = net(x, m)
                loss = (((pred - x) ** 2) * m).sum() / m.sum().clamp_min(1)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if progress is not None:
                    progress(step + 1, int(p["steps"]))
            net.eval()
        self.net = net
        return self

    def repair(self, image, mask) -> Raw:
        """Replace the masked pixels of ``image`` with the network's prediction."""
        if self.net is None:
            raise InputError("the learned inpainter is not trained: call fit() or load()")
        raw = as_raw(image)
        H, W = raw.data.shape[-2:]
        m = _check_mask(mask, (H, W))
        n = tile_size(raw.meta.cfa)
        planes, scale = self._planes(raw)
        h, w = planes.shape[1] * n, planes.shape[2] * n
        mp = pack(m[:h, :w].astype(np.float64), n)
        with torch.no_grad():
            out = self.net(torch.tensor(planes[None], dtype=torch.float32), torch.tensor(mp[None], dtype=torch.float32))
        sig = black_subtracted(raw).astype(np.float64)
        sig[:h, :w] = unpack(out[0].double().numpy() * scale, n)
        return _with_signal(raw, sig)

    def save(self, path: str | Path) -> Path:
        import json

        from camforge.io import atomic_path, atomic_write_text

        if self.net is None:
            raise InputError("nothing to save: the inpainter is not trained")
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        with atomic_path(p / "weights.pt") as tmp:
            torch.save(self.net.state_dict(), tmp)
        atomic_write_text(p / "config.json", json.dumps({"format": "camforge-inpainter", "version": 1,
                                                          "params": self.params}, indent=1))
        return p

    @classmethod
    def load(cls, path: str | Path) -> LearnedInpainter:
        import json

        p = Path(path)
        try:
            cfg = json.loads((p / "config.json").read_text())
            state = torch.load(p / "weights.pt", map_location="cpu", weights_only=True)
        except (OSError, json.JSONDecodeError, RuntimeError) as e:
            raise FormatError(f"cannot load an inpainter from {p}: {e}") from None
        params = dict(cfg["params"])
        cfa = params.pop("cfa", None)
        obj = cls(**params)
        obj.params["cfa"] = cfa
        n = tile_size(cfa or "MONO")
        obj.net = _InpaintNet(n * n, params["width"])
        obj.net.load_state_dict(state)
        obj.net.eval()
        return obj


__all__ = ["LearnedInpainter", "estimate_transmission", "random_defect_mask", "repair_blemish", "repair_error",
           "repair_pixels"]
