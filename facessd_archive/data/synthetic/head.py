"""Head geometry for the synthetic people: head units, pose, and the face box.

A person is drawn from polygons in *head units*: origin at the centre of the head, x to the
image's right, y down, head half-width ``A`` = 0.40, half-height ``B`` = 0.58, half-depth
``DEPTH`` = 0.50 (a head is deeper than it is wide). Features are laid out on a frontal face
and carried to the pose by ``Pose.warp``: the head is an ellipsoid seen from above, turned by
``yaw`` about the vertical axis; points that turn out of sight are pressed onto the silhouette.
The whole head is then turned by ``roll`` about the neck and scaled to pixels.

The face box is the tight box of the *face region* after the same transform: the head's
silhouette from the forehead line ``BOX_TOP`` down to the chin, the visible ears, and the nose
tip; hair, hats, masks and hands never change it (real annotators box the face under a mask).
On the side a turned face turns away from, the region stops at the ear, so a profile's box
runs from the ear to the nose tip.

The box and the drawing (``synthetic_faces``) share this module, so a box always fits what is
drawn. Arrays only see + - * / and sqrt (exact in IEEE arithmetic) and sines come from
``math``, so boxes and pixels do not depend on the CPU's SIMD paths.
"""

from __future__ import annotations

import math

import numpy as np

from facessd_archive.data.synthetic.person import Person

A, B, DEPTH = 0.40, 0.58, 0.50
BOX_TOP = -0.42           # forehead line: the top of the face box
EAR_X, EAR_Y, EAR_RY = A + 0.02, 0.06, 0.11
NOSE_TIP_Y, NOSE_DEPTH = 0.16, 0.14
NECK_PIVOT = (0.0, 0.75)  # the head rolls about this point
FRONTAL_WIDTH = 2 * (EAR_X + 0.035)  # face box width of an unturned face, in head units

_CIRCLE = np.array([(math.cos(2 * math.pi * i / 28), math.sin(2 * math.pi * i / 28)) for i in range(28)])
ELLIPSE_BOTTOM, ELLIPSE_TOP = 7, 21  # indices of an ellipse's lowest and highest points
HEAD_YS = np.array([-math.cos(math.pi * i / 40) for i in range(41)]) * B  # -B..B, denser near the ends


def half_width(y: np.ndarray) -> np.ndarray:
    """Frontal half-width of the head at height ``y``: an ellipse that narrows towards the jaw."""
    t = np.minimum(np.maximum(np.asarray(y, dtype=np.float64) / B, -1.0), 1.0)
    low = np.maximum(t, 0.0)
    return np.maximum(A * np.sqrt(1.0 - t * t) * (1.0 - 0.28 * low * low), 1e-4)


def ellipse(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Outline [28, 2] of an axis-aligned ellipse (points ``ELLIPSE_BOTTOM`` and ``ELLIPSE_TOP`` at y extremes)."""
    return _CIRCLE * (rx, ry) + (cx, cy)


class Pose:
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
        a = half_width(pts[:, 1])
        u = np.minimum(np.maximum(pts[:, 0] / a, -1.0), 1.0)
        u = np.minimum(u, self.u_max) if self.side > 0 else np.maximum(u, -self.u_max)
        z = a * (DEPTH / A) * np.sqrt(1.0 - u * u) + depth
        out = np.empty_like(pts)
        out[:, 0] = a * u * self.cos + z * self.sin
        out[:, 1] = pts[:, 1]
        return out

    def facing(self, x: float, y: float) -> float:
        """How much the surface at frontal (x, y) faces the camera: 1 straight on, <= 0 hidden."""
        u = max(-1.0, min(1.0, x / float(half_width(y))))
        return -u * self.sin + math.sqrt(1.0 - u * u) * self.cos

    def silhouette(self, ys: np.ndarray, grow: float = 0.0) -> np.ndarray:
        """Closed outline of the posed head over heights ``ys``, widened by ``grow`` (head units).

        Below the ear, the far side of a turned head is neck, not skull: that side of the outline
        is drawn in towards the ear, as a jaw seen from the side.
        """
        w = half_width(ys) * self.k
        ear = EAR_X * self.cos
        jaw = np.clip((ys - 0.1) / 0.2, 0.0, 1.0) * abs(self.sin)
        back = w - jaw * np.maximum(w - 0.9 * ear, 0.0)
        front, back = w + grow, back + grow
        right, left = (front, back) if self.side > 0 else (back, front)
        return np.concatenate([np.stack([right, ys], 1), np.stack([-left, ys], 1)[::-1]])

    def ear(self, side: float) -> tuple[np.ndarray, float]:
        """The ear on ``side`` (-1 left, +1 right): outline and how much it faces the camera."""
        rx = 0.035 + 0.045 * abs(self.sin)
        return ellipse(side * EAR_X * self.cos, EAR_Y, rx, EAR_RY), -side * self.sin

    def to_px(self, pts, body: bool = False) -> np.ndarray:
        c, s = self.body_rot if body else self.rot
        q = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        x, y = q[:, 0] - NECK_PIVOT[0], q[:, 1] - NECK_PIVOT[1]
        out = np.empty_like(q)
        out[:, 0] = (x * c - y * s + NECK_PIVOT[0]) * self.p.scale + self.p.cx
        out[:, 1] = (x * s + y * c + NECK_PIVOT[1]) * self.p.scale + self.p.cy
        return out


def _face_region(pose: Pose) -> np.ndarray:
    """Points whose bounding box is the face box (head units, posed, before roll)."""
    ys = np.concatenate([[BOX_TOP], HEAD_YS[HEAD_YS > BOX_TOP]])
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
    pose = Pose(p)
    pts = pose.to_px(_face_region(pose))
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def person_extent(p: Person) -> tuple[float, float, float, float]:
    """Pixels a person may paint (hair, shoulders, hands), for canvas sizing."""
    pose = Pose(p)
    head = pose.to_px([(-1.0, -1.0), (1.0, -1.0), (1.3, 1.6), (-1.3, 1.6)])
    body = pose.to_px([(-1.3, 0.7), (1.3, 0.7), (1.3, 9.0), (-1.3, 9.0)], body=True)
    pts = np.concatenate([head, body])
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())
