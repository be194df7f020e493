"""``camforge tasks ...``: task-based image quality and learned ISP training.

``train`` (task models), ``train-isp`` (learned demosaic + denoise), ``evaluate`` (accuracy
and mIoU vs lux of a design), ``study`` (pixel-size study with Spearman correlations),
``scenes`` (preview labelled scenes as a PNG).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from camforge.cli import app
from camforge.cli._parse import numbers
from camforge.errors import InputError

tasks_app = typer.Typer(
    help="Vision tasks as image-quality objectives: train the task models or the learned ISP stage, "
         "measure task accuracy vs lux and design.",
    no_args_is_help=True,
)
app.add_typer(tasks_app, name="tasks")


def _write_json(path: Path | None, obj) -> None:
    text = json.dumps(obj, indent=2, default=str)
    if path is None:
        print(text)
        return
    from camforge.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(text + "\n")


@tasks_app.command("train")
def train_command(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for weights.npz + config.json."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same weights)."),
    threads: int = typer.Option(2, "--threads", help="torch threads (the weights depend on it)."),
    n_classify: int = typer.Option(6000, "--n-classify", help="Training scenes for the classifier."),
    n_segment: int = typer.Option(3000, "--n-segment", help="Training scenes for the U-Net."),
    epochs: int = typer.Option(8, "--epochs", help="Epochs for each model."),
    float32: bool = typer.Option(False, "--float32", help="Store float32 weights (default float16)."),
) -> None:
    """Train the task models (classifier + U-Net) on clean renders of labelled scenes."""
    from camforge.parallel import progress_bar
    from camforge.tasks.train import TaskTrainConfig, train_task_models

    cfg = TaskTrainConfig(n_classify=n_classify, n_segment=n_segment, epochs_classify=epochs, epochs_segment=epochs,
                          seed=seed, threads=threads)
    cmd = (f"camforge tasks train --seed {seed} --threads {threads} --n-classify {n_classify} "
           f"--n-segment {n_segment} --epochs {epochs}{' --float32' if float32 else ''} --out DIR")
    with progress_bar("training task models") as prog:
        r = train_task_models(out, config=cfg, progress=prog, command=cmd,
                              weights_dtype="float32" if float32 else "float16")
    d = r.to_dict()
    d.pop("loss_curve", None)
    _write_json(None, d)


@tasks_app.command("train-isp")
def train_isp_command(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for weights.npz + config.json."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same weights)."),
    steps: int = typer.Option(6000, "--steps", help="Optimisation steps."),
    threads: int = typer.Option(2, "--threads", help="torch threads (the weights depend on it)."),
    design: Path | None = typer.Option(None, "--design", help="Camera design YAML whose sensor model to train on "
                                       "(default: the 1.4 um phone sensor)."),
    float32: bool = typer.Option(False, "--float32", help="Store float32 weights (default float16)."),
) -> None:
    """Train the learned demosaic + denoise stage on the camera's own sensor noise model."""
    from camforge.parallel import progress_bar
    from camforge.tasks.learned_isp import LearnedIspTrainConfig, train_learned_demosaic

    sensor = None
    if design is not None:
        from camforge.camera import CameraDesign

        sensor = CameraDesign.from_yaml(design).sensor
    cfg = LearnedIspTrainConfig(steps=steps, seed=seed, threads=threads)
    cmd = (f"camforge tasks train-isp --seed {seed} --steps {steps} --threads {threads}"
           f"{f' --design {design}' if design else ''}{' --float32' if float32 else ''} --out DIR")
    with progress_bar("training learned demosaic") as prog:
        r = train_learned_demosaic(out, sensor_config=sensor, config=cfg, progress=prog, command=cmd,
                                   weights_dtype="float32" if float32 else "float16")
    d = r.to_dict()
    d.pop("loss_curve", None)
    _write_json(None, d)


