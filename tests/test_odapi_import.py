"""``facessd import``: a TF1 OD API checkpoint (built here under the OD API's names, with RMSProp slots and a
global step) becomes a stage whose weights equal the checkpoint's and whose detections equal the source model's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from facessd_archive.archive import Archive
from facessd_archive.archive.hashing import sha256_file
from facessd_archive.archive.originals import record_original_experiments
from facessd_archive.cli import main
from facessd_archive.errors import CheckpointError, ConfigError, StageExistsError
from facessd_archive.model.checkpoint import load_detector
from facessd_archive.model.detector import SSDDetector
from facessd_archive.odapi.importer import import_odapi
from facessd_archive.odapi.pipeline_config import parse_pipeline_config
from facessd_archive.odapi.tf1_checkpoint import variable_map
from odapi_helpers import (odapi_variables, pipeline_text, randomise, stage_arrays, write_odapi_run,
                           write_tf1_checkpoint)
from test_odapi_sources import split_bytes

SIZE, DEPTH, STEP = 64, 0.5, 1234
FIXTURE_IMAGES = Path(__file__).parent / "fixtures" / "benchmarks" / "voc" / "images"
FACEMASK_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "facemask"


def real_images(size: int, count: int = 3) -> np.ndarray:
    """Photos squashed to ``size`` (the stage's resize): facemask's when present, else the VOC fixture's."""
    from PIL import Image

    folder = FACEMASK_ROOT / "images" if (FACEMASK_ROOT / "images").is_dir() else FIXTURE_IMAGES
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))[:count]
    assert paths, f"no images in {folder}"
    pixels = [np.asarray(Image.open(p).convert("RGB"), np.float32) for p in paths]
    return np.stack([tf.image.resize(p, [size, size]).numpy() for p in pixels])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """(detector, run folder, OD API variables) for ssd_mobilenet_v1 at depth 0.5, one class."""
    text = pipeline_text(SIZE, DEPTH)
    detector = SSDDetector(parse_pipeline_config(text).model_config)
    randomise(detector)
    run = tmp_path_factory.mktemp("odapi") / "train"
    write_odapi_run(run, detector, STEP, text)
    return detector, run, odapi_variables(detector)


@pytest.fixture(scope="module")
def imported(source, tmp_path_factory):
    archive = Archive(tmp_path_factory.mktemp("archive"))
    return archive, import_odapi(archive, source[1], "keypoints/v1/odapi_dm050")


def test_every_weight_keeps_its_float32_value(source, imported):
    detector, _, variables = source
    _, result = imported
    stored = stage_arrays(result.stage.folder, detector)
    assert set(stored) == set(variables)
    for name, value in variables.items():
        np.testing.assert_array_equal(stored[name], value, err_msg=name)
    reader = tf.train.load_checkpoint(str(result.stage.folder / "weights"))
    assert {d.name for d in reader.get_variable_to_dtype_map().values() if d.is_floating} == {"float32"}
    assert result.report.mapped == len(variables) and result.report.global_step == STEP
    assert result.report.skipped > len(variables)  # every trainable variable's two RMSProp slots + global_step


def test_detections_equal_the_source_models(source, imported):
    detector = source[0]
    loaded = load_detector(imported[1].stage.folder)
    images = real_images(SIZE)
    a, b = detector.detect(images), loaded.detect(images)
    assert int(a.num_detections.numpy().min()) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    scores = a.scores.numpy()[:, :10]
    assert scores.max() - scores.min() > 0.05  # not every score at one value: the comparison means something


def test_the_manifest_records_source_step_and_settings(source, imported):
    run = source[1]
    stage = imported[1].stage
    m = stage.manifest
    assert m.training.steps == STEP and m.training.input_size == SIZE
    assert (m.training.batch_size, m.training.optimizer, m.training.learning_rate) == (24, "rmsprop", 0.004)
    odapi = m.training.settings["odapi"]
    assert odapi["source"]["global_step"] == STEP and odapi["source"]["checkpoint"] == f"model.ckpt-{STEP}"
    recorded = {f["path"]: (f["size"], f["sha256"]) for f in odapi["source"]["files"]}
    assert set(recorded) == {"pipeline.config", "checkpoint", f"model.ckpt-{STEP}.index",
                             f"model.ckpt-{STEP}.data-00000-of-00001"}
    for name, entry in recorded.items():
        assert entry == sha256_file(run / name), name
    assert m.model_config == parse_pipeline_config(pipeline_text(SIZE, DEPTH)).model_config
    assert {"pipeline.config", "model_config.json", "weights.index"} <= {f.path for f in m.files}
    assert (stage.folder / "pipeline.config").read_bytes() == (run / "pipeline.config").read_bytes()


