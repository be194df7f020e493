"""EMVA 1288 Release 4.0 Linear analysis of reduced stack statistics.

Implemented (section numbers of EMVA Standard 1288 Release 4.0 Linear, 2021):

* §6.2 saturation: the step where the temporal variance σ²_y is largest; μ_p.sat is its
  photon count and μ_e.sat = η μ_p.sat.
* §6.3 sensitivity: K from the photon transfer σ²_y − σ²_y.dark = K (μ_y − μ_y.dark) and
  R from μ_y − μ_y.dark = R μ_p, both least squares through the origin over the steps with
  μ_y − μ_y.dark ≤ 70 % of the value at saturation; η = R / K.
* §6.3 temporal dark noise: σ²_y.dark at the shortest exposure time (when the dark series
  has three or more exposure times, the value of a straight-line fit of σ²_y.dark(t) at
  that time, which uses every dark pair); σ_d = √(σ²_y.dark − σ²_q)/K with σ²_q = 1/12 DN²
  when σ²_y.dark ≥ 0.24 DN², else the upper limit σ_d < 0.40/K.
* §6.4 SNR: SNR(μ_p) = η μ_p / √(σ_d² + σ²_q/K² + η μ_p), SNR_max = √μ_e.sat;
  absolute sensitivity threshold (SNR = 1, exact solution of the model)
  μ_p.min = (√(σ_d² + σ²_q/K² + 1/4) + 1/2) / η; dynamic range DR = μ_p.sat / μ_p.min.
  (Release 3.x used the approximation (σ_y.dark/K + 1/2)/η; the difference is < 0.1 % for
  σ_d ≫ 1 e⁻, as in the reference set.)
* §6.5 linearity: μ_y − μ_y.dark = a μ_p + b fitted over 5–95 % of saturation, minimising
  the relative deviation; δ = (y − fit)/fit; LE_min, LE_max and LE = (LE_max − LE_min)/2.
* §7 dark current from the slope of μ_y.dark(t) (/K) and of σ²_y.dark(t) (/K²); with
  several temperatures the doubling temperature T_d from log2 I(T) = a + T/T_d.
* §8 spatial non-uniformity: :mod:`camforge.characterize.spatial`.

Confidence intervals (95 %): regression slopes with heteroscedasticity-consistent standard
errors (HC1; for K at least the error implied by the sampling variance 2σ⁴/(N−1) of each
two-frame variance) and Student's t (n − 1 or n − 2 degrees of freedom); η and σ_d by
first-order propagation of the uncertainties of R, K and σ²_y.dark (treated as
independent). A single dark variance without a fit uses its sampling error √(2/(N−1))·σ².
"""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np

from camforge.characterize.frames import Emva1288Warning
from camforge.characterize.reduce import StackStatistics
from camforge.characterize.result import DarkCurrent, Emva1288Channel, Emva1288Result, PhotonTransfer, _ro
from camforge.characterize.spatial import analyze_spatial
from camforge.characterize.stack import main_channel, site_offsets
from camforge.errors import MeasurementError

SIGMA_Q2_DN2 = 1.0 / 12.0
STANDARD = "EMVA 1288 Release 4.0 Linear"
CONFIDENCE_METHOD = ("95 % intervals: heteroscedasticity-consistent (HC1) standard errors of the least-squares "
                     "slopes, for K at least the error implied by the sampling variance of each two-frame "
                     "variance, with Student's t; eta and sigma_d by first-order propagation of the R, K and "
                     "sigma2_y.dark uncertainties")


