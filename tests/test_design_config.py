"""Camera design files: the bundled designs and clear errors for bad ones."""

from __future__ import annotations

import math

import pytest
import yaml

from camforge.camera import Camera, CameraDesign
from camforge.errors import ConfigError

DESIGNS = ["phone_main_12mp", "automotive_2mp", "machine_vision_5mp"]


@pytest.mark.parametrize("name", DESIGNS)
def test_bundled_designs_load(designs_dir, name):
    cam = Camera.from_yaml(designs_dir / f"{name}.yaml")
    s = cam.design.sensor
    assert cam.lens.f_number.item() > 1 and s.full_well_e > 1000
    assert cam.design.content_hash() == CameraDesign.from_yaml(designs_dir / f"{name}.yaml").content_hash()


def test_bundled_designs_match_their_stated_formats(designs_dir):
    phone = CameraDesign.from_yaml(designs_dir / "phone_main_12mp.yaml").sensor
    assert phone.width_px * phone.height_px == pytest.approx(12.2e6, rel=0.01)
    assert phone.diagonal_mm == pytest.approx(7.06, abs=0.05)  # 1/2.55-type
    auto = CameraDesign.from_yaml(designs_dir / "automotive_2mp.yaml")
    assert auto.sensor.pixel_pitch_um == 3.0 and auto.lens.f_number == 1.6
    assert auto.sensor.width_px * auto.sensor.height_px == pytest.approx(2.07e6, rel=0.01)
    mv = CameraDesign.from_yaml(designs_dir / "machine_vision_5mp.yaml")
    assert mv.sensor.pixel_pitch_um == 3.45 and mv.lens.f_number == 2.8
    assert mv.sensor.width_px * mv.sensor.height_px == pytest.approx(5.0e6, rel=0.01)
    assert mv.sensor.diagonal_mm == pytest.approx(11.0, abs=0.1)  # 2/3-type


def _write(tmp_path, designs_dir, edit):
    d = yaml.safe_load((designs_dir / "phone_main_12mp.yaml").read_text())
    edit(d)
    p = tmp_path / "d.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


@pytest.mark.parametrize("edit,needle", [
    (lambda d: d["lens"].update(f_numbr=2.0), "lens.f_numbr: unknown field"),
    (lambda d: d["sensor"].update(pixel_pitch_um=-1.4), "sensor.pixel_pitch_um"),
    (lambda d: d["sensor"].update(cfa="RGBW"), "sensor.cfa"),
    (lambda d: d["sensor"].pop("full_well_e"), "sensor.full_well_e: required field is missing"),
    (lambda d: d["sensor"].update(black_level_dn=5000), "no range"),
    (lambda d: d.update(colour="red"), "colour: unknown field"),
])
def test_bad_designs_name_the_field(tmp_path, designs_dir, edit, needle):
    p = _write(tmp_path, designs_dir, edit)
    with pytest.raises(ConfigError) as e:
        Camera.from_yaml(p)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        Camera.from_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lens: [1, 2\nsensor: {")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Camera.from_yaml(bad)


def test_field_of_view_from_focal_length(designs_dir):
    cam = Camera.from_yaml(designs_dir / "automotive_2mp.yaml")
    hw = 1920 * 3.0e-3 / 2
    assert cam.horizontal_fov_deg() == pytest.approx(2 * math.degrees(math.atan(hw / 4.99)))
