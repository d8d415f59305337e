"""What covers a synthetic head and face: hair, headscarves, caps, masks, glasses and hands.

These make the benchmark hard (occluded faces) without touching its truth: none of them
changes the face box (``synthetic_head.face_box``), as real annotators box the face under a
mask or a hand. ``draw_person`` calls ``draw_back_hair`` before the head and the rest after
the face, in a fixed order, as each one paints over what was drawn before.
"""

from __future__ import annotations

import math

import numpy as np

from facessd_archive.data.synthetic.canvas import Canvas, shade
from facessd_archive.data.synthetic.head import (
    B, ELLIPSE_BOTTOM, ELLIPSE_TOP, HEAD_YS, NOSE_DEPTH, NOSE_TIP_Y, Pose, ellipse, half_width)
from facessd_archive.data.synthetic.person import Person


def _hair_window(pose: Pose, p: Person, scarf: bool) -> np.ndarray:
    """The part of the head hair does not cover (frontal outline, warped)."""
    if scarf:
        return pose.warp(ellipse(0.0, 0.06, 0.42, 0.56))
    xs = np.linspace(-0.3, 0.3, 9)
    top = np.stack([xs, p.hairline + 0.13 * (xs / 0.36) ** 2], 1)
    y0 = p.hairline + 0.13 * (0.3 / 0.36) ** 2
    temple = [(0.3 + 0.09 * math.sin(t), y0 + (0.08 - y0) * (1 - math.cos(t))) for t in np.linspace(0.2, 1.5708, 5)]
    right = temple + [(0.9, 0.1), (0.9, 0.95)]
    outline = np.concatenate([top, right, [(-x, y) for x, y in right[::-1]]])
    return pose.warp(outline)


def draw_back_hair(cv: Canvas, p: Person) -> None:
    """Hair (long hair, a scarf, a bun) that shows behind the head; drawn before the head."""
    pose = cv.pose
    shift = -0.12 * pose.sin
    if p.hair == "long":  # seen from the side, long hair hangs behind the head, not in front of the face
        front, back = 1.0 - 0.8 * abs(pose.sin), 1.0 + 0.15 * abs(pose.sin)
        right_k, left_k = (front, back) if pose.side > 0 else (back, front)
        ys = HEAD_YS[HEAD_YS < 0.3]
        w = half_width(ys) * pose.k * 1.1 + 0.06
        side = [(x, y - 0.04) for x, y in zip(w, ys)] + [(0.5, 0.55), (0.48, 0.85), (0.4, 1.0), (0.3, 0.92),
                                                         (0.18, 0.98)]
        right = [(x * right_k + shift, y) for x, y in side]
        left = [(shift - x * left_k, y) for x, y in side[::-1]]
        cv.poly(np.array(right + left), p.hair_rgb)
        for k in (right_k, -left_k):
            cv.line(np.array([(shift + 0.3 * k, 0.1), (shift + 0.36 * k, 0.8)]), shade(p.hair_rgb, 0.75), 0.02)
    elif p.hair == "scarf":
        ys = HEAD_YS[HEAD_YS < 0.2]
        w = half_width(ys) * pose.k + 0.1
        right = [(x + shift, y - 0.08) for x, y in zip(w, ys)] + [(0.5, 0.5), (0.62, 0.95), (0.3, 1.1), (0.0, 1.15)]
        cv.poly(np.array(right + [(-x, y) for x, y in right[::-1]]), p.hair_rgb)
    elif p.hair == "bun":
        cv.poly(ellipse(shift * 2.5, -0.62, 0.17, 0.15), p.hair_rgb)


