"""A fast physics scorecard: the headline metrics of ``camforge evaluate`` without image simulation.

Optimisation studies need thousands of evaluations; the full scorecard
(:func:`camforge.evaluate.evaluate`) renders charts through the lens, sensor and ISP and
measures them (seconds per design). This module computes the same metrics — same names,
same units, same conditions as the test plan — directly from camforge's own physical
models, in a few tens of milliseconds, deterministically:

Sharpness (``mtf50_*``)
    The e-SFR of ISO 12233 estimates the pre-sampling MTF of the system along the edge
    normal. Here it is computed as the product of

    * the lens OTF at the field position of each edge of the plan's chart
      (:func:`camforge.optics.psf.otf_from_pupil`: pupil autocorrelation with the
      design's Zernike wavefront at that field, working f-number, lateral colour), for
      the wavelengths of the chart, weighted by each wavelength's contribution to the
      output luminance through the sensor QE, the white balance and the colour matrix
      (``Y = Σ_k y_k (M · diag(g) · c)_k`` with BT.601 weights, as the SFR's luminance);
    * the pixel aperture ``sinc(a f_x) sinc(a f_y)`` (a = pitch · √fill factor) and the
      design's extra Gaussian blur ``exp(−2π²σ²f²)``;
    * the ISP's unsharp mask, ``1 + amount (1 − G(f))`` with ``G`` the transfer function of
      its truncated Gaussian taps.

    The frame of the pupil is rotated so that the two perpendicular edge normals of a
    chart square lie on the OTF lattice axes: the MTF is read on the lattice, not
    interpolated. MTF50 is the first crossing of 0.5 (monotone cubic interpolation).
    Demosaicing is taken as transparent to luminance (a stated approximation).

Noise (``snr_18pct_*``, ``low_light_limit_lux``)
    As the plan's noise section: a white sheet at each illuminance sets the camera's auto
    exposure and gain (:meth:`camforge.camera.Camera.auto_exposure` rules), an 18 % grey
    target is read out; mean and variance in electrons per colour come from the linear
    sensor model of :mod:`camforge.sensor.sensor` (shot noise of signal and dark current,
    PRNU, dark-current spread, DSNU, row/column patterns, read, row and ADC noise,
    quantisation). The raw SNR is that of the green sites; the ISP SNR is that of the
    BT.709 luminance of linear sRGB, with the demosaic's noise covariance for unit white
    noise on each CFA colour (measured once per CFA and method by running camforge's
    demosaic on noise), the white-balance gains and the colour matrix. The low-light limit
    is the illuminance where the ISP SNR equals the plan's limit, either interpolated on
    the plan's illuminances as the scorecard does (``low_light="plan"``) or solved exactly
    (``low_light="exact"``).

Colour (``delta_e00_*``)
    ColorChecker patch means in camera RGB from the spectral reflectances, illuminant and
    sensor QE (relative illumination at each patch included), the plan's auto exposure,
    as-shot white balance with highlight clipping, the DNG colour matrix of the camera, sRGB
    clipping, then :func:`camforge.metrics.color.color_metrics_from_patches` (CIEDE2000).

Sensor (``sensor_*``)
    EMVA 1288 figures implied by the model: K, σ_d (read, row and ADC noise, with R4.0's floor
    of 0.24 DN² on the dark variance), saturation (the full well), SNR_max and the dynamic range
    with R4.0's μ_e.min = √(σ²_y.dark/K² + ¼) + ½.

``tests/test_design_fast.py`` checks these numbers against ``camforge evaluate`` on several
designs (stated tolerances).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from camforge.evaluate.plan import TestPlan, load_plan

LUMA_601 = (0.299, 0.587, 0.114)
LUMA_709 = (0.2126, 0.7152, 0.0722)
_FIELD_SQUARE = {0.0: 0, 0.5: 3, 0.85: 7}
_FIELD_NAME = {0.0: "center", 0.5: "half_field", 0.85: "corner"}

#: Metric names the fast model produces (``<lux>`` and ``<illuminant>`` follow the plan).
FAST_METRICS = (
    "mtf50_center", "mtf50_half_field_sagittal", "mtf50_half_field_meridional", "mtf50_corner_sagittal",
    "mtf50_corner_meridional", "mtf50_lp_per_mm_center", "mtf50_lp_per_mm_half_field_sagittal",
    "mtf50_lp_per_mm_half_field_meridional", "mtf50_lp_per_mm_corner_sagittal", "mtf50_lp_per_mm_corner_meridional",
    "snr_18pct_db_<lux>lx", "snr_18pct_raw_db_<lux>lx", "low_light_limit_lux", "delta_e00_mean_<illuminant>",
    "delta_e00_max_<illuminant>", "sensor_K_dn_per_e", "sensor_read_noise_e", "sensor_full_well_e",
    "sensor_dynamic_range_db", "sensor_snr_max_db", "sensor_qe", "dynamic_range_db",
)


def _row(value, unit, **condition) -> dict:
    v = None if value is None or not math.isfinite(float(value)) else float(value)
    return {"value": v, "unit": unit, "condition": condition, "section": "fast"}


# ----------------------------------------------------------------------------- sharpness


def _mtf50(freq: np.ndarray, mtf: np.ndarray) -> float | None:
    """First frequency where ``mtf`` falls to 0.5: cubic (Lagrange) interpolation through the
    four lattice samples around the crossing, linear where that is not monotone."""
    below = np.flatnonzero(mtf < 0.5)
    if below.size == 0 or below[0] == 0:
        return None
    j = int(below[0])
    a, b = freq[j - 1], freq[j]
    lo = max(0, min(j - 2, len(freq) - 4))
    xs, ys = freq[lo : lo + 4], mtf[lo : lo + 4]
    f = np.linspace(a, b, 129)
    m = np.zeros_like(f)
    for i in range(len(xs)):
        li = np.ones_like(f)
        for k in range(len(xs)):
            if k != i:
                li *= (f - xs[k]) / (xs[i] - xs[k])
        m += ys[i] * li
    if len(xs) < 4 or np.any(np.diff(m) > 0):
        t = (mtf[j - 1] - 0.5) / (mtf[j - 1] - mtf[j])
        return float(a + t * (b - a))
    i = int(np.argmax(m < 0.5))
    t = (m[i - 1] - 0.5) / (m[i - 1] - m[i])
    return float(f[i - 1] + t * (f[1] - f[0]))


def _luminance_weights(cam, grid, spectra, awb_gains, ccm) -> torch.Tensor:
    """Contribution of each band of ``grid`` to the output luminance (BT.601), summing to 1."""
    w = cam.sensor.electron_weights(grid).detach().double() * spectra.double()[None]  # [C, L]
    if w.shape[0] == 1:
        v = w[0]
    else:
        b = torch.tensor(LUMA_601, dtype=torch.float64) @ torch.as_tensor(ccm, dtype=torch.float64)  # [3]
        v = (b * torch.as_tensor(awb_gains, dtype=torch.float64)) @ w
    return v / v.sum()


def _sharpen_response(isp_cfg, f_x: np.ndarray, f_y: np.ndarray) -> np.ndarray:
    """Transfer function of the ISP's unsharp mask at frequencies (f_x, f_y) [cy/px]."""
    sh = isp_cfg.sharpen
    if not sh.enable or sh.amount == 0:
        return np.ones_like(f_x)
    r = max(1, int(math.ceil(4.0 * sh.sigma_px)))
    t = np.arange(-r, r + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (t / sh.sigma_px) ** 2)
    taps /= taps.sum()

    def g(f):
        return (taps[None, :] * np.cos(2 * math.pi * f[:, None] * t[None, :])).sum(1)

    return 1 + sh.amount * (1 - g(f_x) * g(f_y))


