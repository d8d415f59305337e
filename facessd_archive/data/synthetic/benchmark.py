"""The built-in sample benchmark: synthetic face scenes with exact boxes, made from a seed.

``sample_benchmark()`` needs no network and no data: it draws ``num_images`` scenes
(people with varied face sizes, poses, skin tones, masks, hands and glasses, on cluttered
backgrounds, with uneven lighting, blur and noise), writes them as PNG into a cache folder
and returns one ``Sample`` per image. The pictures are *synthetic*: figures for evaluating a
detector end to end anywhere, never a stand-in for a real benchmark's numbers.

Image ``i`` depends only on ``(seed, i)`` (its own ``numpy.random.RandomState``, whose stream
numpy keeps fixed), so the same seed gives the same annotations on every machine and the same
PNG bytes with the same Pillow and zlib. ``sample_benchmark_hash`` ties a result to the exact
set: it hashes the annotations and the decoded pixels, so it does not depend on how a PNG
encoder compressed them.

Cache layout (``FACESSD_CACHE`` replaces ``~/.cache/facessd``, read at call time)::

    ~/.cache/facessd/sample-benchmark/v1-seed0-n48/
        annotations.json        # everything below, plus each PNG's size and sha256
        images/s0_0000.png ...

A folder is used only when ``annotations.json`` lists every image with matching size and
sha256; otherwise the set is regenerated in a temporary sibling folder and renamed into place.

The pictures come from ``synthetic_scene`` (layout, ``generate_scene``), ``synthetic_backdrop``
(backgrounds, distractors, light), ``synthetic_person`` (a person's look), ``synthetic_head``
(head geometry and face boxes), ``synthetic_canvas``, ``synthetic_faces`` and
``synthetic_coverings`` (drawing a person); this module holds only the public API, the cache
and the hash, and re-exports ``SAMPLE_BENCHMARK_ID`` and ``generate_scene``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np

from facessd_archive.data.images import load_rgb
from facessd_archive.data.sample import Sample
from facessd_archive.data.synthetic.scene import SAMPLE_BENCHMARK_ID, generate_scene
from facessd_archive.errors import ConfigError, DataError
from facessd_archive.fileio import atomic_write_bytes, atomic_write_json

__all__ = ["SAMPLE_BENCHMARK_ID", "CACHE_ENV", "ANNOTATIONS", "MAX_IMAGES", "default_cache_dir",
           "sample_benchmark_dir", "sample_benchmark", "sample_benchmark_hash", "generate_scene"]

CACHE_ENV = "FACESSD_CACHE"
ANNOTATIONS = "annotations.json"
MAX_IMAGES = 10_000
STALE_AFTER_S = 3600                   # temporary folders older than this are left-overs


def default_cache_dir() -> Path:
    """``$FACESSD_CACHE/sample-benchmark``, or ``~/.cache/facessd/sample-benchmark`` (read now)."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "facessd") / "sample-benchmark"


def sample_benchmark_dir(seed: int = 0, num_images: int = 48, cache_dir: Path | None = None) -> Path:
    """The folder that holds one seed's set: ``CACHE_DIR/v1-seed{seed}-n{num_images}``."""
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"v1-seed{seed}-n{num_images}"


