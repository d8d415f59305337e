"""The canvas one synthetic person is drawn on, in head units, supersampled; and colour helpers.

Each person is drawn ``k``-times supersampled on its own RGB + alpha canvas (``Canvas.xy``
carries head-unit points to canvas pixels through the person's ``Pose``) and box-filtered down
by ``draw_person``, so edges are anti-aliased the same way at every face size. The alpha plane
records what is solid, so the person can be blended into the scene with its coverage.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from facessd_archive.data.synthetic.head import Pose


def shade(rgb, f: float, alpha: int | None = None) -> tuple[int, ...]:
    """``rgb`` times ``f``, rounded and clipped to 0..255; with ``alpha`` appended when given."""
    out = tuple(int(max(0, min(255, round(c * f)))) for c in rgb)
    return out if alpha is None else out + (alpha,)


def mix(a, b, t: float) -> tuple[int, int, int]:
    """The colour a fraction ``t`` of the way from ``a`` to ``b``, rounded."""
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


class Canvas:
    """One person's supersampled RGB + alpha canvas covering pixels [x0, x1) x [y0, y1)."""

    def __init__(self, box: tuple[int, int, int, int], k: int, pose: Pose):
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
