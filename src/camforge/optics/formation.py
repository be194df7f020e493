"""Image formation: scene radiance → (weighted) irradiance sampled by the pixels.

The continuous optical image is represented on a fine grid, ``oversample`` samples per
pixel along each axis, with pixel centres on fine samples. For each block of the sensor
(with a halo as wide as the PSF), camforge

1. finds the scene point each fine sample sees: sensor position → inverse Brown–Conrady
   distortion → ideal image position → scene coordinates;
2. renders the scene maps there (procedural charts with a small Gaussian prefilter that
   step 4 removes again; sampled scenes by bilinear interpolation);
3. multiplies by the relative illumination;
4. convolves with the PSF by FFT — per output channel ``c`` the kernel is the
   band-weighted sum ``Σ_λ w_c(λ) s_k(λ) T π / (4 N²) PSF_λ`` for each scene map ``k`` —
   and multiplies, in the Fourier domain, by the pixel-aperture transfer function
   ``sinc(a_x f_x) sinc(a_y f_y)`` (integration over the pixel's light-sensitive area);
5. samples the result at the pixel centres (the sensor's own aliasing happens here).

The PSF varies across the field zone by zone (isoplanatic patches); each block uses the
PSF at its centre. Everything is differentiable in the lens parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from camforge.errors import InputError
from camforge.optics.lens import Lens
from camforge.optics.psf import _fast_len
from camforge.scene.base import Scene

#: Gaussian prefilter of procedural scene rendering [fine samples]; removed in step 4.
PREFILTER_SIGMA = 0.7
#: The prefilter removal is tapered to zero between this frequency and the fine-grid
#: Nyquist frequency [cycles / fine sample] so its kernel stays compact (tails < 1e-3 beyond
#: 16 fine samples). With 2× oversampling the taper starts at 0.7 cycles/pixel, above the
#: pixel Nyquist frequency, where the pixel aperture has already attenuated the signal.
PREFILTER_TAPER_START = 0.35


@dataclass(frozen=True)
class SensorGeometry:
    """Pixel grid on the image plane, centred on the optical axis.

    Attributes:
        width_px, height_px: pixels.
        pitch_um: pixel pitch [µm].
        aperture_um: light-sensitive width of a pixel (x, y) [µm]; ``None`` samples points.
    """

    width_px: int
    height_px: int
    pitch_um: float
    aperture_um: tuple[float, float] | None = None

    def __post_init__(self):
        if self.width_px < 1 or self.height_px < 1:
            raise InputError("sensor size must be at least 1 × 1 pixels")
        if not self.pitch_um > 0:
            raise InputError(f"pixel pitch must be > 0 µm, got {self.pitch_um}")

    @property
    def half_width_mm(self) -> float:
        return self.width_px * self.pitch_um * 5e-4

    @property
    def half_height_mm(self) -> float:
        return self.height_px * self.pitch_um * 5e-4

    @property
    def half_diagonal_mm(self) -> float:
        return math.hypot(self.half_width_mm, self.half_height_mm)

    def pixel_to_mm(self, col, row):
        """Image-plane position [mm] of pixel centre (col, row) (x right, y down)."""
        return ((col + 0.5) - self.width_px / 2) * self.pitch_um * 1e-3, ((row + 0.5) - self.height_px / 2) * self.pitch_um * 1e-3

    def mm_to_pixel(self, x_mm, y_mm):
        """Pixel coordinates (col, row) of an image-plane position [mm] (pixel centres are integers)."""
        return x_mm / (self.pitch_um * 1e-3) + self.width_px / 2 - 0.5, y_mm / (self.pitch_um * 1e-3) + self.height_px / 2 - 0.5


def scene_scale(scene: Scene, lens: Lens, geometry: SensorGeometry) -> torch.Tensor:
    """Scene units per unit of focal-length-normalised image coordinate."""
    if scene.fov_deg is None:
        return lens.focal_length_mm / geometry.half_width_mm
    return torch.as_tensor(1.0 / math.tan(math.radians(scene.fov_deg) / 2), dtype=lens.focal_length_mm.dtype)


def image_to_scene(scene: Scene, lens: Lens, geometry: SensorGeometry, x_mm, y_mm):
    """Scene coordinates (u, v) seen at image-plane position (x, y) [mm] (through distortion)."""
    f = lens.focal_length_mm
    xn, yn = lens.undistort(x_mm / f, y_mm / f)
    k = scene_scale(scene, lens, geometry)
    return xn * k, yn * k


def scene_to_image(scene: Scene, lens: Lens, geometry: SensorGeometry, u, v):
    """Image-plane position [mm] of scene point (u, v) (through distortion)."""
    k = scene_scale(scene, lens, geometry)
    u = torch.as_tensor(u, dtype=lens.focal_length_mm.dtype)
    v = torch.as_tensor(v, dtype=lens.focal_length_mm.dtype)
    xd, yd = lens.distort(u / k, v / k)
    return xd * lens.focal_length_mm, yd * lens.focal_length_mm


def scene_to_pixel(scene: Scene, lens: Lens, geometry: SensorGeometry, u, v):
    """Pixel coordinates (col, row) where scene point (u, v) is imaged."""
    x, y = scene_to_image(scene, lens, geometry, u, v)
    return geometry.mm_to_pixel(x, y)


def _blocks(n: int, parts: int) -> list[tuple[int, int]]:
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _fast_len_multiple(n: int, s: int) -> int:
    """Smallest fast FFT length ≥ n that is a multiple of s."""
    m = _fast_len(max(1, -(-n // s))) * s
    cand = _fast_len(n)
    while cand % s:
        cand = _fast_len(cand + 1)
    return min(m, cand)


def _fold_spectrum(Y: torch.Tensor, s: int, Mh: int, Mw: int) -> torch.Tensor:
    """rfft2 spectrum of x[::s, ::s] from the rfft2 spectrum ``Y`` of x (``Mh × Mw``, both divisible by s).

    Decimation in the Fourier domain: X_s[k] = (1/s) Σ_j X[k + j M/s] per axis, so the inverse
    FFT runs at the coarse size (s² less work). Along the columns only half the spectrum is
    stored; the upper half is X[ky, Mw − kx]* at the negated row frequency (Hermitian symmetry),
    gathered only for the columns the coarse spectrum needs.
    """
    if s == 1:
        return Y
    lead = Y.shape[:-2]
    Mhc = Mh // s
    Y = Y.reshape(*lead, s, Mhc, Y.shape[-1]).sum(-3)  # fold rows (a full FFT axis)
    Wc = Mw // s // 2 + 1
    k = torch.arange(Wc)
    acc = None
    for j in range(s):
        kx = k + j * (Mw // s)
        direct = kx <= Mw // 2
        part = Y[..., kx.clamp(max=Mw // 2)]
        if not bool(direct.all()):
            cols = Mw - kx[~direct]
            sub = Y[..., cols]
            sub = torch.roll(torch.flip(sub, dims=(-2,)), 1, dims=-2).conj()  # row frequency −ky
            part[..., ~direct] = sub
        acc = part if acc is None else acc + part
    return acc / (s * s)


def _coarse_to_fine(values: torch.Tensor, n_fine_y: int, n_fine_x: int, stride: int) -> torch.Tensor:
    """Bilinear upsampling of ``values`` ``[..., ny, nx]`` sampled every ``stride`` fine samples."""
    lead = values.shape[:-2]
    v = values.reshape(1, -1, *values.shape[-2:])
    fy = (values.shape[-2] - 1) * stride + 1
    fx = (values.shape[-1] - 1) * stride + 1
    up = torch.nn.functional.interpolate(v, size=(fy, fx), mode="bilinear", align_corners=True)
    return up[..., :n_fine_y, :n_fine_x].reshape(*lead, n_fine_y, n_fine_x)


def form_image(
    scene: Scene,
    lens: Lens,
    geometry: SensorGeometry,
    channel_weights: torch.Tensor | None = None,
    *,
    oversample: int | None = None,
    psf: bool | None = None,
    max_block_fine: int = 1024,
    geometry_stride: int = 8,
    window: tuple[int, int, int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Form the image of ``scene`` through ``lens`` on the pixel grid ``geometry``.

    Args:
        channel_weights: ``[C, L]`` weights per wavelength band; output channel ``c`` is
            ``Σ_λ w[c, λ] E_λ`` with ``E_λ`` the band-averaged irradiance [W·m⁻²·nm⁻¹]
            averaged over the pixel aperture. ``None`` returns the spectral irradiance itself
            (``C = L``). The sensor passes its photon-to-electron weights here.
        oversample: fine samples per pixel per axis (default: the lens' ``psf.oversample``).
        psf: apply the lens PSF (default: ``lens.config.psf.enabled``).
        max_block_fine: largest block side in fine samples (bounds memory).
        geometry_stride: distortion and relative illumination, which vary slowly, are
            evaluated every ``geometry_stride`` fine samples and interpolated bilinearly
            (error < 1e-3 px for any realistic lens); 1 evaluates them everywhere.
        window: ``(x0, y0, width, height)`` in pixels: form only this part of the sensor
            (same values as the matching crop of the full frame).
        progress: called as ``progress(done, total)`` after each block.

    Returns:
        ``[B, C, H, W]`` tensor (``[B, C, height, width]`` with a window).
    """
    cfg = lens.config.psf
    s = int(oversample or cfg.oversample)
    use_psf = cfg.enabled if psf is None else bool(psf)
    dtype = lens.focal_length_mm.dtype
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    W, H, p = geometry.width_px, geometry.height_px, geometry.pitch_um
    d = p / s  # fine pitch [µm]
    grid = scene.grid
    wl = grid.tensor(dtype)
    L = grid.n
    weights = torch.eye(L, dtype=dtype) if channel_weights is None else channel_weights.to(dtype)
    if weights.ndim != 2 or weights.shape[1] != L:
        raise InputError(f"channel weights must be [C, {L}] for this scene's wavelength grid, got {tuple(weights.shape)}")
    spectra = scene.spectra.to(dtype)
    irr = lens.irradiance_factor(scene.distance_m)
    A = torch.einsum("cl,bkl->bckl", weights, spectra) * irr  # [Bs, C, K, L]
    Bs, C, K, _ = A.shape

    n_k = max(2, int(cfg.size_px * s))
    n_k += n_k % 2
    sigma_g = float(cfg.gaussian_sigma_um)
    sigma_fine = PREFILTER_SIGMA if scene.is_procedural else 0.0
    halo = (n_k // 2 + 1) if use_psf else 1
    halo = max(halo, int(math.ceil(5 * sigma_g / d)) + 1, 16 if sigma_fine > 0 else 2 * s)
    halo = -(-halo // s) * s  # multiple of s: pixel centres stay on the decimation lattice
    varying = use_psf and lens.is_field_dependent()
    zx, zy = cfg.zones if varying else (1, 1)
    # blocks split each PSF zone into an integer number of FFT blocks that fit max_block_fine
    zx, zy = min(zx, W), min(zy, H)
    nbx = zx * math.ceil(math.ceil(W * s / max(max_block_fine - 2 * halo, 8)) / zx)
    nby = zy * math.ceil(math.ceil(H * s / max(max_block_fine - 2 * halo, 8)) / zy)
    bxs, bys = _blocks(W, nbx), _blocks(H, nby)
    zone_x = [((i * zx) // nbx) for i in range(len(bxs))]
    zone_y = [((j * zy) // nby) for j in range(len(bys))]
    zbx, zby = _blocks(W, zx), _blocks(H, zy)
    if window is not None:
        wx0, wy0, ww, wh = (int(v) for v in window)
        if ww < 1 or wh < 1 or wx0 < 0 or wy0 < 0 or wx0 + ww > W or wy0 + wh > H:
            raise InputError(f"window {window} is not inside the {W} x {H} pixel sensor")
        # clip the full-frame block grid to the window; blocks keep their PSF zones
        keep_x = [(i, (max(a, wx0), min(b, wx0 + ww))) for i, (a, b) in enumerate(bxs) if b > wx0 and a < wx0 + ww]
        keep_y = [(j, (max(a, wy0), min(b, wy0 + wh))) for j, (a, b) in enumerate(bys) if b > wy0 and a < wy0 + wh]
        zone_x = [zone_x[i] for i, _ in keep_x]
        zone_y = [zone_y[j] for j, _ in keep_y]
        bxs = [b for _, b in keep_x]
        bys = [b for _, b in keep_y]
    max_w = max(b - a for a, b in bxs) * s + 2 * halo
    max_h = max(b - a for a, b in bys) * s + 2 * halo
    Mh, Mw = _fast_len_multiple(max_h, s), _fast_len_multiple(max_w, s)

    # Fourier-domain factors common to every block: pixel aperture, prefilter compensation
    fy = torch.fft.fftfreq(Mh, d=d, dtype=dtype)[:, None]
    fx = torch.fft.rfftfreq(Mw, d=d, dtype=dtype)[None, :]
    T = torch.ones((Mh, Mw // 2 + 1), dtype=dtype)
    if geometry.aperture_um is not None:
        ax_um, ay_um = geometry.aperture_um
        T = T * torch.sinc(ax_um * fx) * torch.sinc(ay_um * fy)
    if sigma_g > 0:
        T = T * torch.exp(-2 * math.pi**2 * sigma_g**2 * (fx**2 + fy**2))
    if sigma_fine > 0:
        sig_um = sigma_fine * d
        T = T * torch.exp(2 * math.pi**2 * sig_um**2 * (fx**2 + fy**2))

        def taper(f):  # raised-cosine roll-off to zero at the fine Nyquist frequency
            a = (f.abs() * d).clamp(max=0.5)
            t = (a - PREFILTER_TAPER_START) / (0.5 - PREFILTER_TAPER_START)
            return torch.where(a < PREFILTER_TAPER_START, torch.ones_like(a), 0.5 * (1 + torch.cos(math.pi * t)))

        T = T * taper(fx) * taper(fy)
    # centring ramp for kernels zero-padded at the end: kernel sample i sits at offset i - n_k/2
    ky = torch.fft.fftfreq(Mh, d=1.0 / Mh, dtype=dtype)[:, None]
    kx = torch.fft.rfftfreq(Mw, d=1.0 / Mw, dtype=dtype)[None, :]
    c0 = n_k // 2
    ramp = torch.polar(torch.ones_like(ky * kx), 2 * math.pi * c0 * (ky / Mh + kx / Mw)).to(cdtype)
    r_corner = geometry.half_diagonal_mm
    f_mm = lens.focal_length_mm
    k_scale = scene_scale(scene, lens, geometry)
    sigma_scene = float(sigma_fine * d * 1e-3 / f_mm.detach() * k_scale.detach())
    band_route = L < C * K  # FFT the L band kernels and mix in Fourier space, or FFT the C·K mixes

    kernel_cache: dict = {}

    def block_otf(xc_mm: float, yc_mm: float) -> torch.Tensor:
        """OTF of every (channel, map) pair for the PSF zone centred at (xc, yc) [mm]."""
        key = (round(xc_mm, 6), round(yc_mm, 6)) if varying else "all"
        if key in kernel_cache:
            return kernel_cache[key]
        if use_psf:
            otf_l, _ = lens.otf(wl, d, n_k, x_mm=xc_mm, y_mm=yc_mm, r_corner_mm=r_corner, distance_m=scene.distance_m)
            ker = torch.fft.fftshift(torch.fft.ifft2(otf_l).real, dim=(-2, -1))  # [L, n_k, n_k]
            if band_route:
                O = torch.fft.rfft2(ker, s=(Mh, Mw)) * ramp  # [L, Mh, Mw/2+1]
                otf = torch.einsum("bckl,lhw->bckhw", A.to(cdtype), O)
            else:
                P = torch.einsum("bckl,lij->bckij", A, ker)
                otf = torch.fft.rfft2(P, s=(Mh, Mw)) * ramp
            otf = otf * T
        else:
            otf = (A.sum(-1)[..., None, None] * T).to(cdtype)
        kernel_cache[key] = otf
        return otf

    total = len(bxs) * len(bys)
    done = 0
    rows = []
    g = max(1, int(geometry_stride))
    for jb, (by0, by1) in enumerate(bys):
        row = []
        for ib, (bx0, bx1) in enumerate(bxs):
            nfx = (bx1 - bx0) * s + 2 * halo
            nfy = (by1 - by0) * s + 2 * halo
            # slowly varying geometry on a coarse lattice: scene coordinates and relative illumination
            ncx = -(-(nfx - 1) // g) + 1
            ncy = -(-(nfy - 1) // g) + 1
            ix = (bx0 * s - halo) + torch.arange(ncx, dtype=dtype) * g
            iy = (by0 * s - halo) + torch.arange(ncy, dtype=dtype) * g
            x_mm = (p / 2 + ix * d - W * p / 2) * 1e-3
            y_mm = (p / 2 + iy * d - H * p / 2) * 1e-3
            yy, xx = torch.meshgrid(y_mm, x_mm, indexing="ij")
            xn, yn = lens.undistort(xx / f_mm, yy / f_mm)
            ri = lens.relative_illumination(torch.sqrt(xx * xx + yy * yy), r_corner)
            geo = torch.stack([xn * k_scale, yn * k_scale, ri * torch.ones_like(xn)])
            geo = _coarse_to_fine(geo, nfy, nfx, g) if g > 1 else geo
            u, v, ri_f = geo[0], geo[1], geo[2]
            maps = scene.maps_at(u, v, sigma_scene).to(dtype) * ri_f  # [Bm, K, h, w]
            X = torch.fft.rfft2(maps, s=(Mh, Mw)).to(cdtype)
            zx0, zx1 = zbx[zone_x[ib]]
            zy0, zy1 = zby[zone_y[jb]]
            xc = ((zx0 + zx1) / 2 - W / 2) * p * 1e-3
            yc = ((zy0 + zy1) / 2 - H / 2) * p * 1e-3
            otf = block_otf(xc, yc)  # [Bs, C, K, Mh, Mw/2+1]
            if otf.shape[0] == 1:
                Y = torch.einsum("bkhw,ckhw->bchw", X, otf[0])
            elif X.shape[0] == 1:
                Y = torch.einsum("khw,bckhw->bchw", X[0], otf)
            elif X.shape[0] == otf.shape[0]:
                Y = torch.einsum("bkhw,bckhw->bchw", X, otf)
            else:
                raise InputError(f"scene maps batch {X.shape[0]} and spectra batch {otf.shape[0]} do not match")
            y = torch.fft.irfft2(_fold_spectrum(Y, s, Mh, Mw), s=(Mh // s, Mw // s))
            h0 = halo // s
            row.append(y[..., h0 : h0 + (by1 - by0), h0 : h0 + (bx1 - bx0)])
            done += 1
            if progress is not None:
                progress(done, total)
        rows.append(torch.cat(row, dim=-1))
    return torch.cat(rows, dim=-2)
