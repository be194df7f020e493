"""Colour correction: white-balanced camera RGB → linear sRGB (or CIE XYZ) with a 3 × 3 matrix.

The matrix comes from the raw file (DNG ``ColorMatrix``, XYZ → camera) or from a chart fit
(:func:`camforge.isp.fit_ccm`). For the DNG case (Adobe DNG Specification 1.6, Chapter 6,
"Mapping Camera Color Space to CIE XYZ Space"):

1. the scene white in camera RGB is the neutral ``n`` (``AsShotNeutral`` or the inverse AWB
   gains), so white-balanced camera RGB is ``c_wb = diag(1/n) · c``;
2. ``XYZ = CM⁻¹ · diag(n) · c_wb``; the white ``XYZ_w = CM⁻¹ · n`` is scaled to ``Y = 1``;
3. a Bradford chromatic adaptation from ``XYZ_w`` to D65 and the IEC 61966-2-1 XYZ → sRGB
   matrix finish the map (both from colour-science).

The result maps ``c_wb = (1, 1, 1)`` exactly to sRGB white.
"""

from __future__ import annotations

import numpy as np
import torch

from camforge.errors import ConfigError, DependencyError, InputError
from camforge.isp._common import as_param, check_image
from camforge.isp._state import IspState, Stage


def apply_ccm(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``y[:, i] = Σ_j M[i, j] x[:, j]`` for an image ``[B, 3, H, W]`` and ``M`` [3, 3] or [B, 3, 3]."""
    x = check_image(x)
    M = torch.as_tensor(matrix, dtype=x.dtype)
    if M.shape[-2:] != (3, 3):
        raise InputError(f"colour matrix must be 3 × 3, got shape {tuple(M.shape)}")
    B, _, H, W = x.shape
    y = torch.matmul(M if M.ndim == 3 else M[None], x.reshape(B, 3, H * W))
    return y.reshape(B, 3, H, W)


def _colour():
    try:
        import colour
    except ImportError as e:  # pragma: no cover - colour-science is a core dependency
        raise DependencyError("colour-science is needed for DNG colour matrices: pip install colour-science") from e
    return colour


def xyz_to_srgb_matrix() -> np.ndarray:
    """IEC 61966-2-1 XYZ (D65) → linear sRGB matrix (from colour-science)."""
    return np.asarray(_colour().models.RGB_COLOURSPACE_sRGB.matrix_XYZ_to_RGB, dtype=np.float64)


def ccm_from_dng(color_matrix, neutral=None, output: str = "linear_srgb") -> np.ndarray:
    """3 × 3 matrix from white-balanced camera RGB to linear sRGB (or XYZ D65) from a DNG
    ``ColorMatrix`` (XYZ → camera, 9 values row-major) and the camera neutral ``n``.

    ``neutral`` defaults to the camera response to D65 (``CM · XYZ_D65``).
    """
    colour = _colour()
    CM = np.asarray(color_matrix, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(CM)) or abs(np.linalg.det(CM)) < 1e-12:
        raise InputError("DNG ColorMatrix is singular or not finite; use ccm.source: matrix or identity")
    xyz_d65 = colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    n = CM @ xyz_d65 if neutral is None else np.asarray(neutral, dtype=np.float64).reshape(3)
    if np.any(n <= 0):
        raise InputError(f"camera neutral must be positive, got {n.tolist()}")
    cam_to_xyz = np.linalg.inv(CM) @ np.diag(n)
    white = cam_to_xyz @ np.ones(3)
    if white[1] <= 0:
        raise InputError("DNG ColorMatrix maps the neutral to a non-positive luminance")
    cam_to_xyz /= white[1]
    white /= white[1]
    cat = colour.adaptation.matrix_chromatic_adaptation_VonKries(white, xyz_d65, transform="Bradford")
    M = cat @ cam_to_xyz
    if output == "xyz":
        return M
    return xyz_to_srgb_matrix() @ M


class ColorCorrection(Stage):
    """Colour correction stage (functional twin: :func:`apply_ccm`).

    ``source="matrix"``: the parameter ``matrix`` (tensor [3, 3]); ``"metadata"``: derived per
    frame from the DNG ColorMatrix and the white balance neutral (identity without one);
    ``"identity"``: no change of primaries. ``output``: ``linear_srgb`` or ``xyz``.
    """

    name = "ccm"

    def __init__(self, source: str = "metadata", matrix=None, output: str = "linear_srgb"):
        super().__init__()
        if source not in ("metadata", "matrix", "identity"):
            raise ConfigError(f"ccm source must be metadata, matrix or identity, got {source!r}")
        if source == "matrix" and matrix is None:
            raise ConfigError("ccm source 'matrix' needs a 3 × 3 matrix")
        self.source = source
        self.output = output
        self.matrix = None if matrix is None else as_param(np.asarray(matrix, dtype=np.float32))
        if self.matrix is not None and tuple(self.matrix.shape) != (3, 3):
            raise ConfigError(f"ccm matrix must be 3 × 3, got shape {tuple(self.matrix.shape)}")

    def matrix_for(self, state: IspState) -> torch.Tensor:
        """The matrix ``[B, 3, 3]`` (or [3, 3]) this stage applies to ``state``."""
        if self.source == "matrix":
            return self.matrix
        if self.source == "metadata" and state.meta.color_matrix is not None:
            gains = state.stats.get("awb_gains")
            mats = []
            B = state.data.shape[0]
            for b in range(B):
                n = None if gains is None else (1.0 / gains[b].detach().double()).numpy()
                if n is None and state.meta.as_shot_neutral is not None:
                    n = np.asarray(state.meta.as_shot_neutral)
                mats.append(ccm_from_dng(state.meta.color_matrix, n, self.output))
            return torch.as_tensor(np.stack(mats), dtype=torch.float32)
        M = torch.eye(3)
        if self.output == "xyz":
            # camera RGB treated as linear sRGB primaries
            M = torch.as_tensor(np.linalg.inv(xyz_to_srgb_matrix()), dtype=torch.float32)
        return M

    def run(self, state: IspState) -> IspState:
        if state.domain == "mono":
            return state
        if state.domain != "camera":
            raise InputError(f"ccm works on camera RGB (after demosaic), got {state.domain}")
        M = self.matrix_for(state).to(state.data.dtype)
        return state.replace(data=apply_ccm(state.data, M), domain="xyz" if self.output == "xyz" else "linear_srgb")
