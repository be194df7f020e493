"""Option parsers shared by the CLI modules: comma-separated numbers, ``key=value`` settings,
and loading an image or raw for measurement. Bad text raises a :mod:`camforge.errors`
exception naming the option, which the CLI prints as one line (exit status 2)."""

from __future__ import annotations

import math
from pathlib import Path

from camforge.errors import ConfigError, InputError


def numbers(text: str | None, option: str, *, count: int | None = None, nonnegative: bool = False,
            example: str = "1000,100,10") -> list[float] | None:
    """Finite numbers separated by commas (or semicolons) → list; ``None`` stays ``None``.

    ``count``: exactly that many values; ``nonnegative``: every value ≥ 0."""
    if text is None:
        return None
    try:
        vals = [float(p) for p in text.replace(";", ",").replace(" ", "").split(",") if p]
    except ValueError:
        vals = []
    if not vals or not all(math.isfinite(v) for v in vals):
        raise InputError(f"{option} takes a number or numbers separated by commas (e.g. {example}), got {text!r}")
    if count is not None and len(vals) != count:
        raise InputError(f"{option} needs {count} comma-separated numbers, got {len(vals)}")
    if nonnegative and any(v < 0 for v in vals):
        raise InputError(f"{option} must be non-negative, got {text!r}")
    return vals


def number_or_list(text: str | None, option: str, **kw) -> float | list[float] | None:
    """As :func:`numbers`, but a single value comes back as a float (e.g. one black level for
    every CFA site, or one per site)."""
    vals = numbers(text, option, **kw)
    return vals[0] if vals is not None and len(vals) == 1 else vals


def key_values(items: list[str] | None, option: str) -> dict:
    """``key=value`` pairs → dict; values are parsed as YAML scalars (numbers, booleans,
    null, lists; anything else stays a string)."""
    import yaml

    out = {}
    for it in items or []:
        key, sep, value = it.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} needs key=value, got {it!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def load_measurement(image: Path, width=None, height=None, bits=None, cfa=None, black=None, white=None,
                     byte_order: str = "little"):
    """An image or raw file for the ``measure`` commands (raw options as given on the line)."""
    from camforge.metrics._image import load_measurement_image

    return load_measurement_image(image, width=width, height=height, bit_depth=bits, cfa=cfa,
                                  black_level=number_or_list(black, "--black", example="64 or 64,64,64,64"),
                                  white_level=number_or_list(white, "--white", example="1023"),
                                  byte_order=byte_order)
