"""The image signal processor: raw mosaic → display image, differentiable and fast.

Stages (each an ``nn.Module`` with a functional twin, batch-first, parameters as tensors),
in their fixed order:

=============  =============================================  ================================
stage          module / functional                            what
=============  =============================================  ================================
black_level    :class:`BlackLevel` / :func:`black_level`      subtract per-site black, scale to [0, 1]
dpc            :class:`Dpc` / :func:`dpc`                     defective pixels (map or detected)
lsc            :class:`LensShading` / :func:`lens_shading`    flat-field gain maps per CFA site
awb            :class:`WhiteBalance` / :func:`white_balance`  manual, grey world, white patch, grey edge, as shot
denoise        :class:`Denoise` / :func:`nlm`, :func:`bilateral` (+ ``_raw`` twins)  NLM / bilateral
demosaic       :class:`Demosaic` / :func:`demosaic`           bilinear, Malvar 2004, Menon 2007
ccm            :class:`ColorCorrection` / :func:`apply_ccm`   camera RGB → linear sRGB / XYZ
tone           :class:`Tone` / :func:`tone`                   exposure, sRGB / gamma / S-curve
sharpen        :class:`Sharpen` / :func:`unsharp_mask`        unsharp mask with coring
yuv            :class:`ColorSpace` / :func:`rgb_to_yuv`       Y'CbCr BT.601 / BT.709
=============  =============================================  ================================

(``denoise`` runs before ``demosaic`` on the mosaic by default, after it with
``denoise.domain: rgb``.) :class:`Pipeline` builds them from an :class:`IspConfig` (YAML);
:func:`render_srgb` renders with the default pipeline; :func:`calibrate_lsc` and
:func:`fit_ccm` calibrate lens shading and colour.
"""

from camforge.isp.awb import WhiteBalance, estimate_illuminant, grey_edge, grey_world, white_balance, white_patch
from camforge.isp.black_level import BlackLevel, black_level
from camforge.isp.calibrate import CcmFit, LscCalibration, calibrate_lsc, fit_ccm
from camforge.isp.ccm import ColorCorrection, apply_ccm, ccm_from_dng
from camforge.isp.color_space import ColorSpace, rgb_to_yuv, yuv_to_rgb
from camforge.isp.config import STAGES, IspConfig
from camforge.isp.demosaic import Demosaic, demosaic
from camforge.isp.denoise import Denoise, bilateral, bilateral_raw, nlm, nlm_raw
from camforge.isp.dpc import Dpc, detect_defects, dpc
from camforge.isp.lsc import LensShading, lens_shading, load_lsc, save_lsc
from camforge.isp.pipeline import Pipeline, render_srgb
from camforge.isp.sharpen import Sharpen, unsharp_mask
from camforge.isp.tone import Tone, gamma_curve, s_curve, srgb_decode, srgb_encode, tone

__all__ = [
    "STAGES", "IspConfig", "Pipeline", "render_srgb",
    "BlackLevel", "black_level", "Dpc", "dpc", "detect_defects", "LensShading", "lens_shading", "save_lsc",
    "load_lsc", "WhiteBalance", "white_balance", "grey_world", "white_patch", "grey_edge", "estimate_illuminant",
    "Demosaic", "demosaic", "Denoise", "nlm", "bilateral", "nlm_raw", "bilateral_raw", "ColorCorrection",
    "apply_ccm", "ccm_from_dng", "Tone", "tone", "srgb_encode", "srgb_decode", "gamma_curve", "s_curve",
    "Sharpen", "unsharp_mask", "ColorSpace", "rgb_to_yuv", "yuv_to_rgb",
    "calibrate_lsc", "LscCalibration", "fit_ccm", "CcmFit",
]
