"""Image-quality measurements on simulated and real images (raw mosaics, 8/16-bit RGB).

Each function takes an array, tensor, :class:`~camforge.types.Image` or
:class:`~camforge.types.Raw` and returns a frozen result dataclass with ``.to_dict()``:

- SFR / MTF (ISO 12233:2023 e-SFR): :func:`sfr`; every slanted edge of a chart: :func:`measure_edges`
- colour (ColorChecker, ΔE*ab / ΔE00, CCM fits): :func:`measure_color`, :func:`detect_colorchecker`, :func:`fit_ccm`
- noise (patch SNR, temporal vs fixed pattern, NPS): :func:`measure_noise`, :func:`temporal_fixed_pattern`,
  :func:`noise_power_spectrum`
- tone and dynamic range (OECF): :func:`measure_tone`
- shading / uniformity: :func:`measure_shading`
- distortion (dot grid, SMIA TV): :func:`measure_distortion`; lateral CA: :func:`measure_lateral_ca`
- texture (dead leaves) and acutance: :func:`measure_texture`, :func:`acutance`
- full reference: :func:`psnr`, :func:`ssim`, :func:`delta_e00_map`, :func:`compare_images`
"""

from camforge.metrics.chroma import EdgeCA, LateralCAResult, measure_lateral_ca
from camforge.metrics.color import (
    CCMResult, ColorReference, ColorResult, apply_ccm, colorchecker_reference, delta_e, fit_ccm, measure_color,
)
from camforge.metrics.colorchecker import ChartDetection, chart_from_corners, detect_colorchecker, patch_statistics
from camforge.metrics.distortion import DistortionResult, find_dots, measure_distortion
from camforge.metrics.edges import EdgeMeasurement, EdgeROI, EdgesResult, find_edges, measure_edges
from camforge.metrics.noise import (
    NoiseResult, NPSResult, TemporalFPNResult, measure_noise, noise_power_spectrum, temporal_fixed_pattern,
)
from camforge.metrics.reference import FullReferenceResult, SSIMLoss, compare_images, delta_e00_map, psnr, ssim
from camforge.metrics.sfr import SFRResult, sfr
from camforge.metrics.shading import ShadingResult, measure_shading
from camforge.metrics.texture import TextureResult, acutance, measure_texture
from camforge.metrics.tone import ToneResult, measure_tone, step_chart_rois

__all__ = [
    "CCMResult", "ChartDetection", "ColorReference", "ColorResult", "DistortionResult", "EdgeCA", "EdgeMeasurement",
    "EdgeROI", "EdgesResult", "FullReferenceResult", "LateralCAResult", "NPSResult", "NoiseResult", "SFRResult",
    "SSIMLoss", "ShadingResult", "TemporalFPNResult", "TextureResult", "ToneResult", "acutance", "apply_ccm",
    "chart_from_corners", "colorchecker_reference", "compare_images", "delta_e", "delta_e00_map", "detect_colorchecker",
    "find_dots", "find_edges", "fit_ccm", "measure_color", "measure_distortion", "measure_edges", "measure_lateral_ca",
    "measure_noise", "measure_shading", "measure_texture", "measure_tone", "noise_power_spectrum", "patch_statistics",
    "psnr", "sfr", "ssim", "step_chart_rois", "temporal_fixed_pattern",
]
