"""Simulated EMVA 1288 measurements with known truth, from camforge's own sensor model.

:func:`simulate_stack` plays the EMVA 1288 measurement on a :class:`~camforge.sensor.Sensor`:
a uniform monochromatic light of wavelength λ (default 525 nm) on the bare sensor (no
lens), photon exposure varied by the exposure time at constant irradiance (R4 §6.1) or
given step by step, two frames per bright and dark step, L-frame bright and dark stacks at
50 % of saturation for the spatial non-uniformity, and dark exposure series at extra
temperatures for the dark-current temperature law.

Photons per pixel follow from the irradiance E [W/m²] on the pixel area p²:
μ_p = E · p² · t · λ / (h c); the photo-electron rate per pixel is μ_p/t · η_c(λ), with
η_c(λ) the sensor's QE model (:func:`camforge.sensor.qe.qe_fine`, IR-cut included, times the
sensor's ``qe_scale``) for CFA colour c — so the truth for η is known exactly.

The returned :class:`~camforge.characterize.stack.Emva1288Stack` is what the descriptor
loader produces (frames as ``uint16`` arrays), with ``truth`` holding the model's values:
``K``, ``qe`` (per channel in ``qe_by_channel``), ``sigma_d_e`` (at the shortest exposure),
``dark_current_e_per_s`` (mean of this sensor instance's dark-current map),
``doubling_temperature_k``, and ``mu_e_sat``: the R4 saturation point of the model, i.e.
η μ_p at the step where the model's *expected* temporal variance is largest
(:func:`expected_temporal_variance`, computed by quadrature, not by simulation) — it lies
about three shot-noise σ below the clipping level ``saturation_e``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from camforge.cfa import cfa_tile
from camforge.characterize.stack import Emva1288Stack, Emva1288Step, channel_names, main_channel
from camforge.errors import InputError
from camforge.sensor import Sensor, SensorConfig
from camforge.sensor.qe import _FINE, qe_fine
from camforge.units import PLANCK_J_S, SPEED_OF_LIGHT_M_S


def _as_sensor(obj, size) -> Sensor:
    if hasattr(obj, "sensor") and isinstance(getattr(obj, "sensor"), Sensor):
        obj = obj.sensor
    if isinstance(obj, (dict, SensorConfig)):
        obj = Sensor(obj)
    if not isinstance(obj, Sensor):
        raise InputError(f"simulate_stack needs a Camera, Sensor or SensorConfig, got {type(obj).__name__}")
    if size is None:
        return obj
    w, h = int(size[0]), int(size[1])
    if (w, h) == (obj.config.width_px, obj.config.height_px):
        return obj
    if w < 8 or h < 8:
        raise InputError(f"simulated frame size {w} × {h} is too small (at least 8 × 8)")
    s = Sensor(obj.config.model_copy(update={"width_px": w, "height_px": h}))
    s.load_state_dict(obj.state_dict())
    return s


def qe_at(sensor: Sensor, wavelength_nm: float) -> np.ndarray:
    """η per CFA colour (R, G, B or mono) at ``wavelength_nm`` from the sensor's QE model."""
    if not (_FINE[0] <= wavelength_nm <= _FINE[-1]):
        raise InputError(f"wavelength {wavelength_nm} nm is outside the QE model range {_FINE[0]:g}-{_FINE[-1]:g} nm")
    c = sensor.config
    curves = qe_fine(c.qe, c.ir_cut, c.cfa)
    eta = np.array([np.interp(wavelength_nm, _FINE, k) for k in curves]) * float(sensor.qe_scale.detach())
    return eta


def photons_from_irradiance(irradiance_w_m2: float, pixel_pitch_um: float, exposure_s: float,
                            wavelength_nm: float) -> float:
    """μ_p = E · p² · t · λ/(h c) [photons per pixel area] (R4 eq. for the number of photons)."""
    area_m2 = (pixel_pitch_um * 1e-6) ** 2
    return irradiance_w_m2 * area_m2 * exposure_s * wavelength_nm * 1e-9 / (PLANCK_J_S * SPEED_OF_LIGHT_M_S)


def saturation_e(sensor: Sensor) -> float:
    """Electrons at which the output clips: the full well or the top of the ADC range."""
    K = float(sensor.system_gain().detach())
    adc = (sensor.white_level_dn - float(sensor.black_level_dn.detach())) / K
    return min(float(sensor.full_well_e.detach()), adc)