# ---------------------------------------------------------------------- fits
def _t95(dof: int) -> float:
    if dof <= 0:
        return float("nan")
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def fit_through_origin(x, y, var_y=None) -> tuple[float, float, int]:
    """Least-squares slope of y = m·x; returns (m, standard error of m, n).

    The standard error is heteroscedasticity-consistent (White's HC1 sandwich estimator:
    photon-transfer points scatter in proportion to their level, which the textbook OLS
    formula ignores); with ``var_y``, the sampling variances of the y values, it is the larger
    of HC1 and the error those variances imply, Σ x² var_y / (Σ x²)².
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    sxx = float(np.dot(x, x))
    n = x.size
    if sxx <= 0:
        return float("nan"), float("nan"), n
    m = float(np.dot(x, y)) / sxx
    if n < 2:
        return m, float("nan"), n
    r = y - m * x
    var_m = n / (n - 1) * float(np.sum(x * x * r * r)) / sxx**2
    if var_y is not None:
        var_m = max(var_m, float(np.sum(x * x * np.asarray(var_y, float))) / sxx**2)
    return m, math.sqrt(var_m), n


def fit_line(x, y) -> dict:
    """Least-squares y = a + b·x with standard errors; ``predict_se(x0)`` of the fitted value."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = x.size
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    b = float(((x - xm) * (y - ym)).sum() / sxx)
    a = float(ym - b * xm)
    r = y - (a + b * x)
    s2 = float((r * r).sum() / (n - 2)) if n > 2 else float("nan")
    return {"a": a, "b": b, "se_b": math.sqrt(s2 / sxx) if n > 2 else float("nan"), "n": n, "s2": s2,
            "xm": xm, "sxx": sxx}


def _predict(fit: dict, x0: float) -> tuple[float, float]:
    v = fit["a"] + fit["b"] * x0
    se = math.sqrt(fit["s2"] * (1.0 / fit["n"] + (x0 - fit["xm"]) ** 2 / fit["sxx"])) if fit["n"] > 2 else float("nan")
    return v, se


def linearity_fit(photons, signal) -> tuple[float, float]:
    """Straight line a·μ_p + b minimising the sum of squared *relative* deviations (R4 §6.5)."""
    x = np.asarray(photons, float)
    y = np.asarray(signal, float)
    A = np.stack([x / y, 1.0 / y], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, np.ones_like(y), rcond=None)
    return float(a), float(b)


def saturation_index(var_dn2) -> int:
    """Index of the maximum of the temporal variance (R4 §6.2 saturation point)."""
    return int(np.argmax(np.asarray(var_dn2, float)))


def _ci(value: float, se: float, t: float) -> tuple[float, float]:
    if not (math.isfinite(se) and math.isfinite(t)):
        return (float("nan"), float("nan"))
    return (value - t * se, value + t * se)


# ---------------------------------------------------------------------- helpers
def _unique_mean(t: np.ndarray, v: np.ndarray):
    """Average values that share an exposure time; sorted unique times and means."""
    keys = np.round(t, 15)
    u, inv = np.unique(keys, return_inverse=True)
    s = np.zeros(u.size)
    c = np.zeros(u.size)
    np.add.at(s, inv, v)
    np.add.at(c, inv, 1)
    tt = np.zeros(u.size)
    np.add.at(tt, inv, t)
    return tt / c, s / c


def _dark_at(t_bright: np.ndarray, t_dark: np.ndarray, v_dark: np.ndarray, notes: list, what: str) -> np.ndarray:
    tu, vu = _unique_mean(t_dark, v_dark)
    if tu.size == 1:
        return np.full(t_bright.shape, vu[0])
    out = np.interp(t_bright, tu, vu)
    exact = np.isclose(t_bright[:, None], tu[None, :], rtol=1e-9, atol=0).any(axis=1)
    if not exact.all() and what == "mean":
        notes.append(f"{int((~exact).sum())} bright step(s) have no dark step at the same exposure time; "
                     "dark values interpolated linearly in exposure time")
    return out


def _nominal_temperature(stats: StackStatistics, notes: list) -> float | None:
    temps = [p.temperature_c for p in stats.temporal if p.kind == "bright" and p.temperature_c is not None]
    if not temps:
        return None
    counts = Counter(temps)
    t0 = counts.most_common(1)[0][0]
    if len(counts) > 1:
        notes.append(f"bright steps at several temperatures {sorted(counts)}; photon transfer uses the "
                     f"{counts[t0]} steps at {t0:g} °C")
    return t0


