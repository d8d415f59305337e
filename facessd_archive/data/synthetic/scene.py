"""Scene layout for the synthetic benchmark: how many people, how big, where, and in what order.

Image ``i`` is a ``SCENE_MODES[i % 4]`` scene: a crowd of small faces, a portrait with one
large face, a group, or a mix. ``generate_scene`` draws everything from the image's own
``RandomState([seed, i])`` in a fixed order (size, people, background, drawing far to near,
lighting), so that order is part of the benchmark's definition. ``_place_people`` keeps every
face box inside the image and barely overlapping the others, hair margin included, so boxes
stay unambiguous.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image

from facessd_archive.data.synthetic.backdrop import draw_background, finish_image, lighting_gain
from facessd_archive.data.synthetic.faces import draw_person
from facessd_archive.data.synthetic.head import face_box
from facessd_archive.data.synthetic.person import Person, describe, sample_person

SAMPLE_BENCHMARK_ID = "facessd-sample-v1"  # recorded in every scene; bump it with any drawing change

MIN_FACE_PX, MAX_FACE_PX = 12, 200    # face box widths
MAX_OVERLAP = 0.1                     # of the smaller box, also with a margin for hair around each box
SCENE_MODES = ("crowd", "portrait", "group", "mixed")  # image i gets SCENE_MODES[i % 4]


def generate_scene(seed: int, index: int) -> tuple[Image.Image, list[list[float]], dict]:
    """Image ``index`` of the set for ``seed``: (RGB image, face boxes, attributes)."""
    rng = np.random.RandomState([seed, index])
    mode = SCENE_MODES[index % len(SCENE_MODES)]
    width = int(rng.randint(15, 31)) * 16
    height = int(np.clip(round(width * float(rng.choice([0.5625, 0.75, 0.75, 1.0, 1.25])) / 4) * 4, 180, 360))
    people = _place_people(rng, mode, width, height)
    people.sort(key=lambda p: face_box(p)[3])  # lower (nearer) people are drawn over the ones behind
    image, background = draw_background(rng, width, height)
    for p in people:
        draw_person(image, p)
    image, light = finish_image(rng, image)
    boxes = [list(face_box(p)) for p in people]
    faces = []
    for p, box in zip(people, boxes):
        face = describe(p, box, image_blur=light["global_blur_sigma"])
        face["illumination"] = round(lighting_gain(light, p.cx, p.cy, width, height), 3)
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
