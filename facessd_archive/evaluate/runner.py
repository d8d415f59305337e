"""Running a detector over a benchmark: detections in original-image pixels, plus timings.

Anything that maps a batch of decoded images to per-image ``ImageDetections`` can be
evaluated (``BatchDetector``): the SSD runtimes here, and peers (MTCNN, Haar) in
``peers.py``. Timings separate the model alone from end to end (decode, resize,
model, conversion), so the speed table says where time goes.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np

from facessd_archive.data.images import load_rgb, load_sample_image
from facessd_archive.data.sample import Sample
from facessd_archive.errors import ConfigError, DataError
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.evaluate.decoding import decode_sample
from facessd_archive.evaluate.pyramid import TwoScale, merge
from facessd_archive.evaluate.resizing import ResizePolicy, fixed_square, prepare, resize_policy, to_pixels
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


@dataclass
class PreparedBatch:
    """Network inputs for a batch, with the size each picture was decoded at (possibly reduced, see
    ``decoding.py``) and its original size, so boxes go back to original pixels."""

    inputs: list[np.ndarray]  # one padded float32 input per picture
    decoded_hw: list[tuple[int, int]]
    original_hw: list[tuple[int, int]]
    coarse_inputs: list[np.ndarray | None] = field(default_factory=list)  # two-scale: the second pass, if any


class SSDBatchDetector:
    """An SSD runtime behind the ``BatchDetector`` interface: resize (``ResizePolicy``) -> graph -> pixels.

    With a ``keep_aspect`` policy images of one batch can differ in shape: they are run in groups
    of equal padded shape (one graph call each), and the results come back in input order.
    ``prepare`` (decode-side work: resize and pad) and ``detect_prepared`` (the graph) are separate
    so that ``run_detector`` can prepare the next batch while this one runs. ``two_scale`` adds a
    coarse pass for faces larger than the training crops (``pyramid.py``).
    """

    def __init__(self, runtime: Runtime, name: str, policy: ResizePolicy | None = None,
                 two_scale: TwoScale | None = None):
        self.runtime = runtime
        self.name = name
        self.policy = policy or ResizePolicy("square", runtime.input_size)
        self.two_scale = two_scale
        self.coarse_policy = two_scale.coarse_policy(self.policy) if two_scale is not None else None

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) a picture of this size is resized to: what a reduced decode may go down to."""
        rh, rw, _, _ = self.policy.input_shape(height, width)
        return rh, rw

    def prepare(self, images: list[np.ndarray], original_hw: list[tuple[int, int]] | None = None) -> PreparedBatch:
        decoded = [tuple(im.shape[:2]) for im in images]
        batch = PreparedBatch([prepare(im, self.policy) for im in images], decoded,  # type: ignore[arg-type]
                              list(original_hw) if original_hw is not None else decoded)  # type: ignore[arg-type]
        if self.two_scale is not None:
            batch.coarse_inputs = [prepare(im, self.coarse_policy) if self.two_scale.needs_coarse(self.policy, *hw)
                                   else None for im, hw in zip(images, decoded)]
        return batch

    def detect_prepared(self, batch: PreparedBatch) -> tuple[list[ImageDetections], float]:
        passes = [(i, self.policy, x) for i, x in enumerate(batch.inputs)]
        passes += [(i, self.coarse_policy, x) for i, x in enumerate(batch.coarse_inputs) if x is not None]
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, (_, _, x) in enumerate(passes):
            groups.setdefault(x.shape, []).append(k)
        found: dict[tuple[int, bool], ImageDetections] = {}
        model_seconds = 0.0
        for members in groups.values():
            inputs = [passes[k][2] for k in members]
            stacked = inputs[0][None] if len(inputs) == 1 else np.stack(inputs)  # a view for one image
            t0 = time.perf_counter()
            raw = self.runtime(stacked)
            model_seconds += time.perf_counter() - t0
            for row, k in enumerate(members):
                i, policy, _ = passes[k]
                n = int(raw.num_detections[row])
                pixels = to_pixels(raw.boxes[row, :n], batch.decoded_hw[i], policy)
                (dh, dw), (oh, ow) = batch.decoded_hw[i], batch.original_hw[i]
                if (dh, dw) != (oh, ow):  # decoded at reduced scale: back to the original's pixels
                    pixels = pixels * np.array([ow / dw, oh / dh, ow / dw, oh / dh], np.float32)
                found[i, policy is self.coarse_policy] = ImageDetections(pixels.astype(np.float32),
                                                                         raw.scores[row, :n].astype(np.float32))
        out = []
        for i in range(len(batch.inputs)):
            fine, coarse = found[i, False], found.get((i, True))
            if coarse is not None:
                spec = self.two_scale
                boxes, scores = merge(fine.boxes, fine.scores, coarse.boxes, coarse.scores,
                                      spec.split_pixels(self.policy, *batch.original_hw[i]), spec.iou_threshold,
                                      spec.max_detections)
                fine = ImageDetections(boxes, scores)
            out.append(fine)
        return out, model_seconds

    def detect_batch(self, images: list[np.ndarray]) -> tuple[list[ImageDetections], float]:
        return self.detect_prepared(self.prepare(images))