def draw_hair(cv: Canvas, p: Person) -> None:
    """Hair over the head (or a headscarf, or a cap), leaving the hair window free."""
    pose = cv.pose
    if p.hair == "bald":
        ys = HEAD_YS[(HEAD_YS > -0.3) & (HEAD_YS < 0.02)]
        cv.region(pose.silhouette(ys, 0.01), _hair_window(pose, p, False), shade(p.hair_rgb, 1.0))
        return
    scarf = p.hair == "scarf"
    volume = 0.1 if scarf else 0.05 + 0.03 * (p.hair == "long")
    ys = HEAD_YS[HEAD_YS < (1.0 if scarf else 0.3)]
    cap = pose.silhouette(ys, 0.0)
    cap[:, 0] += np.sign(cap[:, 0]) * volume * np.clip(-cap[:, 1] / B * 1.5, 0.0, 1.0)
    cap[:, 1] -= volume * np.clip(-cap[:, 1] / B, 0.0, 1.0)
    cap[:, 0] -= 0.06 * pose.sin  # the back of the head sticks out behind a turned face
    window = _hair_window(pose, p, scarf)
    cv.region(cap, window, p.hair_rgb)
    if not scarf:  # a highlight and a parting give the hair some texture
        shine = np.array([(-0.24, -0.47), (-0.12, -0.53), (0.0, -0.555), (0.12, -0.54), (0.22, -0.5)])
        cv.line(pose.warp(shine), shade(p.hair_rgb, 1.3, 60), 0.04)
        cv.line(pose.warp(np.array([(0.12, -0.58), (0.06, p.hairline)])), shade(p.hair_rgb, 0.6, 160), 0.015)
    if p.hair == "cap":
        dome = pose.silhouette(HEAD_YS[HEAD_YS < -0.28], 0.03)
        dome[:, 1] -= 0.05
        cv.poly(dome, p.cloth_rgb)
        xs = np.linspace(-1.0, 1.0, 9)
        bulge = 1.0 - xs * xs
        upper = pose.warp(np.stack([0.36 * xs, np.full(9, -0.31)], 1))
        lower = pose.warp(np.stack([0.36 * xs, -0.31 + 0.08 * bulge], 1), depth=0.25 * bulge)
        cv.poly(np.concatenate([upper, lower[::-1]]), shade(p.cloth_rgb, 0.8))


def draw_mask(cv: Canvas, p: Person) -> None:
    """A face mask over nose (or only mouth, when worn low), mouth and chin, with its ear loops."""
    pose = cv.pose
    top = 0.19 if p.mask_low else 0.03
    xs = np.linspace(-1.0, 1.0, 15)
    upper = np.stack([0.5 * xs, top + 0.05 * xs ** 2 - 0.02 * (1 - xs ** 2)], 1)
    ys = np.linspace(top + 0.06, B, 10)
    right = np.stack([np.full(10, 0.5), ys], 1)
    outline = np.concatenate([upper, right, [(0.0, B + 0.04)], right[::-1] * (-1, 1)])
    cv.poly(pose.warp(outline), p.mask_rgb)
    if abs(pose.sin) > 0.15:  # seen from the side, the mask stands off the nose, mouth and chin
        ys = np.array([top + 0.01, NOSE_TIP_Y - 0.04, NOSE_TIP_Y + 0.02, 0.3, 0.45, B])
        depth = np.array([0.0, NOSE_DEPTH * 0.8, NOSE_DEPTH + 0.01, 0.07, 0.04, 0.0])
        front = pose.warp(np.stack([np.zeros(6), ys], 1), depth=depth)
        inner = pose.warp(np.array([(-pose.side * 0.12, B - 0.04), (-pose.side * 0.12, top + 0.06)]))
        cv.poly(np.concatenate([front, inner]), p.mask_rgb)
    fold = shade(p.mask_rgb, 0.82) if sum(p.mask_rgb) > 150 else shade(p.mask_rgb, 1.8)
    if p.mask in ("surgical_blue", "surgical_white"):
        for y in np.linspace(top + 0.12, top + 0.34, 3):
            cv.line(pose.warp(np.stack([0.3 * xs, y + 0.03 * xs ** 2], 1)), fold, 0.012)
        cv.line(pose.warp(upper[2:-2]), shade(p.mask_rgb, 0.9), 0.02)
    else:
        cv.line(pose.warp(np.array([(0.0, top), (0.0, B)])), fold, 0.012)
    loop = (245, 245, 245) if p.mask != "black" else (30, 30, 34)
    for side in (-1.0, 1.0):
        outline_ear, facing = pose.ear(side)
        if facing < -0.2:
            continue
        ear_top, ear_low = outline_ear[ELLIPSE_TOP], outline_ear[ELLIPSE_BOTTOM]
        edge = pose.warp(np.array([(side * 0.6, top + 0.07), (side * 0.6, top + 0.35)]))
        cv.line(np.array([edge[0], ear_top + (0, 0.02)]), loop, 0.014)
        cv.line(np.array([edge[1], ear_low - (0, 0.02)]), loop, 0.014)


