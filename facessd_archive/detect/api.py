"""What ``facessd detect`` does, as library calls: pictures in, faces (original pixels) out.

``open_detector`` resolves the detector the way ``facessd evaluate`` does; ``run_detect`` reads
each picture upright (EXIF orientation applied), runs it through the ``BatchDetector``, keeps
the faces scoring at least ``threshold``, and reports every picture (``on_result``) or the
reason it was skipped (``on_skip``) as it goes; with ``out_dir`` it also writes each picture
with its faces drawn and ``detections.jsonl``.

How a picture is fed to the network (resized to the input size today) is the runner's
business, not this module's: ``detect`` hands full-size pictures to ``detect_batch`` and gets
boxes back in those pictures' pixels. A runner option such as a maximum side or inference at
the original size reaches the runner through ``open_detector(..., **runner_options)``.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from facessd_archive.data.images import load_rgb
from facessd_archive.detect.drawing import draw_detections, encode, output_format
from facessd_archive.detect.inputs import ImageInput
from facessd_archive.errors import ConfigError, DataError
from facessd_archive.fileio import atomic_write_bytes, atomic_write_text

DETECTIONS_FILE = "detections.jsonl"


@dataclass(frozen=True)
class ImageResult:
    """The faces found in one picture: ``boxes`` [N, 4] xmin, ymin, xmax, ymax in the upright
    picture's pixels (clipped to it), ``scores`` [N] descending."""

    image: Path
    width: int
    height: int
    boxes: np.ndarray
    scores: np.ndarray

    @property
    def num_faces(self) -> int:
        return len(self.scores)

    def to_json(self) -> dict[str, Any]:
        """``{"image", "width", "height", "detections": [{"box": [xmin, ymin, xmax, ymax], "score"}]}``."""
        return {"image": str(self.image), "width": self.width, "height": self.height,
                "detections": [{"box": [round(v, 2) for v in box], "score": round(score, 4)}
                               for box, score in zip(self.boxes.tolist(), self.scores.tolist())]}

    def json_line(self) -> str:
        return json.dumps(self.to_json())


@dataclass(frozen=True)
class DetectSummary:
    images: int  # pictures read and searched
    faces: int
    skipped: tuple[str, ...]  # one line per picture that could not be read
    seconds: float  # wall time of the run: read, detect, draw, write

    @property
    def images_per_second(self) -> float:
        return self.images / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class _Skipped:
    item: ImageInput
    reason: str


@dataclass(frozen=True)
class _Found:
    item: ImageInput
    picture: np.ndarray
    result: ImageResult


def open_detector(spec: str | None = None, runtime: str = "tf", archive_root: Path | None = None,
                  **runner_options: Any):
    """The ``ResolvedDetector`` for ``spec``: ``None`` is the archive's default stage, else a stage id,
    a model folder, run folder or checkpoint prefix, or a peer (``mtcnn``, ``haar``).

    ``runner_options`` pass unchanged to ``evaluate.api.resolve_detector``: the resize policy
    (``max_side=``, ``original_size=``, ``photo_max_side=``) and ``two_scale=`` (``None``: where it
    applies), as ``facessd detect`` sets them.
    """
    from facessd_archive.evaluate.api import resolve_detector

    return resolve_detector(spec, runtime=runtime, archive_root=archive_root, **runner_options)