def _same_temp(p_temp, nominal) -> bool:
    return p_temp is None or nominal is None or p_temp == nominal


# ---------------------------------------------------------------------- channel analysis
def _analyze_channel(stats: StackStatistics, ci: int, nominal, notes: list, defect_sigma: float) -> Emva1288Channel:
    name = stats.channels[ci]
    stack = stats.stack
    white = (1 << stack.bits) - 1
    bright = [p for p in stats.temporal if p.kind == "bright" and _same_temp(p.temperature_c, nominal)]
    dark = [p for p in stats.temporal if p.kind == "dark" and _same_temp(p.temperature_c, nominal)]
    if len(bright) < 3:
        raise MeasurementError(f"{len(bright)} bright temporal step(s); the photon transfer needs at least 3 "
                               "(EMVA 1288 recommends 50 from dark to saturation)")
    if not dark:
        raise MeasurementError("no dark temporal step (a 'd' step with two frames); the dark offset and noise "
                               "are needed to analyse the bright steps")
    bright.sort(key=lambda p: (p.photons_per_px, p.exposure_s))
    mu_p = np.array([p.photons_per_px for p in bright])
    t_b = np.array([p.exposure_s for p in bright])
    mu_y = np.array([p.mean_dn[ci] for p in bright])
    var_y = np.array([p.var_dn2[ci] for p in bright])
    sat_frac = np.array([p.saturated_fraction[ci] for p in bright])
    t_d = np.array([p.exposure_s for p in dark])
    mu_d_pts = np.array([p.mean_dn[ci] for p in dark])
    var_d_pts = np.array([p.var_dn2[ci] for p in dark])
    mu_d = _dark_at(t_b, t_d, mu_d_pts, notes if ci == 0 else [], "mean")
    var_d = _dark_at(t_b, t_d, var_d_pts, [], "var")
    signal = mu_y - mu_d
    sig_var = var_y - var_d
    sigma_dark_dn = math.sqrt(max(float(np.median(var_d_pts)), SIGMA_Q2_DN2))

    # --- bad data: all dark / all saturated
    if np.all(sat_frac > 0.5) or (mu_y.min() >= white - 0.5 and var_y.max() < 1.0):
        raise MeasurementError(f"channel {name}: every bright step is saturated (more than half the pixels at "
                               f"{white} DN); lower the exposure or the light level")
    if signal.max() < 3.0 * sigma_dark_dn:
        raise MeasurementError(f"channel {name}: the bright frames are no brighter than the dark frames (largest "
                               f"signal {signal.max():.3g} DN vs dark noise {sigma_dark_dn:.3g} DN); "
                               "no photo response — is the light source on?")
    if np.ptp(signal) < 3.0 * sigma_dark_dn:
        raise MeasurementError(f"channel {name}: the signal does not change with the light level (range "
                               f"{np.ptp(signal):.3g} DN); the frames are all saturated or all equally lit")
    i_sat = saturation_index(var_y)
    if i_sat < 2:
        raise MeasurementError(f"channel {name}: the temporal variance peaks at bright step {i_sat}, so the "
                               "sensor is saturated from the start; take steps from dark to saturation")
    # saturation not reached: no clipped pixels and no collapse of the variance after its maximum
    if sat_frac.max() < 1e-3 and var_y[-1] > 0.9 * var_y[i_sat]:
        notes.append(f"channel {name}: the data do not reach saturation (variance still rising at the last step, no clipped "
                     "pixels): saturation capacity and dynamic range are lower bounds")
    y_sat = signal[i_sat]
    if y_sat <= 0:
        raise MeasurementError(f"channel {name}: no signal above dark at saturation")

    # --- sensitivity fits, 0..70 % of saturation
    in70 = np.flatnonzero(signal[: i_sat + 1] <= 0.7 * y_sat)
    if in70.size < 2:
        raise MeasurementError(f"channel {name}: fewer than two steps below 70 % of saturation; take more "
                               "steps at low light")
    hi70 = int(in70.max())
    sl = slice(0, hi70 + 1)
    # sampling variance of each two-frame variance (Gaussian): 2 σ⁴ / (N − 1), bright and dark
    n_b = np.array([p.n_pixels[ci] for p in bright], float)
    v_pts = 2.0 * var_y**2 / (n_b - 1) + 2.0 * var_d**2 / (n_b - 1)
    K, se_K, nK = fit_through_origin(signal[sl], sig_var[sl], v_pts[sl])
    if not (K > 0):
        raise MeasurementError(f"channel {name}: the photon transfer slope K = {K:.3g} is not positive; the "
                               "variance does not grow with the signal (check the dark frames)")
    R, se_R, _ = fit_through_origin(mu_p[sl], signal[sl])
    eta = R / K
    t_k = _t95(nK - 1)
    se_eta = eta * math.hypot(se_R / R, se_K / K) if (math.isfinite(se_R) and math.isfinite(se_K)) else float("nan")

    # --- temporal dark noise at the shortest exposure
    t_min = float(t_d.min())
    tu = np.unique(np.round(t_d, 15))
    n_px = float(dark[0].n_pixels[ci])
    if tu.size >= 3:
        f = fit_line(t_d, var_d_pts)
        var_dark, se_var_dark = _predict(f, t_min)
        t_sd = _t95(f["n"] - 2)
    else:
        sel = np.isclose(t_d, t_min, rtol=1e-9)
        var_dark = float(var_d_pts[sel].mean())
        se_var_dark = math.sqrt(2.0 / (n_px - 1)) * var_dark / math.sqrt(sel.sum())
        t_sd = 1.959964
    upper = var_dark < 0.24
    var_dark_used = max(var_dark, 0.24)
    sigma_y_dark = math.sqrt(var_dark_used)
    sigma_d = math.sqrt(var_dark_used - SIGMA_Q2_DN2) / K
    if upper:
        se_sd = float("nan")
    else:
        d_var = se_var_dark / (2.0 * K * math.sqrt(var_dark - SIGMA_Q2_DN2))
        se_sd = math.hypot(d_var, sigma_d * se_K / K)
    t_comb = min(t_sd, t_k) if math.isfinite(t_k) else t_sd
    mu_y_dark = float(_dark_at(np.array([t_min]), t_d, mu_d_pts, [], "x")[0])

    # --- derived figures
    total_dark_e2 = var_dark_used / K**2  # σ_d² + σ_q²/K²
    mu_p_min = (math.sqrt(total_dark_e2 + 0.25) + 0.5) / eta
    mu_p_sat = float(mu_p[i_sat])
    mu_e_sat = eta * mu_p_sat
    snr_max = math.sqrt(mu_e_sat)
    dr = mu_p_sat / mu_p_min

    # --- linearity, 5..95 % of saturation
    sel = np.flatnonzero((signal[: i_sat + 1] >= 0.05 * y_sat) & (signal[: i_sat + 1] <= 0.95 * y_sat))
    if sel.size < 2:
        raise MeasurementError(f"channel {name}: fewer than two steps between 5 % and 95 % of saturation")
    lo, hi = int(sel.min()), int(sel.max())
    a, b = linearity_fit(mu_p[lo:hi + 1], signal[lo:hi + 1])
    fit = a * mu_p + b
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 100.0 * (signal - fit) / fit
    le_min = float(dev[lo:hi + 1].min())
    le_max = float(dev[lo:hi + 1].max())

    ptc = PhotonTransfer(
        step_index=np.array([p.index for p in bright]), exposure_s=_ro(t_b), photons_per_px=_ro(mu_p),
        mean_dn=_ro(mu_y), var_dn2=_ro(var_y), dark_mean_dn=_ro(mu_d), dark_var_dn2=_ro(var_d),
        saturated_fraction=_ro(sat_frac),
    )

    # --- dark current
    dc = _dark_current(stats, ci, nominal, K, se_K, t_d, mu_d_pts, var_d_pts)

    # --- spatial
    sp = _spatial(stats, ci, nominal, K, y_sat, mu_d, notes if ci == 0 else [], defect_sigma)

    return Emva1288Channel(
        channel=name, k_dn_per_e=K, k_ci95=_ci(K, se_K, t_k), inv_k_e_per_dn=1.0 / K, responsivity_dn_per_p=R,
        qe=eta, qe_ci95=_ci(eta, se_eta, t_k), sigma_y_dark_dn=sigma_y_dark, sigma_d_e=sigma_d,
        sigma_d_ci95=_ci(sigma_d, se_sd, t_comb), sigma_d_is_upper_limit=bool(upper), mu_y_dark_dn=mu_y_dark,
        mu_p_min=mu_p_min, mu_e_min=eta * mu_p_min, mu_p_sat=mu_p_sat, mu_e_sat=mu_e_sat,
        mu_y_sat_dn=float(mu_y[i_sat]), saturation_step=int(bright[i_sat].index), snr_max=snr_max,
        snr_max_db=20.0 * math.log10(snr_max), snr_max_bits=math.log2(snr_max), inv_snr_max_pct=100.0 / snr_max,
        dr=dr, dr_db=20.0 * math.log10(dr), dr_bits=math.log2(dr),
        le_min_pct=le_min, le_max_pct=le_max, le_pct=0.5 * (le_max - le_min), linearity_slope_dn_per_p=a,
        linearity_offset_dn=b, linearity_deviation_pct=_ro(dev), sensitivity_fit_range=(0, hi70),
        linearity_fit_range=(lo, hi), photon_transfer=ptc, dark_current=dc, spatial=sp,
    )


