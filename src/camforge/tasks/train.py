"""Training the task models on clean renders of labelled scenes (deterministic for a seed).

The training images are the ideal renders (:func:`camforge.tasks.scenes.render_clean`: no
noise, no lens blur) of procedurally generated scenes with the *training* digits and
texture sources; light augmentation (exposure gain, a slight Gaussian blur, colour
saturation) keeps the models from depending on the exact rendering. The classifier is
trained with cross-entropy on single-object scenes, the U-Net with cross-entropy on scenes
with one to three objects. Adam with a cosine learning-rate decay.

:func:`train_task_models` fixes the torch thread count, seeds every random draw and enables
``torch.use_deterministic_algorithms``, so the same seed on the same torch build gives the
same weights bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from camforge.errors import InputError
from camforge.tasks.models import TaskModels, TinyClassifier, TinyUNet, save_task_models
from camforge.tasks.scenes import CLASSES, SEG_CLASSES, labelled_scenes, masks_at, render_clean


@dataclass(frozen=True)
class TaskTrainConfig:
    """Settings of :func:`train_task_models` (stored with the weights).

    Attributes:
        n_classify, n_segment: training scenes for the classifier / the U-Net.
        n_validate: held-out clean scenes (test digits and textures) for the reported scores.
        epochs_classify, epochs_segment: passes over them.
        batch: images per step; lr: peak Adam learning rate.
        input_px: side of the model input [px]; scenes are rendered at that resolution.
        classifier_widths, segmenter_widths: channels per level.
        seed, threads: determinism.
    """

    n_classify: int = 6000
    n_segment: int = 3000
    epochs_classify: int = 8
    epochs_segment: int = 8
    batch: int = 64
    lr: float = 3e-3
    input_px: int = 64
    classifier_widths: tuple[int, ...] = (16, 32, 64, 64)
    segmenter_widths: tuple[int, ...] = (8, 16, 32)
    n_validate: int = 500
    seed: int = 0
    threads: int = 2

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["classifier_widths"] = list(self.classifier_widths)
        d["segmenter_widths"] = list(self.segmenter_widths)
        return d


@dataclass(frozen=True)
class TaskTrainResult:
    """Outcome of :func:`train_task_models`: folder, digest, clean-render validation scores."""

    folder: str
    weights_sha256: str
    clean_accuracy: float
    clean_miou: float
    duration_s: float
    cpu_s: float
    n_parameters: int
    loss_curve: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process so far (all threads)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random exposure gain (×0.5–1.2 in linear light), saturation (×0.6–1.3) and a
    Gaussian blur (σ 0–0.8 px) of sRGB images ``[B, 3, H, W]``."""
    from camforge.isp.tone import srgb_decode, srgb_encode

    B = x.shape[0]
    lin = srgb_decode(x)
    gain = 0.5 + 0.7 * torch.rand((B, 1, 1, 1), generator=g)
    sat = 0.6 + 0.7 * torch.rand((B, 1, 1, 1), generator=g)
    y = lin.mean(1, keepdim=True)
    lin = ((y + sat * (lin - y)) * gain).clamp(0.0, 1.0)
    sigma = 0.8 * torch.rand((B,), generator=g)
    t = torch.arange(-2, 3, dtype=torch.float32)
    k = torch.exp(-0.5 * (t[None] / sigma.clamp(min=1e-3)[:, None]) ** 2)
    k = k / k.sum(1, keepdim=True)  # [B, 5]
    # separable per-image blur: group convolution over the batch
    z = lin.reshape(1, B * 3, *lin.shape[-2:])
    kr = k.repeat_interleave(3, 0)
    z = F.conv2d(F.pad(z, (2, 2, 0, 0), mode="replicate"), kr[:, None, None, :], groups=B * 3)
    z = F.conv2d(F.pad(z, (0, 0, 2, 2), mode="replicate"), kr[:, None, :, None], groups=B * 3)
    return srgb_encode(z.reshape(B, 3, *lin.shape[-2:]))


def _dataset(n: int, seed: int, input_px: int, max_objects: int, split: str, chunk: int = 500):
    xs, ys, ms = [], [], []
    for i, start in enumerate(range(0, n, chunk)):
        m = min(chunk, n - start)
        s = labelled_scenes(m, seed=seed * 10_007 + i, render_px=input_px, max_objects=max_objects, split=split)
        xs.append(render_clean(s, input_px))
        ys.append(s.labels)
        ms.append(masks_at(s, input_px))
    return torch.cat(xs), torch.cat(ys), torch.cat(ms)


