"""Exceptions raised by camforge.

Every error a user can cause (a bad design file, a truncated raw, an image with no edge)
raises a subclass of :class:`CamforgeError` whose message says what was wrong and what to
do about it. The CLI prints that message on one line and exits with status 2.
"""

from __future__ import annotations


class CamforgeError(Exception):
    """Base class of every error camforge raises on purpose."""


class ConfigError(CamforgeError, ValueError):
    """A design, ISP config, spec or design space is invalid (names the field)."""


class InputError(CamforgeError, ValueError):
    """Input data is unusable: wrong shape, NaN, wrong size, unknown CFA, ..."""


class FormatError(InputError):
    """A file cannot be read: truncated, unsupported or corrupt."""


class MeasurementError(CamforgeError, ValueError):
    """A measurement cannot be made on this input (no edge, clipped, too small, ...)."""


class DependencyError(CamforgeError, ImportError):
    """An optional dependency needed for this feature is not installed."""


class StoreError(CamforgeError):
    """The results database cannot be reached or written."""


__all__ = [
    "CamforgeError",
    "ConfigError",
    "InputError",
    "FormatError",
    "MeasurementError",
    "DependencyError",
    "StoreError",
]
