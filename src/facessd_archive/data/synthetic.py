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
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from facessd_archive.data.images import load_rgb
from facessd_archive.data.sample import Sample
from facessd_archive.data.synthetic_faces import (
    SKIN_TONES, Person, describe, draw_person, face_box, sample_person)
from facessd_archive.errors import ConfigError, DataError
from facessd_archive.fileio import atomic_write_bytes, atomic_write_json

SAMPLE_BENCHMARK_ID = "facessd-sample-v1"
CACHE_ENV = "FACESSD_CACHE"
ANNOTATIONS = "annotations.json"
MIN_FACE_PX, MAX_FACE_PX = 12, 200    # face box widths
MAX_OVERLAP = 0.1                     # of the smaller box, also with a margin for hair around each box
SCENE_MODES = ("crowd", "portrait", "group", "mixed")  # image i gets SCENE_MODES[i % 4]
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
            "note": "Synthetic scenes drawn by facessd_archive.data.synthetic; not photographs.",
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


# ---------------------------------------------------------------- scenes


def generate_scene(seed: int, index: int) -> tuple[Image.Image, list[list[float]], dict]:
    """Image ``index`` of the set for ``seed``: (RGB image, face boxes, attributes)."""
    rng = np.random.RandomState([seed, index])
    mode = SCENE_MODES[index % len(SCENE_MODES)]
    width = int(rng.randint(15, 31)) * 16
    height = int(np.clip(round(width * float(rng.choice([0.5625, 0.75, 0.75, 1.0, 1.25])) / 4) * 4, 180, 360))
    people = _place_people(rng, mode, width, height)
    people.sort(key=lambda p: face_box(p)[3])  # lower (nearer) people are drawn over the ones behind
    image, background = _draw_background(rng, width, height)
    for p in people:
        draw_person(image, p)
    image, light = _finish(rng, image)
    boxes = [list(face_box(p)) for p in people]
    faces = []
    for p, box in zip(people, boxes):
        face = describe(p, box, image_blur=light["global_blur_sigma"])
        face["illumination"] = round(_gain(light, p.cx, p.cy, width, height), 3)
        faces.append(face)
    attributes = {"synthetic": True, "benchmark": SAMPLE_BENCHMARK_ID, "seed": seed, "index": index,
                  "scene": mode, **background, "lighting": light, "faces": faces}
    return image, boxes, attributes


def _face_widths(rng: np.random.RandomState, mode: str, width: int, height: int) -> list[float]:
    """Target face box widths (pixels); every crowd has a tiny face, every portrait a large one."""
    def log_uniform(lo: float, hi: float) -> float:
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))

    if mode == "portrait":
        big = max(81.0, min(0.42 * width, 0.55 * height, MAX_FACE_PX))
        return [rng.uniform(80, big)] + ([rng.uniform(30, 70)] if rng.rand() < 0.35 else [])
    if mode == "group":
        return [rng.uniform(22, 60) for _ in range(rng.randint(3, 7))]
    if mode == "crowd":
        return [rng.uniform(MIN_FACE_PX, 16)] + [log_uniform(MIN_FACE_PX, 36) for _ in range(rng.randint(5, 12))]
    return [log_uniform(MIN_FACE_PX, 110) for _ in range(rng.randint(2, 9))]


def _grow(box, frac: float):
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * frac, (y1 - y0) * frac
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy


