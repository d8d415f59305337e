"""Drawing for the synthetic sample benchmark: people, backgrounds and lighting (PIL + numpy).

A person is drawn from polygons in *head units*: origin at the centre of the head, x to the
image's right, y down, head half-width ``A`` = 0.40, half-height ``B`` = 0.58, half-depth
``DEPTH`` = 0.50 (a head is deeper than it is wide). Features are laid out on a frontal face
and carried to the pose by ``_Pose.warp``: the head is an ellipsoid seen from above, turned by
``yaw`` about the vertical axis; points that turn out of sight are pressed onto the silhouette.
The whole head is then turned by ``roll`` about the neck and scaled to pixels.

The face box is the tight box of the *face region* after the same transform: the head's
silhouette from the forehead line ``BOX_TOP`` down to the chin, the visible ears, and the nose
tip; hair, hats, masks and hands never change it (real annotators box the face under a mask).
On the side a turned face turns away from, the region stops at the ear, so a profile's box
runs from the ear to the nose tip.

Each person is drawn ``k``-times supersampled on its own canvas and box-filtered down, so the
edges are anti-aliased the same way at every size. Arrays only see + - * / and sqrt (exact in
IEEE arithmetic) and sines come from ``math``, so pixels do not depend on the CPU's SIMD paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

A, B, DEPTH = 0.40, 0.58, 0.50
BOX_TOP = -0.42           # forehead line: the top of the face box
EAR_X, EAR_Y, EAR_RY = A + 0.02, 0.06, 0.11
NOSE_TIP_Y, NOSE_DEPTH = 0.16, 0.14
NECK_PIVOT = (0.0, 0.75)  # the head rolls about this point
FRONTAL_WIDTH = 2 * (EAR_X + 0.035)  # face box width of an unturned face, in head units

_CIRCLE = np.array([(math.cos(2 * math.pi * i / 28), math.sin(2 * math.pi * i / 28)) for i in range(28)])
_BOTTOM, _TOP = 7, 21  # indices of an ellipse's lowest and highest points
_EYE_XS = [-1.0 + i / 4 for i in range(9)]  # an eye's outline: upper lid left to right, lower lid back
_LID_UP = np.array([(x, -0.038 * (1 - x * x) ** 0.7) for x in _EYE_XS])
_LID_LOW = np.array([(-x, 0.027 * (1 - x * x) ** 0.9) for x in _EYE_XS])
_YS = np.array([-math.cos(math.pi * i / 40) for i in range(41)]) * B  # -B..B, denser near the ends

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


def _shade(rgb, f: float, alpha: int | None = None) -> tuple[int, ...]:
    out = tuple(int(max(0, min(255, round(c * f)))) for c in rgb)
    return out if alpha is None else out + (alpha,)


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _half_width(y: np.ndarray) -> np.ndarray:
    """Frontal half-width of the head at height ``y``: an ellipse that narrows towards the jaw."""
    t = np.minimum(np.maximum(np.asarray(y, dtype=np.float64) / B, -1.0), 1.0)
    low = np.maximum(t, 0.0)
    return np.maximum(A * np.sqrt(1.0 - t * t) * (1.0 - 0.28 * low * low), 1e-4)


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return _CIRCLE * (rx, ry) + (cx, cy)


class _Pose:
    """Carries frontal head-unit points to the posed, rolled, scaled picture (pixels)."""

    def __init__(self, p: Person):
        t = math.radians(p.yaw)
        self.cos, self.sin = math.cos(t), math.sin(t)
        self.side = 1.0 if p.yaw >= 0 else -1.0
        self.k = math.sqrt(self.cos ** 2 + (DEPTH / A) ** 2 * self.sin ** 2)  # silhouette / frontal width
        self.u_max = A * self.cos / (A * self.k)  # sin of the angle where the surface leaves the view
        self.p = p
        r = math.radians(p.roll)
        body_r = math.radians(0.15 * p.roll)
        self.rot = (math.cos(r), math.sin(r))
        self.body_rot = (math.cos(body_r), math.sin(body_r))

    def warp(self, pts, depth: float | np.ndarray = 0.0) -> np.ndarray:
        """Frontal surface points [N, 2] -> posed points [N, 2] (head units, before roll)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        a = _half_width(pts[:, 1])
        u = np.minimum(np.maximum(pts[:, 0] / a, -1.0), 1.0)
        u = np.minimum(u, self.u_max) if self.side > 0 else np.maximum(u, -self.u_max)
        z = a * (DEPTH / A) * np.sqrt(1.0 - u * u) + depth
        out = np.empty_like(pts)
        out[:, 0] = a * u * self.cos + z * self.sin
        out[:, 1] = pts[:, 1]
        return out

    def facing(self, x: float, y: float) -> float:
        """How much the surface at frontal (x, y) faces the camera: 1 straight on, <= 0 hidden."""
        u = max(-1.0, min(1.0, x / float(_half_width(y))))
        return -u * self.sin + math.sqrt(1.0 - u * u) * self.cos

    def silhouette(self, ys: np.ndarray, grow: float = 0.0) -> np.ndarray:
        """Closed outline of the posed head over heights ``ys``, widened by ``grow`` (head units).

        Below the ear, the far side of a turned head is neck, not skull: that side of the outline
        is drawn in towards the ear, as a jaw seen from the side.
        """
        w = _half_width(ys) * self.k
        ear = EAR_X * self.cos
        jaw = np.clip((ys - 0.1) / 0.2, 0.0, 1.0) * abs(self.sin)
        back = w - jaw * np.maximum(w - 0.9 * ear, 0.0)
        front, back = w + grow, back + grow
        right, left = (front, back) if self.side > 0 else (back, front)
        return np.concatenate([np.stack([right, ys], 1), np.stack([-left, ys], 1)[::-1]])

    def ear(self, side: float) -> tuple[np.ndarray, float]:
        """The ear on ``side`` (-1 left, +1 right): outline and how much it faces the camera."""
        rx = 0.035 + 0.045 * abs(self.sin)
        return _ellipse(side * EAR_X * self.cos, EAR_Y, rx, EAR_RY), -side * self.sin

    def to_px(self, pts, body: bool = False) -> np.ndarray:
        c, s = self.body_rot if body else self.rot
        q = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        x, y = q[:, 0] - NECK_PIVOT[0], q[:, 1] - NECK_PIVOT[1]
        out = np.empty_like(q)
        out[:, 0] = (x * c - y * s + NECK_PIVOT[0]) * self.p.scale + self.p.cx
        out[:, 1] = (x * s + y * c + NECK_PIVOT[1]) * self.p.scale + self.p.cy
        return out


