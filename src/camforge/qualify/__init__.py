"""Production qualification of camera modules: lots, specs, defect and anomaly detection.

- Lots on disk (:mod:`.lot`): ``manifest.csv`` + captures (dark, flat_lo, flat_hi, chart),
  :class:`Lot`, :func:`read_capture`; simulated lots with ground truth
  (:func:`simulate_lot`, :func:`simulate_module`, blemish physics in :mod:`.blemish`).
- Specs (:mod:`.spec`): YAML limits on any figure of :data:`FIGURES` → :class:`Verdict` with
  reasons; :func:`summarize` → yield and failure Pareto.
- Figures (:func:`measure_module`): defect pixels, clusters, lines, blemishes, shading,
  colour shading, MTF50 centre/corners, detector anomaly score.
- Detectors (:mod:`.detectors`): ``blemish``, ``defect_pixels``, ``patchcore``, ``padim``,
  ``unet`` — ``fit(normal_images)``, ``score(image) -> (score, anomaly_map)``, thresholds from
  good modules for a target false-reject rate, save/load.
- Inpainting (:mod:`.inpaint`), detection metrics (:mod:`.metrics`), lot runs with the
  results database and an HTML report (:func:`run_lot`).
"""

from camforge.qualify.blemish import Occluder, mean_contrast, peak_contrast, shadow_diameter_um, shadow_transmission
from camforge.qualify.detectors import Detector, detector_names, load_detector, make_detector
from camforge.qualify.flatfield import analysis_map, as_raw, flat_relative
from camforge.qualify.inpaint import (
    LearnedInpainter, estimate_transmission, repair_blemish, repair_error, repair_pixels,
)
from camforge.qualify.lot import CAPTURE_KINDS, Lot, LotInfo, read_capture, write_manifest
from camforge.qualify.measure import FIGURES, ModuleMeasurement, measure_module
from camforge.qualify.metrics import aupro, auroc, iou, pixel_auroc, reject_rates, threshold_for_frr
from camforge.qualify.run import LotResult, ModuleResult, run_lot
from camforge.qualify.simulate import (
    AREA_KINDS, KINDS, PIXEL_KINDS, LotSimConfig, simulate_lot, simulate_module,
)
from camforge.qualify.spec import LotSummary, Spec, Verdict, evaluate, load_spec, summarize

__all__ = [
    "AREA_KINDS", "CAPTURE_KINDS", "Detector", "FIGURES", "KINDS", "LearnedInpainter", "Lot", "LotInfo", "LotResult",
    "LotSimConfig", "LotSummary", "ModuleMeasurement", "ModuleResult", "Occluder", "PIXEL_KINDS", "Spec", "Verdict",
    "analysis_map", "as_raw", "aupro", "auroc", "detector_names", "estimate_transmission", "evaluate",
    "flat_relative", "iou", "load_detector", "load_spec", "make_detector", "mean_contrast", "measure_module",
    "peak_contrast", "pixel_auroc", "read_capture", "reject_rates", "repair_blemish", "repair_error", "repair_pixels",
    "run_lot", "shadow_diameter_um", "shadow_transmission", "simulate_lot", "simulate_module", "summarize",
    "threshold_for_frr", "write_manifest",
]
