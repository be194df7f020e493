"""The CMOS image sensor as a differentiable module.

Signal chain per pixel (electrons ``_e``, digital numbers ``_dn``), following the linear
camera model of EMVA 1288 Release 4.0 (§2):

    μ_e   = t · (PRNU_map · Φ_e + I_dark(T) · D_map)        mean electrons
    e     = Poisson(μ_e)                                     shot noise (photon + dark)
    e     = min(e, full well)                                saturation
    e    += DSNU_map + column/row FPN + N(0, σ_read²) + row temporal noise
    y     = black level + K · g · e + N(0, σ_adc²)           K = conversion gain, g = analog gain
    y_dn  = clip(round(y), 0, 2^bits − 1)                    ADC

where Φ_e is the photo-electron rate from the optics (e⁻/s), I_dark(T) = I_ref ·
2^((T − T_ref)/T_d) is the dark current, and the fixed patterns (PRNU, DSNU, dark-current
spread, column/row FPN, defect pixels) are drawn once per sensor instance from ``seed``.
The temporal dark noise is σ_d² = σ_read² + σ_row² + (σ_adc / K g)² + I_dark t, and the
output obeys σ_y² = K² σ_d² + 1/12 + K (μ_y − μ_y.dark) up to saturation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from camforge.cfa import cfa_tile, color_index_map, n_colors
from camforge.errors import InputError
from camforge.optics.formation import SensorGeometry
from camforge.sensor.config import SensorConfig
from camforge.sensor.defects import DefectMap, make_defect_map
from camforge.sensor.noise import gaussian, shot_noise, ste_clamp, ste_round
from camforge.sensor.qe import qe_curves
from camforge.spectral import WavelengthGrid, photons_per_joule
from camforge.types import Raw, RawMeta

# CPU read-out: rows are processed in pieces of about _PIECE_PX pixels, grouped into blocks of
# about _BLOCK_PX pixels, each block with its own random stream; the layout depends only on the
# frame's shape, never on the threads. One piece per block was fastest on 2 cores (the Python
# overhead per torch op outweighs cache misses below ~2^18 pixels).
_PIECE_PX = 1 << 18
_BLOCK_PX = 1 << 18


def _p(x, dtype=torch.float32) -> nn.Parameter:
    return nn.Parameter(torch.as_tensor(float(x), dtype=dtype), requires_grad=False)


def _sample_cfa(e_rate: torch.Tensor, out: torch.Tensor, tile, r0: int, r1: int) -> None:
    """Rows ``r0:r1`` of the CFA mosaic of planes ``e_rate`` ``[..., C, H, W]`` into ``out``
    ``[..., r1 − r0, W]``: one strided copy per site of the ``n × n`` tile (row phases taken
    from absolute rows, so a piece may start mid-tile)."""
    n = tile.shape[0]
    for i in range(n):
        rs = r0 + (i - r0) % n  # first row of CFA row phase i at or after r0
        for j in range(n):
            out[..., rs - r0::n, j::n] = e_rate[..., int(tile[i, j]), rs:r1:n, j::n]


class Sensor(nn.Module):
    """A CMOS sensor built from a :class:`~camforge.sensor.config.SensorConfig`.

    Differentiable parameters (``nn.Parameter`` with ``requires_grad=False`` by default):
    ``qe_scale``, ``full_well_e``, ``conversion_gain_dn_per_e``, ``analog_gain``,
    ``read_noise_e``, ``adc_noise_dn``, ``dark_current_e_per_s``, ``temperature_c``,
    ``dsnu_e``, ``prnu_pct``, ``row_noise_e``, ``black_level_dn``.
    """

    def __init__(self, config: SensorConfig | dict):
        super().__init__()
        if isinstance(config, dict):
            config = SensorConfig(**config)
        self.config = config
        c = config
        k0 = c.conversion_gain_dn_per_e or (c.white_level_dn - c.black_level_dn) / c.full_well_e
        self.qe_scale = _p(1.0)
        self.full_well_e = _p(c.full_well_e)
        self.conversion_gain_dn_per_e = _p(k0)
        self.analog_gain = _p(c.analog_gain)
        self.read_noise_e = _p(c.read_noise_e)
        self.adc_noise_dn = _p(c.adc_noise_dn)
        self.dark_current_e_per_s = _p(c.dark_current_e_per_s)
        self.temperature_c = _p(c.temperature_c)
        self.dsnu_e = _p(c.dsnu_e)
        self.prnu_pct = _p(c.prnu_pct)
        self.row_noise_e = _p(c.row_noise_e)
        self.black_level_dn = _p(c.black_level_dn)
        self._fixed: dict | None = None

    @classmethod
    def from_emva1288(cls, result, base: SensorConfig | None = None, wavelength_nm: float | None = None) -> Sensor:
        """Digital twin: a sensor whose EMVA 1288 characterization reproduces ``result``
        (K, σ_d, η and μ_e.sat; DSNU, PRNU and dark current when measured).

        ``result`` is a :class:`camforge.characterize.Emva1288Result`; ``base`` supplies what
        EMVA 1288 does not measure (pixel pitch, CFA, QE curve shape, ...). The mapping lives
        in :mod:`camforge.characterize.twin` and is imported only when called.
        """
        from camforge.characterize.twin import sensor_config_from_emva1288

        return cls(sensor_config_from_emva1288(result, base, wavelength_nm))

    # ------------------------------------------------------------------ geometry & spectra
    @property
    def cfa(self) -> str:
        return self.config.cfa

    @property
    def n_channels(self) -> int:
        return n_colors(self.config.cfa)

    @property
    def white_level_dn(self) -> float:
        return self.config.white_level_dn

    def geometry(self) -> SensorGeometry:
        c = self.config
        a = c.pixel_pitch_um * math.sqrt(c.fill_factor)
        return SensorGeometry(c.width_px, c.height_px, c.pixel_pitch_um, (a, a))

    def qe(self, grid: WavelengthGrid) -> torch.Tensor:
        """Band-averaged QE ``[C, L]`` including the IR-cut filter and ``qe_scale``."""
        q = torch.tensor(qe_curves(self.config.qe, self.config.ir_cut, self.config.cfa, grid), dtype=self.qe_scale.dtype)
        return q * self.qe_scale

    def electron_weights(self, grid: WavelengthGrid) -> torch.Tensor:
        """Photo-electrons per second per pixel for 1 W·m⁻²·nm⁻¹ in each band, ``[C, L]``.

        w[c, λ] = QE_c(λ) · λ / (h c) · Δλ · p² (EMVA 1288: η relates electrons to photons
        on the whole pixel area p²; the fill factor only shapes the aperture MTF).
        """
        dtype = self.qe_scale.dtype
        wl = grid.tensor(dtype)
        area_m2 = (self.config.pixel_pitch_um * 1e-6) ** 2
        return self.qe(grid) * (photons_per_joule(wl) * grid.widths(dtype) * area_m2)[None]

    # ------------------------------------------------------------------ temperature
    def dark_current_at(self, temperature_c=None) -> torch.Tensor:
        """Mean dark current [e⁻/s] at ``temperature_c``: I_ref · 2^((T − T_ref) / T_d)."""
        t = self.temperature_c if temperature_c is None else torch.as_tensor(temperature_c, dtype=self.temperature_c.dtype)
        c = self.config
        return self.dark_current_e_per_s * torch.pow(2.0, (t - c.dark_current_ref_temp_c) / c.dark_current_doubling_k)

    def system_gain(self, analog_gain=None) -> torch.Tensor:
        """Overall system gain K [DN/e⁻] at the given analog gain."""
        g = self.analog_gain if analog_gain is None else torch.as_tensor(analog_gain, dtype=self.analog_gain.dtype)
        return self.conversion_gain_dn_per_e * g

    # ------------------------------------------------------------------ fixed patterns
    def fixed_pattern(self) -> dict:
        """Per-instance maps, drawn once from ``config.seed`` (cached).

        Keys: ``prnu`` (unit-σ pattern), ``dsnu`` (unit-σ pattern), ``dark`` (dark-current
        multiplier, mean 1), ``col``/``row`` (unit-σ offsets), ``defects`` (:class:`DefectMap`).
        """
        if self._fixed is not None:
            return self._fixed
        c = self.config
        H, W = c.height_px, c.width_px
        g = torch.Generator().manual_seed(int(c.seed) * 7919 + 17)
        prnu = torch.randn((H, W), generator=g)
        dsnu = torch.randn((H, W), generator=g)
        s = c.dark_current_spread
        dark = torch.exp(torch.randn((H, W), generator=g) * s - 0.5 * s * s) if s > 0 else torch.ones((H, W))
        col = torch.randn((W,), generator=g)
        row = torch.randn((H,), generator=g)
        defects = make_defect_map(c.defects, H, W, c.seed)
        self._fixed = {"prnu": prnu, "dsnu": dsnu, "dark": dark, "col": col, "row": row, "defects": defects}
        return self._fixed

    def defect_map(self) -> DefectMap:
        return self.fixed_pattern()["defects"]

    # ------------------------------------------------------------------ readout
    def mosaic(self, e_rate: torch.Tensor) -> torch.Tensor:
        """Pick each pixel's CFA colour from per-channel planes ``[B, C, H, W]`` → ``[B, 1, H, W]``
        (strided copies, one per site of the CFA tile)."""
        if e_rate.ndim != 4:
            raise InputError(f"electron rate must be [B, C, H, W], got {tuple(e_rate.shape)}")
        C = e_rate.shape[1]
        if C == 1:
            return e_rate
        if C != self.n_channels:
            raise InputError(f"sensor {self.cfa} has {self.n_channels} colour channels, got {C}")
        tile = cfa_tile(self.cfa)
        if e_rate.requires_grad:
            idx = color_index_map(self.cfa, e_rate.shape[-2], e_rate.shape[-1], e_rate.device)
            return torch.gather(e_rate, 1, idx[None, None].expand(e_rate.shape[0], 1, -1, -1))
        out = torch.empty((e_rate.shape[0], 1) + tuple(e_rate.shape[-2:]), dtype=e_rate.dtype, device=e_rate.device)
        _sample_cfa(e_rate, out[:, 0], tile, 0, e_rate.shape[-2])
        return out

    def forward(
        self,
        e_rate: torch.Tensor,
        exposure_s,
        *,
        analog_gain=None,
        seed: int | torch.Generator = 0,
        noise: bool = True,
        differentiable: bool = False,
        quantize: bool = True,
        window: tuple[int, int] | None = None,
    ) -> Raw:
        """Read out a raw frame from photo-electron rates ``[B, C, H, W]`` [e⁻/s].

        Args:
            exposure_s: integration time [s] (float or tensor, differentiable).
            analog_gain: overrides the configured analog gain [×].
            seed: temporal-noise seed (or a ``torch.Generator``); the same seed gives the
                same frame bit for bit.
            noise: ``False`` returns the noise-free mean (fixed patterns still applied).
            differentiable: reparameterized Gaussian shot noise instead of exact Poisson.
            quantize: round to integer DN (straight-through gradient).
            window: ``(x0, y0)`` pixel origin when ``e_rate`` covers only part of the sensor
                (fixed patterns and defects are taken from that part; the origin must be a
                multiple of the CFA tile so the CFA phase is unchanged).
        """
        c = self.config
        h, w = e_rate.shape[-2:]
        x0, y0 = (0, 0) if window is None else (int(window[0]), int(window[1]))
        tile = cfa_tile(c.cfa).shape[0]
        if x0 % tile or y0 % tile:
            raise InputError(f"window origin ({x0}, {y0}) must be a multiple of the {tile}x{tile} CFA tile")
        if x0 < 0 or y0 < 0 or x0 + w > c.width_px or y0 + h > c.height_px:
            raise InputError(
                f"electron image of {h} × {w} pixels at ({x0}, {y0}) does not fit the {c.height_px} × {c.width_px} sensor"
            )
        if self._fast_path(e_rate, exposure_s, analog_gain, differentiable):
            return self._readout_fast(e_rate, exposure_s, analog_gain, seed, noise, quantize, (x0, y0), window)
        if not torch.isfinite(e_rate).all():
            raise InputError("electron image contains NaN or infinite values")
        dtype = e_rate.dtype
        t = torch.as_tensor(exposure_s, dtype=dtype)
        if float(t.detach()) <= 0:
            raise InputError(f"exposure must be > 0 s, got {float(t.detach())}")
        gain = self.analog_gain if analog_gain is None else torch.as_tensor(analog_gain, dtype=dtype)
        gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
        fp = self.fixed_pattern()
        ys, xs = slice(y0, y0 + h), slice(x0, x0 + w)
        fp = {k: (v[ys, xs] if k in ("prnu", "dsnu", "dark") else v) for k, v in fp.items()}
        fp["col"] = fp["col"][xs]
        fp["row"] = fp["row"][ys]
        dm = fp["defects"]
        defects = DefectMap(hot=dm.hot[ys, xs], dead=dm.dead[ys, xs], stuck=dm.stuck[ys, xs])
        sig = self.mosaic(e_rate)  # [B, 1, H, W]
        B = sig.shape[0]
        prnu = 1 + (self.prnu_pct / 100.0) * fp["prnu"].to(dtype)
        prnu = torch.where(defects.dead, torch.zeros_like(prnu), prnu)
        dark_rate = self.dark_current_at() * fp["dark"].to(dtype)
        dark_rate = torch.where(defects.hot, torch.full_like(dark_rate, c.defects.hot_dark_current_e_per_s), dark_rate)
        mean_e = t * (sig * prnu + dark_rate)
        e = shot_noise(mean_e, gen, differentiable) if noise else mean_e
        fw = self.full_well_e
        if differentiable:
            # forward: min(e, full well); backward: identity in e (straight-through), and
            # d/d(full well) = 1 where the pixel is saturated
            clipped = (e > fw).detach()
            e = e + (torch.minimum(e, fw) - e).detach() + (fw - fw.detach()) * clipped
        else:
            e = torch.minimum(e, fw)
        offset = self.dsnu_e * fp["dsnu"].to(dtype)
        if c.column_fpn_e > 0:
            offset = offset + c.column_fpn_e * fp["col"].to(dtype)[None, :]
        if c.row_fpn_e > 0:
            offset = offset + c.row_fpn_e * fp["row"].to(dtype)[:, None]
        e = e + offset
        if noise:
            e = e + gaussian(e.shape, self.read_noise_e, gen, dtype)
            if float(self.row_noise_e.detach()) > 0 or self.row_noise_e.requires_grad:
                e = e + gaussian((B, 1, h, 1), self.row_noise_e, gen, dtype)
        K = self.conversion_gain_dn_per_e * gain
        y = self.black_level_dn + K * e
        if noise and (float(self.adc_noise_dn.detach()) > 0 or self.adc_noise_dn.requires_grad):
            y = y + gaussian(y.shape, self.adc_noise_dn, gen, dtype)
        white = float(c.white_level_dn)
        if quantize:
            y = ste_round(y)
        y = ste_clamp(y, 0.0, white)
        if defects.stuck.any():
            stuck_val = white if c.defects.stuck_dn is None else float(c.defects.stuck_dn)
            y = torch.where(defects.stuck, torch.full_like(y, stuck_val), y)
        meta = RawMeta(
            cfa=c.cfa,
            black_level_dn=float(self.black_level_dn.detach()),
            white_level_dn=white,
            bit_depth=c.adc_bits,
            exposure_s=float(t.detach()),
            analog_gain=float(torch.as_tensor(gain).detach()),
            pixel_pitch_um=c.pixel_pitch_um,
            conversion_gain_dn_per_e=float(K.detach()),
            source="simulated",
        )
        if window is not None:
            meta.extra["window"] = [x0, y0, int(w), int(h)]
        return Raw(y, meta)

    # ------------------------------------------------------------------ fast read-out
    def _fast_path(self, e_rate, exposure_s, analog_gain, differentiable: bool) -> bool:
        """True when no gradient is needed: the read-out may then work in place."""
        if differentiable:
            return False
        if not torch.is_grad_enabled():
            return True
        tensors = [e_rate, exposure_s, analog_gain, *self.parameters()]
        return not any(isinstance(x, torch.Tensor) and x.requires_grad for x in tensors)

    def _maps(self, x0: int, y0: int, h: int, w: int, dtype) -> dict:
        """Per-pixel gain (PRNU, dead pixels), dark rate (spread, hot pixels) and offsets (DSNU,
        column/row FPN) of a window, cached for the current parameter values."""
        c = self.config
        key = (x0, y0, h, w, dtype, float(self.prnu_pct), float(self.dark_current_at()), float(self.dsnu_e))
        cache = self.__dict__.setdefault("_map_cache", {})
        if key in cache:
            return cache[key]
        fp = self.fixed_pattern()
        ys, xs = slice(y0, y0 + h), slice(x0, x0 + w)
        dm = fp["defects"]
        dead, hot, stuck = dm.dead[ys, xs], dm.hot[ys, xs], dm.stuck[ys, xs]
        gain = (1 + float(self.prnu_pct) / 100.0 * fp["prnu"][ys, xs].to(dtype)).masked_fill_(dead, 0.0)
        dark = (float(self.dark_current_at()) * fp["dark"][ys, xs].to(dtype)).masked_fill_(hot, c.defects.hot_dark_current_e_per_s)
        offset = float(self.dsnu_e) * fp["dsnu"][ys, xs].to(dtype)
        if c.column_fpn_e > 0:
            offset += c.column_fpn_e * fp["col"][xs].to(dtype)[None, :]
        if c.row_fpn_e > 0:
            offset += c.row_fpn_e * fp["row"][ys].to(dtype)[:, None]
        if len(cache) > 8:
            cache.clear()
        cache[key] = {"gain": gain, "dark": dark, "offset": offset, "stuck": stuck if bool(stuck.any()) else None}
        return cache[key]

    @torch.no_grad()
    def _readout_fast(self, e_rate, exposure_s, analog_gain, seed, noise, quantize, origin, window) -> Raw:
        """The read-out chain of :meth:`forward` without autograd, in place.

        Same model and distributions; the read noise (e⁻, before the gain) and the ADC noise
        (DN, after it) are drawn as one Gaussian of variance (K σ_read)² + σ_adc² — the sum of
        two independent Gaussians — so a seed gives a different (equally valid) frame than the
        differentiable path. On the CPU the whole chain runs fused per piece of rows on the
        worker threads (:meth:`_chain_blocks`, exact Poisson by the "quantile" method); on
        other devices as whole-frame tensor ops.
        """
        from camforge.sensor.poisson import poisson

        c = self.config
        x0, y0 = origin
        h, w = e_rate.shape[-2:]
        dtype = e_rate.dtype
        t = float(torch.as_tensor(exposure_s))
        if not t > 0:
            raise InputError(f"exposure must be > 0 s, got {t}")
        gain = float(self.analog_gain) if analog_gain is None else float(torch.as_tensor(analog_gain))
        gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
        m = self._maps(x0, y0, h, w, dtype)
        if e_rate.device.type == "cpu":
            if e_rate.ndim != 4:
                raise InputError(f"electron rate must be [B, C, H, W], got {tuple(e_rate.shape)}")
            y = self._chain_blocks(e_rate, m, t, gain, gen, noise, quantize)
            return self._raw(y, t, gain, origin, window, m)
        sig = self.mosaic(e_rate)
        sig = sig.clone() if sig.data_ptr() == e_rate.data_ptr() else sig
        if not bool(torch.isfinite(sig.sum())):  # a NaN or infinity anywhere makes the sum non-finite
            raise InputError("electron image contains NaN or infinite values")
        mu = sig.mul_(m["gain"]).add_(m["dark"]).mul_(t).clamp_(min=0.0)  # mean electrons
        e = poisson(mu, gen) if noise else mu
        e.clamp_(max=float(self.full_well_e)).add_(m["offset"])
        K = float(self.conversion_gain_dn_per_e) * gain
        y = e.mul_(K).add_(float(self.black_level_dn))
        if noise:
            sd = math.hypot(K * float(self.read_noise_e), float(self.adc_noise_dn))
            if sd > 0:
                y.add_(torch.randn(y.shape, generator=gen, dtype=dtype), alpha=sd)
            if float(self.row_noise_e) > 0:
                y.add_(torch.randn((y.shape[0], 1, h, 1), generator=gen, dtype=dtype), alpha=K * float(self.row_noise_e))
        white = float(c.white_level_dn)
        if quantize:
            y.round_()
        y.clamp_(0.0, white)
        return self._raw(y, t, gain, origin, window, m)

    def _raw(self, y, t, gain, origin, window, m) -> Raw:
        """Wrap a read-out frame (stuck pixels set here) with its metadata."""
        c = self.config
        white = float(c.white_level_dn)
        x0, y0 = origin
        h, w = y.shape[-2:]
        K = float(self.conversion_gain_dn_per_e) * gain
        if m["stuck"] is not None:
            y.masked_fill_(m["stuck"], white if c.defects.stuck_dn is None else float(c.defects.stuck_dn))
        meta = RawMeta(cfa=c.cfa, black_level_dn=float(self.black_level_dn), white_level_dn=white,
                       bit_depth=c.adc_bits, exposure_s=t, analog_gain=gain, pixel_pitch_um=c.pixel_pitch_um,
                       conversion_gain_dn_per_e=K, source="simulated")
        if window is not None:
            meta.extra["window"] = [x0, y0, int(w), int(h)]
        return Raw(y, meta)

    def _chain_blocks(self, e_rate, m, t, gain, gen, noise, quantize):
        """The whole read-out chain of a CPU frame, fused per piece of rows: returns [B, 1, H, W].

        Each piece (≈ 256 k pixels) goes through CFA sampling of ``e_rate`` → mean
        electrons → exact Poisson (:func:`~camforge.sensor.poisson.quantile_fill_`) → full-well
        clip → DSNU/FPN offsets → gain and black level → Gaussian read + ADC noise → row noise →
        rounding → clipping, on the worker threads. Blocks of rows get independent random
        streams derived from ``gen`` (after the row noise is drawn from it), so a seed gives
        the same frame whatever the number of threads.
        """
        from camforge.sensor.poisson import MAX_RATE, block_streams, quantile_fill_, run_blocks

        c = self.config
        B, C, H, W = e_rate.shape
        if C not in (1, self.n_channels):
            raise InputError(f"sensor {self.cfa} has {self.n_channels} colour channels, got {C}")
        dtype = e_rate.dtype
        sig = torch.empty((B, 1, H, W), dtype=dtype)
        tile = cfa_tile(self.cfa)
        K = float(self.conversion_gain_dn_per_e) * gain
        black, white, fw = float(self.black_level_dn), float(c.white_level_dn), float(self.full_well_e)
        sd = math.hypot(K * float(self.read_noise_e), float(self.adc_noise_dn)) if noise else 0.0
        row = None
        if noise and float(self.row_noise_e) > 0:
            row = torch.randn((B, H, 1), generator=gen, dtype=dtype).mul_(K * float(self.row_noise_e))
        rows_piece = max(1, _PIECE_PX // W)
        rows_block = rows_piece * max(1, _BLOCK_PX // (rows_piece * W))
        blocks = [(b, r) for b in range(B) for r in range(0, H, rows_block)]
        streams = block_streams(len(blocks), gen) if noise else [None] * len(blocks)
        gain_map, dark_map, offset = m["gain"], m["dark"], m["offset"]

        def work(j: int) -> None:
            b, r_block = blocks[j]
            st = streams[j]
            for r0 in range(r_block, min(r_block + rows_block, H), rows_piece):
                r1 = min(r0 + rows_piece, H)
                x = sig[b, 0, r0:r1]
                if C == 1:
                    x.copy_(e_rate[b, 0, r0:r1])
                else:
                    _sample_cfa(e_rate[b], x, tile, r0, r1)
                x.mul_(gain_map[r0:r1]).add_(dark_map[r0:r1]).mul_(t).clamp_(min=0.0)  # mean e⁻
                lo, hi = (float(v) for v in torch.aminmax(x))  # NaN and ±inf propagate into both
                if not (math.isfinite(lo) and math.isfinite(hi)):
                    raise InputError("electron image contains NaN or infinite values")
                if noise:
                    if hi > MAX_RATE:
                        raise InputError(f"mean signal above {MAX_RATE:g} e⁻ in a pixel: the electron image or the "
                                         "exposure is far too large for shot-noise sampling")
                    quantile_fill_(x.view(-1), st)
                x.clamp_(max=fw).add_(offset[r0:r1]).mul_(K).add_(black)
                if sd > 0:
                    x.add_(torch.randn(x.shape, generator=st.torch, dtype=dtype), alpha=sd)
                if row is not None:
                    x.add_(row[b, r0:r1])
                if quantize:
                    x.round_()
                x.clamp_(0.0, white)

        run_blocks(len(blocks), work)
        return sig

    # ------------------------------------------------------------------ figures
    def temporal_dark_noise_e(self, exposure_s: float, analog_gain=None) -> float:
        """σ_d [e⁻] the model predicts: √(σ_read² + σ_row² + (σ_adc/K)² + I_dark·t) (no quantization)."""
        K = float(self.system_gain(analog_gain).detach())
        v = (float(self.read_noise_e) ** 2 + float(self.row_noise_e) ** 2 + (float(self.adc_noise_dn) / K) ** 2
             + float(self.dark_current_at().detach()) * exposure_s)
        return math.sqrt(v)

    def figures(self, exposure_s: float = 0.01) -> dict:
        """Headline sensor figures the model implies (for reports and checks)."""
        K = float(self.system_gain().detach())
        sd = self.temporal_dark_noise_e(exposure_s)
        fw = float(self.full_well_e)
        sat_e = min(fw, (self.white_level_dn - float(self.black_level_dn)) / K)
        return {
            "K_dn_per_e": K,
            "sigma_d_e": sd,
            "saturation_e": sat_e,
            "dynamic_range_db": 20 * math.log10(sat_e / max(sd, 1e-9)),
            "snr_max_db": 20 * math.log10(math.sqrt(sat_e)),
        }
