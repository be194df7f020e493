"""camforge — camera hardware engineering in Python/PyTorch.

Simulate a camera module physically and differentiably (scene → lens → sensor → ISP),
measure image quality the way labs do, characterize sensors per EMVA 1288, qualify
modules in production and optimize designs with machine learning.

    >>> import camforge as cf
    >>> cam = cf.Camera.from_yaml("examples/designs/phone_main_12mp.yaml")  # doctest: +SKIP
    >>> raw = cam.capture(cam.chart("slanted-edge", lux=100), seed=0)       # doctest: +SKIP
"""

from camforge import errors, scene, spectral, units
from camforge.camera import Camera, CameraDesign
from camforge.errors import CamforgeError, ConfigError, FormatError, InputError, MeasurementError
from camforge.types import Image, OpticalImage, Raw, RawMeta

__version__ = "0.1.0"

__all__ = [
    "Camera", "CameraDesign", "CamforgeError", "ConfigError", "FormatError", "Image", "InputError",
    "MeasurementError", "OpticalImage", "Raw", "RawMeta", "errors", "scene", "spectral", "units", "__version__",
]
