"""Peer face detectors to compare against: MTCNN and OpenCV's Haar cascade, as ``BatchDetector``s.

Both need the optional ``peers`` extra (``pip install -e '.[peers]'``): ``mtcnn`` (TensorFlow;
its P/R/O-Net weights ship inside the package, nothing is downloaded) and
``opencv-python-headless`` (the frontal-face cascade XML ships in ``cv2.data.haarcascades``).
A missing package raises ``ConfigError`` saying what to install.

Scores, so that the precision-recall curve and AP mean something:
- MTCNN: the O-Net face confidence (0-1).
- Haar: OpenCV's ``detectMultiScale3(..., outputRejectLevels=True)`` level weight (the last
  stage's summed weak-classifier votes, unbounded) mapped through a logistic ``1 / (1 + e^-w)``.
  The map is monotonic, so ranking, PR curve and AP are exactly those of the raw weights; it
  only puts the scores in 0-1 like every other detector's, so one display threshold fits all.

Images are uint8 RGB of any size; boxes come back in their pixels, xmin, ymin, xmax, ymax.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.coco_metrics import ImageDetections

PEERS: tuple[str, ...] = ("mtcnn", "haar")
INSTALL_HINT = "pip install -e '.[peers]'"


def _empty() -> ImageDetections:
    return ImageDetections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image [H, W, 3], got {image.dtype} {list(image.shape)}")
    return image


class MTCNNDetector:
    """MTCNN (Zhang et al. 2016) from the ``mtcnn`` package: P-Net, R-Net, O-Net, one image at a time.

    ``min_face_size`` and the three stage thresholds are the package's defaults (20 px,
    0.6/0.7/0.8); lower ``threshold_onet`` to trade precision for a longer PR curve.
    """

    name = "mtcnn"

    def __init__(self, min_face_size: int = 20, threshold_pnet: float = 0.6, threshold_rnet: float = 0.7,
                 threshold_onet: float = 0.8, device: str = "CPU:0"):
        try:
            from mtcnn import MTCNN
        except ImportError as e:
            raise ConfigError(f"the mtcnn peer needs the 'mtcnn' package ({e}); install it with: {INSTALL_HINT}") from e
        if min_face_size < 1:
            raise ConfigError(f"MTCNNDetector: min_face_size must be >= 1, got {min_face_size}")
        self._mtcnn = MTCNN(stages="face_and_landmarks_detection", device=device)
        self.options: dict[str, Any] = {"min_face_size": int(min_face_size), "threshold_pnet": threshold_pnet,
                                        "threshold_rnet": threshold_rnet, "threshold_onet": threshold_onet}

    def detect(self, image: np.ndarray) -> ImageDetections:
        image = _check_image(image)
        rows = np.asarray(self._mtcnn.detect_faces(image, box_format="xyxy", output_type="numpy", **self.options))
        if rows.size == 0:
            return _empty()
        rows = rows.reshape(-1, rows.shape[-1])  # [image_id, x1, y1, x2, y2, confidence, 10 landmark coords]
        return ImageDetections(rows[:, 1:5].astype(np.float32), rows[:, 5].astype(np.float32))

    def detect_batch(self, images: list[np.ndarray]) -> tuple[list[ImageDetections], float]:
        return _timed_loop(self.detect, images)


class HaarDetector:
    """OpenCV's Viola-Jones cascade (``haarcascade_frontalface_default.xml``) on the greyscale image.

    Settings follow OpenCV's ``facedetect.py`` sample: histogram equalisation, scale
    factor 1.1, 3 neighbours; the smallest face is the cascade's 24x24 window unless
    ``min_size`` says more.
    """

    name = "haar"

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", scale_factor: float = 1.1,
                 min_neighbors: int = 3, min_size: int = 0, equalize: bool = True):
        try:
            import cv2
        except ImportError as e:
            raise ConfigError(f"the haar peer needs OpenCV ({e}); install it with: {INSTALL_HINT}") from e
        if scale_factor <= 1.0:
            raise ConfigError(f"HaarDetector: scale_factor must be > 1, got {scale_factor}")
        path = cascade if Path(cascade).is_file() else str(Path(cv2.data.haarcascades) / cascade)
        self._cv2 = cv2
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise ConfigError(f"HaarDetector: cannot load the cascade {path}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.equalize = equalize

    def detect(self, image: np.ndarray) -> ImageDetections:
        cv2 = self._cv2
        gray = cv2.cvtColor(_check_image(image), cv2.COLOR_RGB2GRAY)
        if self.equalize:
            gray = cv2.equalizeHist(gray)
        rects, _levels, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size), outputRejectLevels=True)
        if len(rects) == 0:
            return _empty()
        r = np.asarray(rects, np.float32).reshape(-1, 4)  # x, y, w, h
        boxes = np.stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]], axis=-1)
        w = np.asarray(weights, np.float64).reshape(-1)
        scores = 1.0 / (1.0 + np.exp(-w))
        order = np.argsort(-scores, kind="stable")
        return ImageDetections(boxes[order], scores[order].astype(np.float32))

    def detect_batch(self, images: list[np.ndarray]) -> tuple[list[ImageDetections], float]:
        return _timed_loop(self.detect, images)


def _timed_loop(detect: Callable[[np.ndarray], ImageDetections],
                images: list[np.ndarray]) -> tuple[list[ImageDetections], float]:
    """Per-image detection; the seconds cover the detector's own call (its resize, pyramid, NMS)."""
    out = []
    t0 = time.perf_counter()
    for image in images:
        out.append(detect(image))
    return out, time.perf_counter() - t0


def make_peer(name: str, **options: Any):
    """``'mtcnn'`` -> ``MTCNNDetector(**options)``, ``'haar'`` -> ``HaarDetector(**options)``."""
    if name == "mtcnn":
        return MTCNNDetector(**options)
    if name == "haar":
        return HaarDetector(**options)
    raise ConfigError(f"unknown peer detector {name!r}; choose one of {', '.join(PEERS)}")
