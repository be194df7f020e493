"""Defect and anomaly detectors behind one interface (see :mod:`.base`).

=================  ============================================  ===========================================
name               method                                        covers
=================  ============================================  ===========================================
``blemish``        high-pass + threshold (lab practice)          dust, particles, scratches, shading, glare
``defect_pixels``  same-colour median and line profiles          dead/stuck pixels, clusters, columns, rows
``patchcore``      memory bank of self-trained CNN features      dust, particles, scratches, shading, glare
``padim``          Gaussian of self-trained CNN features         dust, particles, scratches, shading, glare
``unet``           U-Net trained on simulated defects            dust, particles, scratches, shading, glare
=================  ============================================  ===========================================

Hot pixels show in dark frames only (the ``hot_pixel_count`` figure); lens tilt shows in the
chart's corner MTF (``mtf50_corner_min_cy_per_px``) — no flat-field detector sees either.
"""

from camforge.qualify.detectors.base import Detector, deterministic, detector_names, load_detector, make_detector
from camforge.qualify.detectors.classical import BlemishDetector, DefectPixelDetector
from camforge.qualify.detectors.nets import FeatureNet, UNet, train_feature_net
from camforge.qualify.detectors.patchcore import PadimDetector, PatchCoreDetector
from camforge.qualify.detectors.unet import UNetDetector, inject_area_defects

__all__ = [
    "BlemishDetector", "DefectPixelDetector", "Detector", "FeatureNet", "PadimDetector", "PatchCoreDetector", "UNet",
    "UNetDetector", "detector_names", "deterministic", "inject_area_defects", "load_detector", "make_detector",
    "train_feature_net",
]