def _dark_current(stats, ci, nominal, K, se_K, t_d, mu_d_pts, var_d_pts) -> DarkCurrent | None:
    tu = np.unique(np.round(t_d, 15))
    per_t: list[tuple[float, float]] = []
    temps = sorted({p.temperature_c for p in stats.temporal if p.kind == "dark" and p.temperature_c is not None})
    for T in temps:
        pts = [p for p in stats.temporal if p.kind == "dark" and p.temperature_c == T]
        tt = np.array([p.exposure_s for p in pts])
        if np.unique(np.round(tt, 15)).size < 2:
            continue
        f = fit_line(tt, np.array([p.mean_dn[ci] for p in pts]))
        per_t.append((T, f["b"] / K))
    if tu.size < 3 and len(per_t) < 2:
        return None
    if tu.size >= 2:
        fm = fit_line(t_d, mu_d_pts)
        fv = fit_line(t_d, var_d_pts)
        i_mean = fm["b"] / K
        i_var = fv["b"] / K**2
        se_m = abs(i_mean) * math.hypot(fm["se_b"] / fm["b"] if fm["b"] else 0.0, se_K / K)
        se_v = abs(i_var) * math.hypot(fv["se_b"] / fv["b"] if fv["b"] else 0.0, 2 * se_K / K)
        tq = _t95(fm["n"] - 2)
        ci_m, ci_v = _ci(i_mean, se_m, tq), _ci(i_var, se_v, tq)
    else:
        i_mean = i_var = float("nan")
        ci_m = ci_v = (float("nan"), float("nan"))
    td, td_ci = float("nan"), (float("nan"), float("nan"))
    good = [(T, i) for T, i in per_t if i > 0]
    if len(good) >= 2:
        T = np.array([g[0] for g in good])
        lg = np.log2([g[1] for g in good])
        f = fit_line(T, lg)
        if f["b"] > 0:
            td = 1.0 / f["b"]
            if math.isfinite(f["se_b"]):
                lo_b, hi_b = _ci(f["b"], f["se_b"], _t95(f["n"] - 2))
                td_ci = (1.0 / hi_b if hi_b > 0 else float("nan"), 1.0 / lo_b if lo_b > 0 else float("inf"))
    order = np.argsort(t_d)
    return DarkCurrent(
        from_mean_e_per_s=i_mean, from_mean_ci95=ci_m, from_var_e_per_s=i_var, from_var_ci95=ci_v,
        exposure_s=_ro(t_d[order]), dark_mean_dn=_ro(mu_d_pts[order]), dark_var_dn2=_ro(var_d_pts[order]),
        temperature_c=nominal, temperatures_c=tuple(g[0] for g in per_t),
        per_temperature_e_per_s=tuple(g[1] for g in per_t), doubling_temperature_k=td, doubling_temperature_ci95=td_ci,
    )


