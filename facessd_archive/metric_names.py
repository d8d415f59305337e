"""The metric names every layer speaks: the Object Detection API's COCO names and WIDER FACE's settings.

A module of its own (no pycocotools, no TensorFlow) so that the archive, the evaluation code and
the reports can all import the names without importing each other.
"""

from __future__ import annotations

# pycocotools ``COCOeval.stats[0..11]`` in order, under the names the OD API writes to TensorBoard.
METRIC_NAMES: tuple[str, ...] = (
    "DetectionBoxes_Precision/mAP",
    "DetectionBoxes_Precision/mAP@.50IOU",
    "DetectionBoxes_Precision/mAP@.75IOU",
    "DetectionBoxes_Precision/mAP (small)",
    "DetectionBoxes_Precision/mAP (medium)",
    "DetectionBoxes_Precision/mAP (large)",
    "DetectionBoxes_Recall/AR@1",
    "DetectionBoxes_Recall/AR@10",
    "DetectionBoxes_Recall/AR@100",
    "DetectionBoxes_Recall/AR@100 (small)",
    "DetectionBoxes_Recall/AR@100 (medium)",
    "DetectionBoxes_Recall/AR@100 (large)",
)

# WIDER FACE's own protocol (``evaluate --protocol wider``): AP per difficulty setting.
WIDER_SETTINGS: tuple[str, ...] = ("easy", "medium", "hard")
WIDER_METRIC_NAMES: tuple[str, ...] = tuple(f"WIDER/AP_{s}" for s in WIDER_SETTINGS)
