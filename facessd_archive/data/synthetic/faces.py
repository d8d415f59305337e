"""Drawing one synthetic person: body, head, ears, eyes, nose and mouth, then into the scene.

``draw_person`` sizes a supersampled ``Canvas`` to the person, draws the body, the head and
its features in the order they overlap, with what covers them from ``synthetic_coverings``,
box-filters the canvas down and blends it into the scene with the person's own shading, side
light and blur. Every position comes from ``synthetic_head``, the same geometry as the face
box, so what is drawn fits the box exactly.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from facessd_archive.data.synthetic.canvas import Canvas, mix, shade
from facessd_archive.data.synthetic.coverings import draw_back_hair, draw_eyewear, draw_hair, draw_hand, draw_mask
from facessd_archive.data.synthetic.head import A, B, HEAD_YS, NOSE_DEPTH, NOSE_TIP_Y, Pose, ellipse, person_extent
from facessd_archive.data.synthetic.person import Person

_EYE_XS = [-1.0 + i / 4 for i in range(9)]  # an eye's outline: upper lid left to right, lower lid back
_LID_UP = np.array([(x, -0.038 * (1 - x * x) ** 0.7) for x in _EYE_XS])
_LID_LOW = np.array([(-x, 0.027 * (1 - x * x) ** 0.9) for x in _EYE_XS])


def draw_person(scene: Image.Image, p: Person) -> None:
    """Draw ``p`` onto ``scene`` (RGB, in place)."""
    pose = Pose(p)
    x0, y0, x1, y1 = person_extent(p)
    box = (max(0, int(math.floor(x0))), max(0, int(math.floor(y0))),
           min(scene.width, int(math.ceil(x1))), min(scene.height, int(math.ceil(y1))))
    if box[2] <= box[0] or box[3] <= box[1]:
        return
    k = int(min(8, max(2, math.ceil(96.0 / p.scale))))
    cv = Canvas(box, k, pose)
    _draw_body(cv, p)
    draw_back_hair(cv, p)
    ears_on_top = abs(p.yaw) >= 25
    for side in (-1.0, 1.0):
        if pose.ear(side)[1] > -0.35 and not ears_on_top and p.hair != "scarf":
            _draw_ear(cv, p, side)
    cv.poly(pose.silhouette(HEAD_YS), p.skin)
    for side in (-1.0, 1.0):  # cheeks
        if pose.facing(side * 0.22, 0.2) > 0.3:
            cv.poly(pose.warp(ellipse(side * 0.22, 0.2, 0.08, 0.06)), mix(p.skin, (200, 90, 90), 0.3) + (35,),
                    solid=False)
    _draw_eyes(cv, p)
    _draw_nose_and_mouth(cv, p)
    draw_hair(cv, p)
    if ears_on_top and p.hair != "scarf":
        for side in (-1.0, 1.0):
            if pose.ear(side)[1] > 0:
                _draw_ear(cv, p, side)
    if p.mask != "none":
        draw_mask(cv, p)
    if p.eyewear != "none":
        draw_eyewear(cv, p)
    if p.hand != "none":
        draw_hand(cv, p)
    # black wherever nothing solid was drawn, so the box-filtered colours come premultiplied by coverage
    rgb = Image.composite(cv.rgb, Image.new("RGB", cv.rgb.size), cv.alpha).reduce(k)
    alpha = cv.alpha.reduce(k)
    a = np.asarray(alpha, dtype=np.float32)[:, :, None] * np.float32(1 / 255)
    rgb = np.asarray(rgb, dtype=np.float32) * _light(p, box, alpha.size)[:, :, None]
    out = np.asarray(scene.crop(box), dtype=np.float32) * (1 - a) + rgb + np.float32(0.5)
    scene.paste(Image.fromarray(np.minimum(out, 255.0).astype(np.uint8)), box[:2])
    if p.blur > 0:
        region = scene.crop(box).filter(ImageFilter.GaussianBlur(p.blur))
        scene.paste(region, box[:2], alpha.filter(ImageFilter.GaussianBlur(p.blur)))


def _light(p: Person, box, size: tuple[int, int]) -> np.ndarray:
    """Gain [H, W] float32: round shading on the head (darker towards its edges) and a side light."""
    xs = (np.arange(size[0], dtype=np.float64) + box[0] + 0.5 - p.cx) / (p.scale * A * 1.2)
    ys = (np.arange(size[1], dtype=np.float64) + box[1] + 0.5 - p.cy) / (p.scale * B * 1.1)
    r2 = np.minimum(xs[None, :] ** 2 + ys[:, None] ** 2, 1.6)
    f = 1.06 - 0.2 * r2 * r2 + 0.16 * p.light * np.minimum(np.maximum(xs, -1.5), 1.5)[None, :]
    return np.minimum(np.maximum(f, 0.5), 1.3).astype(np.float32)


def _draw_body(cv: Canvas, p: Person) -> None:
    """Neck, torso, arms and legs (a standing figure, 8 heads tall, mostly cut off by the frame)."""
    sq = np.array([1.0 - 0.3 * abs(cv.pose.sin), 1.0])
    trousers = mix(p.cloth_rgb, (40, 44, 58), 0.75)
    for side in (-1.0, 1.0):
        cv.poly(np.array([(side * 0.04, 3.2), (side * 0.7, 3.2), (side * 0.58, 8.3), (side * 0.14, 8.3)]) * sq,
                trousers, body=True)
        cv.poly(np.array([(side * 0.1, 8.2), (side * 0.62, 8.2), (side * 0.7, 8.55), (side * 0.08, 8.55)]) * sq,
                (30, 28, 28), body=True)
    cv.poly(np.array([(-0.17, 0.2), (0.17, 0.2), (0.19, 1.0), (-0.19, 1.0)]), shade(p.skin, 0.78), body=True)
    arc = [(0.78 + 0.3 * math.cos(t), 1.25 - 0.28 * math.sin(t)) for t in np.linspace(math.pi / 2, 0, 6)]
    right = [(0.2, 0.8), (0.45, 0.9)] + arc + [(1.0, 2.2), (0.82, 3.45)]
    cv.poly(np.array(right + [(-x, y) for x, y in right[::-1]]) * sq, p.cloth_rgb, body=True)
    fold = shade(p.cloth_rgb, 0.75)
    for side in (-1.0, 1.0):
        cv.poly(np.array([(side * 0.84, 1.2), (side * 1.1, 1.3), (side * 1.12, 3.3), (side * 0.86, 3.3)]) * sq,
                shade(p.cloth_rgb, 0.92), body=True)
        cv.line(np.array([(side * 0.84, 1.6), (side * 0.86, 3.3)]) * sq, fold, 0.03, body=True)
        cv.poly(ellipse(side * 0.99, 3.5, 0.12, 0.18) * sq, shade(p.skin, 0.9), body=True)
    cv.poly(np.array([(-0.19, 0.84), (0.19, 0.84), (0.0, 1.12)]) * sq, shade(p.skin, 0.8), body=True)
    cv.line(np.array([(-0.21, 0.83), (0.0, 1.14), (0.21, 0.83)]) * sq, fold, 0.035, body=True)


def _draw_ear(cv: Canvas, p: Person, side: float) -> None:
    outline, facing = cv.pose.ear(side)
    cv.poly(outline, shade(p.skin, 0.92), outline=shade(p.skin, 0.7), width=0.012)
    if facing > 0.3:
        c = outline.mean(0)
        cv.poly(ellipse(c[0], c[1] + 0.01, 0.6 * (outline[:, 0].max() - c[0]), 0.06), shade(p.skin, 0.72),
                solid=False)


def _draw_eyes(cv: Canvas, p: Person) -> None:
    pose = cv.pose
    lid = shade(p.skin, 0.93)
    brow = shade(p.hair_rgb, 0.8) if p.hair not in ("scarf", "cap") else (40, 30, 25)
    for side in (-1.0, 1.0):
        cx = side * 0.16
        facing = pose.facing(cx, 0.0)
        if facing < 0.08:
            continue
        upper = _LID_UP * (0.08, 1.0) + (cx, 0.0)
        lower = _LID_LOW * (0.08, 1.0) + (cx, 0.0)
        cv.poly(pose.warp(np.concatenate([upper, lower])), (244, 240, 232), solid=False)
        cv.poly(pose.warp(ellipse(cx, -0.002, 0.034, 0.034)), p.eye_rgb, solid=False)
        cv.poly(pose.warp(ellipse(cx, -0.002, 0.016, 0.016)), (12, 10, 10), solid=False)
        cv.poly(pose.warp(ellipse(cx + 0.012, -0.013, 0.007, 0.007)), (250, 250, 250), solid=False)
        crease = upper + (0.0, -0.03)
        cv.poly(pose.warp(np.concatenate([upper, crease[::-1]])), lid, solid=False)
        below = lower + (0.0, 0.025)
        cv.poly(pose.warp(np.concatenate([lower, below[::-1]])), p.skin, solid=False)
        cv.line(pose.warp(upper), (30, 22, 20), 0.018)
        cv.line(pose.warp(upper[:4] + (0, -0.018)), shade(p.skin, 0.8), 0.008)
        cv.line(pose.warp(lower[1:-1]), shade(p.skin, 0.75), 0.008)
        brow_pts = np.array([(cx - side * 0.095, -0.1), (cx - side * 0.03, -0.128), (cx + side * 0.095, -0.115)])
        cv.line(pose.warp(brow_pts), brow, 0.034)


def _draw_nose_and_mouth(cv: Canvas, p: Person) -> None:
    pose = cv.pose
    shadow = shade(p.skin, 0.8)
    if abs(pose.sin) > 0.15:  # the nose stands out from a turned face
        ys = np.linspace(-0.03, NOSE_TIP_Y, 6)
        ridge = pose.warp(np.stack([np.zeros(6), ys], 1), depth=NOSE_DEPTH * (ys + 0.03) / (NOSE_TIP_Y + 0.03))
        under = pose.warp(np.array([(0.0, 0.195)]), depth=0.03)
        base = pose.warp(np.array([(-pose.side * 0.07, 0.19), (-pose.side * 0.05, -0.03)]))
        cv.poly(np.concatenate([ridge, under, base]), p.skin, solid=True)
        cv.line(np.concatenate([under, base[:1]]), shadow, 0.014)
    else:
        s = 1.0 if p.light <= 0 else -1.0  # shadow on the side away from the light
        cv.line(pose.warp(np.array([(s * 0.035, -0.04), (s * 0.045, 0.1), (s * 0.065, 0.16)])),
                shade(p.skin, 0.84), 0.028)
        cv.poly(pose.warp(ellipse(0.0, 0.15, 0.055, 0.04)), shade(p.skin, 1.04), solid=False)
    for side in (-1.0, 1.0):
        if pose.facing(side * 0.035, 0.185) > 0.2:
            cv.poly(pose.warp(ellipse(side * 0.035, 0.185, 0.018, 0.009)), shade(p.skin, 0.45), solid=False)
            cv.line(pose.warp(np.array([(side * 0.045, 0.15), (side * 0.065, 0.17), (side * 0.05, 0.19)])),
                    shadow, 0.01)
    lip = mix(shade(p.skin, 0.85), (170, 70, 75), 0.35)
    xs = np.linspace(-1.0, 1.0, 11)
    lift = {"neutral": 0.0, "smile": 0.03, "open": 0.01}[p.mouth]
    mid = np.stack([0.12 * xs, 0.33 - lift * xs ** 2 + lift * 0.5], 1)
    upper = np.stack([0.12 * xs, 0.33 - 0.034 * (1 - xs ** 2) + 0.01 * (1 - np.abs(xs) * 3).clip(0, 1)], 1)
    lower = np.stack([0.12 * xs, 0.335 + 0.048 * (1 - xs ** 2)], 1)
    upper[:, 1] -= lift * xs ** 2 - lift * 0.5
    lower[:, 1] -= lift * xs ** 2 - lift * 0.5
    cv.poly(pose.warp(np.concatenate([upper, lower[::-1]])), lip, solid=False)
    if p.mouth == "open":
        cv.poly(pose.warp(ellipse(0.0, 0.345, 0.07, 0.025)), (60, 25, 28), solid=False)
        cv.poly(pose.warp(np.array([(-0.055, 0.327), (0.055, 0.327), (0.05, 0.34), (-0.05, 0.34)])),
                (235, 230, 220), solid=False)
    else:
        cv.line(pose.warp(mid), shade(lip, 0.55), 0.012)
