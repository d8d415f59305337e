"""The WIDER FACE reader on the official layout: whole gt files, split lists, ignore regions, crowds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facessd_archive.data.readers.formats import load_benchmark
from facessd_archive.errors import DataError

GT_TRAIN = """0--Parade/crowd.jpg
{n}
{crowd}
0--Parade/degenerate.jpg
3
10 10 20 20 0 0 0 0 0 0
30 30 0 12 0 0 0 0 0 0
40 5 8 0 0 0 0 0 0 0
1--Handshaking/absent.jpg
1
1 1 5 5 0 0 0 0 0 0
1--Handshaking/invalid.jpg
2
5 5 30 30 0 0 0 1 0 0
40 10 10 12 0 0 0 0 0 0
1--Handshaking/empty.jpg
0
0 0 0 0 0 0 0 0 0 0
"""


def _image(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path)


@pytest.fixture
def wider_root(tmp_path) -> Path:
    """A WIDER folder in the official layout whose train gt lists an image that is not on disk."""
    root = tmp_path / "wider"
    crowd = "\n".join(f"{2 + 3 * (i % 60)} {2 + 3 * (i // 60)} 3 3 0 0 0 0 0 0" for i in range(300))
    (root / "wider_face_split").mkdir(parents=True)
    (root / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text(GT_TRAIN.format(n=300, crowd=crowd))
    (root / "wider_face_split" / "wider_face_val_bbx_gt.txt").write_text(
        "7--Cheering/v.jpg\n1\n2 2 10 10 0 0 0 0 0 0\n")
    for name, (w, h) in {"0--Parade/crowd.jpg": (200, 40), "0--Parade/degenerate.jpg": (64, 48),
                         "1--Handshaking/invalid.jpg": (64, 48), "1--Handshaking/empty.jpg": (32, 32)}.items():
        _image(root / "WIDER_train" / "images" / name, w, h)
    _image(root / "WIDER_val" / "images" / "7--Cheering" / "v.jpg", 32, 32)
    (root / "train.txt").write_text("\n".join(f"WIDER_train/images/{n}" for n in (
        "0--Parade/crowd.jpg", "0--Parade/degenerate.jpg", "1--Handshaking/invalid.jpg",
        "1--Handshaking/empty.jpg")) + "\n")
    return root


def test_split_selects_the_listed_images_from_the_whole_gt_file(wider_root):
    b = load_benchmark(wider_root, split="train.txt")
    assert [s.image_id for s in b.samples] == ["0--Parade/crowd", "0--Parade/degenerate",
                                                "1--Handshaking/invalid", "1--Handshaking/empty"]
    assert b.samples[0].image_path == wider_root / "WIDER_train/images/0--Parade/crowd.jpg"
    assert len(b.samples[0].boxes) == 300  # a crowd is read whole
    assert len(b.samples[3].boxes) == 0  # the dummy zero line of an empty image is not a face


def test_zero_size_and_invalid_faces_become_counted_ignore_regions(wider_root):
    b = load_benchmark(wider_root, split="train.txt")
    degenerate = b.samples[1]
    assert degenerate.ignore.tolist() == [False, True, True]
    np.testing.assert_array_equal(degenerate.boxes[1], [30, 30, 30, 42])  # kept where it is, zero wide
    assert b.samples[2].ignore.tolist() == [True, False]
    assert b.samples[2].num_faces == 1
    assert "2 zero-size box(es) and 1 face(s) flagged invalid became ignore regions" in b.notes


def test_each_listed_path_uses_the_gt_file_of_its_split(wider_root):
    split = wider_root / "mixed.txt"
    split.write_text("WIDER_val/images/7--Cheering/v.jpg\nWIDER_train/images/1--Handshaking/empty.jpg\n")
    b = load_benchmark(wider_root, split=split)
    assert [s.image_id for s in b.samples] == ["7--Cheering/v", "1--Handshaking/empty"]
    assert b.samples[0].boxes.tolist() == [[2, 2, 12, 12]]


def test_listed_images_missing_from_the_gt_are_named(wider_root):
    split = wider_root / "bad.txt"
    split.write_text("WIDER_train/images/0--Parade/crowd.jpg\nWIDER_train/images/9--Press/nope.jpg\n")
    with pytest.raises(DataError, match=r"1 listed image\(s\) are not in the WIDER ground truth.*nope.jpg"):
        load_benchmark(wider_root, split=split)
    b = load_benchmark(wider_root, split=split, skip_bad=True)
    assert len(b.samples) == 1 and "nope.jpg" in b.skipped[0]


def test_without_a_split_the_images_present_are_read(wider_root):
    b = load_benchmark(wider_root / "wider_face_split" / "wider_face_train_bbx_gt.txt")
    assert len(b.samples) == 4  # absent.jpg is in the official file but not on disk
    assert any("4 image(s) of the ground truth are present" in n for n in b.notes)


SHARED_WIDER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wider"


@pytest.mark.skipif(not SHARED_WIDER.is_dir(), reason="../shared/data/wider (the real WIDER FACE subset) is absent")
def test_the_real_official_files_read_as_published():
    b = load_benchmark(SHARED_WIDER, split="val.txt")
    assert len(b.samples) == 97
    assert sum(len(s.boxes) for s in b.samples) == 1212
    assert sum(int(s.ignore.sum()) for s in b.samples) >= 29  # the invalid faces, plus zero-size boxes
