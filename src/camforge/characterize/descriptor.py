"""EMVA 1288 descriptor files and data directories.

A descriptor is a plain-text file that lists the frames of a measurement (Release 3.x and
4.0 use the same format; the EMVA reference data sets ship one as ``EMVA1288_Data.txt``):

============================  ==========================================================
``# ...``                     comment
``v 4.0``                     release of the standard the data were taken for
``n bits width height``       frame format (once, before the first step)
``b exposure_ns photons``     a bright step: exposure time [ns] and photons per pixel μ_p
``d exposure_ns``             a dark step
``i relative/path.png``       a frame of the step above (``\\`` or ``/`` separators;
                              relative to the descriptor's folder)
``l name value ...``          free information (camera, interface, ...)
``t temperature_c``           camforge extension: sensor temperature [°C] of the steps
                              that follow (other tools warn and ignore it)
============================  ==========================================================

A step that lists two frames is a temporal point; more than two frames make a spatial
stack. Decimal commas are accepted. A listed frame that does not exist is skipped with a
warning and a step left with fewer than two frames is dropped with a warning, so a subset
of a published set (like the staged reference set 001) can be analysed as is.

``l`` lines with the names ``cfa``, ``wavelength_nm`` and ``pixel_pitch_um`` are read as
the stack's CFA pattern, light-source wavelength and pixel pitch.

**Directory layout** (for ``camforge characterize emva1288 DIR``)::

    DIR/
      EMVA1288_Data.txt      the descriptor (any *.txt file with an 'n' line is found;
                             EMVA1288_Data.txt or descriptor.txt win when several exist)
      images/...             the frames, as the descriptor's 'i' lines say
"""

from __future__ import annotations

import math
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from camforge.errors import FormatError, InputError
from camforge.characterize.frames import Emva1288Warning, read_frame
from camforge.characterize.stack import Emva1288Stack, Emva1288Step

_PREFERRED = ("EMVA1288_Data.txt", "descriptor.txt", "emva1288.txt")


def _number(tok: str, line_no: int, path: Path, what: str) -> float:
    try:
        v = float(tok.replace(",", "."))
    except ValueError:
        raise FormatError(f"{path}, line {line_no}: {what} must be a number, got {tok!r}") from None
    if not math.isfinite(v):
        raise FormatError(f"{path}, line {line_no}: {what} must be finite, got {tok!r}")
    return v


def _summarise(items: list[str], n: int = 3) -> str:
    head = ", ".join(items[:n])
    return head + (f" and {len(items) - n} more" if len(items) > n else "")