def load_ssd_batch_detector(folder: Path, name: str, runtime: str = "tf", max_side: int | None = None,
                            original_size: bool = False, strategy=None, batch_size: int = 8,
                            strategy_name: str | None = None, two_scale: bool | None = False,
                            photo_max_side: int | None = None) -> tuple[SSDBatchDetector, "ModelConfig"]:
    """A model folder as a ``BatchDetector``, with the resize policy of its config unless
    ``max_side`` / ``original_size`` override it (see ``resizing.resize_policy``).

    The TF runtime runs a keep-aspect policy at each image's padded shape; the TFLite runtimes run
    one fixed shape, so keep-aspect becomes the image scaled to fit ``max_side`` and zero-padded to
    one square (``resizing.fixed_square``; original size is refused in one line), and the network
    is built at that square with the anchors of its one grid.

    ``strategy`` (a ``tf.distribute.Strategy``, ``--strategy``) runs the TF graph on its replicas with
    static shapes (``strategy_runtime.py``): one square as for TFLite, ``batch_size`` the global batch.

    ``two_scale`` adds a coarse pass at the training input size for faces larger than the training
    crops (``pyramid.py``): TF runtime, keep-aspect policies only (one line otherwise); ``None``: where
    it applies. ``photo_max_side``: where the TF runtime would run pictures at their original size
    (neither ``max_side`` nor ``original_size`` given), scale larger ones down to it (``detect``: a
    12-megapixel photo at its own size takes 6 GB).
    """
    from facessd_archive.evaluate.runtimes import make_runtime
    from facessd_archive.model.checkpoint import load_config, load_detector

    config = load_config(find_checkpoint(Path(folder))[0])
    policy = resize_policy(config, max_side=max_side, original_size=original_size)
    if (photo_max_side is not None and not original_size and policy.kind == "keep_aspect" and policy.max_side is None
            and runtime == "tf" and strategy is None):
        policy = dataclasses.replace(policy, max_side=photo_max_side)
    if two_scale is None:
        two_scale = policy.kind == "keep_aspect" and runtime == "tf" and strategy is None
    if two_scale:
        _check_two_scale(policy, runtime, strategy is not None)
    if strategy is not None:
        return _load_under_strategy(folder, name, runtime, policy, strategy, batch_size, strategy_name), config
    if policy.kind == "square":
        detector = load_detector(Path(folder))
    elif runtime == "tf":
        detector = load_detector(Path(folder), input_shape=(None, None))
    else:
        policy = fixed_square(policy, runtime)
        detector = load_detector(Path(folder), input_size=policy.square_side)
    spec = (TwoScale(config.input_size, iou_threshold=config.postprocess.iou_threshold,
                     max_detections=config.postprocess.max_detections) if two_scale else None)
    return SSDBatchDetector(make_runtime(detector, runtime, policy=policy), name=name, policy=policy,
                            two_scale=spec), config


def _check_two_scale(policy: ResizePolicy, runtime: str, under_strategy: bool) -> None:
    if policy.kind == "square":
        raise ConfigError("two-scale inference is for stages that keep the aspect ratio; this one squashes every "
                          "picture to one square")
    if runtime != "tf" or under_strategy:
        raise ConfigError("two-scale inference runs on --runtime tf without --strategy (the other runtimes run "
                          "one fixed input shape)")


