"""The scorecard: every metric of an evaluation with its unit, condition and confidence interval."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

#: Metrics that belong to the headline summary, in display order, with their direction
#: (+1: higher is better, −1: lower is better).
HEADLINE = {
    "mtf50_center": 1, "mtf50_half_field_sagittal": 1, "mtf50_half_field_meridional": 1,
    "mtf50_corner_sagittal": 1, "mtf50_corner_meridional": 1,
    "low_light_limit_lux": -1, "dynamic_range_db": 1,
    "delta_e00_mean_D65": -1, "delta_e00_mean_A": -1, "delta_e00_mean_LED": -1,
    "luma_shading_corner_pct": 1, "color_shading_max_pct": -1, "tv_distortion_pct": 0,
    "lateral_ca_px": -1, "texture_acutance": 1,
    "sensor_K_dn_per_e": 0, "sensor_read_noise_e": -1, "sensor_full_well_e": 1, "sensor_dynamic_range_db": 1,
}



def metric_row(metric: str, value, unit: str, condition: dict, ci95=None, **extra) -> dict[str, Any]:
    """One scorecard measurement row: ``{"metric", "value", "unit", "condition"[, "ci95", "extra"]}``;
    non-finite values become ``None`` (JSON null), a CI with a non-finite bound is left out."""
    v = None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)
    r = {"metric": metric, "value": v, "unit": unit, "condition": condition}
    if ci95 is not None and all(c is not None and math.isfinite(c) for c in ci95):
        r["ci95"] = [float(ci95[0]), float(ci95[1])]
    if extra:
        r["extra"] = extra
    return r

@dataclass
class Scorecard:
    """Result of :func:`camforge.evaluate.evaluate`.

    ``metrics`` maps a metric name to ``{"value", "unit", "ci95"?, "condition", "section"}``;
    ``plots`` holds the curves behind the report (MTF, SNR vs lux, ΔE per patch, OECF, ...);
    ``timings_s`` the wall time of each job.
    """

    design: dict[str, Any]
    plan: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    plots: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None
    camforge_version: str = ""
    created: str = ""
    design_hash: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        """The value of metric ``name`` (None if it was not measured)."""
        m = self.metrics.get(name)
        return None if m is None else m.get("value")

    def to_dict(self, *, with_plots: bool = True) -> dict[str, Any]:
        d = {
            "design": {"name": self.design.get("name"), "description": self.design.get("description", ""),
                       "hash": self.design_hash, "spec": self.design},
            "plan": self.plan,
            "metrics": self.metrics,
            "timings_s": self.timings_s,
            "run_id": self.run_id,
            "camforge_version": self.camforge_version,
            "created": self.created,
            "errors": self.errors,
        }
        if with_plots:
            d["plots"] = self.plots
        return _json_safe(d)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(**kwargs), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scorecard:
        return cls(design=d["design"].get("spec", d["design"]), plan=d.get("plan", {}), metrics=d["metrics"],
                   plots=d.get("plots", {}), timings_s=d.get("timings_s", {}), run_id=d.get("run_id"),
                   camforge_version=d.get("camforge_version", ""), created=d.get("created", ""),
                   design_hash=d["design"].get("hash", ""), errors=d.get("errors", {}))

    def summary_rows(self) -> list[tuple[str, float | None, str, str]]:
        """(name, value, unit, ci text) for the headline metrics present, then the rest."""
        names = [n for n in HEADLINE if n in self.metrics] + sorted(n for n in self.metrics if n not in HEADLINE)
        out = []
        for n in names:
            m = self.metrics[n]
            ci = m.get("ci95")
            ci_text = f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""
            bound = (m.get("extra") or {}).get("bound")
            if bound and bound != "=":
                ci_text = (ci_text + f" (bound {bound})").strip()
            out.append((n, m.get("value"), m.get("unit", ""), ci_text))
        return out


def _json_safe(x):
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            return _json_safe(x.item())
        except (TypeError, ValueError):
            pass
    return x
