"""Design spaces: which camera parameters may change, within which bounds, under which rules.

A design space is a YAML file (validated by :class:`SpaceConfig`, unknown fields are errors)::

    name: phone-main
    base_design: ../designs/phone_main_12mp.yaml   # or an inline design mapping
    fixed: {dfov_deg: 79.0, frame_rate_fps: 30}    # focal length follows the sensor size
    parameters:
      sensor_format: {choices: ["1/2.55", "1/2", "1/1.7", "1/1.28"]}
      pixel_pitch_um: {low: 0.7, high: 2.0, log: true, unit: um}
      f_number: {low: 1.4, high: 2.8}
      isp.sharpen.amount: {low: 0.0, high: 1.5}     # any design field by its path
    metrics:                                        # derived metrics (formulas)
      mtf50_corner_lp_per_ph: 0.5 * (mtf50_corner_sagittal + mtf50_corner_meridional) * height_px
    objectives:
      - {name: mtf50_corner_lp_per_ph, direction: maximize, reference: 300}
      - {name: cost_usd, direction: minimize, reference: 40}
    constraints:
      - z_height_mm <= 7.5                 # analytic: checked before any evaluation
      - delta_e00_mean_D65 <= 3            # outcome: from the scorecard

Parameters with a physical meaning (:data:`KNOWN_PARAMETERS`) map onto the design with the
physics that goes with them: the sensor geometry is solved from any two of pixel pitch,
optical format (or diagonal) and resolution (the aspect ratio of the base design is kept);
with a fixed field of view (``fixed.dfov_deg`` or ``fixed.hfov_deg``) the focal length
follows the sensor diagonal; ``aberration_scale`` scales the base lens' wavefront error,
and when the focal length or f-number change the Zernike coefficients follow the Seidel
aperture and scale dependence of a fixed lens form (W ∝ f · (N₀/N)^l for a term of pupil
order l: tilt 1, defocus and astigmatism 2, coma and trefoil 3, spherical 4, secondary
spherical 6 — W. T. Welford, *Aberrations of Optical Systems*, 1986, §7.3). Any other
field is reached by its dotted path (``lens.transmission``, ``sensor.dark_current_e_per_s``,
``isp.denoise.strength``).

Every design has *quantities* (:meth:`DesignSpace.quantities`): the parameters, the solved
geometry (``width_px``, ``sensor_diagonal_mm``, ``focal_length_mm``, ``hfov_deg``, ...) and the
outputs of the size, cost and power models (:mod:`camforge.design.models`). Constraints that
use only quantities are *analytic* — samplers reject violating designs before evaluating them;
constraints on scorecard metrics are *outcome* constraints.
"""

from __future__ import annotations

import copy
import math
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from camforge.config import read_yaml, validate
from camforge.design.expr import Constraint, Formula, parse_constraints, unknown_name_error
from camforge.design.models import resolve_model
from camforge.errors import ConfigError

#: Optical formats ("1/x-inch type") and their sensor diagonals [mm], as quoted in sensor
#: product briefs (the type is a legacy vidicon tube size, ≈ 16 mm per inch for large and
#: ≈ 18 mm per inch for small types).
OPTICAL_FORMATS_MM: dict[str, float] = {
    "1/4": 4.5, "1/3.6": 5.0, "1/3.4": 5.3, "1/3.2": 5.68, "1/3.06": 5.9, "1/3": 6.0, "1/2.8": 6.46,
    "1/2.7": 6.72, "1/2.55": 7.06, "1/2.3": 7.7, "1/2": 8.0, "1/1.8": 8.93, "1/1.7": 9.5, "1/1.56": 10.3,
    "1/1.5": 10.7, "1/1.33": 12.0, "1/1.28": 12.5, "1/1.2": 13.3, "1/1.12": 14.3, "1/1": 16.0,
    "1": 16.0, "4/3": 21.6, "APS-C": 28.3, "35mm": 43.3,
}

