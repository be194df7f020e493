"""Digital twin: a simulator sensor whose own EMVA 1288 characterization reproduces a
measured one.

:func:`sensor_config_from_emva1288` maps an :class:`~camforge.characterize.Emva1288Result`
onto a :class:`~camforge.sensor.SensorConfig`:

* system gain: ``conversion_gain_dn_per_e = K`` at unity analog gain;
* ADC: ``adc_bits`` from the data, ``black_level_dn`` = μ_y.dark at the shortest exposure
  minus the dark signal accumulated in it;
* read noise from σ_d (at the shortest exposure): σ_read² = σ_d² − σ_row² − (σ_adc/K)² − I_dark·t_min
  (the base's row and ADC noise are kept);
* saturation: when the data show the clipped plateau, the clip level in electrons — at the
  top of the ADC range (the twin then clips in its ADC as well) or below it (a full well of
  (plateau − black)/K); otherwise μ_e.sat + 3√μ_e.sat. The full well is then checked with the
  model's expected variance curve (:func:`~camforge.characterize.simulate.expected_temporal_variance`)
  on the measured photon grid and moved until the EMVA saturation step is the measured one;
* quantum efficiency: the base's QE curves scaled so that η(λ) is the measured value per
  colour (``peak_qe`` of the parametric model for a mono sensor, a table for colour);
* DSNU / PRNU / dark current: pixel, row and column DSNU parts, PRNU1288, dark current and
  doubling temperature when measured.
"""

from __future__ import annotations

import math

import numpy as np

from camforge.cfa import cfa_tile, normalize_cfa
from camforge.config import validate
from camforge.errors import InputError
from camforge.sensor import SensorConfig
from camforge.sensor.qe import _FINE, qe_fine


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _channel_qe(result) -> dict[int, float]:
    """Measured η per CFA colour index (0 R, 1 G, 2 B; mono → {0: η})."""
    cfa = normalize_cfa(result.cfa)
    if cfa == "MONO":
        return {0: float(result.main.qe)}
    tile = cfa_tile(cfa)
    sites = [int(tile[r, c]) for r in range(tile.shape[0]) for c in range(tile.shape[1])]
    acc: dict[int, list[float]] = {}
    for colour, ch in zip(sites, result.channels.values()):
        acc.setdefault(colour, []).append(float(ch.qe))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def _qe_config(base: SensorConfig, cfa: str, eta: dict[int, float], wavelength_nm: float) -> dict:
    qe = base.qe
    curves = qe_fine(qe, base.ir_cut, cfa)  # [C, N] with the IR cut
    at = np.array([np.interp(wavelength_nm, _FINE, k) for k in curves])
    if (at <= 0).any():
        raise InputError(f"the base sensor's QE is zero at {wavelength_nm} nm; give a base with a QE there")
    if cfa == "MONO" and qe.model == "parametric":
        peak = qe.peak_qe * eta[0] / at[0]
        if peak <= 1.0:
            return qe.model_copy(update={"peak_qe": float(peak)}).model_dump()
    # a table: the base curves without the IR cut, scaled per colour (the IR cut is applied again)
    ir = float(np.interp(wavelength_nm, _FINE, _ir_curve(base)))
    bare = curves / np.maximum(_ir_curve(base)[None], 1e-12)
    scale = np.array([eta[k] / at[k] if k in eta else 1.0 for k in range(curves.shape[0])])
    table = np.clip(bare * scale[:, None], 0.0, 1.0)
    # keep the value at λ exact even where the clip bites elsewhere
    for k in range(table.shape[0]):
        if k in eta:
            j = int(np.argmin(np.abs(_FINE - wavelength_nm)))
            if abs(_FINE[j] - wavelength_nm) < 1e-9:
                table[k, j] = min(eta[k] / ir, 1.0)
    d = {"model": "table", "wavelength_nm": _FINE.tolist()}
    if cfa == "MONO":
        d["mono"] = table[0].tolist()
    else:
        d["r"], d["g"], d["b"] = table[0].tolist(), table[1].tolist(), table[2].tolist()
    return d


def _ir_curve(base: SensorConfig) -> np.ndarray:
    from camforge.sensor.qe import ir_cut_transmission

    return ir_cut_transmission(_FINE, base.ir_cut)


def _saturation_step_of(cfg: SensorConfig, ptc, eta: float) -> int:
    from camforge.characterize.simulate import expected_temporal_variance
    from camforge.sensor import Sensor

    ev = expected_temporal_variance(Sensor(cfg), np.asarray(ptc.photons_per_px) * eta, np.asarray(ptc.exposure_s))
    return int(np.argmax(ev))


