"""camforge.io throughput against the peer libraries it wraps, on a 12 MP (4032x3024) frame.

    .venv/bin/python bench/bench_io.py

Prints the median time of each operation, the ratio to its peer run in the same process,
and the peak Python heap (tracemalloc) of the camforge call. A script, not a test.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import rawpy
import tifffile

from camforge.io import quicklook, read_headerless, read_image, read_raw, write_dng, write_png, write_raw_sidecar
from camforge.types import Raw, RawMeta

W, H = 4032, 3024


def timeit(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_mib(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def pack_raw10(x: np.ndarray) -> bytes:
    g = x.reshape(x.shape[0], -1, 4).astype(np.uint16)
    lsb = sum(((g[..., k] & 3) << (2 * k)) for k in range(4)).astype(np.uint8)
    return np.concatenate([(g >> 2).astype(np.uint8), lsb[..., None]], axis=-1).tobytes()


def main():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 1024, (H, W), dtype=np.uint16)
    raw = Raw(x.astype(np.float32), RawMeta(cfa="RGGB", black_level_dn=64, white_level_dn=1023, bit_depth=10))
    d = Path(tempfile.mkdtemp())
    rows = []

    def row(name, ours, peer, peer_name):
        t_ours, t_peer = timeit(ours), timeit(peer)
        rows.append((name, t_ours, peer_name, t_peer, t_ours / t_peer, peak_mib(ours)))

    write_dng(raw, d / "a.dng")
    row("write_dng", lambda: write_dng(raw, d / "a.dng"),
        lambda: tifffile.imwrite(d / "b.tif", x, photometric=32803), "tifffile.imwrite (no tags)")

    def rawpy_read():
        with rawpy.imread(str(d / "a.dng")) as rp:
            return rp.raw_image_visible.astype(np.float32)

    row("read_raw (DNG)", lambda: read_raw(d / "a.dng"), rawpy_read, "rawpy raw_image_visible")
    x.tofile(d / "h.raw")
    row("read_headerless", lambda: read_headerless(d / "h.raw", W, H, 10, "RGGB", black_level=64),
        lambda: np.fromfile(d / "h.raw", "<u2").reshape(H, W).astype(np.float32), "np.fromfile")
    (d / "p.raw").write_bytes(pack_raw10(x))
    row("read_headerless mipi10", lambda: read_headerless(d / "p.raw", W, H, 10, "RGGB", packing="mipi10", black_level=64),
        lambda: np.fromfile(d / "p.raw", np.uint8), "np.fromfile (read only, no unpack)")
    row("write_raw_sidecar", lambda: write_raw_sidecar(raw, d / "s"),
        lambda: x.tofile(d / "t.raw"), "ndarray.tofile")

    def rawpy_half():
        with rawpy.imread(str(d / "a.dng")) as rp:
            return rp.postprocess(half_size=True, use_camera_wb=True)

    row("quicklook", lambda: quicklook(raw), rawpy_half, "rawpy postprocess(half_size)")
    ql = quicklook(raw)
    row("write_png 8-bit RGB", lambda: write_png(d / "q.png", ql),
        lambda: __import__("PIL.Image").Image.fromarray(ql).save(d / "r.png"), "Pillow save")
    rgb16 = rng.integers(0, 65536, (H // 2, W // 2, 3), dtype=np.uint16)
    row("write_png 16-bit RGB (6 MP)", lambda: write_png(d / "s.png", rgb16, bit_depth=16),
        lambda: tifffile.imwrite(d / "s.tif", rgb16, photometric="rgb"), "tifffile.imwrite (TIFF)")
    row("read_image 16-bit RGB PNG", lambda: read_image(d / "s.png"), lambda: tifffile.imread(d / "s.tif"),
        "tifffile.imread (TIFF)")
    print(f"frame {W}x{H} uint16, median of 3 runs")
    print(f"{'operation':26s} {'camforge s':>10s}  {'peer':30s} {'peer s':>8s} {'ratio':>6s} {'peak MiB':>9s}")
    for name, t1, pn, t2, r, mem in rows:
        print(f"{name:26s} {t1:10.3f}  {pn:30s} {t2:8.3f} {r:6.2f} {mem:9.1f}")


if __name__ == "__main__":
    main()