def test_split_archives_import_through_the_command(source, imported, tmp_path):
    import py7zr

    run = source[1]
    # Stored, not compressed: LZMA over 17 MB of random floats would take most of a minute on 2 busy cores.
    with py7zr.SevenZipFile(tmp_path / "v1_150x150_300K.7z", "w", filters=[{"id": py7zr.FILTER_COPY}]) as z:
        z.writeall(run, arcname="v1_150x150_300K")
    volumes = split_bytes(tmp_path / "v1_150x150_300K.7z", 3)
    import zipfile

    with zipfile.ZipFile(tmp_path / "v1_150_360_1_6M.zip", "w") as z:
        for p in sorted(run.iterdir()):
            z.write(p, f"run/{p.name}")
    zips = split_bytes(tmp_path / "v1_150_360_1_6M.zip", 4)
    archive_dir = tmp_path / "archive"
    for first, stage_id in ((volumes[0], "keypoints/v1/from_7z"), (zips[0], "keypoints/v1/from_zip")):
        result = CliRunner().invoke(main, ["import", str(first), "--stage", stage_id, "--archive", str(archive_dir)])
        assert result.exit_code == 0, result.output
        assert f"sealed {stage_id}" in result.output and f"global step {STEP}" in result.output
        stage = Archive(archive_dir).get(stage_id)
        got = stage_arrays(stage.folder, source[0])
        for name, value in source[2].items():
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        assert stage.manifest.training.settings["odapi"]["source"]["given"] == first.name
    # The same stage id again is refused (the stage is sealed), with one line.
    result = CliRunner().invoke(main, ["import", str(volumes[0]), "--stage", "keypoints/v1/from_7z",
                                       "--archive", str(archive_dir)])
    assert result.exit_code == 2 and "is sealed with weights; use --new-version" in result.output


def test_moving_averages_are_taken_when_asked(source, tmp_path):
    detector, _, variables = source
    ema = {n: v + 0.25 for n, v in variables.items() if not n.endswith(("moving_mean", "moving_variance"))}
    run = tmp_path / "ema_run"
    (run).mkdir()
    (run / "pipeline.config").write_text(pipeline_text(SIZE, DEPTH))
    write_tf1_checkpoint(run, variables, 99, ema=ema)
    archive = Archive(tmp_path / "archive")
    with_ema = import_odapi(archive, run, "keypoints/v1/ema", use_moving_averages=True)
    plain = import_odapi(archive, run, "keypoints/v1/plain")
    assert with_ema.report.moving_averages == len(ema)
    a, b = stage_arrays(with_ema.stage.folder, detector), stage_arrays(plain.stage.folder, detector)
    for name, value in variables.items():
        np.testing.assert_array_equal(a[name], ema.get(name, value), err_msg=name)
        np.testing.assert_array_equal(b[name], value, err_msg=name)
    assert with_ema.stage.manifest.training.settings["odapi"]["source"]["use_moving_averages"] is True
    with pytest.raises(CheckpointError, match="holds no ExponentialMovingAverage variables"):
        import_odapi(archive, source[1], "keypoints/v1/no_ema", use_moving_averages=True)


def _broken_run(tmp_path: Path, variables: dict, text: str | None = None, extra: dict | None = None) -> Path:
    run = tmp_path / "broken"
    run.mkdir()
    (run / "pipeline.config").write_text(text or pipeline_text(SIZE, DEPTH))
    write_tf1_checkpoint(run, variables, 5, slots=False, extra=extra)
    return run


def _assert_nothing_sealed(archive: Archive, tmp_path: Path):
    assert not archive.exists("keypoints/v1/broken")
    assert not archive.root.exists() or not list(archive.root.rglob(".*"))  # no half-sealed temp folder


def test_unmapped_variables_are_named(source, tmp_path):
    variables = dict(source[2])
    del variables["BoxPredictor_3/ClassPredictor/biases"]
    archive = Archive(tmp_path / "archive")
    with pytest.raises(CheckpointError, match=r"lacks 1 variable\(s\) the model needs: "
                                              r"BoxPredictor_3/ClassPredictor/biases"):
        import_odapi(archive, _broken_run(tmp_path, variables), "keypoints/v1/broken")
    _assert_nothing_sealed(archive, tmp_path)
    extra = {"FeatureExtractor/MobilenetV1/Conv2d_14_pointwise/weights": np.zeros((1, 1, 4, 4), np.float32)}
    run = tmp_path / "extra"
    run.mkdir()
    (run / "pipeline.config").write_text(pipeline_text(SIZE, DEPTH))
    write_tf1_checkpoint(run, source[2], 5, slots=True, extra=extra)
    with pytest.raises(CheckpointError, match=r"1 checkpoint variable\(s\) map to nothing in the model: "
                                              r"FeatureExtractor/MobilenetV1/Conv2d_14_pointwise/weights"):
        import_odapi(archive, run, "keypoints/v1/broken")
    _assert_nothing_sealed(archive, tmp_path)


