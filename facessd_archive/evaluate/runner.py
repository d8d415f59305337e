"""Running a detector over a benchmark: detections in original-image pixels, plus timings.

Anything that maps a batch of decoded images to per-image ``ImageDetections`` can be
evaluated (``BatchDetector``): the SSD runtimes here, and peers (MTCNN, Haar) in
``peers.py``. Timings separate the model alone from end to end (decode, resize,
model, conversion), so the speed table says where time goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np

from facessd_archive.data.images import load_rgb, load_sample_image
from facessd_archive.data.sample import Sample
from facessd_archive.errors import ConfigError, DataError
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.evaluate.resizing import ResizePolicy, prepare, resize_policy, to_pixels
from facessd_archive.evaluate.runtime import Runtime
from facessd_archive.model.checkpoint import find_checkpoint

if TYPE_CHECKING:
    from facessd_archive.model.config import ModelConfig


class BatchDetector(Protocol):
    """Detects faces in a batch of uint8 RGB images of any sizes."""

    name: str

    def detect_batch(self, images: list[np.ndarray]) -> tuple[list[ImageDetections], float]:
        """Per-image detections (pixels) and the seconds spent in the model alone."""
        ...


class SSDBatchDetector:
    """An SSD runtime behind the ``BatchDetector`` interface: resize (``ResizePolicy``) -> graph -> pixels.

    With a ``keep_aspect`` policy images of one batch can differ in shape: they are run in groups
    of equal padded shape (one graph call each), and the results come back in input order.
    """

    def __init__(self, runtime: Runtime, name: str, policy: ResizePolicy | None = None):
        self.runtime = runtime
        self.name = name
        self.policy = policy or ResizePolicy("square", runtime.input_size)

    def detect_batch(self, images: list[np.ndarray]) -> tuple[list[ImageDetections], float]:
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            _, _, ph, pw = self.policy.input_shape(*im.shape[:2])
            groups.setdefault((ph, pw), []).append(i)
        out: list[ImageDetections | None] = [None] * len(images)
        model_seconds = 0.0
        for indices in groups.values():
            batch = np.stack([prepare(images[i], self.policy) for i in indices])
            t0 = time.perf_counter()
            raw = self.runtime(batch)
            model_seconds += time.perf_counter() - t0
            for row, i in enumerate(indices):
                n = int(raw.num_detections[row])
                pixels = to_pixels(raw.boxes[row, :n], images[i].shape[:2], self.policy)
                out[i] = ImageDetections(pixels, raw.scores[row, :n].astype(np.float32))
        return out, model_seconds  # type: ignore[return-value]


def load_ssd_batch_detector(folder: Path, name: str, runtime: str = "tf", max_side: int | None = None,
                            original_size: bool = False) -> tuple[SSDBatchDetector, "ModelConfig"]:
    """A model folder as a ``BatchDetector``, with the resize policy of its config unless
    ``max_side`` / ``original_size`` override it (see ``resizing.resize_policy``)."""
    from facessd_archive.evaluate.runtimes import make_runtime
    from facessd_archive.model.checkpoint import load_config, load_detector

    config = load_config(find_checkpoint(Path(folder))[0])
    policy = resize_policy(config, max_side=max_side, original_size=original_size)
    if policy.kind == "square":
        detector = load_detector(Path(folder))
    else:
        if runtime != "tf":
            raise ConfigError(f"--runtime {runtime} runs a fixed input shape; {policy.describe()} needs "
                              f"--runtime tf")
        detector = load_detector(Path(folder), input_shape=(None, None))
    return SSDBatchDetector(make_runtime(detector, runtime), name=name, policy=policy), config


@dataclass
class DetectionRun:
    detections: list[ImageDetections]
    sizes: list[tuple[int, int]]  # (height, width) of each decoded image
    model_seconds_per_image: list[float] = field(default_factory=list)
    total_seconds_per_image: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    def speed(self) -> dict[str, float]:
        n = len(self.detections)
        model = np.asarray(self.model_seconds_per_image)
        total = np.asarray(self.total_seconds_per_image)
        return {
            "images": n,
            "model_images_per_second": float(n / max(model.sum(), 1e-9)),
            "end_to_end_images_per_second": float(n / max(self.wall_seconds, 1e-9)),
            "model_latency_ms_median": float(np.median(model) * 1e3) if n else 0.0,
            "model_latency_ms_p90": float(np.percentile(model, 90) * 1e3) if n else 0.0,
            "end_to_end_latency_ms_median": float(np.median(total) * 1e3) if n else 0.0,
            "end_to_end_latency_ms_p90": float(np.percentile(total, 90) * 1e3) if n else 0.0,
        }


def run_detector(detector: BatchDetector, samples: Sequence[Sample], batch_size: int = 8,
                 warmup: bool = True, progress: Callable[[int], None] | None = None) -> DetectionRun:
    """Detect on every sample. Latencies are per image: a batch's time divided by its size.

    One warm-up batch (not timed) keeps graph tracing out of the speed figures.
    """
    if not samples:
        raise DataError("the benchmark has no images")
    if warmup:
        detector.detect_batch([load_rgb(samples[0].image_path)])
    run = DetectionRun([], [])
    t_start = time.perf_counter()
    for start in range(0, len(samples), batch_size):
        t0 = time.perf_counter()
        chunk = samples[start:start + batch_size]
        images = []
        for sample in chunk:
            image = load_sample_image(sample)
            images.append(image)
            run.sizes.append(image.shape[:2])
        dets, model_seconds = detector.detect_batch(images)
        run.detections.extend(dets)
        elapsed = time.perf_counter() - t0
        run.model_seconds_per_image.extend([model_seconds / len(chunk)] * len(chunk))
        run.total_seconds_per_image.extend([elapsed / len(chunk)] * len(chunk))
        if progress is not None:
            progress(len(chunk))
    run.wall_seconds = time.perf_counter() - t_start
    return run
