"""camforge — camera hardware engineering in Python/PyTorch.

Simulate a camera module physically and differentiably (scene → lens → sensor → ISP),
measure image quality the way labs do, characterize sensors per EMVA 1288, qualify
modules in production and optimize designs with machine learning.

    >>> import camforge as cf
    >>> cam = cf.Camera.from_yaml("examples/designs/phone_main_12mp.yaml")  # doctest: +SKIP
    >>> raw = cam.capture(cam.chart("slanted-edge", lux=100), seed=0)       # doctest: +SKIP

Sub-packages and heavy names are imported lazily (PEP 562), so ``import camforge`` and the
command line start quickly.
"""

from __future__ import annotations

import importlib

from camforge.errors import CamforgeError, ConfigError, FormatError, InputError, MeasurementError

__version__ = "0.1.0"

_LAZY = {
    "Camera": ("camforge.camera", "Camera"),
    "CameraDesign": ("camforge.camera", "CameraDesign"),
    "Image": ("camforge.types", "Image"),
    "OpticalImage": ("camforge.types", "OpticalImage"),
    "Raw": ("camforge.types", "Raw"),
    "RawMeta": ("camforge.types", "RawMeta"),
}
_SUBMODULES = {"errors", "scene", "spectral", "units", "optics", "sensor", "isp", "io", "metrics", "characterize",
               "store", "report", "parallel", "evaluate", "qualify", "design", "tasks", "cfa", "types", "config"}


def __getattr__(name: str):
    if name in _LAZY:
        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"camforge.{name}")
    raise AttributeError(f"module 'camforge' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = [
    "Camera", "CameraDesign", "CamforgeError", "ConfigError", "FormatError", "Image", "InputError",
    "MeasurementError", "OpticalImage", "Raw", "RawMeta", "__version__",
]