def expected_temporal_variance(sensor: Sensor, mean_photo_e, exposure_s, n_nodes: int = 161) -> np.ndarray:
    """Expected two-frame temporal variance [DN²] of the sensor model at photo-electron means.

    Quadrature over the pixel population (PRNU gain and DSNU/row/column offsets, Gauss–
    Hermite) and the temporal noise (shot noise as N(m, m), clipped at the full well; read,
    row and ADC noise Gaussian; rounding as 1/12 DN²; the ADC clip at 0 and 2^bits − 1 by
    the moments of a censored normal). Independent of the Monte-Carlo simulation: it gives
    the variance curve and hence the EMVA saturation point the model implies.
    """
    from scipy.special import ndtr

    c = sensor.config
    K = float(sensor.system_gain().detach())
    black = float(sensor.black_level_dn.detach())
    white = float(sensor.white_level_dn)
    fw = float(sensor.full_well_e.detach())
    prnu = float(sensor.prnu_pct.detach()) / 100.0
    off_e = math.sqrt(float(sensor.dsnu_e.detach()) ** 2 + c.column_fpn_e**2 + c.row_fpn_e**2)
    s2 = K**2 * (float(sensor.read_noise_e.detach()) ** 2 + float(sensor.row_noise_e.detach()) ** 2) \
        + float(sensor.adc_noise_dn.detach()) ** 2 + 1.0 / 12.0
    s = math.sqrt(s2)
    dark_e = float(sensor.dark_current_at().detach())
    m_photo = np.atleast_1d(np.asarray(mean_photo_e, float))
    t_exp = np.broadcast_to(np.asarray(exposure_s, float), m_photo.shape)
    gz, gw = np.polynomial.hermite_e.hermegauss(15)
    gw = gw / gw.sum()
    pz, dz = np.meshgrid(gz, gz, indexing="ij")
    pw = np.outer(gw, gw).ravel()
    pz, dz = pz.ravel(), dz.ravel()
    tz = np.linspace(-8.0, 8.0, n_nodes)
    tw = np.exp(-0.5 * tz**2)
    tw /= tw.sum()
    out = np.empty(m_photo.size)
    for i, (mp, t) in enumerate(zip(m_photo, t_exp)):
        m = np.maximum(mp * (1.0 + prnu * pz) + dark_e * t, 0.0)  # [P]
        x = m[:, None] + np.sqrt(m)[:, None] * tz[None, :]  # [P, T]
        x = np.clip(x, 0.0, fw)
        u = black + K * (x + off_e * dz[:, None])
        # censored normal moments: y = clip(N(u, s²), 0, white)
        a_hi = (white - u) / s
        a_lo = (0.0 - u) / s
        ph, pl = ndtr(a_hi), ndtr(a_lo)
        fh, fl = np.exp(-0.5 * a_hi**2) / math.sqrt(2 * math.pi), np.exp(-0.5 * a_lo**2) / math.sqrt(2 * math.pi)
        mid = ph - pl
        e1 = u * mid - s * (fh - fl) + white * (1 - ph)
        e2 = (u**2 + s2) * mid - s * ((u + white) * fh - (u + 0.0) * fl) + white**2 * (1 - ph)
        m1 = (e1 * tw[None, :]).sum(axis=1)
        m2 = (e2 * tw[None, :]).sum(axis=1)
        out[i] = float(((m2 - m1**2) * pw).sum())
    return out


def _default_exposures(sensor: Sensor, n_steps: int) -> np.ndarray:
    c = sensor.config
    t_max = c.exposure_max_s
    t = np.linspace(0.0, t_max, n_steps + 1)[1:]
    return np.maximum(t, c.exposure_min_s)


