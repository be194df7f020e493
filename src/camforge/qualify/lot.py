"""Lots of module captures on disk: the directory layout and its manifest.

A lot is a folder::

    LOT/
      lot.yaml              optional: lot name, design, f-number, frame size, CFA (LotInfo)
      manifest.csv          one row per capture (see below)
      design.yaml           simulated lots: the camera design the modules were built from
      captures/<module>/    the frames: dark.raw + dark.yaml, flat_lo.raw, flat_hi.raw, chart.raw ...
      truth/<module>.json   simulated lots: ground truth (defects, contrast, parameters)
      truth/<module>_mask.png   per-pixel defect labels (0 = clean, k = KINDS[k − 1])

``manifest.csv`` columns (header row required; ``module_id``, ``capture``, ``path`` are
required, the rest optional):

==================  ============================================================================
module_id           module identifier (serial number)
capture             ``dark``, ``flat_lo``, ``flat_hi`` or ``chart``
path                file path relative to the lot folder (or absolute)
format              ``raw`` (.raw + YAML sidecar, :func:`camforge.io.write_raw_sidecar`), ``dng``,
                    ``png`` or ``tiff`` (16-bit grey images holding DN); default from the suffix
exposure_s          exposure time [s]
analog_gain         analog gain [×]
width, height       frame size [px]; a frame of another size is an error for that module
cfa                 CFA pattern of PNG/TIFF frames (default ``MONO``)
black_level_dn      black level of PNG/TIFF frames [DN] (one value or ``a;b;c;d`` per CFA site)
white_level_dn      white level [DN]
bit_depth           ADC bit depth
f_number            working f-number of the capture (blemish physics)
==================  ============================================================================

A problem with one module — a missing or truncated file, a frame of the wrong size, a
capture the spec needs but the manifest does not list, a module folder with no manifest
rows — is reported for that module (verdict ``error``) and the lot goes on.
"""

from __future__ import annotations

import csv
import io
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from camforge.config import load_yaml
from camforge.errors import FormatError, InputError
from camforge.types import Raw

CAPTURE_KINDS = ("dark", "flat_lo", "flat_hi", "chart")
FORMATS = ("raw", "dng", "png", "tiff")
MANIFEST_COLUMNS = ("module_id", "capture", "path", "format", "exposure_s", "analog_gain", "width", "height", "cfa",
                    "black_level_dn", "white_level_dn", "bit_depth", "f_number")
_REQUIRED = ("module_id", "capture", "path")
_SUFFIX_FORMAT = {".raw": "raw", ".bin": "raw", ".dng": "dng", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}


class LotInfo(BaseModel):
    """``lot.yaml``: what every module of the lot shares (all optional)."""

    model_config = ConfigDict(extra="forbid")
    name: str = "lot"
    description: str = ""
    design: str | None = None
    f_number: float | None = Field(None, gt=0)
    pixel_pitch_um: float | None = Field(None, gt=0)
    width: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    cfa: str | None = None
    simulated: bool = False
    seed: int | None = None
    n_modules: int | None = None
    defect_rate: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class CaptureEntry:
    """One manifest row."""

    module_id: str
    capture: str
    path: Path
    format: str
    exposure_s: float | None = None
    analog_gain: float | None = None
    width: int | None = None
    height: int | None = None
    cfa: str | None = None
    black_level_dn: tuple[float, ...] | None = None
    white_level_dn: float | None = None
    bit_depth: int | None = None
    f_number: float | None = None
    row: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"module_id": self.module_id, "capture": self.capture, "path": str(self.path), "format": self.format,
                "exposure_s": self.exposure_s, "f_number": self.f_number, "row": self.row}


@dataclass(frozen=True)
class ModuleEntry:
    """A module of a lot: its captures and the problems found while reading the manifest."""

    module_id: str
    captures: dict[str, CaptureEntry]
    problems: tuple[str, ...] = ()


