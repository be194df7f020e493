"""Raw and image readers/writers.

Raw frames: :func:`read_raw` (DNG, NEF, CR2, ARW, ... via rawpy/LibRaw; ``.raw`` + YAML
sidecar), :func:`read_headerless` (sensor dumps, MIPI RAW10/RAW12), :func:`write_dng`,
:func:`write_raw_sidecar`, :func:`estimate_black_level`, :func:`quicklook`.
Images: :func:`read_image` (PNG/TIFF/JPEG at native bit depth), :func:`write_png`,
:func:`write_tiff`. Every writer is atomic (:func:`atomic_path`).
"""

from camforge.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from camforge.io.dng import write_dng
from camforge.io.image import read_image, write_png, write_tiff
from camforge.io.quicklook import quicklook
from camforge.io.rawfile import estimate_black_level, read_headerless, read_raw, write_raw_sidecar

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "estimate_black_level",
    "quicklook",
    "read_headerless",
    "read_image",
    "read_raw",
    "write_dng",
    "write_png",
    "write_raw_sidecar",
    "write_tiff",
]