def draw_eyewear(cv: Canvas, p: Person) -> None:
    """Glasses or sunglasses: the lenses that face the camera, the bridge, and the arms to the ears."""
    pose = cv.pose
    frame = (20, 20, 24) if p.eyewear == "sunglasses" else (70, 60, 55)
    lenses = 0
    for side in (-1.0, 1.0):
        cx = side * 0.16
        if pose.facing(cx, 0.0) < 0.05:
            continue
        lens = pose.warp(ellipse(cx, 0.005, 0.1, 0.065))
        if p.eyewear == "sunglasses":
            cv.poly(lens, (18, 18, 22), solid=False)
            cv.line(pose.warp(np.array([(cx - 0.05, -0.02), (cx - 0.02, -0.04)])), (110, 110, 120, 200), 0.012)
        cv.line(np.concatenate([lens, lens[:1]]), frame, 0.016)
        lenses += 1
    if lenses == 2:
        cv.line(pose.warp(np.array([(-0.06, -0.01), (0.0, -0.03), (0.06, -0.01)])), frame, 0.016)
    for side in (-1.0, 1.0):
        outline_ear, facing = pose.ear(side)
        if facing > -0.2:
            cv.line(np.array([pose.warp([(side * 0.5, -0.01)])[0], outline_ear[ELLIPSE_TOP] + (0, 0.03)]),
                    frame, 0.016)


def draw_hand(cv: Canvas, p: Person) -> None:
    """A hand (sleeve, palm, four fingers, thumb) held to the mouth, chin, cheek or eye."""
    centre = {"mouth": (0.02, 0.36), "chin": (0.0, 0.56), "cheek": (0.3, 0.22), "eye": (0.16, 0.02)}[p.hand]
    centre = cv.pose.warp([centre], depth=0.08)[0]  # the hand lies on the turned face
    c, s = math.cos(math.radians(p.hand_angle)), math.sin(math.radians(p.hand_angle))

    def place(pts):
        pts = np.asarray(pts, dtype=np.float64)
        return np.stack([pts[:, 0] * c - pts[:, 1] * s, pts[:, 0] * s + pts[:, 1] * c], 1) + centre

    skin = shade(p.skin, 0.97)
    edge = shade(p.skin, 0.75)
    cv.line(place([(0.0, 0.1), (0.05, 1.3)]), shade(p.cloth_rgb, 0.9), 0.26, solid=True)
    palm = place(ellipse(0.0, 0.05, 0.15, 0.17))
    cv.poly(palm, skin, outline=edge, width=0.01)
    for x, length in ((-0.105, 0.2), (-0.035, 0.25), (0.035, 0.24), (0.1, 0.19)):
        finger = place([(x, -0.05), (x * 1.15, -0.05 - length)])
        cv.line(finger, edge, 0.075, solid=True, round_ends=True)
        cv.line(finger, skin, 0.058, solid=True, round_ends=True)
    cv.line(place([(0.13, 0.08), (0.24, -0.03), (0.27, -0.1)]), skin, 0.07, solid=True, round_ends=True)
