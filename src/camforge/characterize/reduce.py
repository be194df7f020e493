"""Reduce an EMVA 1288 stack to the statistics the standard needs, per channel.

Temporal points (two frames A and B, EMVA 1288 Release 4.0 Linear, §6.1 / eqs. for the
mean and the temporal variance)::

    μ_y  = 1/(2N) Σ (y_A + y_B)
    σ²_y = 1/(2N) Σ [(y_A − μ_A) − (y_B − μ_B)]²  =  ½ · var(y_A − y_B)

(the difference of two frames removes every fixed pattern; subtracting the mean
difference removes a drift of the light source or offset between the two frames).

Spatial stacks (L frames): the average frame ⟨y⟩ = 1/L Σ y_l per pixel and the mean of the
per-pixel temporal variance σ²_y.stack = mean over pixels of 1/(L−1) Σ (y_l − ⟨y⟩)²,
used by :mod:`~camforge.characterize.spatial` to correct the spatial variance of ⟨y⟩ for
the temporal noise left in it (R4 §8.2).

Colour sensors are reduced per CFA site plane (``frame[r::th, c::tw]``): each channel is a
regular sub-image, so row/column decompositions and spectrograms stay defined.
The work is vectorised per frame and frames are decoded in parallel threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from camforge.characterize.frames import read_frame
from camforge.characterize.stack import Emva1288Stack, Emva1288Step, channel_names, site_offsets
from camforge.errors import InputError


@dataclass(frozen=True)
class TemporalPoint:
    """Statistics of one temporal step, one value per channel (arrays ``[C]``)."""

    kind: str
    exposure_s: float
    photons_per_px: float
    temperature_c: float | None
    index: int
    mean_dn: np.ndarray
    var_dn2: np.ndarray
    mean_a_dn: np.ndarray
    mean_b_dn: np.ndarray
    saturated_fraction: np.ndarray
    n_pixels: np.ndarray


@dataclass(frozen=True)
class SpatialAverage:
    """The average of a spatial stack per channel and its residual temporal variance."""

    kind: str
    exposure_s: float
    photons_per_px: float
    temperature_c: float | None
    index: int
    n_frames: int
    mean_image_dn: tuple  # one float64 array [Hc, Wc] per channel
    stack_var_dn2: np.ndarray  # [C]: σ²_y.stack, mean over pixels of the temporal variance


@dataclass(frozen=True)
class StackStatistics:
    """Everything the analysis needs from the frames (small: no frame is kept)."""

    stack: Emva1288Stack
    channels: tuple
    temporal: tuple
    spatial: tuple
    #: :func:`~camforge.characterize.spatial.spatial_parts` computed while the temporal pairs
    #: decoded, keyed by (bright step index, dark step index, channel index)
    spatial_parts: dict = field(default_factory=dict)


def _planes(a: np.ndarray, tile, offsets):
    th, tw = tile
    if (th, tw) == (1, 1):
        return [a]
    return [a[r::th, c::tw] for r, c in offsets]


class _Buffers(threading.local):
    """Per-thread scratch arrays, reused from frame to frame: fresh multi-megabyte temporaries
    cost more in page faults than the arithmetic done in them."""

    def get(self, name: str, shape, dtype) -> np.ndarray:
        cache = self.__dict__.setdefault("cache", {})
        key = (name, tuple(shape), np.dtype(dtype).str)
        buf = cache.get(key)
        if buf is None:
            buf = cache[key] = np.empty(shape, dtype)
        return buf


_BUFFERS = _Buffers()


def _pair_statistics(a: np.ndarray, b: np.ndarray, tile, offsets, white: int):
    diff = np.subtract(a, b, out=_BUFFERS.get("diff", a.shape, np.float64), dtype=np.float64)
    means_a, means_b, vars_, sat, npx = [], [], [], [], []
    for pa, pb, pd in zip(_planes(a, tile, offsets), _planes(b, tile, offsets), _planes(diff, tile, offsets)):
        n = pa.size
        sa = float(pa.sum(dtype=np.int64))
        sb = float(pb.sum(dtype=np.int64))
        # numpy's own sum of products: BLAS ddot would start its thread pool, which busy-waits and,
        # on a shared machine, costs ten times the arithmetic
        ss = float(np.einsum("ij,ij->", pd, pd))
        md = (sa - sb) / n
        means_a.append(sa / n)
        means_b.append(sb / n)
        vars_.append(0.5 * (ss / n - md * md))
        sat.append((np.count_nonzero(pa >= white) + np.count_nonzero(pb >= white)) / (2.0 * n))
        npx.append(n)
    ma, mb = np.array(means_a), np.array(means_b)
    return 0.5 * (ma + mb), np.array(vars_), ma, mb, np.array(sat), np.array(npx)


def reduce_stack(stack: Emva1288Stack, *, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None, defect_sigma: float = 6.0) -> StackStatistics:
    """Read every frame once and reduce the stack to :class:`StackStatistics`.

    The spatial stacks decode first; when the data hold one bright spatial stack, its
    K-independent analysis (:func:`~camforge.characterize.spatial.spatial_parts`) then runs
    on one more thread while the temporal pairs decode.

    Args:
        stack: the data set.
        workers: threads decoding frames (default: up to 4, at most the CPU count).
        progress: called as ``progress(frames_done, frames_total)``.
        defect_sigma: the defect-map threshold the analysis will use (for that early start).

    Raises:
        InputError / FormatError: a frame is missing, unreadable, of the wrong size or bit depth.
    """
    tile, offsets = site_offsets(stack.cfa)
    shape = (stack.height_px, stack.width_px)
    bits = stack.bits
    white = (1 << bits) - 1
    total = stack.n_frames
    done = [0]

    def tick(n=1):
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    def read(src, slot=None):
        out = _BUFFERS.get(slot, shape, np.uint16) if slot else None
        return read_frame(src, bits, shape, out=out)

    def temporal_job(step: Emva1288Step) -> TemporalPoint:
        a, b = read(step.frames[0], "a"), read(step.frames[1], "b")
        mean, var, ma, mb, sat, npx = _pair_statistics(a, b, tile, offsets, white)
        return TemporalPoint(step.kind, step.exposure_s, step.photons_per_px, step.temperature_c, step.index,
                             mean, var, ma, mb, sat, npx)

    n_workers = workers or min(4, os.cpu_count() or 1)
    temporal_steps = [s for s in stack.steps if not s.is_spatial]
    spatial_steps = [s for s in stack.steps if s.is_spatial]
    if not temporal_steps:
        raise InputError("the data set has no temporal steps (steps with two frames); "
                         "photon transfer needs bright and dark pairs")
    def spatial_job(frames) -> tuple[np.ndarray, np.ndarray]:
        """Partial sums Σy and Σy² of some frames of a spatial stack."""
        s = np.zeros(shape, np.float64)
        q = np.zeros(shape, np.float64)
        sq = _BUFFERS.get("sq", shape, np.float64)
        for src in frames:
            a = read(src, "a")
            np.add(s, a, out=s)
            np.multiply(a, a, out=sq, dtype=np.float64)
            q += sq
        return s, q

    temporal: list[TemporalPoint] = []
    spatial: list[SpatialAverage] = []
    pool = ThreadPoolExecutor(max_workers=n_workers)
    early = None  # the thread of the early spatial analysis
    parts_futs: dict = {}
    try:
        # everything is submitted at once, the spatial stacks first: their analysis can then
        # start while the temporal pairs decode
        s_futs = []
        # split a stack between the threads only while the partial sums stay small (2 float64 frames each)
        n_parts = n_workers if stack.width_px * stack.height_px <= 4_000_000 else 1
        for step in spatial_steps:
            parts = [step.frames[k::n_parts] for k in range(n_parts)]
            s_futs.append([(pool.submit(spatial_job, p), len(p)) for p in parts if p])
        t_futs = [pool.submit(temporal_job, st) for st in temporal_steps]
        for step, futs in zip(spatial_steps, s_futs):
            L = len(step.frames)
            s = q = None
            for f, n in futs:
                ps, pq = f.result()
                s, q = (ps, pq) if s is None else (s + ps, q + pq)
                tick(n)
            means, svar = [], []
            for ps, pq in zip(_planes(s, tile, offsets), _planes(q, tile, offsets)):
                avg = ps / L
                var_px = (pq - ps * avg) / max(L - 1, 1)
                means.append(np.ascontiguousarray(avg))
                svar.append(float(var_px.mean()))
            spatial.append(SpatialAverage(step.kind, step.exposure_s, step.photons_per_px, step.temperature_c,
                                          step.index, L, tuple(means), np.array(svar)))
        pair = _early_pair(spatial)
        if pair is not None:
            from camforge.characterize.spatial import spatial_parts

            b, d = pair
            early = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camforge-emva-spatial")
            for ci in range(len(b.mean_image_dn)):
                parts_futs[(b.index, d.index, ci)] = early.submit(
                    spatial_parts, b.mean_image_dn[ci], float(b.stack_var_dn2[ci]), b.n_frames, d.mean_image_dn[ci],
                    float(d.stack_var_dn2[ci]), d.n_frames, defect_sigma=defect_sigma)
        for f in t_futs:
            temporal.append(f.result())
            tick(2)
        spatial_done = {k: f.result() for k, f in parts_futs.items()}
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # a bad frame: do not decode the rest
        if early is not None:
            early.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if early is not None:
        early.shutdown(wait=True)
    return StackStatistics(stack, tuple(channel_names(stack.cfa)), tuple(temporal), tuple(spatial), spatial_done)


def _early_pair(spatial) -> tuple | None:
    """The (bright, dark) spatial stacks the analysis will use, when that is already certain:
    a single bright stack, and the dark stack at its temperature nearest in exposure."""
    brights = [s for s in spatial if s.kind == "bright"]
    if len(brights) != 1:
        return None  # several: the analysis picks the one nearest 50 % of saturation
    b = brights[0]
    darks = [s for s in spatial if s.kind == "dark" and s.temperature_c == b.temperature_c]
    if not darks:
        return None
    return b, min(darks, key=lambda s: abs(s.exposure_s - b.exposure_s))


__all__ = ["SpatialAverage", "StackStatistics", "TemporalPoint", "reduce_stack"]
