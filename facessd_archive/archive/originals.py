"""The original experiments (TF1 Object Detection API, 2019-2020), recorded as stages without weights.

Their checkpoints are not available here, so each stage holds only what the experiment notes
say: hardware, batch size, steps, the parent it continued from, and the figures reported on
the Open Images "Human face" evaluation (``source: "reported"``; none measured here). Their
``model_config`` is the OD API ``ssd_mobilenet_v1`` default at the stated input size: the
original pipeline.config files are not available, so the exact anchor, loss and NMS settings
are unknown. ``record_original_experiments`` writes them (idempotent: an existing stage with
the same content is left alone).
"""

from __future__ import annotations

from facessd_archive.archive.manifest import (DatasetRef, Evaluation, Manifest, ParentRef, ToolRef, Training,
                                              Weights)
from facessd_archive.archive.sealing import Archive
from facessd_archive.archive.store import Stage
from facessd_archive.errors import StageExistsError
from facessd_archive.metric_names import METRIC_NAMES
from facessd_archive.model.config import ModelConfig

OPEN_IMAGES_FACE = "openimages-human-face"
_TRAIN_DATA = DatasetRef(OPEN_IMAGES_FACE, split="train")
_EVAL_DATA = DatasetRef(OPEN_IMAGES_FACE)
_OD_API = ToolRef("TensorFlow Object Detection API (TF1)")
_NO_WEIGHTS = Weights(files=(), in_folder=False, hub=None,
                      note="original TF1 checkpoint not available here; only the reported figures are recorded")
_UNKNOWN_CONFIG = ("model_config is the Object Detection API ssd_mobilenet_v1 default at this input size; the "
                   "original pipeline.config is not available, so the exact anchor, loss and NMS settings are "
                   "unknown.")
_DATA_NOTE = 'Trained on the Open Images class "Human face" (/m/0dzct).'

GPU_150 = "keypoints/v1/v1_150x150_GPU_900K"


def _reported(input_size: int, map_: float, map50: float, map75: float, note: str) -> Evaluation:
    metrics = dict(zip(METRIC_NAMES[:3], (map_, map50, map75)))
    return Evaluation(benchmark=_EVAL_DATA, source="reported", metrics=metrics, date=None, tool=_OD_API,
                      input_size=input_size, note=note)


def _spec(stage_id: str, description: str, input_size: int, training: Training, notes: tuple[str, ...] = (),
          parent: ParentRef | None = None, evaluations: tuple[Evaluation, ...] = ()) -> Manifest:
    return Manifest.create(stage_id, ModelConfig(input_size=input_size), training, (), _NO_WEIGHTS,
                           parent=parent, evaluations=evaluations, description=description,
                           notes=(_UNKNOWN_CONFIG, _DATA_NOTE) + notes,
                           reference_benchmark=OPEN_IMAGES_FACE if evaluations else None,
                           created=None, sealed_by=None)


def original_manifests() -> list[Manifest]:
    """The six original stages, parents before children."""
    gpu_900k = _spec(
        GPU_150, "MobileNetV1-SSD 150x150 trained on a GPU for about 1M steps.", 150,
        Training(input_size=150, steps=900_000, hardware="GPU", dataset=_TRAIN_DATA,
                 notes=("The folder name says 900K steps; the experiment notes say about 1M.",)))
    return [
        _spec("keypoints/v1/v1_150x150_300K", "MobileNetV1-SSD 150x150 trained from scratch on a GPU for 300K steps.",
              150, Training(input_size=150, steps=300_000, hardware="GPU", dataset=_TRAIN_DATA,
                            notes=("Trained from scratch (no pre-trained backbone).",)),
              evaluations=(_reported(150, 0.066, 0.20, 0.026,
                                     "mAP 0.066 as reported; mAP@.50IOU 'about 0.20' and mAP@.75IOU 'about "
                                     "0.026' are approximate."),)),
        _spec("SSD/v1/TPU", "MobileNetV1-SSD 150x150 trained on a TPU, batch 128, for 500K steps.", 150,
              Training(input_size=150, steps=500_000, batch_size=128, hardware="TPU", dataset=_TRAIN_DATA)),
        _spec("keypoints/v1/v1_150x150_3M", "MobileNetV1-SSD 150x150 trained on a TPU, batch 128, for 3M steps.", 150,
              Training(input_size=150, steps=3_000_000, batch_size=128, hardware="TPU", dataset=_TRAIN_DATA)),
        _spec("keypoints/v1/v1_150x150_1M_bigger",
              "MobileNetV1-SSD 150x150 trained on a TPU, batch 128, for 1M steps with a 10x learning rate.", 150,
              Training(input_size=150, steps=1_000_000, batch_size=128, hardware="TPU", dataset=_TRAIN_DATA,
                       schedule="the base configuration's schedule with the learning rate multiplied by 10",
                       notes=("Absolute learning rate unknown: the notes only say x10.",))),
        gpu_900k,
        _spec("keypoints/v1/v1_150_To_360_1_6M",
              "Continued from the 150x150 GPU stage at 360x360 input, to 1.6M steps in all.", 360,
              Training(input_size=360, steps=1_600_000, dataset=_TRAIN_DATA,
                       notes=("1.6M counts the parent's steps too (progressive resizing 150 -> 360).",
                              "Hardware and batch size unknown.")),
              parent=ParentRef(GPU_150, gpu_900k.content_hash),
              notes=("Parent: the notes say 'the 150x150 GPU stage'; v1_150x150_GPU_900K is that run (the "
                     "300K GPU run is the other candidate).",),
              evaluations=(_reported(360, 0.19, 0.45, 0.10,
                                     "All three figures are approximate ('about')."),)),
    ]


def record_original_experiments(archive: Archive) -> list[Stage]:
    """Write the original stages into ``archive`` (those already there with the same content are kept)."""
    stages = []
    for manifest in original_manifests():
        if archive.exists(manifest.stage_id):
            stage = archive.get(manifest.stage_id)
            if stage.manifest.content_hash != manifest.content_hash:
                raise StageExistsError(f"{manifest.stage_id} exists with other content; not overwritten")
            stages.append(stage)
        else:
            stages.append(archive.install(manifest))
    return stages
