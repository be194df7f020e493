"""The detector interface: ``fit(normal_images)``, ``score(image) -> (score, anomaly_map)``.

Every detector works on raw, high-bit-depth flat fields (a :class:`~camforge.types.Raw`, or
a 2-D array in DN with its CFA and black level via :func:`camforge.qualify.flatfield.as_raw`)
and returns an anomaly map at the frame's full resolution. Its decision threshold is set
from good modules only, for a target false-reject rate (:meth:`Detector.calibrate`), and is
stored with the model. :meth:`Detector.save` writes a folder with ``config.json`` and, for
learned detectors, ``weights.pt`` (a torch ``state_dict``, with the golden shading reference
of ``shading="reference"`` detectors); :func:`load_detector` reads it back and gives
identical scores.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from camforge.errors import ConfigError, FormatError, InputError
from camforge.qualify.flatfield import AnalysisMap, analysis_map, as_raw, shading_reference, upsample_map
from camforge.qualify.metrics import threshold_for_frr

FORMAT_VERSION = 1
_REGISTRY: dict[str, type[Detector]] = {}


def register(cls):
    _REGISTRY[cls.kind] = cls
    return cls


@contextlib.contextmanager
def deterministic(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seeded, deterministic torch for training (restores the previous settings)."""
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)
        torch.random.set_rng_state(state)


class Detector:
    """Base class. Subclasses set ``kind`` and implement :meth:`_fit` and :meth:`_score_map`.

    Attributes:
        threshold: score above which a module is anomalous (set by :meth:`calibrate`).
        target_frr: the false-reject rate the threshold was set for.
        params: the detector's settings (JSON-safe; saved with it).
    """

    kind: ClassVar[str] = "base"
    #: defect kinds (``camforge.qualify.simulate.KINDS``) this detector is meant to find
    covers: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[dict[str, Any]] = {"bin": 1}

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ConfigError(f"{self.kind} detector: unknown setting(s) {', '.join(unknown)}; "
                              f"use {', '.join(self.defaults)}")
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.threshold: float | None = None
        self.target_frr: float | None = None
        self.fitted = False
        self.info: dict[str, Any] = {}
        #: golden shading reference (``shading="reference"``), made from the fit's good modules
        self.reference: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.kind

    # ------------------------------------------------------------------ input
    def prepare(self, image) -> AnalysisMap:
        """The z-map (:func:`camforge.qualify.flatfield.analysis_map`) of one flat field."""
        if isinstance(image, AnalysisMap):
            return image
        model = str(self.params.get("shading", "legendre"))
        if model == "reference" and self.reference is None:
            raise InputError(f"the {self.kind} detector has no shading reference: fit it on good modules' flat fields "
                             "(raw frames, not analysis maps) or load a saved model")
        return analysis_map(as_raw(image), bin=int(self.params.get("bin", 1)), degree=int(self.params.get("degree", 4)),
                            model=model, reference=self.reference, noise=str(self.params.get("noise", "global")))

    def _split(self, normal_images: Iterable, calibration: Iterable | None) -> tuple[list, list]:
        """``(fit, calibration)`` items; without ``calibration`` the last quarter of the good modules.
        With ``shading="reference"`` the golden reference is made from the fit items here."""
        items = list(normal_images)
        if len(items) < 2:
            raise InputError(f"{self.kind}: fitting needs at least 2 good modules, got {len(items)}")
        if calibration is None:
            k = max(1, len(items) // 4)
            fit_items, cal_items = items[:-k], items[-k:]
        else:
            fit_items, cal_items = items, list(calibration)
        if self.params.get("shading") == "reference":
            frames = [x for x in fit_items if not isinstance(x, AnalysisMap)]
            if frames:
                self.reference = shading_reference(frames)
        return fit_items, cal_items

    # ------------------------------------------------------------------ api
    def fit(self, normal_images: Iterable, *, target_frr: float = 0.01, calibration: Iterable | None = None,
            progress: Callable[[int, int], None] | None = None, **kwargs) -> Detector:
        """Fit on good modules' flat fields, then set the threshold for ``target_frr``.

        The threshold comes from ``calibration`` images (good modules held out of the fit) or,
        when none are given, from the last quarter of ``normal_images`` held out of the fit.
        """
        fit_items, cal_items = self._split(normal_images, calibration)
        fit_set = [self.prepare(x) for x in fit_items]
        cal_set = [self.prepare(x) for x in cal_items]
        self._fit(fit_set, progress=progress, **kwargs)
        self.fitted = True
        self.calibrate(cal_set, target_frr=target_frr)
        return self

    def calibrate(self, normal_images: Iterable, *, target_frr: float = 0.01) -> float:
        """Set :attr:`threshold` from good modules only (quantile for ``target_frr``)."""
        scores = [self.score(x)[0] for x in normal_images]
        self.threshold = threshold_for_frr(scores, target_frr)
        self.target_frr = float(target_frr)
        self.info["calibration_scores"] = [float(s) for s in scores]
        return self.threshold

    def score(self, image) -> tuple[float, np.ndarray]:
        """``(score, anomaly_map)``: the image score and a full-resolution ``[H, W]`` float32 map."""
        if not self.fitted:
            raise InputError(f"the {self.kind} detector is not fitted: call fit() or load a saved model")
        am = self.prepare(image)
        m = self._score_map(am)
        full = upsample_map(m.astype(np.float32), am.scale, am.full_shape)
        return float(self._image_score(m)), full

    def is_anomalous(self, image) -> bool:
        if self.threshold is None:
            raise InputError(f"the {self.kind} detector has no threshold: call calibrate()")
        return self.score(image)[0] > self.threshold

    def _image_score(self, m: np.ndarray) -> float:
        """The image score: the mean of the ``topk_px`` highest analysis-map values (map pixels;
        1 = the maximum). Averaging over the area of the smallest blemish of interest (256 map
        px ≈ a disc 18 px across) keeps single noise peaks of good modules from outscoring a
        faint but wide shadow; measured on the bundled benchmark it raises the image AUROC of
        every area detector on 0.5–2 % dust (``bench/bench_qualify.py``)."""
        k = int(self.params.get("topk_px", 1))
        f = np.asarray(m, dtype=np.float64).ravel()
        if k <= 1 or f.size <= 1:
            return float(f.max())
        k = min(k, f.size)
        return float(np.partition(f, f.size - k)[-k:].mean())

    # ------------------------------------------------------------------ subclass hooks
    def _fit(self, maps: list[AnalysisMap], progress=None, **kwargs) -> None:
        pass

    def _score_map(self, am: AnalysisMap) -> np.ndarray:
        raise NotImplementedError

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        pass

    # ------------------------------------------------------------------ persistence
    def to_config(self) -> dict[str, Any]:
        return {"format": "camforge-detector", "version": FORMAT_VERSION, "kind": self.kind, "params": self.params,
                "threshold": self.threshold, "target_frr": self.target_frr, "fitted": self.fitted,
                "covers": list(self.covers), "info": self.info}

    def save(self, path: str | Path) -> Path:
        """Write ``path/config.json`` (+ ``path/weights.pt``) atomically."""
        from camforge.io import atomic_path, atomic_write_text

        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        state = self.state_dict()
        if self.reference is not None:
            state = {**state, "shading_reference": torch.from_numpy(np.ascontiguousarray(self.reference))}
        if state:
            with atomic_path(p / "weights.pt") as tmp:
                torch.save(state, tmp)
        atomic_write_text(p / "config.json", json.dumps(self.to_config(), indent=1))
        return p

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold}, params={self.params})"