def _face_region(pose: _Pose) -> np.ndarray:
    """Points whose bounding box is the face box (head units, posed, before roll)."""
    ys = np.concatenate([[BOX_TOP], _YS[_YS > BOX_TOP]])
    sil = pose.silhouette(ys)
    if abs(pose.sin) > 1e-9:  # the far side of a turned head is hair and skull: stop at the ear
        back = -pose.side * EAR_X * pose.cos
        sil[:, 0] = np.maximum(sil[:, 0], back) if pose.side > 0 else np.minimum(sil[:, 0], back)
    parts = [sil, pose.warp([(0.0, NOSE_TIP_Y)], depth=NOSE_DEPTH)]
    for side in (-1.0, 1.0):
        outline, facing = pose.ear(side)
        if facing > -0.35:
            parts.append(outline)
    return np.concatenate(parts)


def face_box(p: Person) -> tuple[float, float, float, float]:
    """The face box of ``p`` in pixels, ``(xmin, ymin, xmax, ymax)``."""
    pose = _Pose(p)
    pts = pose.to_px(_face_region(pose))
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def person_extent(p: Person) -> tuple[float, float, float, float]:
    """Pixels a person may paint (hair, shoulders, hands), for canvas sizing."""
    pose = _Pose(p)
    head = pose.to_px([(-1.0, -1.0), (1.0, -1.0), (1.3, 1.6), (-1.3, 1.6)])
    body = pose.to_px([(-1.3, 0.7), (1.3, 0.7), (1.3, 9.0), (-1.3, 9.0)], body=True)
    pts = np.concatenate([head, body])
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


