"""Image decoding with errors that name the file (PIL, so failures surface in Python, not deep in a graph)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facessd_archive.errors import DataError, ImageError

if TYPE_CHECKING:
    from facessd_archive.data.sample import Sample


def load_rgb(path: str | Path, exif_orientation: bool = False) -> np.ndarray:
    """Decode ``path`` fully to ``[H, W, 3]`` uint8 RGB (alpha flattened on white, greyscale expanded).

    Pixels come in stored orientation by default, the frame benchmark annotations use.
    ``exif_orientation=True`` applies the EXIF Orientation tag (``ImageOps.exif_transpose``),
    giving the picture as a viewer shows it: what ``facessd detect`` runs on photos.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            im.load()
            if exif_orientation:
                im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot decode image ({e})") from e


def load_sample_image(sample: "Sample") -> np.ndarray:
    """Decode a sample's image and check its annotation against it (stated size, boxes inside).

    The one place training and evaluation read a benchmark image, so both refuse the same bad data.
    """
    from facessd_archive.data.sample import validate_boxes

    image = load_rgb(sample.image_path)
    h, w = image.shape[:2]
    if sample.width is not None and (sample.width, sample.height) != (w, h):
        raise DataError(f"{sample.image_path}: annotation says {sample.width}x{sample.height} "
                        f"but the image is {w}x{h}")
    validate_boxes(sample, w, h, sample.image_path)
    return image


def image_size(path: Path, source: str | Path) -> tuple[int, int]:
    """(width, height) from the image header only (PIL decodes no pixels), for formats that do not state it."""
    if not path.is_file():
        raise ImageError(f"{path}: image file not found (listed in {source})")
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot read image header ({e})") from None
