"""Colour accuracy on a ColorChecker Classic: patch statistics, ΔE*ab, ΔE00, ΔC, white
balance, saturation, and colour-correction-matrix (CCM) fitting.

Colorimetry comes from colour-science (CIE 1931 2° observer, CIE L*a*b*, ΔE formulas);
nothing here re-implements a colour-difference formula. The working space is sRGB
(IEC 61966-2-1:1999), whose white is D65, so reference values tabulated under another
illuminant (the X-Rite ColorChecker data are under ICC D50) are adapted to D65 with the
Bradford chromatic adaptation transform (Lam 1985; von Kries scaling in the Bradford
cone space, as in ICC.1:2010 Annex E and colour-science's ``chromatic_adaptation``).

Definitions used in :class:`ColorResult` (all on CIE L*a*b* relative to D65):

* ΔE*ab — CIE 1976 Euclidean distance (CIE 015:2018 §8.2.1).
* ΔE00 — CIEDE2000 with k_L = k_C = k_H = 1 (CIE 142-2001; implementation notes and test
  data: G. Sharma, W. Wu, E. N. Dalal, Color Res. Appl. 30(1):21–30, 2005).
* ΔC (``delta_c_ab``) — √(Δa*² + Δb*²): the colour error with the lightness term left out
  (the "ΔC" of lab practice, e.g. Imatest Colorcheck); ``delta_chroma_ab`` is the signed
  CIE chroma difference C*_meas − C*_ref.
* white-balance error — mean ΔC of the six neutral patches (white … black).
* saturation — 100 × mean C* of the 18 chromatic patches / mean reference C*.

CCM fitting (:func:`fit_ccm`) maps linear camera RGB to linear sRGB by a 3 × 3 matrix M
(``out = M @ rgb``): ordinary least squares (the 3-term case of Cheung et al., Coloration
Technology 120(1):19–25, 2004), white-preserving least squares (rows of M sum to 1, so a
white-balanced neutral stays neutral), or minimum mean ΔE00 (scipy.optimize from the
white-preserving start, keeping the constraint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._common import _Result, as_hwc

#: Default reference: X-Rite's post-November-2014 ColorChecker Classic values (colour-science).
DEFAULT_REFERENCE = "ColorChecker24 - After November 2014"
#: Indices (0-based, reading order) of the neutral row: white 9.5 … black 2.
NEUTRAL_PATCHES = (18, 19, 20, 21, 22, 23)
#: The 18 chromatic patches.
CHROMATIC_PATCHES = tuple(range(18))
#: Neutrals used to normalise exposure (white and black left out: clipping and flare).
_EXPOSURE_PATCHES = (19, 20, 21, 22)

_OBSERVER = "CIE 1931 2 Degree Standard Observer"
_DELTA_E_METHODS = {"CIE 1976": "CIE 1976", "76": "CIE 1976", "CIE 1994": "CIE 1994", "CIE 2000": "CIE 2000",
                    "00": "CIE 2000", "CMC": "CMC"}
ColorSpace = Literal["srgb", "linear_srgb"]


def _colour():
    import colour

    return colour


# ---------------------------------------------------------------------------- colorimetry


def d65_xy() -> np.ndarray:
    """Chromaticity of CIE D65 (2° observer), the sRGB white."""
    return np.asarray(_colour().CCS_ILLUMINANTS[_OBSERVER]["D65"], dtype=np.float64)


def srgb_decode(v) -> np.ndarray:
    """sRGB-encoded values (0–1) → linear sRGB (IEC 61966-2-1 EOTF, colour-science)."""
    return np.asarray(_colour().models.eotf_sRGB(np.asarray(v, dtype=np.float64)), dtype=np.float64)


def srgb_encode(v) -> np.ndarray:
    """Linear sRGB → sRGB-encoded values (inverse EOTF; negative values pass through the linear segment)."""
    return np.asarray(_colour().models.eotf_inverse_sRGB(np.asarray(v, dtype=np.float64)), dtype=np.float64)


def linear_srgb_to_xyz(rgb) -> np.ndarray:
    """Linear sRGB → CIE XYZ (D65 white, Y of white = 1)."""
    m = _colour().RGB_COLOURSPACES["sRGB"].matrix_RGB_to_XYZ
    return np.asarray(rgb, dtype=np.float64) @ np.asarray(m).T


def xyz_to_linear_srgb(xyz) -> np.ndarray:
    """CIE XYZ (D65) → linear sRGB."""
    m = _colour().RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB
    return np.asarray(xyz, dtype=np.float64) @ np.asarray(m).T


def xyz_to_lab(xyz, white_xy=None) -> np.ndarray:
    """CIE XYZ (Y of white = 1) → CIE L*a*b* (L* 0–100) relative to ``white_xy`` (default D65)."""
    return np.asarray(_colour().XYZ_to_Lab(np.asarray(xyz, dtype=np.float64), d65_xy() if white_xy is None else white_xy))


def linear_srgb_to_lab(rgb) -> np.ndarray:
    """Linear sRGB → CIE L*a*b* (D65)."""
    return xyz_to_lab(linear_srgb_to_xyz(rgb))


def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB-encoded (0–1) → CIE L*a*b* (D65)."""
    return linear_srgb_to_lab(srgb_decode(rgb))