@dataclass
class Lot:
    """A lot folder read from disk (:meth:`open`)."""

    root: Path
    info: LotInfo
    modules: list[ModuleEntry]
    problems: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: str | Path) -> Lot:
        """Read ``manifest.csv`` (and ``lot.yaml``) of a lot folder.

        Raises:
            InputError: the folder or its manifest is missing, or the manifest has no
                header/required column. Problems of single rows or modules are recorded on
                the module instead (they do not stop the lot).
        """
        root = Path(path)
        if not root.is_dir():
            raise InputError(f"lot folder not found: {root}")
        info = load_yaml(LotInfo, root / "lot.yaml") if (root / "lot.yaml").is_file() else LotInfo(name=root.name)
        manifest = root / "manifest.csv"
        if not manifest.is_file():
            raise InputError(f"{root} has no manifest.csv; a lot needs one row per capture "
                             f"(columns {', '.join(_REQUIRED)}, ...; see docs/qualify.md)")
        text = manifest.read_text(encoding="utf-8", errors="replace")
        reader = csv.DictReader(io.StringIO(text))
        cols = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in _REQUIRED if c not in cols]
        if missing:
            raise InputError(f"{manifest}: missing column(s) {', '.join(missing)}; the header must name "
                             f"{', '.join(_REQUIRED)} (optional: {', '.join(MANIFEST_COLUMNS[3:])})")
        unknown = [c for c in cols if c not in MANIFEST_COLUMNS]
        lot_problems = [f"manifest.csv: unknown column(s) {', '.join(unknown)} ignored"] if unknown else []
        mods: OrderedDict[str, dict[str, CaptureEntry]] = OrderedDict()
        mod_problems: dict[str, list[str]] = {}
        for i, rec in enumerate(reader, start=2):
            rec = {(k or "").strip(): (v or "").strip() for k, v in rec.items() if k is not None}
            mid = rec.get("module_id", "")
            if not mid:
                lot_problems.append(f"manifest.csv line {i}: empty module_id; row skipped")
                continue
            mods.setdefault(mid, {})
            try:
                entry = _entry(root, rec, i)
            except InputError as e:
                mod_problems.setdefault(mid, []).append(str(e))
                continue
            if entry.capture in mods[mid]:
                mod_problems.setdefault(mid, []).append(
                    f"manifest.csv line {i}: capture {entry.capture!r} listed twice for module {mid}")
                continue
            mods[mid][entry.capture] = entry
        # module folders on disk that the manifest does not list
        cap_dir = root / "captures"
        if cap_dir.is_dir():
            for d in sorted(p for p in cap_dir.iterdir() if p.is_dir()):
                if d.name not in mods:
                    mods[d.name] = {}
                    mod_problems.setdefault(d.name, []).append(
                        f"captures/{d.name} has no manifest entry (add its rows to manifest.csv)")
        modules = [ModuleEntry(m, caps, tuple(mod_problems.get(m, ()))) for m, caps in mods.items()]
        return cls(root=root, info=info, modules=modules, problems=lot_problems)

    def module(self, module_id: str) -> ModuleEntry:
        for m in self.modules:
            if m.module_id == module_id:
                return m
        raise InputError(f"module {module_id!r} is not in lot {self.root}")

    def truth(self, module_id: str) -> dict[str, Any] | None:
        """Ground truth of a simulated module (``truth/<id>.json``), or None."""
        import json

        p = self.root / "truth" / f"{module_id}.json"
        if not p.is_file():
            return None
        return json.loads(p.read_text())

    def truth_mask(self, module_id: str) -> np.ndarray | None:
        """Per-pixel defect labels ``[H, W]`` uint8 of a simulated module, or None."""
        from camforge.io import read_image

        p = self.root / "truth" / f"{module_id}_mask.png"
        if not p.is_file():
            return None
        a, _ = read_image(p)
        return a.astype(np.uint8)


def _opt_float(rec, key, i) -> float | None:
    v = rec.get(key, "")
    if v == "":
        return None
    try:
        return float(v)
    except ValueError:
        raise InputError(f"manifest.csv line {i}: {key} must be a number, got {v!r}") from None


def _opt_int(rec, key, i) -> int | None:
    v = _opt_float(rec, key, i)
    if v is None:
        return None
    if v != int(v) or v < 1:
        raise InputError(f"manifest.csv line {i}: {key} must be a positive whole number, got {rec[key]!r}")
    return int(v)


