"""Everything in a synthetic scene but the people: backgrounds, distractors, light and blur.

``draw_background`` paints one of five settings (indoor, street, nature, studio, clutter) on a
textured gradient and, outside the studio, up to two *distractors*: round things a face
detector may take for faces (smileys, skin-coloured balls, clocks) that are never boxed.
``finish_image`` then treats the whole picture as a camera would (brightness and its gradient,
contrast, colour cast, sensor noise, sometimes blur), and ``lighting_gain`` gives that light at
one point, recorded as each face's illumination. ``draw_background`` and ``finish_image`` draw
from the scene's random stream in a fixed order, so a change to either changes the benchmark.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from facessd_archive.data.synthetic.person import SKIN_TONES


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


def draw_background(rng: np.random.RandomState, width: int, height: int) -> tuple[Image.Image, dict]:
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


def lighting_gain(light: dict, x: float, y: float, width: int, height: int) -> float:
    """Brightness factor of the lighting gradient at pixel (x, y)."""
    a = math.radians(light["gradient_angle_deg"])
    t = ((x - width / 2) * math.cos(a) + (y - height / 2) * math.sin(a)) / (0.5 * math.hypot(width, height))
    return light["brightness"] * (1 + light["gradient"] * t)


def finish_image(rng: np.random.RandomState, image: Image.Image) -> tuple[Image.Image, dict]:
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