_SCENES: dict = {}


def _scene(kind: str, **kwargs):
    """A chart (:mod:`camforge.scene`) built once per process for these arguments: the charts of
    the plan depend only on the plan and the sensor's aspect ratio, not on the design. The
    scenes are read, never modified, here."""
    key = (kind, tuple(sorted(kwargs.items())))
    if key not in _SCENES:
        import camforge.scene as sc

        if len(_SCENES) >= 32:
            _SCENES.pop(next(iter(_SCENES)))
        _SCENES[key] = getattr(sc, kind)(**kwargs)
    return _SCENES[key]


_ILLUMINANTS: dict = {}


def _as_shot_neutral(cam, illuminant: str):
    """:meth:`camforge.camera.Camera.as_shot_neutral` (same arithmetic) with the illuminant's
    band-averaged spectrum computed once per process."""
    from camforge.errors import InputError
    from camforge.spectral import illuminant_irradiance, spectral_grid

    if cam.sensor.n_channels != 3 or not illuminant:
        return None
    g = spectral_grid()
    key = (illuminant, g)
    if key not in _ILLUMINANTS:
        try:
            _ILLUMINANTS[key] = illuminant_irradiance(illuminant, 1.0, g).double()
        except InputError:
            _ILLUMINANTS[key] = None
    E = _ILLUMINANTS[key]
    if E is None:
        return None
    n = cam.sensor.electron_weights(g).detach().double() @ E
    if not bool((n > 0).all()):
        return None
    n = n / n[1]
    return tuple(float(v) for v in n)


_AXIS_GRID: dict = {}


