"""Seal a model folder as it lies on disk (what ``facessd seal`` does).

The folder holds a compact checkpoint (``weights.*``) and its ``model_config.json``; a
``train_settings.json`` beside them (as ``facessd train`` writes) fills the training record,
and a ``parent_stage.json`` (``facessd train --from``) names the parent when ``--parent`` is not given.
Everything in the folder is sealed with the stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from facessd_archive.archive.records import DatasetRef, Training
from facessd_archive.archive.store import MODEL_CONFIG_FILE, Archive, Stage
from facessd_archive.errors import ArchiveError, ConfigError
from facessd_archive.model.config import ModelConfig

TRAIN_SETTINGS_FILE = "train_settings.json"  # train/trainer.py: SETTINGS_FILE


def seal_folder(archive: Archive, stage_id: str, folder: Path, *, parent: str | None = None,
                hardware: str | None = None, dataset: str | None = None, split: str | None = None,
                steps: int | None = None, description: str | None = None, new_version: bool = False,
                set_default: bool = False) -> Stage:
    """Seal ``folder`` as ``stage_id``: model config from its ``model_config.json``, training from
    its ``train_settings.json`` when present (``steps`` overrides the planned steps)."""
    folder = Path(folder)
    config_path = folder / MODEL_CONFIG_FILE
    if not config_path.is_file():
        raise ArchiveError(f"{folder}: no {MODEL_CONFIG_FILE}; seal a folder written by export_compact")
    try:
        config = ModelConfig.from_json(config_path.read_text())
    except (json.JSONDecodeError, ConfigError) as e:
        raise ArchiveError(f"{config_path}: {e}") from None
    data = DatasetRef(dataset, split=split) if dataset else None
    settings_path = folder / TRAIN_SETTINGS_FILE
    if settings_path.is_file():
        from facessd_archive.train.settings import TrainSettings

        try:
            settings = TrainSettings.from_dict(json.loads(settings_path.read_text()))
        except (json.JSONDecodeError, ConfigError, TypeError) as e:
            raise ArchiveError(f"{settings_path}: {e}") from None
        training = Training.from_train_settings(settings, config.input_size, hardware, data, steps=steps)
    else:
        training = Training(input_size=config.input_size, steps=steps, hardware=hardware, dataset=data)
    if parent is None:
        from facessd_archive.train.lineage import read_parent

        recorded = read_parent(folder)
        parent = recorded["stage_id"] if recorded else None
    return archive.seal(stage_id, folder, config, training, parent=parent, description=description,
                        new_version=new_version, set_default=set_default)