def _spatial(stats, ci, nominal, K, y_sat, mu_d, notes, defect_sigma):
    brights = [s for s in stats.spatial if s.kind == "bright" and _same_temp(s.temperature_c, nominal)]
    darks = [s for s in stats.spatial if s.kind == "dark" and _same_temp(s.temperature_c, nominal)]
    if not brights or not darks:
        notes.append("no bright and dark spatial stacks (steps with more than two frames): DSNU1288, PRNU1288, "
                     "spectrograms and defect pixels are not computed")
        return None
    # the bright stack nearest to 50 % of saturation; the dark stack nearest in exposure time
    half = 0.5 * y_sat + float(np.median(mu_d))
    b = min(brights, key=lambda s: abs(float(s.mean_image_dn[ci].mean()) - half))
    d = min(darks, key=lambda s: abs(s.exposure_s - b.exposure_s))
    if not math.isclose(d.exposure_s, b.exposure_s, rel_tol=1e-6):
        notes.append(f"the dark spatial stack ({d.exposure_s:g} s) is not at the bright stack's exposure "
                     f"({b.exposure_s:g} s)")
    tile, offsets = site_offsets(stats.stack.cfa)
    return analyze_spatial(b.mean_image_dn[ci], float(b.stack_var_dn2[ci]), b.n_frames, d.mean_image_dn[ci],
                           float(d.stack_var_dn2[ci]), d.n_frames, K, exposure_s=b.exposure_s,
                           photons_per_px=b.photons_per_px, tile=tile, offset=offsets[ci], defect_sigma=defect_sigma,
                           parts=stats.spatial_parts.get((b.index, d.index, ci)))