class _Canvas:
    """One person's supersampled RGB + alpha canvas covering pixels [x0, x1) x [y0, y1)."""

    def __init__(self, box: tuple[int, int, int, int], k: int, pose: _Pose):
        self.x0, self.y0, x1, y1 = box
        self.k, self.pose = k, pose
        size = ((x1 - self.x0) * k, (y1 - self.y0) * k)
        self.rgb = Image.new("RGB", size)
        self.alpha = Image.new("L", size, 0)
        self.draw = ImageDraw.Draw(self.rgb, "RGBA")
        self.adraw = ImageDraw.Draw(self.alpha)
        self.unit = pose.p.scale * k  # canvas pixels per head unit

    def xy(self, pts, body: bool = False) -> list[float]:
        """Canvas coordinates, flat ``[x0, y0, x1, y1, ...]`` (PIL's pixel centres are integers)."""
        q = (self.pose.to_px(pts, body) - (self.x0, self.y0)) * self.k - 0.5
        return q.ravel().tolist()

    def poly(self, pts, fill, solid: bool = True, body: bool = False, outline=None, width: float = 0.0):
        xy = self.xy(pts, body)
        self.draw.polygon(xy, fill=fill)
        if outline is not None:
            self.line(np.concatenate([pts, pts[:1]]), outline, width, body=body)
        if solid:
            self.adraw.polygon(xy, fill=255)

    def line(self, pts, fill, width: float, solid: bool = False, body: bool = False, round_ends: bool = False):
        xy = self.xy(pts, body)
        w = max(1, int(round(width * self.unit)))
        self.draw.line(xy, fill=fill, width=w, joint="curve")
        if solid:
            self.adraw.line(xy, fill=255, width=w, joint="curve")
        if round_ends and w > 2:
            for x, y in ((xy[0], xy[1]), (xy[-2], xy[-1])):
                r = w / 2.0
                self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
                if solid:
                    self.adraw.ellipse((x - r, y - r, x + r, y + r), fill=255)

    def region(self, inside, outside, fill):
        """Paint ``fill`` where polygon ``inside`` is and polygon ``outside`` is not (hair, scarves)."""
        mask = Image.new("L", self.rgb.size, 0)
        d = ImageDraw.Draw(mask)
        d.polygon(self.xy(inside), fill=255)
        d.polygon(self.xy(outside), fill=0)
        self.rgb.paste(fill[:3], mask=mask)
        self.alpha.paste(255, mask=mask)


def _draw_body(cv: _Canvas, p: Person) -> None:
    """Neck, torso, arms and legs (a standing figure, 8 heads tall, mostly cut off by the frame)."""
    sq = np.array([1.0 - 0.3 * abs(cv.pose.sin), 1.0])
    trousers = _mix(p.cloth_rgb, (40, 44, 58), 0.75)
    for side in (-1.0, 1.0):
        cv.poly(np.array([(side * 0.04, 3.2), (side * 0.7, 3.2), (side * 0.58, 8.3), (side * 0.14, 8.3)]) * sq,
                trousers, body=True)
        cv.poly(np.array([(side * 0.1, 8.2), (side * 0.62, 8.2), (side * 0.7, 8.55), (side * 0.08, 8.55)]) * sq,
                (30, 28, 28), body=True)
    cv.poly(np.array([(-0.17, 0.2), (0.17, 0.2), (0.19, 1.0), (-0.19, 1.0)]), _shade(p.skin, 0.78), body=True)
    arc = [(0.78 + 0.3 * math.cos(t), 1.25 - 0.28 * math.sin(t)) for t in np.linspace(math.pi / 2, 0, 6)]
    right = [(0.2, 0.8), (0.45, 0.9)] + arc + [(1.0, 2.2), (0.82, 3.45)]
    cv.poly(np.array(right + [(-x, y) for x, y in right[::-1]]) * sq, p.cloth_rgb, body=True)
    fold = _shade(p.cloth_rgb, 0.75)
    for side in (-1.0, 1.0):
        cv.poly(np.array([(side * 0.84, 1.2), (side * 1.1, 1.3), (side * 1.12, 3.3), (side * 0.86, 3.3)]) * sq,
                _shade(p.cloth_rgb, 0.92), body=True)
        cv.line(np.array([(side * 0.84, 1.6), (side * 0.86, 3.3)]) * sq, fold, 0.03, body=True)
        cv.poly(_ellipse(side * 0.99, 3.5, 0.12, 0.18) * sq, _shade(p.skin, 0.9), body=True)
    cv.poly(np.array([(-0.19, 0.84), (0.19, 0.84), (0.0, 1.12)]) * sq, _shade(p.skin, 0.8), body=True)
    cv.line(np.array([(-0.21, 0.83), (0.0, 1.14), (0.21, 0.83)]) * sq, fold, 0.035, body=True)


