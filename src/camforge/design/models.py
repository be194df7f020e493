"""Cost, power and size models of a camera module — documented, simple, replaceable.

These are *engineering rules of thumb*, not vendor data: each term is written out so a team
can replace the coefficients with its own quotes (``models:`` section of a design space) or
the whole function (``function: "mypackage.costs:module_cost"``). Every model is a plain
function ``model(q: dict, **coefficients) -> dict`` of the design quantities ``q`` (see
:meth:`camforge.design.DesignSpace.quantities`) returning new named quantities.

Size (:func:`module_size`)
    Total track length of a compact lens scales with its focal length, plus a term for the
    aperture (faster lenses need thicker elements): ``TTL = ttl_per_focal · f + ttl_per_pupil · D``
    with ``D = f / N`` the entrance-pupil diameter. The module z-height adds the sensor
    package, IR filter and holder: ``z = TTL + back_stack_mm``. Phone main-camera lenses have
    TTL/f ≈ 1.1–1.3 (e.g. 4.4 mm focal length in a ≈ 5.5 mm tall lens).
    The lens' image circle is ``2 f tan(θ_max)`` for a lens family covering half-field angle
    ``θ_max`` (``lens_max_half_field_deg``).

Cost (:func:`module_cost`)
    * Sensor die: silicon area (active area × ``periphery_factor`` for readout and pads) at
      ``wafer_usd_per_mm2`` divided by a Poisson yield ``exp(−D0·A)`` (defect density
      ``defects_per_mm2``); small pixels need a finer process (× ``(1 + small_pixel_premium ·
      max(0, 1 µm/p − 1))``); low read noise and high QE need better pixel design and process
      (× ``(read_noise_ref_e / σ_read)^read_noise_exponent`` and ×
      ``(qe / qe_ref)^qe_exponent``); more ADC bits cost area (× ``1 + adc_bit_premium ·
      (bits − 10)``).
    * Package and test: ``package_usd + package_usd_per_mm2 · A``.
    * Lens: ``lens_base_usd · (D / pupil_ref_mm)^pupil_exponent · aberration_scale^−tolerance_exponent``
      (bigger apertures need bigger, more numerous elements; a tighter aberration budget needs
      tighter tolerances and lower yield).
    * Assembly, active alignment and test: ``assembly_usd``.

Power (:func:`sensor_power`)
    Readout energy per pixel conversion grows with ADC resolution:
    ``P = static_mw + pixel_rate · energy_nj · (1 + adc_bit_energy · (bits − 10)) + interface_mw_per_gbps · data_rate``
    with ``pixel_rate = width · height · frame_rate``. A 12 MP sensor at 30 fps (≈ 360 Mpixel/s)
    draws a few hundred milliwatts, as published for phone sensors.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable
from typing import Any

from camforge.errors import ConfigError


def module_size(q: dict, *, ttl_per_focal: float = 1.05, ttl_per_pupil: float = 0.15, back_stack_mm: float = 0.9,
                lens_max_half_field_deg: float | None = None) -> dict:
    """Total track length, z-height and image circle [mm] (see the module docstring)."""
    f = q["focal_length_mm"]
    D = q["entrance_pupil_mm"]
    ttl = ttl_per_focal * f + ttl_per_pupil * D
    half = lens_max_half_field_deg if lens_max_half_field_deg is not None else q["dfov_deg"] / 2
    return {
        "total_track_mm": ttl,
        "z_height_mm": ttl + back_stack_mm,
        "image_circle_mm": 2 * f * math.tan(math.radians(min(half, 89.0))),
    }


def module_cost(q: dict, *, wafer_usd_per_mm2: float = 0.08, periphery_factor: float = 1.3,
                defects_per_mm2: float = 0.002, small_pixel_premium: float = 0.5, read_noise_ref_e: float = 2.0,
                read_noise_exponent: float = 0.5, qe_ref: float = 0.75, qe_exponent: float = 1.0,
                adc_bit_premium: float = 0.05, package_usd: float = 0.8, package_usd_per_mm2: float = 0.02,
                lens_base_usd: float = 3.0, pupil_ref_mm: float = 2.5, pupil_exponent: float = 1.5,
                tolerance_exponent: float = 0.7, assembly_usd: float = 2.0) -> dict:
    """Module cost [USD] and its parts (see the module docstring)."""
    area = q["sensor_width_mm"] * q["sensor_height_mm"] * periphery_factor
    yield_ = math.exp(-defects_per_mm2 * area)
    p = q["pixel_pitch_um"]
    process = 1 + small_pixel_premium * max(0.0, 1.0 / p - 1.0)
    noise = (read_noise_ref_e / max(q["read_noise_e"], 1e-3)) ** read_noise_exponent
    qe = (q["qe_peak"] / qe_ref) ** qe_exponent
    adc = 1 + adc_bit_premium * (q["adc_bits"] - 10)
    sensor = wafer_usd_per_mm2 * area / yield_ * process * noise * qe * adc
    package = package_usd + package_usd_per_mm2 * area
    lens = lens_base_usd * (q["entrance_pupil_mm"] / pupil_ref_mm) ** pupil_exponent \
        * q["aberration_scale"] ** (-tolerance_exponent)
    total = sensor + package + lens + assembly_usd
    return {"cost_sensor_usd": sensor, "cost_package_usd": package, "cost_lens_usd": lens, "cost_usd": total}


def sensor_power(q: dict, *, static_mw: float = 40.0, energy_nj: float = 0.6, adc_bit_energy: float = 0.25,
                 interface_mw_per_gbps: float = 30.0) -> dict:
    """Sensor power [mW] at the space's frame rate (see the module docstring)."""
    rate = q["width_px"] * q["height_px"] * q["frame_rate_fps"]
    bits = q["adc_bits"]
    readout = rate * energy_nj * 1e-9 * (1 + adc_bit_energy * (bits - 10)) * 1e3
    data_gbps = rate * bits * 1e-9
    return {"power_mw": static_mw + readout + interface_mw_per_gbps * data_gbps, "pixel_rate_mpix_s": rate * 1e-6}


