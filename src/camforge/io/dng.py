"""Write raw frames as DNG (Adobe Digital Negative 1.4) files that LibRaw / rawpy read.

The file holds one uncompressed 16-bit raw image in IFD 0 (``NewSubFileType`` 0):

* Bayer frames: TIFF/EP CFA layout (``PhotometricInterpretation`` 32803) with
  ``CFARepeatPatternDim``, ``CFAPattern`` (:func:`camforge.cfa.dng_cfa_pattern`),
  ``CFAPlaneColor`` (R, G, B) and ``CFALayout`` 1 (rectangular);
* monochrome frames: ``LinearRaw`` (34892) with one sample per pixel, the layout of
  monochrome-sensor DNGs, which LibRaw reads as a one-colour image;
* Quad Bayer (4×4 repeat) is refused: LibRaw only represents CFA repeats of at most
  2 columns (its ``filters`` word) or the 6×6 X-Trans layout, and reads a 4×4
  ``CFAPattern`` with the wrong colours and no black level (tested with LibRaw 0.22).
  Save Quad Bayer frames with :func:`camforge.io.write_raw_sidecar` instead.

Levels: ``BlackLevelRepeatDim`` = the CFA repeat and one ``BlackLevel`` per site,
``WhiteLevel``. Colour: ``ColorMatrix1`` (XYZ → camera, SRATIONAL) with
``CalibrationIlluminant1`` and ``AsShotNeutral``. Capture: ``ExposureTime`` and an
ISO-like ``ISOSpeedRatings`` = 100 × analog gain. The camforge :class:`~camforge.types.RawMeta`
is also stored as JSON in ``ImageDescription`` so that :func:`camforge.io.read_raw`
restores the fields DNG has no tag for (pixel pitch, system gain, bit depth, ...).

References:
    Adobe Systems, *Digital Negative (DNG) Specification*, version 1.4.0.0 (2012).
    ISO 12234-2:2001 (TIFF/EP), CFA tags 33421/33422.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from camforge.cfa import dng_cfa_pattern, normalize_cfa
from camforge.errors import FormatError, InputError
from camforge.io.atomic import atomic_path
from camforge.types import Raw

#: DNG tag numbers used here.
TAG_DNG_VERSION = 50706
TAG_DNG_BACKWARD_VERSION = 50707
TAG_UNIQUE_CAMERA_MODEL = 50708
TAG_CFA_PLANE_COLOR = 50710
TAG_CFA_LAYOUT = 50711
TAG_BLACK_LEVEL_REPEAT_DIM = 50713
TAG_BLACK_LEVEL = 50714
TAG_WHITE_LEVEL = 50717
TAG_COLOR_MATRIX1 = 50721
TAG_COLOR_MATRIX2 = 50722
TAG_AS_SHOT_NEUTRAL = 50728
TAG_CALIBRATION_ILLUMINANT1 = 50778
TAG_CALIBRATION_ILLUMINANT2 = 50779
TAG_CFA_REPEAT_PATTERN_DIM = 33421
TAG_CFA_PATTERN = 33422
TAG_EXPOSURE_TIME = 33434
TAG_ISO_SPEED_RATINGS = 34855
TAG_IMAGE_DESCRIPTION = 270
PHOTOMETRIC_CFA = 32803
PHOTOMETRIC_LINEAR_RAW = 34892
#: EXIF LightSource code of CIE D65 (DNG CalibrationIlluminant).
ILLUMINANT_D65 = 21
#: Key of the camforge metadata JSON in ImageDescription.
DESCRIPTION_KEY = "camforge_raw_meta"


def _rational(x: float, max_den: int = 1_000_000) -> tuple[int, int]:
    f = Fraction(float(x)).limit_denominator(max_den)
    return f.numerator, f.denominator


def _rationals(values, *, signed: bool) -> list[int]:
    out: list[int] = []
    for v in values:
        if not math.isfinite(float(v)) or (not signed and float(v) < 0):
            raise InputError(f"cannot store {v!r} as a DNG {'S' if signed else ''}RATIONAL")
        out.extend(_rational(v))
    return out


def default_color_matrix() -> tuple[float, ...]:
    """XYZ → linear-sRGB matrix (IEC 61966-2-1, from colour-science), the DNG ColorMatrix of
    a camera whose primaries are sRGB's. Written when the camera's matrix is unknown, so
    that DNG readers render plausible colour."""
    import colour

    m = np.asarray(colour.models.RGB_COLOURSPACE_sRGB.matrix_XYZ_to_RGB, dtype=np.float64)
    return tuple(float(v) for v in m.ravel())


def _camforge_version() -> str:
    try:
        from importlib.metadata import version

        return version("camforge")
    except Exception:  # pragma: no cover - not installed (source checkout)
        return "unknown"


def _frame_uint16(raw: Raw, index: int) -> np.ndarray:
    if not isinstance(raw, Raw):
        raise InputError(f"write_dng needs a camforge Raw, got {type(raw).__name__}")
    if not -raw.batch <= index < raw.batch:
        raise InputError(f"frame index {index} out of range for a batch of {raw.batch}")
    x = raw.numpy(index)  # float32: integers up to 2^24 are exact
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("raw frame contains NaN or infinite values; cannot write a raw file")
    if lo < 0 or hi > 65535:
        raise InputError(f"raw values span {lo:g}..{hi:g} DN; a 16-bit raw file holds 0..65535")
    return np.rint(x).astype(np.uint16)


def _json_safe(x: Any) -> Any:
    return json.loads(json.dumps(x, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def write_dng(
    raw: Raw,
    path: str | Path,
    *,
    index: int = 0,
    make: str = "camforge",
    model: str | None = None,
    color_matrix=None,
    as_shot_neutral=None,
    calibration_illuminant: int = ILLUMINANT_D65,
) -> Path:
    """Write frame ``index`` of ``raw`` as an uncompressed DNG 1.4 file (atomically).

    Args:
        raw: the raw frame(s) [DN, black level included]. Values are rounded to integers
            and must lie in 0..65535 (stored as 16-bit samples).
        path: output file (``.dng``).
        index: which frame of the batch to write.
        make: ``Make`` tag.
        model: ``Model`` / ``UniqueCameraModel`` (default: the design name in
            ``raw.meta.extra['design']`` or ``"simulated camera"``).
        color_matrix: 3×3 XYZ → camera matrix (DNG ``ColorMatrix1``, row-major) under
            ``calibration_illuminant``; default ``raw.meta.color_matrix``, else the
            XYZ → linear-sRGB matrix (:func:`default_color_matrix`). Not written for mono.
        as_shot_neutral: camera RGB of a neutral (DNG ``AsShotNeutral``); default
            ``raw.meta.as_shot_neutral``; omitted when unknown.
        calibration_illuminant: EXIF LightSource code of ``color_matrix`` (21 = D65).

    Returns:
        The path written.

    Raises:
        FormatError: Quad Bayer CFA (LibRaw cannot read 4×4 CFA repeats) or bit depth > 16.
        InputError: values outside 0..65535, NaN, bad matrix, unwritable folder.
    """
    meta = raw.meta if isinstance(raw, Raw) else None
    data = _frame_uint16(raw, index)
    cfa = normalize_cfa(meta.cfa)
    if cfa.startswith("QUAD_"):
        raise FormatError(
            f"cannot write a Quad Bayer ({cfa}) DNG that rawpy/LibRaw reads: LibRaw supports CFA repeats of "
            "2 columns or X-Trans 6x6 only; save the frame with camforge.io.write_raw_sidecar (.raw + .yaml) instead"
        )
    if meta.bit_depth > 16:
        raise FormatError(f"bit depth {meta.bit_depth} does not fit the 16-bit samples camforge writes to DNG")
    white = int(round(meta.white_level_dn))
    if not 0 < white <= 65535:
        raise InputError(f"white level {meta.white_level_dn} DN does not fit a 16-bit DNG (1..65535)")
    mono = cfa == "MONO"
    name = model or str(meta.extra.get("design") or "simulated camera")

    tags: list[tuple] = [
        (274, "H", 1, 1, True),  # Orientation: top-left
        (TAG_DNG_VERSION, "B", 4, (1, 4, 0, 0), True),
        (TAG_DNG_BACKWARD_VERSION, "B", 4, (1, 1, 0, 0), True),
        (TAG_UNIQUE_CAMERA_MODEL, "s", 0, f"{make} {name}", True),
        (271, "s", 0, make, True),
        (272, "s", 0, name, True),
    ]
    if mono:
        repeat = (1, 1)
    else:
        repeat, pattern = dng_cfa_pattern(cfa)
        tags += [
            (TAG_CFA_REPEAT_PATTERN_DIM, "H", 2, repeat, True),
            (TAG_CFA_PATTERN, "B", len(pattern), tuple(pattern), True),
            (TAG_CFA_PLANE_COLOR, "B", 3, (0, 1, 2), True),
            (TAG_CFA_LAYOUT, "H", 1, 1, True),
        ]
    black = [float(v) for v in meta.black_level_tile().ravel()]
    if len(black) != repeat[0] * repeat[1]:  # pragma: no cover - RawMeta guarantees this
        raise InputError("black level does not match the CFA repeat")
    tags.append((TAG_BLACK_LEVEL_REPEAT_DIM, "H", 2, repeat, True))
    if all(v == int(v) and 0 <= v < 2**32 for v in black):
        tags.append((TAG_BLACK_LEVEL, "I", len(black), tuple(int(v) for v in black), True))
    else:
        tags.append((TAG_BLACK_LEVEL, "2I", len(black), tuple(_rationals(black, signed=False)), True))
    tags.append((TAG_WHITE_LEVEL, "I", 1, white, True))

    if not mono:
        cm = color_matrix if color_matrix is not None else meta.color_matrix
        cm = np.asarray(default_color_matrix() if cm is None else cm, dtype=np.float64).ravel()
        if cm.size != 9 or not np.isfinite(cm).all():
            raise InputError("color_matrix must be 9 finite numbers (3x3 XYZ -> camera, row-major)")
        tags.append((TAG_COLOR_MATRIX1, "2i", 9, tuple(_rationals(cm, signed=True)), True))
        tags.append((TAG_CALIBRATION_ILLUMINANT1, "H", 1, int(calibration_illuminant), True))
        asn = as_shot_neutral if as_shot_neutral is not None else meta.as_shot_neutral
        if asn is not None:
            asn = np.asarray(asn, dtype=np.float64).ravel()
            if asn.size != 3 or not np.isfinite(asn).all() or (asn <= 0).any():
                raise InputError("as_shot_neutral must be 3 positive numbers (camera RGB of a neutral)")
            tags.append((TAG_AS_SHOT_NEUTRAL, "2I", 3, tuple(_rationals(asn, signed=False)), True))
    if meta.exposure_s is not None and meta.exposure_s > 0:
        tags.append((TAG_EXPOSURE_TIME, "2I", 1, _rational(meta.exposure_s, 1_000_000_000), True))
    iso = int(round(100 * float(meta.analog_gain)))
    if 0 < iso < 65536:
        tags.append((TAG_ISO_SPEED_RATINGS, "H", 1, iso, True))

    description = json.dumps({DESCRIPTION_KEY: _json_safe(meta.to_dict())}, sort_keys=True)

    import tifffile

    path = Path(path)
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp,
            data,
            photometric="minisblack" if mono else PHOTOMETRIC_CFA,
            extratags=tags,
            metadata=None,
            description=description,
            software=f"camforge {_camforge_version()}",
            subfiletype=0,
        )
        if mono:
            _set_photometric(tmp, PHOTOMETRIC_LINEAR_RAW)
    return path


def _set_photometric(path: Path, value: int) -> None:
    """Rewrite the PhotometricInterpretation value of IFD 0 in place.

    tifffile refuses ``LinearRaw`` with one sample per pixel, although DNG allows it
    (monochrome sensors); the file is written as BlackIsZero and the tag value patched.
    """
    import tifffile

    with tifffile.TiffFile(path) as tf:
        tag = tf.pages[0].tags[262]
        offset = tag.valueoffset
        order = tf.byteorder
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(np.array(value, dtype=order + "u2").tobytes())


__all__ = ["write_dng", "default_color_matrix"]
