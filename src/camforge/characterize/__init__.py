"""Sensor characterization per EMVA 1288 Release 4.0 Linear, and the sensor's digital twin.

    >>> from camforge.characterize import characterize_emva1288             # doctest: +SKIP
    >>> r = characterize_emva1288("shared/data/emva1288_refset001")          # doctest: +SKIP
    >>> r.k_dn_per_e, r.qe, r.sigma_d_e, r.mu_e_sat                          # doctest: +SKIP
    >>> write_report(r, "out/")          # JSON, EMVA-style XML, HTML data sheet  # doctest: +SKIP

Inputs: an EMVA descriptor file or its folder (:mod:`~camforge.characterize.descriptor`),
an :class:`Emva1288Stack` built in memory, or a simulated stack
(:func:`~camforge.characterize.simulate.simulate_stack`). Mono sensors give one channel,
colour sensors one per CFA site plane (``R``, ``Gr``, ``Gb``, ``B``).

The digital twin :func:`~camforge.characterize.twin.sensor_config_from_emva1288` turns a
result into a :class:`~camforge.sensor.SensorConfig` whose own characterization reproduces
K, σ_d, η and μ_e.sat.

References:
    EMVA Standard 1288, "Standard for Characterization of Image Sensors and Cameras",
    Release 4.0 Linear, European Machine Vision Association, 2021.
    EMVA Standard 1288 Release 3.1, 2016 (descriptor format and reference data sets).
"""

from __future__ import annotations

from collections.abc import Callable

from camforge.characterize.analysis import STANDARD, analyze
from camforge.characterize.descriptor import find_descriptor, load_stack, parse_descriptor, write_descriptor
from camforge.characterize.frames import Emva1288Warning, read_frame
from camforge.characterize.reduce import StackStatistics, reduce_stack
from camforge.characterize.result import (
    HEADLINE_KEYS,
    DarkCurrent,
    DefectPixels,
    Emva1288Channel,
    Emva1288Result,
    Histogram,
    PhotonTransfer,
    SpatialNonuniformity,
    Spectrogram,
)
from camforge.characterize.stack import Emva1288Stack, Emva1288Step, channel_names


def characterize_emva1288(
    source,
    *,
    cfa: str | None = None,
    wavelength_nm: float | None = None,
    pixel_pitch_um: float | None = None,
    defect_sigma: float = 6.0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Emva1288Result:
    """Characterize a sensor per EMVA 1288 Release 4.0 Linear.

    Args:
        source: a descriptor file, a folder holding one, or an :class:`Emva1288Stack`.
        cfa: CFA pattern of the frames (descriptor sources; default from an ``l cfa``
            line, else ``MONO``).
        wavelength_nm, pixel_pitch_um: light-source wavelength and pixel pitch, recorded
            in the result (and used by the digital twin).
        defect_sigma: threshold of the defect-pixel maps, in robust standard deviations.
        workers: threads decoding frames.
        progress: ``progress(frames_done, frames_total)``.

    Returns:
        :class:`Emva1288Result` (headline figures of the main channel as properties,
        every channel in ``channels``).

    Raises:
        InputError / FormatError: missing descriptor, unreadable or inconsistent frames.
        MeasurementError: the data cannot be analysed (all dark, all saturated, too few steps).
    """
    if isinstance(source, Emva1288Stack):
        stack = source
        if cfa is not None or wavelength_nm is not None or pixel_pitch_um is not None:
            import dataclasses

            stack = dataclasses.replace(
                stack, cfa=cfa or stack.cfa,
                wavelength_nm=wavelength_nm if wavelength_nm is not None else stack.wavelength_nm,
                pixel_pitch_um=pixel_pitch_um if pixel_pitch_um is not None else stack.pixel_pitch_um)
    else:
        stack = load_stack(source, cfa=cfa, wavelength_nm=wavelength_nm, pixel_pitch_um=pixel_pitch_um)
    stats = reduce_stack(stack, workers=workers, progress=progress, defect_sigma=defect_sigma)
    return analyze(stats, defect_sigma=defect_sigma)


def __getattr__(name):  # lazy: simulation and reports pull in torch / matplotlib
    if name == "simulate_stack":
        from camforge.characterize import simulate

        return simulate.simulate_stack
    if name in ("sensor_config_from_emva1288", "sensor_from_emva1288"):
        from camforge.characterize import twin

        return getattr(twin, name)
    if name in ("write_json", "write_xml", "write_html", "write_report", "to_xml"):
        from camforge.characterize import report

        return getattr(report, name)
    raise AttributeError(f"module 'camforge.characterize' has no attribute {name!r}")


__all__ = [
    "HEADLINE_KEYS", "STANDARD", "DarkCurrent", "DefectPixels", "Emva1288Channel", "Emva1288Result", "Emva1288Stack",
    "Emva1288Step", "Emva1288Warning", "Histogram", "PhotonTransfer", "SpatialNonuniformity", "Spectrogram",
    "StackStatistics", "analyze", "channel_names", "characterize_emva1288", "find_descriptor", "load_stack",
    "parse_descriptor", "read_frame", "reduce_stack", "sensor_config_from_emva1288", "sensor_from_emva1288",
    "simulate_stack", "to_xml",
    "write_descriptor", "write_html", "write_json", "write_report", "write_xml",
]
