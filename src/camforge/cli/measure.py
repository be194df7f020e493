"""``camforge measure ...``: image-quality measurements (each sub-command prints ``--json``).

The group is defined here; the sub-commands live in ``measure_*.py`` modules.
"""

from __future__ import annotations

import typer

from camforge.cli import app

measure_app = typer.Typer(
    help="Measure image quality on an image or raw frame (SFR, edges, colour, noise, tone, shading, distortion, texture).",
    no_args_is_help=True,
)
app.add_typer(measure_app, name="measure")