#: Parameters with a physical meaning: name → (unit, what it sets).
KNOWN_PARAMETERS: dict[str, tuple[str, str]] = {
    "pixel_pitch_um": ("µm", "sensor.pixel_pitch_um (geometry solved with format/resolution)"),
    "sensor_format": ("type", "optical format name, e.g. '1/2.55' (sets the sensor diagonal)"),
    "sensor_diagonal_mm": ("mm", "sensor diagonal (geometry solved with pitch/resolution)"),
    "resolution_mp": ("MP", "pixel count in megapixels (geometry solved with pitch/format)"),
    "focal_length_mm": ("mm", "lens.focal_length_mm (not with a fixed field of view)"),
    "f_number": ("", "lens.f_number"),
    "aberration_scale": ("×", "scales the base lens' Zernike wavefront error (aberration budget)"),
    "transmission": ("", "lens.transmission"),
    "read_noise_e": ("e⁻", "sensor.read_noise_e"),
    "full_well_e": ("e⁻", "sensor.full_well_e"),
    "full_well_e_per_um2": ("e⁻/µm²", "full-well density: full_well_e = density × pitch²"),
    "dark_current_e_per_s": ("e⁻/s", "sensor.dark_current_e_per_s"),
    "qe_peak": ("", "sensor.qe.peak_qe"),
    "qe_scale": ("×", "multiplies the base design's peak QE"),
    "ir_cut_nm": ("nm", "sensor.ir_cut.cutoff_nm"),
    "color_filter_width_scale": ("×", "scales the blue/green colour-filter widths and the red edge width"),
    "cfa": ("", "sensor.cfa (e.g. RGGB, QUAD_RGGB, MONO)"),
    "adc_bits": ("bit", "sensor.adc_bits"),
    "fill_factor": ("", "sensor.fill_factor"),
    "max_analog_gain": ("×", "sensor.max_analog_gain"),
    "exposure_max_s": ("s", "sensor.exposure_max_s"),
    "defocus_um": ("µm", "focus shift added to the defocus of every aberration node"),
}
_SIMPLE_PATHS = {
    "f_number": "lens.f_number", "transmission": "lens.transmission", "read_noise_e": "sensor.read_noise_e",
    "full_well_e": "sensor.full_well_e", "dark_current_e_per_s": "sensor.dark_current_e_per_s",
    "qe_peak": "sensor.qe.peak_qe", "ir_cut_nm": "sensor.ir_cut.cutoff_nm", "cfa": "sensor.cfa",
    "adc_bits": "sensor.adc_bits", "fill_factor": "sensor.fill_factor", "max_analog_gain": "sensor.max_analog_gain",
    "exposure_max_s": "sensor.exposure_max_s",
}
_PATH_ROOTS = ("lens.", "sensor.", "isp.", "auto_exposure.")
#: Pupil order of each Zernike term (Seidel aperture dependence W ∝ (1/N)^order).
_PUPIL_ORDER = {"tilt_x": 1, "tilt_y": 1, "defocus": 2, "astigmatism_45": 2, "astigmatism_0": 2, "coma_y": 3,
                "coma_x": 3, "trefoil_y": 3, "trefoil_x": 3, "spherical": 4, "secondary_spherical": 6}
_FIXED_KEYS = {"dfov_deg", "hfov_deg", "frame_rate_fps", "lens_max_half_field_deg", "full_well_e_per_um2"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterSpec(_Strict):
    """One design parameter: a float or integer range (optionally log-scaled) or a set of choices."""

    type: Literal["float", "int", "choice"] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[str | float | int] | None = None
    unit: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _shape(self):
        if self.type is None:
            self.type = "choice" if self.choices is not None else "float"
        if self.type == "choice":
            if not self.choices or len(self.choices) < 2:
                raise ValueError("a choice parameter needs at least two choices")
            if len({str(c) for c in self.choices}) != len(self.choices):
                raise ValueError("choices must be distinct")
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("a choice parameter takes choices, not low/high/log")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes low and high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs low and high")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scaled parameter needs low > 0 (got {self.low})")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("an int parameter needs whole-number bounds")
        return self


class ObjectiveSpec(_Strict):
    """An objective: a scorecard metric, a derived metric or a design quantity, and its direction.

    ``reference`` is the hypervolume reference point along this objective (a value every
    design of interest beats); without it the hypervolume of a study is not defined.
    """

    name: str
    direction: Literal["maximize", "minimize"]
    reference: float | None = None
    unit: str = ""


class EvaluatorSpec(_Strict):
    """How designs are scored: ``scorecard`` (camforge evaluate with ``plan``) or ``fast``
    (the physics scorecard model, :mod:`camforge.design.fast`)."""

    kind: Literal["scorecard", "fast"] = "scorecard"
    plan: str | dict[str, Any] = "quick"
    lux: list[float] | None = Field(None, description="fast model: illuminances for SNR and the low-light limit")


class ImageLossSpec(_Strict):
    """A differentiable image-quality loss for the gradient method: the camera's ISP output
    of ``scene`` against its ideal rendering (same chart, no optics, no noise)."""

    scene: Literal["dead-leaves", "slanted-edge", "colorchecker", "star"] = "dead-leaves"
    lux: float = Field(20.0, gt=0)
    size_px: int = Field(96, ge=32, le=512)
    loss: Literal["ssim", "mse", "ssim+mse"] = "ssim"
    frames: int = Field(2, ge=1, le=16, description="noise realisations averaged per loss evaluation")


