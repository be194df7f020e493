"""Task-based image quality: labelled scenes, statistics, capture geometry, shipped models,
monotone trends with lux and pixel size, objectives, CLI, reproducible training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from camforge.camera import Camera
from camforge.errors import InputError
from camforge.tasks import (
    CLASSES, SEG_CLASSES, TaskTrainConfig, accuracy_ci, labelled_scenes, load_task_models, render_clean,
    task_accuracy, train_task_models,
)
from camforge.tasks.evaluate import (
    capture_labelled, evaluation_scenes, miou_ci, miou_from_counts, segmentation_counts,
)
from camforge.tasks.scenes import DIGIT_SPLIT, masks_at, material_srgb
from camforge.tasks.study import monotone_in_lux, pixel_size_cameras, spearman, task_iq_study

SMALL = {"name": "t", "lens": {"focal_length_mm": 4.4, "f_number": 2.0},
         "sensor": {"width_px": 128, "height_px": 96, "pixel_pitch_um": 1.4, "full_well_e": 6000}}


@pytest.fixture(scope="module")
def models():
    return load_task_models()


# ---------------------------------------------------------------------------- scenes


def test_scenes_are_deterministic_and_labelled():
    a = labelled_scenes(6, seed=3, render_px=64, max_objects=2)
    b = labelled_scenes(6, seed=3, render_px=64, max_objects=2)
    c = labelled_scenes(6, seed=4, render_px=64, max_objects=2)
    assert torch.equal(a.maps, b.maps) and torch.equal(a.labels, b.labels) and torch.equal(a.masks, b.masks)
    assert not torch.equal(a.maps, c.maps)
    assert a.maps.shape == (6, 4, 64, 64) and a.reflectance.shape == (6, 4, 31)
    assert int(a.labels.min()) >= 0 and int(a.labels.max()) < len(CLASSES)
    assert set(torch.unique(a.masks).tolist()) <= {0, 1, 2}
    # maps are physical: non-negative weights, object coverage in [0, 1.3] (textured), reflectance ≤ 1
    assert float(a.maps.min()) >= 0 and float(a.reflectance.max()) <= 1.0 + 1e-6
    # the mask marks the object where its coverage is high, the background where it is zero
    cov = a.maps[:, 3] > 0
    assert bool(((a.masks > 0) <= cov).all())
    # segmentation class agrees with the label for single-object scenes
    s = labelled_scenes(8, seed=5, render_px=64, max_objects=1)
    for lab, m in zip(s.labels.tolist(), s.masks):
        present = set(torch.unique(m).tolist()) - {0}
        assert present <= {1 if lab < 6 else 2}


def test_scene_content_does_not_depend_on_render_resolution():
    lo = render_clean(labelled_scenes(4, seed=9, render_px=64), 32)
    hi = render_clean(labelled_scenes(4, seed=9, render_px=256), 32)
    assert float((lo - hi).abs().mean()) < 0.02


def test_digit_split_is_disjoint():
    from camforge.tasks.scenes import digits

    img, lab = digits()
    assert img.shape == (1797, 8, 8) and 0 < DIGIT_SPLIT < 1797
    assert set(lab[:DIGIT_SPLIT].tolist()) == set(range(10)) == set(lab[DIGIT_SPLIT:].tolist())


def test_material_srgb_matches_colour_science():
    """Ideal render colour of a ColorChecker patch = colour-science's own spectral → sRGB path
    (1 nm spectra, D65), within the 10 nm band averaging."""
    import colour

    from camforge.spectral import colorchecker_reflectances, spectral_grid

    g = spectral_grid()
    names, refl = colorchecker_reflectances(g)
    ours = material_srgb(torch.tensor(refl, dtype=torch.float32), g, "D65").numpy()
    sds = colour.SDS_COLOURCHECKERS["BabelColor Average"]
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    d65 = colour.SDS_ILLUMINANTS["D65"]
    for i in (0, 5, 13, 18, 21):
        xyz = colour.sd_to_XYZ(sds[names[i]], cmfs, d65) / 100.0
        ref = colour.XYZ_to_sRGB(xyz, apply_cctf_encoding=False)
        np.testing.assert_allclose(ours[i], ref, atol=6e-3)
    # the sRGB reflectance basis renders as the sRGB primaries (Mallett & Yuksel 2019)
    from camforge.scene import srgb_basis

    basis = material_srgb(torch.tensor(srgb_basis(g), dtype=torch.float32), g, "D65").numpy()
    np.testing.assert_allclose(basis, np.eye(3), atol=0.02)


def test_scene_errors():
    with pytest.raises(InputError, match="split"):
        labelled_scenes(2, split="val")
    with pytest.raises(InputError, match="background"):
        labelled_scenes(2, backgrounds=("sky",))
    with pytest.raises(InputError, match="at least one"):
        labelled_scenes(0)


# ---------------------------------------------------------------------------- statistics


def test_accuracy_ci_agrees_with_scipy_bootstrap():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(0)
    correct = rng.random(150) < 0.7
    acc, (lo, hi) = accuracy_ci(correct, n_boot=4000, seed=1)
    ref = bootstrap((correct.astype(float),), np.mean, n_resamples=4000, method="percentile", random_state=2)
    assert acc == pytest.approx(correct.mean())
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.015)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.015)
    # binomial normal approximation: half-width ≈ 1.96 √(p(1-p)/n)
    assert (hi - lo) / 2 == pytest.approx(1.96 * np.sqrt(0.7 * 0.3 / 150), rel=0.15)


def test_miou_counts_by_hand():
    pred = torch.tensor([[[0, 0, 1, 1], [0, 2, 2, 1]]])
    true = torch.tensor([[[0, 0, 1, 0], [0, 2, 1, 1]]])
    inter, union = segmentation_counts(pred, true, 3)
    # class 0: pred {0,1,4} true {0,1,3,4} → 3/4; class 1: pred {2,3,7} true {2,6,7} → 2/4;
    # class 2: pred {5,6} true {5} → 1/2
    np.testing.assert_array_equal(inter[0], [3, 2, 1])
    np.testing.assert_array_equal(union[0], [4, 4, 2])
    assert float(miou_from_counts(inter, union)) == pytest.approx((3 / 4 + 2 / 4 + 1 / 2) / 3)
    m, (lo, hi) = miou_ci(np.repeat(inter, 5, 0), np.repeat(union, 5, 0), n_boot=50)
    assert lo == pytest.approx(m) and hi == pytest.approx(m)  # identical images: no spread


def test_monotone_and_spearman_helpers():
    from scipy.stats import spearmanr

    assert monotone_in_lux([1000, 10, 1], [0.9, 0.8, 0.3], [(0.85, 0.95), (0.7, 0.9), (0.2, 0.4)])
    assert monotone_in_lux([1000, 10], [0.8, 0.85], [(0.75, 0.86), (0.8, 0.9)])  # rise within the CI
    assert not monotone_in_lux([1000, 10], [0.5, 0.8], [(0.45, 0.55), (0.7, 0.9)])
    x, y = [1, 2, 3, 4, None], [2.0, 1.0, 4.0, 3.0, 9.0]
    r = spearman(x, y)
    ref = spearmanr([1, 2, 3, 4], [2.0, 1.0, 4.0, 3.0])
    assert r["n"] == 4 and r["rho"] == pytest.approx(ref.statistic) and r["p"] == pytest.approx(ref.pvalue)


# ---------------------------------------------------------------------------- capture geometry


def test_capture_masks_land_on_the_objects():
    """Noise-free, blur-free capture of high-contrast objects on flat backgrounds: the object
    pixels found in the ISP output coincide with the truth mask mapped through the lens."""
    cam = Camera({**SMALL, "lens": {**SMALL["lens"], "distortion": {"k1": -0.05}, "psf": {"enabled": False}}})
    s = labelled_scenes(6, seed=11, render_px=128, backgrounds=("flat",), contrast=(0.7, 0.8), size=(0.5, 0.7))
    cap = capture_labelled(cam, s, 1000.0, window_px=64, out_px=64)
    # truth: the same scenes rendered ideally, object coverage on the model grid
    for i in range(6):
        img = cap.images[i].mean(0)
        bg = torch.median(img[:4].flatten())
        obj = (img - bg).abs() > 0.5 * (img - bg).abs().max()
        truth = cap.masks[i] > 0
        iou = float((obj & truth).sum()) / float((obj | truth).sum())
        assert iou > 0.85, (i, iou)
    assert cap.images.shape == (6, 3, 64, 64) and float(cap.images.max()) <= 1.0


# ---------------------------------------------------------------------------- shipped models


def test_shipped_models_load_and_recognise_clean_renders(models):
    assert models.config["classes"] == list(CLASSES) and models.config["seg_classes"] == list(SEG_CLASSES)
    assert "camforge tasks train" in models.config["command"]
    cls, seg = evaluation_scenes(96, seed=123, render_px=64)
    with torch.no_grad():
        acc = float((models.classifier(render_clean(cls, 64)).argmax(1) == cls.labels).float().mean())
        pred = models.segmenter(render_clean(seg, 64)).argmax(1)
    inter, union = segmentation_counts(pred, masks_at(seg, 64), 3)
    # far above chance (1/16 and about 1/3); config.json records the 500-scene figures
    assert acc > 0.75 and abs(acc - models.config["clean_accuracy"]) < 0.1
    assert float(miou_from_counts(inter, union)) > 0.65


def test_accuracy_falls_with_lux(models):
    """Monotone trend: accuracy and mIoU never rise (beyond the 95 % CI) as the light falls
    from 1000 to 0.3 lx, and the drop over the range is significant."""
    lux = [1000.0, 10.0, 0.3]
    rows = task_accuracy(Camera(SMALL), lux, n_images=48, seed=0, models=models, n_boot=300)
    acc = [r for r in rows if r["metric"].startswith("task_accuracy")]
    mi = [r for r in rows if r["metric"].startswith("task_miou")]
    for rs in (acc, mi):
        assert monotone_in_lux(lux, [r["value"] for r in rs], [r["ci95"] for r in rs])
        assert rs[-1]["value"] < rs[0]["ci95"][0]
    assert acc[0]["value"] > 0.6
    assert {"metric", "value", "unit", "ci95", "condition"} <= set(acc[0])


def test_smaller_pixels_lose_accuracy_at_low_light(models):
    """Same lens, sensor area, field of view and exposure: 1.5 µm pixels (read noise of four
    pixels per 3 µm area) give lower SNR and accuracy than 3 µm pixels in dim light."""
    cams = pixel_size_cameras((3.0, 1.5))
    st = task_iq_study(cams, [2.0], n_images=64, seed=1, models=models, n_boot=300)
    big, small = st.conditions
    assert big["design"] == "pitch-3um" and small["design"] == "pitch-1.5um"
    assert big["exposure_s"] == small["exposure_s"] and big["analog_gain"] == small["analog_gain"]
    assert small["snr_db"] < big["snr_db"] - 2.0
    assert small["accuracy"] < big["accuracy_ci95"][0]
    assert small["miou"] < big["miou"]


# ---------------------------------------------------------------------------- objectives, scorecard, CLI


def test_objective_and_scorecard_section(models):
    from camforge.tasks import OBJECTIVES, scorecard_section, task_objective

    cam = Camera(SMALL)
    a = task_objective(cam, lux=100.0, n_images=16, models=models)
    b = OBJECTIVES["task_accuracy"]["fn"](cam, lux=100.0, n_images=16, models=models)
    assert 0.0 <= a <= 1.0 and a == b
    sec = scorecard_section(cam, lux_levels=[100.0, 1.0], n_images=16, models=models)
    assert [r["metric"] for r in sec["rows"]] == ["task_accuracy_100lx", "task_miou_100lx", "task_accuracy_1lx",
                                                   "task_miou_1lx"]
    assert set(sec["quicklooks"]) == {"tasks_100lx", "tasks_1lx"}
    assert sec["quicklooks"]["tasks_1lx"][:4] == b"\x89PNG"
    json.dumps(sec["rows"])
    with pytest.raises(InputError, match="metric"):
        task_objective(cam, metric="f1")


def test_cli(tmp_path, capsys, designs_dir):
    from camforge.cli import main

    assert main(["tasks", "scenes", "--out", str(tmp_path / "s.png"), "--n", "4"]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["tasks", "evaluate", str(designs_dir / "phone_main_12mp.yaml"), "--lux", "ten"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--lux" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- reproducible training


def test_training_is_reproducible(tmp_path):
    cfg = TaskTrainConfig(n_classify=32, n_segment=32, epochs_classify=1, epochs_segment=1, batch=16,
                          n_validate=8, classifier_widths=(4, 8), segmenter_widths=(4, 8), threads=1)
    r1 = train_task_models(tmp_path / "a", config=cfg)
    r2 = train_task_models(tmp_path / "b", config=cfg)
    r3 = train_task_models(tmp_path / "c", config=TaskTrainConfig(**{**cfg.__dict__, "seed": 1}))
    assert r1.weights_sha256 == r2.weights_sha256 != r3.weights_sha256
    assert (tmp_path / "a" / "weights.npz").read_bytes() == (tmp_path / "b" / "weights.npz").read_bytes()
    m = load_task_models(tmp_path / "a")
    assert m.config["train"]["seed"] == 0
