"""A picture with its detections drawn (PIL ``ImageDraw``), encoded in the format its file name says."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BOX_COLOUR = (0, 255, 64)
TEXT_COLOUR = (0, 0, 0)
SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}}


def draw_detections(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> Image.Image:
    """``image`` [H, W, 3] uint8 with each box [N, 4] (xmin, ymin, xmax, ymax pixels) outlined and its
    score written above it (inside, when the box touches the top edge). Line width and text size
    follow the picture's size, so boxes stay visible on large photos and small crops alike."""
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    h, w = image.shape[:2]
    line = max(1, round(min(h, w) / 250))
    font = _font(max(10, 6 * line + 4))
    for (x0, y0, x1, y1), score in zip(boxes.tolist(), scores.tolist()):
        draw.rectangle([x0, y0, x1, y1], outline=BOX_COLOUR, width=line)
        label = f"{score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tw, th = right - left + 2 * line, bottom - top + 2 * line
        ty = y0 - th if y0 - th >= 0 else y0
        draw.rectangle([x0, ty, x0 + tw, ty + th], fill=BOX_COLOUR)
        draw.text((x0 + line - left, ty + line - top), label, fill=TEXT_COLOUR, font=font)
    return picture


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled font, scalable when FreeType is present
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def output_format(path: Path) -> str | None:
    """PIL's format name for ``path``'s extension (``'JPEG'`` for ``.jpg``), or None if PIL cannot write it."""
    fmt = Image.registered_extensions().get(path.suffix.lower())
    return fmt if fmt in Image.SAVE else None


def encode(picture: Image.Image, fmt: str) -> bytes:
    """``picture`` as the bytes of a ``fmt`` file (JPEG and WebP at quality 95)."""
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format=fmt, **SAVE_OPTIONS.get(fmt, {}))
    return buffer.getvalue()