def _axis_grid(key, radius: np.ndarray, h: int):
    """Pupil amplitude ``[L, B, B]`` (B = 2h + 1) on the bounding box of the largest pupil,
    and a per-term cache of the Zernike basis there (same sampling as
    :func:`camforge.optics.psf._pupil_grid`, cropped: the amplitude is exactly zero outside)."""
    from camforge.optics.zernike import NAMES, NOLL, zernike

    if key not in _AXIS_GRID:
        if len(_AXIS_GRID) >= 8:
            _AXIS_GRID.pop(next(iter(_AXIS_GRID)))
        ax = torch.arange(-h, h + 1, dtype=torch.float64)
        yy, xx = torch.meshgrid(ax, ax, indexing="ij")
        r = torch.sqrt(xx * xx + yy * yy)
        theta = torch.atan2(yy, xx)
        R = torch.as_tensor(radius, dtype=torch.float64)[:, None, None]
        amp = torch.clamp(R - r + 0.5, 0.0, 1.0)
        rho = r / R
        terms: dict = {}

        def basis(i: int) -> torch.Tensor:
            if i not in terms:
                terms[i] = zernike(NOLL[NAMES[i]], rho, theta[None].expand_as(rho))
            return terms[i]

        _AXIS_GRID[key] = (amp, basis)
    return _AXIS_GRID[key]


