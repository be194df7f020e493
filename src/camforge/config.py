"""Loading and validating YAML configuration (designs, ISP configs, specs, spaces).

Every YAML document camforge reads is validated by a pydantic model with
``extra="forbid"``; problems become one :class:`~camforge.errors.ConfigError` whose message
names each offending field (``lens.f_numbr: unknown field``) and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from camforge.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def format_validation_error(err: ValidationError, source: str = "") -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e.get("loc", ())) or "(top level)"
        typ = e.get("type", "")
        if typ == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif typ == "missing":
            msg = "required field is missing"
        else:
            msg = e.get("msg", "invalid")
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
        inp = e.get("input")
        if typ not in ("missing", "extra_forbidden") and not isinstance(inp, (dict, list)):
            msg += f" (got {inp!r})"
        parts.append(f"{loc}: {msg}")
    where = f" in {source}" if source else ""
    return f"invalid configuration{where}: " + "; ".join(parts)


def validate(model: type[M], data: Any, source: str = "") -> M:
    """Validate ``data`` against ``model``; raise :class:`ConfigError` naming the fields."""
    if isinstance(data, model):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"invalid configuration{' in ' + source if source else ''}: expected a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; missing files and syntax errors become :class:`ConfigError`."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"file not found: {p}")
    if p.is_dir():
        raise ConfigError(f"expected a YAML file, got a directory: {p}")
    try:
        with p.open("r", encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{p} is not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p} is not a UTF-8 text file") from None


def load_yaml(model: type[M], path: str | Path) -> M:
    """Read and validate a YAML file against ``model``."""
    return validate(model, read_yaml(path), str(path))