class SpaceConfig(_Strict):
    """A design space file (see the module docstring)."""

    name: str
    description: str = ""
    base_design: str | dict[str, Any]
    fixed: dict[str, float] = Field(default_factory=dict)
    aberration_scaling: Literal["seidel", "none"] = "seidel"
    parameters: dict[str, ParameterSpec]
    metrics: dict[str, str] = Field(default_factory=dict)
    objectives: list[ObjectiveSpec]
    constraints: list[str] = Field(default_factory=list)
    target: list[str] = Field(default_factory=list, description="a target spec (constraints) for generative design")
    models: dict[Literal["size", "cost", "power"], dict[str, Any]] = Field(default_factory=dict)
    evaluator: EvaluatorSpec = Field(default_factory=EvaluatorSpec)
    image_loss: ImageLossSpec | None = None

    @field_validator("parameters")
    @classmethod
    def _params(cls, v):
        if not v:
            raise ValueError("a design space needs at least one parameter")
        for name in v:
            if name not in KNOWN_PARAMETERS and not name.startswith(_PATH_ROOTS):
                raise ValueError(
                    f"unknown parameter {name!r}: use a known parameter ({', '.join(KNOWN_PARAMETERS)}) or a design "
                    "field path starting with lens., sensor., isp. or auto_exposure."
                )
        return v

    @field_validator("fixed")
    @classmethod
    def _fixed(cls, v):
        for k in v:
            if k not in _FIXED_KEYS:
                raise ValueError(f"unknown fixed quantity {k!r} (known: {', '.join(sorted(_FIXED_KEYS))})")
        if "dfov_deg" in v and "hfov_deg" in v:
            raise ValueError("give either dfov_deg or hfov_deg, not both")
        return v

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, v):
        if not v:
            raise ValueError("a design space needs at least one objective")
        names = [o.name for o in v]
        if len(set(names)) != len(names):
            raise ValueError("objectives must be distinct")
        return v


# ----------------------------------------------------------------------------- helpers


def _set_path(d: dict, path: str, value) -> None:
    keys = path.split(".")
    cur = d
    for k in keys[:-1]:
        if cur.get(k) is None:
            cur[k] = {}
        cur = cur[k]
        if not isinstance(cur, dict):
            raise ConfigError(f"design path {path!r}: {k!r} is not a section")
    cur[keys[-1]] = value


def _get_path(d: dict, path: str, default=None):
    cur: Any = d
    for k in path.split("."):
        if not isinstance(cur, dict) or k not in cur or cur[k] is None:
            return default
        cur = cur[k]
    return cur


def _resolve_base(base: str | dict, source_dir: Path | None) -> dict:
    if isinstance(base, dict):
        return copy.deepcopy(base)
    p = Path(base)
    cands = [p] if p.is_absolute() else ([source_dir / p] if source_dir else []) + [p]
    if p.suffix == "":
        cands += [c.with_suffix(".yaml") for c in cands]
        import camforge

        here = Path(camforge.__file__).resolve().parent
        for parent in (here, *here.parents):
            cands.append(parent / "examples" / "designs" / f"{p.name}.yaml")
    for c in cands:
        if c.is_file():
            data = read_yaml(c)
            if not isinstance(data, dict):
                raise ConfigError(f"base design {c} is not a design mapping")
            return data
    raise ConfigError(f"base design {base!r} not found (give a design YAML path relative to the space file, "
                      "a bundled design name such as phone_main_12mp, or an inline mapping)")


# ----------------------------------------------------------------------------- the space


