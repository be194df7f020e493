"""Canonical JSON for the results database: JSON-safe values and stable keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any

from camforge.errors import InputError


def json_safe(value: Any, where: str = "value") -> Any:
    """``value`` with numpy scalars/arrays, tuples, paths and datetimes made JSON types.

    Non-finite floats become ``None`` (JSON has no NaN and SQLite stores NaN as NULL).

    Raises:
        InputError: something that has no JSON form (names ``where``).
    """
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is float:
        return value if math.isfinite(value) else None
    if t is int:
        return value
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        return json_safe(value.tolist(), where)
    if hasattr(value, "to_dict"):
        return json_safe(value.to_dict(), where)
    raise InputError(f"{where} cannot be stored: {type(value).__name__} {value!r} has no JSON form")


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def condition_key(condition: Mapping[str, Any] | None) -> str:
    """The canonical string of a measurement condition (``"{}"`` for none)."""
    return canonical_json(json_safe(dict(condition or {}), "condition"))


def design_hash(design: Mapping[str, Any]) -> str:
    """SHA-256 of the design's JSON with sorted keys, as :meth:`camforge.CameraDesign.content_hash`."""
    return hashlib.sha256(json.dumps(design, sort_keys=True).encode()).hexdigest()
