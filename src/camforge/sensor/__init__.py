"""CMOS sensor: geometry, CFA, spectral QE, IR cut, noise sources, ADC, defects."""

from camforge.sensor.config import DefectConfig, IrCutConfig, QEConfig, SensorConfig
from camforge.sensor.defects import DefectMap, make_defect_map
from camforge.sensor.noise import shot_noise, ste_clamp, ste_round
from camforge.sensor.qe import color_filters, ir_cut_transmission, qe_curves, silicon_response
from camforge.sensor.sensor import Sensor

__all__ = [
    "DefectConfig", "DefectMap", "IrCutConfig", "QEConfig", "Sensor", "SensorConfig", "color_filters",
    "ir_cut_transmission", "make_defect_map", "qe_curves", "shot_noise", "silicon_response", "ste_clamp", "ste_round",
]
