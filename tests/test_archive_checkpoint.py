"""A real compact checkpoint sealed as a stage reads back through ``stage_weights_folder`` (TensorFlow)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from archive_helpers import TRAINING

from facessd_archive.archive import Archive, stage_weights_folder
from facessd_archive.archive.verify import verify_stage
from facessd_archive.model.config import face_config


@pytest.mark.slow
def test_sealed_checkpoint_loads_from_the_default_stage(tmp_path):
    import tensorflow as tf

    from facessd_archive.model.checkpoint import CONFIG_FILE, COMPACT_PREFIX, export_compact, load_config
    from facessd_archive.model.detector import SSDDetector

    config = face_config(input_size=64, depth_multiplier=0.25)
    detector = SSDDetector(config)
    export_compact(detector, tmp_path / "export")
    archive = Archive(tmp_path / "archive")
    stage = archive.seal("keypoints/v2/real", tmp_path / "export", config, TRAINING, set_default=True)
    assert set(stage.manifest.weights.files) == {CONFIG_FILE, f"{COMPACT_PREFIX}.index",
                                                 f"{COMPACT_PREFIX}.data-00000-of-00001"}
    assert verify_stage(archive, stage.stage_id).ok
    folder = stage_weights_folder(archive=archive)
    assert load_config(folder) == config
    # Every variable is in the sealed checkpoint (compared as a multiset of float16 arrays, so the
    # test does not depend on how checkpoint.py spells the keys).
    reader = tf.train.load_checkpoint(str(folder / COMPACT_PREFIX))
    stored = sorted(hashlib.sha256(reader.get_tensor(k).tobytes()).hexdigest()
                    for k in reader.get_variable_to_shape_map() if k.startswith("weights/"))
    expected = sorted(hashlib.sha256(np.asarray(v.numpy(), np.float16).tobytes()).hexdigest()
                      for v in detector.network.weights)
    assert stored == expected
