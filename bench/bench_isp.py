"""Full ISP pipeline speed on a real 1920 × 1080 frame: camforge vs fast-openISP, Infinite-ISP
and rawpy (LibRaw) postprocess, side by side in the same run; and a 50 MP tiled run's peak memory.

    .venv/bin/python bench/bench_isp.py [--raw ../shared/data/openisp/test.RAW] [--threads 2] [--repeat 5]
        [--fast-openisp PATH] [--infinite-isp PATH] [--no-50mp]

Peers are imported from a checkout given by ``--fast-openisp`` / ``--infinite-isp`` or the
``FAST_OPENISP`` / ``INFINITE_ISP`` environment variables (e.g. a work tree of
github.com/QiuJueqin/fast-openISP); a peer whose path is missing is skipped with a message.
All run on the openISP ``test.RAW`` frame (10-bit RGGB, black 0).

camforge runs the stage list of fast-openISP's ``configs/test.yaml``, mapped to camforge
stages: dpc → dpc, blc → black_level, awb (its gains) → awb manual, cfa (malvar) → demosaic
malvar, nlm (search 9, patch 3 px) → denoise nlm on the mosaic (search 5 × 5 CFA tiles = the
same ±4 px reach, patch 3 tiles), ccm (identity) → ccm identity, gac (gamma 0.42) → tone
gamma, eeh → sharpen, csc → yuv BT.601. fast-openISP's aaf, cnf, bnf, ceh, fcs, hsc and bcc
have no camforge counterpart and are not run by camforge (they are by fast-openISP).
"""

from __future__ import annotations

import argparse
import contextlib
import io as io_
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from camforge.isp import Pipeline  # noqa: E402
from camforge.types import Raw, RawMeta  # noqa: E402

DATA = Path(os.environ.get("CAMFORGE_DATA", REPO.parent / "shared" / "data"))

FAST_OPENISP_LIKE = {
    "black_level": {"black_level_dn": 0.0, "white_level_dn": 1023.0},
    "dpc": {"enable": True},
    "awb": {"method": "manual", "gains": [1860 / 1024, 1.0, 1280 / 1024]},
    "denoise": {"enable": True, "method": "nlm", "domain": "raw", "search_window": 5, "patch_size": 3,
                "strength": 0.02},
    "demosaic": {"method": "malvar"},
    "ccm": {"source": "identity"},
    "tone": {"curve": "gamma", "gamma": 1 / 0.42},
    "sharpen": {"amount": 0.5},
    "yuv": {"enable": True, "standard": "bt601"},
}
DEFAULT_RENDER = {"awb": {"method": "grey_world"}, "denoise": {"enable": True}}


def median_time(fn, repeat):
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), ts


def load_frame(path: Path) -> tuple[np.ndarray, Raw]:
    a = np.fromfile(path, dtype="<u2").reshape(1080, 1920)
    raw = Raw(torch.from_numpy(a.astype(np.float32)), RawMeta(cfa="RGGB", black_level_dn=0.0, white_level_dn=1023.0,
                                                              bit_depth=10))
    return a, raw


def bench_camforge(raw, repeat):
    out = {}
    for name, cfg in (("camforge (fast-openISP stage list)", FAST_OPENISP_LIKE), ("camforge (default + NLM, Menon)", DEFAULT_RENDER)):
        pipe = Pipeline(cfg)
        with torch.no_grad():
            t, _ = median_time(lambda: pipe(raw), repeat)
            stages = {k: [] for k in pipe.timings}
            for _ in range(repeat):
                pipe(raw)
                for k, v in pipe.timings.items():
                    stages.setdefault(k, []).append(v)
        out[name] = (t, {k: float(np.median(v)) for k, v in stages.items()})
    return out


def _stub(name: str, **attrs):
    if name not in sys.modules:
        try:
            __import__(name)
        except ImportError:
            mod = types.ModuleType(name)
            for k, v in attrs.items():
                setattr(mod, k, v)
            sys.modules[name] = mod


def bench_fast_openisp(path: Path | None, bayer: np.ndarray, repeat: int):
    if path is None or not (path / "pipeline.py").exists():
        print(f"fast-openISP: skipped (no checkout at {path}; pass --fast-openisp or set FAST_OPENISP)")
        return None
    _stub("cv2")  # only its (disabled) scaler and image saving use OpenCV
    sys.path.insert(0, str(path))
    cwd = os.getcwd()
    os.chdir(path)
    try:
        from pipeline import Pipeline as FastPipeline
        from utils.yacs import Config

        cfg = Config(str(path / "configs" / "test.yaml"))
        pipe = FastPipeline(cfg)
        t, _ = median_time(lambda: pipe.execute(bayer, verbose=False), repeat)
    finally:
        os.chdir(cwd)
        sys.path.remove(str(path))
        for m in [m for m in sys.modules if m in ("pipeline", "modules", "utils") or m.startswith(("modules.", "utils."))]:
            del sys.modules[m]
    return t