def sample_benchmark(seed: int = 0, num_images: int = 48, cache_dir: Path | None = None) -> list[Sample]:
    """The synthetic benchmark for ``seed``: ``num_images`` Samples with exact face boxes.

    ``cache_dir`` holds the generated sets (default ``default_cache_dir()``); a complete set
    there is reused without rewriting a file. Boxes are pixels ``[xmin, ymin, xmax, ymax]``,
    none ignored; ``attributes['faces'][j]`` describes box ``j`` (size, pose, skin tone,
    mask, eyewear, hand, blur, light), the rest of ``attributes`` the scene.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise ConfigError(f"sample_benchmark: seed must be an integer in [0, 2**32), got {seed!r}")
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) \
            or not 1 <= num_images <= MAX_IMAGES:
        raise ConfigError(f"sample_benchmark: num_images must be an integer in [1, {MAX_IMAGES}], got {num_images!r}")
    seed, num_images = int(seed), int(num_images)
    folder = sample_benchmark_dir(seed, num_images, cache_dir)
    index = _read_complete(folder, seed, num_images)
    if index is None:
        _generate(folder, seed, num_images)
        index = _read_complete(folder, seed, num_images)
        if index is None:
            raise DataError(f"{folder}: the sample benchmark just written there fails its own check; "
                            f"is another process writing to it?")
    return [Sample(image_path=folder / e["file"], boxes=np.asarray(e["boxes"], np.float32).reshape(-1, 4),
                   ignore=np.asarray(e["ignore"], bool), image_id=e["image_id"], width=e["width"],
                   height=e["height"], attributes=e["attributes"]) for e in index["images"]]


def sample_benchmark_hash(samples: Sequence[Sample]) -> str:
    """sha256 (hex) of the canonical annotations and the decoded RGB pixels of ``samples``, in order.

    The image paths are left out (they depend on the cache folder); pixels rather than PNG
    bytes are hashed, so a set re-encoded by another zlib keeps its hash.
    """
    h = hashlib.sha256(SAMPLE_BENCHMARK_ID.encode() + b"\n")
    canonical = [{"image_id": s.image_id, "width": s.width, "height": s.height,
                  "boxes": [[round(float(v), 3) for v in box] for box in s.boxes],
                  "ignore": [bool(v) for v in s.ignore], "attributes": s.attributes} for s in samples]
    h.update(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())
    for s in samples:
        pixels = load_rgb(s.image_path)
        h.update(f"\n{s.image_id} {pixels.shape[1]}x{pixels.shape[0]}\n".encode())
        h.update(np.ascontiguousarray(pixels).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- cache


def _read_complete(folder: Path, seed: int, num_images: int) -> dict | None:
    """The folder's index if it holds the whole set, intact; otherwise None."""
    try:
        index = json.loads((folder / ANNOTATIONS).read_text())
        images = index["images"]
        if (index.get("benchmark") != SAMPLE_BENCHMARK_ID or index.get("seed") != seed
                or index.get("num_images") != num_images or len(images) != num_images):
            return None
        for entry in images:
            data = (folder / entry["file"]).read_bytes()
            if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return index


def _generate(folder: Path, seed: int, num_images: int) -> None:
    """Write the set into a temporary sibling folder, then rename it to ``folder``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    for leftover in folder.parent.glob(f".{folder.name}.*-*"):  # from writers killed over an hour ago
        try:
            if time.time() - leftover.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass
    tmp = folder.parent / f".{folder.name}.incomplete-{uuid.uuid4().hex[:8]}"
    try:
        entries = []
        for i in range(num_images):
            image, boxes, attributes = generate_scene(seed, i)
            buf = io.BytesIO()
            image.save(buf, format="PNG", compress_level=1)
            data = buf.getvalue()
            name = f"images/s{seed}_{i:04d}.png"
            atomic_write_bytes(tmp / name, data)
            entries.append({"file": name, "image_id": f"s{seed}_{i:04d}", "width": image.width,
                            "height": image.height, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                            "boxes": [[round(v, 2) for v in b] for b in boxes], "ignore": [False] * len(boxes),
                            "attributes": attributes})
        atomic_write_json(tmp / ANNOTATIONS, {
            "benchmark": SAMPLE_BENCHMARK_ID, "seed": seed, "num_images": num_images, "synthetic": True,
            "note": "Synthetic scenes drawn by facessd_archive.data.synthetic.benchmark; not photographs.",
            "images": entries})
        if _read_complete(folder, seed, num_images) is not None:  # another process finished first
            return
        if folder.exists():  # incomplete or damaged: move it aside, then drop it
            stale = folder.parent / f".{folder.name}.stale-{uuid.uuid4().hex[:8]}"
            os.rename(folder, stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:
            if _read_complete(folder, seed, num_images) is None:  # not a concurrent writer's finished set
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