def otf_axes(zernike_um: torch.Tensor, wavelengths_nm: torch.Tensor, f_number: float, pitch_um: float, size: int, *,
             rotation_rad: float = 0.0, shift_um: torch.Tensor | None = None,
             min_pupil_samples: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The OTF of :func:`camforge.optics.psf.otf_from_pupil` along the two lattice axes only.

    Returns ``(along_x, along_y)``, each ``[L, size // 2 + 1]`` (complex128): ``otf[:, 0, k]``
    and ``otf[:, k, 0]`` for k = 0 … size/2 of the full ``[L, size, size]`` OTF that
    ``otf_from_pupil`` returns for the same arguments (same pupil sampling, same refinement
    factor, same sinc² correction; equal to rounding — tests/test_design_fast.py). Faster:
    the pupil phase is computed on the bounding box of the pupil only, and the inverse 2-D
    transform of the PSF is replaced by two 1-D transforms of its projections (the
    autocorrelation along an axis is the inverse transform of the PSF spectrum summed over
    the other axis); ``|F|²`` does not depend on where the box sits in the FFT grid.
    """
    from camforge.optics.psf import _fast_len, rotate_zernike

    dtype = torch.float64
    N_f = float(f_number)
    wl_um = wavelengths_nm.to(dtype) * 1e-3
    wl = wl_um.numpy()
    n_pupil0 = size * pitch_um / (float(wl.max()) * N_f)
    m = max(1, math.ceil(min_pupil_samples / n_pupil0))
    n = size * m
    n_pupil_max = n * pitch_um / (float(wl.min()) * N_f)
    N = _fast_len(int(math.ceil(n_pupil_max + n / 2 + 3)))
    N = max(N, n)
    radius = (n * pitch_um / (wl_um * N_f)) / 2
    h = int(math.ceil(float(radius.max()) + 0.5))
    z = rotate_zernike(zernike_um.to(dtype), rotation_rad) if zernike_um.numel() else zernike_um.to(dtype)
    key = (tuple(float(v) for v in wl_um), N_f, float(pitch_um), n, N)
    amp, basis = _axis_grid(key, radius.numpy(), h)
    terms = [i for i in range(z.shape[-1]) if bool(z[..., i].abs().max() > 0)]
    W = sum(z[i] * basis(i) for i in terms) if terms else torch.zeros_like(amp)
    phase = 2 * math.pi * W / wl_um[:, None, None]
    P = torch.polar(amp, phase)
    F = torch.fft.fft(torch.fft.fft(P, n=N, dim=-1), n=N, dim=-2)  # = fft2 of the box padded to N × N
    S = F.real * F.real + F.imag * F.imag  # |F|²: the PSF on the pupil grid's conjugate lattice
    fq = torch.fft.fftfreq(N, dtype=dtype)
    w = 1.0 / torch.sinc(fq) ** 2
    row = torch.fft.ifft((S * w[:, None]).sum(-2) * w)  # A[:, 0, :]
    col = torch.fft.ifft((S * w[None, :]).sum(-1) * w)  # A[:, :, 0]
    norm = row[:, :1].real
    k = torch.fft.fftfreq(n, d=1.0 / n).round().long()
    idx = torch.remainder(k, N)[::m][: size // 2 + 1]
    along_x = (row[:, idx] / norm).conj()
    along_y = (col[:, idx] / norm).conj()
    if shift_um is not None:
        f = torch.fft.fftfreq(size, d=pitch_um).to(dtype)[: size // 2 + 1]
        sh = shift_um.to(dtype)
        along_x = along_x * torch.polar(torch.ones_like(f), -2 * math.pi * sh[:, 0, None] * f[None])
        along_y = along_y * torch.polar(torch.ones_like(f), -2 * math.pi * sh[:, 1, None] * f[None])
    return along_x, along_y


@lru_cache(maxsize=16)
def _demosaic_luma_mtf(cfa: str, method: str, refine: bool, green_balance: bool) -> tuple:
    from scipy.special import ndtr

    from camforge.isp._common import pack
    from camforge.isp.demosaic import demosaic_planes, green_balance_planes
    from camforge.metrics import sfr

    n, sigma = 96, 0.5
    a = math.radians(5.0)
    y, x = np.mgrid[0:n, 0:n] + 0.5
    img = 0.2 + 0.6 * ndtr(((x - n / 2) * math.cos(a) + (y - n / 2) * math.sin(a)) / sigma)
    ref = sfr(img, bootstrap=0)
    planes = pack(torch.as_tensor(img)[None, None], 2)
    if green_balance:
        planes = green_balance_planes(planes, cfa)
    rgb = demosaic_planes(planes, cfa, method, refine)[0].permute(1, 2, 0).numpy()
    out = sfr(rgb, bootstrap=0)
    f = np.linspace(0.0, 1.0, 101)
    h = np.interp(f, out.freq_cy_per_px, out.mtf) / np.maximum(np.interp(f, ref.freq_cy_per_px, ref.mtf), 1e-6)
    h[f > 0.7] = h[np.searchsorted(f, 0.7)]  # beyond 0.7 cy/px the reference MTF is too small to divide by
    return tuple(f), tuple(np.clip(h, 0.0, 2.0))


def demosaic_luma_mtf(cfa: str, isp) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Transfer function of the ISP's demosaic on the luminance of a grey edge [cy/px → ratio]:
    the e-SFR (camforge.metrics.sfr) of a demosaiced mosaic of a Gaussian-blurred (σ = 0.5 px)
    slanted grey edge over the e-SFR of the edge itself, measured once per CFA and method.
    Menon's directional interpolation is transparent to grey edges (ratio 1 ± 0.03); bilinear
    and Malvar are not. ``(None, None)`` for MONO or without demosaic."""
    from camforge.cfa import BAYER_PATTERNS, normalize_cfa

    c = normalize_cfa(cfa)
    if c not in BAYER_PATTERNS or not isp.demosaic.enable:
        return None, None
    d = isp.demosaic
    if d.method == "menon":
        return None, None
    f, h = _demosaic_luma_mtf(c, d.method, d.refine, d.green_balance)
    return np.asarray(f), np.asarray(h)


def sharpness_metrics(cam, plan: TestPlan, colour: dict, *, size: int = 32, min_pupil_samples: int = 32,
                      zones: bool = True) -> dict[str, dict]:
    """MTF50 (cy/px and lp/mm) at the plan's field positions (see the module docstring).

    ``size``: OTF lattice (``size`` samples at half the pixel pitch: steps of 2/size cy/px up
    to 1 cy/px); ``min_pupil_samples``: fewest pupil samples across the diameter (32 changes
    MTF50 by < 0.001 cy/px against 256 on the bundled designs); ``zones``: take the PSF of
    each edge at the centre of its PSF zone (``lens.psf.zones``), as the image simulator does,
    instead of at the edge itself.
    """
    p = plan.sharpness
    s = cam.design.sensor
    sq = max(p.square_size, 120.0 / s.width_px)
    scene = _scene("slanted_edge", lux=p.lux, illuminant=p.illuminant, spectral=p.spectral, angle_deg=p.angle_deg,
                         square_size=sq, layout="field", aspect=cam.aspect)
    grid = scene.grid
    wl = grid.tensor(torch.float64)
    v = _luminance_weights(cam, grid, scene.spectra[0, 0], colour["gains"], colour["ccm"])
    lens = cam.lens
    g = cam.geometry
    pitch = s.pixel_pitch_um
    kp = pitch / 2  # kernel lattice pitch: frequencies up to 1 cy/px
    k = np.arange(size // 2 + 1)
    f_um = k / (size * kp)  # cy/µm along a lattice axis
    f_px = f_um * pitch
    a = pitch * math.sqrt(s.fill_factor)
    sigma = float(cam.design.lens.psf.gaussian_sigma_um)
    r_corner = g.half_diagonal_mm
    out: dict[str, dict] = {}
    N = float(lens.working_f_number(scene.distance_m).detach().double())
    lateral = bool(lens.lateral_color_um.detach().abs().max() > 0)
    beta = math.radians(p.angle_deg)  # the squares' sides are tilted by the chart angle
    W, H = s.width_px, s.height_px
    zoned = zones and lens.is_field_dependent()
    zx, zy = (min(lens.config.psf.zones[0], W), min(lens.config.psf.zones[1], H)) if zoned else (1, 1)
    otf_cache: dict = {}

    def poly_otf(x_px: float, y_px: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Luminance-weighted OTF (rotated frame) where the simulator takes the PSF for this pixel:
        the centre of its PSF zone (isoplanatic patches), or the pixel itself without zones."""
        if zoned:
            ix = min(int(x_px * zx // W), zx - 1)
            iy = min(int(y_px * zy // H), zy - 1)
            x0, x1 = round(ix * W / zx), round((ix + 1) * W / zx)
            y0, y1 = round(iy * H / zy), round((iy + 1) * H / zy)
            key = (ix, iy)
            xm, ym = ((x0 + x1) / 2 - W / 2) * pitch * 1e-3, ((y0 + y1) / 2 - H / 2) * pitch * 1e-3
        else:
            key = (round(x_px, 3), round(y_px, 3))
            xm, ym = g.pixel_to_mm(x_px, y_px)
        if key not in otf_cache:
            fr, rot, phi = lens._field_params(xm, ym, r_corner)
            z = lens.zernike_at(fr).detach().double()
            shift = None
            if lateral:
                sh = lens.lateral_shift_um(wl, fr).detach().double()
                shift = torch.stack([sh * math.cos(phi - beta), sh * math.sin(phi - beta)], dim=-1)
            ax, ay = otf_axes(z, wl, N, kp, size, rotation_rad=rot - beta, shift_um=shift,
                              min_pupil_samples=min_pupil_samples)
            vw = v[:, None].to(ax.dtype)
            otf_cache[key] = ((ax * vw).sum(0), (ay * vw).sum(0))  # lattice axes x', y' (k = 0 … size/2)
        return otf_cache[key]

    dem_f, dem_h = demosaic_luma_mtf(cam.design.sensor.cfa, colour["isp"])
    for field in p.fields:
        i = _FIELD_SQUARE[field]
        by_orient: dict[str, list[float]] = {"sagittal": [], "meridional": []}
        for e in scene.truth["edges"][4 * i : 4 * i + 4]:
            ex, ey = (float(t) for t in cam.scene_to_pixel(scene, *e["center"]))
            poly = poly_otf(ex, ey)
            nx, ny = e["normal"]
            # lattice axis of this normal in the rotated frame: x' along beta, y' along beta + 90°
            along_x = abs(nx * math.cos(beta) + ny * math.sin(beta)) > 0.7
            line = poly[0] if along_x else poly[1]
            th = math.atan2(ny, nx)
            fx, fy = f_px * math.cos(th), f_px * math.sin(th)
            otf = line.numpy()
            otf = otf / otf[0].real
            otf = otf * np.sinc(a / pitch * fx) * np.sinc(a / pitch * fy)
            if sigma > 0:
                otf = otf * np.exp(-2 * math.pi**2 * (sigma * f_um) ** 2)
            if dem_f is not None:
                otf = otf * np.interp(f_px, dem_f, dem_h)
            mtf = np.abs(otf) * _sharpen_response(colour["isp"], fx, fy)
            m50 = _mtf50(f_px, mtf)
            by_orient[e["orientation"]].append(np.nan if m50 is None else m50)
        cond = {"chart": "slanted-edge", "lux": p.lux, "illuminant": p.illuminant, "field": field}
        if field == 0.0:
            vals = by_orient["sagittal"] + by_orient["meridional"]
            names = [("mtf50_center", vals)]
        else:
            names = [(f"mtf50_{_FIELD_NAME[field]}_{o}", by_orient[o]) for o in ("sagittal", "meridional")]
        for name, vals in names:
            vals = [x for x in vals if math.isfinite(x)]
            if not vals:
                continue
            m = float(np.mean(vals))
            out[name] = _row(m, "cy/px", **cond)
            out[name.replace("mtf50", "mtf50_lp_per_mm")] = _row(m / (pitch * 1e-3), "lp/mm", **cond)
    return out


# ----------------------------------------------------------------------------- colour


def colour_pipeline(cam, illuminant: str = "D65") -> dict:
    """White-balance gains (as-shot), colour matrix (camera → linear sRGB) and ISP config."""
    from camforge.isp import IspConfig
    from camforge.isp.ccm import ccm_from_dng

    isp = IspConfig.from_design_section(cam.design.isp)
    if cam.sensor.n_channels != 3:
        return {"gains": np.ones(1), "ccm": np.ones((1, 1)), "isp": isp, "neutral": None, "illuminant": illuminant}
    n = _as_shot_neutral(cam, illuminant)
    n = np.asarray(n, dtype=np.float64)
    gains = (1.0 / n) / (1.0 / n[1]) if isp.awb.enable else np.ones(3)
    if isp.ccm.enable and isp.ccm.source == "metadata":
        M = ccm_from_dng(cam.color_matrix("D65"), 1.0 / gains, isp.ccm.output)
    elif isp.ccm.enable and isp.ccm.source == "matrix":
        M = np.asarray(isp.ccm.matrix, dtype=np.float64)
    else:
        M = np.eye(3)
    return {"gains": gains, "ccm": M, "isp": isp, "neutral": n, "illuminant": illuminant}


def color_metrics(cam, plan: TestPlan, illuminant: str, colour: dict | None = None) -> dict[str, dict]:
    """ΔE00 of the ColorChecker under ``illuminant`` (see the module docstring)."""
    from camforge.metrics.color import color_metrics_from_patches
    if cam.sensor.n_channels != 3:
        return {}
    p = plan.color
    scene = _scene("colorchecker", lux=p.lux, illuminant=illuminant, spectral=True, fill=p.fill, aspect=cam.aspect,
                         compact=False)
    w = cam.sensor.electron_weights(scene.grid).detach().double()  # [3, L]
    spectra = scene.spectra[0].double()  # [26, L]: surround, frame, 24 patches
    rate = spectra[2:] @ w.T  # [24, 3]
    g = cam.geometry
    uv = torch.tensor([patch["center"] for patch in scene.truth["patches"]], dtype=torch.float64)
    x, y = cam.scene_to_pixel(scene, uv[:, 0], uv[:, 1])
    xm, ym = g.pixel_to_mm(x.double(), y.double())
    ri = cam.lens.relative_illumination(torch.sqrt(xm * xm + ym * ym), g.half_diagonal_mm).double()
    rate = rate * ri.reshape(-1)[:, None]
    ae = cam.design.auto_exposure
    raw = (ae.target * rate / rate.max()).numpy()  # normalised raw levels (1 = white level)
    col = colour if colour is not None and colour.get("illuminant") == illuminant else colour_pipeline(cam, illuminant)
    isp = col["isp"]
    x = raw * col["gains"][None]
    if isp.awb.enable and isp.awb.clip_highlights:
        x = np.minimum(x, float(np.min(col["gains"])))
    x = np.minimum(x, 1.0) if not (isp.awb.enable and isp.awb.clip_highlights) else x
    lin = x @ col["ccm"].T
    if isp.tone.enable and isp.tone.clip:
        lin = np.clip(lin * isp.tone.exposure_gain, 0.0, 1.0) / isp.tone.exposure_gain
    r = color_metrics_from_patches(lin, color_space="linear_srgb")
    cond = {"chart": "colorchecker", "lux": p.lux, "illuminant": illuminant}
    return {
        f"delta_e00_mean_{illuminant}": _row(r.delta_e00_mean, "ΔE00", **cond),
        f"delta_e00_max_{illuminant}": _row(r.delta_e00_max, "ΔE00", **cond),
        f"delta_e76_mean_{illuminant}": _row(r.delta_e76_mean, "ΔE*ab", **cond),
    }


# ----------------------------------------------------------------------------- noise


@lru_cache(maxsize=16)
def demosaic_noise_covariance(cfa: str, method: str, refine: bool, green_balance: bool, size: int = 192,
                              seed: int = 0) -> np.ndarray:
    """Covariance ``C[c] (3 × 3)`` of the demosaiced R, G, B planes for unit-variance white
    noise on the sites of CFA colour ``c`` (others noise-free), measured by running
    camforge's demosaic on a flat mosaic with small noise (so its decisions see a flat scene)."""
    from camforge.cfa import color_index_map
    from camforge.isp._common import pack, unpack
    from camforge.isp.demosaic import demosaic_planes, green_balance_planes

    gen = torch.Generator().manual_seed(seed)
    idx = color_index_map(cfa, size, size)
    eps = 1e-3
    out = np.zeros((3, 3, 3))
    for c in range(3):
        noise = torch.randn((size, size), generator=gen, dtype=torch.float64) * eps
        x = 0.5 + torch.where(idx == c, noise, torch.zeros_like(noise))
        planes = pack(x[None, None], 2)
        if green_balance:
            planes = green_balance_planes(planes, cfa)
        rgb = demosaic_planes(planes, cfa, method, refine)[0, :, 8:-8, 8:-8] - 0.5
        flat = rgb.reshape(3, -1).numpy() / eps
        out[c] = flat @ flat.T / flat.shape[1]
    del unpack
    return out


def _auto_exposure(design, rate_max: float, dark: float, K: float, fw: float) -> tuple[float, float]:
    """:meth:`camforge.camera.Camera.auto_exposure` for a flat target of peak rate ``rate_max``."""
    s = design.sensor
    ae = design.auto_exposure
    sat_e = min(fw, (s.white_level_dn - s.black_level_dn) / K)
    rate = rate_max + dark
    gain = float(s.analog_gain)
    if rate <= 0:
        return s.exposure_max_s, (s.max_analog_gain if ae.use_gain else gain)
    t = ae.target * sat_e / rate
    if t > s.exposure_max_s:
        if ae.use_gain:
            gain = min(s.max_analog_gain, max(gain, t / s.exposure_max_s * gain))
        t = s.exposure_max_s
    return max(t, s.exposure_min_s), gain


class NoiseModel:
    """SNR of the plan's 18 % grey target at any illuminance (see the module docstring)."""

    def __init__(self, cam, plan: TestPlan, colour: dict):
        self.cam = cam
        p = plan.noise
        self.plan = p
        white = _scene("flat_field", lux=1.0, illuminant=p.illuminant, spectral=False, aspect=cam.aspect)
        w = cam.sensor.electron_weights(white.grid).detach().double()
        irr = float(cam.lens.irradiance_factor(white.distance_m).detach())
        self.rate_per_lux = (w @ white.spectra[0, 0].double()).numpy() * irr  # [C] e⁻/s per lx
        s = cam.design.sensor
        sen = cam.sensor
        self.K = float(sen.conversion_gain_dn_per_e.detach())
        self.fw = float(sen.full_well_e.detach())
        self.dark = float(sen.dark_current_at().detach())
        self.s = s
        self.cfa = s.cfa
        isp = colour["isp"]
        self.colour = colour
        if sen.n_channels == 3:
            from camforge.cfa import normalize_cfa

            cov = demosaic_noise_covariance(normalize_cfa(s.cfa), isp.demosaic.method, isp.demosaic.refine,
                                            isp.demosaic.green_balance)
            b = np.asarray(LUMA_709) @ (colour["ccm"] if isp.ccm.enable else np.eye(3))
            self.eta = np.array([b @ cov[c] @ b for c in range(3)])  # luminance variance per unit noise
            self.b = b
        else:
            self.eta = None

    def channel_stats(self, lux: float) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Mean and variance [e⁻²] per colour of the grey target, exposure [s] and gain."""
        s = self.s
        rate_white = self.rate_per_lux * lux
        t, gain = _auto_exposure(self.cam.design, float(rate_white.max()), self.dark, self.K, self.fw)
        S = self.plan.reflectance * rate_white * t
        D = self.dark * t
        mean = S + D
        Kg = self.K * gain
        var = (mean + (S * s.prnu_pct / 100.0) ** 2 + D**2 * (math.exp(s.dark_current_spread**2) - 1.0)
               + s.dsnu_e**2 + s.column_fpn_e**2 + s.row_fpn_e**2 + s.read_noise_e**2 + s.row_noise_e**2
               + (s.adc_noise_dn / Kg) ** 2 + 1.0 / (12.0 * Kg**2))
        mean = np.minimum(mean, self.fw)
        return mean, var, t, gain

    def snr_raw(self, lux: float) -> float:
        mean, var, _, _ = self.channel_stats(lux)
        c = 1 if len(mean) == 3 else 0
        return float(mean[c] / math.sqrt(var[c]))

    def snr_isp(self, lux: float) -> float:
        mean, var, _, _ = self.channel_stats(lux)
        if self.eta is None:
            return float(mean[0] / math.sqrt(var[0]))
        g = self.colour["gains"]
        y = float(self.b @ (g * mean))
        v = float(np.sum(self.eta * g**2 * var))
        return y / math.sqrt(v)

    def low_light_limit(self, limit: float | None = None, lo: float = 1e-3, hi: float = 1e6) -> tuple[float, str]:
        """Illuminance [lx] where the ISP SNR equals ``limit`` (bisection in log lux)."""
        limit = self.plan.snr_limit if limit is None else limit
        if self.snr_isp(lo) >= limit:
            return lo, "<="
        if self.snr_isp(hi) < limit:
            return hi, ">"
        a, b = math.log(lo), math.log(hi)
        for _ in range(60):
            m = 0.5 * (a + b)
            if self.snr_isp(math.exp(m)) >= limit:
                b = m
            else:
                a = m
        return math.exp(0.5 * (a + b)), "="


def noise_metrics(cam, plan: TestPlan, colour: dict, *, lux=None, low_light: str = "exact") -> dict[str, dict]:
    """SNR rows at each illuminance and the low-light limit (see the module docstring)."""
    from camforge.evaluate.jobs import low_light_limit

    nm = NoiseModel(cam, plan, colour)
    p = plan.noise
    lux = list(p.lux if lux is None else lux)
    out: dict[str, dict] = {}
    curve = []
    for L in lux:
        cond = {"chart": "flat-18%", "lux": L, "illuminant": p.illuminant}
        snr = nm.snr_isp(L)
        curve.append(snr)
        out[f"snr_18pct_db_{L:g}lx"] = _row(20 * math.log10(max(snr, 1e-9)), "dB", **cond)
        out[f"snr_18pct_raw_db_{L:g}lx"] = _row(20 * math.log10(max(nm.snr_raw(L), 1e-9)), "dB", **cond)
    if low_light == "plan":
        lim = low_light_limit(lux, curve, p.snr_limit)
        value, bound = lim["lux"], lim["bound"]
    else:
        value, bound = nm.low_light_limit()
    out["low_light_limit_lux"] = _row(value, "lx", chart="flat-18%", illuminant=p.illuminant, snr_limit=p.snr_limit)
    out["low_light_limit_lux"]["extra"] = {"bound": bound}
    return out


def sensor_metrics(cam) -> dict[str, dict]:
    """EMVA 1288 headline figures the sensor model implies."""
    from camforge.characterize.simulate import qe_at

    sen = cam.sensor
    s = cam.design.sensor
    K = float(sen.system_gain().detach())
    # EMVA 1288 R4.0: dark variance in DN² (temporal noise + quantisation 1/12), floored at 0.24 DN²
    # (σ_d is then an upper limit), σ_d = √(σ²_y.dark − 1/12) / K, μ_e.min = √(σ²_y.dark / K² + ¼) + ½
    var_dark = K**2 * (s.read_noise_e**2 + s.row_noise_e**2) + s.adc_noise_dn**2 + 1 / 12
    var_used = max(var_dark, 0.24)
    sigma_d = math.sqrt(var_used - 1 / 12) / K
    sat = min(float(sen.full_well_e.detach()), (s.white_level_dn - s.black_level_dn) / K)
    mu_min = math.sqrt(var_used / K**2 + 0.25) + 0.5
    try:
        eta = qe_at(sen, 525.0)
        qe = float(eta[1] if len(eta) == 3 else eta[0])
    except Exception:  # noqa: BLE001 - a figure, not a reason to fail
        qe = None
    cond = {"test": "EMVA 1288 (model)"}
    dr = 20 * math.log10(sat / mu_min)
    return {
        "sensor_K_dn_per_e": _row(K, "DN/e⁻", **cond),
        "sensor_read_noise_e": _row(sigma_d, "e⁻", **cond),
        "sensor_full_well_e": _row(sat, "e⁻", **cond),
        "sensor_dynamic_range_db": _row(dr, "dB", **cond),
        "sensor_snr_max_db": _row(10 * math.log10(sat), "dB", **cond),
        "sensor_qe": _row(qe, "", **cond),
        "dynamic_range_db": _row(dr, "dB", **cond),
    }


# ----------------------------------------------------------------------------- entry point

_PLANS: dict[str, TestPlan] = {}


def _memoize_weights(cam) -> None:
    """Cache the sensor's electron weights per wavelength grid on this camera instance (its
    parameters do not change during a fast evaluation; the QE curves are band-averaged once)."""
    fn = cam.sensor.electron_weights
    memo: dict = {}

    def cached(grid):
        if grid not in memo:
            memo[grid] = fn(grid)
        return memo[grid]

    cam.sensor.electron_weights = cached


def _plan(plan) -> TestPlan:
    """A plan, with bundled plans parsed once per process."""
    if isinstance(plan, TestPlan):
        return plan
    if plan is None or isinstance(plan, str):
        key = plan or "quick"
        if key not in _PLANS:
            _PLANS[key] = load_plan(key)
        return _PLANS[key]
    return load_plan(plan)



def fast_scorecard(design, plan=None, *, lux=None, low_light: str = "exact",
                   sections=("sharpness", "noise", "color", "sensor")) -> dict[str, dict[str, Any]]:
    """The metrics of ``camforge evaluate`` for ``design``, computed from the models (no images).

    Args:
        design: a :class:`~camforge.camera.CameraDesign`, dict, YAML path or Camera.
        plan: test plan (name, path, dict, :class:`TestPlan`; default ``quick``): field
            positions, illuminances, illuminants and the SNR limit.
        lux: illuminances for the SNR rows (default: the plan's).
        low_light: ``"exact"`` (solve SNR = limit) or ``"plan"`` (interpolate on ``lux`` as the
            scorecard does).
        sections: which families to compute.

    Returns:
        ``{metric: {"value", "unit", "condition", "section": "fast"}}`` like ``Scorecard.metrics``.
    """
    from camforge.camera import Camera
    from camforge.evaluate import load_design

    d = load_design(design)
    p = _plan(plan)
    with torch.no_grad():
        cam = Camera(d)
        _memoize_weights(cam)
        colour = colour_pipeline(cam, "D65")
        out: dict[str, dict] = {}
        if "sharpness" in sections and p.sharpness.enabled:
            out.update(sharpness_metrics(cam, p, colour))
        if "noise" in sections and p.noise.enabled:
            out.update(noise_metrics(cam, p, colour, lux=lux, low_light=low_light))
        if "color" in sections and p.color.enabled:
            for ill in p.color.illuminants:
                out.update(color_metrics(cam, p, ill, colour))
        if "sensor" in sections and p.sensor.enabled:
            out.update(sensor_metrics(cam))
    return out


__all__ = ["FAST_METRICS", "NoiseModel", "color_metrics", "colour_pipeline", "demosaic_noise_covariance",
           "fast_scorecard", "noise_metrics", "sensor_metrics", "sharpness_metrics"]
