"""Image decoding with errors that name the file (PIL, so failures surface in Python, not deep in a graph)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from facessd_archive.errors import ImageError


def load_rgb(path: str | Path) -> np.ndarray:
    """Decode ``path`` fully to ``[H, W, 3]`` uint8 RGB (alpha flattened, greyscale expanded)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: cannot decode image ({e})") from e