def run_detect(detector, inputs: Sequence[ImageInput], threshold: float = 0.3, batch_size: int = 8,
               out_dir: Path | None = None, on_result: Callable[[ImageResult], None] | None = None,
               on_skip: Callable[[str], None] | None = None,
               progress: Callable[[int], None] | None = None) -> DetectSummary:
    """Detect faces in every picture of ``inputs`` with ``detector`` (a ``BatchDetector``).

    A picture that cannot be read is reported through ``on_skip`` (one line naming it) and the
    run goes on; ``DataError`` only when none could be read. ``progress`` gets 1 per picture.
    With ``out_dir``: ``out_dir/<relative path>`` (each picture drawn, same format; atomic) and
    ``out_dir/detections.jsonl`` (``ImageResult.json_line`` per picture read, in input order).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"detect: threshold must be in [0, 1], got {threshold}")
    if batch_size < 1:
        raise ConfigError(f"detect: batch_size must be >= 1, got {batch_size}")
    if not inputs:
        raise DataError("detect: no pictures given")
    start = time.perf_counter()
    lines: list[str] = []
    skipped: list[str] = []
    faces = 0
    for outcome in _detect_all(detector, inputs, threshold, batch_size):
        if isinstance(outcome, _Skipped):
            skipped.append(outcome.reason)
            if on_skip is not None:
                on_skip(outcome.reason)
        else:
            result = outcome.result
            faces += result.num_faces
            if out_dir is not None:
                _write_drawn(Path(out_dir), outcome.item, outcome.picture, result)
                lines.append(result.json_line() + "\n")
            if on_result is not None:
                on_result(result)
        if progress is not None:
            progress(1)
    read = len(inputs) - len(skipped)
    if read == 0:
        raise DataError(f"none of the {len(inputs)} picture(s) could be read; first: {skipped[0]}")
    if out_dir is not None:
        atomic_write_text(Path(out_dir) / DETECTIONS_FILE, "".join(lines))
    return DetectSummary(read, faces, tuple(skipped), time.perf_counter() - start)


def _decode_batch(items: Sequence[ImageInput]) -> list[tuple[ImageInput, np.ndarray | str]]:
    """Each picture decoded upright, or the one-line reason it could not be."""
    out: list[tuple[ImageInput, np.ndarray | str]] = []
    for item in items:
        try:
            out.append((item, load_rgb(item.path, exif_orientation=True)))
        except (DataError, Image.DecompressionBombError) as e:
            out.append((item, _one_line(e, item.path)))
    return out


def _detect_all(detector, inputs: Sequence[ImageInput], threshold: float,
                batch_size: int) -> Iterator[_Skipped | _Found]:
    """Per picture, in input order: ``_Found`` or ``_Skipped``. One background thread decodes the
    next batch while the detector runs on this one (PIL's decoder releases the GIL)."""
    batches = [inputs[begin:begin + batch_size] for begin in range(0, len(inputs), batch_size)]
    with ThreadPoolExecutor(1, thread_name_prefix="decode") as pool:
        pending = pool.submit(_decode_batch, batches[0])
        for k in range(len(batches)):
            outcomes = pending.result()
            if k + 1 < len(batches):
                pending = pool.submit(_decode_batch, batches[k + 1])
            decoded = []
            for item, outcome in outcomes:
                if isinstance(outcome, str):
                    yield _Skipped(item, outcome)
                else:
                    decoded.append((item, outcome))
            if not decoded:
                continue
            detections, _ = detector.detect_batch([picture for _, picture in decoded])
            for (item, picture), found in zip(decoded, detections):
                yield _Found(item, picture, _keep(item.path, picture, found.boxes, found.scores, threshold))


def _keep(path: Path, picture: np.ndarray, boxes: np.ndarray, scores: np.ndarray, threshold: float) -> ImageResult:
    h, w = picture.shape[:2]
    keep = np.asarray(scores) >= threshold
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)[keep]
    scores = np.asarray(scores, np.float32)[keep]
    order = np.argsort(-scores, kind="stable")
    boxes = np.clip(boxes[order], 0.0, [w, h, w, h]).astype(np.float32)
    return ImageResult(path, w, h, boxes, scores[order])


def _one_line(error: Exception, path: Path) -> str:
    message = " ".join(str(error).split())
    return message if str(path) in message else f"{path}: {message}"


def _write_drawn(out_dir: Path, item: ImageInput, picture: np.ndarray, result: ImageResult) -> None:
    target = out_dir / item.relative
    fmt = output_format(target)
    if fmt is None:  # an extension PIL cannot write (a file named on the command line): PNG beside it
        target, fmt = target.with_name(target.name + ".png"), "PNG"
    atomic_write_bytes(target, encode(draw_detections(picture, result.boxes, result.scores), fmt))