def _entry(root: Path, rec: dict[str, str], i: int) -> CaptureEntry:
    cap = rec.get("capture", "")
    if cap not in CAPTURE_KINDS:
        raise InputError(f"manifest.csv line {i}: capture must be one of {', '.join(CAPTURE_KINDS)}, got {cap!r}")
    p = rec.get("path", "")
    if not p:
        raise InputError(f"manifest.csv line {i}: empty path for capture {cap}")
    path = Path(p) if Path(p).is_absolute() else root / p
    fmt = rec.get("format", "") or _SUFFIX_FORMAT.get(path.suffix.lower(), "")
    if fmt not in FORMATS:
        raise InputError(f"manifest.csv line {i}: format must be one of {', '.join(FORMATS)}, got {fmt or path.suffix!r}")
    blk = rec.get("black_level_dn", "")
    black = None
    if blk:
        try:
            black = tuple(float(v) for v in blk.replace(",", ";").split(";"))
        except ValueError:
            raise InputError(f"manifest.csv line {i}: black_level_dn must be a number or 'a;b;c;d', got {blk!r}") from None
    return CaptureEntry(
        module_id=rec["module_id"], capture=cap, path=path, format=fmt,
        exposure_s=_opt_float(rec, "exposure_s", i), analog_gain=_opt_float(rec, "analog_gain", i),
        width=_opt_int(rec, "width", i), height=_opt_int(rec, "height", i), cfa=rec.get("cfa") or None,
        black_level_dn=black, white_level_dn=_opt_float(rec, "white_level_dn", i),
        bit_depth=_opt_int(rec, "bit_depth", i), f_number=_opt_float(rec, "f_number", i), row=i,
    )


def read_capture(entry: CaptureEntry, *, expected_size: tuple[int, int] | None = None) -> Raw:
    """Read one capture as a single-frame :class:`Raw` [DN].

    Raises:
        FormatError: missing, truncated or corrupt file.
        InputError: a frame whose size is not the manifest's / the lot's ``(width, height)``.
    """
    from camforge.io import read_image, read_raw
    from camforge.qualify.flatfield import as_raw

    where = f"{entry.capture} ({entry.path.name})"
    if not entry.path.is_file():
        raise FormatError(f"{where}: file not found: {entry.path}")
    if entry.format in ("raw", "dng"):
        raw = read_raw(entry.path)
        if entry.black_level_dn is not None or entry.cfa is not None:
            from camforge.types import RawMeta

            m = raw.meta
            n_sites = len(m.black_level_dn)
            blk = entry.black_level_dn if entry.black_level_dn is not None else m.black_level_dn
            if len(blk) == 1 and n_sites > 1:
                blk = blk * n_sites
            raw = Raw(raw.data, RawMeta(cfa=entry.cfa or m.cfa, black_level_dn=tuple(blk),
                                        white_level_dn=m.white_level_dn, bit_depth=m.bit_depth,
                                        exposure_s=m.exposure_s, analog_gain=m.analog_gain,
                                        pixel_pitch_um=m.pixel_pitch_um, source=m.source, extra=m.extra))
    else:
        a, info = read_image(entry.path)
        if a.ndim == 3:
            raise InputError(f"{where}: an RGB image; qualification needs the raw (mosaic or mono) frame "
                             "as a grey 16-bit PNG/TIFF holding DN")
        raw = as_raw(a, cfa=entry.cfa or "MONO", black_level_dn=entry.black_level_dn or 0.0,
                     white_level_dn=entry.white_level_dn, bit_depth=entry.bit_depth or info.get("bit_depth"))
    H, W = raw.data.shape[-2:]
    want = expected_size or ((entry.width, entry.height) if entry.width and entry.height else None)
    if want is not None and (W, H) != tuple(want):
        raise InputError(f"{where}: frame is {W} × {H} px but the lot's modules are {want[0]} × {want[1]} px")
    if not torch.isfinite(raw.data).all():
        raise InputError(f"{where}: frame contains NaN or infinite values")
    return raw


def manifest_text(rows: list[dict[str, Any]]) -> str:
    """CSV text of manifest rows (dicts keyed by :data:`MANIFEST_COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(MANIFEST_COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in MANIFEST_COLUMNS})
    return buf.getvalue()


def write_manifest(root: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``manifest.csv`` atomically."""
    from camforge.io import atomic_write_text

    p = Path(root) / "manifest.csv"
    atomic_write_text(p, manifest_text(rows))
    return p


__all__ = [
    "CAPTURE_KINDS", "FORMATS", "MANIFEST_COLUMNS", "CaptureEntry", "Lot", "LotInfo", "ModuleEntry", "manifest_text",
    "read_capture", "write_manifest",
]
