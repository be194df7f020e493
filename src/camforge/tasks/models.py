"""Tiny task models: a CNN classifier and a U-Net segmenter for 64 × 64 sRGB images.

Both standardise each image first (:func:`standardize`: zero mean, unit variance over its
pixels), so they judge shapes and contrast, not exposure. Sizes are chosen to train in a few
minutes on two CPU cores: the classifier (~70 k parameters: a stride-2 stem, three conv–pool levels,
global average pooling, a linear layer) after Simonyan & Zisserman (2015) in miniature; the
U-Net (Ronneberger, Fischer & Brox, MICCAI 2015) with three levels.

Weights live in a folder with ``config.json`` (architecture, training settings, the command
that recreates them, the SHA-256 of the weights) and ``weights.npz``
(:func:`save_task_models`, :func:`load_task_models`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from camforge.errors import FormatError, InputError

#: Folder of the shipped task models.
DEFAULT_TASK_WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "weights" / "tasks"


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Per-image standardisation of ``[B, 3, H, W]``: (x − mean) / std over all its pixels."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"task models take images [B, 3, H, W], got {tuple(x.shape)}")
    m = x.mean((1, 2, 3), keepdim=True)
    s = x.std((1, 2, 3), keepdim=True)
    return (x - m) / (s + 1e-2)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class TinyClassifier(nn.Module):
    """Image ``[B, 3, H, W]`` (sRGB, any exposure) → class logits ``[B, n_classes]``.

    A stride-2 3 × 3 stem with ``widths[0]`` channels, then one 3 × 3 convolution per width
    with 2 × 2 max pooling between them, global average pooling and a linear layer.
    """

    def __init__(self, n_classes: int = 16, widths: tuple[int, ...] = (16, 32, 64, 64)):
        super().__init__()
        self.n_classes = int(n_classes)
        self.widths = tuple(int(w) for w in widths)
        if len(self.widths) < 2:
            raise InputError("TinyClassifier needs at least two widths (stem + one level)")
        layers = [_conv_bn(3, self.widths[0], stride=2)]
        for i, w in enumerate(self.widths[1:]):
            layers.append(_conv_bn(self.widths[i], w))
            if i + 2 < len(self.widths):
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(self.widths[-1], self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(standardize(x))
        return self.head(f.mean((2, 3)))


class TinyUNet(nn.Module):
    """Image ``[B, 3, H, W]`` → per-pixel class logits ``[B, n_classes, H, W]``.

    A stride-2 stem (``widths[0]`` channels at half resolution), one 3 × 3 convolution per
    encoder level with 2 × 2 max pooling between levels, transposed-convolution upsampling
    concatenated with the skip connection and one 3 × 3 convolution per decoder level; the
    half-resolution logits are upsampled bilinearly to the input size (output stride 2, as
    DeepLab-style segmenters). ``H`` and ``W`` must be multiples of ``2^levels``.
    """

    def __init__(self, n_classes: int = 3, widths: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        self.n_classes = int(n_classes)
        self.widths = tuple(int(w) for w in widths)
        self.stem = _conv_bn(3, self.widths[0], stride=2)
        self.enc = nn.ModuleList()
        cin = self.widths[0]
        for w in self.widths:
            self.enc.append(_conv_bn(cin, w))
            cin = w
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(len(self.widths) - 1, 0, -1):
            self.up.append(nn.ConvTranspose2d(self.widths[i], self.widths[i - 1], 2, stride=2))
            self.dec.append(_conv_bn(2 * self.widths[i - 1], self.widths[i - 1]))
        self.head = nn.Conv2d(self.widths[0], self.n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2 ** len(self.widths)
        if x.shape[-1] % m or x.shape[-2] % m:
            raise InputError(f"TinyUNet needs sides that are multiples of {m}, got {tuple(x.shape[-2:])}")
        h = self.stem(standardize(x))
        skips = []
        for i, enc in enumerate(self.enc):
            h = enc(h)
            if i + 1 < len(self.enc):
                skips.append(h)
                h = F.max_pool2d(h, 2)
        for up, dec in zip(self.up, self.dec):
            h = dec(torch.cat([up(h), skips.pop()], 1))
        return F.interpolate(self.head(h), size=x.shape[-2:], mode="bilinear", align_corners=False)


@dataclass
class TaskModels:
    """The classifier and the segmenter with their config (``input_px``, class names, ...)."""

    classifier: TinyClassifier
    segmenter: TinyUNet
    config: dict[str, Any]

    @property
    def input_px(self) -> int:
        return int(self.config.get("input_px", 64))

    def eval(self) -> TaskModels:
        self.classifier.eval()
        self.segmenter.eval()
        return self


def save_task_models(models: TaskModels, folder: str | Path, *, dtype: str = "float32") -> Path:
    """Write both models (``weights.npz`` with ``classifier.*`` / ``segmenter.*`` entries) and
    ``config.json`` to ``folder`` atomically."""
    from camforge.isp.learned import save_model

    both = nn.ModuleDict({"classifier": models.classifier, "segmenter": models.segmenter})
    return save_model(both, folder, {**models.config, "model": "TaskModels"}, dtype=dtype)


def load_task_models(folder: str | Path | None = None) -> TaskModels:
    """Load task models from ``folder`` (default: the shipped ones), in eval mode."""
    from camforge.isp.learned import load_arrays

    folder = DEFAULT_TASK_WEIGHTS if folder is None else Path(folder)
    state, cfg = load_arrays(folder)
    if cfg.get("model") != "TaskModels":
        raise FormatError(f"{folder} holds a {cfg.get('model')!r} model, not camforge task models")
    clf = TinyClassifier(len(cfg["classes"]), tuple(cfg["classifier_widths"]))
    seg = TinyUNet(len(cfg["seg_classes"]), tuple(cfg["segmenter_widths"]))
    both = nn.ModuleDict({"classifier": clf, "segmenter": seg})
    try:
        both.load_state_dict(state)
    except RuntimeError as e:
        raise FormatError(f"weights in {folder} do not fit the architecture in its config.json: {e}") from None
    for p in both.parameters():
        p.requires_grad_(False)
    return TaskModels(clf, seg, cfg).eval()
