"""Point spread functions from the pupil function (Fourier optics).

For an exit pupil of working f-number ``N`` and wavefront error ``W(ρ, θ)`` [µm], the
incoherent optical transfer function is the normalised autocorrelation of the pupil
function ``P = A · exp(i 2π W / λ)`` (Goodman, *Introduction to Fourier Optics*, 3rd ed.,
§6.3); a pupil shift of one diameter corresponds to the cut-off frequency
``ν_c = 1 / (λ N)``. The PSF is the inverse Fourier transform of the OTF.

camforge computes the OTF directly on the frequency lattice of the sampled PSF kernel
(spacing ``1 / (size · pitch)``), so the kernel is exactly band-limited to the sampling
Nyquist frequency: there is no aliasing however coarse the sampling, and the kernel is
the ideal (sinc-interpolated) sampling of the continuous PSF. The pupil is sampled with
``size · pitch / (λ N)`` points across its diameter; when that is below
``min_pupil_samples`` the OTF is computed on an ``m``-times finer frequency lattice and
every ``m``-th sample kept, which periodises the PSF's far wings onto the kernel support
(energy is conserved and the OTF stays exact at every lattice frequency).
"""

from __future__ import annotations

import math

import torch

from camforge.errors import InputError
from camforge.optics.zernike import NAMES, NOLL, zernike


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c ≥ n (fast FFT sizes)."""
    best = 1 << (max(n, 1) - 1).bit_length()
    f5 = 1
    while f5 <= best:
        f35 = f5
        while f35 <= best:
            f = f35
            while f < n:
                f *= 2
            best = min(best, f)
            f35 *= 3
        f5 *= 5
    return best


def otf_from_pupil(
    zernike_um: torch.Tensor,
    wavelengths_nm: torch.Tensor,
    f_number,
    pitch_um: float,
    size: int,
    *,
    rotation_rad: float = 0.0,
    shift_um: torch.Tensor | None = None,
    min_pupil_samples: int = 64,
) -> tuple[torch.Tensor, int]:
    """OTF ``[L, n, n]`` (complex, FFT order) of a circular pupil with Zernike aberrations.

    Args:
        zernike_um: ``[len(NAMES)]`` coefficients [µm OPD] in :data:`camforge.optics.zernike.NAMES`
            order, in the lens' local frame (y' = meridional / radial direction).
        wavelengths_nm: ``[L]`` wavelengths [nm].
        f_number: working f-number (float or 0-d tensor, differentiable).
        pitch_um: sample pitch of the kernel on the sensor plane [µm].
        size: kernel size ``n`` (samples per side).
        rotation_rad: rotation of the local frame (field azimuth φ − π/2).
        shift_um: ``[L, 2]`` PSF displacement (x, y) [µm] per wavelength (lateral colour).
        min_pupil_samples: fewest pupil samples across the diameter.

    Returns:
        ``(otf, m)``: the OTF ``[L, size, size]`` on the lattice with spacing
        ``1 / (size · pitch)`` and the pupil refinement factor ``m`` used.
    """
    if size < 4 or size % 2:
        raise InputError(f"PSF size must be an even number >= 4, got {size}")
    if pitch_um <= 0:
        raise InputError(f"PSF pitch must be > 0 µm, got {pitch_um}")
    dtype = torch.float64 if zernike_um.dtype == torch.float64 else torch.float32
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    N_f = torch.as_tensor(f_number, dtype=dtype)
    if float(N_f.detach()) <= 0:
        raise InputError(f"f-number must be > 0, got {float(N_f.detach())}")
    wl_um = wavelengths_nm.to(dtype) * 1e-3
    # pupil samples across the diameter for each wavelength at the requested support
    n_pupil0 = size * pitch_um / (float(wl_um.max()) * float(N_f.detach()))
    m = max(1, math.ceil(min_pupil_samples / n_pupil0))
    n = size * m
    n_pupil_max = n * pitch_um / (float(wl_um.min()) * float(N_f.detach()))
    N = _fast_len(int(math.ceil(n_pupil_max + n / 2 + 3)))
    N = max(N, n)
    radius = (n * pitch_um / (wl_um * N_f)) / 2  # [L] pupil radius in samples (differentiable in N)
    # rotating the pupil by α is the same as rotating the coefficients of each m-fold pair
    z = rotate_zernike(zernike_um.to(dtype), rotation_rad) if zernike_um.numel() else zernike_um.to(dtype)
    cacheable = not (N_f.requires_grad or radius.requires_grad)
    key = (tuple(float(v) for v in wl_um), float(N_f.detach()), float(pitch_um), n, N, dtype) if cacheable else None
    amp, basis = _pupil_grid(key, radius, N, dtype)
    terms = [i for i in range(z.shape[-1]) if z.requires_grad or bool(z[..., i].detach().abs().max() > 0)]
    if terms:
        W = sum(z[i] * basis(i) for i in terms)
    else:
        W = torch.zeros_like(amp)
    phase = 2 * math.pi * W / wl_um[:, None, None]
    P = torch.polar(amp, phase) if amp.requires_grad or phase.requires_grad else amp * torch.exp(1j * phase.to(dtype))
    P = P.to(cdtype)
    F = torch.fft.fft2(P)
    # |F|² is the PSF on the pupil grid's conjugate lattice. Dividing by sinc²(fx)·sinc²(fy)
    # undoes the tent filter that sampling an area-averaged pupil puts on its autocorrelation
    # (halves the discretisation error of the OTF).
    fq = torch.fft.fftfreq(N, dtype=dtype)
    s2 = torch.sinc(fq) ** 2
    A = torch.fft.ifft2(F * F.conj() / (s2[:, None] * s2[None, :]))  # autocorrelation, A[s] = Σ P(x + s) P*(x)
    A = A / A[:, :1, :1].real
    k = torch.fft.fftfreq(n, d=1.0 / n).round().long()  # integer shifts in FFT order
    idx = torch.remainder(k, N)
    # OTF(f) ↔ autocorrelation at shift s = f·λN·(samples per diameter) = k samples; sign chosen so a
    # positive tilt_x moves the PSF towards +x.
    otf = A[:, idx][:, :, idx].conj()
    if m > 1:
        otf = otf[:, ::m, ::m]
    if shift_um is not None:
        f = torch.fft.fftfreq(size, d=pitch_um).to(dtype)
        ph = -2 * math.pi * (shift_um[:, 0, None, None].to(dtype) * f[None, None, :] + shift_um[:, 1, None, None].to(dtype) * f[None, :, None])
        otf = otf * torch.polar(torch.ones_like(ph), ph).to(cdtype)
    return otf, m


#: (cos-term index, sin-term index, m) for each m-fold pair of :data:`NAMES`.
_PAIRS = [
    (NAMES.index("tilt_x"), NAMES.index("tilt_y"), 1),
    (NAMES.index("astigmatism_0"), NAMES.index("astigmatism_45"), 2),
    (NAMES.index("coma_x"), NAMES.index("coma_y"), 1),
    (NAMES.index("trefoil_x"), NAMES.index("trefoil_y"), 3),
]


def rotate_zernike(coeffs_um: torch.Tensor, alpha_rad: float) -> torch.Tensor:
    """Coefficients of W(ρ, θ − α) given those of W(ρ, θ) (same basis, :data:`NAMES` order).

    For an m-fold pair: c_cos' = c_cos cos mα − c_sin sin mα, c_sin' = c_cos sin mα + c_sin cos mα.
    """
    if alpha_rad == 0.0:
        return coeffs_um
    out = coeffs_um.clone()
    for ic, is_, m in _PAIRS:
        c, s_ = coeffs_um[..., ic], coeffs_um[..., is_]
        ca, sa = math.cos(m * alpha_rad), math.sin(m * alpha_rad)
        out[..., ic] = c * ca - s_ * sa
        out[..., is_] = c * sa + s_ * ca
    return out


_GRID_CACHE: dict = {}


def _pupil_grid(key, radius: torch.Tensor, N: int, dtype):
    """Pupil amplitude ``[L, N, N]`` and a function giving Zernike basis term ``i`` on the
    pupil grid of each wavelength. Cached by ``key`` (None: not cached, e.g. when the f-number
    carries gradients)."""
    if key is not None and key in _GRID_CACHE:
        amp, rho, theta, terms = _GRID_CACHE[key]
    else:
        ax = torch.arange(N, dtype=dtype) - N // 2
        yy, xx = torch.meshgrid(ax, ax, indexing="ij")
        r = torch.sqrt(xx * xx + yy * yy)
        theta = torch.atan2(yy, xx)
        R = radius[:, None, None]
        amp = torch.clamp(R - r + 0.5, 0.0, 1.0)  # anti-aliased disc (area coverage approx)
        rho = r / R
        terms = {}
        if key is not None:
            if len(_GRID_CACHE) >= 8:
                _GRID_CACHE.pop(next(iter(_GRID_CACHE)))
            _GRID_CACHE[key] = (amp, rho, theta, terms)

    def basis(i: int) -> torch.Tensor:
        if i not in terms:
            t = zernike(NOLL[NAMES[i]], rho, theta[None].expand_as(rho))
            if key is None:
                return t
            terms[i] = t
        return terms[i]

    return amp, basis


def psf_from_pupil(
    zernike_um: torch.Tensor,
    wavelengths_nm: torch.Tensor,
    f_number,
    pitch_um: float,
    size: int,
    **kwargs,
) -> torch.Tensor:
    """Band-limited PSF kernels ``[L, size, size]`` (each sums to 1, centre at ``size // 2``).

    See :func:`otf_from_pupil` for the arguments.
    """
    otf, _ = otf_from_pupil(zernike_um, wavelengths_nm, f_number, pitch_um, size, **kwargs)
    return torch.fft.fftshift(torch.fft.ifft2(otf).real, dim=(-2, -1))


def zero_aberrations(dtype=torch.float32) -> torch.Tensor:
    """A coefficient vector with no aberrations, ``[len(NAMES)]``."""
    return torch.zeros(len(NAMES), dtype=dtype)


def gaussian_psf(sigma_um: float | torch.Tensor, pitch_um: float, size: int, dtype=torch.float32) -> torch.Tensor:
    """Band-limited sampled Gaussian PSF ``[size, size]`` (sums to 1; OTF exp(−2π²σ²f²)).

    Built in the Fourier domain on the kernel lattice, so its DFT is the analytic Gaussian
    MTF at every lattice frequency below Nyquist.
    """
    sigma = torch.as_tensor(sigma_um, dtype=dtype)
    f = torch.fft.fftfreq(size, d=pitch_um).to(dtype)
    g = torch.exp(-2 * math.pi**2 * sigma**2 * (f[None, :] ** 2 + f[:, None] ** 2))
    return torch.fft.fftshift(torch.fft.ifft2(g.to(torch.complex128 if dtype == torch.float64 else torch.complex64)).real)