def _covered(a, b) -> float:
    """Part of box ``b`` that box ``a`` covers."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    return max(iw, 0.0) * max(ih, 0.0) / ((b[2] - b[0]) * (b[3] - b[1]))


def _place_people(rng: np.random.RandomState, mode: str, width: int, height: int) -> list[Person]:
    """People whose face boxes lie inside the image and barely overlap (hair margin included)."""
    people: list[Person] = []
    boxes: list[tuple[float, float, float, float]] = []
    for target in _face_widths(rng, mode, width, height):
        p = sample_person(rng, 1.0)
        x0, y0, x1, y1 = face_box(p)
        scale = min(target / (x1 - x0), 0.95 * (width - 2) / (x1 - x0), 0.95 * (height - 2) / (y1 - y0))
        p = dataclasses.replace(p, scale=scale)
        x0, y0, x1, y1 = face_box(p)
        depth = (target - MIN_FACE_PX) / 24.0  # crowds: bigger (nearer) faces lower in the picture
        for _ in range(60):
            cx = rng.uniform(1 - x0, width - 1 - x1)
            t = float(np.clip(depth + rng.normal(0, 0.2), 0, 1)) if mode == "crowd" else rng.rand()
            cy = (1 - y0) + t * (height - 2 - (y1 - y0))
            box = (x0 + cx, y0 + cy, x1 + cx, y1 + cy)
            if all(_covered(_grow(box, 0.25), b) <= MAX_OVERLAP and _covered(_grow(b, 0.25), box) <= MAX_OVERLAP
                   for b in boxes):
                people.append(dataclasses.replace(p, cx=cx, cy=cy))
                boxes.append(box)
                break
    return people


# ---------------------------------------------------------------- backgrounds and light


def _colour(rng: np.random.RandomState, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.randint(lo, hi, 3))


def _noise(rng: np.random.RandomState, width: int, height: int, cell: int) -> np.ndarray:
    """Smooth value noise in [-1, 1], [H, W] (random grid, bicubic upsampling)."""
    grid = rng.uniform(-1, 1, (height // cell + 2, width // cell + 2)).astype(np.float32)
    big = Image.fromarray(grid, mode="F").resize((width + 2 * cell, height + 2 * cell), Image.BICUBIC)
    return np.asarray(big, dtype=np.float64)[cell:cell + height, cell:cell + width]


def _gradient(rng: np.random.RandomState, width: int, height: int, c0, c1) -> np.ndarray:
    angle = rng.uniform(0, 2 * math.pi)
    xs = (np.arange(width) - width / 2) * math.cos(angle) / width
    ys = (np.arange(height) - height / 2) * math.sin(angle) / height
    t = np.clip(xs[None, :] + ys[:, None] + 0.5, 0, 1)[:, :, None]
    return np.asarray(c0, np.float64) * (1 - t) + np.asarray(c1, np.float64) * t


def _draw_background(rng: np.random.RandomState, width: int, height: int) -> tuple[Image.Image, dict]:
    kind = str(rng.choice(["indoor", "street", "nature", "studio", "clutter"]))
    base = _gradient(rng, width, height, _colour(rng, 40, 230), _colour(rng, 40, 230))
    if kind == "nature":
        base = _gradient(rng, width, height, (150, 190, 230), (60, 110, 50))
    texture = _noise(rng, width, height, int(rng.randint(6, 40))) * rng.uniform(0.03, 0.15)
    image = Image.fromarray(np.clip(base * (1 + texture[:, :, None]), 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(image, "RGBA")
    {"indoor": _indoor, "street": _street, "nature": _nature, "studio": _studio, "clutter": _clutter}[kind](
        rng, d, width, height)
    distractors = int(rng.choice([0, 0, 1, 2])) if kind != "studio" else 0
    for _ in range(distractors):
        _distractor(rng, d, width, height)
    return image, {"background": kind, "distractors": distractors}


def _rect(rng, width, height, lo=0.05, hi=0.4):
    w, h = rng.uniform(lo, hi) * width, rng.uniform(lo, hi) * height
    x, y = rng.uniform(-0.1 * width, width - 0.5 * w), rng.uniform(-0.1 * height, height - 0.5 * h)
    return x, y, x + w, y + h


def _indoor(rng, d: ImageDraw.ImageDraw, width: int, height: int) -> None:
    floor = rng.uniform(0.55, 0.85) * height
    d.rectangle((0, floor, width, height), fill=_colour(rng, 50, 200))
    for i in range(int(rng.randint(0, 12))):
        x = rng.uniform(0, width)
        d.line((x, floor, x + (x - width / 2) * 0.6, height), fill=(0, 0, 0, 40), width=1)
    d.line((0, floor, width, floor), fill=(40, 35, 30, 160), width=2)
    for _ in range(int(rng.randint(2, 7))):
        x0, y0, x1, y1 = _rect(rng, width, floor, 0.08, 0.35)
        what = rng.randint(4)
        if what == 0:  # window
            d.rectangle((x0, y0, x1, y1), fill=(170, 200, 230), outline=(245, 245, 240), width=4)
            d.line(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1), fill=(245, 245, 240), width=3)
        elif what == 1:  # picture
            d.rectangle((x0, y0, x1, y1), fill=_colour(rng), outline=_colour(rng, 0, 120), width=3)
            d.ellipse(_rect(rng, width, height, 0.03, 0.1), fill=_colour(rng) + (160,))
        elif what == 2:  # door or cupboard
            d.rectangle((x0, y0, x1, floor), fill=_colour(rng, 60, 220), outline=(0, 0, 0, 90), width=2)
            d.ellipse((x1 - 10, (y0 + floor) / 2, x1 - 5, (y0 + floor) / 2 + 5), fill=(200, 180, 90))
        else:  # shelf with things
            d.rectangle((x0, y1, x1, y1 + 5), fill=(110, 80, 50))
            x = x0
            while x < x1 - 6:
                w = rng.uniform(5, 20)
                d.rectangle((x, y1 - rng.uniform(8, 30), x + w, y1), fill=_colour(rng))
                x += w + rng.uniform(1, 6)


def _street(rng, d: ImageDraw.ImageDraw, width: int, height: int) -> None:
    ground = rng.uniform(0.5, 0.8) * height
    x = rng.uniform(-40, 0)
    while x < width:
        w = rng.uniform(40, 140)
        top = rng.uniform(0.0, 0.45) * height
        colour = _colour(rng, 60, 220)
        d.rectangle((x, top, x + w, ground), fill=colour)
        for wy in np.arange(top + 8, ground - 12, rng.uniform(14, 24)):
            for wx in np.arange(x + 6, x + w - 10, rng.uniform(12, 22)):
                d.rectangle((wx, wy, wx + 7, wy + 9), fill=(40, 50, 70) if rng.rand() < 0.7 else (230, 220, 150))
        x += w + rng.uniform(0, 20)
    d.rectangle((0, ground, width, height), fill=(95, 95, 100))
    for lx in np.arange(rng.uniform(0, 40), width, 60):
        d.rectangle((lx, (ground + height) / 2, lx + 25, (ground + height) / 2 + 3), fill=(230, 230, 220))
    for _ in range(int(rng.randint(0, 4))):
        cx, cw = rng.uniform(0, width), rng.uniform(50, 120)
        cy = rng.uniform(ground, height)
        d.rounded_rectangle((cx, cy - 0.35 * cw, cx + cw, cy), radius=8, fill=_colour(rng))
        for wx in (cx + 0.2 * cw, cx + 0.8 * cw):
            d.ellipse((wx - 0.1 * cw, cy - 0.1 * cw, wx + 0.1 * cw, cy + 0.1 * cw), fill=(25, 25, 25))
    for _ in range(int(rng.randint(0, 4))):
        px = rng.uniform(0, width)
        d.line((px, rng.uniform(0, ground * 0.5), px, ground + 10), fill=(60, 60, 60), width=3)


def _nature(rng, d: ImageDraw.ImageDraw, width: int, height: int) -> None:
    horizon = rng.uniform(0.3, 0.6) * height
    pts = [(0, height)] + [(x, horizon + rng.uniform(-30, 30)) for x in np.linspace(0, width, 7)] + [(width, height)]
    d.polygon(pts, fill=_colour(rng, 40, 140))
    for _ in range(int(rng.randint(2, 6))):
        tx = rng.uniform(0, width)
        d.rectangle((tx - 5, horizon - 40, tx + 5, horizon + 40), fill=(90, 60, 40))
    for _ in range(int(rng.randint(30, 90))):
        r = rng.uniform(6, 30)
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        g = rng.randint(60, 180)
        d.ellipse((x - r, y - r * 0.8, x + r, y + r * 0.8), fill=(int(g * 0.5), g, int(g * 0.35), 200))
    for _ in range(int(rng.randint(0, 40))):
        x, y = rng.uniform(0, width), rng.uniform(horizon, height)
        d.ellipse((x - 2, y - 2, x + 2, y + 2), fill=_colour(rng, 120, 256))


def _studio(rng, d: ImageDraw.ImageDraw, width: int, height: int) -> None:
    for _ in range(int(rng.randint(0, 3))):
        d.rectangle(_rect(rng, width, height, 0.2, 0.6), fill=_colour(rng) + (30,))


def _clutter(rng, d: ImageDraw.ImageDraw, width: int, height: int) -> None:
    for _ in range(int(rng.randint(25, 70))):
        box = _rect(rng, width, height, 0.02, 0.3)
        colour = _colour(rng) + (int(rng.randint(90, 256)),)
        what = rng.randint(5)
        if what == 0:
            d.rectangle(box, fill=colour)
        elif what == 1:
            d.ellipse(box, fill=colour)
        elif what == 2:
            d.polygon([(rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])) for _ in range(3 + rng.randint(3))],
                      fill=colour)
        elif what == 3:
            d.line(box, fill=colour, width=int(rng.randint(1, 6)))
        else:  # stripes
            step = rng.uniform(4, 12)
            for x in np.arange(box[0], box[2], step):
                d.line((x, box[1], x, box[3]), fill=colour, width=max(1, int(step / 2)))


def _distractor(rng, d: ImageDraw.ImageDraw, width: int, height: int) -> None:
    """Round things a face detector may mistake for faces: smileys, balls, clocks."""
    r = rng.uniform(6, 40)
    x, y = rng.uniform(r, width - r), rng.uniform(r, height - r)
    what = rng.randint(3)
    if what == 0:  # smiley sticker
        d.ellipse((x - r, y - r, x + r, y + r), fill=(240, 200, 40), outline=(120, 90, 20))
        for ex in (x - 0.35 * r, x + 0.35 * r):
            d.ellipse((ex - 0.1 * r, y - 0.4 * r, ex + 0.1 * r, y - 0.1 * r), fill=(30, 30, 30))
        d.arc((x - 0.55 * r, y - 0.4 * r, x + 0.55 * r, y + 0.6 * r), 20, 160, fill=(30, 30, 30),
              width=max(1, int(r / 10)))
    elif what == 1:  # skin-coloured ball
        tone = SKIN_TONES[int(rng.randint(len(SKIN_TONES)))]
        d.ellipse((x - r, y - 1.15 * r, x + r, y + 1.15 * r), fill=tone, outline=tuple(int(c * 0.7) for c in tone))
    else:  # clock
        d.ellipse((x - r, y - r, x + r, y + r), fill=(245, 245, 240), outline=(40, 40, 40), width=max(1, int(r / 8)))
        d.line((x, y, x, y - 0.7 * r), fill=(20, 20, 20), width=max(1, int(r / 12)))
        d.line((x, y, x + 0.5 * r, y + 0.2 * r), fill=(20, 20, 20), width=max(1, int(r / 10)))


def _gain(light: dict, x: float, y: float, width: int, height: int) -> float:
    """Brightness factor of the lighting gradient at pixel (x, y)."""
    a = math.radians(light["gradient_angle_deg"])
    t = ((x - width / 2) * math.cos(a) + (y - height / 2) * math.sin(a)) / (0.5 * math.hypot(width, height))
    return light["brightness"] * (1 + light["gradient"] * t)


def _finish(rng: np.random.RandomState, image: Image.Image) -> tuple[Image.Image, dict]:
    """Lighting (brightness, a brightness gradient, contrast, colour cast), sensor noise and blur."""
    width, height = image.size
    light = {"brightness": round(rng.uniform(0.7, 1.2), 3), "gradient": round(rng.uniform(0, 0.5), 3),
             "gradient_angle_deg": round(rng.uniform(0, 360), 1), "contrast": round(rng.uniform(0.65, 1.15), 3),
             "colour_cast": round(rng.uniform(-0.06, 0.06), 3),
             "noise_sigma": round(rng.uniform(1, 6), 2) if rng.rand() < 0.6 else 0.0,
             "global_blur_sigma": round(rng.uniform(0.4, 1.0), 2) if rng.rand() < 0.25 else 0.0}
    a = math.radians(light["gradient_angle_deg"])
    norm = 0.5 * math.hypot(width, height)
    t = ((np.arange(width) - width / 2) * (math.cos(a) / norm))[None, :] \
        + ((np.arange(height) - height / 2) * (math.sin(a) / norm))[:, None]
    gain = light["brightness"] * (1 + light["gradient"] * t)
    cast = np.array([1 + light["colour_cast"], 1.0, 1 - light["colour_cast"]])
    out = ((np.asarray(image, np.float64) - 128.0) * light["contrast"] + 128.0) * gain[:, :, None] * cast
    if light["noise_sigma"] > 0:
        out += rng.normal(0.0, light["noise_sigma"], (height, width, 1))  # luminance noise
    image = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
    if light["global_blur_sigma"] > 0:
        image = image.filter(ImageFilter.GaussianBlur(light["global_blur_sigma"]))
    return image, light
