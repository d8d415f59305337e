"""Decoding benchmark images for inference, at reduced scale when the network needs far fewer pixels.

A JPEG's DCT lets libjpeg decode at 1/2, 1/4 or 1/8 scale for a fraction of the full cost
(PIL's ``Image.draft``). When the resize policy will shrink an image to at most half its size on
both axes, decoding it at the largest reduction that still leaves at least the resized size
loses nothing the resize keeps (and anti-aliases a little on the way). The original size is
returned beside the pixels, so boxes found on the reduced image go back to original pixels.

Checks are those of ``data.images.load_sample_image``: a stated size that differs from the
image's, or a box outside it, is a ``DataError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from facessd_archive.data.sample import Sample, validate_boxes
from facessd_archive.errors import DataError, ImageError

TargetSize = Callable[[int, int], "tuple[int, int]"]  # (height, width) -> the (height, width) it is resized to


def decode(path: str | Path, target: TargetSize | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """``[h, w, 3]`` uint8 RGB (alpha flattened on white) and the original ``(height, width)``.

    With ``target``, a JPEG whose resized size is at most half its own on both axes is decoded
    at reduced scale (never below the resized size)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            width, height = im.size
            if target is not None and im.format == "JPEG":
                th, tw = target(height, width)
                if 2 * th <= height and 2 * tw <= width:
                    im.draft("RGB", (tw, th))  # libjpeg picks a scale leaving at least (tw, th)
            im.load()
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            return np.asarray(im.convert("RGB")), (height, width)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot decode image ({e})") from e


def decode_sample(sample: Sample, target: TargetSize | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """``decode`` of a benchmark sample, with its stated size and boxes checked against the original size."""
    pixels, (h, w) = decode(sample.image_path, target)
    if sample.width is not None and (sample.width, sample.height) != (w, h):
        raise DataError(f"{sample.image_path}: annotation says {sample.width}x{sample.height} "
                        f"but the image is {w}x{h}")
    validate_boxes(sample, w, h, sample.image_path)
    return pixels, (h, w)