def load_detector(path: str | Path) -> Detector:
    """Load a detector saved with :meth:`Detector.save`."""
    p = Path(path)
    cfg_path = p / "config.json" if p.is_dir() else p
    if not cfg_path.is_file():
        raise FormatError(f"no detector at {p}: expected a folder with config.json (from Detector.save)")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise FormatError(f"{cfg_path} is not valid JSON: {e}") from None
    if cfg.get("format") != "camforge-detector":
        raise FormatError(f"{cfg_path} is not a camforge detector config")
    kind = cfg.get("kind")
    if kind not in _REGISTRY:
        raise FormatError(f"{cfg_path}: unknown detector kind {kind!r}; known: {', '.join(_REGISTRY)}")
    params = dict(cfg.get("params", {}))
    if kind in ("padim", "patchcore") and "features" not in params:
        params["features"] = "encoder"  # saved before the setting existed: the encoder features
    det = _REGISTRY[kind](**params)
    det.threshold = cfg.get("threshold")
    det.target_frr = cfg.get("target_frr")
    det.fitted = bool(cfg.get("fitted", False))
    det.info = cfg.get("info", {})
    w = cfg_path.parent / "weights.pt"
    if w.is_file():
        try:
            state = torch.load(w, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many kinds on a corrupt file
            raise FormatError(f"cannot read {w}: {type(e).__name__}: {e}") from None
        ref = state.pop("shading_reference", None)
        det.reference = None if ref is None else ref.numpy()
        det.load_state_dict(state)
    return det


def make_detector(name: str, **params) -> Detector:
    """A new (unfitted) detector by name: ``blemish``, ``defect_pixels``, ``patchcore``, ``padim``, ``unet``."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown detector {name!r}; use one of {', '.join(sorted(_REGISTRY))} "
                          "or the folder of a saved model")
    return _REGISTRY[name](**params)


def detector_names() -> list[str]:
    return sorted(_REGISTRY)
