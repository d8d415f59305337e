"""The synthetic sample benchmark: determinism, exact boxes, variety, and the cache."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facessd_archive.data.images import load_rgb
from facessd_archive.data.synthetic.benchmark import (
    ANNOTATIONS, SAMPLE_BENCHMARK_ID, sample_benchmark, sample_benchmark_dir, sample_benchmark_hash)
from facessd_archive.data.synthetic.faces import draw_person
from facessd_archive.data.synthetic.head import FRONTAL_WIDTH, face_box
from facessd_archive.data.synthetic.person import Person
from facessd_archive.errors import ConfigError

FACE_KEYS = {"width_px", "height_px", "size", "pose", "yaw_deg", "roll_deg", "tilted", "skin_tone", "skin_rgb",
             "hair", "mask", "mask_position", "eyewear", "hand", "mouth", "blur", "blur_sigma_px", "side_light",
             "illumination"}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _person(**changes) -> Person:
    base = Person(cx=200.0, cy=150.0, scale=100.0, yaw=0.0, roll=0.0, skin=(200, 150, 110), hair="bald",
                  hair_rgb=(40, 30, 20), hairline=-0.4, eye_rgb=(70, 45, 28), cloth_rgb=(40, 60, 120),
                  mask="none", mask_rgb=(0, 0, 0), mask_low=False, eyewear="none", hand="none", hand_angle=0.0,
                  mouth="neutral", light=0.0, blur=0.0)
    return dataclasses.replace(base, **changes)


def test_frontal_face_box_worked_by_hand():
    # scale 100 px per head unit: ear to ear 0.91 units, forehead line -0.42 to chin +0.58
    x0, y0, x1, y1 = face_box(_person())
    assert (x0, y0, x1, y1) == pytest.approx((200 - 45.5, 150 - 42.0, 200 + 45.5, 150 + 58.0), abs=1e-6)
    assert FRONTAL_WIDTH == pytest.approx(0.91)


def test_rolled_face_box_is_the_frontal_box_turned_a_quarter():
    x0, y0, x1, y1 = face_box(_person())
    r0, s0, r1, s1 = face_box(_person(roll=90.0))
    assert (r1 - r0, s1 - s0) == pytest.approx((y1 - y0, x1 - x0), abs=1e-6)


def test_turned_face_box_is_narrower_and_profile_narrower_still():
    widths = [face_box(_person(yaw=yaw))[2] - face_box(_person(yaw=yaw))[0] for yaw in (0.0, 35.0, 70.0)]
    assert widths[0] > widths[1] > widths[2] > 0.5 * widths[0]
    assert face_box(_person(yaw=35.0))[2] - face_box(_person(yaw=35.0))[0] == pytest.approx(
        face_box(_person(yaw=-35.0))[2] - face_box(_person(yaw=-35.0))[0])


def test_drawn_face_spans_its_box_ear_to_ear():
    p = _person()
    image = Image.new("RGB", (400, 400), (0, 0, 255))
    draw_person(image, p)
    x0, y0, x1, y1 = face_box(p)
    drawn = np.any(np.asarray(image) != (0, 0, 255), axis=2)[int(y0) + 1:int(y1) - 1]
    cols = np.flatnonzero(drawn.any(axis=0))
    assert cols.min() == pytest.approx(x0, abs=1.5) and cols.max() + 1 == pytest.approx(x1, abs=1.5)


def test_same_seed_gives_identical_benchmark(tmp_path):
    a = sample_benchmark(seed=3, num_images=5, cache_dir=tmp_path / "a")
    b = sample_benchmark(seed=3, num_images=5, cache_dir=tmp_path / "b")
    assert sample_benchmark_hash(a) == sample_benchmark_hash(b)
    assert _files(sample_benchmark_dir(3, 5, tmp_path / "a")) == _files(sample_benchmark_dir(3, 5, tmp_path / "b"))
    for sa, sb in zip(a, b):
        assert sa.image_id == sb.image_id and sa.attributes == sb.attributes
        np.testing.assert_array_equal(sa.boxes, sb.boxes)


def test_other_seed_gives_other_benchmark(tmp_path):
    a = sample_benchmark(seed=3, num_images=5, cache_dir=tmp_path)
    b = sample_benchmark(seed=4, num_images=5, cache_dir=tmp_path)
    assert sample_benchmark_hash(a) != sample_benchmark_hash(b)
    assert all(sa.image_path.read_bytes() != sb.image_path.read_bytes() for sa, sb in zip(a, b))


def test_boxes_are_inside_and_attributes_describe_every_face(tmp_path):
    samples = sample_benchmark(seed=1, num_images=8, cache_dir=tmp_path)
    widths = []
    for s in samples:
        pixels = load_rgb(s.image_path)
        assert pixels.shape == (s.height, s.width, 3)
        assert 240 <= s.width <= 480 and 180 <= s.height <= 360
        assert 1 <= len(s.boxes) <= 12 and not s.ignore.any()
        x0, y0, x1, y1 = s.boxes.T
        assert (x0 >= 0).all() and (y0 >= 0).all() and (x1 <= s.width).all() and (y1 <= s.height).all()
        assert (x1 > x0).all() and (y1 > y0).all()
        assert s.attributes["synthetic"] is True and s.attributes["benchmark"] == SAMPLE_BENCHMARK_ID
        faces = s.attributes["faces"]
        assert len(faces) == len(s.boxes)
        for box, face in zip(s.boxes, faces):
            assert FACE_KEYS <= set(face)
            assert face["width_px"] == pytest.approx(box[2] - box[0], abs=0.02)
            assert face["pose"] in ("frontal", "turned", "profile") and 1 <= face["skin_tone"] <= 10
        widths.extend(x1 - x0)
        for i in range(len(s.boxes)):  # neighbours overlap by a tenth of the smaller box at most
            for j in range(i):
                a, b = s.boxes[i], s.boxes[j]
                inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
                smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
                assert inter <= 0.1 * smaller
    # every 4 images hold a crowd with a face 12-16 px wide and a portrait with one >= 80 px
    assert min(widths) <= 16 and max(widths) >= 80 and min(widths) >= 12


def test_default_benchmark_has_the_promised_variety(tmp_path):
    start = time.process_time()
    samples = sample_benchmark(cache_dir=tmp_path)
    cpu = time.process_time() - start
    assert len(samples) == 48 and sample_benchmark_dir(0, 48, tmp_path).name == "v1-seed0-n48"
    faces = [f for s in samples for f in s.attributes["faces"]]
    widths = np.array([f["width_px"] for f in faces])
    assert (widths <= 16).sum() >= 5 and (widths >= 80).sum() >= 5
    assert {f["pose"] for f in faces} == {"frontal", "turned", "profile"}
    assert {"none", "surgical_blue", "surgical_white", "black", "cloth"} <= {f["mask"] for f in faces}
    assert any(f["mask_position"] == "below_nose" for f in faces)
    assert {"glasses", "sunglasses"} <= {f["eyewear"] for f in faces} and any(f["hand"] != "none" for f in faces)
    assert len({f["skin_tone"] for f in faces}) == 10 and any(f["tilted"] for f in faces)
    assert {"none", "slight", "heavy"} <= {f["blur"] for f in faces}
    assert len({s.attributes["background"] for s in samples}) >= 4
    assert max(len(s.boxes) for s in samples) >= 10
    assert cpu < 10.0, f"generating the default 48 images took {cpu:.1f} s of CPU (budget ~5 s)"


def test_second_call_reuses_the_cache_without_writing(tmp_path):
    first = sample_benchmark(seed=2, num_images=3, cache_dir=tmp_path)
    folder = sample_benchmark_dir(2, 3, tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    time.sleep(0.01)
    second = sample_benchmark(seed=2, num_images=3, cache_dir=tmp_path)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == stamps
    assert [s.image_path for s in second] == [s.image_path for s in first]
    assert sample_benchmark_hash(second) == sample_benchmark_hash(first)


@pytest.mark.parametrize("damage", ["delete_image", "truncate_image", "no_index", "other_seed_index"])
def test_incomplete_cache_is_regenerated(tmp_path, damage):
    expected = sample_benchmark_hash(sample_benchmark(seed=2, num_images=3, cache_dir=tmp_path / "clean"))
    folder = sample_benchmark_dir(2, 3, tmp_path)
    sample_benchmark(seed=2, num_images=3, cache_dir=tmp_path)
    image = folder / "images" / "s2_0001.png"
    if damage == "delete_image":
        image.unlink()
    elif damage == "truncate_image":
        image.write_bytes(image.read_bytes()[:100])
    elif damage == "no_index":
        (folder / ANNOTATIONS).unlink()
    else:
        index = json.loads((folder / ANNOTATIONS).read_text())
        (folder / ANNOTATIONS).write_text(json.dumps({**index, "seed": 5}))
    samples = sample_benchmark(seed=2, num_images=3, cache_dir=tmp_path)
    assert image.is_file() and sample_benchmark_hash(samples) == expected
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folders left


def test_cache_root_comes_from_the_environment_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESSD_CACHE", str(tmp_path / "env"))
    samples = sample_benchmark(seed=0, num_images=1)
    assert samples[0].image_path.is_relative_to(tmp_path / "env" / "sample-benchmark" / "v1-seed0-n1")


@pytest.mark.parametrize("kwargs, phrase", [({"num_images": 0}, "num_images must be an integer in [1,"),
                                            ({"seed": -1}, "seed must be an integer in [0, 2**32)"),
                                            ({"seed": 1.5}, "seed must be an integer")])
def test_bad_arguments_are_refused(tmp_path, kwargs, phrase):
    with pytest.raises(ConfigError) as e:
        sample_benchmark(cache_dir=tmp_path, **kwargs)
    assert phrase in str(e.value)
    assert not any(tmp_path.iterdir())