def bench_infinite_isp(path: Path | None, raw_path: Path, repeat: int):
    if path is None or not (path / "infinite_isp.py").exists():
        print(f"Infinite-ISP: skipped (no checkout at {path}; pass --infinite-isp or set INFINITE_ISP)")
        return None
    import yaml

    _stub("tqdm", tqdm=lambda it=None, *a, **k: it)
    cfg = yaml.safe_load((path / "config" / "configs.yml").read_text())
    cfg["platform"]["filename"] = raw_path.name
    cfg["platform"]["disable_progress_bar"] = True
    cfg["sensor_info"].update({"bayer_pattern": "rggb", "range": 1023, "bit_depth": 10, "width": 1920, "height": 1080})
    blc = cfg["black_level_correction"]
    for k in ("r_offset", "gr_offset", "gb_offset", "b_offset"):
        blc[k] = 0
    for k in ("r_sat", "gr_sat", "gb_sat", "b_sat"):
        blc[k] = 1023
    cfg["oecf"]["is_enable"] = False
    tmp = Path(tempfile.mkdtemp())
    (tmp / "configs.yml").write_text(yaml.safe_dump(cfg))
    sys.path.insert(0, str(path))
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        from infinite_isp import InfiniteISP

        with contextlib.redirect_stdout(io_.StringIO()):  # it prints every module's progress
            isp = InfiniteISP(str(raw_path.parent), str(tmp / "configs.yml"))
            isp.load_raw()
            t, _ = median_time(lambda: isp.run_pipeline(visualize_output=False), repeat)
    finally:
        os.chdir(cwd)
        sys.path.remove(str(path))
    return t


def bench_rawpy(raw: Raw, repeat: int):
    try:
        import rawpy

        from camforge.io import write_dng
    except ImportError as e:
        print(f"rawpy: skipped ({e})")
        return None
    tmp = Path(tempfile.mkdtemp()) / "openisp.dng"
    write_dng(raw, tmp)
    with rawpy.imread(str(tmp)) as rp:
        rp.raw_image  # decode once
        t, _ = median_time(lambda: rp.postprocess(), repeat)
    return t


def child_50mp(threads: int, tile: int) -> None:
    """Runs in a fresh process: a 50 MP frame through run_tiled; prints time and peak RSS."""
    torch.set_num_threads(threads)
    a, _ = load_frame(DATA / "openisp" / "test.RAW")
    H, W = 6144, 8192  # 50.3 MP
    big = np.tile(a, (H // 1080 + 1, W // 1920 + 1))[:H, :W]
    raw = Raw(torch.from_numpy(big.astype(np.float32)), RawMeta(cfa="RGGB", black_level_dn=0.0, white_level_dn=1023.0))
    del big
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pipe = Pipeline({**FAST_OPENISP_LIKE, "yuv": {"enable": False}})
    t0 = time.perf_counter()
    with torch.no_grad():
        img = pipe.run_tiled(raw, tile=tile)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"50MP {W}x{H} tile={tile}: {dt:.1f} s, peak RSS {peak:.0f} MiB (input raw + output image alone: "
          f"{(raw.data.numel() * 4 + img.data.numel() * 4) / 2**20:.0f} MiB; RSS before the run {base:.0f} MiB)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", type=Path, default=DATA / "openisp" / "test.RAW")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peer-repeat", type=int, default=2)
    ap.add_argument("--fast-openisp", type=Path, default=os.environ.get("FAST_OPENISP"))
    ap.add_argument("--infinite-isp", type=Path, default=os.environ.get("INFINITE_ISP"))
    ap.add_argument("--no-50mp", action="store_true")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--child-50mp", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_50mp:
        child_50mp(args.threads, args.tile)
        return 0
    torch.set_num_threads(args.threads)
    if not args.raw.exists():
        print(f"frame not found: {args.raw}")
        return 1
    bayer, raw = load_frame(args.raw)
    print(f"frame {args.raw.name} 1920x1080, torch threads={args.threads}, load average {os.getloadavg()[0]:.2f}")
    rows = []
    for name, (t, stages) in bench_camforge(raw, args.repeat).items():
        rows.append((name, t))
        print(f"{name}: {t * 1e3:.0f} ms  [" + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in stages.items()) + "]")
    t = bench_fast_openisp(args.fast_openisp, bayer, args.peer_repeat)
    if t is not None:
        rows.append(("fast-openISP (configs/test.yaml)", t))
    t = bench_infinite_isp(args.infinite_isp, args.raw, args.peer_repeat)
    if t is not None:
        rows.append(("Infinite-ISP (config/configs.yml, 1920x1080 10-bit)", t))
    t = bench_rawpy(raw, args.peer_repeat)
    if t is not None:
        rows.append(("rawpy postprocess (LibRaw AHD, defaults)", t))
    ref = rows[0][1]
    print(f"\n{'pipeline':<56}{'s/frame':>10}{'× camforge':>12}")
    for name, t in rows:
        print(f"{name:<56}{t:>10.3f}{t / ref:>11.1f}×")
    print(f"\npeak RSS (this process) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"target ≤ 0.5 s/frame: {'met' if ref <= 0.5 else 'NOT met'}")
    if not args.no_50mp:
        r = subprocess.run([sys.executable, __file__, "--child-50mp", "--threads", str(args.threads), "--tile",
                            str(args.tile)], capture_output=True, text=True)
        print(r.stdout.strip() or r.stderr.strip()[-2000:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
