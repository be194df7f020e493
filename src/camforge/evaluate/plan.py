"""Test plans for :func:`camforge.evaluate.evaluate`: which charts, under which lights.

A plan is YAML validated by :class:`TestPlan` (unknown fields are errors). Each section is
one measurement family; the bundled ``default`` plan follows common lab practice (ISO 12233
edges at the centre, half field and corner; a ColorChecker under D65, A and a white LED;
an 18 % grey target from 1000 lx down to 1 lx; OECF steps; flat field; dot grid; dead
leaves; a simulated EMVA 1288 run; optionally vision-task accuracy, ``tasks``). ``quick`` is a smaller plan for optimisation loops.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from camforge.config import load_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SharpnessPlan(_Strict):
    """ISO 12233 slanted edges (dark squares, 4:1 contrast) at three field positions."""

    enabled: bool = True
    lux: float = Field(1000.0, gt=0)
    illuminant: str = "D65"
    angle_deg: float = Field(5.0, gt=1.0, lt=40.0)
    square_size: float = Field(0.08, gt=0.01, le=0.3, description="square side / scene width")
    fields: list[float] = Field([0.0, 0.5, 0.85], description="square positions: 0 (centre) or 0.5 / 0.85")
    spectral: bool = False
    bootstrap: int = Field(100, ge=0, le=2000, description="bootstrap resamples for the MTF50 CI")

    @field_validator("fields")
    @classmethod
    def _fields(cls, v):
        for f in v:
            if f not in (0.0, 0.5, 0.85):
                raise ValueError("fields must be among 0.0, 0.5 and 0.85 (the chart's square positions)")
        return v


class ColorPlan(_Strict):
    """ColorChecker Classic under several lights (always spectral)."""

    enabled: bool = True
    lux: float = Field(1000.0, gt=0)
    illuminants: list[str] = ["D65", "A", "LED"]
    fill: float = Field(0.45, gt=0.1, le=0.95, description="chart width / frame width")


class NoisePlan(_Strict):
    """A uniform 18 % grey target at each illuminance: SNR vs lux and the low-light limit."""

    enabled: bool = True
    lux: list[float] = [1000.0, 100.0, 10.0, 1.0]
    illuminant: str = "D65"
    reflectance: float = Field(0.18, gt=0, le=1)
    window_px: int = Field(192, ge=32, le=2048)
    snr_limit: float = Field(10.0, gt=0, description="SNR defining the low-light limit")


class TonePlan(_Strict):
    """OECF step chart: tone curve and dynamic range (SNR = 1 and SNR = 10)."""

    enabled: bool = True
    lux: float = Field(1000.0, gt=0)
    illuminant: str = "D65"
    n_steps: int = Field(20, ge=4, le=40)
    max_density: float = Field(4.0, gt=0.5, le=6.0)


class ShadingPlan(_Strict):
    enabled: bool = True
    lux: float = Field(1000.0, gt=0)
    illuminant: str = "D65"


class DistortionPlan(_Strict):
    enabled: bool = True
    lux: float = Field(1000.0, gt=0)
    illuminant: str = "D65"
    n_cols: int = Field(17, ge=5, le=61)


class TexturePlan(_Strict):
    enabled: bool = True
    lux: float = Field(1000.0, gt=0)
    illuminant: str = "D65"
    window_px: int = Field(384, ge=64, le=2048)


class SensorPlan(_Strict):
    """A simulated EMVA 1288 run on a window of the sensor."""

    enabled: bool = True
    size_px: int = Field(128, ge=32, le=1024)
    n_steps: int = Field(24, ge=8, le=100)
    spatial_frames: int = Field(8, ge=2, le=100)


class TasksPlan(_Strict):
    """Task-based image quality (optional, off by default): recognition accuracy and
    segmentation mIoU of camforge's own small models (:mod:`camforge.tasks`) on labelled
    procedural scenes captured through the design at each illuminance, with bootstrap CIs."""

    enabled: bool = False
    lux: list[float] = Field([1000.0, 100.0, 10.0, 1.0], min_length=1)
    illuminant: str = "D65"
    n_images: int = Field(100, ge=8, le=5000, description="labelled scenes per illuminance")
    window_px: int | None = Field(None, ge=16, le=1024, description="sensor window (default: the models' input size)")
    models: str | None = Field(None, description="folder written by `camforge tasks train` (default: shipped weights)")

    @field_validator("lux")
    @classmethod
    def _lux(cls, v):
        if any(x <= 0 for x in v):
            raise ValueError("illuminances must be > 0 lx")
        return v


class TestPlan(_Strict):
    """A test plan: the sections to run and their conditions."""

    name: str = "default"
    description: str = ""
    seed: int = 0
    isp_stop_linear: str = Field("ccm", description="ISP stage after which images are linear (SNR, texture)")
    sharpness: SharpnessPlan = Field(default_factory=SharpnessPlan)
    color: ColorPlan = Field(default_factory=ColorPlan)
    noise: NoisePlan = Field(default_factory=NoisePlan)
    tone: TonePlan = Field(default_factory=TonePlan)
    shading: ShadingPlan = Field(default_factory=ShadingPlan)
    distortion: DistortionPlan = Field(default_factory=DistortionPlan)
    texture: TexturePlan = Field(default_factory=TexturePlan)
    sensor: SensorPlan = Field(default_factory=SensorPlan)
    tasks: TasksPlan = Field(default_factory=TasksPlan)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TestPlan:
        return load_yaml(cls, path)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def bundled_plans() -> list[str]:
    return sorted(p.stem for p in resources.files("camforge.data.plans").iterdir() if p.name.endswith(".yaml"))


def load_plan(plan: str | Path | dict | TestPlan | None = None) -> TestPlan:
    """A plan from a YAML path, a bundled plan name (``default``, ``quick``), a dict, or ``None`` (default)."""
    if plan is None:
        plan = "default"
    if isinstance(plan, TestPlan):
        return plan
    if isinstance(plan, dict):
        return validate(TestPlan, plan, "test plan")
    p = Path(plan)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return TestPlan.from_yaml(p)
    name = str(plan)
    if name in bundled_plans():
        import yaml

        text = resources.files("camforge.data.plans").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
        return validate(TestPlan, yaml.safe_load(text), f"bundled plan {name!r}")
    from camforge.errors import ConfigError

    raise ConfigError(f"test plan {plan!r} not found: give a YAML file or one of {', '.join(bundled_plans())}")