#: The bundled models, by kind.
DEFAULTS: dict[str, Callable[..., dict]] = {"size": module_size, "cost": module_cost, "power": sensor_power}


def resolve_model(kind: str, spec: dict[str, Any] | None) -> tuple[Callable[..., dict], dict[str, float]]:
    """The model function and its coefficients for one ``models:`` entry.

    ``spec``: ``{"function": "package.module:callable", "coefficients": {...}}`` (both optional;
    the default function is the bundled one for ``kind``). Unknown coefficients are errors.
    """
    spec = dict(spec or {})
    fn_path = spec.pop("function", None)
    coeffs = dict(spec.pop("coefficients", None) or {})
    if spec:
        raise ConfigError(f"models.{kind}: unknown field(s) {', '.join(sorted(spec))}; use function and coefficients")
    if fn_path is None:
        fn = DEFAULTS[kind]
    else:
        mod, _, attr = str(fn_path).partition(":")
        if not mod or not attr:
            raise ConfigError(f"models.{kind}.function must look like 'package.module:function', got {fn_path!r}")
        try:
            fn = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"models.{kind}.function {fn_path!r} cannot be imported: {e}") from None
        if not callable(fn):
            raise ConfigError(f"models.{kind}.function {fn_path!r} is not callable")
    params = inspect.signature(fn).parameters
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())
    for k, v in coeffs.items():
        if not takes_any and k not in params:
            known = [n for n, p in params.items() if p.kind == inspect.Parameter.KEYWORD_ONLY]
            raise ConfigError(f"models.{kind}.coefficients.{k}: unknown coefficient (known: {', '.join(known)})")
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ConfigError(f"models.{kind}.coefficients.{k}: must be a number, got {v!r}")
    return fn, coeffs


__all__ = ["DEFAULTS", "module_cost", "module_size", "resolve_model", "sensor_power"]
