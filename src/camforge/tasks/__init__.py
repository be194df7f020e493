"""Downstream vision tasks as image-quality objectives ("task-based image quality").

Pictures are judged by machines: camforge measures how well small recognition and
segmentation models do on images taken through a camera design, at any illuminance.

* Scenes: :func:`labelled_scenes` — shapes and scikit-learn's handwritten digits on flat,
  dead-leaves or natural-image backgrounds, with class labels and masks, as spectral
  :class:`~camforge.scene.Scene` s; :func:`render_clean` — their ideal image.
* Models: :class:`TinyClassifier` (16 classes), :class:`TinyUNet` (background / shape /
  digit), trained on clean renders by :func:`train_task_models` (``camforge tasks train``);
  the shipped weights load with :func:`load_task_models`.
* Measurement: :func:`task_accuracy` — accuracy and mIoU vs lux with bootstrap 95 % CIs, as
  scorecard rows; :func:`task_iq_study` — across designs, with Spearman correlations to MTF50
  and SNR; :func:`pixel_size_cameras` — same lens and sensor area, different pixel pitch.
* Objectives: :func:`task_objective`, :data:`OBJECTIVES` (``camforge optimize``) and
  :func:`scorecard_section` (``camforge evaluate``).
* Learned ISP: :func:`train_learned_demosaic` trains the noise-aware joint demosaic + denoise
  stage :class:`camforge.isp.learned.LearnedDemosaic` on the camera's own sensor model
  (``camforge tasks train-isp``).
"""

from camforge.tasks.evaluate import (
    TaskCapture, TaskScores, accuracy_ci, bootstrap_ci, capture_labelled, miou_ci, task_accuracy,
)
from camforge.tasks.learned_isp import (
    LearnedIspTrainConfig, LearnedIspTrainResult, RawSimulator, train_learned_demosaic,
)
from camforge.tasks.models import TaskModels, TinyClassifier, TinyUNet, load_task_models, save_task_models
from camforge.tasks.objectives import OBJECTIVES, scorecard_section, task_objective
from camforge.tasks.scenes import CLASSES, SEG_CLASSES, LabelledScenes, labelled_scenes, render_clean
from camforge.tasks.study import TaskStudy, pixel_size_cameras, spearman, task_iq_study
from camforge.tasks.train import TaskTrainConfig, TaskTrainResult, train_task_models

__all__ = [
    "CLASSES", "SEG_CLASSES", "OBJECTIVES", "LabelledScenes", "LearnedIspTrainConfig", "LearnedIspTrainResult",
    "RawSimulator", "TaskCapture", "TaskModels", "TaskScores", "TaskStudy", "TaskTrainConfig", "TaskTrainResult",
    "TinyClassifier", "TinyUNet", "accuracy_ci", "bootstrap_ci", "capture_labelled", "labelled_scenes",
    "load_task_models", "miou_ci", "pixel_size_cameras", "render_clean", "save_task_models", "scorecard_section",
    "spearman", "task_accuracy", "task_iq_study", "task_objective", "train_learned_demosaic", "train_task_models",
]
