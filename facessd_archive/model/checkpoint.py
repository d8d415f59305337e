"""Saving and loading detectors: TF object-based checkpoints plus ``model_config.json``.

Two forms:
- a training run folder: ``model_config.json`` + ``checkpoints/ckpt-N.*`` written by
  ``tf.train.CheckpointManager`` (model, optimizer and step; resumable);
- a compact weights checkpoint (``weights.index`` / ``weights.data-*``): every network variable,
  stored float16 by default, keyed by its Keras path: what stages ship (half the bytes).
Either loads with ``load_detector``; a truncated or mismatched file gives one ``CheckpointError``
naming the file and the first variable that disagrees.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from facessd_archive.errors import CheckpointError, ConfigError
from facessd_archive.fileio import atomic_write_text
from facessd_archive.model.config import ModelConfig
from facessd_archive.model.detector import SSDDetector
from facessd_archive.run_folder import CHECKPOINTS_DIR, COMPACT_WEIGHTS_PREFIX, MODEL_CONFIG_FILE

CONFIG_FILE = MODEL_CONFIG_FILE
COMPACT_PREFIX = COMPACT_WEIGHTS_PREFIX
_COMPACT_KEY = "weights/{}/.ATTRIBUTES/VARIABLE_VALUE"


def _key(path: str) -> str:
    return path.replace("/", ".")


def _stored_key(path: str) -> str:
    """The checkpoint key of a variable: TF's object graph escapes "." in names as ".."."""
    return _COMPACT_KEY.format(_key(path).replace(".", ".."))


def save_config(config: ModelConfig, folder: Path) -> None:
    atomic_write_text(Path(folder) / CONFIG_FILE, config.to_json() + "\n")


def load_config(folder: Path) -> ModelConfig:
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG_FILE} (not a model folder)")
    try:
        return ModelConfig.from_json(path.read_text())
    except (json.JSONDecodeError, ConfigError) as e:
        raise CheckpointError(f"{path}: {e}") from None


def export_compact(detector: SSDDetector, folder: Path, dtype: str = "float16") -> Path:
    """Write the network's variables as one compact checkpoint ``folder/weights`` (+ config)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    variables = {_key(v.path): tf.Variable(np.asarray(v.numpy()).astype(dtype), trainable=False)
                 for v in detector.network.weights}
    ckpt = tf.train.Checkpoint(weights=variables)
    prefix = folder / COMPACT_PREFIX
    ckpt.write(str(prefix))  # TF writes to a temp name and renames: no half checkpoint on interrupt
    save_config(detector.config, folder)
    return prefix


def _restore_compact(detector: SSDDetector, prefix: str) -> None:
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"{prefix}: unreadable checkpoint ({type(e).__name__}: {_first_line(e)})") from None
    shapes = reader.get_variable_to_shape_map()
    for v in detector.network.weights:
        key = _stored_key(v.path)
        if key not in shapes:
            raise CheckpointError(f"{prefix}: checkpoint has no variable {v.path!r} (built for another model?)")
        if list(shapes[key]) != list(v.shape):
            raise CheckpointError(f"{prefix}: {v.path} has shape {shapes[key]} in the checkpoint but "
                                  f"{list(v.shape)} in the model (depth multiplier or classes differ?)")
        try:
            v.assign(reader.get_tensor(key).astype(np.float32))
        except (tf.errors.OpError, IndexError) as e:  # the reader raises IndexError for a short .data file
            raise CheckpointError(f"{prefix}: cannot read {v.path} ({_first_line(e)}); file truncated?") from None


def _first_line(e: Exception) -> str:
    text = str(getattr(e, "message", e)) or type(e).__name__
    return text.strip().splitlines()[0][:200]


def restore_training_checkpoint(detector: SSDDetector, prefix: str) -> None:
    """Restore the network (only) from a CheckpointManager checkpoint, checking every variable matched."""
    ckpt = tf.train.Checkpoint(model=detector.network)
    try:
        status = ckpt.restore(prefix)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        raise CheckpointError(f"{prefix}: checkpoint does not match the model ({_first_line(e)})") from None


def find_checkpoint(path: Path) -> tuple[Path, str, str]:
    """Resolve a model folder, run folder or checkpoint prefix to (config folder, prefix, kind)."""
    path = Path(path)
    if path.is_dir():
        if (path / f"{COMPACT_PREFIX}.index").is_file():
            return path, str(path / COMPACT_PREFIX), "compact"
        latest = tf.train.latest_checkpoint(str(path / CHECKPOINTS_DIR))
        if latest:
            return path, latest, "training"
        raise CheckpointError(f"{path}: no checkpoint found (expected {COMPACT_PREFIX}.index or checkpoints/)")
    if Path(str(path) + ".index").is_file():
        folder = path.parent if (path.parent / CONFIG_FILE).is_file() else path.parent.parent
        kind = "compact" if path.name == COMPACT_PREFIX else "training"
        return folder, str(path), kind
    raise CheckpointError(f"{path}: no such model folder or checkpoint")


def load_detector(path: Path, input_size: int | None = None,
                  input_shape: tuple[int | None, int | None] | None = None) -> SSDDetector:
    """Build the detector a folder's ``model_config.json`` describes and restore its weights.

    ``input_size`` rebuilds the same weights at another square size, ``input_shape`` at any
    (height, width), ``(None, None)`` for every size (the network is fully convolutional;
    anchors follow the real feature maps).
    """
    folder, prefix, kind = find_checkpoint(Path(path))
    config = load_config(folder)
    if input_size is not None and input_size != config.input_size:
        import dataclasses

        config = dataclasses.replace(config, input_size=input_size)
    detector = SSDDetector(config, input_shape=input_shape)
    if kind == "compact":
        _restore_compact(detector, prefix)
    else:
        restore_training_checkpoint(detector, prefix)
    return detector
