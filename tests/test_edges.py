"""Automatic edge finding (camforge.metrics.edges) on the simulator's slanted-edge chart.

Truth: ``scene.truth["edges"]`` (centre, normal, direction, orientation of every square
side), mapped to pixels with ``cam.scene_to_pixel``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from camforge.camera import Camera
from camforge.errors import InputError, MeasurementError
from camforge.metrics.edges import find_edges, measure_edges
from camforge.metrics.sfr import sfr


@pytest.fixture(scope="module")
def chart():
    cam = Camera({"name": "t", "lens": {"focal_length_mm": 4.4, "f_number": 2.0},
                  "sensor": {"width_px": 640, "height_px": 480, "pixel_pitch_um": 1.4, "full_well_e": 6000}})
    scene = cam.chart("slanted-edge", layout="field", spectral=False)
    return cam, scene, cam.capture(scene, seed=0)


def _truth_px(cam, scene):
    out = []
    for t in scene.truth["edges"]:
        col, row = cam.scene_to_pixel(scene, t["center"][0], t["center"][1])
        out.append((float(col), float(row), t))
    return out


def test_every_chart_edge_found_on_the_raw(chart):
    cam, scene, raw = chart
    res = measure_edges(raw)
    truth = _truth_px(cam, scene)
    assert len(res.edges) == len(truth) == 36
    for col, row, t in truth:
        e = min(res.edges, key=lambda m: math.hypot(m.center_xy_px[0] - col, m.center_xy_px[1] - row))
        assert math.hypot(e.center_xy_px[0] - col, e.center_xy_px[1] - row) < 4.0
        assert e.direction == t["direction"]
        assert e.orientation == t["orientation"]
        assert e.angle_deg == pytest.approx(t["angle_deg"], abs=0.5)
        assert e.field == pytest.approx(t["field"], abs=0.03)
        n = np.array(e.sfr.normal_xy)
        assert n @ np.array(t["normal"]) > 0.99  # dark → light, as the truth


def test_edges_found_on_rgb_and_grey(chart):
    cam, scene, _ = chart
    e_rate = cam.electron_rate(scene)[0].numpy().transpose(1, 2, 0)  # (H, W, 3), no CFA
    assert len(find_edges(e_rate)) == 36
    assert len(measure_edges(e_rate[..., 1]).edges) == 36


def test_region_keeps_image_coordinates(chart):
    _, _, raw = chart
    full = measure_edges(raw)
    part = measure_edges(raw, region=(0, 0, 320, 240))  # top-left quadrant
    assert 0 < len(part.edges) < len(full.edges)
    for e in part.edges:
        twin = min(full.edges, key=lambda m: math.dist(m.center_xy_px, e.center_xy_px))
        d = np.subtract(e.center_xy_px, twin.center_xy_px)
        # same edge: a region boundary can clip the ROI and move it along the edge, but the
        # fitted edge points of both measurements lie on one line (offset along the normal)
        assert np.linalg.norm(d) < 20.0
        # exact check of the coordinates: the same ROI measured on the whole image (whole-image
        # coordinates) gives the same fitted edge, to rounding
        ref = sfr(raw, e.edge.roi)
        np.testing.assert_allclose(e.sfr.center_xy_px, ref.center_xy_px, atol=1e-9)
        np.testing.assert_allclose(e.sfr.normal_xy, ref.normal_xy, atol=1e-12)
        de = np.subtract(e.sfr.center_xy_px, twin.sfr.center_xy_px)
        # and it is the full image's edge: a coordinate bug would shift it by whole pixels
        assert abs(de @ np.array(twin.sfr.normal_xy)) < 1.0
        x, y = e.center_xy_px
        assert e.field == pytest.approx(math.hypot(x - 319.5, y - 239.5) / 400.0, abs=1e-9)  # whole-image field


def test_no_edges():
    flat = np.full((200, 300), 1000.0)
    assert find_edges(flat) == []
    with pytest.raises(MeasurementError, match="no usable slanted edge"):
        measure_edges(flat)
    yy, xx = np.mgrid[:200, :300]
    axis_square = np.where((abs(xx - 150) < 40) & (abs(yy - 100) < 40), 200.0, 800.0)  # 0° sides only
    assert find_edges(axis_square) == []
    with pytest.raises(InputError):
        find_edges(np.zeros((10, 10)))