def _hair_window(pose: _Pose, p: Person, scarf: bool) -> np.ndarray:
    """The part of the head hair does not cover (frontal outline, warped)."""
    if scarf:
        return pose.warp(_ellipse(0.0, 0.06, 0.42, 0.56))
    xs = np.linspace(-0.3, 0.3, 9)
    top = np.stack([xs, p.hairline + 0.13 * (xs / 0.36) ** 2], 1)
    y0 = p.hairline + 0.13 * (0.3 / 0.36) ** 2
    temple = [(0.3 + 0.09 * math.sin(t), y0 + (0.08 - y0) * (1 - math.cos(t))) for t in np.linspace(0.2, 1.5708, 5)]
    right = temple + [(0.9, 0.1), (0.9, 0.95)]
    outline = np.concatenate([top, right, [(-x, y) for x, y in right[::-1]]])
    return pose.warp(outline)


def _draw_back_hair(cv: _Canvas, p: Person) -> None:
    pose = cv.pose
    shift = -0.12 * pose.sin
    if p.hair == "long":  # seen from the side, long hair hangs behind the head, not in front of the face
        front, back = 1.0 - 0.8 * abs(pose.sin), 1.0 + 0.15 * abs(pose.sin)
        right_k, left_k = (front, back) if pose.side > 0 else (back, front)
        ys = _YS[_YS < 0.3]
        w = _half_width(ys) * pose.k * 1.1 + 0.06
        side = [(x, y - 0.04) for x, y in zip(w, ys)] + [(0.5, 0.55), (0.48, 0.85), (0.4, 1.0), (0.3, 0.92),
                                                         (0.18, 0.98)]
        right = [(x * right_k + shift, y) for x, y in side]
        left = [(shift - x * left_k, y) for x, y in side[::-1]]
        cv.poly(np.array(right + left), p.hair_rgb)
        for k in (right_k, -left_k):
            cv.line(np.array([(shift + 0.3 * k, 0.1), (shift + 0.36 * k, 0.8)]), _shade(p.hair_rgb, 0.75), 0.02)
    elif p.hair == "scarf":
        ys = _YS[_YS < 0.2]
        w = _half_width(ys) * pose.k + 0.1
        right = [(x + shift, y - 0.08) for x, y in zip(w, ys)] + [(0.5, 0.5), (0.62, 0.95), (0.3, 1.1), (0.0, 1.15)]
        cv.poly(np.array(right + [(-x, y) for x, y in right[::-1]]), p.hair_rgb)
    elif p.hair == "bun":
        cv.poly(_ellipse(shift * 2.5, -0.62, 0.17, 0.15), p.hair_rgb)