def _load_under_strategy(folder: Path, name: str, runtime: str, policy: ResizePolicy, strategy, batch_size: int,
                         strategy_name: str | None) -> SSDBatchDetector:
    from facessd_archive.evaluate.strategy_runtime import StrategyRuntime
    from facessd_archive.model.checkpoint import load_detector

    label = strategy_name or type(strategy).__name__
    if runtime != "tf":
        raise ConfigError(f"--strategy {label} runs the TensorFlow graph: use it with --runtime tf")
    if policy.kind != "square" and policy.max_side is None:
        raise ConfigError(f"--strategy {label} runs one fixed input shape (as a TPU needs) and cannot run each "
                          f"image at its original size: give --max-side N (the image scaled to fit N, "
                          f"zero-padded to a square)")
    if policy.kind != "square":
        policy = fixed_square(policy, runtime)
    with strategy.scope():
        detector = load_detector(Path(folder), input_size=policy.size if policy.kind == "square"
                                 else policy.square_side)
    replicas = strategy.num_replicas_in_sync
    runtime_label = f"tf, --strategy {label} ({replicas} replica{'s' if replicas > 1 else ''})"
    return SSDBatchDetector(StrategyRuntime(detector, strategy, batch_size, label=runtime_label), name=name,
                            policy=policy)


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
                 warmup: bool = True, progress: Callable[[int], None] | None = None,
                 pipeline: bool = True) -> DetectionRun:
    """Detect on every sample. Latencies are per image: a batch's time divided by its size.

    One warm-up batch (not timed) keeps graph tracing out of the speed figures. With ``pipeline``
    (default) one background thread decodes the next batch, and for an SSD detector also resizes
    it, while the model runs on this one (PIL's decode and TFLite's ``invoke`` release the GIL);
    JPEGs much larger than the network input are decoded at reduced scale (``decoding.py``).
    Without it every step runs in turn, at full scale, as before.
    """
    if not samples:
        raise DataError("the benchmark has no images")
    if warmup:
        detector.detect_batch([load_rgb(samples[0].image_path)])
    chunks = [samples[start:start + batch_size] for start in range(0, len(samples), batch_size)]
    run = DetectionRun([], [])
    t_start = time.perf_counter()
    if not pipeline:
        for chunk in chunks:
            t0 = time.perf_counter()
            images = [load_sample_image(sample) for sample in chunk]
            run.sizes.extend(im.shape[:2] for im in images)
            dets, model_seconds = detector.detect_batch(images)
            _add_chunk(run, dets, model_seconds, time.perf_counter() - t0, progress)
        run.wall_seconds = time.perf_counter() - t_start
        return run
    with ThreadPoolExecutor(1, thread_name_prefix="decode") as pool:
        pending = pool.submit(_load_chunk, detector, chunks[0])
        for k in range(len(chunks)):
            t0 = time.perf_counter()
            images, sizes, prepared = pending.result()
            if k + 1 < len(chunks):
                pending = pool.submit(_load_chunk, detector, chunks[k + 1])
            run.sizes.extend(sizes)
            if prepared is not None:
                dets, model_seconds = detector.detect_prepared(prepared)  # type: ignore[attr-defined]
            else:
                dets, model_seconds = detector.detect_batch(images)
            _add_chunk(run, dets, model_seconds, time.perf_counter() - t0, progress)
    run.wall_seconds = time.perf_counter() - t_start
    return run


def _load_chunk(detector: BatchDetector, chunk: Sequence[Sample]):
    """Decode a batch (reduced where the detector says how far it resizes) and, for an SSD detector,
    prepare its inputs: (decoded images, original sizes, ``PreparedBatch`` or None)."""
    target = getattr(detector, "target_size", None)
    decoded = [decode_sample(sample, target) for sample in chunk]
    images = [pixels for pixels, _ in decoded]
    sizes = [hw for _, hw in decoded]
    prepare_fn = getattr(detector, "prepare", None)
    if prepare_fn is None:
        return images, sizes, None
    return images, sizes, prepare_fn(images, sizes)


def _add_chunk(run: DetectionRun, dets: list[ImageDetections], model_seconds: float, elapsed: float,
               progress: Callable[[int], None] | None) -> None:
    n = len(dets)
    run.detections.extend(dets)
    run.model_seconds_per_image.extend([model_seconds / n] * n)
    run.total_seconds_per_image.extend([elapsed / n] * n)
    if progress is not None:
        progress(n)
