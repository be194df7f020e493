"""Real frames: EMVA 1288 reference set 001 flat fields (12-bit mono CCD, 640 × 480) with blemishes
injected through the cover-glass shadow model; the clean frames must pass a flat-field spec."""

from pathlib import Path

import numpy as np
import pytest

from camforge.io import read_image
from camforge.qualify.detectors import inject_area_defects, make_detector
from camforge.qualify.flatfield import as_raw
from camforge.qualify.measure import measure_module
from camforge.qualify.metrics import auroc
from camforge.qualify.spec import evaluate, load_spec

from conftest import need

STEPS = range(12, 32, 2)  # mid exposures, 25–60 % of saturation


def _frame(images: Path, name: str):
    a, info = read_image(need(images / f"{name}.png"))
    d, _ = read_image(need(images / f"{name.replace('b_', 'd_', 1)}.png"))
    return as_raw(a, cfa="MONO", black_level_dn=float(d.mean()), bit_depth=12)


@pytest.fixture(scope="module")
def real(data):
    images = data / "emva1288_refset001" / "images"
    fit = [_frame(images, f"b_s_000_snap_{i:03d}") for i in range(10)]
    test = [_frame(images, f"b_{s:03d}_snap_{k:03d}") for s in STEPS for k in (1, 2)]
    return fit, test


@pytest.fixture(scope="module")
def injected(real):
    from camforge.qualify.simulate import DefectsConfig

    _, test = real
    rng = np.random.default_rng(7)
    dc = DefectsConfig(dust_contrast=(0.01, 0.2), dust_shadow_frac=(0.03, 0.12), scratch_contrast=(0.01, 0.1))
    return [inject_area_defects(r, rng, ["dust" if i % 2 == 0 else "scratch"], pitch_um=7.4, f_number=2.8,
                                config=dc)[0] for i, r in enumerate(test)]


def test_injected_blemishes_are_detected_on_real_frames(real, injected):
    """The learned detector (PaDiM-like on camforge's own CNN features), fitted on 6 clean real
    frames and thresholded on 4 others, finds 1–20 % blemishes in 20 other real frames."""
    fit, test = real
    det = make_detector("padim", bin=4, width=8, pretext_steps=25, seed=0)
    det.fit(fit[:6], calibration=fit[6:], target_frr=0.0)
    scores = [det.score(x)[0] for x in test + injected]
    labels = [False] * len(test) + [True] * len(injected)
    assert auroc(labels, scores) >= 0.97
    # the clean real frames are not rejected by a threshold set on other clean frames
    assert np.mean(np.array(scores[: len(test)]) > det.threshold) <= 0.1


def test_clean_real_frames_pass_the_flat_spec(real):
    spec = load_spec(Path(__file__).resolve().parents[1] / "examples" / "specs" / "flat_only.yaml")
    _, test = real
    for raw in test[::4]:
        r = measure_module({"flat_hi": raw}, figures=list(spec.limits))
        v = evaluate(spec, r.figures, r.missing)
        assert v.status == "pass", v.text
        assert r.figures["dead_pixel_count"] == 0 and r.figures["blemish_contrast_max_pct"] == 0