def test_a_config_that_does_not_fit_the_checkpoint_is_named(source, tmp_path):
    run = _broken_run(tmp_path, source[2], text=pipeline_text(SIZE, DEPTH, num_classes=2))
    with pytest.raises(CheckpointError, match=r"BoxPredictor_0/ClassPredictor/weights has shape "
                                              r"\[1, 1, 256, 6\] in the checkpoint but \[1, 1, 256, 9\]"):
        import_odapi(Archive(tmp_path / "archive"), run, "keypoints/v1/broken")
    (run / "pipeline.config").write_text(pipeline_text(SIZE, 0.25))  # other depths: other layer names
    with pytest.raises(CheckpointError, match=r"the checkpoint lacks 40 variable\(s\) the model needs: "
                                              r"FeatureExtractor/MobilenetV1/Conv2d_13_pointwise_1_Conv2d_2_1x1_64/"):
        import_odapi(Archive(tmp_path / "archive"), run, "keypoints/v1/broken")


def test_a_truncated_checkpoint_is_named(source, tmp_path):
    run = _broken_run(tmp_path, source[2])
    data = next(run.glob("model.ckpt-5.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    archive = Archive(tmp_path / "archive")
    with pytest.raises(CheckpointError) as e:
        import_odapi(archive, run, "keypoints/v1/broken")
    assert str(run / "model.ckpt-5") in str(e.value) and "truncated" in str(e.value)
    _assert_nothing_sealed(archive, tmp_path)
    (run / "model.ckpt-5.index").write_bytes(b"not an index")
    with pytest.raises(CheckpointError, match="unreadable TF1 checkpoint"):
        import_odapi(archive, run, "keypoints/v1/broken")


def test_depth_1_zoo_shapes_map_by_name(tmp_path):
    """The zoo model's shapes (one class): the names carry the OD API's depths, the heads 3 and 6 anchors."""
    text = pipeline_text(64, 1.0)
    detector = SSDDetector(parse_pipeline_config(text).model_config)
    shapes = {n: list(v.shape) for n, v in variable_map(detector).items()}
    assert shapes["FeatureExtractor/MobilenetV1/Conv2d_13_pointwise/weights"] == [1, 1, 1024, 1024]
    assert shapes["FeatureExtractor/MobilenetV1/Conv2d_13_pointwise_1_Conv2d_2_1x1_256/weights"] == [1, 1, 1024, 256]
    assert shapes["FeatureExtractor/MobilenetV1/Conv2d_13_pointwise_2_Conv2d_5_3x3_s2_128/weights"] == [3, 3, 64, 128]
    assert shapes["FeatureExtractor/MobilenetV1/Conv2d_1_depthwise/depthwise_weights"] == [3, 3, 32, 1]
    assert shapes["BoxPredictor_0/ClassPredictor/weights"] == [1, 1, 512, 3 * 2]
    assert shapes["BoxPredictor_1/BoxEncodingPredictor/biases"] == [6 * 4]
    assert len(shapes) == 199
    randomise(detector, seed=3)
    write_odapi_run(tmp_path / "run", detector, 7, text, slots=False)
    result = import_odapi(Archive(tmp_path / "archive"), tmp_path / "run", "keypoints/v1/dm100")
    stored = stage_arrays(result.stage.folder, detector)
    for name, value in odapi_variables(detector).items():
        np.testing.assert_array_equal(stored[name], value, err_msg=name)


def test_an_original_record_is_filled_as_its_new_version(tmp_path):
    archive = Archive(tmp_path / "archive")
    record_original_experiments(archive)
    original = archive.get("keypoints/v1/v1_150x150_300K")
    assert not original.manifest.weights.files
    text = pipeline_text(150, 0.25)
    detector = SSDDetector(parse_pipeline_config(text).model_config)
    randomise(detector, seed=5)
    write_odapi_run(tmp_path / "run", detector, 300_000, text, slots=False)
    result = import_odapi(archive, tmp_path / "run", "keypoints/v1/v1_150x150_300K")
    stage = result.stage
    assert stage.stage_id == "keypoints/v1/v1_150x150_300K-v2" and result.filled_record == original.stage_id
    m = stage.manifest
    assert m.weights.available and m.description == original.manifest.description
    assert m.evaluations == original.manifest.evaluations and m.reference_benchmark == "openimages-human-face"
    assert m.training.hardware == "GPU" and m.training.dataset == original.manifest.training.dataset
    assert m.training.steps == 300_000
    assert any("Fills the weightless record keypoints/v1/v1_150x150_300K" in n for n in m.notes)
    assert not any("pipeline.config is not available" in n for n in m.notes)
    assert archive.get("keypoints/v1/v1_150x150_300K").manifest == original.manifest  # the record is untouched
    # A checkpoint of another input size is not that experiment's.
    other = tmp_path / "other_size"
    shutil.copytree(tmp_path / "run", other)
    (other / "pipeline.config").write_text(pipeline_text(64, 0.25))
    with pytest.raises(ConfigError, match=r"resizes to 64x64, but keypoints/v1/v1_150x150_3M was recorded at 150"):
        import_odapi(archive, other, "keypoints/v1/v1_150x150_3M")
    with pytest.raises(StageExistsError):
        import_odapi(archive, tmp_path / "run", "keypoints/v1/v1_150x150_300K-v2")
