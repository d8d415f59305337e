"""The file names of a training run folder and of the compact model folder it exports: one home.

A run folder (``facessd train --out DIR``)::

    model_config.json     the ModelConfig (what the weights mean)
    train_settings.json   the TrainSettings (steps, batch, schedule, augmentation)
    parent_stage.json     the archived stage it continued, if any (id + content hash)
    checkpoints/          tf.train.CheckpointManager: model, optimizer, global step
    history.jsonl         one line of losses and speed per summary step
    train/                TensorBoard summaries (the OD API's Loss/* names)

A compact model folder (``facessd export-run``, what a stage ships) holds ``model_config.json`` and
the ``weights.*`` checkpoint, plus copies of the settings and parent records. No TensorFlow here,
so the archive can name these files without importing it.
"""

from __future__ import annotations

MODEL_CONFIG_FILE = "model_config.json"
TRAIN_SETTINGS_FILE = "train_settings.json"
PARENT_FILE = "parent_stage.json"
CHECKPOINTS_DIR = "checkpoints"
HISTORY_FILE = "history.jsonl"
SUMMARIES_DIR = "train"
COMPACT_WEIGHTS_PREFIX = "weights"  # weights.index + weights.data-*