class DesignSpace:
    """A validated design space: parameters ↔ camera designs, quantities, constraints, encodings.

    Build with :meth:`from_yaml` or :meth:`from_dict`. Parameter values are dicts
    ``{name: value}`` in natural units (choices as given in the file).
    """

    def __init__(self, config: SpaceConfig | dict, source: Path | None = None):
        self.config = validate(SpaceConfig, config, f"design space {source}" if source else "design space")
        self.source = source
        c = self.config
        self.name = c.name
        self.base = _resolve_base(c.base_design, source.parent if source else None)
        from camforge.camera import CameraDesign

        self.base_design = validate(CameraDesign, self.base, "base design")
        self.parameters: dict[str, ParameterSpec] = dict(c.parameters)
        self._models = {k: resolve_model(k, c.models.get(k)) for k in ("size", "cost", "power")}
        self._check_geometry()
        self.metric_formulas = {k: Formula(v, f"metrics.{k}") for k, v in c.metrics.items()}
        self.constraints: list[Constraint] = []
        for i, text in enumerate(c.constraints):
            self.constraints.extend(parse_constraints(text, f"constraints[{i}]"))
        self.target: list[Constraint] = []
        for i, text in enumerate(c.target):
            self.target.extend(parse_constraints(text, f"target[{i}]"))
        qn = set(self.quantity_names)
        clash = qn & set(self.metric_formulas)
        if clash:
            raise ConfigError(f"metrics {', '.join(sorted(clash))} clash with design quantities of the same name")
        for name, f in self.metric_formulas.items():
            if name in f.names:
                raise ConfigError(f"metrics.{name} refers to itself")
        self.analytic_constraints = [k for k in self.constraints if k.names <= qn]
        self.outcome_constraints = [k for k in self.constraints if not k.names <= qn]
        self._check_contradictions()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | Path) -> DesignSpace:
        p = Path(path)
        data = read_yaml(p)
        if not isinstance(data, dict):
            raise ConfigError(f"design space {p} must be a mapping (name, base_design, parameters, objectives, ...)")
        return cls(validate(SpaceConfig, data, str(p)), p.resolve())

    @classmethod
    def from_dict(cls, data: dict, source: str | Path | None = None) -> DesignSpace:
        return cls(data, Path(source).resolve() if source else None)

    def to_dict(self) -> dict[str, Any]:
        d = self.config.model_dump(mode="json", exclude_none=True)
        d["base_design"] = self.base
        return d

    # ------------------------------------------------------------------ checks
    def _check_geometry(self) -> None:
        p = self.parameters
        geo = [n for n in ("pixel_pitch_um", "resolution_mp") if n in p]
        fmt = [n for n in ("sensor_format", "sensor_diagonal_mm") if n in p]
        if len(fmt) == 2:
            raise ConfigError("give sensor_format or sensor_diagonal_mm as a parameter, not both")
        if len(geo) + len(fmt) == 3:
            raise ConfigError("pixel pitch, resolution and sensor format over-determine the sensor: "
                              "make at most two of them parameters")
        if "sensor_format" in p:
            bad = [c for c in p["sensor_format"].choices or [] if str(c) not in OPTICAL_FORMATS_MM]
            if p["sensor_format"].type != "choice" or bad:
                raise ConfigError(f"sensor_format choices must be optical formats ({', '.join(OPTICAL_FORMATS_MM)}); "
                                  f"unknown: {', '.join(map(str, bad)) or 'not a choice'}")
        fov = {"dfov_deg", "hfov_deg"} & set(self.config.fixed)
        if fov and "focal_length_mm" in p:
            raise ConfigError(f"focal_length_mm cannot be a parameter when the field of view is fixed ({fov.pop()})")
        fw = [n for n in ("full_well_e", "full_well_e_per_um2") if n in p or n in self.config.fixed]
        if len(fw) > 1:
            raise ConfigError("give full_well_e or full_well_e_per_um2 (as a parameter or fixed), not both")
        if "qe_peak" in p and "qe_scale" in p:
            raise ConfigError("give qe_peak or qe_scale as a parameter, not both")
        for name, spec in p.items():
            if spec.type != "choice" and name in ("cfa",):
                raise ConfigError(f"parameter {name} must be a choice")
            if name in KNOWN_PARAMETERS and name not in ("cfa", "sensor_format") and spec.type == "choice":
                for ch in spec.choices or []:
                    if isinstance(ch, str):
                        raise ConfigError(f"parameter {name}: choices must be numbers, got {ch!r}")
        # every parameter must produce a valid design at its bounds (catches e.g. f_number 0.1)
        for pt in (self.corner(0.0), self.corner(1.0)):
            self.design(pt)

    def _check_contradictions(self) -> None:
        """Plain bounds on the same quantity that cannot all hold, and bounds on parameters
        outside their range, are contradictions (checked without sampling)."""
        lo: dict[str, tuple[float, str]] = {}
        hi: dict[str, tuple[float, str]] = {}
        for k in self.constraints + self.target:
            b = k.bound()
            if b is None:
                continue
            name, sense, v = b
            if sense == ">=" and (name not in lo or v > lo[name][0]):
                lo[name] = (v, k.text)
            if sense == "<=" and (name not in hi or v < hi[name][0]):
                hi[name] = (v, k.text)
        for name in set(lo) & set(hi):
            if lo[name][0] > hi[name][0]:
                raise ConfigError(f"contradictory constraints: {lo[name][1]!r} and {hi[name][1]!r} cannot both hold")
        for name, spec in self.parameters.items():
            if spec.type == "choice":
                continue
            if name in lo and lo[name][0] > spec.high:
                raise ConfigError(f"constraint {lo[name][1]!r} excludes the whole range of parameter {name} "
                                  f"({spec.low} … {spec.high})")
            if name in hi and hi[name][0] < spec.low:
                raise ConfigError(f"constraint {hi[name][1]!r} excludes the whole range of parameter {name} "
                                  f"({spec.low} … {spec.high})")

    def check_feasible(self, n: int = 1024, seed: int = 0) -> float:
        """Fraction of ``n`` Sobol designs that satisfy the analytic constraints.

        Raises:
            ConfigError: no design satisfies them all (the message names the constraint(s)
                that are never met, or the smallest total violation found).
        """
        if not self.analytic_constraints:
            return 1.0
        pts = self.sample(n, seed=seed, method="sobol", feasible_only=False)
        V = np.array([[k.violation(self.quantities(p)) for k in self.analytic_constraints] for p in pts])
        ok = (V <= 0).all(axis=1)
        if ok.any():
            return float(ok.mean())
        never = [k.text for j, k in enumerate(self.analytic_constraints) if not (V[:, j] <= 0).any()]
        if never:
            raise ConfigError(f"infeasible design space: no design within the parameter bounds satisfies "
                              f"{'; '.join(dict.fromkeys(never))} (closest miss: "
                              f"{min(float(V[:, j].min()) for j, k in enumerate(self.analytic_constraints) if k.text in never):.4g})")
        best = int(np.argmin(np.clip(V, 0, None).sum(1)))
        miss = [f"{k.text} (by {V[best, j]:.4g})" for j, k in enumerate(self.analytic_constraints) if V[best, j] > 0]
        raise ConfigError("infeasible design space: each constraint can be met but never all at once; "
                          f"the closest design still misses {'; '.join(miss)}")

    # ------------------------------------------------------------------ names
    @property
    def parameter_names(self) -> list[str]:
        return list(self.parameters)

    @cached_property
    def quantity_names(self) -> list[str]:
        return [k for k, v in self.quantities(self.corner(0.5)).items() if not isinstance(v, str)]

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.config.objectives]

    def corner(self, t: float) -> dict[str, Any]:
        """Every parameter at fraction ``t`` of its (scaled) range; choices at the first (t < 1) or last."""
        x = np.full(self.dim(onehot=False), float(t))
        return self.decode(x, onehot=False)

    # ------------------------------------------------------------------ parameters ↔ designs
    def _geometry(self, params: dict) -> tuple[int, int, float]:
        """(width_px, height_px, pitch_um) from the geometry parameters and the base design."""
        s = self.base_design.sensor
        aspect = s.width_px / s.height_px
        base_pitch = s.pixel_pitch_um
        base_n = s.width_px * s.height_px
        diag = None
        if "sensor_format" in params:
            diag = OPTICAL_FORMATS_MM[str(params["sensor_format"])]
        elif "sensor_diagonal_mm" in params:
            diag = float(params["sensor_diagonal_mm"])
        pitch = float(params["pixel_pitch_um"]) if "pixel_pitch_um" in params else None
        n = float(params["resolution_mp"]) * 1e6 if "resolution_mp" in params else None
        diag_px_per_sqrt_n = math.sqrt((aspect**2 + 1) / aspect)  # diagonal in pixels = √N · this
        if diag is not None and pitch is not None:
            n = (diag * 1e3 / pitch / diag_px_per_sqrt_n) ** 2
        elif diag is not None and n is not None:
            pitch = diag * 1e3 / (math.sqrt(n) * diag_px_per_sqrt_n)
        elif diag is not None:
            pitch = base_pitch
            n = (diag * 1e3 / pitch / diag_px_per_sqrt_n) ** 2
        pitch = base_pitch if pitch is None else pitch
        n = base_n if n is None else n
        w = max(8, int(round(math.sqrt(n * aspect) / 4)) * 4)
        h = max(8, int(round(w / aspect / 4)) * 4)
        return w, h, pitch

    def design(self, params: dict[str, Any]):
        """The :class:`~camforge.camera.CameraDesign` of ``params`` (validated)."""
        from camforge.camera import CameraDesign

        d = copy.deepcopy(self.base)
        self._check_params(params)
        w, h, pitch = self._geometry(params)
        _set_path(d, "sensor.width_px", w)
        _set_path(d, "sensor.height_px", h)
        _set_path(d, "sensor.pixel_pitch_um", pitch)
        f0 = float(self.base_design.lens.focal_length_mm)
        N0 = float(self.base_design.lens.f_number)
        f = self._focal_length(params, w, h, pitch)
        _set_path(d, "lens.focal_length_mm", f)
        for name, value in params.items():
            if name in _SIMPLE_PATHS:
                _set_path(d, _SIMPLE_PATHS[name], value)
            elif name.startswith(_PATH_ROOTS):
                _set_path(d, name, value)
        if "full_well_e_per_um2" in params or "full_well_e_per_um2" in self.config.fixed:
            density = float(params.get("full_well_e_per_um2", self.config.fixed.get("full_well_e_per_um2", 0.0)))
            _set_path(d, "sensor.full_well_e", density * pitch**2)
        if "qe_scale" in params:
            base_qe = self.base_design.sensor.qe.peak_qe
            _set_path(d, "sensor.qe.peak_qe", min(1.0, base_qe * float(params["qe_scale"])))
        if "color_filter_width_scale" in params:
            k = float(params["color_filter_width_scale"])
            q = self.base_design.sensor.qe
            _set_path(d, "sensor.qe.blue_width_nm", q.blue_width_nm * k)
            _set_path(d, "sensor.qe.green_width_nm", q.green_width_nm * k)
            _set_path(d, "sensor.qe.red_edge_width_nm", q.red_edge_width_nm * k)
        if "defocus_um" in params:
            nodes = _get_path(d, "lens.aberrations", []) or [{"field": 0.0}]
            shift = float(params["defocus_um"])
            _set_path(d, "lens.aberrations", [{**n, "defocus_um": float(n.get("defocus_um", 0.0)) + shift} for n in nodes])
        N = float(params.get("f_number", _get_path(d, "lens.f_number", N0)))
        scale = float(params.get("aberration_scale", 1.0))
        nodes = _get_path(d, "lens.aberrations", []) or []
        new_nodes = []
        for node in nodes:
            node = dict(node)
            for term, order in _PUPIL_ORDER.items():
                key = f"{term}_um"
                if key in node and node[key]:
                    k = scale
                    if self.config.aberration_scaling == "seidel":
                        k *= (f / f0) * (N0 / N) ** order
                    node[key] = float(node[key]) * k
            new_nodes.append(node)
        if nodes:
            _set_path(d, "lens.aberrations", new_nodes)
        lc = _get_path(d, "lens.lateral_color")
        if lc and self.config.aberration_scaling == "seidel":
            _set_path(d, "lens.lateral_color", {k: float(v) * f / f0 for k, v in lc.items()})
        d["name"] = f"{self.name}-design"
        d["description"] = ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())
        return validate(CameraDesign, d, f"design of space {self.name!r} at {params}")

    def _focal_length(self, params: dict, w: int, h: int, pitch: float) -> float:
        fx = self.config.fixed
        if "focal_length_mm" in params:
            return float(params["focal_length_mm"])
        if "dfov_deg" in fx:
            half_d = math.hypot(w, h) * pitch * 5e-4
            return half_d / math.tan(math.radians(fx["dfov_deg"] / 2))
        if "hfov_deg" in fx:
            return w * pitch * 5e-4 / math.tan(math.radians(fx["hfov_deg"] / 2))
        return float(self.base_design.lens.focal_length_mm)

    def _check_params(self, params: dict) -> None:
        missing = [n for n in self.parameters if n not in params]
        extra = [n for n in params if n not in self.parameters]
        if missing or extra:
            raise ConfigError(f"design parameters do not match space {self.name!r}: "
                              + "; ".join(x for x in (f"missing {', '.join(missing)}" if missing else "",
                                                      f"unknown {', '.join(extra)}" if extra else "") if x))

    def _value(self, params: dict, path: str):
        """The value a design field takes: from a parameter that sets it, else the base design."""
        for name, v in params.items():
            if name == path or _SIMPLE_PATHS.get(name) == path:
                return v
        return _get_path(self.base, path, None)

    def quantities(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every named quantity of a design: parameters, geometry and model outputs (no evaluation)."""
        self._check_params(params)
        w, h, p = self._geometry(params)
        f = self._focal_length(params, w, h, p)
        N = float(self._value(params, "lens.f_number"))
        fw = self._value(params, "sensor.full_well_e")
        density = params.get("full_well_e_per_um2", self.config.fixed.get("full_well_e_per_um2"))
        if density is not None:
            fw = float(density) * p**2
        qe = float(self._value(params, "sensor.qe.peak_qe") or self.base_design.sensor.qe.peak_qe)
        if "qe_scale" in params:
            qe = min(1.0, self.base_design.sensor.qe.peak_qe * float(params["qe_scale"]))
        rn = self._value(params, "sensor.read_noise_e")
        bits = self._value(params, "sensor.adc_bits")
        s0 = self.base_design.sensor
        q: dict[str, Any] = {}
        for name, v in params.items():
            q[name.replace(".", "__")] = v
        wm, hm = w * p * 1e-3, h * p * 1e-3
        q.update({
            "width_px": w, "height_px": h, "resolution_mp": w * h * 1e-6, "pixel_pitch_um": p,
            "sensor_width_mm": wm, "sensor_height_mm": hm, "sensor_diagonal_mm": math.hypot(wm, hm),
            "focal_length_mm": f, "f_number": N, "entrance_pupil_mm": f / N,
            "hfov_deg": 2 * math.degrees(math.atan(wm / 2 / f)), "vfov_deg": 2 * math.degrees(math.atan(hm / 2 / f)),
            "dfov_deg": 2 * math.degrees(math.atan(math.hypot(wm, hm) / 2 / f)),
            "equivalent_focal_length_mm": f * 43.27 / math.hypot(wm, hm),
            "nyquist_lp_per_mm": 1e3 / (2 * p), "airy_diameter_um": 2.44 * 0.55 * N,
            "read_noise_e": float(s0.read_noise_e if rn is None else rn),
            "full_well_e": float(s0.full_well_e if fw is None else fw), "qe_peak": qe,
            "adc_bits": int(s0.adc_bits if bits is None else bits),
            "aberration_scale": float(params.get("aberration_scale", 1.0)),
            "frame_rate_fps": float(self.config.fixed.get("frame_rate_fps", 30.0)),
        })
        for kind in ("size", "cost", "power"):
            fn, coeffs = self._models[kind]
            extra = {}
            if kind == "size" and "lens_max_half_field_deg" in self.config.fixed:
                extra["lens_max_half_field_deg"] = self.config.fixed["lens_max_half_field_deg"]
            try:
                out = fn(q, **{**extra, **coeffs})
            except Exception as e:  # noqa: BLE001 - a user's model: name it in the error
                raise ConfigError(f"{kind} model failed: {type(e).__name__}: {e}") from None
            if not isinstance(out, dict):
                raise ConfigError(f"{kind} model must return a dict of quantities, got {type(out).__name__}")
            q.update(out)
        return q

    def analytic_violations(self, params: dict) -> list[float]:
        """Violation of each analytic constraint (≤ 0: met)."""
        if not self.analytic_constraints:
            return []
        q = self.quantities(params)
        return [k.violation(q) for k in self.analytic_constraints]

    def is_feasible(self, params: dict) -> bool:
        return all(v <= 0 for v in self.analytic_violations(params))

    # ------------------------------------------------------------------ encodings
    def dim(self, onehot: bool = True) -> int:
        """Length of the unit-cube encoding (one-hot choices take one dimension per choice)."""
        return sum(len(s.choices) if (s.type == "choice" and onehot) else 1 for s in self.parameters.values())

    def encode(self, params: dict[str, Any], onehot: bool = True) -> np.ndarray:
        """``params`` → a vector in [0, 1]^dim (log parameters on a log scale)."""
        out = []
        for name, s in self.parameters.items():
            v = params[name]
            if s.type == "choice":
                idx = [str(c) for c in s.choices].index(str(v))
                if onehot:
                    out.extend(1.0 if i == idx else 0.0 for i in range(len(s.choices)))
                else:
                    out.append((idx + 0.5) / len(s.choices))
            else:
                lo, hi, x = s.low, s.high, float(v)
                if s.log:
                    lo, hi, x = math.log(lo), math.log(hi), math.log(max(x, 1e-300))
                out.append(min(1.0, max(0.0, (x - lo) / (hi - lo))))
        return np.asarray(out, dtype=np.float64)

    def decode(self, x, onehot: bool = True) -> dict[str, Any]:
        """A vector in [0, 1]^dim → ``params`` (clipped; choices by arg-max or by index bin)."""
        x = np.clip(np.asarray(x, dtype=np.float64).reshape(-1), 0.0, 1.0)
        if x.size != self.dim(onehot):
            raise ConfigError(f"encoded design has {x.size} values; space {self.name!r} needs {self.dim(onehot)}")
        out: dict[str, Any] = {}
        i = 0
        for name, s in self.parameters.items():
            if s.type == "choice":
                k = len(s.choices)
                if onehot:
                    idx = int(np.argmax(x[i : i + k]))
                    i += k
                else:
                    idx = min(k - 1, int(x[i] * k))
                    i += 1
                out[name] = s.choices[idx]
                continue
            t = x[i]
            i += 1
            if s.log:
                v = math.exp(math.log(s.low) + t * (math.log(s.high) - math.log(s.low)))
            else:
                v = s.low + t * (s.high - s.low)
            if s.type == "int":
                v = int(min(s.high, max(s.low, round(v))))
            else:
                v = float(min(s.high, max(s.low, v)))
            out[name] = v
        return out

    def choice_slices(self) -> list[tuple[int, int]]:
        """(start, stop) of each one-hot block in the one-hot encoding."""
        out, i = [], 0
        for s in self.parameters.values():
            k = len(s.choices) if s.type == "choice" else 1
            if s.type == "choice":
                out.append((i, i + k))
            i += k
        return out

    def stream(self, *, seed: int = 0, method: Literal["random", "sobol"] = "random", feasible_only: bool = True,
               max_rejections: int = 100_000):
        """An endless iterator of designs, uniform in the (log-)scaled box (``random``) or from a
        scrambled Sobol sequence (``sobol``); designs violating an analytic constraint are skipped.

        Raises:
            ConfigError: ``max_rejections`` designs in a row violate the analytic constraints.
        """
        d = self.dim(onehot=False)
        if method == "sobol":
            import warnings

            from scipy.stats import qmc

            eng = qmc.Sobol(d, scramble=True, seed=seed)

            def draw(m):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # balance warnings for non-power-of-two draws
                    return eng.random(m)
        elif method == "random":
            rng = np.random.default_rng(seed)

            def draw(m):
                return rng.random((m, d))
        else:
            raise ConfigError(f"unknown sampling method {method!r}; use random or sobol")
        rejected = 0
        while True:
            for x in draw(64):
                p = self.decode(x, onehot=False)
                if not feasible_only or self.is_feasible(p):
                    rejected = 0
                    yield p
                else:
                    rejected += 1
                    if rejected >= max_rejections:
                        raise ConfigError(f"design space {self.name!r}: {max_rejections} sampled designs in a row "
                                          "violate the analytic constraints; the space is (nearly) infeasible")

    def sample(self, n: int, *, seed: int = 0, method: Literal["random", "sobol"] = "random",
               feasible_only: bool = True, max_rejections: int = 100_000) -> list[dict[str, Any]]:
        """The first ``n`` designs of :meth:`stream`."""
        it = self.stream(seed=seed, method=method, feasible_only=feasible_only, max_rejections=max_rejections)
        return [next(it) for _ in range(n)]

    def describe(self) -> list[dict[str, Any]]:
        """One row per parameter (name, type, range or choices, unit, description) for reports."""
        rows = []
        for name, s in self.parameters.items():
            unit = s.unit or KNOWN_PARAMETERS.get(name, ("", ""))[0]
            rng = ", ".join(map(str, s.choices)) if s.type == "choice" else f"{s.low:g} … {s.high:g}" + (" (log)" if s.log else "")
            rows.append({"name": name, "type": s.type, "range": rng, "unit": unit,
                         "description": s.description or KNOWN_PARAMETERS.get(name, ("", "design field"))[1]})
        return rows


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def bundled_spaces() -> list[str]:
    """Names of the bundled benchmark problems (``camforge/data/fronts/<name>.space.yaml``)."""
    return sorted(p.name[: -len(".space.yaml")] for p in resources.files("camforge.data.fronts").iterdir()
                  if p.name.endswith(".space.yaml"))


def load_space(space: str | Path | dict | DesignSpace) -> DesignSpace:
    """A :class:`DesignSpace` from a YAML path, a bundled problem name, a dict or a space."""
    if isinstance(space, DesignSpace):
        return space
    if isinstance(space, dict):
        return DesignSpace.from_dict(space)
    p = Path(space)
    if p.is_file():
        return DesignSpace.from_yaml(p)
    name = str(space)
    if name in bundled_spaces():
        with resources.as_file(resources.files("camforge.data.fronts").joinpath(f"{name}.space.yaml")) as f:
            return DesignSpace.from_yaml(f)
    raise ConfigError(f"design space {space!r} not found: give a YAML file or a bundled problem "
                      f"({', '.join(bundled_spaces())})")


__all__ = [
    "KNOWN_PARAMETERS", "OPTICAL_FORMATS_MM", "DesignSpace", "EvaluatorSpec", "ImageLossSpec", "ObjectiveSpec",
    "ParameterSpec", "SpaceConfig", "bundled_spaces", "load_space",
]
