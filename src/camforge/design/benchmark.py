"""The bundled benchmark problems and their reference Pareto fronts.

``camforge/data/fronts/<name>.space.yaml`` is a problem (a design space), and
``<name>.front.json`` its reference front: the feasible non-dominated designs of the union of
long runs of several optimisers (listed in the file with their budgets, seeds and wall
times), the front's hypervolume for the problem's reference point, and the command that
recreates it (``bench/bench_design.py --make-fronts``). The benchmark measures how many
evaluations each method needs to reach 95 % of that hypervolume.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from camforge.errors import ConfigError


def reference_front(name: str) -> dict[str, Any]:
    """The reference front of a bundled problem: ``{"problem", "objectives", "directions",
    "reference_point", "hypervolume", "front" (n × m, natural units), "params", "runs",
    "command", ...}``.

    Raises:
        ConfigError: no reference front is shipped for ``name``.
    """
    f = resources.files("camforge.data.fronts").joinpath(f"{name}.front.json")
    if not f.is_file():
        have = sorted(p.name[: -len(".front.json")] for p in resources.files("camforge.data.fronts").iterdir()
                      if p.name.endswith(".front.json"))
        raise ConfigError(f"no reference front for {name!r}; shipped: {', '.join(have) or 'none'} "
                          "(recreate with bench/bench_design.py --make-fronts)")
    return json.loads(f.read_text())


__all__ = ["reference_front"]