def _draw_hair(cv: _Canvas, p: Person) -> None:
    """Hair over the head (or a headscarf, or a cap), leaving the hair window free."""
    pose = cv.pose
    if p.hair == "bald":
        ys = _YS[(_YS > -0.3) & (_YS < 0.02)]
        cv.region(pose.silhouette(ys, 0.01), _hair_window(pose, p, False), _shade(p.hair_rgb, 1.0))
        return
    scarf = p.hair == "scarf"
    volume = 0.1 if scarf else 0.05 + 0.03 * (p.hair == "long")
    ys = _YS[_YS < (1.0 if scarf else 0.3)]
    cap = pose.silhouette(ys, 0.0)
    cap[:, 0] += np.sign(cap[:, 0]) * volume * np.clip(-cap[:, 1] / B * 1.5, 0.0, 1.0)
    cap[:, 1] -= volume * np.clip(-cap[:, 1] / B, 0.0, 1.0)
    cap[:, 0] -= 0.06 * pose.sin  # the back of the head sticks out behind a turned face
    window = _hair_window(pose, p, scarf)
    cv.region(cap, window, p.hair_rgb)
    if not scarf:  # a highlight and a parting give the hair some texture
        shine = np.array([(-0.24, -0.47), (-0.12, -0.53), (0.0, -0.555), (0.12, -0.54), (0.22, -0.5)])
        cv.line(pose.warp(shine), _shade(p.hair_rgb, 1.3, 60), 0.04)
        cv.line(pose.warp(np.array([(0.12, -0.58), (0.06, p.hairline)])), _shade(p.hair_rgb, 0.6, 160), 0.015)
    if p.hair == "cap":
        dome = pose.silhouette(_YS[_YS < -0.28], 0.03)
        dome[:, 1] -= 0.05
        cv.poly(dome, p.cloth_rgb)
        xs = np.linspace(-1.0, 1.0, 9)
        bulge = 1.0 - xs * xs
        upper = pose.warp(np.stack([0.36 * xs, np.full(9, -0.31)], 1))
        lower = pose.warp(np.stack([0.36 * xs, -0.31 + 0.08 * bulge], 1), depth=0.25 * bulge)
        cv.poly(np.concatenate([upper, lower[::-1]]), _shade(p.cloth_rgb, 0.8))


def _draw_ear(cv: _Canvas, p: Person, side: float) -> None:
    outline, facing = cv.pose.ear(side)
    cv.poly(outline, _shade(p.skin, 0.92), outline=_shade(p.skin, 0.7), width=0.012)
    if facing > 0.3:
        c = outline.mean(0)
        cv.poly(_ellipse(c[0], c[1] + 0.01, 0.6 * (outline[:, 0].max() - c[0]), 0.06), _shade(p.skin, 0.72),
                solid=False)


def _draw_eyes(cv: _Canvas, p: Person) -> None:
    pose = cv.pose
    lid = _shade(p.skin, 0.93)
    brow = _shade(p.hair_rgb, 0.8) if p.hair not in ("scarf", "cap") else (40, 30, 25)
    for side in (-1.0, 1.0):
        cx = side * 0.16
        facing = pose.facing(cx, 0.0)
        if facing < 0.08:
            continue
        upper = _LID_UP * (0.08, 1.0) + (cx, 0.0)
        lower = _LID_LOW * (0.08, 1.0) + (cx, 0.0)
        cv.poly(pose.warp(np.concatenate([upper, lower])), (244, 240, 232), solid=False)
        cv.poly(pose.warp(_ellipse(cx, -0.002, 0.034, 0.034)), p.eye_rgb, solid=False)
        cv.poly(pose.warp(_ellipse(cx, -0.002, 0.016, 0.016)), (12, 10, 10), solid=False)
        cv.poly(pose.warp(_ellipse(cx + 0.012, -0.013, 0.007, 0.007)), (250, 250, 250), solid=False)
        crease = upper + (0.0, -0.03)
        cv.poly(pose.warp(np.concatenate([upper, crease[::-1]])), lid, solid=False)
        below = lower + (0.0, 0.025)
        cv.poly(pose.warp(np.concatenate([lower, below[::-1]])), p.skin, solid=False)
        cv.line(pose.warp(upper), (30, 22, 20), 0.018)
        cv.line(pose.warp(upper[:4] + (0, -0.018)), _shade(p.skin, 0.8), 0.008)
        cv.line(pose.warp(lower[1:-1]), _shade(p.skin, 0.75), 0.008)
        brow_pts = np.array([(cx - side * 0.095, -0.1), (cx - side * 0.03, -0.128), (cx + side * 0.095, -0.115)])
        cv.line(pose.warp(brow_pts), brow, 0.034)


