"""Detectors: one interface, raw float input, thresholds from good modules, save/load → same scores."""

import numpy as np
import pytest

from camforge.errors import ConfigError, FormatError, InputError
from camforge.qualify.detectors import load_detector, make_detector
from camforge.qualify.metrics import auroc
from camforge.qualify.simulate import simulate_module

from test_qualify_sim import DESIGN

SMALL = {"size": (128, 96), "defects": {"dust_contrast": (0.06, 0.3), "dust_shadow_frac": (0.12, 0.25)}}
TINY = {
    "blemish": {},
    "defect_pixels": {},
    "padim": {"width": 8, "pretext_steps": 25, "seed": 1},
    "patchcore": {"width": 8, "pretext_steps": 25, "coreset": 300, "seed": 1},
    "unet": {"width": 8, "steps": 100, "samples_per_module": 2, "crop": 32, "seed": 1},  # 60 steps: loss still 0.6
}


@pytest.fixture(scope="module")
def frames():
    normal = [simulate_module(DESIGN, i, seed=31, force_kinds=[], config=SMALL).captures["flat_hi"] for i in range(12)]
    test, labels, kinds = [], [], []
    for i in range(12):
        k = [] if i % 2 == 0 else (["dust"] if i % 4 == 1 else ["dead_pixels"])
        m = simulate_module(DESIGN, 100 + i, seed=32, force_kinds=k, config=SMALL)
        test.append(m.captures["flat_hi"])
        labels.append(bool(k))
        kinds.append(k)
    return normal, test, labels, kinds


@pytest.mark.parametrize("name", list(TINY))
def test_fit_score_save_load(name, frames, tmp_path):
    normal, test, labels, kinds = frames
    det = make_detector(name, **TINY[name])
    det.fit(normal, target_frr=0.0)
    assert det.threshold is not None and det.target_frr == 0.0
    res = [det.score(x) for x in test]
    for s, m in res:
        assert m.shape == (96, 128) and m.dtype == np.float32 and np.isfinite(m).all() and np.isfinite(s)
    # each detector separates the defects it covers from good modules
    target = "dead_pixels" if name == "defect_pixels" else "dust"
    sel = [i for i in range(len(test)) if not kinds[i] or target in kinds[i]]
    assert auroc([labels[i] for i in sel], [res[i][0] for i in sel]) >= 0.9
    # good modules used for the threshold are not rejected at target FRR 0
    cal = det.info["calibration_scores"]
    assert max(cal) <= det.threshold
    # saved and reloaded: identical scores and maps
    det.save(tmp_path / name)
    again = load_detector(tmp_path / name)
    assert again.threshold == det.threshold and again.params == det.params
    for x, (s, m) in zip(test[:4], res[:4]):
        s2, m2 = again.score(x)
        assert s2 == s and np.array_equal(m2, m)


def test_training_is_deterministic(frames):
    normal, test, _, _ = frames
    a = make_detector("padim", **TINY["padim"]).fit(normal)
    b = make_detector("padim", **TINY["padim"]).fit(normal)
    assert a.threshold == b.threshold
    assert [a.score(x)[0] for x in test[:3]] == [b.score(x)[0] for x in test[:3]]


def test_high_bit_depth_arrays_in(frames):
    """2-D arrays in DN (16-bit range, mono) with a black level work like Raw frames."""
    rng = np.random.default_rng(0)
    flats = [rng.normal(30000, 150, (96, 128)).astype(np.float32) + 200 for _ in range(6)]
    det = make_detector("blemish").fit(flats)
    spot = flats[0].copy()
    yy, xx = np.mgrid[0:96, 0:128]
    spot -= 0.05 * 30000 * np.exp(-((yy - 40) ** 2 + (xx - 60) ** 2) / (2 * 5.0**2))
    from camforge.qualify.flatfield import as_raw

    s_bad, m = det.score(as_raw(spot, black_level_dn=200))
    s_good, _ = det.score(as_raw(flats[1], black_level_dn=200))
    assert s_bad > det.threshold > s_good * 0.5
    assert np.unravel_index(np.argmax(m), m.shape) == pytest.approx((40, 60), abs=3)


def test_errors():
    with pytest.raises(ConfigError, match="unknown detector"):
        make_detector("anomalib")
    with pytest.raises(ConfigError, match="unknown setting"):
        make_detector("padim", widht=3)
    with pytest.raises(InputError, match="not fitted"):
        make_detector("blemish").score(np.ones((64, 64)))
    with pytest.raises(FormatError):
        load_detector("/nonexistent/model")
    with pytest.raises(InputError, match="at least 2"):
        make_detector("padim").fit([np.ones((64, 64))])


def test_golden_reference_is_part_of_the_model(frames, tmp_path):
    """A reference-shading detector makes its golden reference from the good modules it is fitted
    on, saves it with the weights, and refuses frames it cannot compare with it."""
    from camforge.qualify.flatfield import analysis_map, shading_reference

    normal, test, _, _ = frames
    det = make_detector("padim", **TINY["padim"]).fit(normal, target_frr=0.0)
    assert det.params["shading"] == "reference"
    # the reference is that of the fit part (the last quarter set the threshold)
    assert np.array_equal(det.reference, shading_reference(normal[:9]))
    again = load_detector(det.save(tmp_path / "p"))
    assert np.array_equal(again.reference, det.reference)
    with pytest.raises(InputError, match="size and CFA"):
        det.score(np.ones((64, 64), np.float32) * 500)
    # fitted on analysis maps only: no reference, so raw frames cannot be scored
    maps = [analysis_map(x, model="radial") for x in normal]
    bare = make_detector("padim", **TINY["padim"]).fit(maps)
    with pytest.raises(InputError, match="no shading reference"):
        bare.score(test[0])
    assert np.isfinite(bare.score(analysis_map(test[0], model="radial"))[0])


def test_image_score_is_the_top_k_mean_of_the_map():
    """The image score averages the ``topk_px`` largest map values (1 = the maximum): a faint
    wide shadow outscores one isolated noise peak that is twice as high."""
    det = make_detector("blemish")
    rng = np.random.default_rng(0)
    m = rng.random((40, 50))
    brute = np.sort(m.ravel())[::-1]
    assert det._image_score(m) == pytest.approx(brute[:256].mean(), rel=1e-12)
    assert make_detector("blemish", topk_px=1)._image_score(m) == m.max()
    assert make_detector("blemish", topk_px=10**6)._image_score(m) == pytest.approx(m.mean())
    peak = np.zeros((64, 64))
    peak[10, 10] = 2.0
    shadow = np.zeros((64, 64))
    shadow[20:40, 20:40] = 1.0
    assert det._image_score(shadow) > det._image_score(peak)
    assert make_detector("blemish", topk_px=1)._image_score(shadow) < make_detector("blemish", topk_px=1)._image_score(peak)