def analyze(stats: StackStatistics, *, defect_sigma: float = 6.0) -> Emva1288Result:
    """EMVA 1288 Release 4.0 Linear results for every channel of reduced statistics.

    Raises:
        MeasurementError: the data cannot be analysed (too few steps, no light, all
            saturated, no dark frames, ...); the message says what is missing.
    """
    notes: list[str] = []
    nominal = _nominal_temperature(stats, notes)
    channels = {}
    for ci, name in enumerate(stats.channels):
        channels[name] = _analyze_channel(stats, ci, nominal, notes, defect_sigma)
    stack = stats.stack
    for n in notes:
        warnings.warn(n, Emva1288Warning, stacklevel=3)
    return Emva1288Result(
        standard=STANDARD, channels=channels, main_channel=main_channel(stack.cfa), cfa=stack.cfa, bits=stack.bits,
        width_px=stack.width_px, height_px=stack.height_px, wavelength_nm=stack.wavelength_nm,
        pixel_pitch_um=stack.pixel_pitch_um, temperature_c=nominal, descriptor_version=stack.version,
        source=stack.source, n_frames=stack.n_frames, warnings=tuple(stack.warnings) + tuple(notes),
        confidence_method=CONFIDENCE_METHOD, truth=dict(stack.truth) if stack.truth is not None else None,
    )


__all__ = ["CONFIDENCE_METHOD", "SIGMA_Q2_DN2", "STANDARD", "analyze", "fit_line", "fit_through_origin",
           "linearity_fit", "saturation_index"]
