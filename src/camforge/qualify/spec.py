"""Specification limits → per-module verdicts and lot summaries.

A spec is a YAML file (unknown fields are errors that name the field)::

    name: phone-main EOL
    description: end-of-line limits for the 12 MP main camera
    limits:
      mtf50_corner_min_cy_per_px: {min: 0.20}
      shading_corner_min_pct: {min: 40}
      defect_pixel_count: {max: 10}
      largest_cluster_px: {max: 2}
      blemish_contrast_max_pct: {max: 1.5}
      anomaly_score: {max: 1.0}

Every limit names a figure of :data:`camforge.qualify.measure.FIGURES` and a ``min``, a
``max`` or both (inclusive). A module passes when every limited figure is within its limits;
a figure that could not be measured fails the module with the reason (``on_missing: pass``
per limit lets a figure be optional). A module whose captures cannot be read is ``error``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from camforge.config import load_yaml, validate
from camforge.qualify.measure import FIGURES

VERDICTS = ("pass", "fail", "error")


class Limit(BaseModel):
    """Limits of one figure (inclusive)."""

    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None
    on_missing: Literal["fail", "pass"] = "fail"

    @model_validator(mode="after")
    def _some(self):
        if self.min is None and self.max is None:
            raise ValueError("a limit needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Spec(BaseModel):
    """A qualification spec (see the module notes)."""

    model_config = ConfigDict(extra="forbid")
    name: str = "spec"
    description: str = ""
    limits: dict[str, Limit] = Field(..., min_length=1)

    @field_validator("limits", mode="before")
    @classmethod
    def _known(cls, v):
        if isinstance(v, dict):
            bad = [k for k in v if k not in FIGURES]
            if bad:
                import difflib

                hints = []
                for k in bad:
                    close = difflib.get_close_matches(str(k), list(FIGURES), n=1)
                    hints.append(f"limits.{k}: unknown figure" + (f" (did you mean {close[0]}?)" if close else ""))
                raise ValueError("; ".join(hints) + f" — known figures: {', '.join(FIGURES)}")
        return v

    @classmethod
    def from_yaml(cls, path: str | Path) -> Spec:
        return load_yaml(cls, path)

    @property
    def captures(self) -> set[str]:
        """Capture kinds the spec's figures need."""
        out: set[str] = set()
        for k in self.limits:
            out.update(FIGURES[k][1])
        return out

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def load_spec(spec) -> Spec:
    """A :class:`Spec` from a path, a mapping or a Spec (ConfigError names bad fields)."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, (str, Path)):
        return load_yaml(Spec, spec)
    return validate(Spec, spec, "spec")


@dataclass(frozen=True)
class Reason:
    """Why a module failed: the figure, its value (None if not measured) and the limit."""

    figure: str
    value: float | None
    limit: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"figure": self.figure, "value": self.value, "limit": self.limit, "text": self.text}


@dataclass(frozen=True)
class Verdict:
    """``status`` is ``pass``, ``fail`` or ``error``; ``reasons`` say why."""

    module_id: str
    status: str
    reasons: tuple[Reason, ...] = ()
    error: str = ""

    @property
    def text(self) -> str:
        if self.status == "error":
            return self.error
        return "; ".join(r.text for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"module_id": self.module_id, "status": self.status, "reasons": [r.to_dict() for r in self.reasons],
                "error": self.error}


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def evaluate(spec: Spec, figures: dict[str, float], missing: dict[str, str] | None = None,
             module_id: str = "") -> Verdict:
    """The verdict of one module's ``figures`` against ``spec``."""
    missing = missing or {}
    reasons = []
    for name, lim in spec.limits.items():
        unit = FIGURES[name][0]
        u = f" {unit}" if unit and unit != "%" else unit
        v = figures.get(name)
        if v is None:
            if lim.on_missing == "fail":
                why = missing.get(name, "not measured")
                reasons.append(Reason(name, None, "measured", f"{name} could not be measured: {why}"))
            continue
        if lim.min is not None and v < lim.min:
            reasons.append(Reason(name, float(v), f">= {_fmt(lim.min)}", f"{name} = {_fmt(v)}{u} < {_fmt(lim.min)}{u} (min)"))
        if lim.max is not None and v > lim.max:
            reasons.append(Reason(name, float(v), f"<= {_fmt(lim.max)}", f"{name} = {_fmt(v)}{u} > {_fmt(lim.max)}{u} (max)"))
    return Verdict(module_id, "fail" if reasons else "pass", tuple(reasons))


@dataclass(frozen=True)
class LotSummary:
    """Yield and failure Pareto of a lot.

    ``yield_pct`` = passed / (passed + failed) × 100 (modules that could not be read are
    left out and counted in ``n_error``); ``first_pass_yield_pct`` = passed / all × 100.
    ``pareto`` lists (figure or error, count) by decreasing count.
    """

    n_modules: int
    n_pass: int
    n_fail: int
    n_error: int
    yield_pct: float | None
    first_pass_yield_pct: float | None
    pareto: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"n_modules": self.n_modules, "n_pass": self.n_pass, "n_fail": self.n_fail, "n_error": self.n_error,
                "yield_pct": self.yield_pct, "first_pass_yield_pct": self.first_pass_yield_pct,
                "pareto": [list(p) for p in self.pareto]}


def summarize(verdicts: list[Verdict]) -> LotSummary:
    """Yield and the failure Pareto (each failing figure counted once per module)."""
    c = Counter(v.status for v in verdicts)
    n = len(verdicts)
    measured = c["pass"] + c["fail"]
    pareto: Counter = Counter()
    for v in verdicts:
        if v.status == "fail":
            for fig in {r.figure for r in v.reasons}:
                pareto[fig] += 1
        elif v.status == "error":
            pareto["error (unreadable)"] += 1
    return LotSummary(
        n_modules=n, n_pass=c["pass"], n_fail=c["fail"], n_error=c["error"],
        yield_pct=100.0 * c["pass"] / measured if measured else None,
        first_pass_yield_pct=100.0 * c["pass"] / n if n else None,
        pareto=tuple(sorted(pareto.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


__all__ = ["Limit", "LotSummary", "Reason", "Spec", "VERDICTS", "Verdict", "evaluate", "load_spec", "summarize"]