def sensor_config_from_emva1288(result, base: SensorConfig | dict | None = None,
                                wavelength_nm: float | None = None) -> SensorConfig:
    """A :class:`SensorConfig` whose EMVA 1288 characterization reproduces ``result``.

    Args:
        result: an :class:`~camforge.characterize.Emva1288Result`.
        base: a sensor to start from (optics-side fields — pitch, QE shape, IR cut, defects
            — are kept); default a sensor of the measured size and pixel pitch (5 µm when the
            result does not know it).
        wavelength_nm: wavelength of the measurement's light (default the result's, else 525 nm).

    Returns:
        A validated :class:`SensorConfig` (analog gain 1).
    """
    m = result.main
    lam = float(wavelength_nm or result.wavelength_nm or 525.0)
    if base is None:
        base = SensorConfig(width_px=result.width_px, height_px=result.height_px,
                            pixel_pitch_um=result.pixel_pitch_um or 5.0, full_well_e=max(m.mu_e_sat, 1.0),
                            cfa=result.cfa, adc_bits=max(result.bits, 6), black_level_dn=0.0,
                            exposure_max_s=1.0, dark_current_spread=0.0)
    else:
        base = validate(SensorConfig, base if not isinstance(base, SensorConfig) else base.model_dump(), "base sensor")
    cfa = normalize_cfa(result.cfa)
    K = float(m.k_dn_per_e)
    ptc = m.photon_transfer
    t_min = float(np.min(ptc.exposure_s))
    t_max = float(np.max(ptc.exposure_s))
    bits = int(result.bits)
    white = float(2**bits - 1)

    # dark current and temperature
    dc = m.dark_current
    temp = result.temperature_c if result.temperature_c is not None else base.temperature_c
    i_dark = float(dc.from_mean_e_per_s) if dc is not None and _finite(dc.from_mean_e_per_s) and dc.from_mean_e_per_s > 0 \
        else float(base.dark_current_e_per_s)
    t_d = float(dc.doubling_temperature_k) if dc is not None and _finite(dc.doubling_temperature_k) \
        else float(base.dark_current_doubling_k)

    # black level: the dark mean at the shortest exposure minus its dark signal
    mu_dark = float(np.mean([c.mu_y_dark_dn for c in result.channels.values()]))
    black = max(mu_dark - K * i_dark * t_min, 0.0)

    # read noise
    sd2 = float(m.sigma_d_e) ** 2
    rn2 = sd2 - base.row_noise_e**2 - (base.adc_noise_dn / K) ** 2 - i_dark * t_min
    read_noise = math.sqrt(max(rn2, 0.0))

    # spatial
    upd: dict = {}
    sp = m.spatial
    if sp is not None:
        if _finite(sp.prnu_pct):
            upd["prnu_pct"] = float(min(sp.prnu_pct, 50.0))
        # DSNU parts from the dark variances (a negative part — noise — counts as zero)
        spread_e = i_dark * sp.exposure_s * base.dark_current_spread
        part = lambda v: max(float(v), 0.0) / K**2 if _finite(v) else 0.0  # noqa: E731
        upd["dsnu_e"] = math.sqrt(max(part(sp.s2_y_dark_pixel_dn2) - spread_e**2, 0.0))
        upd["column_fpn_e"] = math.sqrt(part(sp.s2_y_dark_col_dn2))
        upd["row_fpn_e"] = math.sqrt(part(sp.s2_y_dark_row_dn2))

    # saturation: ADC or well
    mean = np.asarray(ptc.mean_dn)
    i_sat = int(np.argmax(np.asarray(ptc.var_dn2)))
    plateau = None
    if i_sat < mean.size - 1 and float(ptc.saturated_fraction[-1]) > 0.5:
        plateau = float(mean[-1])
    elif i_sat < mean.size - 1:
        plateau = float(mean[i_sat + 1:].max())
    adc_limited = plateau is not None and plateau >= white - 1.0
    if adc_limited:
        full_well = 2.0 * (white - black) / K
    elif plateau is not None and plateau > mean[i_sat]:
        full_well = (plateau - black) / K
    else:
        full_well = m.mu_e_sat + 3.0 * math.sqrt(m.mu_e_sat)

    cfg = dict(base.model_dump())
    cfg.update(
        name=f"EMVA 1288 twin of {result.source or 'measurement'}", width_px=result.width_px,
        height_px=result.height_px, cfa=cfa, conversion_gain_dn_per_e=K, analog_gain=1.0,
        adc_bits=bits, black_level_dn=float(black), read_noise_e=read_noise, full_well_e=float(full_well),
        dark_current_e_per_s=i_dark, dark_current_ref_temp_c=float(temp), temperature_c=float(temp),
        dark_current_doubling_k=t_d, exposure_min_s=min(base.exposure_min_s, t_min),
        exposure_max_s=max(base.exposure_max_s, t_max), qe=_qe_config(base, cfa, _channel_qe(result), lam),
    )
    if result.pixel_pitch_um:
        cfg["pixel_pitch_um"] = float(result.pixel_pitch_um)
    cfg.update(upd)
    out = validate(SensorConfig, cfg, "EMVA 1288 twin")

    # move the full well until the model's variance peak is at the measured saturation step
    if not adc_limited:
        eta = float(m.qe)
        step = _saturation_step_of(out, ptc, eta)
        if step != i_sat:
            lo_e = float(ptc.photons_per_px[i_sat]) * eta
            hi_e = float(ptc.photons_per_px[min(i_sat + 1, mean.size - 1)]) * eta + 4.0 * math.sqrt(lo_e)
            best = None
            for fw in np.linspace(lo_e, hi_e, 41):
                trial = out.model_copy(update={"full_well_e": float(fw)})
                if _saturation_step_of(trial, ptc, eta) == i_sat:
                    if best is None or abs(fw - full_well) < abs(best - full_well):
                        best = float(fw)
            if best is not None:
                out = out.model_copy(update={"full_well_e": best})
    return out


def sensor_from_emva1288(result, base=None, wavelength_nm: float | None = None):
    """A :class:`~camforge.sensor.Sensor` built from :func:`sensor_config_from_emva1288`."""
    from camforge.sensor import Sensor

    return Sensor(sensor_config_from_emva1288(result, base, wavelength_nm))


__all__ = ["sensor_config_from_emva1288", "sensor_from_emva1288"]
