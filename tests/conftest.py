"""Shared fixtures for the detector-core tests.

Everything here is tiny on purpose: a long training run shares this machine's two cores,
so networks use depth multiplier 0.25 and small inputs, and hand-made images are a few
dozen pixels wide.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
if "FACESSD_TEST_KEEP_XDG" not in os.environ:
    # A command run outside the checkout falls back to the per-user archive: keep the tests' own
    # out of the real ~/.local/share (tests that check the rule set their own folders).
    import tempfile

    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="facessd-test-xdg-")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

FACEMASK_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "facemask"


@pytest.fixture(scope="session")
def facemask_root() -> Path:
    """The real facemask VOC set (``../shared/data/facemask``); skips when it is absent."""
    if not (FACEMASK_ROOT / "annotations").is_dir() or not (FACEMASK_ROOT / "images").is_dir():
        pytest.skip(f"facemask data set not found at {FACEMASK_ROOT} (see DESIGN.md, 'Face benchmarks')")
    return FACEMASK_ROOT


def write_jpeg(path: Path, image: np.ndarray, quality: int = 95) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.astype(np.uint8)).save(path, format="JPEG", quality=quality)
    return path


def write_png(path: Path, image: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.astype(np.uint8)).save(path, format="PNG")
    return path


def voc_xml(filename: str, width: int, height: int, boxes: list[tuple], difficult: list[bool] | None = None) -> str:
    """A minimal Pascal VOC annotation; ``boxes`` are (xmin, ymin, xmax, ymax) pixels (any printable values)."""
    difficult = difficult or [False] * len(boxes)
    objects = "".join(
        f"<object><name>with_mask</name><difficult>{int(d)}</difficult><bndbox>"
        f"<xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for b, d in zip(boxes, difficult))
    return (f"<annotation><folder>images</folder><filename>{filename}</filename>"
            f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>{objects}</annotation>")


@pytest.fixture
def make_voc(tmp_path):
    """Build a VOC folder under tmp_path: ``make_voc({name: (image, boxes[, difficult])})`` -> root."""

    def _make(entries: dict, root: Path | None = None) -> Path:
        root = root or tmp_path / "voc"
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "images").mkdir(parents=True, exist_ok=True)
        for name, entry in entries.items():
            image, boxes = entry[0], entry[1]
            difficult = entry[2] if len(entry) > 2 else None
            h, w = image.shape[:2]
            write_jpeg(root / "images" / f"{name}.jpg", image)
            (root / "annotations" / f"{name}.xml").write_text(voc_xml(f"{name}.jpg", w, h, boxes, difficult))
        return root

    return _make
