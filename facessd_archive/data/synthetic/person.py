"""What one synthetic person looks like: the ``Person`` record, its random draw, its attributes.

A ``Person`` is plain data (look, pose, position, scale); ``synthetic_head`` turns it into
geometry and ``synthetic_faces`` into pixels. ``sample_person`` is the one place a look and a
pose are drawn from a scene's random stream and ``describe`` the one place they become the
per-face attributes stored with the benchmark: the order of the draws and the rounding are part
of the benchmark's definition, so a change to either changes every image and hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SKIN_TONES = (  # ten tones from very light to very dark, as they appear in ordinary photographs
    (243, 214, 190), (236, 196, 164), (226, 178, 140), (210, 158, 118), (190, 136, 96),
    (166, 112, 76), (138, 90, 60), (110, 70, 46), (84, 54, 38), (62, 42, 32))
HAIR_COLOURS = ((22, 18, 16), (48, 34, 26), (86, 58, 36), (120, 80, 45), (182, 146, 92),
                (118, 52, 28), (150, 146, 142), (210, 206, 198))
MASK_COLOURS = {"surgical_blue": (150, 192, 226), "surgical_white": (236, 238, 236),
                "black": (36, 36, 42), "cloth": None}


@dataclass(frozen=True)
class Person:
    """Everything needed to draw one person; ``cx, cy`` is the head centre in pixels."""

    cx: float
    cy: float
    scale: float                  # pixels per head unit
    yaw: float                    # degrees, + turns the face towards the image's right
    roll: float                   # degrees, + tilts clockwise on screen
    skin: tuple[int, int, int]
    hair: str                     # short, long, bun, bald, cap, scarf
    hair_rgb: tuple[int, int, int]
    hairline: float               # y of the hairline's centre, head units
    eye_rgb: tuple[int, int, int]
    cloth_rgb: tuple[int, int, int]
    mask: str                     # none, surgical_blue, surgical_white, black, cloth
    mask_rgb: tuple[int, int, int]
    mask_low: bool                # worn under the nose
    eyewear: str                  # none, glasses, sunglasses
    hand: str                     # none, mouth, chin, cheek, eye
    hand_angle: float             # degrees
    mouth: str                    # neutral, smile, open
    light: float                  # -1..1, side light from the left (-) or right (+)
    blur: float                   # Gaussian sigma in pixels, 0 for sharp


def _pick(rng: np.random.RandomState, options: dict):
    """One key of ``options`` (key -> weight)."""
    keys = list(options)
    weights = np.array([options[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def _jitter(rng: np.random.RandomState, rgb, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.randint(-amount, amount + 1), 0, 255)) for c in rgb)


def sample_person(rng: np.random.RandomState, scale: float) -> Person:
    """A random look and pose for a person of ``scale`` pixels per head unit, at ``(0, 0)``."""
    pose = _pick(rng, {"frontal": 0.5, "turned": 0.32, "profile": 0.18})
    side = 1.0 if rng.rand() < 0.5 else -1.0
    yaw = {"frontal": lambda: float(np.clip(rng.normal(0, 6), -14, 14)),
           "turned": lambda: side * rng.uniform(15, 50),
           "profile": lambda: side * rng.uniform(55, 78)}[pose]()
    roll = float(np.clip(rng.normal(0, 4), -10, 10)) if rng.rand() < 0.7 else \
        (1.0 if rng.rand() < 0.5 else -1.0) * rng.uniform(12, 35)
    tone = int(rng.randint(len(SKIN_TONES)))
    hair = _pick(rng, {"short": 0.34, "long": 0.24, "bun": 0.08, "bald": 0.07, "cap": 0.1, "scarf": 0.17})
    cloth = tuple(int(c) for c in rng.randint(20, 235, 3))
    hair_rgb = (tuple(int(c) for c in rng.randint(30, 200, 3)) if hair == "scarf"
                else _jitter(rng, HAIR_COLOURS[_pick(rng, dict(enumerate((6, 6, 4, 2, 2, 1, 1.5, 1))))], 8))
    mask = _pick(rng, {"none": 0.36, "surgical_blue": 0.3, "surgical_white": 0.12, "black": 0.1, "cloth": 0.12})
    mask_rgb = MASK_COLOURS.get(mask) or tuple(int(c) for c in rng.randint(40, 240, 3))
    eye = _pick(rng, {(70, 45, 28): 6, (40, 28, 20): 4, (80, 110, 140): 1.5, (90, 110, 70): 1})
    return Person(
        cx=0.0, cy=0.0, scale=float(scale), yaw=float(yaw), roll=float(roll),
        skin=_jitter(rng, SKIN_TONES[tone], 6), hair=hair, hair_rgb=hair_rgb,
        hairline=float(rng.uniform(-0.42, -0.35)), eye_rgb=eye, cloth_rgb=cloth,
        mask=mask, mask_rgb=_jitter(rng, mask_rgb, 6) if mask != "none" else (0, 0, 0),
        mask_low=bool(mask != "none" and rng.rand() < 0.12),
        eyewear=_pick(rng, {"none": 0.8, "glasses": 0.12, "sunglasses": 0.08}),
        hand=_pick(rng, {"none": 0.9, "mouth": 0.03, "chin": 0.03, "cheek": 0.02, "eye": 0.02}),
        hand_angle=float(rng.uniform(-40, 40)),
        mouth=_pick(rng, {"neutral": 0.6, "smile": 0.3, "open": 0.1}),
        light=float(rng.uniform(-0.7, 0.7)),
        blur=float(_pick(rng, {0.0: 0.7, 1.0: 0.2, 2.0: 0.1}) * rng.uniform(0.6, 1.4)),
    )


def describe(p: Person, box: tuple[float, float, float, float], image_blur: float = 0.0) -> dict:
    """The per-face attributes recorded in ``Sample.attributes['faces']`` (JSON-ready).

    ``image_blur`` is the sigma of a blur of the whole image, combined with the face's own.
    """
    blur = math.hypot(p.blur, image_blur)
    width, height = box[2] - box[0], box[3] - box[1]
    area = width * height
    pose = "frontal" if abs(p.yaw) < 15 else ("turned" if abs(p.yaw) < 55 else "profile")
    return {
        "width_px": round(width, 2), "height_px": round(height, 2),
        "size": "small" if area < 32 ** 2 else ("medium" if area < 96 ** 2 else "large"),
        "pose": pose, "yaw_deg": round(p.yaw, 1), "roll_deg": round(p.roll, 1), "tilted": abs(p.roll) >= 12,
        "skin_tone": SKIN_TONES.index(min(SKIN_TONES, key=lambda t: sum((a - b) ** 2 for a, b in zip(t, p.skin))))
        + 1,
        "skin_rgb": list(p.skin), "hair": p.hair,
        "mask": p.mask, "mask_position": None if p.mask == "none" else ("below_nose" if p.mask_low else "proper"),
        "eyewear": p.eyewear, "hand": p.hand, "mouth": p.mouth,
        "blur_sigma_px": round(blur, 2), "blur": "none" if blur < 0.3 else ("slight" if blur < 1.2 else "heavy"),
        "side_light": round(p.light, 2),
    }