def delta_e(lab1, lab2, method: str = "CIE 2000") -> np.ndarray:
    """Colour difference between two L*a*b* arrays (``[..., 3]``) by colour-science.

    ``method``: ``"CIE 1976"`` (ΔE*ab), ``"CIE 1994"``, ``"CIE 2000"`` (ΔE00, k_L = k_C =
    k_H = 1; Sharma, Wu & Dalal 2005) or ``"CMC"``.
    """
    key = _DELTA_E_METHODS.get(method)
    if key is None:
        raise InputError(f"unknown colour-difference method {method!r}; use one of 'CIE 1976', 'CIE 1994', 'CIE 2000', 'CMC'")
    a = np.asarray(lab1, dtype=np.float64)
    b = np.asarray(lab2, dtype=np.float64)
    if a.shape[-1:] != (3,) or b.shape[-1:] != (3,):
        raise InputError(f"L*a*b* arrays must end in 3 values, got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError("L*a*b* values contain NaN or infinite numbers")
    return np.asarray(_colour().delta_E(a, b, method=key), dtype=np.float64)


def chroma_ab(lab) -> np.ndarray:
    """CIE chroma C*ab = √(a*² + b*²)."""
    lab = np.asarray(lab, dtype=np.float64)
    return np.hypot(lab[..., 1], lab[..., 2])


# ---------------------------------------------------------------------------- reference values


@dataclass(frozen=True)
class ColorReference(_Result):
    """Reference colours of a 24-patch chart, adapted to the sRGB white (D65).

    Attributes:
        name: data set name (colour-science key) or ``"custom"``.
        patch_names: the 24 patch names in reading order (dark skin … black).
        xyz: CIE XYZ under D65 (Y of the perfect white = 1), ``24 × 3``.
        lab: CIE L*a*b* relative to D65, ``24 × 3``.
        linear_srgb: linear sRGB, ``24 × 3`` (may leave [0, 1]: the cyan patch is out of gamut).
        source_illuminant_xy: white of the tabulated data.
        adaptation: chromatic adaptation used (``"Bradford"``, or ``"none"``).
    """

    name: str
    patch_names: tuple[str, ...]
    xyz: tuple[tuple[float, float, float], ...]
    lab: tuple[tuple[float, float, float], ...]
    linear_srgb: tuple[tuple[float, float, float], ...]
    source_illuminant_xy: tuple[float, float]
    adaptation: str

    @property
    def lab_array(self) -> np.ndarray:
        return np.asarray(self.lab, dtype=np.float64)

    @property
    def linear_srgb_array(self) -> np.ndarray:
        return np.asarray(self.linear_srgb, dtype=np.float64)


def _tup(a) -> tuple:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return float(a)
    return tuple(_tup(x) for x in a) if a.ndim > 1 else tuple(float(x) for x in a)


def _reference_from_xyz(name, names, xyz_d65, src_xy, adaptation) -> ColorReference:
    xyz_d65 = np.asarray(xyz_d65, dtype=np.float64)
    return ColorReference(
        name=name,
        patch_names=tuple(names),
        xyz=_tup(xyz_d65),
        lab=_tup(xyz_to_lab(xyz_d65)),
        linear_srgb=_tup(xyz_to_linear_srgb(xyz_d65)),
        source_illuminant_xy=_tup(src_xy),
        adaptation=adaptation,
    )


@lru_cache(maxsize=16)
def colorchecker_reference(name: str = DEFAULT_REFERENCE, adaptation: str = "Bradford") -> ColorReference:
    """Reference values of the ColorChecker Classic from colour-science, under D65.

    ``name`` is a key of ``colour.SDS_COLOURCHECKERS`` (reflectance spectra, e.g.
    ``"BabelColor Average"``) — integrated under CIE D65 with the CIE 1931 2° observer on
    the data's 380–730 nm, 10 nm grid (ASTM E308), which needs no adaptation — or of
    ``colour.CCS_COLOURCHECKERS`` (tabulated xyY, e.g. ``"ColorChecker24 - After November
    2014"``, ICC D50), adapted to D65 with ``adaptation`` (a colour-science von Kries
    transform: ``"Bradford"``, ``"CAT02"``, ``"Von Kries"``...). Spectra win when a name is
    in both.
    """
    colour = _colour()
    if name in colour.SDS_COLOURCHECKERS:
        sds = colour.SDS_COLOURCHECKERS[name]
        names = list(sds.keys())
        shape = colour.SpectralShape(380, 730, 10)  # the BabelColor / Ohta data grid
        cmfs = colour.MSDS_CMFS[_OBSERVER].copy().align(shape)
        illum = colour.SDS_ILLUMINANTS["D65"].copy().align(shape)
        xyz = np.stack([colour.sd_to_XYZ(sds[n].copy().align(shape), cmfs, illum) for n in names]) / 100.0
        return _reference_from_xyz(name, names, xyz, d65_xy(), "none")
    if name in colour.CCS_COLOURCHECKERS:
        cc = colour.CCS_COLOURCHECKERS[name]
        names = list(cc.data.keys())
        xyY = np.asarray(list(cc.data.values()), dtype=np.float64)
        xyz = colour.xyY_to_XYZ(xyY)
        src = np.asarray(cc.illuminant, dtype=np.float64)
        if np.allclose(src, d65_xy(), atol=1e-4) or adaptation == "none":
            return _reference_from_xyz(name, names, xyz, src, "none")
        try:
            xyz_a = colour.chromatic_adaptation(xyz, colour.xy_to_XYZ(src), colour.xy_to_XYZ(d65_xy()),
                                                method="Von Kries", transform=adaptation)
        except KeyError:
            raise InputError(f"unknown chromatic adaptation transform {adaptation!r}; use 'Bradford', 'CAT02' or 'Von Kries'") from None
        return _reference_from_xyz(name, names, xyz_a, src, adaptation)
    known = sorted(set(colour.CCS_COLOURCHECKERS) | set(colour.SDS_COLOURCHECKERS))
    raise InputError(f"unknown ColorChecker reference {name!r}; use one of: {', '.join(known)}")


def custom_reference(lab_d65, patch_names: Sequence[str] | None = None) -> ColorReference:
    """A :class:`ColorReference` from your own 24 L*a*b* values (relative to D65)."""
    lab = np.asarray(lab_d65, dtype=np.float64)
    if lab.shape != (24, 3) or not np.isfinite(lab).all():
        raise InputError(f"a custom ColorChecker reference needs 24 × 3 finite L*a*b* values, got shape {lab.shape}")
    xyz = np.asarray(_colour().Lab_to_XYZ(lab, d65_xy()))
    names = tuple(patch_names) if patch_names is not None else colorchecker_reference().patch_names
    if len(names) != 24:
        raise InputError("patch_names needs 24 names")
    return _reference_from_xyz("custom", names, xyz, d65_xy(), "none")


def _resolve_reference(reference) -> ColorReference:
    if isinstance(reference, ColorReference):
        return reference
    if reference is None:
        return colorchecker_reference()
    if isinstance(reference, str):
        return colorchecker_reference(reference)
    return custom_reference(reference)


# ---------------------------------------------------------------------------- CCM fitting


@dataclass(frozen=True)
class CCMResult(_Result):
    """A fitted colour correction matrix: ``linear_srgb = matrix @ camera_rgb``.

    Attributes:
        matrix: 3 × 3, row-major.
        method: ``"least_squares"``, ``"white_preserving"`` or ``"delta_e00"``.
        row_sums: sums of the rows (1 for white-preserving fits).
        delta_e00: ΔE00 per patch after correction (D65 L*a*b*).
        delta_e00_mean, delta_e00_max: summary.
        rms_error_linear: RMS error of the corrected linear RGB against the target.
    """

    matrix: tuple[tuple[float, float, float], ...]
    method: str
    row_sums: tuple[float, float, float]
    delta_e00: tuple[float, ...]
    delta_e00_mean: float
    delta_e00_max: float
    rms_error_linear: float

    @property
    def matrix_array(self) -> np.ndarray:
        return np.asarray(self.matrix, dtype=np.float64)


def apply_ccm(rgb, matrix) -> np.ndarray:
    """Apply a 3 × 3 CCM to linear RGB ``[..., 3]``: ``out = M @ rgb`` per pixel."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3):
        raise InputError(f"a CCM must be 3 × 3, got shape {m.shape}")
    return np.asarray(rgb, dtype=np.float64) @ m.T


def _check_pairs(camera_rgb, target) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(camera_rgb, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3 or y.shape != x.shape:
        raise InputError(f"CCM fitting needs two N × 3 arrays of the same shape, got {x.shape} and {y.shape}")
    if x.shape[0] < 4:
        raise MeasurementError(f"CCM fitting needs at least 4 colour pairs, got {x.shape[0]}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("CCM fitting input contains NaN or infinite values")
    return x, y


def _ls_matrix(x, y, w) -> np.ndarray:
    sw = np.sqrt(w)[:, None]
    mt, *_ = np.linalg.lstsq(x * sw, y * sw, rcond=None)
    return mt.T


def _white_preserving_matrix(x, y, w) -> np.ndarray:
    """Least squares with each row summing to 1: m_i3 = 1 − m_i1 − m_i2 substituted."""
    sw = np.sqrt(w)
    a = np.stack([x[:, 0] - x[:, 2], x[:, 1] - x[:, 2]], axis=1) * sw[:, None]
    m = np.zeros((3, 3))
    for i in range(3):
        b = (y[:, i] - x[:, 2]) * sw
        (p, q), *_ = np.linalg.lstsq(a, b, rcond=None)
        m[i] = (p, q, 1 - p - q)
    return m


def fit_ccm(
    camera_rgb,
    target_linear_srgb,
    *,
    method: Literal["least_squares", "white_preserving", "delta_e00"] = "least_squares",
    weights=None,
    max_iterations: int = 4000,
) -> CCMResult:
    """Fit a 3 × 3 colour correction matrix from linear camera RGB to linear sRGB.

    Args:
        camera_rgb: ``N × 3`` linear, white-balanced camera RGB of the patches.
        target_linear_srgb: ``N × 3`` target linear sRGB (e.g.
            ``colorchecker_reference().linear_srgb``), same exposure scale.
        method: ``"least_squares"`` (unconstrained, Cheung et al. 2004 with 3 terms),
            ``"white_preserving"`` (rows sum to 1) or ``"delta_e00"`` (minimum mean
            CIEDE2000 over the patches, rows sum to 1, Nelder–Mead then Powell from the
            white-preserving solution).
        weights: optional ``N`` non-negative weights per patch.

    Returns:
        :class:`CCMResult` (ΔE00 per patch after correction, against the target's L*a*b*).
    """
    x, y = _check_pairs(camera_rgb, target_linear_srgb)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(x),) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise InputError("weights must be N finite non-negative numbers, not all zero")
    if method == "least_squares":
        m = _ls_matrix(x, y, w)
    elif method == "white_preserving":
        m = _white_preserving_matrix(x, y, w)
    elif method == "delta_e00":
        from scipy.optimize import minimize

        lab_t = linear_srgb_to_lab(y)
        m0 = _white_preserving_matrix(x, y, w)

        def unpack(p):
            p = p.reshape(3, 2)
            return np.concatenate([p, 1 - p.sum(1, keepdims=True)], axis=1)

        def cost(p):
            lab = linear_srgb_to_lab(apply_ccm(x, unpack(p)))
            return float(np.sum(w * delta_e(lab, lab_t, "CIE 2000")) / w.sum())

        p0 = m0[:, :2].ravel()
        r = minimize(cost, p0, method="Nelder-Mead", options={"maxiter": max_iterations, "xatol": 1e-7, "fatol": 1e-9})
        r = minimize(cost, r.x, method="Powell", options={"maxiter": max_iterations, "xtol": 1e-7, "ftol": 1e-10})
        m = unpack(r.x) if r.fun <= cost(p0) else m0
    else:
        raise InputError(f"unknown CCM method {method!r}; use 'least_squares', 'white_preserving' or 'delta_e00'")
    out = apply_ccm(x, m)
    de = delta_e(linear_srgb_to_lab(out), linear_srgb_to_lab(y), "CIE 2000")
    return CCMResult(
        matrix=_tup(m),
        method=method,
        row_sums=_tup(m.sum(1)),
        delta_e00=_tup(de),
        delta_e00_mean=float(de.mean()),
        delta_e00_max=float(de.max()),
        rms_error_linear=float(np.sqrt(np.mean((out - y) ** 2))),
    )


# ---------------------------------------------------------------------------- measurement


@dataclass(frozen=True)
class ColorResult(_Result):
    """Colour accuracy on a 24-patch ColorChecker (all colour differences in D65 L*a*b*).

    Per-patch fields are 24-tuples in reading order (row 1: dark skin … cyan; row 4:
    white … black). ``rgb_mean``/``rgb_std`` are in the input's own encoding and scale
    (before exposure normalisation); the L*a*b* values are after it.
    """

    patch_names: tuple[str, ...]
    rgb_mean: tuple[tuple[float, ...], ...]
    rgb_std: tuple[tuple[float, ...], ...]
    n_pixels: tuple[int, ...]
    lab_measured: tuple[tuple[float, float, float], ...]
    lab_reference: tuple[tuple[float, float, float], ...]
    delta_e76: tuple[float, ...]
    delta_e00: tuple[float, ...]
    delta_c_ab: tuple[float, ...]
    delta_chroma_ab: tuple[float, ...]
    delta_l: tuple[float, ...]
    delta_e76_mean: float
    delta_e76_max: float
    delta_e00_mean: float
    delta_e00_max: float
    delta_c_ab_mean: float
    delta_c_ab_max: float
    white_balance_error_dc_ab: float
    saturation_pct: float
    exposure_scale: float
    color_space: str
    reference: str
    adaptation: str
    patch_centers_px: tuple[tuple[float, float], ...]
    detection_method: str


def _check_color_space(color_space: str) -> str:
    cs = str(color_space).lower()
    if cs not in ("srgb", "linear_srgb"):
        raise InputError(
            f"measure_color works on 'srgb' (encoded) or 'linear_srgb' images, got {color_space!r}; "
            "render camera RGB through an ISP (with a CCM) first, or fit one with fit_ccm"
        )
    return cs


def to_linear(rgb, color_space: str) -> np.ndarray:
    """Patch or pixel values in ``color_space`` (``"srgb"`` encoded or ``"linear_srgb"``) → linear sRGB."""
    cs = _check_color_space(color_space)
    rgb = np.asarray(rgb, dtype=np.float64)
    return srgb_decode(rgb) if cs == "srgb" else rgb


def exposure_scale(linear_rgb, reference: ColorReference, patches: Sequence[int] = _EXPOSURE_PATCHES) -> float:
    """Least-squares scale s making the measured luminance Y of ``patches`` match the
    reference: s = Σ Y_m Y_r / Σ Y_m² (neutral 8 … 3.5 by default)."""
    ym = linear_srgb_to_xyz(np.asarray(linear_rgb)[list(patches)])[:, 1]
    yr = np.asarray(reference.xyz)[list(patches), 1]
    den = float(np.sum(ym * ym))
    if not den > 0:
        raise MeasurementError("the neutral patches are black: the chart is not exposed (or not where it was looked for)")
    return float(np.sum(ym * yr) / den)


def color_metrics_from_patches(
    patch_rgb,
    *,
    color_space: str = "srgb",
    reference=None,
    normalize_exposure: bool = True,
    patch_std=None,
    n_pixels=None,
    patch_centers_px=None,
    detection_method: str = "given",
) -> ColorResult:
    """:class:`ColorResult` from 24 patch means (``24 × 3``) already extracted."""
    ref = _resolve_reference(reference)
    rgb = np.asarray(patch_rgb, dtype=np.float64)
    if rgb.shape != (24, 3):
        raise InputError(f"need 24 × 3 patch values (R, G, B), got shape {rgb.shape}")
    if not np.isfinite(rgb).all():
        raise MeasurementError("patch means contain NaN or infinite values")
    lin = to_linear(rgb, color_space)
    s = exposure_scale(lin, ref) if normalize_exposure else 1.0
    lab_m = linear_srgb_to_lab(lin * s)
    lab_r = ref.lab_array
    de76 = delta_e(lab_m, lab_r, "CIE 1976")
    de00 = delta_e(lab_m, lab_r, "CIE 2000")
    dc = np.hypot(lab_m[:, 1] - lab_r[:, 1], lab_m[:, 2] - lab_r[:, 2])
    dch = chroma_ab(lab_m) - chroma_ab(lab_r)
    dl = lab_m[:, 0] - lab_r[:, 0]
    chrom = list(CHROMATIC_PATCHES)
    sat = 100.0 * float(chroma_ab(lab_m)[chrom].mean() / chroma_ab(lab_r)[chrom].mean())
    std = np.zeros_like(rgb) if patch_std is None else np.asarray(patch_std, dtype=np.float64)
    npx = (0,) * 24 if n_pixels is None else tuple(int(n) for n in n_pixels)
    centers = ((math.nan, math.nan),) * 24 if patch_centers_px is None else _tup(patch_centers_px)
    return ColorResult(
        patch_names=ref.patch_names,
        rgb_mean=_tup(rgb),
        rgb_std=_tup(std),
        n_pixels=npx,
        lab_measured=_tup(lab_m),
        lab_reference=_tup(lab_r),
        delta_e76=_tup(de76),
        delta_e00=_tup(de00),
        delta_c_ab=_tup(dc),
        delta_chroma_ab=_tup(dch),
        delta_l=_tup(dl),
        delta_e76_mean=float(de76.mean()),
        delta_e76_max=float(de76.max()),
        delta_e00_mean=float(de00.mean()),
        delta_e00_max=float(de00.max()),
        delta_c_ab_mean=float(dc.mean()),
        delta_c_ab_max=float(dc.max()),
        white_balance_error_dc_ab=float(dc[list(NEUTRAL_PATCHES)].mean()),
        saturation_pct=sat,
        exposure_scale=float(s),
        color_space=_check_color_space(color_space),
        reference=ref.name,
        adaptation=ref.adaptation,
        patch_centers_px=centers,
        detection_method=detection_method,
    )


def measure_color(
    image,
    *,
    chart=None,
    corners=None,
    roi=None,
    color_space: str = "srgb",
    reference=None,
    normalize_exposure: bool = True,
    sample_fraction: float = 0.5,
) -> ColorResult:
    """Colour accuracy of an image of a ColorChecker Classic.

    Args:
        image: RGB image (``H × W × 3`` numpy, ``[B, 3, H, W]`` tensor or
            :class:`camforge.types.Image`); uint8/uint16 are scaled to 0–1.
        chart: a :class:`camforge.metrics.colorchecker.ChartDetection` (from
            :func:`~camforge.metrics.colorchecker.detect_colorchecker`); found automatically
            when ``None``.
        corners: four-corner fallback: outer corners of the patch area ``[(x, y)] × 4`` in
            pixels, starting at the top-left corner of the dark-skin patch, clockwise.
        roi: ``(x, y, w, h)`` to search the chart in (automatic detection only).
        color_space: ``"srgb"`` (IEC 61966-2-1 encoded) or ``"linear_srgb"``.
        reference: reference set name (see :func:`colorchecker_reference`), a
            :class:`ColorReference` or 24 × 3 D65 L*a*b* values.
        normalize_exposure: scale linear values so the luminance of neutrals 8 … 3.5
            matches the reference (least squares) before computing L*a*b* (reported as
            ``exposure_scale``); ``False`` takes the image's absolute levels (white = 1).
        sample_fraction: side of the sampled square as a fraction of the patch side.
    """
    from camforge.metrics.colorchecker import chart_from_corners, detect_colorchecker, patch_statistics

    cs = _check_color_space(color_space)
    img = as_hwc(image, channels=3, unit=True)
    if img.max() > 1.0 + 1e-3 or img.min() < -1e-3:
        raise MeasurementError(
            f"{cs} values must lie in 0..1 (found {img.min():.4g}..{img.max():.4g}); pass uint8/uint16 data or "
            "scale floats to 0..1"
        )
    if chart is None:
        if corners is not None:
            chart = chart_from_corners(corners, img.shape[:2], sample_fraction=sample_fraction)
        else:
            chart = detect_colorchecker(img, color_space=cs, roi=roi, sample_fraction=sample_fraction)
    mean, std, n = patch_statistics(img, chart)
    return color_metrics_from_patches(
        mean,
        color_space=cs,
        reference=reference,
        normalize_exposure=normalize_exposure,
        patch_std=std,
        n_pixels=n,
        patch_centers_px=chart.centers_px,
        detection_method=chart.method,
    )


__all__ = [
    "DEFAULT_REFERENCE",
    "NEUTRAL_PATCHES",
    "CHROMATIC_PATCHES",
    "ColorReference",
    "ColorResult",
    "CCMResult",
    "apply_ccm",
    "chroma_ab",
    "colorchecker_reference",
    "color_metrics_from_patches",
    "custom_reference",
    "delta_e",
    "exposure_scale",
    "fit_ccm",
    "linear_srgb_to_lab",
    "linear_srgb_to_xyz",
    "measure_color",
    "srgb_decode",
    "srgb_encode",
    "srgb_to_lab",
    "to_linear",
    "xyz_to_lab",
    "xyz_to_linear_srgb",
]