def simulate_stack(
    camera_or_sensor,
    *,
    n_steps: int = 50,
    exposures_s: Sequence[float] | None = None,
    photons_per_px: Sequence[float] | None = None,
    wavelength_nm: float = 525.0,
    irradiance_w_m2: float | None = None,
    overexposure: float = 1.15,
    spatial_frames: int = 16,
    dark: bool = True,
    temperatures_c: Sequence[float] | None = None,
    dark_series_steps: int = 6,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    like=None,
    progress: Callable[[int, int], None] | None = None,
) -> Emva1288Stack:
    """Simulate an EMVA 1288 measurement of a camforge sensor (see the module docstring).

    Args:
        camera_or_sensor: a :class:`~camforge.camera.Camera` (its sensor is used), a
            :class:`~camforge.sensor.Sensor`, a :class:`~camforge.sensor.SensorConfig` or dict.
        n_steps: bright steps (R4: at least 50 from dark to saturation).
        exposures_s: exposure time per bright step; default equally spaced up to the
            sensor's ``exposure_max_s``.
        photons_per_px: μ_p per bright step (with ``exposures_s``: the step grid of another
            measurement, e.g. ``result.main.photon_transfer``; alone: variation of the
            irradiance at the sensor's ``exposure_max_s``).
        wavelength_nm: wavelength of the light source.
        irradiance_w_m2: irradiance on the sensor (exposure-time variation); default: the
            value that saturates the most sensitive channel at ``exposure_max_s / overexposure``.
        overexposure: how far past saturation the last step goes (default 15 %).
        spatial_frames: L of the bright and dark spatial stacks at 50 % saturation (0: none).
        dark: take the dark pair of every bright step (needed by the analysis).
        temperatures_c: extra temperatures for dark exposure series (dark-current doubling
            temperature); the bright steps use the sensor's ``temperature_c``.
        dark_series_steps: exposures per extra-temperature dark series.
        size: ``(width, height)`` of a crop of the sensor to simulate (same pixel model).
        seed: temporal-noise seed (the sensor's fixed patterns come from its own ``seed``).
        like: an :class:`~camforge.characterize.Emva1288Result` whose measurement to replay:
            its photon and exposure grid, spatial-stack exposure and wavelength (for the
            round trip measured sensor → twin → same measurements).
        progress: ``progress(frames_done, frames_total)``.
    """
    sensor = _as_sensor(camera_or_sensor, size)
    cfg = sensor.config
    spatial_at = None
    if like is not None:
        ptc = like.main.photon_transfer
        photons_per_px, exposures_s = np.asarray(ptc.photons_per_px), np.asarray(ptc.exposure_s)
        if like.wavelength_nm:
            wavelength_nm = float(like.wavelength_nm)
        if like.main.spatial is not None:
            spatial_at = (float(like.main.spatial.exposure_s), float(like.main.spatial.photons_per_px))
    H, W = cfg.height_px, cfg.width_px
    if cfg.adc_bits > 16:
        raise InputError(f"a {cfg.adc_bits}-bit sensor does not fit 16-bit frames")
    eta_c = qe_at(sensor, wavelength_nm)  # per colour
    if not (eta_c > 0).all():
        raise InputError(f"the sensor's QE is zero at {wavelength_nm} nm; pick a wavelength it responds to")
    K = float(sensor.system_gain().detach())
    sat_e = saturation_e(sensor)
    dark_rate_map = sensor.dark_current_at().detach().double() * sensor.fixed_pattern()["dark"].double()
    hot = sensor.defect_map().hot
    dark_rate_map = torch.where(hot, torch.full_like(dark_rate_map, cfg.defects.hot_dark_current_e_per_s), dark_rate_map)

    # --- step grid
    if photons_per_px is not None and exposures_s is not None:
        mu_p = np.asarray(photons_per_px, float)
        t_b = np.asarray(exposures_s, float)
        if mu_p.shape != t_b.shape:
            raise InputError("photons_per_px and exposures_s need one value per step each")
    elif photons_per_px is not None:
        mu_p = np.asarray(photons_per_px, float)
        t_b = np.full(mu_p.shape, cfg.exposure_max_s)
    else:
        t_b = np.asarray(exposures_s, float) if exposures_s is not None else _default_exposures(sensor, n_steps)
        if irradiance_w_m2 is None:
            t_sat = float(t_b.max()) / overexposure
            rate_p = sat_e / float(eta_c.max()) / t_sat
        else:
            rate_p = photons_per_px_rate(irradiance_w_m2, cfg.pixel_pitch_um, wavelength_nm)
        mu_p = rate_p * t_b
    if mu_p.size < 3 or (mu_p <= 0).any() or (t_b <= 0).any():
        raise InputError("need at least 3 bright steps with photons > 0 and exposure > 0")

    # per-pixel photo-electron rate for each photon level: μ_p / t · η(colour of the pixel)
    idx = np.tile(cfa_tile(cfg.cfa), (H // cfa_tile(cfg.cfa).shape[0] + 1, W // cfa_tile(cfg.cfa).shape[1] + 1))[:H, :W]
    eta_map = torch.as_tensor(eta_c[idx] if eta_c.size > 1 else np.full((H, W), eta_c[0]), dtype=torch.float32)

    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + 11)
    t_spatial = None
    n_dark_series = len(temperatures_c or ()) * dark_series_steps * 2
    total = mu_p.size * (4 if dark else 2) + (4 * spatial_frames if spatial_frames else 0) + n_dark_series
    done = [0]

    def frames(photons: float, t: float, n: int) -> tuple:
        rate = eta_map * (photons / t)
        out = []
        for i0 in range(0, n, 16):
            b = min(16, n - i0)
            e = rate[None, None].expand(b, 1, H, W)
            with torch.no_grad():
                raw = sensor(e, t, seed=gen)
            out.extend(raw.data[:, 0].round().to(torch.int32).numpy().astype(np.uint16))
        done[0] += n
        if progress is not None:
            progress(done[0], total)
        return tuple(out)

    steps: list[Emva1288Step] = []
    T0 = float(cfg.temperature_c)
    numbers = np.asarray(like.main.photon_transfer.step_index) if like is not None else np.arange(mu_p.size)
    for i, (p, t) in enumerate(zip(mu_p, t_b)):
        steps.append(Emva1288Step("bright", float(t), float(p), frames(p, t, 2), T0, int(numbers[i])))
    if dark:
        for i, t in enumerate(np.unique(t_b)):
            steps.append(Emva1288Step("dark", float(t), 0.0, frames(0.0, t, 2), T0, i))
    if spatial_frames:
        if spatial_frames < 2:
            raise InputError("spatial_frames must be 0 or >= 2")
        # 50 % of saturation of the most sensitive channel
        p50 = 0.5 * sat_e / float(eta_c.max())
        if spatial_at is not None:
            t_spatial, p50 = spatial_at
        elif photons_per_px is None:
            t_spatial = float(p50 / (mu_p[-1] / t_b[-1]))
        else:
            t_spatial = float(t_b[np.argmin(np.abs(mu_p - p50))])
            p50 = float(mu_p[np.argmin(np.abs(mu_p - p50))])
        p_sp = p50 if (photons_per_px is not None or spatial_at is not None) else float(mu_p[-1] / t_b[-1] * t_spatial)
        steps.append(Emva1288Step("bright", t_spatial, p_sp, frames(p_sp, t_spatial, spatial_frames), T0, 0, True))
        steps.append(Emva1288Step("dark", t_spatial, 0.0, frames(0.0, t_spatial, spatial_frames), T0, 0, True))
    if temperatures_c:
        t_series = np.linspace(float(t_b.max()) / dark_series_steps, float(t_b.max()), dark_series_steps)
        old = float(sensor.temperature_c.detach())
        try:
            for T in temperatures_c:
                if float(T) == T0:
                    continue
                with torch.no_grad():
                    sensor.temperature_c.fill_(float(T))
                for j, t in enumerate(t_series):
                    steps.append(Emva1288Step("dark", float(t), 0.0, frames(0.0, float(t), 2), float(T), j))
        finally:
            with torch.no_grad():
                sensor.temperature_c.fill_(old)

    # --- truth
    names = channel_names(cfg.cfa)
    tile = cfa_tile(cfg.cfa)
    site_colour = [int(tile[r, c]) for r in range(tile.shape[0]) for c in range(tile.shape[1])]
    qe_by_channel = {n: float(eta_c[k] if eta_c.size > 1 else eta_c[0]) for n, k in zip(names, site_colour)}
    t_min = float(t_b.min())
    mu_e_sat_by_channel = {}
    sat_step_by_channel = {}
    for n in names:
        ev = expected_temporal_variance(sensor, mu_p * qe_by_channel[n], t_b)
        order = np.argsort(mu_p, kind="stable")
        j = int(order[np.argmax(ev[order])])
        mu_e_sat_by_channel[n] = float(qe_by_channel[n] * mu_p[j])
        sat_step_by_channel[n] = j
    main = main_channel(cfg.cfa)
    truth = {
        "K": K, "qe": qe_by_channel[main], "qe_by_channel": qe_by_channel,
        "sigma_d_e": sensor.temporal_dark_noise_e(t_min), "mu_e_sat": mu_e_sat_by_channel[main],
        "mu_e_sat_by_channel": mu_e_sat_by_channel, "saturation_step": sat_step_by_channel[main],
        "saturation_e": sat_e, "dark_current_e_per_s": float(dark_rate_map.mean()),
        "dark_current_nominal_e_per_s": float(sensor.dark_current_at().detach()),
        "doubling_temperature_k": float(cfg.dark_current_doubling_k), "prnu_pct": float(sensor.prnu_pct.detach()),
        "dsnu_e": float(sensor.dsnu_e.detach()), "black_level_dn": float(sensor.black_level_dn.detach()),
        "full_well_e": float(sensor.full_well_e.detach()), "wavelength_nm": float(wavelength_nm),
        "temperature_c": T0, "spatial_exposure_s": t_spatial,
    }
    info = {"camera": cfg.name, "simulator": "camforge"}
    if irradiance_w_m2 is not None:
        info["irradiance_w_m2"] = f"{irradiance_w_m2:g}"
    return Emva1288Stack(
        bits=cfg.adc_bits, width_px=W, height_px=H, steps=tuple(steps), cfa=cfg.cfa, version="4.0", info=info,
        wavelength_nm=float(wavelength_nm), pixel_pitch_um=cfg.pixel_pitch_um, source="simulated", truth=truth,
    )


def photons_per_px_rate(irradiance_w_m2: float, pixel_pitch_um: float, wavelength_nm: float) -> float:
    """Photons per pixel area per second at irradiance E: E · p² · λ/(h c)."""
    return photons_from_irradiance(irradiance_w_m2, pixel_pitch_um, 1.0, wavelength_nm)


__all__ = ["expected_temporal_variance", "photons_from_irradiance", "photons_per_px_rate", "qe_at", "saturation_e",
           "simulate_stack"]