def _fit(model, x, target, epochs, batch, lr, g, loss_fn, progress=None, offset=0, total=1):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    steps = epochs * math.ceil(n / batch)
    step = 0
    curve = []
    run = 0.0
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for b0 in range(0, n, batch):
            idx = perm[b0 : b0 + batch]
            xb = augment(x[idx], g)
            for grp in opt.param_groups:
                grp["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / steps))
            loss = loss_fn(model(xb), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run = float(loss.detach()) if step == 0 else 0.95 * run + 0.05 * float(loss.detach())
            step += 1
            if step % max(1, steps // 40) == 0:
                curve.append(run)
            if progress is not None:
                progress(offset + step, total)
    model.eval()
    return curve


def miou(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> float:
    """Mean intersection over union over the classes present in ``target`` or ``pred``."""
    ious = []
    for c in range(n_classes):
        p, t = pred == c, target == c
        union = int((p | t).sum())
        if union:
            ious.append(int((p & t).sum()) / union)
    return float(sum(ious) / len(ious)) if ious else float("nan")


def train_task_models(
    out_dir: str | Path,
    *,
    config: TaskTrainConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
    weights_dtype: str = "float16",
) -> TaskTrainResult:
    """Train the classifier and the U-Net on clean renders and write them to ``out_dir``.

    Returns the clean-render accuracy and mIoU on ``n_validate`` held-out scenes (test digits
    and textures), the wall time and the CPU time (≈ 2 × wall time on two idle cores).
    Deterministic for ``config.seed`` (and ``config.threads``).
    """
    from camforge.tasks.learned_isp import _deterministic

    cfg = config or TaskTrainConfig()
    if cfg.input_px % 2 ** (len(cfg.segmenter_widths) - 1):
        raise InputError(f"input_px {cfg.input_px} must be a multiple of 2^(levels - 1) of the U-Net")
    if cfg.n_classify < cfg.batch or cfg.n_segment < cfg.batch:
        raise InputError(f"need at least one batch ({cfg.batch}) of training scenes")
    t0 = time.perf_counter()
    c0 = _cpu_s()
    with _deterministic(cfg.threads):
        torch.manual_seed(cfg.seed)
        g = torch.Generator().manual_seed(cfg.seed + 17)
        xc, yc, _ = _dataset(cfg.n_classify, cfg.seed, cfg.input_px, 1, "train")
        xs, _, ms = _dataset(cfg.n_segment, cfg.seed + 1, cfg.input_px, 3, "train")
        clf = TinyClassifier(len(CLASSES), cfg.classifier_widths)
        seg = TinyUNet(len(SEG_CLASSES), cfg.segmenter_widths)
        steps_c = cfg.epochs_classify * math.ceil(cfg.n_classify / cfg.batch)
        steps_s = cfg.epochs_segment * math.ceil(cfg.n_segment / cfg.batch)
        total = steps_c + steps_s
        curve_c = _fit(clf, xc, yc, cfg.epochs_classify, cfg.batch, cfg.lr, g, F.cross_entropy, progress, 0, total)
        curve_s = _fit(seg, xs, ms, cfg.epochs_segment, cfg.batch, cfg.lr, g, F.cross_entropy, progress, steps_c,
                       total)
        # held-out clean validation (test digits and textures)
        xv, yv, _ = _dataset(cfg.n_validate, cfg.seed + 99, cfg.input_px, 1, "test")
        xv2, _, mv2 = _dataset(cfg.n_validate, cfg.seed + 98, cfg.input_px, 3, "test")
        with torch.no_grad():
            acc = float((clf(xv).argmax(1) == yv).float().mean())
            mi = miou(seg(xv2).argmax(1), mv2, len(SEG_CLASSES))
    duration = time.perf_counter() - t0
    cpu = _cpu_s() - c0
    conf = {
        "classes": list(CLASSES),
        "seg_classes": list(SEG_CLASSES),
        "input_px": cfg.input_px,
        "classifier_widths": list(cfg.classifier_widths),
        "segmenter_widths": list(cfg.segmenter_widths),
        "train": cfg.to_dict(),
        "torch": torch.__version__,
        "command": command or f"camforge tasks train --seed {cfg.seed} --out DIR",
        "clean_accuracy": acc,
        "clean_miou": mi,
        "duration_s": duration,
        "cpu_s": cpu,
        "loss_curve": {"classifier": curve_c, "segmenter": curve_s},
    }
    models = TaskModels(clf, seg, conf)
    save_task_models(models, out_dir, dtype=weights_dtype)
    from camforge.isp.learned import load_arrays

    _, saved = load_arrays(out_dir)
    n_par = sum(p.numel() for p in clf.parameters()) + sum(p.numel() for p in seg.parameters())
    return TaskTrainResult(str(out_dir), saved["weights_sha256"], acc, mi, duration, cpu, n_par,
                           {"classifier": curve_c, "segmenter": curve_s})
