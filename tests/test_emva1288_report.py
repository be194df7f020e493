"""EMVA 1288 outputs: JSON, EMVA-style XML (names checked against emva1288) and the HTML data sheet."""

from __future__ import annotations

import json
import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from camforge.characterize import characterize_emva1288, simulate_stack, write_report

SENSOR = {"width_px": 64, "height_px": 64, "pixel_pitch_um": 2.0, "cfa": "RGGB", "full_well_e": 4000,
          "read_noise_e": 2.0, "adc_bits": 12, "black_level_dn": 64, "exposure_max_s": 0.02, "prnu_pct": 1.0,
          "dsnu_e": 1.0}

# element names we add to the emva1288 vocabulary (Release 4 items, CFA info)
EXTRA = {"LE", "DR_bit", "T_d", "defect_threshold_sigma", "n_defect_dark", "n_defect_bright", "standard", "channel",
         "cfa", "bits", "width", "height", "source", "wavelength_nm", "channels", "u_e_min", "inverse_SNR_max"}
SECTIONS = {"info", "sensitivity", "linearity", "spatial", "dark_current", "defect_pixel"}
FIELDS = {"Short", "Symbol", "Value", "Unit", "CI95Low", "CI95High"}


@pytest.fixture(scope="module")
def result():
    torch.set_num_threads(1)
    st = simulate_stack(SENSOR, n_steps=20, spatial_frames=4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return characterize_emva1288(st)


def _emva1288_names():
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)
    results = pytest.importorskip("emva1288.process.results")
    routines = pytest.importorskip("emva1288.process.routines")
    return set(routines.cls_1288_info(results.Results1288))


def test_report_files(result, tmp_path):
    out = write_report(result, tmp_path / "rep")
    assert set(out) == {"json", "xml", "html"}
    d = json.loads(out["json"].read_text())
    assert d["channel"] == "Gr" and set(d["channels"]) == {"R", "Gr", "Gb", "B"}
    assert d["K"] == pytest.approx(result.k_dn_per_e)
    # XML: EMVA-style structure, element names from the reference implementation
    root = ET.parse(out["xml"]).getroot()
    assert root.tag == "results"
    assert {c.tag for c in root} <= SECTIONS | {"channels"}
    known = _emva1288_names() | EXTRA
    for section in root.iter():
        if section.tag in SECTIONS:
            for item in section:
                assert item.tag in known, item.tag
                if section.tag != "info":
                    assert {c.tag for c in item} <= FIELDS
    k = root.find("sensitivity/K")
    assert float(k.find("Value").text) == pytest.approx(result.k_dn_per_e, rel=1e-12)
    assert float(root.find("sensitivity/QE/Value").text) == pytest.approx(100 * result.qe, rel=1e-12)
    assert len(root.findall("channels/channel")) == 4
    # HTML: self-contained (embedded PNG figures, no external resources)
    html = out["html"].read_text()
    imgs = re.findall(r'src="data:image/png;base64,', html)
    assert len(imgs) >= 12
    assert not re.search(r'(src|href)="(http|//)', html)
    assert "Photon transfer" in html and "Spectrograms" in html and "Defect pixels" in html


def test_nan_becomes_null(result):
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)  # raises on NaN/inf
    assert '"K"' in text
