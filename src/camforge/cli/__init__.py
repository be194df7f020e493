"""``camforge`` command line (Typer). Thin wrappers over the library API.

Each command group lives in its own module and registers itself on :data:`app`:
``simulate`` (scene → raw), ``isp`` (raw → image), ``measure`` (image quality),
``characterize`` (EMVA 1288), and so on. Errors a user can cause are
:class:`camforge.errors.CamforgeError`; :func:`main` prints them on one line and exits 2.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

app = typer.Typer(
    name="camforge",
    help="Camera hardware engineering: simulate, measure, characterize, qualify and optimize camera modules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each sub-module adds its commands to ``app`` on import. Modules that do not exist
    # yet (features still being built) are skipped.
    import importlib

    for name in ("simulate", "isp", "measure", "measure_sfr", "measure_quality", "characterize", "evaluate", "db",
                 "compare", "qualify", "optimize", "tasks"):
        try:
            importlib.import_module(f"camforge.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"camforge.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; a :class:`CamforgeError` becomes one line on stderr and exit 2."""
    from camforge.errors import CamforgeError

    _register()
    try:
        app(args=argv, standalone_mode=False)
    except CamforgeError as e:
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except TyperException as e:  # usage errors: unknown option, missing argument, ...
        if type(e).__name__ == "NoArgsIsHelpError":
            print(e.format_message())
            return 0
        print(f"error: {' '.join(e.format_message().split())}", file=sys.stderr)
        return 2
    return 0


def run() -> None:
    sys.exit(main())