def _draw_nose_and_mouth(cv: _Canvas, p: Person) -> None:
    pose = cv.pose
    shadow = _shade(p.skin, 0.8)
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
                _shade(p.skin, 0.84), 0.028)
        cv.poly(pose.warp(_ellipse(0.0, 0.15, 0.055, 0.04)), _shade(p.skin, 1.04), solid=False)
    for side in (-1.0, 1.0):
        if pose.facing(side * 0.035, 0.185) > 0.2:
            cv.poly(pose.warp(_ellipse(side * 0.035, 0.185, 0.018, 0.009)), _shade(p.skin, 0.45), solid=False)
            cv.line(pose.warp(np.array([(side * 0.045, 0.15), (side * 0.065, 0.17), (side * 0.05, 0.19)])),
                    shadow, 0.01)
    lip = _mix(_shade(p.skin, 0.85), (170, 70, 75), 0.35)
    xs = np.linspace(-1.0, 1.0, 11)
    lift = {"neutral": 0.0, "smile": 0.03, "open": 0.01}[p.mouth]
    mid = np.stack([0.12 * xs, 0.33 - lift * xs ** 2 + lift * 0.5], 1)
    upper = np.stack([0.12 * xs, 0.33 - 0.034 * (1 - xs ** 2) + 0.01 * (1 - np.abs(xs) * 3).clip(0, 1)], 1)
    lower = np.stack([0.12 * xs, 0.335 + 0.048 * (1 - xs ** 2)], 1)
    upper[:, 1] -= lift * xs ** 2 - lift * 0.5
    lower[:, 1] -= lift * xs ** 2 - lift * 0.5
    cv.poly(pose.warp(np.concatenate([upper, lower[::-1]])), lip, solid=False)
    if p.mouth == "open":
        cv.poly(pose.warp(_ellipse(0.0, 0.345, 0.07, 0.025)), (60, 25, 28), solid=False)
        cv.poly(pose.warp(np.array([(-0.055, 0.327), (0.055, 0.327), (0.05, 0.34), (-0.05, 0.34)])),
                (235, 230, 220), solid=False)
    else:
        cv.line(pose.warp(mid), _shade(lip, 0.55), 0.012)


def _draw_mask(cv: _Canvas, p: Person) -> None:
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
    fold = _shade(p.mask_rgb, 0.82) if sum(p.mask_rgb) > 150 else _shade(p.mask_rgb, 1.8)
    if p.mask in ("surgical_blue", "surgical_white"):
        for y in np.linspace(top + 0.12, top + 0.34, 3):
            cv.line(pose.warp(np.stack([0.3 * xs, y + 0.03 * xs ** 2], 1)), fold, 0.012)
        cv.line(pose.warp(upper[2:-2]), _shade(p.mask_rgb, 0.9), 0.02)
    else:
        cv.line(pose.warp(np.array([(0.0, top), (0.0, B)])), fold, 0.012)
    loop = (245, 245, 245) if p.mask != "black" else (30, 30, 34)
    for side in (-1.0, 1.0):
        outline_ear, facing = pose.ear(side)
        if facing < -0.2:
            continue
        ear_top, ear_low = outline_ear[_TOP], outline_ear[_BOTTOM]
        edge = pose.warp(np.array([(side * 0.6, top + 0.07), (side * 0.6, top + 0.35)]))
        cv.line(np.array([edge[0], ear_top + (0, 0.02)]), loop, 0.014)
        cv.line(np.array([edge[1], ear_low - (0, 0.02)]), loop, 0.014)


