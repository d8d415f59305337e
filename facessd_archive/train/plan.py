"""From what the user asked for to one run's ModelConfig and TrainSettings.

A run continued from a stage (or a folder) inherits that model's config: only what the user
changed on the command line changes (input size, depth multiplier; anchors follow the new
feature maps because they are computed from them). A fresh run takes its config from a preset.
The same rules serve ``facessd train`` and each stage of a ``--schedule``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from facessd_archive.errors import ConfigError
from facessd_archive.model.checkpoint import load_config
from facessd_archive.model.config import ModelConfig, face_config, wider_face_config, wider_face_v2_config
from facessd_archive.train.settings import TrainSettings

PRESETS = ("facemask", "wider", "wider-v2")


@dataclass(frozen=True)
class RunOptions:
    """The command line's training options; None = not given (the preset's or the parent's value)."""

    preset: str = "facemask"
    input_size: int | None = None
    depth_multiplier: float | None = None
    crop: str | None = None
    min_face_size: float | None = None
    photometric: bool | None = None
    pretrained: bool | None = None
    batch_size: int = 16
    steps: int = 2000  # the steps this run trains (its own), whatever global step it starts at
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    optimizer: str = "adam"
    seed: int = 0
    checkpoint_every: int = 200


def model_config_for(options: RunOptions, parent: Path | None) -> ModelConfig:
    """The parent's config with the user's changes, or a fresh one from the preset.

    A changed depth multiplier leaves most variables without a source of the same shape: the warm
    start refuses that by name unless ``allow_partial`` (``warm_start.py``).
    """
    if parent is not None:
        config = load_config(Path(parent))
        changes: dict = {}
        if options.input_size is not None:
            changes["input_size"] = options.input_size
        if options.depth_multiplier is not None:
            changes["depth_multiplier"] = options.depth_multiplier
        return dataclasses.replace(config, **changes) if changes else config
    if options.preset == "wider-v2":
        if options.depth_multiplier not in (None, 1.0):
            raise ConfigError("--preset wider-v2 is MobileNetV2 at depth multiplier 1.0 (its ImageNet weights)")
        return wider_face_v2_config(options.input_size or 384)
    if options.preset == "wider":
        return wider_face_config(options.input_size or 512, options.depth_multiplier or 0.5)
    if options.preset != "facemask":
        raise ConfigError(f"unknown preset {options.preset!r}; known: {', '.join(PRESETS)}")
    return face_config(options.input_size or 300, options.depth_multiplier or 1.0)


def train_settings_for(options: RunOptions, config: ModelConfig, start_step: int = 0,
                       warm_started: bool = False) -> TrainSettings:
    """TrainSettings for a run of ``options.steps`` steps from global step ``start_step``.

    A model for faces in the wild (keep-aspect inference) trains with the wider augmentation.
    """
    wider = options.preset in ("wider", "wider-v2") or config.resizer.kind == "keep_aspect_ratio"
    if options.pretrained and config.feature_extractor != "ssd_mobilenet_v2":
        raise ConfigError("--pretrained needs a MobileNetV2 model (--preset wider-v2)")
    use_pretrained = not warm_started and (options.pretrained if options.pretrained is not None
                                           else options.preset == "wider-v2")
    if options.steps <= 0:
        raise ConfigError(f"steps must be > 0, got {options.steps}")
    return TrainSettings(
        steps=start_step + options.steps, start_step=start_step, batch_size=options.batch_size,
        optimizer=options.optimizer, learning_rate=options.learning_rate,  # type: ignore[arg-type]
        warmup_steps=min(options.warmup_steps, options.steps), seed=options.seed,
        checkpoint_every=options.checkpoint_every, crop=options.crop or ("square" if wider else "ssd"),  # type: ignore
        min_face_size=options.min_face_size if options.min_face_size is not None else (6.0 if wider else 0.0),
        photometric=options.photometric if options.photometric is not None else wider,
        pretrained_backbone="imagenet_mobilenet_v2" if use_pretrained else None)