@tasks_app.command("evaluate")
def evaluate_command(
    design: Path = typer.Argument(..., help="Camera design YAML."),
    lux: str = typer.Option("1000,100,10,1,0.3", "--lux", help="Illuminances [lx], comma separated."),
    n_images: int = typer.Option(200, "--n-images", help="Scenes per task and level."),
    seed: int = typer.Option(0, "--seed"),
    illuminant: str = typer.Option("D65", "--illuminant"),
    window_px: int | None = typer.Option(None, "--window-px", help="Sensor window the scenes span (default 64)."),
    models: Path | None = typer.Option(None, "--models", help="Task model folder (default: the shipped ones)."),
    iq: bool = typer.Option(False, "--iq", help="Also measure SNR and MTF50 on the same window and exposure."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the rows as JSON here (default: stdout)."),
) -> None:
    """Task accuracy and mIoU (bootstrap 95 % CI) of a design vs illuminance."""
    from camforge.parallel import progress_bar
    from camforge.tasks.evaluate import task_accuracy

    levels = numbers(lux, "--lux")
    with progress_bar("task accuracy") as prog:
        rows = task_accuracy(design, levels, n_images=n_images, seed=seed, illuminant=illuminant,
                             models=None if models is None else str(models), window_px=window_px, with_iq=iq,
                             progress=prog)
    if json_out is not None:
        _write_json(json_out, rows)
    for r in rows:
        ci = r.get("ci95")
        v = "—" if r["value"] is None else f"{r['value']:.3f}"
        print(f"{r['metric']:<28} {v:>8} {r['unit']:<12}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))


@tasks_app.command("study")
def study_command(
    pitches: str = typer.Option("3.0,1.5", "--pitches", help="Pixel pitches [um] (same lens and sensor area)."),
    lux: str = typer.Option("1000,100,10,3,1,0.3", "--lux", help="Illuminances [lx]."),
    n_images: int = typer.Option(200, "--n-images"),
    seed: int = typer.Option(0, "--seed"),
    json_out: Path | None = typer.Option(None, "--json", help="Write the study as JSON here."),
) -> None:
    """Pixel-size study: task accuracy vs lux for several pitches at equal exposure, with
    Spearman correlations of accuracy with MTF50 and SNR."""
    from camforge.parallel import progress_bar
    from camforge.tasks.study import pixel_size_cameras, task_iq_study

    cams = pixel_size_cameras(numbers(pitches, "--pitches", example="3.0,1.5"))
    with progress_bar("task study") as prog:
        st = task_iq_study(cams, numbers(lux, "--lux"), n_images=n_images, seed=seed, progress=prog)
    if json_out is not None:
        _write_json(json_out, st.to_dict())
    print(f"{'design':<14} {'lux':>7} {'accuracy':>18} {'mIoU':>18} {'SNR dB':>7} {'MTF50':>6}")
    for c in st.conditions:
        m = "—" if c["mtf50_cy_per_px"] is None else f"{c['mtf50_cy_per_px']:.3f}"
        print(f"{c['design']:<14} {c['lux']:>7g} {c['accuracy']:.3f} [{c['accuracy_ci95'][0]:.2f},"
              f"{c['accuracy_ci95'][1]:.2f}] {c['miou']:.3f} [{c['miou_ci95'][0]:.2f},{c['miou_ci95'][1]:.2f}] "
              f"{c['snr_db']:7.1f} {m:>6}")
    for k, v in st.spearman.items():
        print(f"spearman {k:<20} rho={v['rho']:+.3f} p={v['p']:.2g} n={v['n']}")
    for k, v in st.monotone.items():
        print(f"monotone in lux {k}: accuracy {v['accuracy']}, mIoU {v['miou']}")


@tasks_app.command("scenes")
def scenes_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output PNG."),
    n: int = typer.Option(32, "--n", help="Number of scenes."),
    seed: int = typer.Option(0, "--seed"),
    max_objects: int = typer.Option(1, "--max-objects", help="Objects per scene (1: classification scenes)."),
) -> None:
    """Preview labelled scenes (ideal renders, 64 x 64) and their masks as one PNG."""
    import numpy as np

    from camforge.io.atomic import atomic_path
    from camforge.tasks.scenes import CLASSES, labelled_scenes, masks_at, render_clean

    if n < 1 or n > 1024:
        raise InputError(f"--n must be between 1 and 1024, got {n}")
    s = labelled_scenes(n, seed=seed, render_px=128, max_objects=max_objects)
    img = render_clean(s, 64).permute(0, 2, 3, 1).numpy()
    m = masks_at(s, 64).numpy()
    cols = min(8, n)
    rows = -(-n // cols)
    grid = np.zeros((rows * 128, cols * 64, 3))
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * 128 : r * 128 + 64, c * 64 : (c + 1) * 64] = img[i]
        grid[r * 128 + 64 : (r + 1) * 128, c * 64 : (c + 1) * 64] = (m[i] / 2.0)[..., None]
    from PIL import Image as PILImage

    with atomic_path(out) as tmp:
        PILImage.fromarray((grid * 255 + 0.5).astype(np.uint8)).save(tmp, format="PNG")
    print(" ".join(CLASSES[int(k)] for k in s.labels))
