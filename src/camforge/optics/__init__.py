"""Optics: lens model, PSF from the pupil function, distortion, relative illumination,
lateral colour and image formation on the sensor grid."""

from camforge.optics.config import (
    DistortionConfig,
    LateralColorConfig,
    LensConfig,
    PsfConfig,
    RelativeIlluminationConfig,
    ZernikeNode,
)
from camforge.optics.distortion import distort, undistort
from camforge.optics.formation import SensorGeometry, form_image, image_to_scene, scene_to_image, scene_to_pixel
from camforge.optics.illumination import circle_overlap_fraction, relative_illumination
from camforge.optics.lens import Lens
from camforge.optics.psf import gaussian_psf, otf_from_pupil, psf_from_pupil
from camforge.optics.zernike import NAMES as ZERNIKE_NAMES
from camforge.optics.zernike import NOLL, zernike

__all__ = [
    "DistortionConfig", "LateralColorConfig", "Lens", "LensConfig", "PsfConfig", "RelativeIlluminationConfig",
    "SensorGeometry", "ZERNIKE_NAMES", "NOLL", "ZernikeNode", "circle_overlap_fraction", "distort", "form_image",
    "gaussian_psf", "image_to_scene", "otf_from_pupil", "psf_from_pupil", "relative_illumination", "scene_to_image",
    "scene_to_pixel", "undistort", "zernike",
]
