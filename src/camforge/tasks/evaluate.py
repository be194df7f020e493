"""Task-based image quality: recognition accuracy and segmentation mIoU through a camera.

Labelled scenes (:mod:`camforge.tasks.scenes`, evaluation digits and textures) are placed so
that they span a centred window of the sensor, lit at each illuminance, exposed as the
camera's auto exposure exposes a white sheet at that illuminance (so a dark scene stays dark,
as in the lead's SNR-vs-lux test), captured through the design's lens and sensor, rendered
by its ISP, resampled to the models' 64 × 64 input, and judged by the task models trained on
clean renders. Accuracy and mIoU come with percentile-bootstrap 95 % confidence intervals
(Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13) over the images.

Measurement rows follow camforge's scorecard format:
``{"metric", "value", "unit", "ci95", "condition"}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from camforge.errors import InputError, MeasurementError
from camforge.evaluate.scorecard import metric_row
from camforge.tasks.models import TaskModels, load_task_models
from camforge.tasks.scenes import SEG_CLASSES, LabelledScenes, labelled_scenes

ProgressFn = Callable[[int, int], None]


# ---------------------------------------------------------------------------- statistics


def bootstrap_ci(stat: Callable[[np.ndarray], np.ndarray], n: int, *, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of ``n`` items.

    ``stat(idx)`` takes an index array ``[n_boot, n]`` (resampled item indices) and returns
    ``[n_boot]`` statistics; the interval is their ``(1 − level)/2`` and ``(1 + level)/2``
    quantiles (NaN statistics are ignored).
    """
    if n < 1:
        raise MeasurementError("bootstrap needs at least one item")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(int(n_boot), n))
    s = np.asarray(stat(idx), dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return (float("nan"), float("nan"))
    a = (1 - level) / 2
    return float(np.quantile(s, a)), float(np.quantile(s, 1 - a))


def accuracy_ci(correct: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Accuracy of per-image outcomes ``correct`` [n] (bool) and its bootstrap 95 % CI."""
    c = np.asarray(correct, dtype=np.float64)
    return float(c.mean()), bootstrap_ci(lambda i: c[i].mean(1), c.size, n_boot=n_boot, seed=seed)


def miou_from_counts(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """mIoU from per-image counts ``[..., n, C]`` summed over images: mean over classes with a
    non-empty union of Σ intersection / Σ union."""
    I = inter.sum(-2).astype(np.float64)
    U = union.sum(-2).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(U > 0, I / np.maximum(U, 1), np.nan)
    return np.nanmean(iou, axis=-1)


def miou_ci(inter: np.ndarray, union: np.ndarray, *, n_boot: int = 1000, seed: int = 0):
    """mIoU of per-image intersection / union counts ``[n, C]`` and its bootstrap 95 % CI."""
    inter = np.asarray(inter)
    union = np.asarray(union)
    return float(miou_from_counts(inter, union)), bootstrap_ci(
        lambda i: miou_from_counts(inter[i], union[i]), inter.shape[0], n_boot=n_boot, seed=seed)


def segmentation_counts(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-image intersection and union pixel counts ``[B, C]`` of label maps ``[B, H, W]``."""
    I = np.zeros((pred.shape[0], n_classes), dtype=np.int64)
    U = np.zeros_like(I)
    for c in range(n_classes):
        p, t = pred == c, target == c
        I[:, c] = (p & t).flatten(1).sum(1).numpy()
        U[:, c] = (p | t).flatten(1).sum(1).numpy()
    return I, U


# ---------------------------------------------------------------------------- capture


def centred_window(cam, width_px: int) -> tuple[int, int, int, int]:
    """A ``width_px`` square window at the centre of the sensor (origin on the 2 × 2 tile)."""
    s = cam.design.sensor
    w = int(width_px)
    if w < 8 or w > s.width_px or w > s.height_px:
        raise InputError(f"window of {w} px does not fit the {s.width_px} × {s.height_px} sensor (need 8 px or more)")
    x0 = (s.width_px - w) // 2
    y0 = (s.height_px - w) // 2
    return x0 - x0 % 2, y0 - y0 % 2, w, w


def window_fov_deg(cam, width_px: float) -> float:
    """Full horizontal field of view [deg] of ``width_px`` pixels at the centre of the sensor."""
    half_mm = width_px * cam.design.sensor.pixel_pitch_um * 1e-3 / 2
    return 2 * math.degrees(math.atan(half_mm / float(cam.lens.focal_length_mm)))


def white_exposure(cam, lux: float, illuminant: str, window) -> tuple[float, float]:
    """(exposure [s], analog gain) of the camera's auto exposure on a white sheet at ``lux``."""
    from camforge.scene import flat_field

    white = flat_field(lux=lux, illuminant=illuminant, spectral=True, aspect=1.0)
    return cam.auto_exposure(cam.electron_rate(white, window=window, psf=False))


@dataclass
class TaskCapture:
    """Captured labelled scenes at model resolution."""

    images: torch.Tensor  # [B, 3, out, out] sRGB
    labels: torch.Tensor  # [B]
    masks: torch.Tensor  # [B, out, out]
    exposure_s: float
    analog_gain: float
    window: tuple[int, int, int, int]


def _to_srgb(img) -> torch.Tensor:
    from camforge.isp.tone import srgb_encode

    x = img.data.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if img.color_space in ("srgb",):
        return x.clamp(0, 1)
    if img.color_space in ("linear_srgb", "camera", "mono"):
        return srgb_encode(x.clamp(0, 1))
    raise InputError(f"the task evaluation needs the ISP to output RGB, got {img.color_space}")


def _masks_on_model_grid(cam, scene, scenes: LabelledScenes, window, out_px: int) -> torch.Tensor:
    """Segmentation truth at each model pixel: its centre → sensor → scene (u, v) → render mask."""
    from camforge.optics.formation import image_to_scene

    x0, y0, w, h = window
    t = (torch.arange(out_px, dtype=torch.float64) + 0.5) * (w / out_px) - 0.5
    rows, cols = torch.meshgrid(y0 + t, x0 + t, indexing="ij")
    g = cam.geometry
    xm, ym = g.pixel_to_mm(cols, rows)
    with torch.no_grad():
        u, v = image_to_scene(scene, cam.lens, g, xm.to(cam.lens.focal_length_mm.dtype),
                              ym.to(cam.lens.focal_length_mm.dtype))
    R = scenes.render_px
    iu = torch.floor((u.double() + 1) / 2 * R).long()
    iv = torch.floor((v.double() + 1) / 2 * R).long()
    inside = (iu >= 0) & (iu < R) & (iv >= 0) & (iv < R)
    m = scenes.masks[:, iv.clamp(0, R - 1), iu.clamp(0, R - 1)]
    return torch.where(inside[None], m, torch.zeros_like(m))


def capture_labelled(cam, scenes: LabelledScenes, lux: float, *, illuminant: str = "D65", window_px: int = 64,
                     out_px: int = 64, seed: int = 0, exposure_s: float | None = None,
                     analog_gain: float | None = None, chunk: int = 32) -> TaskCapture:
    """Capture ``scenes`` through ``cam`` at ``lux`` and render them with its ISP.

    The scenes span a centred ``window_px`` window (plus 2 px each side); the ISP output is
    area-resampled to ``out_px``. Exposure: ``exposure_s``/``analog_gain`` when given, else
    the auto exposure of a white sheet at ``lux`` (:func:`white_exposure`).
    """
    win = centred_window(cam, window_px)
    if exposure_s is None:
        t, g = white_exposure(cam, lux, illuminant, win)
        if analog_gain is not None:
            g = analog_gain
    else:
        t, g = float(exposure_s), float(analog_gain if analog_gain is not None else cam.sensor.analog_gain)
    fov = window_fov_deg(cam, window_px + 4)
    imgs, masks = [], []
    for k, b0 in enumerate(range(0, scenes.batch, chunk)):
        sub = scenes.subset(range(b0, min(scenes.batch, b0 + chunk)))
        scene = sub.scene(lux, illuminant, fov_deg=fov)
        with torch.no_grad():
            raw = cam.capture(scene, exposure_s=t, analog_gain=g, seed=seed * 1000 + k, window=win)
            img = _to_srgb(cam.isp(raw, stop="sharpen"))
        if img.shape[-1] != out_px or img.shape[-2] != out_px:
            img = F.interpolate(img, size=(out_px, out_px), mode="area")
        imgs.append(img)
        masks.append(_masks_on_model_grid(cam, scene, sub, win, out_px))
    return TaskCapture(torch.cat(imgs), scenes.labels.clone(), torch.cat(masks), t, g, win)


# ---------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class TaskScores:
    """Accuracy and mIoU of one condition, with per-image outcomes for further statistics."""

    accuracy: float
    accuracy_ci95: tuple[float, float]
    miou: float
    miou_ci95: tuple[float, float]
    n_images: int
    correct: tuple[bool, ...] = field(repr=False, default=())

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "accuracy_ci95": list(self.accuracy_ci95), "miou": self.miou,
                "miou_ci95": list(self.miou_ci95), "n_images": self.n_images}


def score(models: TaskModels, cls_cap: TaskCapture, seg_cap: TaskCapture, *, n_boot: int = 1000,
          seed: int = 0) -> TaskScores:
    """Run the models on captures and compute accuracy / mIoU with bootstrap CIs."""
    with torch.no_grad():
        pred = models.classifier(cls_cap.images).argmax(1)
        seg = models.segmenter(seg_cap.images).argmax(1)
    correct = (pred == cls_cap.labels).numpy()
    acc, acc_ci = accuracy_ci(correct, n_boot=n_boot, seed=seed)
    inter, union = segmentation_counts(seg, seg_cap.masks, len(SEG_CLASSES))
    mi, mi_ci = miou_ci(inter, union, n_boot=n_boot, seed=seed + 1)
    return TaskScores(acc, acc_ci, mi, mi_ci, int(correct.size), tuple(bool(c) for c in correct))


_DEFAULT_MODELS: list[TaskModels] = []


def resolve_models(models: TaskModels | str | None) -> TaskModels:
    """Task models given, loaded from a folder, or the shipped ones (loaded once)."""
    if isinstance(models, TaskModels):
        return models
    if models is not None:
        return load_task_models(models)
    if not _DEFAULT_MODELS:
        _DEFAULT_MODELS.append(load_task_models())
    return _DEFAULT_MODELS[0]


def _resolve_camera(camera_or_design):
    from camforge.camera import Camera, CameraDesign

    if isinstance(camera_or_design, Camera):
        return camera_or_design
    if isinstance(camera_or_design, (CameraDesign, dict)):
        return Camera(camera_or_design)
    if isinstance(camera_or_design, str) or hasattr(camera_or_design, "__fspath__"):
        return Camera.from_yaml(camera_or_design)
    raise InputError(
        f"need a Camera, a CameraDesign, a design dict or a YAML path, got {type(camera_or_design).__name__}"
    )


def evaluation_scenes(n_images: int, seed: int, render_px: int) -> tuple[LabelledScenes, LabelledScenes]:
    """The evaluation scene sets (single-object for classification, 1–3 objects for
    segmentation), from the test digits and textures, deterministic for ``seed``."""
    a = labelled_scenes(n_images, seed=seed * 2 + 1_000_001, render_px=render_px, max_objects=1, split="test")
    b = labelled_scenes(n_images, seed=seed * 2 + 1_000_002, render_px=render_px, max_objects=3, split="test")
    return a, b


def _render_px(window_px: int, out_px: int) -> int:
    # at least two render samples per sensor pixel, and a multiple of the model grid
    r = max(2 * window_px, 2 * out_px)
    return int(math.ceil(r / out_px) * out_px)


def measure_condition(cam, lux: float, *, models: TaskModels, scenes=None, n_images: int = 200, seed: int = 0,
                      illuminant: str = "D65", window_px: int | None = None, exposure_s: float | None = None,
                      analog_gain: float | None = None, n_boot: int = 1000, with_iq: bool = False,
                      keep_images: bool = False) -> dict[str, Any]:
    """Scores (and, with ``with_iq``, SNR and MTF50 on the same window and exposure) at one lux;
    ``keep_images`` adds the classification captures (``images`` [B, 3, 64, 64] sRGB)."""
    out_px = models.input_px
    wpx = int(window_px or out_px)
    if scenes is None:
        scenes = evaluation_scenes(n_images, seed, _render_px(wpx, out_px))
    cls_s, seg_s = scenes
    cap = capture_labelled(cam, cls_s, lux, illuminant=illuminant, window_px=wpx, out_px=out_px, seed=seed,
                           exposure_s=exposure_s, analog_gain=analog_gain)
    cap2 = capture_labelled(cam, seg_s, lux, illuminant=illuminant, window_px=wpx, out_px=out_px, seed=seed + 7,
                            exposure_s=cap.exposure_s, analog_gain=cap.analog_gain)
    sc = score(models, cap, cap2, n_boot=n_boot, seed=seed)
    out = {"scores": sc, "exposure_s": cap.exposure_s, "analog_gain": cap.analog_gain, "window": cap.window}
    if keep_images:
        out["images"] = cap.images
    if with_iq:
        out.update(image_quality(cam, lux, illuminant=illuminant, window_px=wpx, out_px=out_px,
                                 exposure_s=cap.exposure_s, analog_gain=cap.analog_gain, seed=seed))
    return out


def image_quality(cam, lux: float, *, illuminant: str = "D65", window_px: int = 64, out_px: int = 64,
                  exposure_s: float, analog_gain: float, seed: int = 0) -> dict[str, float | None]:
    """SNR and MTF50 of what the task models see, at one condition.

    * ``snr_db``: 20·log10(mean / std) of the luminance of an 18 % grey flat field over the
      same window, through the ISP to linear sRGB (``stop="ccm"``), resampled to ``out_px``
      (4-px border excluded);
    * ``mtf50_cy_per_px``: ISO 12233 e-SFR MTF50 (:func:`camforge.metrics.sfr`) of a 5°
      slanted edge (4:1 contrast) through the full ISP, resampled to ``out_px`` — in cycles
      per model pixel; ``None`` when the edge cannot be measured (too noisy).
    """
    from camforge.errors import CamforgeError
    from camforge.metrics import sfr
    from camforge.metrics.color import srgb_decode
    from camforge.scene import flat_field, slanted_edge

    win = centred_window(cam, window_px)
    fov = window_fov_deg(cam, window_px + 4)
    grey = flat_field(lux=lux, illuminant=illuminant, spectral=True, reflectance=0.18, aspect=1.0, fov_deg=fov)
    with torch.no_grad():
        raw = cam.capture(grey, exposure_s=exposure_s, analog_gain=analog_gain, seed=seed + 11, window=win)
        lin = cam.isp(raw, stop="ccm").data.float()
    if lin.shape[1] == 1:
        lin = lin.expand(-1, 3, -1, -1)
    lin = F.interpolate(lin, size=(out_px, out_px), mode="area")[0, :, 4:-4, 4:-4].double()
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    sd = float(y.std())
    snr_db = 20 * math.log10(max(float(y.mean()), 1e-12) / sd) if sd > 0 else float("inf")
    edge = slanted_edge(lux=lux, illuminant=illuminant, spectral=True, layout="single", angle_deg=5.0, aspect=1.0,
                        fov_deg=fov)
    with torch.no_grad():
        raw = cam.capture(edge, exposure_s=exposure_s, analog_gain=analog_gain, seed=seed + 12, window=win)
        img = F.interpolate(_to_srgb(cam.isp(raw, stop="sharpen")), size=(out_px, out_px), mode="area")
    m = out_px // 8
    try:
        r = sfr(img[0], roi=(2 * m, m, out_px - 4 * m, out_px - 2 * m), channel="luminance", oecf=srgb_decode,
                bootstrap=0)
        mtf50 = r.mtf50_cy_per_px
    except CamforgeError:
        mtf50 = None
    if mtf50 is not None and not math.isfinite(float(mtf50)):
        mtf50 = None
    return {"snr_db": snr_db, "mtf50_cy_per_px": None if mtf50 is None else float(mtf50)}


def condition_rows(cam, models: TaskModels, lux: float, r: dict[str, Any], *, window_px: int, illuminant: str,
                   with_iq: bool = False) -> list[dict[str, Any]]:
    """Scorecard rows of one measured condition (:func:`measure_condition`'s result ``r``)."""
    sc: TaskScores = r["scores"]
    cond = {"task": "classification", "classes": len(models.config.get("classes", [])), "lux": lux,
            "illuminant": illuminant, "n_images": sc.n_images, "window_px": window_px, "design": cam.name,
            "exposure_s": r["exposure_s"], "analog_gain": r["analog_gain"]}
    rows = [metric_row(f"task_accuracy_{lux:g}lx", sc.accuracy, "fraction", cond, sc.accuracy_ci95),
            metric_row(f"task_miou_{lux:g}lx", sc.miou, "fraction", {**cond, "task": "segmentation"}, sc.miou_ci95)]
    if with_iq:
        rows.append(metric_row(f"task_snr_db_{lux:g}lx", r["snr_db"], "dB", {**cond, "task": "snr 18% grey"}))
        rows.append(metric_row(f"task_mtf50_{lux:g}lx", r["mtf50_cy_per_px"], "cy/model px",
                               {**cond, "task": "slanted edge"}))
    return rows


def task_accuracy(
    camera_or_design,
    lux_levels: Sequence[float] = (1000.0, 100.0, 10.0, 1.0, 0.3),
    *,
    n_images: int = 200,
    seed: int = 0,
    illuminant: str = "D65",
    models: TaskModels | str | None = None,
    window_px: int | None = None,
    exposure_s: float | None = None,
    analog_gain: float | None = None,
    n_boot: int = 1000,
    with_iq: bool = False,
    progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """Task-based image quality of a camera: accuracy and mIoU vs illuminance.

    Args:
        camera_or_design: a :class:`~camforge.camera.Camera`, a design (dict /
            :class:`~camforge.camera.CameraDesign`) or a design YAML path.
        lux_levels: illuminances of the scenes [lx].
        n_images: scenes per task and level (the same scenes at every level).
        models: task models or their folder (default: the shipped ones).
        window_px: side of the centred sensor window the scenes span (default: the model
            input, 64 px); larger windows are resampled to the model input.
        exposure_s, analog_gain: fixed exposure (default: auto exposure on a white sheet at
            each level).
        n_boot: bootstrap resamples for the 95 % intervals.
        with_iq: also measure SNR (18 % grey) and MTF50 on the same window and exposure.

    Returns scorecard rows: ``task_accuracy_{lux}lx`` (fraction correct) and
    ``task_miou_{lux}lx`` with ``ci95``, and with ``with_iq`` ``task_snr_db_{lux}lx`` and
    ``task_mtf50_{lux}lx`` [cycles per model pixel].
    """
    cam = _resolve_camera(camera_or_design)
    models = resolve_models(models)
    levels = [float(v) for v in lux_levels]
    if not levels or any(not (math.isfinite(v) and v > 0) for v in levels):
        raise InputError(f"lux levels must be positive numbers, got {list(lux_levels)}")
    if n_images < 2:
        raise InputError(f"need at least 2 images per level, got {n_images}")
    wpx = int(window_px or models.input_px)
    scenes = evaluation_scenes(n_images, seed, _render_px(wpx, models.input_px))
    rows = []
    for i, lux in enumerate(levels):
        r = measure_condition(cam, lux, models=models, scenes=scenes, seed=seed, illuminant=illuminant,
                              window_px=wpx, exposure_s=exposure_s, analog_gain=analog_gain, n_boot=n_boot,
                              with_iq=with_iq)
        rows += condition_rows(cam, models, lux, r, window_px=wpx, illuminant=illuminant, with_iq=with_iq)
        if progress is not None:
            progress(i + 1, len(levels))
    return rows