def parse_descriptor(path, *, cfa: str | None = None, wavelength_nm: float | None = None,
                     pixel_pitch_um: float | None = None, check_files: bool = True) -> Emva1288Stack:
    """Read an EMVA 1288 descriptor file into an :class:`Emva1288Stack` (frames as paths).

    Args:
        path: the descriptor file.
        cfa: CFA pattern of the frames (overrides an ``l cfa`` line; default ``MONO``).
        wavelength_nm, pixel_pitch_um: override the ``l`` lines of the same name.
        check_files: skip listed frames that do not exist (with one warning).

    Raises:
        InputError: the file does not exist or is a folder.
        FormatError: a malformed line (the message gives the line number), no ``n`` line,
            or no usable step left.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"descriptor file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the descriptor file or use load_stack(folder)")
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    except OSError as e:
        raise InputError(f"cannot read descriptor {path}: {e.strerror or e}") from None
    base = path.parent
    version = None
    fmt = None
    info: dict[str, str] = {}
    temperature = None
    raw_steps: list[dict] = []
    unknown: list[str] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split(None, 1)
        key = parts[0].lower()
        rest = parts[1].strip() if len(parts) > 1 else ""
        toks = rest.split()
        if key == "v":
            if not toks:
                raise FormatError(f"{path}, line {line_no}: 'v' needs a release number, e.g. 'v 4.0'")
            version = toks[0]
        elif key == "n":
            if len(toks) != 3:
                raise FormatError(f"{path}, line {line_no}: expected 'n bits width height', got {s!r}")
            if fmt is not None:
                raise FormatError(f"{path}, line {line_no}: a second 'n' line; a descriptor has one frame format")
            try:
                fmt = tuple(int(t) for t in toks)
            except ValueError:
                raise FormatError(f"{path}, line {line_no}: 'n bits width height' needs integers, got {s!r}") from None
        elif key == "b":
            if len(toks) != 2:
                raise FormatError(f"{path}, line {line_no}: expected 'b exposure_ns photons', got {s!r}")
            t_ns = _number(toks[0], line_no, path, "exposure time")
            photons = _number(toks[1], line_no, path, "photon count")
            raw_steps.append(dict(kind="bright", t_ns=t_ns, photons=photons, files=[], temp=temperature, line=line_no))
        elif key == "d":
            if len(toks) not in (1, 2):
                raise FormatError(f"{path}, line {line_no}: expected 'd exposure_ns', got {s!r}")
            t_ns = _number(toks[0], line_no, path, "exposure time")
            raw_steps.append(dict(kind="dark", t_ns=t_ns, photons=0.0, files=[], temp=temperature, line=line_no))
        elif key == "i":
            if not rest:
                raise FormatError(f"{path}, line {line_no}: 'i' needs an image path")
            if not raw_steps:
                raise FormatError(f"{path}, line {line_no}: image listed before any 'b' or 'd' step")
            raw_steps[-1]["files"].append(rest)
        elif key == "l":
            if toks:
                info[toks[0]] = rest[len(toks[0]):].strip()
        elif key == "t":
            if len(toks) != 1:
                raise FormatError(f"{path}, line {line_no}: expected 't temperature_c', got {s!r}")
            temperature = _number(toks[0], line_no, path, "temperature")
        else:
            unknown.append(f"line {line_no} {s[:30]!r}")
    if fmt is None:
        raise FormatError(f"{path}: no 'n bits width height' line; is this an EMVA 1288 descriptor?")
    bits, width, height = fmt
    notes: list[str] = []
    if unknown:
        notes.append(f"ignored {len(unknown)} unknown descriptor line(s): {_summarise(unknown)}")
    if version is not None and version.split(".")[0] not in ("3", "4"):
        notes.append(f"descriptor is for EMVA 1288 release {version}; analysed with the Release 4.0 Linear rules")
    missing: list[str] = []
    dropped: list[str] = []
    steps: list[Emva1288Step] = []
    counters: dict[tuple[str, bool], int] = {}
    for st in raw_steps:
        spatial = len(st["files"]) > 2
        idx = counters.get((st["kind"], spatial), 0)
        counters[(st["kind"], spatial)] = idx + 1
        files = []
        for f in st["files"]:
            p = Path(f.replace("\\", "/"))
            if not p.is_absolute():
                p = base / p
            if check_files and not p.is_file():
                missing.append(f)
                continue
            files.append(p)
        label = f"{st['kind']} step at line {st['line']} ({st['t_ns']:g} ns)"
        if len(files) < 2:
            dropped.append(label)
            continue
        if st["t_ns"] <= 0:
            raise FormatError(f"{path}, line {st['line']}: exposure time must be > 0 ns")
        if st["kind"] == "bright" and st["photons"] <= 0:
            raise FormatError(f"{path}, line {st['line']}: a bright step needs a photon count > 0")
        steps.append(Emva1288Step(st["kind"], st["t_ns"] * 1e-9, st["photons"], tuple(files),
                                  temperature_c=st["temp"], index=idx, spatial=spatial))
    if missing:
        notes.append(f"skipped {len(missing)} listed image file(s) that do not exist: {_summarise(missing)}")
    if dropped:
        notes.append(f"dropped {len(dropped)} step(s) left with fewer than two images: {_summarise(dropped)}")
    for n in notes:
        warnings.warn(n, Emva1288Warning, stacklevel=2)
    if not steps:
        raise FormatError(f"{path}: no step with at least two readable images; check the 'i' paths "
                          f"(relative to {base})")
    cfa_name = cfa or info.get("cfa") or "MONO"

    def _opt(value, key):
        if value is not None:
            return float(value)
        if key in info:
            try:
                return float(info[key].replace(",", "."))
            except ValueError:
                raise FormatError(f"{path}: 'l {key}' must be a number, got {info[key]!r}") from None
        return None

    return Emva1288Stack(
        bits=bits, width_px=width, height_px=height, steps=tuple(steps), cfa=cfa_name,
        version=version or "", info=info, wavelength_nm=_opt(wavelength_nm, "wavelength_nm"),
        pixel_pitch_um=_opt(pixel_pitch_um, "pixel_pitch_um"), source=str(path), warnings=tuple(notes),
    )


def find_descriptor(directory) -> Path:
    """The descriptor file of a data directory (see the module docstring for the layout)."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"not a folder: {d}")
    for name in _PREFERRED:
        if (d / name).is_file():
            return d / name
    cands = []
    for p in sorted(d.glob("*.txt")):
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                head = f.read(65536)
        except OSError:
            continue
        if any(line.strip().lower().startswith("n ") for line in head.splitlines()):
            cands.append(p)
    if not cands:
        raise InputError(f"no EMVA 1288 descriptor in {d}: expected EMVA1288_Data.txt (or a *.txt file with an "
                         "'n bits width height' line) next to the images")
    if len(cands) > 1:
        raise InputError(f"several descriptor files in {d} ({', '.join(p.name for p in cands)}); give the file itself")
    return cands[0]