def _draw_eyewear(cv: _Canvas, p: Person) -> None:
    pose = cv.pose
    frame = (20, 20, 24) if p.eyewear == "sunglasses" else (70, 60, 55)
    lenses = 0
    for side in (-1.0, 1.0):
        cx = side * 0.16
        if pose.facing(cx, 0.0) < 0.05:
            continue
        lens = pose.warp(_ellipse(cx, 0.005, 0.1, 0.065))
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
            cv.line(np.array([pose.warp([(side * 0.5, -0.01)])[0], outline_ear[_TOP] + (0, 0.03)]), frame, 0.016)


def _draw_hand(cv: _Canvas, p: Person) -> None:
    centre = {"mouth": (0.02, 0.36), "chin": (0.0, 0.56), "cheek": (0.3, 0.22), "eye": (0.16, 0.02)}[p.hand]
    centre = cv.pose.warp([centre], depth=0.08)[0]  # the hand lies on the turned face
    c, s = math.cos(math.radians(p.hand_angle)), math.sin(math.radians(p.hand_angle))

    def place(pts):
        pts = np.asarray(pts, dtype=np.float64)
        return np.stack([pts[:, 0] * c - pts[:, 1] * s, pts[:, 0] * s + pts[:, 1] * c], 1) + centre

    skin = _shade(p.skin, 0.97)
    edge = _shade(p.skin, 0.75)
    cv.line(place([(0.0, 0.1), (0.05, 1.3)]), _shade(p.cloth_rgb, 0.9), 0.26, solid=True)
    palm = place(_ellipse(0.0, 0.05, 0.15, 0.17))
    cv.poly(palm, skin, outline=edge, width=0.01)
    for x, length in ((-0.105, 0.2), (-0.035, 0.25), (0.035, 0.24), (0.1, 0.19)):
        finger = place([(x, -0.05), (x * 1.15, -0.05 - length)])
        cv.line(finger, edge, 0.075, solid=True, round_ends=True)
        cv.line(finger, skin, 0.058, solid=True, round_ends=True)
    cv.line(place([(0.13, 0.08), (0.24, -0.03), (0.27, -0.1)]), skin, 0.07, solid=True, round_ends=True)


def draw_person(scene: Image.Image, p: Person) -> None:
    """Draw ``p`` onto ``scene`` (RGB, in place)."""
    pose = _Pose(p)
    x0, y0, x1, y1 = person_extent(p)
    box = (max(0, int(math.floor(x0))), max(0, int(math.floor(y0))),
           min(scene.width, int(math.ceil(x1))), min(scene.height, int(math.ceil(y1))))
    if box[2] <= box[0] or box[3] <= box[1]:
        return
    k = int(min(8, max(2, math.ceil(96.0 / p.scale))))
    cv = _Canvas(box, k, pose)
    _draw_body(cv, p)
    _draw_back_hair(cv, p)
    ears_on_top = abs(p.yaw) >= 25
    for side in (-1.0, 1.0):
        if pose.ear(side)[1] > -0.35 and not ears_on_top and p.hair != "scarf":
            _draw_ear(cv, p, side)
    cv.poly(pose.silhouette(_YS), p.skin)
    for side in (-1.0, 1.0):  # cheeks
        if pose.facing(side * 0.22, 0.2) > 0.3:
            cv.poly(pose.warp(_ellipse(side * 0.22, 0.2, 0.08, 0.06)), _mix(p.skin, (200, 90, 90), 0.3) + (35,),
                    solid=False)
    _draw_eyes(cv, p)
    _draw_nose_and_mouth(cv, p)
    _draw_hair(cv, p)
    if ears_on_top and p.hair != "scarf":
        for side in (-1.0, 1.0):
            if pose.ear(side)[1] > 0:
                _draw_ear(cv, p, side)
    if p.mask != "none":
        _draw_mask(cv, p)
    if p.eyewear != "none":
        _draw_eyewear(cv, p)
    if p.hand != "none":
        _draw_hand(cv, p)
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
