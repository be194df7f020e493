"""The ISP pipeline: stages built from an :class:`~camforge.isp.config.IspConfig`, run in order.

    >>> pipe = Pipeline.from_yaml("examples/isp/default.yaml")        # doctest: +SKIP
    >>> img = pipe(raw)                                               # Raw → Image (sRGB)
    >>> lin = pipe(raw, stop="ccm")                                   # linear sRGB
    >>> out = pipe(lin, start="tone")                                 # resume from an intermediate
    >>> pipe.timings                                                  # seconds per stage

Global statistics (auto white balance gains, auto exposure) are computed once per frame by
:meth:`Pipeline.statistics` on a binned copy of the raw and frozen for the run, so
:meth:`Pipeline.run_tiled` gives the same result as the untiled run (tiles overlap by the
pipeline's receptive field).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from camforge.config import validate
from camforge.errors import ConfigError, InputError
from camforge.isp._state import IspState, Stage
from camforge.isp.awb import WhiteBalance, binned_planes, color_planes, stats_bin
from camforge.isp.black_level import BlackLevel, normalize_white
from camforge.isp.ccm import ColorCorrection
from camforge.isp.color_space import ColorSpace
from camforge.isp.config import STAGES, IspConfig
from camforge.isp.demosaic import Demosaic
from camforge.isp.denoise import Denoise
from camforge.isp.dpc import Dpc, load_defect_map
from camforge.isp.lsc import LensShading, load_lsc
from camforge.isp.sharpen import Sharpen
from camforge.isp.tone import Tone, auto_exposure_gain, luminance
from camforge.types import Image, Raw


def build_stage(name: str, cfg: IspConfig) -> Stage:
    """The stage module for section ``name`` of ``cfg``."""
    c = getattr(cfg, name)
    if name == "black_level":
        return BlackLevel(c.black_level_dn, c.white_level_dn)
    if name == "dpc":
        dmap = load_defect_map(c.defect_map) if c.defect_map else None
        return Dpc(c.method, c.threshold, c.threshold_rel, c.threshold_texture, c.softness, dmap)
    if name == "lsc":
        gains = load_lsc(c.file) if c.file else c.gains
        return LensShading(gains=gains, radial=c.radial, strength=c.strength)
    if name == "awb":
        return WhiteBalance(c.method, c.gains, c.fallback, c.percentile, c.p, c.sigma_px, c.saturation,
                            c.clip_highlights)
    if name == "demosaic":
        if c.method == "learned":
            from camforge.isp.learned import LearnedDemosaic

            return LearnedDemosaic(c.weights, c.dark_noise_e, c.conversion_gain_dn_per_e)
        return Demosaic(c.method, c.refine, c.green_balance)
    if name == "denoise":
        return Denoise(c.method, c.strength, c.search_window, c.patch_size, c.spatial_sigma_px, c.domain)
    if name == "ccm":
        return ColorCorrection(c.source, c.matrix, c.output)
    if name == "tone":
        return Tone(c.curve, c.gamma, c.contrast, c.pivot, c.exposure_gain, c.auto_exposure, c.ae_percentile,
                    c.ae_target, c.clip)
    if name == "sharpen":
        return Sharpen(c.amount, c.sigma_px, c.threshold, c.mode)
    if name == "yuv":
        return ColorSpace(c.standard, c.range)
    raise ConfigError(f"unknown ISP stage {name!r}; stages are {', '.join(STAGES)}")


class Pipeline(nn.Module):
    """An ISP: the enabled stages of an :class:`IspConfig`, in the fixed order.

    Call it on a :class:`~camforge.types.Raw` (or, with ``start`` after demosaic, an
    :class:`~camforge.types.Image`). ``stages`` holds the stage modules (their tensors are
    ``nn.Parameter`` with ``requires_grad=False``; enable gradients on the ones to tune).
    """

    def __init__(self, config: IspConfig | dict | None = None):
        super().__init__()
        self.config = validate(IspConfig, config or {}, "ISP config")
        self.order: tuple[str, ...] = self._order(self.config)
        self.stages = nn.ModuleDict({n: build_stage(n, self.config) for n in self.order if getattr(self.config, n).enable})
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, cfg: IspConfig | dict | None = None) -> Pipeline:
        return cls(cfg)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Pipeline:
        return cls(IspConfig.from_yaml(path))

    @staticmethod
    def _order(cfg: IspConfig) -> tuple[str, ...]:
        names = list(STAGES)
        if cfg.denoise.domain == "raw":
            names.remove("denoise")
            names.insert(names.index("demosaic"), "denoise")
        return tuple(names)

    @property
    def enabled(self) -> list[str]:
        """Enabled stage names in processing order."""
        return [n for n in self.order if n in self.stages]

    # ------------------------------------------------------------------ running
    def _range(self, start: str | None, stop: str | None) -> list[str]:
        for s in (start, stop):
            if s is not None and s not in self.order:
                raise InputError(f"unknown ISP stage {s!r}; stages in order: {', '.join(self.order)}")
        i0 = 0 if start is None else self.order.index(start)
        i1 = len(self.order) - 1 if stop is None else self.order.index(stop)
        if i1 < i0:
            raise InputError(f"stop stage {stop!r} comes before start stage {start!r} (order: {', '.join(self.order)})")
        return list(self.order[i0 : i1 + 1])

    @staticmethod
    def _to_state(x) -> IspState:
        if isinstance(x, IspState):
            return x
        if isinstance(x, Raw):
            st = IspState.from_raw(x)
            if not bool(torch.isfinite(x.data).all()):
                raise InputError("raw frame contains NaN or infinite values; check the file and its format")
            if not bool((x.data != 0).any()):
                raise InputError(
                    "raw frame is all zeros: nothing to render (wrong file, offset, or byte order? "
                    "a dark frame needs no ISP)"
                )
            return st
        if isinstance(x, Image):
            if not bool(torch.isfinite(x.data).all()):
                raise InputError("image contains NaN or infinite values")
            return IspState.from_image(x)
        raise InputError(f"the ISP takes a camforge Raw (or an Image with start=...), got {type(x).__name__}")

    def _check_start(self, state: IspState, names: list[str]):
        first = names[0]
        raw_names = self.order[: self.order.index("demosaic") + 1]
        if state.domain == "raw" and first not in raw_names:
            raise InputError(f"a raw mosaic must start at a raw stage or demosaic ({', '.join(raw_names)}), not {first!r}")
        if state.domain != "raw" and first in raw_names:
            raise InputError(f"an image ({state.domain}) cannot start at the raw stage {first!r}; start after demosaic")

    def forward(self, x: Raw | Image, start: str | None = None, stop: str | None = None, *, stats: dict | None = None) -> Raw | Image:
        """Run the stages from ``start`` through ``stop`` (inclusive; default: all).

        ``stats`` overrides the frame statistics (``awb_gains`` [B, 3], ``exposure_gain`` [B]);
        to resume from an intermediate with exactly the statistics of the full run, pass
        ``stats=pipeline.statistics(raw)`` (otherwise auto exposure is measured on the
        intermediate image itself). Returns a :class:`Raw` (normalised, when stopped at a raw
        stage) or an :class:`Image`.
        """
        self.timings = {}
        state = self._to_state(x)
        names = self._range(start, stop)
        self._check_start(state, names)
        t0 = time.perf_counter()
        if stats is None:
            stats = self._statistics_state(x, state, names)
            if stats:
                self.timings["statistics"] = time.perf_counter() - t0
        state = state.replace(stats={**state.stats, **stats})
        out = self._execute(state, names)
        self.timings["total"] = time.perf_counter() - t0
        return self._output(out)

    @staticmethod
    def _output(state: IspState):
        state = state.replace(stats={k: v for k, v in state.stats.items() if k != "white_planes"})
        return state.to_output()

    def _execute(self, state: IspState, names: list[str]) -> IspState:
        for name in names:
            t0 = time.perf_counter()
            if state.domain == "raw" and not state.normalized and name != "black_level":
                state = normalize_white(state)
            stage = self.stages[name] if name in self.stages else None
            if stage is not None:
                state = stage.run(state)
            if stage is not None or name == "black_level":
                self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
        if state.domain == "raw" and not state.normalized:
            state = normalize_white(state)
        return state

    # ------------------------------------------------------------------ statistics
    def statistics(self, x: Raw | Image, start: str | None = None) -> dict[str, torch.Tensor]:
        """Frame statistics the run freezes: ``awb_gains`` [B, 3] and ``exposure_gain`` [B].

        Raw frames are binned to at most ``awb.stats_max_pixels`` per colour plane (exact,
        unbinned, below that) and taken through black level and lens shading; defect
        correction is not applied (the estimators are robust to a few defects).
        """
        state = self._to_state(x)
        return self._statistics_state(x, state, self._range(start, None))

    def _statistics_state(self, x, state: IspState, names: list[str]) -> dict[str, torch.Tensor]:
        awb: WhiteBalance | None = self.stages["awb"] if ("awb" in names and "awb" in self.stages) else None
        tone: Tone | None = self.stages["tone"] if ("tone" in names and "tone" in self.stages) else None
        want_ae = tone is not None and tone.auto_exposure
        if state.domain != "raw":
            if want_ae:
                lin = self._linear_image(state, names)
                return {"exposure_gain": auto_exposure_gain(lin, tone.ae_percentile, tone.ae_target)}
            return {}
        if state.meta.cfa == "MONO":
            awb = None
        need_awb = awb is not None and awb.needs_statistics(state.meta)
        if not need_awb and not want_ae:
            return {}
        rgb, valid = self._stats_planes(x, state, names)
        out: dict[str, torch.Tensor] = {}
        B = rgb.shape[0]
        if awb is not None:
            out["awb_gains"] = awb.gains_from_stats(rgb, valid, state.meta).detach().float().expand(B, 3).clone()
        if want_ae:
            g = out.get("awb_gains")
            wb = rgb * g[..., None, None] if g is not None else rgb
            if wb.shape[1] == 3 and "ccm" in self.stages and "ccm" in names:
                M = self.stages["ccm"].matrix_for(state.replace(stats=out)).to(wb.dtype)
                wb = torch.matmul(M if M.ndim == 3 else M[None], wb.flatten(2)).reshape(wb.shape)
            y = luminance(wb)
            y = torch.where(valid, y, torch.zeros_like(y)) if valid is not None else y
            out["exposure_gain"] = auto_exposure_gain(y, tone.ae_percentile, tone.ae_target)
        return out

    def _stats_planes(self, x, state: IspState, names: list[str]):
        """Binned, normalised (and shading-corrected) colour planes ``[B, 3|1, h, w]`` + valid mask."""
        n = state.n
        awb_cfg = self.config.awb
        ph, pw = state.height // n, state.width // n
        s = stats_bin(ph, pw, awb_cfg.stats_max_pixels)
        if isinstance(x, Raw):
            mosaic = x.data
        else:
            from camforge.isp._common import unpack

            mosaic = unpack(state.data, n)
        with torch.no_grad():
            pm = binned_planes(mosaic.float(), n, s, "mean") if s > 1 else state.data.detach().float()
            px = binned_planes(mosaic.float(), n, s, "max") if s > 1 else pm
            if not state.normalized:
                if "black_level" in names and "black_level" in self.stages:
                    b, w = self.stages["black_level"].levels(state.meta)
                else:
                    b, w = torch.zeros(n * n), torch.tensor(float(state.meta.white_level_dn))
                b = b.detach().float().reshape(1, -1, 1, 1)
                w = w.detach().float()
                pm = (pm - b) / (w - b)
                px = (px - b) / (w - b)
            sat = self.config.awb.saturation
            valid = (px < sat).all(1, keepdim=True)
            if "lsc" in names and "lsc" in self.stages:
                lsc: LensShading = self.stages["lsc"]
                off = (n * (s - 1) / 2.0, n * (s - 1) / 2.0)
                g = lsc.gain_planes(n, pm.shape[-2:], off, state.frame_size(), pm.dtype, step=n * s)
                pm = pm * g
            rgb = color_planes(pm, state.cfa) if state.meta.cfa != "MONO" else pm
        return rgb, valid

    def _linear_image(self, state: IspState, names: list[str]) -> torch.Tensor:
        x = state.data.detach()
        if state.domain == "camera" and "ccm" in names and "ccm" in self.stages:
            M = self.stages["ccm"].matrix_for(state)
            B, C, H, W = x.shape
            x = torch.matmul(M if M.ndim == 3 else M[None], x.reshape(B, C, -1)).reshape(B, C, H, W)
        return x

    # ------------------------------------------------------------------ tiling
    def halo(self, cfa: str, start: str | None = None, stop: str | None = None) -> int:
        """Overlap [px] that makes tiles exact: the summed receptive radius of the stages
        run, rounded up to the CFA tile."""
        from camforge.isp._common import tile_n

        n = tile_n(cfa)
        r = sum(self.stages[s].radius(cfa) for s in self._range(start, stop) if s in self.stages)
        return int(math.ceil((r + n) / n) * n)

    def run_tiled(self, raw: Raw, tile: int = 1024, overlap: int | None = None, *, start: str | None = None,
                  stop: str | None = None, progress: Callable[[int, int], None] | None = None) -> Raw | Image:
        """Run the pipeline tile by tile (bounded memory for very large frames).

        Args:
            tile: tile size [px] (rounded to the CFA tile).
            overlap: halo around each tile [px]; default :meth:`halo` (exact result).
            progress: called as ``progress(done, total)`` after each tile.

        Statistics come from the whole frame (:meth:`statistics`), so the result equals the
        untiled run to float rounding.
        """
        if not isinstance(raw, Raw):
            raise InputError(f"run_tiled takes a camforge Raw frame, got {type(raw).__name__}")
        state0 = self._to_state(raw)
        names = self._range(start, stop)
        self._check_start(state0, names)
        n = state0.n
        t = max(n, int(tile) // n * n)
        halo = self.halo(raw.meta.cfa, start, stop) if overlap is None else int(math.ceil(int(overlap) / n) * n)
        H, W = raw.height, raw.width
        self.timings = {}
        t_start = time.perf_counter()
        stats = self._statistics_state(raw, state0, names)
        if stats:
            self.timings["statistics"] = time.perf_counter() - t_start
        del state0
        timings: dict[str, float] = dict(self.timings)
        tiles = [(y, x) for y in range(0, H, t) for x in range(0, W, t)]
        out = None
        out_state = None
        for i, (y0, x0) in enumerate(tiles):
            y1, x1 = min(H, y0 + t), min(W, x0 + t)
            ry0, rx0 = max(0, y0 - halo), max(0, x0 - halo)
            ry1, rx1 = min(H, y1 + halo), min(W, x1 + halo)
            sub = Raw(raw.data[..., ry0:ry1, rx0:rx1], raw.meta)
            st = IspState.from_raw(sub).replace(origin=(ry0, rx0), full_size=(H, W), stats=dict(stats))
            self.timings = {}
            res = self._execute(st, names)
            for k, v in self.timings.items():
                timings[k] = timings.get(k, 0.0) + v
            o = self._output(res)
            data = o.data[..., y0 - ry0 : y0 - ry0 + (y1 - y0), x0 - rx0 : x0 - rx0 + (x1 - x0)]
            if out is None:
                out = torch.empty(data.shape[:2] + (H, W), dtype=data.dtype)
                out_state = o
            out[..., y0:y1, x0:x1] = data
            if progress is not None:
                progress(i + 1, len(tiles))
        timings["total"] = time.perf_counter() - t_start
        self.timings = timings
        if isinstance(out_state, Raw):
            return Raw(out, out_state.meta)
        return Image(out, out_state.color_space, out_state.meta)

    def extra_repr(self) -> str:
        return "stages: " + " → ".join(self.enabled)


def render_srgb(raw: Raw, config: IspConfig | dict | str | Path | None = None) -> Image:
    """Render a raw frame to an sRGB image ``[B, 3, H, W]`` in [0, 1] (default pipeline
    unless ``config`` — an :class:`IspConfig`, a dict or a YAML path — is given). A ``yuv``
    stage in the config is skipped: the result is always sRGB."""
    if isinstance(config, (str, Path)):
        pipe = Pipeline.from_yaml(config)
    else:
        pipe = Pipeline(config)
    stop = "sharpen"
    return pipe(raw, stop=stop)