def load_stack(path, **kwargs) -> Emva1288Stack:
    """A stack from a descriptor file or a data directory (keyword arguments as :func:`parse_descriptor`)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"EMVA 1288 data not found: {p} (give a descriptor file or its folder)")
    if p.is_dir():
        p = find_descriptor(p)
    return parse_descriptor(p, **kwargs)


# ---------------------------------------------------------------------- writing
def _png_bytes(a: np.ndarray, level: int = 3) -> bytes:
    """A greyscale PNG (8 or 16 bit, filter type 0 on every row) of a 2-D integer array."""
    h, w = a.shape
    if a.dtype == np.uint8:
        depth, body = 8, a
    else:
        depth, body = 16, a.astype(">u2")
    rows = np.zeros((h, 1 + w * (depth // 8)), np.uint8)
    rows[:, 1:] = body.view(np.uint8).reshape(h, -1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
            + chunk(b"IEND", b""))


def write_descriptor(stack: Emva1288Stack, directory, *, name: str = "EMVA1288_Data.txt",
                     progress: Callable[[int, int], None] | None = None) -> Path:
    """Write a stack as a descriptor + 8/16-bit PNG frames under ``directory/images``.

    Frames that are paths are re-read and re-written, so the folder is self-contained.
    Each file is written atomically; the descriptor is written last. Returns its path.
    """
    from camforge.io.atomic import atomic_path, atomic_write_text

    d = Path(directory)
    try:
        (d / "images").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {d / 'images'}: {e.strerror or e}") from None
    lines = ["# EMVA 1288 data written by camforge", f"# source: {stack.source or 'in-memory stack'}",
             f"v {stack.version or '4.0'}", f"n {stack.bits} {stack.width_px} {stack.height_px}"]
    for k, v in stack.info.items():
        lines.append(f"l {k} {v}")
    if "cfa" not in stack.info:
        lines.append(f"l cfa {stack.cfa}")
    if stack.wavelength_nm is not None and "wavelength_nm" not in stack.info:
        lines.append(f"l wavelength_nm {stack.wavelength_nm:g}")
    if stack.pixel_pitch_um is not None and "pixel_pitch_um" not in stack.info:
        lines.append(f"l pixel_pitch_um {stack.pixel_pitch_um:g}")
    total = stack.n_frames
    done = 0
    temp = None
    dtype = np.uint8 if stack.bits <= 8 else np.uint16
    for s in stack.steps:
        if s.temperature_c is not None and s.temperature_c != temp:
            temp = s.temperature_c
            lines.append(f"t {temp:g}")
        t_ns = s.exposure_s * 1e9
        lines.append(f"b {t_ns:.12g} {s.photons_per_px:.12g}" if s.kind == "bright" else f"d {t_ns:.12g}")
        tag = ("b" if s.kind == "bright" else "d") + ("_s" if s.is_spatial else "")
        tsuf = "" if s.temperature_c is None else f"_t{s.temperature_c:g}".replace("-", "m").replace(".", "p")
        for j, f in enumerate(s.frames):
            a = read_frame(f, stack.bits, (stack.height_px, stack.width_px)).astype(dtype)
            rel = f"images/{tag}{tsuf}_{s.index:03d}_snap_{j:03d}.png"
            with atomic_path(d / rel) as tmp:
                tmp.write_bytes(_png_bytes(a))
            lines.append(f"i {rel}")
            done += 1
            if progress is not None:
                progress(done, total)
    out = d / name
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


__all__ = ["find_descriptor", "load_stack", "parse_descriptor", "write_descriptor"]
