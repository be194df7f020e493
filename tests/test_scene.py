"""Scenes in physical units, checked against colour-science colorimetry."""

from __future__ import annotations

import math

import colour
import numpy as np
import pytest
import torch

from camforge.errors import InputError
from camforge.scene import (
    Scene, colorchecker, dead_leaves, dot_grid, flat_field, natural_image, siemens_star, slanted_edge, step_chart,
)
from camforge.spectral import illuminant_irradiance, rgb_grid, spectral_grid


@pytest.mark.parametrize("name", ["D65", "A", "F2", "F11", "LED"])
def test_illuminant_is_scaled_to_the_requested_illuminance(name):
    g = spectral_grid(400, 700, 10)
    E = illuminant_irradiance(name, 500.0, g).double().numpy()
    # colour-science photometry on the band-sampled spectrum (10 nm, 400–700 nm)
    sd = colour.SpectralDistribution(dict(zip(g.wavelengths_nm, E)))
    lux = colour.luminous_flux(sd)  # K_m ∫ E V dλ
    # 400–700 nm holds > 99.8 % of the photopic response of these lights
    assert lux == pytest.approx(500.0, rel=0.01)


def test_flat_field_radiance_is_irradiance_over_pi():
    s = flat_field(lux=1000.0, reflectance=1.0)
    E = illuminant_irradiance("D65", 1000.0, s.grid)
    np.testing.assert_allclose(s.radiance(4, 4)[0, :, 2, 2].numpy() * math.pi, E.numpy(), rtol=1e-6)


def _xyz(refl_bands, grid, illuminant="D65"):
    """XYZ (Y of the perfect diffuser = 100) of band reflectances, by colour-science."""
    sd = colour.SpectralDistribution(dict(zip(grid.wavelengths_nm, refl_bands)))
    return colour.sd_to_XYZ(sd, illuminant=colour.SDS_ILLUMINANTS[illuminant])


def test_colorchecker_reflectances_reproduce_colour_science_lab():
    scene = colorchecker(compact=False)
    spectra = scene.spectra[0].double().numpy()  # [26, L] = ρ E / π
    E = illuminant_irradiance("D65", 100.0, scene.grid).double().numpy()
    refl = spectra * math.pi / E
    sds = colour.SDS_COLOURCHECKERS["BabelColor Average"]
    wp = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
    worst = 0.0
    for i, name in enumerate(sds):
        ours = colour.XYZ_to_Lab(_xyz(refl[2 + i], scene.grid) / 100, wp)
        ref = colour.XYZ_to_Lab(colour.sd_to_XYZ(sds[name], illuminant=colour.SDS_ILLUMINANTS["D65"]) / 100, wp)
        worst = max(worst, float(colour.delta_E(ours, ref, method="CIE 2000")))
    assert worst < 0.5  # 10 nm band averaging of smooth reflectances


def test_compacted_colorchecker_keeps_the_radiance():
    a = colorchecker(compact=False).radiance(48, 64)
    b = colorchecker(compact=True)
    assert b.n_maps < 26
    rb = b.radiance(48, 64)
    assert float((rb - a).abs().max() / a.abs().max()) < 2e-3


def test_colorchecker_truth_layout():
    s = colorchecker(aspect=0.75)
    p = s.truth["patches"]
    assert len(p) == 24 and p[0]["name"] == "dark skin" and p[18]["name"].startswith("white")
    # 6 columns left to right, 4 rows top to bottom
    assert p[0]["center"][0] < p[5]["center"][0] and p[0]["center"][1] < p[18]["center"][1]
    m = s.sample(300, 400)
    # patch 18 (white) is brighter than patch 23 (black) where the truth says they are
    def at(patch):
        u, v = patch["center"]
        col = int((u + 1) / 2 * 400)
        row = int((v + 0.75) / 1.5 * 300)
        return float(torch.einsum("bkhw,bkl->blhw", m[..., row : row + 1, col : col + 1], s.spectra).sum())
    assert at(p[18]) > 20 * at(p[23])


def test_natural_image_spectra_reproduce_the_srgb_colours():
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0.05, 0.95, (8, 8, 3))
    s = natural_image(rgb, lux=100.0, encoding="linear")
    L = s.radiance()[0].double().numpy()  # [L, 8, 8]
    E = illuminant_irradiance("D65", 100.0, s.grid).double().numpy()
    refl = L * math.pi / E[:, None, None]
    worst = 0.0
    for i in range(8):
        for j in range(8):
            xyz = _xyz(refl[:, i, j], s.grid) / 100
            back = colour.XYZ_to_sRGB(xyz, apply_cctf_encoding=False)
            worst = max(worst, float(np.abs(back - rgb[i, j]).max()))
    assert worst < 0.03  # Mallett–Yuksel basis round trip under D65, 10 nm bands


def test_slanted_edge_truth():
    s = slanted_edge(angle_deg=5.0, layout="field", aspect=0.75)
    assert len(s.truth["squares"]) == 9 and len(s.truth["edges"]) == 36
    fields = sorted({round(e["field"], 2) for e in s.truth["edges"]})
    assert fields[0] < 0.2 and fields[-1] > 0.7
    assert {e["orientation"] for e in s.truth["edges"]} == {"sagittal", "meridional"}
    single = slanted_edge(angle_deg=5.0, layout="single")
    m = single.sample(64, 64)[0, 0]  # light-material coverage
    assert m[:, :10].mean() < 0.01 and m[:, -10:].mean() > 0.99
    with pytest.raises(InputError):
        slanted_edge(angle_deg=0.0)
    with pytest.raises(InputError):
        slanted_edge(contrast=1.0)


def test_step_chart_densities_map_to_reflectance():
    s = step_chart(n_steps=10, max_density=2.0)
    p = s.truth["patches"]
    assert [round(x["reflectance"], 6) for x in p] == [round(10 ** -d, 6) for d in np.linspace(0, 2, 10)]


def test_dead_leaves_is_deterministic_and_covers_the_plane():
    a = dead_leaves(size_px=128, seed=3)
    b = dead_leaves(size_px=128, seed=3)
    c = dead_leaves(size_px=128, seed=4)
    assert torch.equal(a.maps, b.maps) and not torch.equal(a.maps, c.maps)
    m = a.maps[0, 0]
    assert 0.05 <= float(m.min()) and float(m.max()) <= 0.85
    assert a.truth["n_leaves"] > 100


def test_siemens_star_and_dot_grid_render():
    st = siemens_star(n_cycles=16).sample(96, 128)[0, 1]  # square samples (aspect 0.75)
    ring = []
    for k in range(64):
        th = 2 * math.pi * k / 64
        ring.append(float(st[48 + int(20 * math.sin(th)), 64 + int(20 * math.cos(th))]))
    assert max(ring) > 0.9 and min(ring) < 0.1  # alternating spokes on a circle
    g = dot_grid(n_cols=9)
    assert len(g.truth["dots"]) == g.truth["n_cols"] * g.truth["n_rows"]


def test_rgb_grid_and_bad_input():
    s = flat_field(spectral=False)
    assert s.grid == rgb_grid() and s.spectra.shape == (1, 1, 3)
    with pytest.raises(InputError):
        flat_field(lux=-1)
    with pytest.raises(InputError):
        Scene(spectra=torch.full((1, 1, 3), float("nan")), grid=rgb_grid(), maps=torch.ones(1, 1, 4, 4))
    with pytest.raises(InputError):
        Scene(spectra=torch.ones(1, 2, 3), grid=rgb_grid(), maps=torch.ones(1, 1, 4, 4))
    with pytest.raises(InputError):
        illuminant_irradiance("D66", 100, rgb_grid())
